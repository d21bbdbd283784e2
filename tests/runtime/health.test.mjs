// The health endpoint and named configuration faults in the real runtime: KV bound or not, an
// issuer whose JWKS endpoint is a dead port, assertion and admin API on and off, and a key
// request without AUTH_KV (500 naming it, in the body and the log line).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { startOrigin, startEdge, baseConfig, deadPort } from "../support/harness.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const AUD = "https://api.test";
const ADMIN_TOKEN = "health-test-admin-token-0123456789abcdef";
let origin, jwks, key;

before(async () => {
  origin = await startOrigin();
  key = makeKey("EdDSA");
  jwks = await startJwks([key]);
});
after(async () => {
  await jwks?.close();
  await origin?.close();
});

/** A well-formed API key (valid checksum) that no store holds. */
function apiKey() {
  const body = "eak_" + "Q".repeat(30);
  return body + base62(crc32(Buffer.from(body)));
}

/** The JSON decision lines logged so far. */
function lines(edge) {
  return edge.logs.filter((l) => l.includes('"request_id"')).map((l) => JSON.parse(l.slice(l.indexOf("{"))));
}

async function health(edge) {
  const res = await edge.fetch("/_auth/health");
  return { status: res.status, body: await res.json() };
}

test("with KV bound and nothing failing, health is ok and lists every dependency", async () => {
  const edge = await startEdge({
    config: { ...baseConfig(origin.url), issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }] },
  });
  try {
    const { status, body } = await health(edge);
    assert.equal(status, 200);
    assert.equal(body.status, "ok");
    assert.equal(body.config_loaded, true);
    assert.match(body.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(body.kv, { bound: true, answering: true });
    assert.deepEqual(body.issuers, [{ issuer: jwks.url, state: "empty", keys: 0 }]);
    assert.equal(body.assertion, "disabled");
    assert.equal(body.admin_api, "disabled");
    assert.deepEqual(body.problems, []);

    // A verified token fills this isolate's cache.
    const token = mint(key, claims(jwks.url, AUD, { sub: "alice" }));
    const res = await edge.fetch("/v1/x", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const after = (await health(edge)).body;
    assert.equal(after.issuers[0].state, "fresh");
    assert.equal(after.issuers[0].keys, 1);
    assert.equal(typeof after.issuers[0].last_fetch_at, "number");
    assert.equal(after.status, "ok");
  } finally {
    await edge.close();
  }
});

test("without a KV binding, health is degraded (still 200) and says kv is not bound", async () => {
  const edge = await startEdge({ config: baseConfig(origin.url), kvBinding: false });
  try {
    const { status, body } = await health(edge);
    assert.equal(status, 200);
    assert.equal(body.status, "degraded");
    assert.deepEqual(body.kv, { bound: false, answering: null });
    assert.deepEqual(body.problems, [{ dependency: "kv", reason: "kv_not_bound" }]);
  } finally {
    await edge.close();
  }
});

test("a key request without AUTH_KV is 500 naming AUTH_KV, and the log line names it", async () => {
  const edge = await startEdge({ config: baseConfig(origin.url), kvBinding: false });
  try {
    const before = origin.requests.length;
    const token = apiKey();
    const res = await edge.fetch("/v1/x", { headers: { "x-api-key": token } });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get("retry-after"), null);
    const problem = await res.json();
    assert.match(problem.detail, /AUTH_KV is not bound/);
    assert.equal(origin.requests.length, before, "nothing forwarded");
    await new Promise((r) => setTimeout(r, 200));
    const line = lines(edge).find((l) => l.path === "/v1/x");
    assert.ok(line, "a decision line");
    assert.equal(line.reason, "kv_not_bound");
    assert.equal(line.binding, "AUTH_KV");
    assert.equal(line.status, 500);
    assert.equal(line.route_path, "/v1/**");
    assert.ok(!edge.logs.join("\n").includes(token), "the key never reaches the log");
  } finally {
    await edge.close();
  }
});

