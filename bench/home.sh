#!/usr/bin/env bash
# The home model on loopback: a command's round trip from the owner's node to
# a device node (p50/p99) and a scene of 100 actions, beside the raw rpc
# round trip between the same two nodes as the reference, in one run, with
# ratios. Flags go to bench/homebench, e.g.
#   bench/home.sh --json
#   bench/home.sh -n 10000 -scenes 500 -guest
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/homebench "$@"
