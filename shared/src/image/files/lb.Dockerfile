# The dind load balancer image: HAProxy in front of the masters of a cluster with several
# control-plane nodes, as kind's kindest/haproxy (images/haproxy/Dockerfile). Rendered by
# dind. dind writes /etc/haproxy/dind.cfg before the first start and signals HUP to reload.
FROM debian:trixie-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
# Master-worker mode (-W): HUP makes the master start a new worker with the rewritten file,
# which takes over the listening socket; the old worker finishes its connections.
STOPSIGNAL SIGUSR1
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "/etc/haproxy/dind.cfg"]
