#!/usr/bin/env bash
# Recovery after roaming in the NAT lab (issue 15, item 2): alice and bob
# behind easy NATs are direct; alice's router gets a new public address,
# -n times. Prints, from each change, p50/p90/max of: bob's first
# acknowledged message to alice (goal 3 s), the first `coco peers` on bob's
# side that tells the truth (goal 3 s), the first that says direct to the
# new address (goal 5 s). Runs lab.TestRoaming.
#
#   bench/roam.sh          10 changes (~1 min)
#   bench/roam.sh -n 20
#
# Needs root (network namespaces) and nftables (installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10
while [ $# -gt 0 ]; do
	case "$1" in
	-n) runs="$2"; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "roam.sh: unknown flag $1 (see bench/roam.sh -h)" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "roam.sh: the NAT lab needs root (network namespaces)" >&2
	exit 1
fi
if ! command -v nft >/dev/null; then
	echo "roam.sh: installing nftables" >&2
	apt-get install -y nftables >/dev/null || { apt-get update >/dev/null && apt-get install -y nftables >/dev/null; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
status=0
go test -count=1 -timeout 30m -v -run '^TestRoaming$' ./lab/ -lab.runs="$runs" \
	-lab.roamtable="$tmp/table.txt" >"$tmp/log" 2>&1 || status=$?
grep -A2 -- '--- SKIP' "$tmp/log" >&2 || true
grep -E 'roam_test.go:[0-9]+: run ' "$tmp/log" | sed 's/^ *roam_test.go:[0-9]*: //' || true
[ -s "$tmp/table.txt" ] && cat "$tmp/table.txt"
echo "($(( $(date +%s) - start )) s)"
if [ "$status" != 0 ]; then
	grep -E -- '--- FAIL|roam_test.go' "$tmp/log" | head -40 >&2 || tail -50 "$tmp/log" >&2
	echo "roam.sh: failed (go test exit $status)" >&2
	exit "$status"
fi
