// API keys and PATs in the real runtime: the admin API creates them, the edge verifies them via
// KV, and revocation, rolling, expiry and malformed keys are refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startOrigin, startEdge } from "../support/harness.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const ADMIN = "runtime-test-admin-token-0123456789";
const AUD = "https://api.test";
let origin, edge, jwks, userKey;

const admin = (init = {}) => ({ ...init, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...(init.headers ?? {}) } });

async function createKey(body) {
  const res = await edge.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify(body) }));
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

before(async () => {
  origin = await startOrigin();
  userKey = makeKey("EdDSA");
  jwks = await startJwks([userKey]);
  edge = await startEdge({
    config: {
      origin: origin.url,
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [
        { path: "/write/**", scopes: ["write"] },
        { path: "/jwt-only/**", accept: ["jwt"] },
        { path: "/v1/**" },
      ],
      keys: { cache_ttl_seconds: 0 },
    },
    bindings: { ADMIN_TOKEN: ADMIN },
  });
});
after(async () => {
  await edge?.close();
  await jwks?.close();
  await origin?.close();
});

test("a key created through the admin API works as Bearer and as X-API-Key", async () => {
  const key = await createKey({ kind: "api_key", subject: "svc-a", name: "ci", scopes: ["read", "write"] });
  assert.match(key.token, /^eak_[0-9A-Za-z]{36}$/);
  assert.equal(key.start, key.token.slice(0, 8));
  for (const headers of [{ authorization: `Bearer ${key.token}` }, { "x-api-key": key.token }]) {
    const res = await edge.fetch("/v1/things", { headers });
    assert.equal(res.status, 200);
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-type"], "api_key");
    assert.equal(seen.headers["x-auth-subject"], "svc-a");
    assert.equal(seen.headers["x-auth-key-id"], key.id);
    assert.equal(seen.headers["x-auth-scopes"], "read write");
    assert.equal(seen.headers["x-auth-expires-at"], undefined);
    assert.equal(seen.headers["x-api-key"], undefined);
    assert.equal(seen.headers.authorization, undefined);
  }
  // The token is stored only as a hash.
  const stored = await edge.kv.get(`key:${createHash("sha256").update(key.token).digest("hex")}`);
  assert.ok(stored);
  assert.ok(!stored.includes(key.token));
});

test("malformed, unknown and wrong-checksum keys are 401 without reaching the origin", async () => {
  const key = await createKey({ kind: "api_key", subject: "svc-b", name: "x", scopes: [] });
  const last = key.token.at(-1);
  const badChecksum = key.token.slice(0, -1) + (last === "A" ? "B" : "A");
  const unknownButValid = (() => {
    // Same shape, different random part, correct checksum: computed like the edge does.
    const body = "eak_" + "Z".repeat(30);
    const crc = crc32(Buffer.from(body));
    return body + base62(crc);
  })();
  const before = origin.requests.length;
  for (const token of [badChecksum, "eak_short", unknownButValid, `${key.token}x`]) {
    const res = await edge.fetch("/v1/things", { headers: { "x-api-key": token } });
    assert.equal(res.status, 401, token);
    assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
    const text = await res.text();
    assert.ok(!text.includes(token), "the body never echoes the credential");
  }
  assert.equal(origin.requests.length, before);
});

test("both credential headers are 400; a missing scope is 403; a kind the route refuses is 401", async () => {
  const key = await createKey({ kind: "api_key", subject: "svc-c", name: "x", scopes: ["read"] });
  let res = await edge.fetch("/v1/x", { headers: { authorization: `Bearer ${key.token}`, "x-api-key": key.token } });
  assert.equal(res.status, 400);
  res = await edge.fetch("/write/x", { headers: { "x-api-key": key.token } });
  assert.equal(res.status, 403);
  assert.match(res.headers.get("www-authenticate"), /scope="write"/);
  res = await edge.fetch("/jwt-only/x", { headers: { "x-api-key": key.token } });
  assert.equal(res.status, 401);
});

test("revoked keys are refused at once", async () => {
  const key = await createKey({ kind: "api_key", subject: "svc-d", name: "x", scopes: [] });
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": key.token } })).status, 200);
  const del = await edge.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }));
  assert.equal(del.status, 204);
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": key.token } })).status, 401);
  const meta = await (await edge.fetch(`/_auth/keys/${key.id}`, admin())).json();
  assert.equal(meta.status, "revoked");
});

