#!/usr/bin/env bash
# Builds the deployable Worker into build/: index.js (this repo's entry, src/edge/entry.mjs, bundled
# with wasm-bindgen's glue) and index_bg.wasm. What `worker-build --release` does, with two
# differences: a lean entry instead of worker-build's per-request Proxy (see entry.mjs), and the
# wasm's names section stripped (~95 KB raw) unless KEEP_NAMES=1 (for CPU profiles).
#
# Tools (installed by scripts/setup.sh): cargo with the wasm32 target, the pinned wasm-bindgen CLI,
# npm binaryen's wasm-opt and npm esbuild.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_BIN=${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}
WASM_OPT_BIN=${WASM_OPT_BIN:-node_modules/.bin/wasm-opt}
ESBUILD_BIN=${ESBUILD_BIN:-node_modules/esbuild/bin/esbuild}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# OUT: the output directory (default build/). FEATURES: cargo features, for test builds only
# (`make build-fault` builds build-fault/ with fault-injection).
OUT=${OUT:-build}
OUT=${OUT%/}
FEATURES=${FEATURES:-}
case "$OUT" in
  build | build-*) ;;
  *) echo "build.sh: OUT must be build or build-<name>, got '$OUT'" >&2; exit 2 ;;
esac
# build/ is what `wrangler dev` and `wrangler deploy` run: it never carries test features.
if [ "$OUT" = build ] && [ -n "$FEATURES" ]; then
  echo "build.sh: FEATURES ('$FEATURES') are for test builds; build/ is deployed. Use OUT=build-<name>." >&2
  exit 2
fi

cargo_features=()
if [ -n "$FEATURES" ]; then cargo_features=(--features "$FEATURES"); fi
cargo build --lib --release --target wasm32-unknown-unknown ${cargo_features[@]+"${cargo_features[@]}"}

stage=$(mktemp -d "${TMPDIR:-/tmp}/edge-auth-build.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# The same wasm-bindgen flags as worker-build's module target: the reset-state function and the
# abort handler let the entry rebuild the instance after a panic or trap.
"$WASM_BINDGEN_BIN" "$TARGET_DIR/wasm32-unknown-unknown/release/edge_auth.wasm" \
  --out-dir "$stage" --out-name index --target module --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler

# The feature set workerd runs (worker-build's list: no newer binaryen encodings).
wasm_opt_features=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling)
names=(--strip-debug)
if [ "${KEEP_NAMES:-}" = 1 ]; then names=(--debuginfo); fi
"$WASM_OPT_BIN" "$stage/index_bg.wasm" -o "$stage/index_bg.wasm" -O3 "${wasm_opt_features[@]}" \
  --strip-producers "${names[@]}"

# workerd imports a .wasm module as a compiled module ("CompiledWasm"), not a source phase import.
# A wasm-bindgen that no longer writes `import source` needs this patch revisited: fail loudly.
if ! grep -q 'import source ' "$stage/index.js"; then
  echo "build.sh: wasm-bindgen's glue has no 'import source' line to patch; check the glue of this wasm-bindgen version" >&2
  exit 1
fi
sed -i 's/import source /import /' "$stage/index.js"
cp src/edge/entry.mjs src/edge/tables.mjs "$stage/"

# entry.mjs imports runtime.js (as "edge-auth-runtime") from where the glue imports it, so the
# bundle has one instance of it: fail loudly unless wasm-bindgen wrote exactly one snippet copy.
mapfile -t runtimes < <(find "$stage/snippets" -name runtime.js)
if [ "${#runtimes[@]}" -ne 1 ]; then
  echo "build.sh: expected one snippets/**/runtime.js from wasm-bindgen, found ${#runtimes[@]}" >&2
  exit 1
fi
"$ESBUILD_BIN" "$stage/entry.mjs" --bundle --format=esm --minify \
  --alias:edge-auth-runtime="${runtimes[0]}" \
  --external:./index_bg.wasm --external:'cloudflare:*' \
  --outfile="$stage/out/index.js" --log-level=warning
cp "$stage/index_bg.wasm" "$stage/out/"

