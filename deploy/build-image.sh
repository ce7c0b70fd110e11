#!/usr/bin/env bash
# Builds the pktvisor container image with podman from deploy/Dockerfile, without any
# container registry: the Debian base (and, for a full build, a Rust builder image made
# of this machine's toolchain) are built locally with mmdebstrap and `podman import`.
#
#   deploy/build-image.sh                       # full multi-stage build (cargo in the builder)
#   deploy/build-image.sh --prebuilt DIR        # runtime layer only (target runtime-prebuilt),
#                                               # binaries pktvisord, pktvisor-reader, pktvisor-cli from DIR
#   deploy/build-image.sh --base-only           # only the local Debian base image
#   options: --tag NAME (default localhost/pktvisor:local)
#   env: BASE_IMAGE / RUST_IMAGE to use existing images instead (e.g. from a registry);
#        REVISION (default: git HEAD) for the org.opencontainers.image.revision label;
#        DEBIAN_MIRROR (default http://deb.debian.org/debian); SUITE (default bookworm).
#
# Prints the image name on the last line. Needs: podman, mmdebstrap (scripts/setup-debian.sh
# --test installs them), root or a user with subuids.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=container/podman-env.sh
. "$here/container/podman-env.sh"

tag=localhost/pktvisor:local
prebuilt=""
base_only=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --prebuilt) prebuilt="$(cd "$2" && pwd)"; shift 2 ;;
    --base-only) base_only=true; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
suite="${SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Like debian:*-slim: no documentation, manual pages or locales.
slim=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
      --dpkgopt='path-exclude=/usr/share/info/*')

# A Debian rootfs made by mmdebstrap, imported as image $1 unless it exists.
debian_image() {
  local name="$1"; shift
  if podman image exists "$name"; then
    echo "using existing $name" >&2
    return
  fi
  local tmp; tmp="$(mktemp -d "${TMPDIR:-/var/tmp}/pktvisor-rootfs.XXXXXX")"
  echo "mmdebstrap $suite -> $name" >&2
  mmdebstrap --quiet --variant=minbase "${slim[@]}" "$@" "$suite" "$tmp/rootfs.tar" "$mirror" >&2
  podman import --change 'CMD ["bash"]' "$tmp/rootfs.tar" "$name" >/dev/null
  rm -rf "$tmp"
}

base="${BASE_IMAGE:-}"
if [[ -z "$base" ]]; then
  base="localhost/pktvisor-debian:$suite"
  debian_image "$base" --include=libpcap0.8,libcap2-bin,ca-certificates
fi
if $base_only; then
  echo "$base"
  exit 0
fi

args=(--format docker --build-arg "BASE_IMAGE=$base"
      --build-arg "VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)"
      --build-arg "REVISION=${REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)}"
      --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
      -f "$here/Dockerfile" -t "$tag")

if [[ -n "$prebuilt" ]]; then
  # A context of only what the runtime stage reads.
  ctx="$(mktemp -d "${TMPDIR:-/var/tmp}/pktvisor-ctx.XXXXXX")"
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/deploy/prebuilt" "$ctx/deploy/container"
  for b in pktvisord pktvisor-reader pktvisor-cli; do
    cp "$prebuilt/$b" "$ctx/deploy/prebuilt/$b"
    # Debug information is not needed in the image (and test builds carry a lot of it).
    if command -v strip >/dev/null 2>&1; then strip --strip-debug "$ctx/deploy/prebuilt/$b"; fi
  done
  cp "$here"/container/*.sh "$ctx/deploy/container/"
  # --layers=false: binaries change every build, their layers would only pile up as cache.
  podman build "${args[@]}" --layers=false --target runtime-prebuilt "$ctx" >&2
else
  rust="${RUST_IMAGE:-}"
  if [[ -z "$rust" ]]; then
    # No registry: the builder is Debian plus this machine's Rust toolchain (rustup's
    # sysroot, without its documentation), named after the rustc version.
    sysroot="$(rustc --print sysroot)"
    ver="$(rustc --version | awk '{print $2}')"
    rust="localhost/pktvisor-rust:$ver"
    if ! podman image exists "$rust"; then
      debian_image "localhost/pktvisor-rust-base:$suite" \
        --include=gcc,libc6-dev,libpcap-dev,pkg-config,ca-certificates,binutils
      ctr="$(buildah from "localhost/pktvisor-rust-base:$suite")"
      mnt="$(buildah mount "$ctr")"
      mkdir -p "$mnt/usr/local/rust" "$mnt/usr/local/cargo/bin"
      tar -C "$sysroot" --exclude=./share/doc -cf - . | tar -C "$mnt/usr/local/rust" -xf -
      for b in cargo rustc rustdoc; do ln -s "/usr/local/rust/bin/$b" "$mnt/usr/local/cargo/bin/$b"; done
      buildah umount "$ctr" >/dev/null
      buildah config --env CARGO_HOME=/usr/local/cargo \
        --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
      buildah commit --quiet "$ctr" "$rust" >/dev/null
      buildah rm "$ctr" >/dev/null
    fi
  fi
  # cargo fetches crates over HTTPS: the build sees this host's CA certificates (a
  # TLS-inspecting egress proxy's CA among them, where there is one). Mounted for the
  # RUN steps only, never copied into an image.
  ca=()
  if [[ -d /etc/ssl/certs ]]; then
    ca=(--volume /etc/ssl/certs:/etc/ssl/certs:ro)
  fi
  podman build "${args[@]}" "${ca[@]}" --build-arg "RUST_IMAGE=$rust" --target runtime "$repo" >&2
fi
echo "$tag"
