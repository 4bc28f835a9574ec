#!/usr/bin/env bash
# Builds the release archives and writes them into the krew manifest.
#
# Usage: scripts/release.sh [TARGET...]
#
#   TARGET is a Rust target triple; the default is the host's (`rustc -vV`). Known targets:
#     x86_64-unknown-linux-gnu   linux/amd64     aarch64-unknown-linux-gnu   linux/arm64
#     x86_64-apple-darwin        darwin/amd64    aarch64-apple-darwin        darwin/arm64
#   (the -musl Linux triples map to the same platforms). Cross targets need their rustup
#   target and linker; build the macOS archives on a Mac.
#
# For each target this runs `cargo build --release --locked --target TARGET` for
# kubectl-dind and docker-dind, packs
#     dist/dind-vVERSION-OS-ARCH.tar.gz     (kubectl-dind, kubectl_complete-dind, docker-dind,
#                                           LICENSE at its root)
# writes its checksum beside it (`.sha256`), and writes that platform into krew/dind.yaml:
# the GitHub release download URI and the archive's sha256. It also sets spec.version
# from the workspace version in Cargo.toml. Upload exactly the dist/ archives this run
# produced together with the manifest it wrote.
#
# The manifest lists only archives whose checksum this script computed:
#   - a platform built in this run gets a fresh entry;
#   - a platform not built in this run keeps its entry if that entry is for this version
#     (e.g. the Linux archives built on Linux, then the macOS ones added on a Mac);
#   - an entry for another version is dropped, since its sha256 belongs to an old archive;
#   - a platform never built has no entry at all. krew then says the plugin is not
#     available there, which is honest; a placeholder checksum would fail at install time.
#
# Environment:
#   DIND_RELEASE_BINARIES_DIR  use DIR/TARGET/{kubectl-dind,kubectl_complete-dind,docker-dind}
#                              instead of running cargo (binaries built elsewhere; tests)
#   DIND_RELEASE_DIST          where archives go (default: dist/ in the repository)
#   DIND_RELEASE_MANIFEST      the manifest to update (default: krew/dind.yaml)
#   SOURCE_DATE_EPOCH          archive entry times (default: the time of the last commit
#                              to Cargo.toml, i.e. the version bump), so the same binaries
#                              give the same archive, whatever was committed since
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dist=${DIND_RELEASE_DIST:-$repo/dist}
manifest=${DIND_RELEASE_MANIFEST:-$repo/krew/dind.yaml}
binaries_dir=${DIND_RELEASE_BINARIES_DIR:-}
plugin=dind
# What each archive holds besides LICENSE. kubectl_complete-dind is what kubectl (1.26+)
# runs from PATH to complete `kubectl dind`; cargo builds it with kubectl-dind.
binaries=(kubectl-dind kubectl_complete-dind docker-dind)
# Canonical platform order in the manifest.
platforms=(linux-amd64 linux-arm64 darwin-amd64 darwin-arm64)

die() {
	echo "release.sh: $*" >&2
	exit 1
}

# Reads KEY from [workspace.package] in Cargo.toml.
workspace_value() {
	awk -v key="$1" '
		/^\[/ { section = $0 }
		section == "[workspace.package]" && $1 == key { gsub(/"/, "", $3); print $3; exit }
	' "$repo/Cargo.toml"
}

# Prints "OS-ARCH" for a Rust target triple.
platform_of() {
	case "$1" in
	x86_64-unknown-linux-gnu | x86_64-unknown-linux-musl) echo linux-amd64 ;;
	aarch64-unknown-linux-gnu | aarch64-unknown-linux-musl) echo linux-arm64 ;;
	x86_64-apple-darwin) echo darwin-amd64 ;;
	aarch64-apple-darwin) echo darwin-arm64 ;;
	*) die "unknown target $1 (known: x86_64/aarch64 -unknown-linux-gnu/-musl, -apple-darwin)" ;;
	esac
}

sha256_of() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

# Prints the directory holding kubectl-dind and docker-dind for a target.
binaries_for() {
	local target=$1
	if [[ -n $binaries_dir ]]; then
		echo "$binaries_dir/$target"
		return
	fi
	(cd "$repo" && cargo build --release --locked --target "$target" -p kubectl-dind -p docker-dind) >&2
	echo "${CARGO_TARGET_DIR:-$repo/target}/$target/release"
}

