#!/usr/bin/env bash
# Measures coconet pub-sub beside Mosquitto 2 and NATS (plain and with TLS)
# in one run on loopback and prints the ratios. Installs mosquitto,
# nats-server and openssl with apt-get if missing, starts Mosquitto and two
# NATS servers (one with a self-signed TLS certificate) on free 127.0.0.1
# ports with configs in a temp dir, and stops them at the end. Flags go to
# bench/pubsubbench, e.g.
#   bench/pubsub.sh --json
#   bench/pubsub.sh -duration 3s -rounds 5 -v
#   bench/pubsub.sh -paho=false
#   PUBSUBBENCH=/tmp/pubsubbench-old bench/pubsub.sh -only 1KiB
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
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
mpid=$!

nport=$(freeport)
cat >"$tmp/nats.conf" <<CONF
listen: 127.0.0.1:$nport
max_payload: 1MB
CONF
"$NATS" -c "$tmp/nats.conf" 2>"$tmp/nats.log" &
pids+=($!)
npid=$!

# NATS with TLS, as its users run it across machines: a self-signed P-256
# certificate for 127.0.0.1, which the client trusts as its CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2>/dev/null
tport=$(freeport)
cat >"$tmp/nats-tls.conf" <<CONF
listen: 127.0.0.1:$tport
max_payload: 1MB
tls {
  cert_file: "$tmp/cert.pem"
  key_file: "$tmp/key.pem"
}
CONF
"$NATS" -c "$tmp/nats-tls.conf" 2>"$tmp/nats-tls.log" &
pids+=($!)
tpid=$!

waitport "$mport"
waitport "$nport"
waitport "$tport"
echo "mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}') on :$mport, nats-server $("$NATS" --version 2>/dev/null | awk '{print $NF}') on :$nport (TLS :$tport)" >&2
# PUBSUBBENCH=path runs another build of bench/pubsubbench (e.g. one of an
# older checkout, for before/after).
${PUBSUBBENCH:-go run ./bench/pubsubbench} -nats "nats://127.0.0.1:$nport" -nats-tls "tls://127.0.0.1:$tport" -nats-ca "$tmp/cert.pem" \
	-mqtt "tcp://127.0.0.1:$mport" -nats-pid "$npid" -nats-tls-pid "$tpid" -mqtt-pid "$mpid" "$@"
