#!/usr/bin/env bash
# Attacks a running `coco control` from a separate process, as a stranger
# with throwaway keys: 8,000 control streams on one connection and 3,000
# connections from new keys, each stream declaring a 192 KiB request it never
# sends, all held open; meanwhile a real member registers and looks up once a
# second. Prints the control plane's peak RSS (VmHWM) and the member's
# slowest register + lookup; the goal (issue 10, item 5) is < 300 MB and
# ≤ 2 s. Everything on 127.0.0.1.
#
#   bench/controlattack.sh                       # this checkout's coco
#   bench/controlattack.sh --before /work/main   # also a checkout built the same way, first (before/after)
#   bench/controlattack.sh --json --streams 8000 --conns 3000 --duration 20s
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--before)
		echo "building coco from $2 (before)" >&2
		(cd "$2" && go build -o "$tmp/coco-before" ./cmd/coco)
		args+=(--before "$tmp/coco-before")
		shift 2
		;;
	*)
		args+=("$1")
		shift
		;;
	esac
done
echo "building coco from $(pwd)" >&2
go build -o "$tmp/coco" ./cmd/coco
go build -o "$tmp/controlattack" ./bench/controlattack
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$tmp/controlattack" --coco "$tmp/coco" "${args[@]+"${args[@]}"}"
