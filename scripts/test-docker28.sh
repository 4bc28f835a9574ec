#!/usr/bin/env bash
# The Docker 28 stage: runs dind's node tests against Debian forky's docker.io 28.x, the
# engine users run, inside a container on this machine's daemon (three levels deep: this
# daemon, the Docker 28 engine, dind's nodes). The recipe, measured here, is
# ../shared/reference/environment.md, "A modern Docker engine inside a container".
#
# The engine's host (the outer container) keeps IPv6 disabled, as many hosts do: the IPv6
# cluster test then proves that `up` publishes the API server on an address the host has.
#
# Removes its container, its volumes and its socket directory on exit, failed or not; keeps
# the engine image (dind-d28:forky) so the next run reuses its layers.
#
# CI runs this stage twice: on Docker's classic image store and on its containerd image
# store (D28_IMAGE_STORE=containerd, the default of Docker 29's new installs), each in its
# own container, so the two can run side by side.
#
# Usage: scripts/test-docker28.sh            (needs a Docker daemon and dind-node:bare)
#        D28_IMAGE_STORE=containerd scripts/test-docker28.sh
#        D28_NAME=i13-d28 scripts/test-docker28.sh   (another container name)
set -euo pipefail
cd "$(dirname "$0")/.."

store=${D28_IMAGE_STORE:-classic}
name=${D28_NAME:-dind-d28-$store}
started=$(date +%s)
# shellcheck source=docker28/engine.sh
. scripts/docker28/engine.sh

logs=
cleanup() {
  # Test runs still going (an interrupted stage) end first.
  for job in $(jobs -p); do kill "$job" 2>/dev/null || true; done
  # Removing the container ends every process of the inner engine and of its nodes.
  d28_stop "$name"
  rm -rf ${logs:+"$logs"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "test-docker28 ($store store): $*" >&2; }

# --workspace everywhere: the same feature set as scripts/test's build, so nothing recompiles.
cargo build --quiet --workspace
# The engine image starts from the node image this checkout builds.
target/debug/docker-dind build-image --bare >/dev/null
log "starting $name"
d28_start "$name" "$store"
version=$D28_VERSION
inner() { DOCKER_HOST=$D28_HOST "$@"; }
log "inner engine: Docker $version"
log "loading the base image into it"
docker save debian:trixie-slim | inner docker load -q >/dev/null

# The node tests: build-image --bare, a nodes-only cluster at the plan's addresses, IPv6
# clusters with DNS64/NAT64 (nodes without IPv4 on this engine), an IPv6 cluster whose API
# server must be published where this IPv6-less host can (DIND_TEST_EXPECT_NO_IPV6 makes
# that case required), and `load` of a built and of a partial multi-platform image into 3
# nodes, snapshot, down, restore and clean, on this stage's image store (image_store).
# The last three use distinct cluster IDs and run side by side; the nodes-only test lists
# every cluster (--all), so it runs alone. Each cleans its clusters; then nothing may be
# left.
inner cargo test --workspace --test docker_nodes --test dns64 --test remote_endpoints \
  --test image_store --no-run -q
log "build-image --bare on Docker 28"
inner target/debug/docker-dind build-image --bare >/dev/null
inner cargo test --workspace --test docker_nodes -- --exact \
  two_clusters_boot_side_by_side_and_stay_isolated
logs=$(mktemp -d /tmp/dind-d28-logs.XXXXXX)
# D28_TESTS picks the side-by-side jobs: the containerd-store stage runs only `images`,
# since that store changes what happens to images (build, load, snapshot, export), not
# the networking that `dns64` and `ipv6` exercise on the classic stage.
declare -A pids=()
for job in ${D28_TESTS:-dns64 ipv6 images}; do
  case "$job" in
    dns64) inner cargo test --workspace --test dns64 >"$logs/dns64" 2>&1 & ;;
    ipv6) DIND_TEST_EXPECT_NO_IPV6=1 inner cargo test --workspace --test remote_endpoints -- \
            ipv6_cluster_on_a_host_without_ipv6 >"$logs/ipv6" 2>&1 & ;;
    images) inner cargo test --workspace --test image_store >"$logs/images" 2>&1 & ;;
    *) log "unknown D28_TESTS job $job (dns64, ipv6, images)"; exit 2 ;;
  esac
  pids[$job]=$!
done
failed=0
for job in "${!pids[@]}"; do
  if ! wait "${pids[$job]}"; then failed=1; fi
  cat "$logs/$job"
done
[ "$failed" = 0 ] || { log "node tests failed against Docker $version"; exit 1; }

left=$(inner docker ps -aq; inner docker volume ls -q; inner docker network ls -q --filter type=custom)
if [ -n "$left" ]; then
  log "clean left objects behind:"; inner docker ps -a; inner docker volume ls; inner docker network ls
  exit 1
fi
log "passed in $(( $(date +%s) - started )) s against Docker $version; nothing left behind"
