#!/usr/bin/env bash
# Measures coconet pub-sub beside Mosquitto 2 and NATS in one run on
# loopback and prints the ratios. Installs mosquitto and nats-server with
# apt-get if missing, starts both on free 127.0.0.1 ports with configs in a
# temp dir, and stops them at the end. Flags go to bench/pubsubbench, e.g.
#   bench/pubsub.sh --json
#   bench/pubsub.sh -duration 3s -v
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
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

mport=$(freeport)
cat >"$tmp/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
log_dest stderr
log_type error
CONF
"$MOSQUITTO" -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
pids+=($!)

nport=$(freeport)
cat >"$tmp/nats.conf" <<CONF
listen: 127.0.0.1:$nport
max_payload: 1MB
CONF
"$NATS" -c "$tmp/nats.conf" 2>"$tmp/nats.log" &
pids+=($!)

waitport "$mport"
waitport "$nport"
echo "mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}') on :$mport, nats-server $("$NATS" --version 2>/dev/null | awk '{print $NF}') on :$nport" >&2
go run ./bench/pubsubbench -nats "nats://127.0.0.1:$nport" -mqtt "tcp://127.0.0.1:$mport" "$@"
