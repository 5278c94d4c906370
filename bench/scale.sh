#!/usr/bin/env bash
# Measures the replicated control plane in one run, on 127.0.0.1, every
# part a process: 10,000 simulated nodes registered across three
# `coco control` replicas over a three-member etcd, beside today's single
# in-memory `coco control --etcd none`: registrations/s and resident memory
# per node on each control plane, and the ratios. Flags go to
# bench/scalebench, e.g.
#   bench/scale.sh --json
#   bench/scale.sh --nodes 20000 --workers 128
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/scalebench "$@"
