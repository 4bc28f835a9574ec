#!/usr/bin/env bash
# Benchmark: `docker dind load` of a ~100 MB image into the 3 nodes of a nodes-only
# cluster, against the shell tool's way (`docker save` to a file, then
# `ctr -n k8s.io images import` into the nodes one after another). Prints the median of
# RUNS runs of each, and load/baseline (target: at most 0.5). Between runs the image is
# removed from every node, so each run really transfers it.
# Third column: `load --via-registry` (push once to `docker dind registry`, nodes pull);
# before each of its runs the registry is cleaned and started again (untimed), so every
# run pushes the whole image.
#
# Usage: scripts/bench-load.sh   (RUNS=3, CLUSTER_ID=42, SIZE_MB=100 by default)
set -euo pipefail
# Under the shared daemon lock, as tests are: scripts/soak-restart.sh never restarts the
# daemon in the middle.
if [ -z "${DIND_LOCKED:-}" ]; then DIND_LOCKED=1 exec flock -s /tmp/dind-daemon.lock "$0" "$@"; fi
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
id=${CLUSTER_ID:-42}
size=${SIZE_MB:-100}
image=i9-bench-load:1
src=i9-bench-load-src
cargo build --quiet -p kubectl-dind -p docker-dind
dind=target/debug/docker-dind
file=$(mktemp /tmp/i9-bench-load.XXXXXX.tar)
cleanup() {
  $dind clean --cluster-id "$id" >/dev/null 2>&1 || true
  $dind registry clean >/dev/null 2>&1 || true
  docker rm -f "$src" >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -f "$file"
}
trap cleanup EXIT
cleanup
$dind build-image --bare >/dev/null
docker run --name "$src" debian:trixie-slim dd if=/dev/urandom of=/blob bs=1M count="$size" 2>/dev/null
docker commit "$src" "$image" >/dev/null
$dind up --nodes-only --image dind-node:bare --cluster-id "$id" --nodes 2 >/dev/null 2>&1
mapfile -t nodes < <($dind nodes --cluster-id "$id" -o json | jq -r '.[].name')
ref=docker.io/library/$image

forget() {
  for n in "${nodes[@]}"; do
    docker exec "$n" ctr -n k8s.io images rm --sync "$ref" "localhost:5001/library/$image" >/dev/null 2>&1 || true
  done
}
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

base=() ; ours=() ; reg=()
for _ in $(seq "$runs"); do
  forget
  start=$(now)
  docker save -o "$file" "$image"
  for n in "${nodes[@]}"; do
    docker exec -i "$n" ctr -n k8s.io images import - <"$file" >/dev/null
  done
  rm -f "$file"
  base+=("$(awk -v s="$start" -v e="$(now)" 'BEGIN {print e - s}')")
  forget
  start=$(now)
  $dind load "$image" --cluster-id "$id" >/dev/null 2>&1
  ours+=("$(awk -v s="$start" -v e="$(now)" 'BEGIN {print e - s}')")
  forget
  $dind registry clean >/dev/null 2>&1
  $dind registry up >/dev/null 2>&1
  start=$(now)
  $dind load --via-registry "$image" --cluster-id "$id" >/dev/null 2>&1
  reg+=("$(awk -v s="$start" -v e="$(now)" 'BEGIN {print e - s}')")
done
b=$(printf '%s\n' "${base[@]}" | median)
o=$(printf '%s\n' "${ours[@]}" | median)
r=$(printf '%s\n' "${reg[@]}" | median)
printf 'baseline (docker save to a file, import node by node): %.2f s\n' "$b"
printf 'docker dind load (one stream, all nodes at once):      %.2f s\n' "$o"
printf 'docker dind load --via-registry (push once, nodes pull): %.2f s\n' "$r"
awk -v o="$o" -v b="$b" 'BEGIN {printf "load/baseline: %.2f (target: at most 0.5)\n", o / b}'
awk -v r="$r" -v o="$o" 'BEGIN {printf "via-registry/load: %.2f\n", r / o}'