# Replace the output in one step so a running `wrangler dev` never sees half a build.
rm -rf "$OUT.new" && mkdir "$OUT.new" && cp "$stage/out/index.js" "$stage/out/index_bg.wasm" "$OUT.new/"
rm -rf "$OUT" && mv "$OUT.new" "$OUT"
ls -l "$OUT/"

# The size budget (cold-start time grows with it; Workers cap the script size): a failing check.
# It was 300 KiB until session 4, when the Worker grew from 286 to 330 KiB: the hardening (+18
# KiB: principal-qualified admin listings, pagination and validation, canonical paths, forwarding
# headers), health reporting (+10), the embedded OpenAPI document (+6) and key import (+9). Most
# of it is the admin API's async handlers and serde derives, off the hot path; getting back under
# 300 (and to the 250 #13 aims for) is open work. Raise it only with the measured reason here.
# Session 5: 331 → 399 KiB, so 410. The state tier (+64): the authority's runner, table access
# and call protocol are compiled into the same wasm as the edge, because the Durable Object runs
# in this script (twiggy: `authorityCall` alone retains 89 KB raw, `refresh_view` with the feed's
# serde 39 KB raw; a second instantiation of the admin handlers cost 77 KiB until they shared
# one store type, see src/edge/state.rs `AdminStore`); the larger OpenAPI document (+3); the new
# algorithms (+1). The fix is structural: the authority as its own Worker script with its own
# wasm, bound by `script_name`, so the edge sheds it (open work, #13/#14 notes).
# 410 → 413 KiB (h-iss, issue #17 items 2-4): per-issuer claim mapping, +10.4 KiB measured
# (422,069 vs 411,468 bytes against main 0d2884c): claim-path validation and its errors,
# scope/client-id mapping, token_type, required_claims, accept_without_audience, health
# warnings (the config_warning log line alone is 0.7 KiB). The mapping fields already parse
# as serde_json::Value rather than their own serde shapes, which saved 3.4 KiB.
# 413 → 418 KiB (issue #15 item 5): the failed-authentication budget, +5 KiB measured (its
# bucket table is a new SieveMap instantiation keyed by (address, class), and the verify step
# was split in two around it).
# 418 → 425 KiB (issue #15 item 6, part): PATCH {admin_path}/keys/{id}, +7 KiB measured (one more
# async handler in the admin state machine, its body's serde, the feed's Changed entry and the
# keys' confirmed-change path). twiggy, this build: the embedded OpenAPI document is the largest
# single item (.rodata, 102 KB raw, ~12 KiB gzip): serving it from ASSETS is the cheapest cut.
# 425 → 415 KiB: the OpenAPI document is served from ASSETS (www/openapi.json, a symlink to
# docs/openapi.json) instead of include_str!, -9.7 KiB measured (434,126 vs 424,145 bytes against
# c710f0c; the document's 102 KB raw .rodata less the asset fetch and its two 503 problems).
# 414 → 481 KiB (issue #15 items 1-4, 6-8): rate limits and credits, +67 KiB measured (twiggy
# diff against 1444e04, KEEP_NAMES builds 444 → 513 KiB, then +1 with the usage report and the
# created key's fields): the limits core (plan, leases, the
# counter object's accounting, the RateLimit fields) and the spend state machine in the pipeline
# (~40 KB raw), the counter objects' exports (limitsLease/limitsUsage shims, ~15 KB raw), and
# serde for the new definitions instantiated once per deserializer (config through
# serde_path_to_error, admin bodies, KV records, the object's row and calls: ~90 KB raw over
# 600 small items). Cheapest cuts found: the authority and the counter objects as their own
# Worker script (their code never runs in the edge), then one deserializer for the definitions.
# 482 → 483 KiB (issue #13 item 5): the adapter split by concern, its refusals in crate::carry and
# its log lines serialised by crate::log, +1.0 KiB measured (495,348 vs 494,347 bytes against
# 7aff7e9; twiggy: edge::entry::handle +1.6 KB raw and edge::env::isolate +0.7 KB raw, the rest
# renames). Tried: the config-invalid answer out of line and one copy of the line escape, -0.2 KiB.
# 483 KiB (issue #13, 2026-12-01: the Reason enum, Rejection, the Runtime bundle, pub(crate)
# modules, the lease pacing of #15): 495,081 bytes. The reason table's meanings and groups are not
# in the wasm (only the README generator calls them); two dead functions went.
# 483 → 486 KiB, budget 485 → 490 (2026-12-02, security fixes from a review): 497,771 bytes,
# +2.7 KiB against 495,081: the admin API checks JWT callers against the revocation view, the feed
# serves entries while KV lags, a kid miss while the JWKS fails is 503, underscore spellings of
# vouched-for headers are dropped, paths ambiguous by letter case and parameter-only segments are
# refused, lower-case methods are refused, PAT creations are capped per principal and hour.
# Tried for room (none landed): opt-level "s" 440 KiB and "z" 406 KiB, but a cached JWT verdict
# cost +3 … +12 % and +2 … +14 % workerd CPU in paired A/B runs (14 rounds each, two runs), which
# the hot path cannot pay for a one-off cold-start saving; dependencies alone at "z" (edge-auth at
# 3), -6 KiB; wasm-opt -Os or -Oz after -O3, 0 to -2 KiB. Measured cut still open: the authority
# and the counter objects as their own Worker script: an edge build without their exports is
# 434 KiB (-49 KiB).
# 486 → 488 KiB (the same review's second round): IPv6 addresses bucketed by /64 (std's address
# parser and formatter), non-string `jti` refused, Unicode case look-alikes in paths refused, the
# feed's pending rule.
# 488 → 460 KiB, budget 490 → 465 (2026-12-02): serde_path_to_error dropped from the build
# (src/json_path.rs names the field at fault from serde_json's line and column instead; the
# crate stays a dev-dependency, the reference tests/json_path.rs holds the scan against). It
# wrapped every Deserialize impl of the config and the admin bodies: 1,269,497 → 1,175,043
# bytes of wasm, all of it code that only ran on a config or body that was wrong.
# 460 → 444 KiB, budget 465 → 450 (the same day): the key format's CRC-32 from the `crc` crate
# with one 256-entry table instead of crc32fast's 16 KiB slice-by-16 table (random bytes that
# barely compress), for a checksum of 34 bytes: 1,175,043 → 1,158,413 bytes.
# 445 → 443 KiB (2026-12-02, evening): KV writes and lists call the binding itself instead of the
# `worker` crate's `KvStore`, whose `put` converted every value through `serde_wasm_bindgen`:
# -29 KB of wasm, which also paid for the subject index's summaries (+13 KB: KV metadata on
# `sub:` entries, so the PAT cap counts from a list) and the feed's pending rule in the core:
# 1,160,566 → 1,153,840 bytes.
# 443 → 447 KiB (the same evening, three security reviews): Ed25519 JWKS keys checked for small
# order and canonical encoding (ed25519-compact's point decoding, ~+9 KB of wasm), a method
# override in the query refused (url's form_urlencoded), the verified-token cache bounded in
# bytes, preflights recognised only as browsers send them: 1,153,840 → 1,169,424 bytes. The feed
# rows' old-row judging reads only the tag (a whole FeedEntry parse there cost 20 KB).
# 447 → 449 KiB, budget 450 → 452 (2026-12-02, late): a rolled key spends its chain's counters
# (the record's `meter`) and a PAT roll with a grace counts toward the PAT caps, two fixes of
# credit and cap bypasses: 1,172,208 → 1,173,836 bytes of wasm (460,196 bytes gzip with the glue).
# build-fault then stood 218 bytes over 450 KiB. Raised by 2 KiB rather than hold the fixes; the
# measured cut above (the state objects as their own script, -49 KiB) is the next size step.
# The test-only build-fault is 1 KiB larger (fault injection): the budget leaves room for both.
BUDGET_BYTES=$((452 * 1024))
gzipped=$(( $(gzip -9 -c "$OUT/index_bg.wasm" | wc -c) + $(gzip -9 -c "$OUT/index.js" | wc -c) ))
echo "build.sh: $OUT is $((gzipped / 1024)) KiB gzip (budget $((BUDGET_BYTES / 1024)) KiB)"
if [ "$gzipped" -gt "$BUDGET_BYTES" ]; then
  echo "build.sh: over the size budget" >&2
  exit 1
fi
