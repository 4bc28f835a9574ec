#!/usr/bin/env bash
# Soak: clusters survive a restart of the Docker daemon.
#   1. brings up a two-node nodes-only cluster (ID 40) and an IPv6 nodes-only cluster
#      with DNS64/NAT64 (ID 41), and writes a file into every node's /etc and /var/lib;
#   2. restarts the daemon (stop by its pid, wait, start it the way scripts/test does);
#      the script holds `flock -x /tmp/dind-daemon.lock` throughout, so it never restarts
#      the daemon under tests that hold the lock shared;
#   3. checks that every node is running and booted again with its files and its address,
#      that each master publishes the API server on the same host port as before (pinned at
#      `up`: a port-0 publication would get a new one, moby#31926), that the DNS64 server
#      answers a query, and that NAT64 (tayga) carries a TCP
#      connection from an IPv6-only node to an IPv4-only listener.
# It restarts the machine's Docker daemon: run it where nothing else needs the daemon
# (CI runs it after `cargo test`). Usage: scripts/soak-restart.sh
set -euo pipefail
# The whole soak holds the daemon lock exclusively: tests (which hold it shared) never see
# the daemon restart, nor its two clusters. -o: the lock stays with flock itself, not with
# the daemon this script starts.
if [ -z "${DIND_SOAK_LOCKED:-}" ]; then
  (cd "$(dirname "$0")/.." && cargo build --quiet --workspace)
  DIND_SOAK_LOCKED=1 exec flock -x -o /tmp/dind-daemon.lock "$0" "$@"
fi
cd "$(dirname "$0")/.."
dind=target/debug/docker-dind
if [ ! -r /var/run/docker.pid ]; then
  echo "soak-restart: no local dockerd (/var/run/docker.pid) to restart" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
v4=(--cluster-id 40 --nodes 1)
v6=(--cluster-id 41 --nodes 1 --ip-mode ipv6)

cleanup() {
  $dind clean --cluster-id 40 >/dev/null 2>&1 || true
  $dind clean --cluster-id 41 >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "soak-restart: FAIL: $*" >&2; exit 1; }

$dind build-image --bare >/dev/null
cleanup
$dind up --nodes-only --image dind-node:bare "${v4[@]}" >/dev/null
$dind up --nodes-only --image dind-node:bare "${v6[@]}" >/dev/null

# Name, state and plan addresses. In IPv6 mode nodes have no plan IPv4 address (Docker
# hands out one of its own on the network's IPv4 subnet), so only IPv6 is compared there.
nodes_of() { $dind nodes --cluster-id "$1" -o json | jq -r '.[] | "\(.name) \(.state) \(.ipv4) \(.ipv6)"'; }
nodes_v6() { $dind nodes --cluster-id "$1" -o json | jq -r '.[] | "\(.name) \(.state) \(.ipv6)"'; }
before=$( (nodes_of 40; nodes_v6 41) | sort)
[ "$(wc -l <<<"$before")" = 4 ] || fail "expected 4 nodes, got: $before"
for node in $(awk '{print $1}' <<<"$before"); do
  docker exec "$node" sh -c "echo soak-$node > /etc/i9-soak && echo soak-$node > /var/lib/i9-soak"
done
ports_before="$($dind apiserver-port --cluster-id 40) $($dind apiserver-port --cluster-id 41)"
plan=$($dind up --dry-run -o json "${v6[@]}")
dns64=$(jq -r .net64.dns64_address <<<"$plan")
prefix=$(jq -r .net64.dns64_prefix <<<"$plan")
v6_master=kube-master-cluster-41

restart_daemon() {
  local pid
  pid=$(cat /var/run/docker.pid)
  echo "soak-restart: stopping dockerd (pid $pid)" >&2
  kill "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { echo "dockerd did not stop" >&2; return 1; }
  echo "soak-restart: starting dockerd (log: /tmp/dind-dockerd.log)" >&2
  # New session, no inherited descriptors: the daemon must not hold the lock.
  setsid nohup dockerd >/tmp/dind-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "dockerd did not answer after 60 s" >&2
  return 1
}
restart_daemon

# Every node comes back by itself (restart policy), boots, and keeps its state.
for node in $(awk '{print $1}' <<<"$before"); do
  for _ in $(seq 1 120); do
    [ "$(docker inspect -f '{{.State.Running}}' "$node" 2>/dev/null)" = true ] && break
    sleep 1
  done
  # `is-system-running --wait` blocks until the boot is over, but fails at once while
  # systemd's bus does not exist yet, right after the container starts: ask again.
  booted=
  for _ in $(seq 1 240); do
    case "$(docker exec "$node" systemctl is-system-running --wait 2>/dev/null)" in
      running | degraded) booted=1; break ;;
    esac
    sleep 0.5
  done
  [ -n "$booted" ] || fail "$node did not finish booting after the restart"
  docker exec "$node" ctr version >/dev/null || fail "$node: containerd does not answer"
  got=$(docker exec "$node" cat /etc/i9-soak /var/lib/i9-soak) || fail "$node lost its files"
  [ "$got" = "soak-$node"$'\n'"soak-$node" ] || fail "$node: files changed: $got"
done
after=$( (nodes_of 40; nodes_v6 41) | sort)
[ "$before" = "$after" ] || fail "nodes changed across the restart:
before:
$before
after:
$after"

ports_after="$($dind apiserver-port --cluster-id 40) $($dind apiserver-port --cluster-id 41)"
[ "$ports_before" = "$ports_after" ] || fail "API server ports changed across the restart: $ports_before -> $ports_after"

# The support containers are back and answer.
for c in bind9-cluster-41 tayga-cluster-41; do
  [ "$(docker inspect -f '{{.State.Running}}' "$c")" = true ] || fail "$c is not running"
done
# DNS64: a DNS query over TCP (version.bind, class CHAOS) gets a reply.
query='\x00\x1e\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03'
answered=
for _ in $(seq 1 30); do
  bytes=$(docker exec "$v6_master" bash -c "printf '$query' | socat -T3 - 'TCP6:[$dns64]:53' | wc -c" 2>/dev/null || echo 0)
  if [ "$bytes" -gt 12 ]; then answered=yes; break; fi
  sleep 1
done
[ -n "$answered" ] || fail "the DNS64 server $dns64 does not answer"
# NAT64: the IPv6 master reaches an IPv4 listener (on the other node's Docker-assigned
# IPv4 address) through the DNS64 prefix, translated by tayga.
peer=kube-node-1-cluster-41
peer_v4=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$peer")
port=18941
docker exec -d "$peer" socat "TCP4-LISTEN:$port,bind=$peer_v4,fork,reuseaddr" SYSTEM:'echo nat64-ok'
reached=
for _ in $(seq 1 30); do
  if [ "$(docker exec "$v6_master" socat -T3 - "TCP6:[${prefix%%/*}$peer_v4]:$port" 2>/dev/null)" = nat64-ok ]; then
    reached=yes; break
  fi
  sleep 1
done
[ -n "$reached" ] || fail "NAT64 does not translate: no answer from $peer_v4:$port through ${prefix%%/*}$peer_v4"
echo "soak-restart: OK: 4 nodes back with their files, addresses and API ports ($ports_after); DNS64 answers and NAT64 translates"
