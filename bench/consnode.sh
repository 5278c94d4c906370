#!/usr/bin/env bash
# A consortium of 3 validating nodes whose raft messages travel on coconet's
# encrypted node streams (consortium/consnode on three engines, Noise +
# yamux over loopback TCP) beside the same consortium over plain loopback
# TCP (consortium.TCPTransport), under the same client load, in one run,
# with ratios: what the encrypted, authenticated transport costs.
# Flags go to bench/consnodebench, e.g.
#   bench/consnode.sh --json
#   bench/consnode.sh -c 64 -size 1024 -duration 5s -rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/consnodebench "$@"
