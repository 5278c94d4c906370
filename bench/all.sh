#!/usr/bin/env bash
# Runs every comparison script under bench/ (each with --json, one after
# the other) and prints one table: job, metric, coconet's figure, the
# peer's, the ratio, the goal an issue set and whether it is met. Not run
# by CI; takes about ten minutes. Flags go to bench/allbench, e.g.
#   bench/all.sh                          # the table
#   bench/all.sh --json > bench-$(date +%F).json
#   bench/all.sh --only pubsub,control    # some scripts
#   bench/all.sh --skip controlattack,pushflood --out /tmp/bench-all --timeout 5m
# bench/nat.sh (the NAT lab: root, network namespaces) is not included.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o "${TMPDIR:-/tmp}/allbench.$$" ./bench/allbench
trap 'rm -f "${TMPDIR:-/tmp}/allbench.$$"' EXIT
"${TMPDIR:-/tmp}/allbench.$$" "$@"
