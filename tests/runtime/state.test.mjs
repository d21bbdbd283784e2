// The state tier (issue #14, docs/state.md) in workerd: two isolates of the built Worker sharing
// KV and the AUTH_STATE authority, with isolate B's KV lagging 60 s (like KV's propagation and
// cacheTtl), so every assertion below proves that revocation does not depend on KV.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "../support/harness.mjs";
import { startCluster } from "../support/cluster.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const ADMIN = "state-test-admin-token-0123456789abcdef";
const AUD = "https://api.test";
const BOUND_MS = 5000; // revocation.max_staleness_seconds (default)
const MARGIN_MS = 1500; // the machine is shared and slow; the design's own estimate is ~3.1 s
let origin, jwks, signing, cluster, A, B;

const admin = (init = {}) => ({
  ...init,
  headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", "cf-connecting-ip": "203.0.113.7", ...(init.headers ?? {}) },
});
const status = async (isolate, token) => (await isolate.fetch("/v1/x", { headers: { authorization: `Bearer ${token}` } })).status;

async function createKey(isolate, subject, extra = {}) {
  const res = await isolate.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject, name: "k", scopes: [], ...extra }) }));
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

/** `POST /_auth/pats` (self-service) with a user's JWT. */
const mintPat = (isolate, jwt) =>
  isolate.fetch("/_auth/pats", {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json", "cf-connecting-ip": "203.0.113.8" },
    body: JSON.stringify({ name: "laptop", scopes: [], expires_in: 3600 }),
  });