test("an issuer whose JWKS endpoint is a dead port is named in the problem, the log and health", async () => {
  const port = await deadPort();
  const iss = "https://dead-issuer.test";
  const jwksUri = `http://127.0.0.1:${port}/jwks.json`;
  const edge = await startEdge({
    config: { ...baseConfig(origin.url), issuers: [{ issuer: iss, jwks_uri: jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }] },
  });
  try {
    assert.equal((await health(edge)).body.issuers[0].state, "empty", "nothing fetched yet");
    const token = mint(key, claims(iss, AUD, { sub: "alice" }));
    const res = await edge.fetch("/v1/x", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 503);
    assert.match(res.headers.get("retry-after"), /^\d+$/);
    const problem = await res.json();
    assert.ok(problem.detail.includes(iss), problem.detail);
    assert.ok(!problem.detail.includes(String(port)), "the JWKS URL stays out of the client's problem");

    await new Promise((r) => setTimeout(r, 200));
    const line = lines(edge).find((l) => l.path === "/v1/x");
    assert.equal(line.reason, "jwks_fetch_failed");
    assert.equal(line.issuer, iss);
    assert.equal(line.jwks_uri, jwksUri);
    assert.equal(line.kid, key.kid);
    assert.equal(line.route_path, "/v1/**");
    assert.equal(typeof line.route, "number");

    const { status, body } = await health(edge);
    assert.equal(status, 200);
    assert.equal(body.status, "degraded");
    assert.equal(body.issuers[0].issuer, iss);
    assert.equal(body.issuers[0].state, "failing");
    assert.equal(body.issuers[0].last_error, "jwks_fetch_failed");
    assert.deepEqual(body.problems, [{ dependency: "issuer", issuer: iss, reason: "jwks_fetch_failed" }]);
  } finally {
    await edge.close();
  }
});

test("health says whether the assertion and the admin API are enabled", async () => {
  const assertionJwk = { ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid: "edge-1" };
  const on = await startEdge({
    config: baseConfig(origin.url),
    bindings: { ASSERTION_KEY: JSON.stringify(assertionJwk), ADMIN_TOKEN },
  });
  try {
    const { body } = await health(on);
    assert.equal(body.assertion, "enabled");
    assert.equal(body.admin_api, "enabled");
    assert.equal(body.status, "ok");
    const text = JSON.stringify(body);
    assert.ok(!text.includes(ADMIN_TOKEN) && !text.includes(assertionJwk.d), "no secret in health");
  } finally {
    await on.close();
  }
  const off = await startEdge({ config: baseConfig(origin.url) });
  try {
    const { body } = await health(off);
    assert.equal(body.assertion, "disabled");
    assert.equal(body.admin_api, "disabled");
  } finally {
    await off.close();
  }
});

test("the missing-credential and Basic 401s say what to send; explain_rejections adds the reason", async () => {
  const edge = await startEdge({ config: baseConfig(origin.url) });
  try {
    const res = await edge.fetch("/v1/x");
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="api"');
    assert.equal((await res.json()).detail, "Send a credential: Authorization: Bearer <token> or X-API-Key: <key>.");
    const basic = await edge.fetch("/v1/x", { headers: { authorization: "Basic YWxpY2U6cHc=" } });
    assert.equal(basic.status, 401);
    assert.equal(basic.headers.get("www-authenticate"), 'Bearer realm="api"');
    assert.match((await basic.json()).detail, /^Basic authentication is not supported\./);
  } finally {
    await edge.close();
  }
  const dev = await startEdge({ config: { ...baseConfig(origin.url), debug: { explain_rejections: true } } });
  try {
    const res = await dev.fetch("/v1/x");
    assert.match((await res.json()).detail, /\(reason: missing_credential\)$/);
  } finally {
    await dev.close();
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
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = alphabet[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}
