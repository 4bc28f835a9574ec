# Two Docker engines in one swarm on this machine, for the swarm stage and for working on
# it: this machine's daemon (the manager) and Debian forky's Docker 28 in a container (a
# worker, scripts/docker28/engine.sh's recipe). Sourced, not run. The recipe, measured
# here: ../../shared/reference/environment.md, "Several engines in one swarm".
#
#   swarm_prepare NAME   start the inner engine (outside the swarm); sets SWARM_INNER_HOST
#   swarm_init           make the host's daemon a manager (its own address pools)
#   swarm_join           join the inner engine as a worker
#   swarm_stop NAME      both engines leave, the networks made here go, the engine goes
#
# The host's daemon gains two networks while it is a manager. Both are placed where no
# cluster plan below id 247 reaches: `docker_gwbridge` on 10.249.0.0/24 (Docker would take
# a free /16 such as 172.18.0.0/16, the NAT64 pools' range) and `ingress` on
# 10.248.0.0/24 (the address pool given to `swarm init`).

# shellcheck source=../docker28/engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/../docker28/engine.sh"

SWARM_MADE_GWBRIDGE=0

swarm_prepare() {
  local name=$1
  d28_start "$name" classic
  SWARM_INNER_HOST=$D28_HOST
  SWARM_INNER_ADDR=$(docker inspect --format '{{.NetworkSettings.IPAddress}}' "$name")
  SWARM_MANAGER_ADDR=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}')
}

swarm_init() {
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" != inactive ]; then
    echo "swarm_init: the host's daemon is already in a swarm (state $state)" >&2
    return 1
  fi
  if ! docker network inspect docker_gwbridge >/dev/null 2>&1; then
    docker network create --subnet 10.249.0.0/24 \
      --opt com.docker.network.bridge.name=docker_gwbridge \
      --opt com.docker.network.bridge.enable_icc=false \
      --opt com.docker.network.bridge.enable_ip_masquerade=true \
      docker_gwbridge >/dev/null
    SWARM_MADE_GWBRIDGE=1
  fi
  docker swarm init --advertise-addr "$SWARM_MANAGER_ADDR" \
    --default-addr-pool 10.248.0.0/16 --default-addr-pool-mask-length 24 >/dev/null
}

swarm_join() {
  DOCKER_HOST=$SWARM_INNER_HOST docker swarm join --advertise-addr "$SWARM_INNER_ADDR" \
    --token "$(docker swarm join-token -q worker)" "$SWARM_MANAGER_ADDR:2377" >/dev/null
}

swarm_stop() {
  local name=$1
  [ -z "${SWARM_INNER_HOST:-}" ] ||
    DOCKER_HOST=$SWARM_INNER_HOST docker swarm leave --force >/dev/null 2>&1 || true
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != inactive ]; then
    docker swarm leave --force >/dev/null 2>&1 || echo "swarm_stop: the host's daemon did not leave the swarm" >&2
  fi
  if [ "$SWARM_MADE_GWBRIDGE" = 1 ]; then docker network rm docker_gwbridge >/dev/null 2>&1 || true; fi
  d28_stop "$name"
}
