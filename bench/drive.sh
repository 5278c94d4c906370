#!/usr/bin/env bash
# The drive (issue 11) vs rsync: initial sync of one big file and of many
# small files, and the re-sync after 1 MiB changed in the middle of the big
# file: two drive replicas over loopback TCP (package drive directly; the
# engine attachment comes later) vs `rsync -a` over ssh through its own
# sshd on 127.0.0.1 vs a local `rsync -a`, in one run, with ratios. Flags go
# to bench/drivebench, e.g.
#   bench/drive.sh                         # 1 GiB file, 10,000 files of 1 GiB in all
#   bench/drive.sh -size 67108864 -files 500 -total 67108864 --json
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v rsync >/dev/null || need+=(rsync)
{ command -v sshd >/dev/null || [ -x /usr/sbin/sshd ]; } || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
	echo "drive.sh: installing ${need[*]}" >&2
	apt-get install -y "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y "${need[@]}" >/dev/null; }
fi
exec go run ./bench/drivebench "$@"