/** Polls until `isolate` answers `want` for `token`; resolves to the elapsed ms since `since`. */
async function until(isolate, token, want, since, timeoutMs = BOUND_MS + MARGIN_MS + 3000) {
  for (;;) {
    const got = await status(isolate, token);
    const elapsed = Date.now() - since;
    if (got === want) return elapsed;
    assert.ok(elapsed < timeoutMs, `still ${got}, not ${want}, after ${elapsed} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  origin = await startOrigin();
  signing = makeKey("ES256");
  jwks = await startJwks([signing]);
  cluster = await startCluster({
    config: {
      origin: origin.url,
      realm: "api",
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["ES256"] }],
      routes: [{ path: "/v1/**", accept: ["jwt", "api_key", "pat"] }],
      keys: { record_last_used: false, pat_max_active: 3 },
    },
    isolates: 2,
    kvLagMs: [0, 60_000],
    bindings: { ADMIN_TOKEN: ADMIN },
    durableObject: { binding: "AUTH_STATE", className: "AuthState" },
  });
  [A, B] = cluster.isolates;
});
after(async () => {
  await cluster?.close();
  await jwks?.close();
  await origin?.close();
});

test("a key created through A works in B within the bound, although B's KV has not seen it for 60 s", async () => {
  const t0 = Date.now();
  const key = await createKey(A, "created-now");
  assert.equal(await status(A, key.token), 200);
  // B asks the authority once the feed lists the new key (KV would say "unknown" for 60 s).
  const elapsed = await until(B, key.token, 200, t0);
  assert.ok(elapsed <= BOUND_MS + MARGIN_MS, `B accepted after ${elapsed} ms`);
  // A forged well-formed key is not asked of the authority: still a plain miss.
  const forged = key.token.slice(0, 4) + "0".repeat(key.token.length - 4);
  assert.equal(await status(B, forged), 401);
});

test("a revocation through A is refused by B within the bound, with KV lagging 60 s", async () => {
  const key = await createKey(A, "revoke-me");
  await until(B, key.token, 200, Date.now());
  const t0 = Date.now();
  const del = await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }));
  assert.equal(del.status, 204);
  assert.equal(await status(A, key.token), 401, "A refuses at once");
  const elapsed = await until(B, key.token, 401, t0);
  assert.ok(elapsed <= BOUND_MS + MARGIN_MS, `B refused after ${elapsed} ms`);
  const body = await (await B.fetch("/v1/x", { headers: { authorization: `Bearer ${key.token}` } })).json();
  assert.equal(body.error, "invalid_token");
});

test("a principal revocation signs the subject out everywhere: keys and JWTs issued before it", async () => {
  const k1 = await createKey(A, "alice");
  const k2 = await createKey(A, "alice");
  const other = await createKey(A, "bob");
  const now = Math.floor(Date.now() / 1000);
  const jwt = mint(signing, claims(jwks.url, AUD, { sub: "alice", iat: now - 10 }));
  for (const t of [k1.token, k2.token, other.token, jwt]) await until(B, t, 200, Date.now());

  const t0 = Date.now();
  const res = await A.fetch("/_auth/principals/revoke", admin({ method: "POST", body: JSON.stringify({ subject: "alice" }) }));
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual((await res.json()).revoked_keys.sort(), [k1.id, k2.id].sort());
  const res2 = await A.fetch("/_auth/principals/revoke", admin({ method: "POST", body: JSON.stringify({ issuer: jwks.url, subject: "alice" }) }));
  assert.equal(res2.status, 200);
  for (const t of [k1.token, k2.token, jwt]) {
    const elapsed = await until(B, t, 401, t0);
    assert.ok(elapsed <= BOUND_MS + MARGIN_MS, `refused after ${elapsed} ms`);
  }
  assert.equal(await status(B, other.token), 200, "another principal is untouched");
  // Nor is the admin API a way around it: the signed-out JWT cannot mint a PAT that would
  // outlive the cut-off (its created_at is later). (Asked of B: a refused admin caller is
  // audited at most once per 10 s per isolate, and the audit test below counts on A's.)
  const pat = await mintPat(B, jwt);
  assert.equal(pat.status, 401, await pat.clone().text());
  assert.equal((await pat.json()).detail, "The credential has been revoked.");
  const fresh = mint(signing, claims(jwks.url, AUD, { sub: "alice", iat: Math.floor(Date.now() / 1000) + 1 }));
  assert.equal(await status(B, fresh), 200, "a token issued after the cut-off works");
});

test("one JWT revoked by jti is refused by B within the bound; others of the subject work", async () => {
  const now = Math.floor(Date.now() / 1000);
  const revoked = mint(signing, claims(jwks.url, AUD, { sub: "carol", jti: "jti-1" }));
  const kept = mint(signing, claims(jwks.url, AUD, { sub: "carol", jti: "jti-2" }));
  assert.equal(await status(B, revoked), 200);
  const t0 = Date.now();
  const res = await A.fetch("/_auth/tokens/revoke", admin({ method: "POST", body: JSON.stringify({ issuer: jwks.url, jti: "jti-1", exp: now + 3600 }) }));
  assert.equal(res.status, 200, await res.clone().text());
  const elapsed = await until(B, revoked, 401, t0);
  assert.ok(elapsed <= BOUND_MS + MARGIN_MS, `refused after ${elapsed} ms`);
  assert.equal(await status(B, kept), 200);
  // The revoked JWT is refused by the admin API too; the other one still manages its PATs.
  const pat = await mintPat(B, revoked);
  assert.equal(pat.status, 401, await pat.clone().text());
  assert.equal((await pat.json()).detail, "The credential has been revoked.");
  assert.equal((await mintPat(B, kept)).status, 201);
  const bad = await A.fetch("/_auth/tokens/revoke", admin({ method: "POST", body: JSON.stringify({ issuer: jwks.url, jti: "x" }) }));
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).detail, /"exp"/);
});

test("roll and revoke sent together, 100 times: the revocation is never lost", async () => {
  const lost = [];
  for (let i = 0; i < 100; i++) {
    const key = await createKey(A, `race-${i % 10}`);
    const [roll, del] = await Promise.all([
      A.fetch(`/_auth/keys/${key.id}/roll`, admin({ method: "POST", body: JSON.stringify({ grace_seconds: 3600 }) })),
      B.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" })),
    ]);
    assert.equal(del.status, 204);
    assert.ok([201, 409].includes(roll.status), `roll: ${roll.status}`);
    const meta = await (await A.fetch(`/_auth/keys/${key.id}`, admin())).json();
    if (meta.status !== "revoked") lost.push(key.id);
  }
  assert.deepEqual(lost, [], "every key revoked, whatever the order");
});

test("the audit log records who did what, newest first, page by page", async () => {
  const key = await createKey(A, "audited");
  await A.fetch(`/_auth/keys/${key.id}/roll`, admin({ method: "POST", body: JSON.stringify({ grace_seconds: 60 }) }));
  await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }));
  const denied = await A.fetch("/_auth/keys", { headers: { authorization: "Bearer wrong-admin-token", "cf-connecting-ip": "198.51.100.9" } });
  assert.equal(denied.status, 401);

  const first = await (await A.fetch("/_auth/audit?limit=2", admin())).json();
  assert.equal(first.events.length, 2);
  assert.ok(first.cursor, "more than one page");
  const events = [...first.events];
  let cursor = first.cursor;
  while (cursor) {
    const page = await (await A.fetch(`/_auth/audit?limit=50&cursor=${cursor}`, admin())).json();
    events.push(...page.events);
    cursor = page.cursor;
  }
  const ofKey = events.filter((e) => e.key_id === key.id).map((e) => e.action);
  assert.deepEqual(ofKey, ["key.revoke", "key.roll", "key.create"], "newest first");
  const create = events.find((e) => e.key_id === key.id && e.action === "key.create");
  assert.deepEqual(create.actor, { type: "admin_token" });
  assert.equal(create.ip, "203.0.113.7");
  assert.equal(create.subject, "audited");
  assert.ok(create.request_id && create.time > 0);
  assert.ok(events.some((e) => e.action === "principal.revoke" && e.subject === "alice"));
  assert.ok(events.some((e) => e.action === "token.revoke" && e.detail?.jti === "jti-1"));
  // Reported in the background (at most once per 10 s per isolate): poll for it.
  let failure;
  for (let i = 0; i < 30 && !failure; i++) {
    const page = await (await A.fetch("/_auth/audit?limit=20", admin())).json();
    failure = page.events.find((e) => e.action === "admin.auth_failed");
    if (!failure) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(failure, "a failed admin authentication is audited");
  assert.deepEqual(failure.actor, { type: "anonymous" });
  assert.equal(failure.ip, "198.51.100.9");
  const text = JSON.stringify(events);
  assert.ok(!text.includes(key.token) && !text.includes("wrong-admin-token"), "no credential in the log");

  const bad = await A.fetch("/_auth/audit?limit=0", admin());
  assert.equal(bad.status, 400);
});

test("listings come from the authority: every key, with filters, paginated", async () => {
  const made = [];
  for (let i = 0; i < 5; i++) made.push((await createKey(B, "lister", { name: `svc-${i}` })).id);
  const seen = [];
  let cursor = "";
  do {
    const res = await B.fetch(`/_auth/keys?subject=lister&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, admin());
    const page = await res.json();
    seen.push(...page.keys.map((k) => k.id));
    cursor = page.cursor;
  } while (cursor);
  assert.deepEqual(seen.sort(), made.sort(), "B lists what A's KV lag would hide");
  const named = await (await B.fetch("/_auth/keys?subject=lister&name_prefix=svc-3", admin())).json();
  assert.deepEqual(named.keys.map((k) => k.name), ["svc-3"]);
});

