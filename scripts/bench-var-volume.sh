#!/usr/bin/env bash
# Benchmark: what `/var` as the node volume costs a node's creation. Docker copies the
# image's /var into a new named volume when a container first mounts it; before, the
# volume was /var/lib/containerd, which the image leaves empty. Times `docker run` of the
# bare node image (entrypoint `true`, so only the create, the copy and the start count)
# with a fresh volume at each path, alternating, and prints the medians and their ratio.
#
# Usage: scripts/bench-var-volume.sh   (RUNS=7 by default; needs dind-node:bare)
set -euo pipefail
runs=${RUNS:-7}
image=dind-node:bare
docker image inspect "$image" >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A times
for run in $(seq "$runs"); do
  for dest in /var /var/lib/containerd; do
    volume="dind-bench-var-$$-$run-${dest//\//_}"
    start=$(date +%s.%N)
    docker run --rm -v "$volume:$dest" --entrypoint true "$image"
    end=$(date +%s.%N)
    docker volume rm "$volume" >/dev/null
    times[$dest]+="$(awk -v s="$start" -v e="$end" 'BEGIN {print e - s}') "
  done
done
var=$(printf '%s\n' ${times[/var]} | median)
containerd=$(printf '%s\n' ${times[/var/lib/containerd]} | median)
echo "image /var: $(docker run --rm --entrypoint du "$image" -sh /var | cut -f1)"
printf 'volume at /var: %.2f s, at /var/lib/containerd: %.2f s (median of %d)\n' "$var" "$containerd" "$runs"
awk -v a="$var" -v b="$containerd" 'BEGIN {printf "ratio: %.2f, cost: %.2f s a node\n", a / b, a - b}'
