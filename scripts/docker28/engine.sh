# A Docker 28 engine (Debian forky's docker.io) in a container on this machine's daemon,
# for the scripts that test against it. Sourced, not run. The recipe, measured here, is
# ../../shared/reference/environment.md, "A modern Docker engine inside a container".
#
#   d28_start NAME [classic|containerd]   start it; sets D28_HOST (for DOCKER_HOST) and
#                                         D28_VERSION
#   d28_stop NAME                         remove it, its volumes and its socket directory
#
# The image (D28_IMAGE, default dind-d28:forky) is built on dind-node:bare and kept, so
# the next run reuses its layers. `containerd` turns on Docker's containerd
# image store ("features": {"containerd-snapshotter": true}), the default of Docker 29.

D28_IMAGE=${D28_IMAGE:-dind-d28:forky}

d28_start() {
  local name=$1 store=${2:-classic} here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  D28_DIR=$(mktemp -d "/tmp/$name.XXXXXX")
  mkdir -p "$D28_DIR/sock"
  case "$store" in
    classic) echo '{}' >"$D28_DIR/daemon.json" ;;
    containerd) echo '{"features": {"containerd-snapshotter": true}}' >"$D28_DIR/daemon.json" ;;
    *) echo "d28_start: unknown image store $store (classic or containerd)" >&2; return 2 ;;
  esac
  # Rebuilt from the current dind-node:bare every time; unchanged layers come from the cache.
  docker build -q -t "$D28_IMAGE" "$here" >/dev/null
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  # The node capability set (environment.md, "Privileges of node containers"), volumes for
  # the inner engine's state (overlay on overlay fails) and the socket directory.
  docker run -d --name "$name" --hostname "$name" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
    --tmpfs /run --tmpfs /tmp \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host \
    -v /lib/modules:/lib/modules:ro \
    -v /var/lib/docker -v /var/lib/containerd \
    -v "$D28_DIR/sock":/run/d28 \
    -v "$D28_DIR/daemon.json":/etc/docker/daemon.json:ro \
    -e container=docker \
    "$D28_IMAGE" /lib/systemd/systemd >/dev/null
  D28_HOST="unix://$D28_DIR/sock/docker.sock"
  local _
  for _ in $(seq 1 60); do
    DOCKER_HOST=$D28_HOST docker version >/dev/null 2>&1 && break
    sleep 1
  done
  # tayga needs /dev/net/tun, which the container does not get.
  docker exec "$name" sh -c 'mkdir -p /dev/net && { [ -e /dev/net/tun ] || mknod /dev/net/tun c 10 200; }'
  # The store asked for, or fail: a stage must not pass on the other one.
  local driver
  driver=$(DOCKER_HOST=$D28_HOST docker info --format '{{json .DriverStatus}}')
  if [ "$store" = containerd ] && [[ $driver != *io.containerd.snapshotter.v1* ]]; then
    echo "d28_start: $name does not use the containerd image store: $driver" >&2; return 1
  fi
  if [ "$store" = classic ] && [[ $driver == *io.containerd.snapshotter.v1* ]]; then
    echo "d28_start: $name uses the containerd image store: $driver" >&2; return 1
  fi
  D28_VERSION=$(DOCKER_HOST=$D28_HOST docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')
}

d28_stop() {
  docker rm -f -v "$1" >/dev/null 2>&1 || true
  [ -z "${D28_DIR:-}" ] || rm -rf "$D28_DIR"
}
