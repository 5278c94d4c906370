#!/usr/bin/env bash
# Request/reply round trips: coconet rpc between two nodes on loopback vs
# NATS request/reply through its own nats-server on 127.0.0.1, in one run,
# with ratios. Flags go to bench/rpcbench, e.g.
#   bench/rpc.sh --json
#   bench/rpc.sh -n 20000 -size 1024
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nats-server >/dev/null; then
	echo "rpc.sh: installing nats-server" >&2
	apt-get install -y nats-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nats-server >/dev/null; }
fi
exec go run ./bench/rpcbench "$@"
