#!/usr/bin/env bash
# Runs the NAT lab matrix (lab.TestNATMatrix): for every pair of host kinds
# (public, easy NAT, hard NAT, UDP blocked), two coconet nodes in network
# namespaces behind nftables routers, a control plane on the lab's internet.
# Prints per pair: the path at the end, the time to the first acknowledged
# message and the time to a direct path, both from starting the two nodes.
#
#   bench/nat.sh                         all 10 pairs (a few minutes)
#   bench/nat.sh --pairs easy-easy,hard-hard
#   bench/nat.sh --libp2p                also the plain go-libp2p baseline (lab.TestLibp2pHolePunch)
#
# Needs root (network namespaces) and nftables (installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=""
libp2p=0
while [ $# -gt 0 ]; do
	case "$1" in
	--pairs) pairs="$2"; shift 2 ;;
	--pairs=*) pairs="${1#--pairs=}"; shift ;;
	--libp2p) libp2p=1; shift ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "nat.sh: unknown flag $1 (see bench/nat.sh -h)" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "nat.sh: the NAT lab needs root (network namespaces)" >&2
	exit 1
fi
if ! command -v nft >/dev/null; then
	echo "nat.sh: installing nftables" >&2
	apt-get install -y nftables >/dev/null || { apt-get update >/dev/null && apt-get install -y nftables >/dev/null; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(-count=1 -timeout 20m -v ./lab/ -lab.table="$tmp/matrix.txt" -lab.punchtable="$tmp/libp2p.txt")
[ -n "$pairs" ] && args+=(-lab.pairs="$pairs")
run='^TestNATMatrix$'
[ "$libp2p" = 1 ] && run='^(TestNATMatrix|TestLibp2pHolePunch)$'

start=$(date +%s)
status=0
go test -run "$run" "${args[@]}" >"$tmp/log" 2>&1 || status=$?
if grep -q -- '--- SKIP' "$tmp/log"; then
	grep -A2 -- '--- SKIP' "$tmp/log" >&2
fi
if [ -s "$tmp/matrix.txt" ]; then
	echo "coconet through the NAT lab (times from starting both nodes; path as bob sees alice):"
	cat "$tmp/matrix.txt"
fi
if [ -s "$tmp/libp2p.txt" ]; then
	echo
	echo "plain go-libp2p, same lab (time from the relayed connection to the direct one):"
	cat "$tmp/libp2p.txt"
fi
echo "($(( $(date +%s) - start )) s)"
if [ "$status" != 0 ]; then
	grep -E -- '^\s*(--- FAIL|[a-z_]+_test\.go:[0-9]+: .*(want|no message|did not))' "$tmp/log" >&2 || tail -50 "$tmp/log" >&2
	echo "nat.sh: the matrix failed (go test exit $status)" >&2
	exit "$status"
fi
