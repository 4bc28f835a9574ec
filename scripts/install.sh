#!/usr/bin/env bash
# Installs the plugins from this checkout: kubectl-dind, kubectl_complete-dind (kubectl's
# shell completion of `kubectl dind`) and docker-dind into cargo's bin directory (put it on
# PATH for kubectl to find the plugin), and docker-dind linked into the docker CLI's
# plugin directory. On a fresh Debian machine it also sets up what `up` needs, as
# scripts/test does:
#   - a running Docker daemon (docker.io, started when `docker info` fails);
#   - kubectl: the release of dind's default Kubernetes version from the official
#     downloads (DIND_KUBE_DOWNLOAD_URL, default https://dl.k8s.io/release), checked
#     against its .sha256; Debian's kubernetes-client when that download cannot work.
# Installing packages needs root (or sudo).
#
# Usage: scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "scripts/install.sh: need root or sudo for: $*" >&2; return 1
  fi
}

apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Docker: the engine, started now (by systemd when it runs, else in the background).
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || apt_install docker.io
  if [ -d /run/systemd/system ]; then
    as_root systemctl enable --now docker
  else
    echo "scripts/install.sh: starting dockerd (log: /tmp/dind-dockerd.log)" >&2
    as_root sh -c 'nohup dockerd >/tmp/dind-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || as_root docker info >/dev/null 2>&1 \
    || { echo "scripts/install.sh: the Docker daemon does not answer" >&2; exit 1; }
  if [ "$(id -u)" != 0 ] && ! docker info >/dev/null 2>&1; then
    echo "scripts/install.sh: add yourself to the docker group (sudo usermod -aG docker $USER) and log in again" >&2
  fi
fi

# kubectl, of the Kubernetes release dind sets up by default.
if ! command -v kubectl >/dev/null 2>&1; then
  command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
  version="$(sed -n 's/^pub const DEFAULT_KUBERNETES_VERSION: &str = "\(.*\)";/\1/p' shared/src/settings/table.rs)"
  arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  url="${DIND_KUBE_DOWNLOAD_URL:-https://dl.k8s.io/release}/$version/bin/linux/$arch/kubectl"
  tmp="$(mktemp -d)"
  if curl -fsSL --connect-timeout 10 -o "$tmp/kubectl" "$url" \
     && echo "$(curl -fsSL --connect-timeout 10 "$url.sha256")  $tmp/kubectl" | sha256sum -c - >/dev/null; then
    as_root install -m 0755 "$tmp/kubectl" /usr/local/bin/kubectl
  else
    echo "scripts/install.sh: cannot download $url; installing Debian's kubernetes-client instead" >&2
    apt_install kubernetes-client
  fi
  rm -rf "$tmp"
fi

cargo install --locked --quiet --path kubectl-dind
cargo install --locked --quiet --path docker-dind
bin="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
mkdir -p "$plugins"
ln -sf "$bin/docker-dind" "$plugins/docker-dind"
[ -x "$bin/kubectl_complete-dind" ] || { echo "install.sh: kubectl_complete-dind was not installed" >&2; exit 1; }
echo "installed kubectl-dind, kubectl_complete-dind and docker-dind in $bin; docker-dind linked into $plugins" >&2
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "add $bin to PATH so that kubectl finds kubectl-dind" >&2 ;;
esac
