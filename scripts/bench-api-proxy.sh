#!/usr/bin/env bash
# Benchmark: what the API proxy of a cluster whose nodes have no IPv4 costs (see
# shared/src/cluster/api_proxy.rs). A listener stands in for the API server in a container
# on a dual-stack test network; the same listener is reached from the engine's host once
# through its own published port (the baseline: how a master with IPv4 is reached) and
# once through a `socat` proxy container (dind's API proxy, the same command line) that
# forwards over IPv6. Prints, for each path, the time of N sequential connections (each
# reads a short answer) and of one 200 MB transfer, and proxy/baseline ratios.
#
# Usage: scripts/bench-api-proxy.sh   (N=200 connections by default; needs the support
#        image dind-support:<recipe>, which any IPv6 `up` or the dns64 test builds)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-200}
net=dind-bench-proxy
image=$(docker images dind-support --format '{{.Repository}}:{{.Tag}}' | head -1)
[ -n "$image" ] || { echo "bench-api-proxy: no dind-support image; run an IPv6 up first" >&2; exit 1; }
cleanup() {
  docker rm -f dind-bench-api dind-bench-bulk dind-bench-proxy dind-bench-proxy-bulk >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
docker network create --ipv6 --subnet fd00:177::/64 --subnet 10.177.0.0/24 "$net" >/dev/null
v6=(--sysctl net.ipv6.conf.all.disable_ipv6=0 --network "$net")
docker run -d --name dind-bench-api "${v6[@]}" --ip6 fd00:177::2 -p 127.0.0.1:46443:6443 \
  --entrypoint socat "$image" TCP6-LISTEN:6443,ipv6only=0,fork,reuseaddr "SYSTEM:echo ok" >/dev/null
docker run -d --name dind-bench-bulk "${v6[@]}" --ip6 fd00:177::4 -p 127.0.0.1:46444:6443 \
  --entrypoint socat "$image" TCP6-LISTEN:6443,ipv6only=0,fork,reuseaddr \
  "SYSTEM:head -c 200000000 /dev/zero" >/dev/null
for target in api:2:46445 bulk:4:46446; do
  IFS=: read -r kind host port <<<"$target"
  name=dind-bench-proxy; [ "$kind" = bulk ] && name=dind-bench-proxy-bulk
  docker run -d --name "$name" "${v6[@]}" -p "127.0.0.1:$port:6443" --entrypoint socat "$image" \
    TCP6-LISTEN:6443,ipv6only=0,fork,reuseaddr "TCP6:[fd00:177::$host]:6443,connect-timeout=5" >/dev/null
done
# Client loops run in one host-network container, so container start-up is not timed.
client() {
  docker run --rm --network host --entrypoint bash dind-node:bare -c "$1"
}
connections='s=$(date +%s%N); for i in $(seq '"$n"'); do exec 3<>/dev/tcp/127.0.0.1/$1; head -c 2 <&3 >/dev/null; exec 3<&-; done; echo $(( ($(date +%s%N) - s) / 1000000 ))'
bulk='s=$(date +%s%N); exec 3<>/dev/tcp/127.0.0.1/$1; cat <&3 | wc -c >/dev/null; echo $(( ($(date +%s%N) - s) / 1000000 ))'
# Wait until every listener answers (nothing announces it).
for port in 46443 46445; do
  for _ in $(seq 50); do [ "$(client "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 2 <&3" 2>/dev/null)" = ok ] && break; sleep 0.2; done
done
direct_ms=$(client "set -- 46443; $connections")
proxy_ms=$(client "set -- 46445; $connections")
direct_bulk=$(client "set -- 46444; $bulk")
proxy_bulk=$(client "set -- 46446; $bulk")
echo "bench-api-proxy: $n connections: published port ${direct_ms} ms, through the proxy ${proxy_ms} ms, ratio $(awk "BEGIN{printf \"%.2f\", $proxy_ms/$direct_ms}")"
echo "bench-api-proxy: 200 MB: published port ${direct_bulk} ms, through the proxy ${proxy_bulk} ms, ratio $(awk "BEGIN{printf \"%.2f\", $proxy_bulk/$direct_bulk}")"
