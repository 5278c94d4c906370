#!/usr/bin/env bash
# Tunnel throughput and connection setup: a coconet tunnel (expose on one
# node, open on another, loopback) vs `ssh -L` through its own sshd on
# 127.0.0.1 (temp host key, temp authorized key, own sshd_config; default
# cipher, and aes128-gcm) vs an unencrypted two-hop io.Copy relay (the
# tunnel's shape without its cipher) vs plain TCP, all to one target server,
# in one run, with ratios. sshd runs as the current user (root in CI).
# Flags go to bench/tunnelbench, e.g.
#   bench/tunnel.sh --json
#   bench/tunnel.sh -mib 512 -setups 1000
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
	echo "tunnel.sh: installing openssh-server and openssh-client" >&2
	apt-get install -y openssh-server openssh-client >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y openssh-server openssh-client >/dev/null; }
fi
exec go run ./bench/tunnelbench "$@"
