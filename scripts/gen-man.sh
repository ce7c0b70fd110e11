#!/usr/bin/env bash
# Writes the man pages of pktvisord (pktvisord.1, pktvisord-completions.1), generated from
# its command-line definitions (clap_mangen), into DIR (default target/man).
#   scripts/gen-man.sh [DIR]
#   man -l target/man/pktvisord.1
#   sudo install -D -m 0644 target/man/*.1 -t /usr/local/share/man/man1/
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/man}"
cargo build --release --quiet --bin pktvisord
"${CARGO_TARGET_DIR:-target}/release/pktvisord" man --dir "$out"
ls "$out"/*.1
