#!/usr/bin/env bash
# Measures the coconet push server for tiny devices beside Mosquitto 2 and
# plain TCP in one run on loopback and prints the ratios: memory per
# connection with 10,000 devices, PUSH RID one-to-one msg/s and latency
# p50/p99 vs Mosquitto QoS 0 (on one push server and across two over the
# P2P network), raw channel throughput vs plain TCP (on one push server,
# and across two: device → server A → P2P stream → server B → device,
# also beside the one-server channel). Installs mosquitto
# with apt-get if missing, starts it on a free 127.0.0.1 port with a config
# in a temp dir, and stops it at the end. Flags go to bench/pushbench, e.g.
#   bench/push.sh --json
#   bench/push.sh -conns 2000 -duration 1s -raw-mb 64
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
	echo "installing mosquitto" >&2
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto >&2
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

tmp=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
waitport() {
	for _ in $(seq 100); do
		(echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# Build first so that the build does not count against anything.
go build -o "$tmp/pushbench" ./bench/pushbench

port=$(freeport)
cat >"$tmp/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
log_dest stderr
log_type error
CONF
# 10,000 connections need as many descriptors; pushbench raises its own
# limit (and its push server's) with setrlimit.
ulimit -n "$(ulimit -Hn)"
"$MOSQUITTO" -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
pid=$!
waitport "$port"
echo "mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}') on :$port (pid $pid)" >&2
"$tmp/pushbench" -mqtt "127.0.0.1:$port" -mqtt-pid "$pid" "$@"