# Packs the archive for one target; prints its path.
pack() {
	local target=$1 platform=$2 from stage archive
	from=$(binaries_for "$target")
	for binary in "${binaries[@]}"; do
		[[ -f $from/$binary ]] || die "missing $from/$binary"
	done
	stage=$(mktemp -d)
	for binary in "${binaries[@]}"; do
		install -m 0755 "$from/$binary" "$stage/"
	done
	install -m 0644 "$repo/LICENSE" "$stage/"
	archive=$dist/$plugin-v$version-$platform.tar.gz
	# Fixed order, owners and times, and no gzip timestamp: the same binaries give the
	# same bytes, hence the same sha256.
	if tar --version 2>/dev/null | grep -q 'GNU tar'; then
		tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
			--mtime="@$epoch" -cf - "${binaries[@]}" LICENSE | gzip -9n >"$archive"
	else
		tar -C "$stage" --uid 0 --gid 0 -cf - "${binaries[@]}" LICENSE | gzip -9n >"$archive"
	fi
	rm -rf "$stage"
	echo "$archive"
}

# Writes the manifest's platform entry for one archive.
platform_entry() {
	local platform=$1 archive=$2 sha=$3
	cat <<EOF
  - selector:
      matchLabels:
        os: ${platform%-*}
        arch: ${platform#*-}
    uri: $repo_url/releases/download/v$version/$(basename "$archive")
    sha256: $sha
    bin: kubectl-dind
    files:
      - from: kubectl-dind
        to: .
      - from: kubectl_complete-dind
        to: .
      - from: docker-dind
        to: .
      - from: LICENSE
        to: .
EOF
}

version=$(workspace_value version)
repo_url=$(workspace_value repository)
[[ -n $version && -n $repo_url ]] || die "cannot read version and repository from $repo/Cargo.toml"
[[ -f $manifest ]] || die "no manifest at $manifest"
[[ -f $repo/LICENSE ]] || die "no LICENSE at $repo/LICENSE"
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct -- Cargo.toml 2>/dev/null || true)}
epoch=${epoch:-0}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
	targets=("$(rustc -vV | sed -n 's/^host: //p')")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dist" "$work/new" "$work/old"

for target in "${targets[@]}"; do
	platform=$(platform_of "$target")
	archive=$(pack "$target" "$platform")
	sha=$(sha256_of "$archive")
	echo "$sha  $(basename "$archive")" >"$archive.sha256"
	platform_entry "$platform" "$archive" "$sha" >"$work/new/$platform"
	echo "built $archive ($sha)"
done

# Split the manifest: everything before `  platforms:`, and one file per existing entry.
awk '/^  platforms:/ { exit } { print }' "$manifest" >"$work/head"
awk -v dir="$work/old" '
	/^  platforms:/ { inside = 1; next }
	!inside { next }
	/^  - / { entries++ }
	/^[^ ]/ || /^  [^ -]/ { print "platforms must be the last section of the manifest, found: " $0 >"/dev/stderr"; exit 3 }
	entries { print > (dir "/entry" entries) }
' "$manifest"
for entry in "$work"/old/entry*; do
	[[ -e $entry ]] || continue
	os=$(sed -n 's/^ *os: *//p' "$entry")
	arch=$(sed -n 's/^ *arch: *//p' "$entry")
	[[ -n $os && -n $arch ]] || die "a platform in $manifest has no os/arch selector"
	mv "$entry" "$work/old/$os-$arch"
done

{
	sed -e "s/^  version: .*/  version: v$version/" \
		-e "s#/store/$plugin/v[^/]*/#/store/$plugin/v$version/#g" "$work/head"
	echo "  platforms:"
	others=$(cd "$work/old" && ls | grep -vxF -e "${platforms[0]}" -e "${platforms[1]}" -e "${platforms[2]}" -e "${platforms[3]}" || true)
	for platform in "${platforms[@]}" $others; do
		if [[ -f $work/new/$platform ]]; then
			cat "$work/new/$platform"
		elif [[ -f $work/old/$platform ]]; then
			if grep -q "/releases/download/v$version/" "$work/old/$platform"; then
				cat "$work/old/$platform"
				echo "kept $platform from the manifest (not built in this run)" >&2
			else
				echo "dropped $platform: its entry is for another version" >&2
			fi
		fi
	done
} >"$work/manifest"

grep -q '^  - selector:' "$work/manifest" || die "no platform left in the manifest"
cp "$work/manifest" "$manifest"
echo "updated $manifest"
