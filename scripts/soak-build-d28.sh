#!/usr/bin/env bash
# N fresh builds of the bare node image in a row on Docker 28 (issue 17, item 1): the
# flake "bytes remaining on stream" came at random from `build-image --bare` there. Each
# round removes dind-node:bare from the engine (its untagged parents go with it, so no
# step is reused) and builds it again with docker-dind. A round fails when the build
# fails; a round whose stream ended raggedly but whose image carried the recipe's labels
# (the fallback) is counted apart. One line per round, then a summary; exit 1 if any
# round failed. Not a CI step: a check to run by hand.
#
# Usage: scripts/soak-build-d28.sh [N]          (N defaults to 10)
#        D28_IMAGE_STORE=containerd scripts/soak-build-d28.sh   (Docker's containerd store)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
name=${D28_NAME:-dind-d28-builds}
# shellcheck source=docker28/engine.sh
. scripts/docker28/engine.sh
trap 'd28_stop "$name"' EXIT
trap 'exit 130' INT TERM
log() { echo "soak-build-d28: $*" >&2; }

cargo build --quiet --workspace
# The engine image starts from the node image this checkout builds.
target/debug/docker-dind build-image --bare >/dev/null
d28_start "$name" "${D28_IMAGE_STORE:-classic}"
log "Docker $D28_VERSION, ${D28_IMAGE_STORE:-classic} image store, $rounds fresh builds"
docker save debian:trixie-slim | DOCKER_HOST=$D28_HOST docker load -q >/dev/null

failed=0 judged=0 total=0
for i in $(seq 1 "$rounds"); do
  DOCKER_HOST=$D28_HOST docker rmi -f dind-node:bare >/dev/null 2>&1 || true
  start=$(date +%s)
  if out=$(DOCKER_HOST=$D28_HOST target/debug/docker-dind build-image --bare 2>&1); then
    result=built
  else
    result=FAILED failed=$((failed + 1))
  fi
  if grep -q "bytes remaining on stream" <<<"$out" && [ "$result" = built ]; then
    result="built (ragged stream end, judged by the image)" judged=$((judged + 1))
  fi
  took=$(( $(date +%s) - start )) total=$((total + took))
  log "build $i/$rounds: $result in ${took}s"
  [ "$result" != FAILED ] || printf '%s\n' "$out" | tail -5 >&2
done
log "$((rounds - failed))/$rounds built, $failed failed, $judged ragged stream end(s) judged by the image; $total s of builds"
[ "$failed" = 0 ]
