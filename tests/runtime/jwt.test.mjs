// JWT verification in the real runtime: every algorithm end to end through WebCrypto (HS256 in
// Rust), identity headers, scopes, rotation, and JWKS failures that never forward.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startEdge } from "../support/harness.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const AUD = "https://api.test";
const HS_SECRET = "0123456789abcdef0123456789abcdef-runtime-test";
let origin, jwks, edge, keys, issuer;

function config(extra = {}) {
  return {
    origin: origin.url,
    realm: "api",
    issuers: [
      { issuer, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["RS256", "PS256", "ES256", "EdDSA"] },
      { issuer: "https://hs.test", audiences: [AUD], algorithms: ["HS256"], hs256_secret: "HS_SECRET" },
    ],
    routes: [
      { path: "/v1/admin/**", accept: ["jwt"], scopes: ["admin"] },
      { path: "/keys-only/**", accept: ["api_key"] },
      { path: "/v1/**", accept: ["jwt", "api_key", "pat"] },
    ],
    jwks: { unknown_kid_cooldown_seconds: 1 },
    ...extra,
  };
}

before(async () => {
  origin = await startOrigin();
  keys = Object.fromEntries(["RS256", "PS256", "ES256", "EdDSA"].map((a) => [a, makeKey(a)]));
  jwks = await startJwks(Object.values(keys));
  issuer = jwks.url;
  edge = await startEdge({ config: config(), bindings: { HS_SECRET } });
});
after(async () => {
  await edge?.close();
  await jwks?.close();
  await origin?.close();
});

const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

for (const alg of ["RS256", "PS256", "ES256", "EdDSA"]) {
  test(`${alg} tokens are verified through WebCrypto and forwarded with identity headers`, async () => {
    const token = mint(keys[alg], claims(issuer, AUD, { sub: `svc-${alg}`, client_id: "cli-1" }));
    const res = await edge.fetch("/v1/things", bearer(token));
    assert.equal(res.status, 200, await res.clone().text());
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-type"], "jwt");
    assert.equal(seen.headers["x-auth-subject"], `svc-${alg}`);
    assert.equal(seen.headers["x-auth-issuer"], issuer);
    assert.equal(seen.headers["x-auth-client-id"], "cli-1");
    assert.equal(seen.headers["x-auth-scopes"], "read write");
    assert.match(seen.headers["x-auth-expires-at"], /^\d+$/);
    assert.equal(seen.headers.authorization, undefined, "the credential is not forwarded");
  });

  test(`${alg}: a tampered signature is 401 invalid_token and not forwarded`, async () => {
    const token = mint(keys[alg], claims(issuer, AUD));
    const [h, p, s] = token.split(".");
    const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
    const before = origin.requests.length;
    const res = await edge.fetch("/v1/things", bearer(`${h}.${p}.${flipped}`));
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
    assert.equal(origin.requests.length, before);
  });
}

test("HS256 is verified with the configured secret", async () => {
  const token = mint({ alg: "HS256", secret: HS_SECRET }, claims("https://hs.test", AUD, { sub: "hs-user" }));
  const res = await edge.fetch("/v1/things", bearer(token));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).headers["x-auth-subject"], "hs-user");
  const forged = mint({ alg: "HS256", secret: "another-secret-another-secret-xx" }, claims("https://hs.test", AUD));
  assert.equal((await edge.fetch("/v1/things", bearer(forged))).status, 401);
});

test("wrong audience, wrong issuer, expired and alg none are refused", async () => {
  const now = Math.floor(Date.now() / 1000);
  const bad = [
    mint(keys.ES256, claims(issuer, "https://other.test")),
    mint(keys.ES256, claims(`${issuer}/`, AUD)),
    mint(keys.ES256, claims(issuer, AUD, { exp: now - 3600 })),
    `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims(issuer, AUD))).toString("base64url")}.`,
  ];
  for (const token of bad) {
    const res = await edge.fetch("/v1/things", bearer(token));
    assert.equal(res.status, 401, token.slice(0, 40));
    assert.equal((await res.json()).error, "invalid_token");
  }
});

test("a missing scope is 403 insufficient_scope naming the scope", async () => {
  const token = mint(keys.EdDSA, claims(issuer, AUD, { scope: "read" }));
  const res = await edge.fetch("/v1/admin/x", bearer(token));
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="api", error="insufficient_scope", scope="admin"');
  const ok = mint(keys.EdDSA, claims(issuer, AUD, { scope: "read admin" }));
  assert.equal((await edge.fetch("/v1/admin/x", bearer(ok))).status, 200);
});

test("a JWT on a route that accepts only API keys is 401 invalid_token", async () => {
  const token = mint(keys.EdDSA, claims(issuer, AUD));
  const res = await edge.fetch("/keys-only/x", bearer(token));
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate"), /invalid_token/);
});

test("rotation: a token signed by a newly published key is accepted after a refetch", async () => {
  const fresh = makeKey("ES256", "rotated-in");
  jwks.state.keys = [...Object.values(keys), fresh];
  await new Promise((r) => setTimeout(r, 1100)); // the unknown-kid cooldown (1 s in this config)
  const res = await edge.fetch("/v1/things", bearer(mint(fresh, claims(issuer, AUD))));
  assert.equal(res.status, 200);
});

test("garbage tokens never trigger a JWKS fetch", async () => {
  const before = jwks.state.fetches;
  for (const t of ["a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x".repeat(20000)]) {
    await edge.fetch("/v1/things", bearer(t));
  }
  assert.equal(jwks.state.fetches, before);
});

for (const mode of ["500", "garbage", "hang"]) {
  test(`JWKS ${mode} with nothing cached: 503 with Retry-After, nothing forwarded, bounded time`, async () => {
    const key = makeKey("ES256", `k-${mode}`);
    const down = await startJwks([key]);
    down.state.mode = mode;
    const e = await startEdge({
      config: { ...config(), issuers: [{ issuer: down.url, jwks_uri: down.jwksUri, audiences: [AUD], algorithms: ["ES256"] }], jwks: { fetch_timeout_ms: 1000 } },
    });
    try {
      const before = origin.requests.length;
      const started = Date.now();
      const res = await e.fetch("/v1/things", bearer(mint(key, claims(down.url, AUD))));
      const elapsed = Date.now() - started;
      assert.equal(res.status, 503, await res.clone().text());
      assert.match(res.headers.get("retry-after"), /^\d+$/);
      assert.equal(origin.requests.length, before);
      assert.ok(elapsed < 5000, `answered in ${elapsed} ms`);
    } finally {
      await e.close();
      await down.close();
    }
  });
}
