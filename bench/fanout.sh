#!/usr/bin/env bash
# One publish to every node of a developer network: over gossipsub (what
# developer networks use) beside coconet's direct fan-out (one copy per
# subscriber node, what user networks use), at several sizes in one run,
# with real go-libp2p hosts on 127.0.0.1 in one process. Prints delivery,
# p50/p99 and the time to the last subscriber, and the ratios gossip/direct.
# Flags go to bench/gossipbench, e.g.
#   bench/fanout.sh                                   # 10, 100 and 1,000 nodes
#   bench/fanout.sh -sizes 10,100 -publishes 20 -v
#   bench/fanout.sh --json
# 1,000 nodes need ~1 GB and ~10,000 file descriptors, and more CPU than a
# 2-core machine has for them (see bench/README.md); 200 run in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
args=()
for a in "$@"; do
	case "$a" in
	--json) args+=(-json) ;;
	*) args+=("$a") ;;
	esac
done
go build -o "${TMPDIR:-/tmp}/gossipbench.$$" ./bench/gossipbench
trap 'rm -f "${TMPDIR:-/tmp}/gossipbench.$$"' EXIT
"${TMPDIR:-/tmp}/gossipbench.$$" "${args[@]}"
