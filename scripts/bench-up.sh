#!/usr/bin/env bash
# Benchmark: time from `docker dind up --nodes-only` to every node ready (systemd
# running, containerd answering), for clusters of 1, 3 and 5 nodes, with the bare node
# image so that only dind's own work is measured. Prints the median of RUNS runs for
# each size and the 5-node/1-node ratio (target: at most 1.5, since nodes are created
# and booted concurrently).
#
# Usage: scripts/bench-up.sh   (RUNS=3, CLUSTER_ID=250 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
id=${CLUSTER_ID:-250}
cargo build --release --quiet -p docker-dind
dind=target/release/docker-dind
$dind build-image --bare >/dev/null
trap '$dind clean --cluster-id "$id" >/dev/null 2>&1 || true' EXIT
$dind clean --cluster-id "$id" >/dev/null 2>&1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A result
for nodes in 1 3 5; do
  times=()
  for _ in $(seq "$runs"); do
    start=$(date +%s.%N)
    $dind up --nodes-only --cluster-id "$id" --nodes $((nodes - 1)) --image dind-node:bare >/dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(awk -v s="$start" -v e="$end" 'BEGIN {print e - s}')")
    $dind clean --cluster-id "$id" >/dev/null 2>&1
  done
  result[$nodes]=$(printf '%s\n' "${times[@]}" | median)
  printf '%d node(s): %.2f s (median of %d)\n' "$nodes" "${result[$nodes]}" "$runs"
done
awk -v five="${result[5]}" -v one="${result[1]}" 'BEGIN {printf "5-node/1-node ratio: %.2f\n", five / one}'
