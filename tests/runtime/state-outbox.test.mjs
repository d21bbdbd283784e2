// The authority's outbox and its feed in workerd (docs/state.md): while a change has not reached KV,
// the feed entry that makes it effective must keep being served, however old it is. The built
// Worker runs unchanged; only the "authority" worker gets a test entry around it
// (tests/support/fixtures/authority-clock.mjs) that can make its AUTH_KV writes fail and move its
// clock forward, so "KV down for longer than the feed window (600 s)" takes seconds.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { builtModules, startOrigin } from "../support/harness.mjs";
import { startCluster } from "../support/cluster.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const ADMIN = "outbox-test-admin-token-0123456789abcdef";
const BOUND_MS = 5000; // revocation.max_staleness_seconds (default)
const MARGIN_MS = 1500;
let origin, cluster, A, B;

const admin = (init = {}) => ({
  ...init,
  headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...(init.headers ?? {}) },
});
const status = async (isolate, token) => (await isolate.fetch("/v1/x", { headers: { authorization: `Bearer ${token}` } })).status;

async function until(isolate, token, want, timeoutMs = BOUND_MS + MARGIN_MS + 3000) {
  const since = Date.now();
  for (;;) {
    const got = await status(isolate, token);
    if (got === want) return Date.now() - since;
    assert.ok(Date.now() - since < timeoutMs, `still ${got}, not ${want}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sets the authority's clock offset (ms) and whether its KV writes fail. */
async function authority(offsetMs, failWrites) {
  const res = await cluster.authority.fetch(`/__test/authority?offset=${offsetMs}&fail=${failWrites ? 1 : 0}`);
  assert.equal(res.status, 200, await res.clone().text());
}

before(async () => {
  origin = await startOrigin();
  const built = builtModules(path.join(ROOT, "build"));
  const entry = path.join(built.modulesRoot, "authority-clock.mjs");
  cluster = await startCluster({
    config: {
      origin: origin.url,
      realm: "api",
      issuers: [{ issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks.json", audiences: ["https://api.test"], algorithms: ["ES256"] }],
      routes: [{ path: "/v1/**", accept: ["api_key"] }],
      keys: { record_last_used: false },
    },
    isolates: 2,
    kvLagMs: [0, 0],
    bindings: { ADMIN_TOKEN: ADMIN },
    durableObject: { binding: "AUTH_STATE", className: "AuthState" },
    authorityModules: {
      modulesRoot: built.modulesRoot,
      modules: [
        { type: "ESModule", path: entry, contents: readFileSync(path.join(ROOT, "tests/support/fixtures/authority-clock.mjs"), "utf8") },
        ...built.modules,
      ],
    },
  });
  [A, B] = cluster.isolates;
});
after(async () => {
  await cluster?.close();
  await origin?.close();
});

test("a revocation KV has not taken keeps being served by the feed past its 600 s window", async () => {
  const res = await A.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "svc", name: "k", scopes: [] }) }));
  assert.equal(res.status, 201, await res.clone().text());
  const key = await res.json();
  // B reads the key from KV and caches it as active.
  await until(B, key.token, 200);

  // KV stops taking writes: the revocation is committed in the authority, not in KV.
  await authority(0, true);
  const del = await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }));
  assert.equal(del.status, 204);
  await until(B, key.token, 401);

  // Eleven minutes later, KV still down: the feed entry is past its window, but it is all that
  // stands between B's cached copy (and KV's active record) and a revoked key.
  await authority(11 * 60 * 1000, true);
  const t0 = Date.now();
  while (Date.now() - t0 < BOUND_MS + MARGIN_MS) {
    assert.equal(await status(B, key.token), 401, `the revoked key worked again after ${Date.now() - t0} ms`);
    assert.equal(await status(A, key.token), 401);
    await new Promise((r) => setTimeout(r, 250));
  }

  // KV back: the change reaches it (the alarm retries), and the key stays refused.
  await authority(11 * 60 * 1000, false);
  const flushed = await cluster.authority.fetch("/__test/flush");
  assert.deepEqual(await flushed.json(), { outbox: 0 });
  // KV now has it revoked, but copies from before may live on in caches for a while: the feed
  // keeps the entry one more window.
  const t1 = Date.now();
  while (Date.now() - t1 < BOUND_MS + MARGIN_MS) {
    assert.equal(await status(B, key.token), 401, `the revoked key worked again after the flush`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const listed = async () => (await (await cluster.authority.fetch("/__test/feed")).json()).entries.some((e) => e.t === "key" && e.id === key.id);
  assert.ok(await listed(), "listed one more window after KV took it");
  // ...and no longer: the feed does not keep what KV has had for a window.
  await authority(22 * 60 * 1000, false);
  assert.ok(!(await listed()), "gone a window after KV took it");
});

test("while KV lags, a token revocation past its time is not kept: only what stands in for KV is", async () => {
  await authority(0, true);
  const now = Math.floor(Date.now() / 1000);
  const res = await A.fetch("/_auth/tokens/revoke", admin({ method: "POST", body: JSON.stringify({ issuer: "https://idp.example", jti: "short-lived", exp: now + 10 }) }));
  assert.equal(res.status, 200, await res.clone().text());
  const key = await (await A.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "svc2", name: "k", scopes: [] }) }))).json();
  assert.equal((await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }))).status, 204);
  const entries = async () => (await (await cluster.authority.fetch("/__test/feed")).json()).entries;
  assert.ok((await entries()).some((e) => e.t === "token" && e.jti === "short-lived"));
  // Past the token's exp + 300 s and the key's window, KV still down.
  await authority(11 * 60 * 1000, true);
  const later = await entries();
  assert.ok(!later.some((e) => e.t === "token" && e.jti === "short-lived"), "a token revocation keeps its own time");
  assert.ok(later.some((e) => e.t === "key" && e.id === key.id), "a key revocation KV lacks is kept");
  await authority(11 * 60 * 1000, false);
  assert.deepEqual(await (await cluster.authority.fetch("/__test/flush")).json(), { outbox: 0 });
});
