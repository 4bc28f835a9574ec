# The dind support image: BIND as the DNS64 server and tayga as the NAT64 gateway of an
# IPv6-only cluster, and socat as the API proxy of a cluster whose nodes have no IPv4.
# Rendered by dind.
FROM debian:trixie-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends bind9 tayga iproute2 iptables socat \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY rootfs/ /
