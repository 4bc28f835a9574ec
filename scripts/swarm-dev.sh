#!/usr/bin/env bash
# Keeps the swarm stage's two engines up while you work on `--docker-hosts`:
#   scripts/swarm-dev.sh up     start them, joined; writes /tmp/dind-swarm-dev.env
#   scripts/swarm-dev.sh down   dissolve the swarm and remove the inner engine
# Then: . /tmp/dind-swarm-dev.env; cargo test --workspace --test swarm -- --skip swarm_preflight_ --skip engine_gone_
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/swarm/engines.sh
name=dind-swarm-dev
case "${1:-}" in
  up)
    target/debug/docker-dind build-image --bare >/dev/null
    swarm_prepare "$name"
    swarm_init
    swarm_join
    { echo "export DIND_SWARM_INNER_HOST=$SWARM_INNER_HOST"
      echo "export DIND_SWARM_INNER_CONTAINER=$name"
      echo "SWARM_MADE_GWBRIDGE=$SWARM_MADE_GWBRIDGE"; } >/tmp/dind-swarm-dev.env
    echo "up: . /tmp/dind-swarm-dev.env" ;;
  down)
    # shellcheck disable=SC1091
    [ ! -e /tmp/dind-swarm-dev.env ] || . /tmp/dind-swarm-dev.env
    SWARM_INNER_HOST=${DIND_SWARM_INNER_HOST:-}
    D28_DIR=${SWARM_INNER_HOST#unix://}; D28_DIR=${D28_DIR%/sock/docker.sock}
    swarm_stop "$name"
    rm -f /tmp/dind-swarm-dev.env ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
