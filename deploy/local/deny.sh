#!/usr/bin/env bash
# Checks fila's dependencies with cargo-deny (deny.toml): licenses, banned
# crates and sources always; RustSec advisories when their database, a git
# repository on github.com, can be fetched from this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
  cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION"
fi
cargo deny --log-level error check bans licenses sources
if timeout 20 git ls-remote https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny --log-level error check advisories
else
  echo "cargo deny: advisories NOT checked: the RustSec advisory database (github.com/RustSec/advisory-db) is unreachable from this machine" >&2
fi
