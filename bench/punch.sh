#!/usr/bin/env bash
# Time to a direct path for a punchable pair (easy NAT × easy NAT) in the
# NAT lab, over repeated runs, coconet beside plain go-libp2p (issue 15,
# item 1: direct within 1 s of the first relayed message in 20 of 20 runs).
#
#   bench/punch.sh                 20 coconet runs, 10 runs of each go-libp2p variant (~8 min)
#   bench/punch.sh -n 5 -l 3       fewer runs
#   bench/punch.sh -l 0            coconet only
#
# coconet: lab.TestPunchTime (one setup, then -n starts of both nodes with
# fresh ports and a restarted control plane). go-libp2p: lab.TestLibp2pPunchTime
# (lab/internal/punch, a fresh lab per run), with go-libp2p's defaults and
# with its initiator's plain direct dial cut to 100 ms.
# Needs root (network namespaces) and nftables (installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=20
lruns=10
while [ $# -gt 0 ]; do
	case "$1" in
	-n) runs="$2"; shift 2 ;;
	-l) lruns="$2"; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "punch.sh: unknown flag $1 (see bench/punch.sh -h)" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "punch.sh: the NAT lab needs root (network namespaces)" >&2
	exit 1
fi
if ! command -v nft >/dev/null; then
	echo "punch.sh: installing nftables" >&2
	apt-get install -y nftables >/dev/null || { apt-get update >/dev/null && apt-get install -y nftables >/dev/null; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run='^TestPunchTime$'
[ "$lruns" != 0 ] && run='^(TestPunchTime|TestLibp2pPunchTime)$'
start=$(date +%s)
status=0
go test -count=1 -timeout 60m -v -run "$run" ./lab/ -lab.runs="$runs" -lab.libp2pruns="$lruns" \
	-lab.punchtime="$tmp/table.txt" >"$tmp/log" 2>&1 || status=$?
grep -A2 -- '--- SKIP' "$tmp/log" >&2 || true
[ -s "$tmp/table.txt" ] && cat "$tmp/table.txt"
echo "($(( $(date +%s) - start )) s)"
if [ "$status" != 0 ]; then
	grep -E -- '--- FAIL|punchtime_test.go' "$tmp/log" | head -40 >&2 || tail -50 "$tmp/log" >&2
	echo "punch.sh: failed (go test exit $status)" >&2
	exit "$status"
fi
