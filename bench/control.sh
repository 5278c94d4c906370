#!/usr/bin/env bash
# Measures coconet's control plane in one run, on 127.0.0.1 in one process:
# relay throughput beside a direct connection on the same transport (ratio),
# and capacity: registrations per second and heap per registered node with
# 10,000 simulated nodes. Flags go to bench/controlbench, e.g.
#   bench/control.sh --json
#   bench/control.sh --bytes 1073741824 --nodes 20000
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/controlbench "$@"
