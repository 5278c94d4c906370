#!/usr/bin/env bash
# Streaming throughput: a coconet stream between two nodes on loopback vs a
# raw go-libp2p stream between two plain hosts over the same transport, in
# one run, with ratios. Flags go to bench/streambench, e.g.
#   bench/stream.sh --json
#   bench/stream.sh -mib 512 -rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/streambench "$@"
