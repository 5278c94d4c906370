#!/usr/bin/env bash
# Bulk transfer over a long, lossy wire (issue 15, item 4): Linux TCP with
# CUBIC and with this machine's default congestion control (iperf3), plain
# go-libp2p over TCP and over QUIC, and coconet's `coco copy`, one after
# the other on the same emulated wire, under each condition given.
#
#   bench/lossy.sh                       82 ms RTT + 1 % loss, 82 ms alone, 1 % loss alone (~3 min)
#   bench/lossy.sh -c 41ms:0.02          one condition: one-way delay:loss
#   bench/lossy.sh -s 15                 seconds each sender writes (default 8)
#
# The wire is lab/internal/wire (userspace: two TAP devices, fixed delay,
# independent loss per frame; this kernel has no tc netem) run by
# lab.TestLossyWire. Needs root (network namespaces, TAP); installs iperf3
# with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

conds=()
secs=8
while [ $# -gt 0 ]; do
	case "$1" in
	-c) conds+=("$2"); shift 2 ;;
	-s) secs="$2"; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "lossy.sh: unknown flag $1 (see bench/lossy.sh -h)" >&2; exit 2 ;;
	esac
done
[ ${#conds[@]} = 0 ] && conds=(41ms:0.01 41ms:0 0ms:0.01)
if [ "$(id -u)" != 0 ]; then
	echo "lossy.sh: the lab needs root (network namespaces, TAP devices)" >&2
	exit 1
fi
if ! command -v iperf3 >/dev/null; then
	echo "lossy.sh: installing iperf3" >&2
	apt-get install -y iperf3 >/dev/null || { apt-get update >/dev/null && apt-get install -y iperf3 >/dev/null; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
for c in "${conds[@]}"; do
	delay=${c%%:*}
	loss=${c##*:}
	status=0
	go test -count=1 -timeout 20m -v -run '^TestLossyWire$' ./lab/ -lab.delay="$delay" -lab.loss="$loss" \
		-lab.bulksecs="$secs" -lab.losstable="$tmp/table.txt" >"$tmp/log" 2>&1 || status=$?
	grep -A2 -- '--- SKIP' "$tmp/log" >&2 || true
	if [ "$status" != 0 ]; then
		grep -E -- '--- FAIL|lossy_test.go' "$tmp/log" | head -40 >&2 || tail -50 "$tmp/log" >&2
		echo "lossy.sh: failed under $c (go test exit $status)" >&2
		exit "$status"
	fi
done
cat "$tmp/table.txt"
echo "($(( $(date +%s) - start )) s)"
