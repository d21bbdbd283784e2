# The two commands a newcomer needs: `make dev` and `make test`. Both install what is missing.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# The installed tools scripts/build.sh uses (nothing is downloaded at build time).
export WASM_BINDGEN_BIN := $(HOME)/.cargo/bin/wasm-bindgen
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(CURDIR)/node_modules/esbuild/bin/esbuild

.PHONY: setup setup-test build build-fault dev test test-native test-runtime test-browser lint bench deploy clean

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

test-runtime:
	node --test --test-concurrency=1 tests/runtime/

test-browser:
	node --test --test-concurrency=1 tests/browser/

## test: everything CI runs
test: setup-test lint test-native build build-fault test-runtime test-browser

bench: build
	node benches/run.mjs

## deploy: build and `wrangler deploy` (see README: KV namespace id and secrets first)
deploy: build
	wrangler deploy

clean:
	rm -rf build build.new build-fault build-fault.new target .dev
