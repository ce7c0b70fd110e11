#!/usr/bin/env bash
# The whole test suite: installs the tools the tests talk to, checks formatting and lints,
# runs every unit and integration test, and fuzzes the decoder for a bounded time.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-debian.sh --test
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --all-targets --no-fail-fast
  cargo test --doc --quiet
else
  cargo test --all-targets
fi
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
