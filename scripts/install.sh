#!/usr/bin/env bash
# Installs the plugins from this checkout: kubectl-dind, kubectl_complete-dind (kubectl's
# shell completion of `kubectl dind`) and docker-dind into cargo's bin directory (put it on
# PATH for kubectl to find the plugin), and docker-dind linked into the docker CLI's
# plugin directory.
#
# Usage: scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
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
