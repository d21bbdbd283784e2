// The cluster harness (tests/support/cluster.mjs): several isolates of the built Worker sharing
// one KV namespace whose reads lag per isolate like production KV (a write seen elsewhere only
// after a delay), and one Durable Object namespace shared by every isolate.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { startOrigin, ROOT } from "../support/harness.mjs";
import { startCluster } from "../support/cluster.mjs";

const ADMIN = "cluster-test-admin-token-0123456789abcdef";
const LAG_MS = 3000;
let origin, cluster, A, B;

const admin = (init = {}) => ({ ...init, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...(init.headers ?? {}) } });
const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const status = async (isolate, token) => (await isolate.fetch("/v1/x", { headers: { "x-api-key": token } })).status;

/** Creates a key through `isolate`'s admin API. */
async function createKey(isolate, subject) {
  const res = await isolate.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject, name: "x", scopes: [] }) }));
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

/** Polls `isolate` with `token` until it answers `want`; resolves to the time it did (ms). */
async function until(isolate, token, want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await status(isolate, token);
    const at = Date.now();
    if (got === want) return at;
    assert.ok(at < deadline, `still ${got}, not ${want}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rewrites every record under `prefixes` as a seed (time 0): visible to every isolate at once. */
async function reseed(prefixes) {
  for (const prefix of prefixes) {
    for (const name of await cluster.kv.list(prefix)) await cluster.kv.put(name, await cluster.kv.get(name));
  }
}

/** A well-formed API key (contract checksum), random. */
function newToken() {
  const A62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const body = "eak_" + Array.from(randomBytes(30), (b) => A62[b % 62]).join("");
  return body + base62(crc32(Buffer.from(body)));
}

before(async () => {
  origin = await startOrigin();
  cluster = await startCluster({
    config: {
      origin: origin.url,
      realm: "api",
      routes: [{ path: "/v1/**", accept: ["api_key", "pat"] }],
      // No per-isolate lookup cache, no last-used writes: what an isolate answers is what its
      // (lagged) KV says.
      keys: { cache_ttl_seconds: 0, record_last_used: false },
    },
    isolates: 2,
    kvLagMs: [0, LAG_MS],
    bindings: { ADMIN_TOKEN: ADMIN },
  });
  [A, B] = cluster.isolates;
});
after(async () => {
  await cluster?.close();
  await origin?.close();
});

test("two isolates, each its own: a record seeded through kv.put works in both", async () => {
  assert.deepEqual(cluster.isolates.map((i) => i.name), ["edge-0", "edge-1"]);
  const token = newToken();
  const now = Math.floor(Date.now() / 1000);
  const record = { id: "key_seeded0000000001", kind: "api_key", subject: "seeded", name: "seed", scopes: ["read"], created_at: now, expires_at: null };
  await cluster.kv.put(`key:${sha256(token)}`, record);
  assert.deepEqual(JSON.parse(await cluster.kv.get(`key:${sha256(token)}`)), record, "kv.get answers the value, not the envelope");
  for (const isolate of [A, B]) {
    const res = await isolate.fetch("/v1/x", { headers: { "x-api-key": token } });
    assert.equal(res.status, 200, isolate.name);
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-subject"], "seeded");
    assert.equal(seen.headers["x-auth-key-id"], record.id);
  }
  // Separate isolates: each numbers its own requests (the request id's counter part).
  const ids = [];
  for (const isolate of [A, B]) ids.push((await (await isolate.fetch("/v1/x")).json()).request_id);
  assert.notEqual(ids[0].slice(0, 8), ids[1].slice(0, 8));
});

test("a key created through A is accepted by A at once and by B only after B's lag", async () => {
  const t0 = Date.now();
  const key = await createKey(A, "fresh");
  assert.equal(await status(A, key.token), 200, "A (lag 0) sees its write at once");
  assert.equal(await status(B, key.token), 401, "B (lag 3 s) does not see it yet");
  const seenAt = await until(B, key.token, 200, LAG_MS + 3000);
  const delay = seenAt - t0;
  assert.ok(delay >= LAG_MS, `seen after ${delay} ms, before the lag`);
  assert.ok(delay < LAG_MS + 2000, `seen after ${delay} ms, well past the lag`);
  // The write went through A's wrapper: stored as a history with its time, the value readable.
  const history = await cluster.kv.history(`key:${sha256(key.token)}`);
  assert.equal(history.length, 1);
  assert.ok(history[0].t >= t0 && history[0].t <= seenAt);
  assert.equal(JSON.parse(await cluster.kv.get(`key:${sha256(key.token)}`)).id, key.id);
  // list is not lagged and shows no internals: both isolates' admin lists have the key.
  for (const isolate of [A, B]) {
    const listed = await (await isolate.fetch("/_auth/keys?subject=fresh", admin())).json();
    assert.deepEqual(listed.keys.map((k) => k.id), [key.id], isolate.name);
  }
});

test("a revocation through A's admin API reaches B only after B's lag", async () => {
  const key = await createKey(A, "revoked");
  // Make the key's records seeds, so B sees the key now; then revoke through A.
  await reseed(["key:", "id:", "sub:"]);
  assert.equal(await status(B, key.token), 200);
  const t0 = Date.now();
  assert.equal((await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }))).status, 204);
  assert.equal(await status(A, key.token), 401, "A refuses it at once");
  assert.equal(await status(B, key.token), 200, "B still accepts it within its lag");
  const refusedAt = await until(B, key.token, 401, LAG_MS + 3000);
  const delay = refusedAt - t0;
  assert.ok(delay >= LAG_MS && delay < LAG_MS + 2000, `revocation seen by B after ${delay} ms`);
});

test("setLag changes an isolate's lag at runtime", async () => {
  try {
    await cluster.setLag(1, 0);
    const now = await createKey(A, "lag-zero");
    assert.equal(await status(B, now.token), 200, "B with lag 0 sees the write at once");
    await cluster.setLag(1, 1500);
    // The lag applies to what is already stored too: the key written a moment ago is hidden again.
    assert.equal(await status(B, now.token), 401);
    const t0 = Date.now();
    const later = await createKey(A, "lag-short");
    assert.equal(await status(B, later.token), 401);
    const seenAt = await until(B, later.token, 200, 1500 + 3000);
    assert.ok(seenAt - t0 >= 1500 && seenAt - t0 < 1500 + 2000, `seen after ${seenAt - t0} ms with a 1.5 s lag`);
    await assert.rejects(cluster.setLag(1, -1), RangeError);
    await assert.rejects(cluster.setLag(5, 0), RangeError);
  } finally {
    await cluster.setLag(1, LAG_MS);
  }
});

test("Durable Object plumbing: every isolate reaches the same object of the one namespace", async () => {
  const fixtures = path.join(ROOT, "tests/support/fixtures");
  const c = await startCluster({
    workerModules: { modulesRoot: fixtures, modules: [{ type: "ESModule", path: path.join(fixtures, "counter-do.mjs") }] },
    durableObject: { binding: "AUTH_STATE", className: "Counter" },
    isolates: 2,
    kvLagMs: [0, 60_000],
  });
  try {
    const [a, b] = c.isolates;
    const count = async (isolate, method = "GET") => (await (await isolate.fetch("/count/shared", { method })).json()).count;
    assert.equal(await count(b), 0);
    for (let i = 1; i <= 3; i++) assert.equal(await count(a, "POST"), i);
    assert.equal(await count(b), 3, "B reads what A counted");
    assert.equal(await count(b, "POST"), 4);
    assert.equal(await count(a), 4);
    assert.equal(await count(a, "POST"), 5);
    // Other names are other objects.
    assert.equal((await (await b.fetch("/count/other")).json()).count, 0);
    // The object's AUTH_KV is the wrapper with lag 0: its write is history with a time, seen at
    // once by A (lag 0) and not by B (lag 60 s).
    assert.equal(await c.kv.get("counter:last"), "5");
    assert.ok((await c.kv.history("counter:last")).every((e) => e.t > 0));
    assert.equal((await (await a.fetch("/kv/counter:last")).json()).value, "5");
    assert.equal((await (await b.fetch("/kv/counter:last")).json()).value, null);
    await c.setLag(1, 0);
    assert.equal((await (await b.fetch("/kv/counter:last")).json()).value, "5");
    // A deletion through a wrapper is lagged too; the harness's kv sees it at once.
    await c.kv.put("gone", "v");
    await c.setLag(1, 60_000);
    assert.equal((await (await b.fetch("/kv/gone")).json()).value, "v", "a seed is visible whatever the lag");
    assert.equal((await a.fetch("/kv/gone", { method: "DELETE" })).status, 204);
    assert.equal((await (await a.fetch("/kv/gone")).json()).value, null);
    assert.equal((await (await b.fetch("/kv/gone")).json()).value, "v", "B (lag 60 s) still sees the old value");
    assert.equal(await c.kv.get("gone"), null);
    assert.ok(!(await c.kv.list()).includes("gone"), "list leaves deleted keys out");
    assert.deepEqual((await (await a.fetch("/kv-list")).json()).keys, ["counter:last"], "the binding's list hides control keys and deletions");
  } finally {
    await c.close();
  }
});

// CRC-32 (IEEE) and the contract's base62 rendering, independent of the edge's code.
function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
function base62(n) {
  const A62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let s = "";
  for (let i = 0; i < 6; i++) { s = A62[n % 62] + s; n = Math.floor(n / 62); }
  return s;
}
