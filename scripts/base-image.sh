#!/usr/bin/env bash
# Makes the base image dind's Dockerfiles start from (debian:trixie-slim) without a
# registry: debootstrap from the Debian mirror, then `docker import` under the name the
# Dockerfiles' FROM uses, so `docker build` finds it locally and pulls nothing.
#
# Needs root, debootstrap and a Docker daemon. Usage: scripts/base-image.sh
set -euo pipefail
image=debian:trixie-slim
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image is already present" >&2
  exit 0
fi
rootfs=$(mktemp -d /tmp/dind-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap trixie into $rootfs ..." >&2
debootstrap --variant=minbase trixie "$rootfs" "$mirror" >/dev/null
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "imported $image" >&2
