#!/usr/bin/env bash
# Consortium commit throughput and p50/p99 latency, 3 validating nodes on
# loopback TCP, beside a real etcd cluster of 3 members (etcd v3.7.3's server,
# embedded, gRPC clients, fsync on) and a bare etcd raft cluster of 3 (the
# same raft library, WAL and transport, a map as the state machine) under the
# same client load (64 clients, 1 KiB puts), in one run, with ratios; then
# receipts generated and verified per second.
# Flags go to bench/consortiumbench, e.g.
#   bench/consortium.sh --json
#   bench/consortium.sh -c 64 -size 1024 -duration 5s -rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/consortiumbench "$@"
