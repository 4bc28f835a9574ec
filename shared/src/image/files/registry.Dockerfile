# The dind registry image: Debian's docker-registry (the CNCF distribution registry) for
# `docker dind registry`, as a local registry or a pull-through mirror. Its configuration
# is written into the container by dind before it starts. Rendered by dind.
FROM debian:trixie-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends docker-registry ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && mkdir -p /var/lib/registry /etc/dind
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/dind/registry.yml"]
