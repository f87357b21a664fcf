#!/usr/bin/env bash
# Prepares the browser test of the web dashboard (tests/ui/dashboard.mjs):
# Debian's Chromium at /usr/bin/chromium and Node.js, installed with apt
# when absent, and playwright-core, installed from tests/ui's lockfile into
# tests/ui/node_modules when it is missing or the lockfile changed. Prints
# nothing on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "test-browser: installing ${packages[*]}" >&2
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >&2
fi

lock=tests/ui/package-lock.json
stamp=tests/ui/node_modules/.package-lock.json
if [ ! -d tests/ui/node_modules/playwright-core ] || [ "$lock" -nt "$stamp" ]; then
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