test("rolling issues a new key and the old one stops after the grace period", async () => {
  const key = await createKey({ kind: "api_key", subject: "svc-e", name: "x", scopes: ["read"] });
  const res = await edge.fetch(`/_auth/keys/${key.id}/roll`, admin({ method: "POST", body: JSON.stringify({ grace_seconds: 0 }) }));
  assert.equal(res.status, 201);
  const fresh = await res.json();
  assert.notEqual(fresh.token, key.token);
  assert.deepEqual(fresh.scopes, ["read"]);
  assert.equal(fresh.subject, "svc-e");
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": fresh.token } })).status, 200);
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": key.token } })).status, 401, "past a zero grace");
  const graceful = await createKey({ kind: "api_key", subject: "svc-e", name: "y", scopes: [] });
  await edge.fetch(`/_auth/keys/${graceful.id}/roll`, admin({ method: "POST", body: JSON.stringify({ grace_seconds: 3600 }) }));
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": graceful.token } })).status, 200, "within the grace");
});

test("expired keys are refused", async () => {
  const key = await createKey({ kind: "api_key", subject: "svc-f", name: "x", scopes: [] });
  const hash = createHash("sha256").update(key.token).digest("hex");
  const record = JSON.parse(await edge.kv.get(`key:${hash}`));
  await edge.kv.put(`key:${hash}`, JSON.stringify({ ...record, expires_at: Math.floor(Date.now() / 1000) - 1 }));
  const res = await edge.fetch("/v1/x", { headers: { "x-api-key": key.token } });
  assert.equal(res.status, 401);
});

test("the admin API needs the admin token and never lists tokens or hashes", async () => {
  assert.equal((await edge.fetch("/_auth/keys?subject=svc-a")).status, 401);
  const wrong = await edge.fetch("/_auth/keys?subject=svc-a", { headers: { authorization: "Bearer not-the-admin-token" } });
  assert.equal(wrong.status, 401);
  const key = await createKey({ kind: "api_key", subject: "lister", name: "x", scopes: [] });
  const res = await edge.fetch("/_auth/keys?subject=lister", admin());
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const text = await res.text();
  const hash = createHash("sha256").update(key.token).digest("hex");
  assert.ok(!text.includes(key.token));
  assert.ok(!text.includes(hash));
  const body = JSON.parse(text);
  assert.equal(body.keys.length, 1);
  assert.equal(body.keys[0].id, key.id);
  assert.equal(body.keys[0].status, "active");
  assert.equal(body.keys[0].token, undefined);
});

test("admin input is validated with 400 problem+json", async () => {
  for (const body of [
    { kind: "cookie", subject: "s", name: "n" },
    { kind: "api_key", subject: "", name: "n" },
    { kind: "api_key", subject: "s", name: "n", scopes: "read" },
    { kind: "pat", subject: "s", name: "n" },
    { kind: "api_key", subject: "s", name: "n", expires_in: 10 ** 12 },
  ]) {
    const res = await edge.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify(body) }));
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.headers.get("content-type"), /problem\+json/);
  }
  const huge = await edge.fetch("/_auth/keys", admin({ method: "POST", body: "x".repeat(20000) }));
  assert.equal(huge.status, 413);
});

/** A body offered in `count` chunks of `size` bytes, produced only as the reader pulls them. */
function pulledStream(size, count) {
  const chunk = new Uint8Array(size).fill(0x78);
  const stream = {
    pulled: 0,
    body: new ReadableStream({
      pull(controller) {
        if (stream.pulled === count) return controller.close();
        stream.pulled++;
        controller.enqueue(chunk);
      },
    }),
  };
  return stream;
}

test("an admin body without Content-Length is refused with 413 once it passes 16 KiB", async () => {
  const { body } = pulledStream(4 * 1024, 5); // 20 KiB, chunked
  const res = await edge.fetch("/_auth/keys", admin({ method: "POST", body, duplex: "half" }));
  assert.equal(res.status, 413);
  assert.match(res.headers.get("content-type"), /problem\+json/);
});

test("an oversized admin body is not read much past the limit", async () => {
  const total = 1024; // 64 MiB offered
  const stream = pulledStream(64 * 1024, total);
  // The edge answers before the upload ends; the transport may then drop the connection
  // instead of delivering that answer, so only what the edge read is asserted here.
  const res = await edge
    .fetch("/_auth/keys", admin({ method: "POST", body: stream.body, duplex: "half" }))
    .catch(() => null);
  if (res) assert.equal(res.status, 413);
  assert.ok(stream.pulled < total / 4, `the edge stopped reading early (pulled ${stream.pulled} of ${total} chunks)`);
});

test("without ADMIN_TOKEN the admin API does not exist", async () => {
  const e = await startEdge({ config: { origin: origin.url, routes: [{ path: "/v1/**" }] } });
  try {
    assert.equal((await e.fetch("/_auth/keys?subject=x", { headers: { authorization: "Bearer anything" } })).status, 404);
  } finally {
    await e.close();
  }
});

