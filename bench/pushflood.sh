#!/usr/bin/env bash
# Floods the push server of a real `coco` daemon with idle junk connections
# (20,000 by default, from 100 loopback source addresses, in two processes
# separate from the daemon) and prints, before and during the flood, the
# latency of `coco status` (the daemon's local API) and of a push between
# two registered devices, whether a new device gets in, and the daemon's
# open descriptors and memory. Everything runs on 127.0.0.1 in a temporary
# home; the script stops what it started. Flags go to bench/floodbench, e.g.
#   bench/pushflood.sh --json
#   bench/pushflood.sh -conns 5000 -hold 5s
# DAEMON_FDS sets the daemon's descriptor limit (default: the hard limit);
# COCO=/path/to/coco runs another build of coco (e.g. an older one, to
# compare).
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# Build first so that the build does not count against anything.
if [ -n "${COCO:-}" ]; then cp "$COCO" "$tmp/coco"; else go build -o "$tmp/coco" ./cmd/coco; fi
go build -o "$tmp/floodbench" ./bench/floodbench

home="$tmp/home"
"$tmp/coco" --home "$home" init --name alice >/dev/null
"$tmp/coco" --home "$home" net create home >/dev/null

# The flood processes hold 10,000 connections each.
ulimit -n "$(ulimit -Hn)"
(ulimit -n "${DAEMON_FDS:-$(ulimit -Hn)}"; exec "$tmp/coco" --home "$home" up --listen-host 127.0.0.1 --no-mdns --quiet) >"$tmp/up.log" 2>&1 &
pid=$!
# Wait for its "API on" line (polling `coco status` meanwhile could take
# the home's lock as the daemon starts).
for _ in $(seq 400); do
	grep -q "API on" "$tmp/up.log" && break
	sleep 0.05
done
"$tmp/coco" --home "$home" status --json | grep -q '"running": true' || { cat "$tmp/up.log" >&2; echo "coco up did not start" >&2; exit 1; }
echo "coco daemon pid $pid (fd limit $(awk '/Max open files/ {print $4}' /proc/$pid/limits))" >&2
"$tmp/floodbench" -coco "$tmp/coco" -home "$home" -daemon-pid "$pid" "$@"
