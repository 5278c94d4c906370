#!/usr/bin/env bash
# Measures how fast a developer network's revocation cuts a node off
# (issue 13): 1,000 nodes in one process on go-libp2p's mocknet, enrolled
# with one auth key; one revocation list published at one node spreads by
# the nodes' pushes (mesh gossip), a second one from a hub connected to
# every node, as a control plane is (star push). Prints, per mode, the
# distribution over the nodes of the time until each holds the list (and
# refuses the revoked node), and the time until the revoked node has no
# connection left. There is no peer system to run beside it: the two modes
# are the comparison (gossip between nodes vs a control plane's push).
# Flags go to bench/revokebench, e.g.
#   bench/revoke.sh --json
#   bench/revoke.sh -n 200 -degree 12 -v
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/revokebench "$@"