test("keys made before the state tier are adopted from KV with one admin call, then managed", async () => {
  const token = "eak_" + "Z".repeat(30);
  const { createHash } = await import("node:crypto");
  // A well-formed key: the contract's checksum (CRC-32 of the text, base62, 6 chars).
  const crc = (buf) => {
    let c = ~0;
    for (const b of buf) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const A62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let n = crc(Buffer.from(token));
  let sum = "";
  for (let i = 0; i < 6; i++) {
    sum = A62[n % 62] + sum;
    n = Math.floor(n / 62);
  }
  const full = token + sum;
  const hash = createHash("sha256").update(full).digest("hex");
  const id = "key_legacy0000000001";
  const now = Math.floor(Date.now() / 1000);
  await cluster.kv.put(`key:${hash}`, { id, kind: "api_key", subject: "legacy", name: "old", scopes: [], created_at: now - 86400, expires_at: null });
  await cluster.kv.put(`id:${id}`, { hash, kind: "api_key", subject: "legacy" });
  await cluster.kv.put(`sub:${Buffer.from("legacy").toString("hex")}:0:${id}`, "");
  // More names than one bulk read takes (100): the copy reads them in batches.
  const extra = Array.from({ length: 240 }, (_, i) => `id:key_bulk${String(i).padStart(4, "0")}`);
  await Promise.all(extra.map((name) => cluster.kv.put(name, { hash: "00".repeat(32), kind: "api_key", subject: "bulk" })));
  assert.equal(await status(B, full), 200, "it works from KV as before");
  assert.equal((await A.fetch(`/_auth/keys/${id}`, admin())).status, 404, "the authority does not know it yet");

  const denied = await A.fetch("/_auth/keys/adopt", { method: "POST" });
  assert.equal(denied.status, 401);
  const res = await A.fetch("/_auth/keys/adopt", admin({ method: "POST" }));
  assert.equal(res.status, 200);
  const step = await res.json();
  assert.ok(step.copied >= 3 + extra.length, JSON.stringify(step));
  assert.equal(step.cursor, undefined, "one call was enough");
  const again = await (await A.fetch("/_auth/keys/adopt", admin({ method: "POST" }))).json();
  assert.equal(again.copied, 0, "re-running copies nothing");

  assert.equal((await A.fetch(`/_auth/keys/${id}`, admin())).status, 200);
  const t0 = Date.now();
  assert.equal((await A.fetch(`/_auth/keys/${id}`, admin({ method: "DELETE" }))).status, 204);
  const elapsed = await until(B, full, 401, t0);
  assert.ok(elapsed <= BOUND_MS + MARGIN_MS, `refused after ${elapsed} ms`);
});

test("a scope change through A reaches B's cached copy within the bound (KV lagging 60 s)", async () => {
  const key = await createKey(A, "rescoped", { scopes: ["read", "write"] });
  await until(B, key.token, 200, Date.now());
  const scopesSeenBy = async (isolate) => {
    const res = await isolate.fetch("/v1/x", { headers: { authorization: `Bearer ${key.token}` } });
    assert.equal(res.status, 200);
    return (await res.json()).headers["x-auth-scopes"];
  };
  assert.equal(await scopesSeenBy(B), "read write");
  const t0 = Date.now();
  const res = await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "PATCH", body: JSON.stringify({ scopes: ["read"] }) }));
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual((await res.json()).scopes, ["read"]);
  for (;;) {
    if ((await scopesSeenBy(B)) === "read") break;
    assert.ok(Date.now() - t0 <= BOUND_MS + MARGIN_MS, "B still forwards the old scopes");
    await new Promise((r) => setTimeout(r, 100));
  }
  const audit = await (await A.fetch("/_auth/audit?limit=5", admin())).json();
  assert.ok(audit.events.some((e) => e.action === "key.update" && e.key_id === key.id));
});

