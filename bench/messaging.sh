#!/usr/bin/env bash
# Measures coconet messaging between two nodes on loopback beside raw
# go-libp2p streams doing the same work, in one run, and prints the ratios.
# Flags are passed to bench/msgbench (see `bench/messaging.sh -h`), e.g.
#   bench/messaging.sh --json
#   bench/messaging.sh --transport tcp --duration 6s
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/msgbench "$@"
