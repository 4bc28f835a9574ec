#!/usr/bin/env bash
# Benchmark: what spreading a cluster over two engines costs. Time from `docker dind up
# --nodes-only --nodes 3` to all 4 nodes ready, on two engines of one swarm
# (`--docker-hosts`) against the same cluster on the first engine alone, run in the same
# go; median of RUNS runs each, and their ratio. The first spread run sends the node image
# to the second engine and is shown on its own. Then a 3,000-byte round trip between two
# nodes on different engines against two on the same one (the overlay's VXLAN), median of
# 20.
#
# Usage: scripts/bench-swarm.sh HOST1,HOST2   (two engines in one swarm; scripts/test-swarm.sh
#        runs it with SWARM_BENCH=1, or use scripts/swarm-dev.sh up and pass
#        "unix:///var/run/docker.sock,$DIND_SWARM_INNER_HOST")
#        RUNS=3 by default; cluster ids 239 (spread) and 240 (one engine).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:?usage: scripts/bench-swarm.sh HOST1,HOST2}
first=${hosts%%,*}
runs=${RUNS:-3}
cargo build --quiet --workspace
dind=target/debug/docker-dind
$dind build-image --bare >/dev/null
spread=(--cluster-id 239 --docker-hosts "$hosts")
single=(--cluster-id 240)
cleanup() {
  $dind clean "${spread[@]}" >/dev/null 2>&1 || true
  DOCKER_HOST=$first $dind clean "${single[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds_of() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN {print e - s}'
}
up=(up --nodes-only --nodes 3 --image dind-node:bare)
# The second engine may hold an older copy of the image: the first run sends it.
first_spread=$(seconds_of $dind "${up[@]}" "${spread[@]}")
$dind clean "${spread[@]}" >/dev/null 2>&1
printf 'first spread up (sends the node image): %.2f s\n' "$first_spread"
declare -a two=() one=()
for _ in $(seq "$runs"); do
  two+=("$(seconds_of $dind "${up[@]}" "${spread[@]}")")
  $dind clean "${spread[@]}" >/dev/null 2>&1
  one+=("$(DOCKER_HOST=$first seconds_of $dind "${up[@]}" "${single[@]}")")
  DOCKER_HOST=$first $dind clean "${single[@]}" >/dev/null 2>&1
done
two_m=$(printf '%s\n' "${two[@]}" | median)
one_m=$(printf '%s\n' "${one[@]}" | median)
printf '4 nodes ready on two engines: %.2f s (median of %d)\n' "$two_m" "$runs"
printf '4 nodes ready on one engine:  %.2f s (median of %d)\n' "$one_m" "$runs"
awk -v a="$two_m" -v b="$one_m" 'BEGIN {printf "two-engine/one-engine ratio: %.2f\n", a / b}'

# Round trips: kube-node-1 is on the second engine, kube-node-2 on the first, like the master.
$dind "${up[@]}" "${spread[@]}" >/dev/null 2>&1
master=kube-master-cluster-239
docker -H "$first" exec -d kube-node-2-cluster-239 socat TCP-LISTEN:7777,fork,reuseaddr EXEC:cat
DOCKER_HOST=${hosts#*,} docker exec -d kube-node-1-cluster-239 socat TCP-LISTEN:7777,fork,reuseaddr EXEC:cat
round_trip() {
  local target=$1 i
  for i in $(seq 20); do
    docker -H "$first" exec "$master" sh -c "s=\$(date +%s%N); head -c 3000 /dev/zero | \
      socat -t2 - TCP:$target:7777,connect-timeout=5,retry=20,interval=0.2 >/dev/null; \
      echo \$(( (\$(date +%s%N) - s) / 1000 ))"
  done | median
}
across=$(round_trip kube-node-1-cluster-239)
same=$(round_trip kube-node-2-cluster-239)
printf '3,000-byte round trip from the master: %s us across engines, %s us on the same engine\n' "$across" "$same"
awk -v a="$across" -v b="$same" 'BEGIN {printf "across/same ratio: %.2f\n", a / b}'