test("health reports the state tier and its view", async () => {
  const health = await (await B.fetch("/_auth/health")).json();
  assert.equal(health.state.bound, true);
  assert.equal(health.state.view.on_stale, "refuse");
  assert.ok(health.state.view.age_ms !== null && health.state.view.age_ms < 10_000);
});

test("the authority writes each PAT's index summary through to KV, a revocation rewrites it, and the cap holds", async () => {
  const jwt = mint(signing, claims(jwks.url, AUD, { sub: "capped" }));
  const as = (init = {}) => ({ ...init, headers: { authorization: `Bearer ${jwt}`, "cf-connecting-ip": "203.0.113.8" } });
  const pats = [];
  for (let i = 0; i < 3; i++) {
    const res = await mintPat(B, jwt);
    assert.equal(res.status, 201, await res.clone().text());
    pats.push(await res.json());
  }
  const over = await mintPat(B, jwt);
  assert.equal(over.status, 409, await over.clone().text());
  const prefix = `sub:${Buffer.from("capped").toString("hex")}:`;
  /** The summaries KV lists under the subject, by key id, once `ready` holds (the outbox drains). */
  async function summaries(ready) {
    for (let i = 0; ; i++) {
      const listed = await cluster.kv.listed(prefix);
      const by = Object.fromEntries(listed.map((e) => [e.name.split(":").pop(), e.metadata === null ? null : JSON.parse(e.metadata)]));
      if (ready(by) || i === 50) return by;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const first = await summaries((by) => Object.keys(by).length === 3);
  for (const p of pats) assert.deepEqual(first[p.id], { kind: "pat", created_at: p.created_at, expires_at: p.expires_at });
  assert.equal((await B.fetch(`/_auth/pats/${pats[0].id}`, as({ method: "DELETE" }))).status, 204);
  const after = await summaries((by) => by[pats[0].id]?.revoked_at !== undefined);
  assert.ok(after[pats[0].id].revoked_at >= pats[0].created_at, JSON.stringify(after));
  assert.equal((await mintPat(B, jwt)).status, 201, "the revoked one no longer counts");
  assert.equal((await mintPat(B, jwt)).status, 409);
});

test("the object down: admin writes 503 with Retry-After, nothing forwarded on a stale view", async () => {
  const down = await startCluster({
    config: {
      origin: origin.url,
      routes: [{ path: "/public/**", auth: "public" }, { path: "/v1/**", accept: ["api_key"] }],
    },
    isolates: 1,
    bindings: { ADMIN_TOKEN: ADMIN },
    // A class the Worker does not export: every call on the namespace fails.
    durableObject: { binding: "AUTH_STATE", className: "NoSuchAuthority" },
  }).catch(() => null);
  if (down === null) {
    // workerd refuses a namespace of a missing class at startup in some versions: then the
    // same fault is produced by a Worker whose binding is not a namespace at all.
    assert.fail("workerd refused to start with a missing Durable Object class");
  }
  try {
    const [E] = down.isolates;
    const res = await E.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "s", name: "n", scopes: [] }) }));
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get("retry-after")) > 0);
    assert.equal((await res.json()).error, undefined);
    const before = origin.requests.length;
    const key = await E.fetch("/v1/x", { headers: { "x-api-key": "eak_" + "A".repeat(36) } });
    assert.ok([401, 503].includes(key.status));
    assert.equal(origin.requests.length, before, "nothing forwarded");
    const pub = await E.fetch("/public/x");
    assert.equal(pub.status, 200, "public routes do not need the view");
  } finally {
    await down.close();
  }
});
