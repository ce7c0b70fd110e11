#!/usr/bin/env bash
# Regenerates src/receiver/dnstap/proto.rs (the prost 0.14 messages of proto/dnstap.proto).
# The generated file is committed, so building the crate needs no protoc. This script builds
# a throwaway program in a temporary folder with prost-build 0.14 and protoc-bin-vendored
# (a protoc binary shipped as a crate, so no system protoc either), runs it, adds the module
# header and formats the result. Byte fields are `bytes::Bytes`, so decoding a frame held in
# `Bytes` copies no DNS message.
#   scripts/gen-dnstap-proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/src/receiver/dnstap/proto.rs"
work=$(mktemp -d /tmp/gen-dnstap-proto.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<'EOF'
[package]
name = "gen-dnstap-proto"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
prost-build = "0.14"
protoc-bin-vendored = "3"

[workspace]
EOF
cat >"$work/src/main.rs" <<'EOF'
fn main() {
    let mut args = std::env::args().skip(1);
    let (proto, out) = (args.next().expect("proto"), args.next().expect("out dir"));
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    let include = std::path::Path::new(&proto).parent().expect("proto folder").to_path_buf();
    prost_build::Config::new()
        .protoc_executable(protoc)
        .bytes(["."])
        .out_dir(out)
        .compile_protos(&[proto], &[include])
        .expect("compile dnstap.proto");
}
EOF
(cd "$work" && CARGO_TARGET_DIR="$work/target" cargo run --quiet --release -- \
  "$root/proto/dnstap.proto" "$work")
{
  cat <<'EOF'
//! The dnstap protobuf messages (`dnstap.Dnstap`, `Message`, `Policy` and their enums),
//! generated from `proto/dnstap.proto` by `scripts/gen-dnstap-proto.sh` (prost-build 0.14
//! with a vendored protoc). Do not edit by hand: change the proto or the script and rerun it.
//! Byte fields are `bytes::Bytes`, so messages decoded from a `Bytes` frame borrow it.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

EOF
  cat "$work/dnstap.rs"
} >"$out"
rustfmt --edition 2024 "$out"
echo "wrote $out"
