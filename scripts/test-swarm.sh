#!/usr/bin/env bash
# The swarm stage: one cluster over two Docker engines (`--docker-hosts`), tested by
# tests/swarm.rs and tests/swarm_pods.rs (pod traffic across the engines). The engines are
# this machine's daemon (the swarm manager) and Debian forky's Docker 28 in a container (a
# worker), joined in a swarm by this script
# (scripts/swarm/engines.sh), which dissolves it at the end, failed or not.
#
# Locks: it takes /tmp/dind-lock-swarm.lock itself (one swarm per daemon). In CI it runs
# beside other stages; the host's daemon then holds two more networks (ingress and
# docker_gwbridge) in ranges no cluster plan below id 247 reaches.
#
# Usage: scripts/test-swarm.sh   (needs a Docker daemon outside any swarm)
#        SWARM_BENCH=1 scripts/test-swarm.sh   (also times 4 nodes on two engines vs one)
set -euo pipefail
cd "$(dirname "$0")/.."

name=${SWARM_D28_NAME:-dind-swarm-d28}
started=$(date +%s)
log() { echo "test-swarm: $*" >&2; }
# shellcheck source=swarm/engines.sh
. scripts/swarm/engines.sh

exec 8>/tmp/dind-lock-swarm.lock
flock 8

cleanup() {
  for job in $(jobs -p); do kill "$job" 2>/dev/null || true; done
  swarm_stop "$name"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --quiet --workspace
cargo test --workspace --test swarm --test swarm_pods --test swarm_cmds --test swarm_ipv6 --test swarm_restore --no-run -q 2>&1 | grep -v '^ *Executable' >&2 || true
target/debug/docker-dind build-image --bare >/dev/null
log "starting $name (Docker 28 in a container)"
swarm_prepare "$name"
log "inner engine: Docker $D28_VERSION"
swarm_init
export DIND_SWARM_INNER_HOST=$SWARM_INNER_HOST
export DIND_SWARM_INNER_CONTAINER=$name

log "pre-flight with the inner engine outside the swarm"
cargo test --workspace --test swarm -- --exact swarm_preflight_refuses_an_engine_outside_the_swarm

log "joining the inner engine as a worker"
swarm_join
cargo test --workspace --test swarm --test swarm_pods --test swarm_cmds --test swarm_ipv6 -- --skip swarm_preflight_ --skip engine_gone_
# One at a time: two spread `up`s at once on this 2-core machine made the worker's overlay
# attach time out now and then ("attaching to network failed ... context deadline
# exceeded", 2 runs in 10); serial, the file also takes half the time.
cargo test --workspace --test swarm_restore -- --test-threads=1

# The host's daemon holds other stages' clusters; the inner engine only this stage's.
inner() { DOCKER_HOST=$SWARM_INNER_HOST "$@"; }
left=$(inner docker ps -aq; inner docker volume ls -q; inner docker network ls -q --filter label=dind.cluster)
if [ -n "$left" ]; then log "objects left on the inner engine: $left"; exit 1; fi

if [ "${SWARM_BENCH:-0}" = 1 ]; then
  scripts/bench-swarm.sh "unix:///var/run/docker.sock,$SWARM_INNER_HOST"
fi
# Last: the inner engine stops halfway through an `up`, and stays down.
cargo test --workspace --test swarm -- --exact engine_gone_during_up_rolls_back
log "passed in $(( $(date +%s) - started )) s"