test("PAT self-service: a user creates, lists and revokes only their own PATs", async () => {
  const alice = `Bearer ${mint(userKey, claims(jwks.url, AUD, { sub: "alice", scope: "read write" }))}`;
  const bob = `Bearer ${mint(userKey, claims(jwks.url, AUD, { sub: "bob", scope: "read" }))}`;
  const as = (who, init = {}) => ({ ...init, headers: { authorization: who, "content-type": "application/json" } });
  let res = await edge.fetch("/_auth/pats", as(alice, { method: "POST", body: JSON.stringify({ name: "laptop", scopes: ["read"], expires_in: 3600 }) }));
  assert.equal(res.status, 201, await res.clone().text());
  const pat = await res.json();
  assert.match(pat.token, /^eap_/);
  assert.equal(pat.subject, "alice");
  res = await edge.fetch("/_auth/pats", as(alice, { method: "POST", body: JSON.stringify({ name: "x", scopes: ["admin"], expires_in: 3600 }) }));
  assert.equal(res.status, 403, "scopes beyond the caller's");
  res = await edge.fetch("/_auth/pats", as(alice, { method: "POST", body: JSON.stringify({ name: "x", scopes: ["read"] }) }));
  assert.equal(res.status, 400, "expiry required");
  const used = await edge.fetch("/v1/x", { headers: { authorization: `Bearer ${pat.token}` } });
  assert.equal(used.status, 200);
  assert.equal((await used.json()).headers["x-auth-type"], "pat");
  // Its subject index entry carries a summary as KV metadata, so the PAT cap counts from a list.
  const summary = async () => {
    const { keys } = await edge.kv.list({ prefix: `sub:${Buffer.from("alice").toString("hex")}:` });
    assert.equal(keys.length, 1);
    return JSON.parse(keys[0].metadata);
  };
  assert.deepEqual(await summary(), { kind: "pat", created_at: pat.created_at, expires_at: pat.expires_at });
  const mine = await (await edge.fetch("/_auth/pats", as(alice))).json();
  assert.deepEqual(mine.keys.map((k) => k.id), [pat.id]);
  const theirs = await (await edge.fetch("/_auth/pats", as(bob))).json();
  assert.equal(theirs.keys.length, 0);
  assert.equal((await edge.fetch(`/_auth/pats/${pat.id}`, as(bob, { method: "DELETE" }))).status, 404);
  assert.equal((await edge.fetch(`/_auth/pats/${pat.id}`, as(alice, { method: "DELETE" }))).status, 204);
  assert.equal((await edge.fetch("/v1/x", { headers: { authorization: `Bearer ${pat.token}` } })).status, 401);
  const revoked = await summary();
  assert.ok(revoked.revoked_at >= pat.created_at, JSON.stringify(revoked));
});

test("a KV outage is 503 with Retry-After, never a forward", async () => {
  // AUTH_KV is bound, but to something whose reads fail (an unbound AUTH_KV is a configuration
  // fault, 500 kv_not_bound: see health.test.mjs).
  const e = await startEdge({ config: { origin: origin.url, routes: [{ path: "/v1/**" }] }, kvBinding: false, bindings: { AUTH_KV: { broken: true } } });
  try {
    const body = "eak_" + "Q".repeat(30);
    const token = body + base62(crc32(Buffer.from(body)));
    const before = origin.requests.length;
    const res = await e.fetch("/v1/x", { headers: { "x-api-key": token } });
    assert.equal(res.status, 503);
    assert.match(res.headers.get("retry-after"), /^\d+$/);
    assert.equal(origin.requests.length, before);
  } finally {
    await e.close();
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
  const A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let s = "";
  for (let i = 0; i < 6; i++) { s = A[n % 62] + s; n = Math.floor(n / 62); }
  return s;
}

test("with the default lookup cache, a revocation through the same isolate applies at once", async () => {
  const e = await startEdge({ config: { origin: origin.url, routes: [{ path: "/v1/**" }] }, bindings: { ADMIN_TOKEN: ADMIN } });
  try {
    const created = await e.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "cached", name: "x", scopes: [] }) }));
    const key = await created.json();
    for (let i = 0; i < 3; i++) assert.equal((await e.fetch("/v1/x", { headers: { "x-api-key": key.token } })).status, 200);
    assert.equal((await e.fetch(`/_auth/keys/${key.id}`, admin({ method: "DELETE" }))).status, 204);
    assert.equal((await e.fetch("/v1/x", { headers: { "x-api-key": key.token } })).status, 401);
  } finally {
    await e.close();
  }
});
