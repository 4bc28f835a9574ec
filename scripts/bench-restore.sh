#!/usr/bin/env bash
# Benchmark: `docker dind up --nodes-only` of 3 nodes restored from a snapshot (after
# `down`) against a first `up` of the same cluster. Prints the median of RUNS runs of
# each, and restore/first (target: at most 0.5).
#
# Usage: scripts/bench-restore.sh   (RUNS=3, CLUSTER_ID=43 by default)
set -euo pipefail
# Under the shared daemon lock, as tests are: scripts/soak-restart.sh never restarts the
# daemon in the middle.
if [ -z "${DIND_LOCKED:-}" ]; then DIND_LOCKED=1 exec flock -s /tmp/dind-daemon.lock "$0" "$@"; fi
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
id=${CLUSTER_ID:-43}
cargo build --quiet -p kubectl-dind -p docker-dind
dind=target/debug/docker-dind
flags=(--nodes-only --image dind-node:bare --cluster-id "$id" --nodes 2)
trap '$dind clean --cluster-id "$id" >/dev/null 2>&1 || true' EXIT
$dind clean --cluster-id "$id" >/dev/null 2>&1
$dind build-image --bare >/dev/null

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
first=() ; restored=() ; downs=()
for _ in $(seq "$runs"); do
  start=$(now)
  $dind up "${flags[@]}" >/dev/null 2>&1
  first+=("$(awk -v s="$start" -v e="$(now)" 'BEGIN {print e - s}')")
  start=$(now)
  $dind down --cluster-id "$id" >/dev/null 2>&1
  downs+=("$(awk -v s="$start" -v e="$(now)" 'BEGIN {print e - s}')")
  start=$(now)
  out=$($dind up "${flags[@]}" 2>&1 >/dev/null)
  restored+=("$(awk -v s="$start" -v e="$(now)" 'BEGIN {print e - s}')")
  grep -q Restoring <<<"$out" || { echo "the second up did not restore: $out" >&2; exit 1; }
  $dind clean --cluster-id "$id" >/dev/null 2>&1
done
f=$(printf '%s\n' "${first[@]}" | median)
r=$(printf '%s\n' "${restored[@]}" | median)
d=$(printf '%s\n' "${downs[@]}" | median)
printf 'first up --nodes-only, 3 nodes:    %.2f s\n' "$f"
printf 'restore up --nodes-only, 3 nodes:  %.2f s  (the down before it, snapshot included: %.2f s)\n' "$r" "$d"
awk -v r="$r" -v f="$f" 'BEGIN {printf "restore/first: %.2f (target: at most 0.5)\n", r / f}'
