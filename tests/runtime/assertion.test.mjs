// X-Auth-Assertion end to end: the edge signs, the example origin (examples/) verifies it with
// `jose` against {admin_path}/jwks.json; tampered, expired or spoofed assertions are refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { generateKeyPairSync } from "node:crypto";
import { createOrigin } from "../../examples/origin-verify-assertion.mjs";
import { startOrigin, startEdge } from "../support/harness.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const AUD = "https://api.test";
const EDGE_ISS = "https://edge.test";
let edge, verifyingOrigin, originUrl, echo, jwks, key, assertionJwk, jwksServer;

before(async () => {
  assertionJwk = { ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid: "edge-1" };
  key = makeKey("EdDSA");
  jwks = await startJwks([key]);
  echo = await startOrigin();
  // The JWKS the origin fetches is the edge's own endpoint, served here through a loopback proxy
  // to Miniflare so `jose` can fetch it over HTTP.
  const { createServer } = await import("node:http");
  jwksServer = createServer(async (req, res) => {
    const r = await edge.fetch("/_auth/jwks.json");
    res.writeHead(r.status, { "content-type": "application/json" });
    res.end(await r.text());
  });
  jwksServer.listen(0, "127.0.0.1");
  await once(jwksServer, "listening");
  verifyingOrigin = createOrigin({
    jwksUrl: `http://127.0.0.1:${jwksServer.address().port}/jwks.json`,
    issuer: EDGE_ISS,
    audience: "https://origin.test",
    get expectedBase() { return originUrl; }, // htu: known once it listens
  });
  verifyingOrigin.listen(0, "127.0.0.1");
  await once(verifyingOrigin, "listening");
  originUrl = `http://127.0.0.1:${verifyingOrigin.address().port}`;
  edge = await startEdge({
    config: {
      origin: originUrl,
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [{ path: "/optional/**", auth: "optional" }, { path: "/public/**", auth: "public" }, { path: "/v1/**" }],
      assertion: { issuer: EDGE_ISS, audience: "https://origin.test", ttl_seconds: 60 },
    },
    bindings: { ASSERTION_KEY: JSON.stringify(assertionJwk) },
  });
});
after(async () => {
  await edge?.close();
  verifyingOrigin?.close();
  jwksServer?.close();
  await jwks?.close();
  await echo?.close();
});

test("the jwks endpoint publishes the public key only", async () => {
  const res = await edge.fetch("/_auth/jwks.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("cache-control"), /max-age=\d+/);
  const body = await res.json();
  assert.equal(body.keys.length, 1);
  assert.equal(body.keys[0].kid, "edge-1");
  assert.equal(body.keys[0].x, assertionJwk.x);
  assert.equal(body.keys[0].d, undefined);
});

test("health says the assertion is enabled", async () => {
  const body = await (await edge.fetch("/_auth/health")).json();
  assert.equal(body.assertion, "enabled");
});

test("a verified JWT reaches the origin with an assertion the origin verifies with jose", async () => {
  const token = mint(key, claims(jwks.url, AUD, { sub: "alice", client_id: "cli" }));
  const res = await edge.fetch("/v1/x", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, await res.clone().text());
  const { identity } = await res.json();
  assert.equal(identity.sub, "alice");
  assert.equal(identity.auth_type, "jwt");
  assert.equal(identity.client_id, "cli");
  assert.equal(identity.iss_upstream, jwks.url);
  assert.equal(identity.scope, "read write");
  assert.ok(identity.exp - identity.iat === 60);
  assert.ok(identity.jti.length >= 16);
});

test("anonymous requests on optional routes carry an anonymous assertion", async () => {
  const res = await edge.fetch("/optional/x");
  assert.equal(res.status, 200);
  const { identity } = await res.json();
  assert.equal(identity.auth_type, "anonymous");
  assert.equal(identity.sub, undefined);
});

test("a client-sent X-Auth-Assertion never reaches the origin", async () => {
  const e = await startEdge({ config: { origin: echo.url, routes: [{ path: "/public/**", auth: "public" }] } });
  try {
    const res = await e.fetch("/public/x", { headers: { "X-Auth-Assertion": "forged", "x_auth_assertion": "forged" } });
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-assertion"], undefined);
    assert.equal(seen.headers["x_auth_assertion"], undefined);
  } finally {
    await e.close();
  }
});

test("the origin refuses requests that bypass the edge, tampered and expired assertions", async () => {
  const direct = await fetch(`${originUrl}/v1/x`);
  assert.equal(direct.status, 401);
  // Capture genuine assertions through an echoing edge with the same key, and verify them at an
  // origin whose external base is the echo's (htu), with no clock tolerance.
  const e = await startEdge({
    config: { origin: echo.url, routes: [{ path: "/optional/**", auth: "optional" }], assertion: { issuer: EDGE_ISS, audience: "https://origin.test", ttl_seconds: 5 } },
    bindings: { ASSERTION_KEY: JSON.stringify(assertionJwk) },
  });
  const strict = createOrigin({
    jwksUrl: `http://127.0.0.1:${jwksServer.address().port}/jwks.json`,
    issuer: EDGE_ISS,
    audience: "https://origin.test",
    expectedBase: echo.url,
    ttlSeconds: 5,
    clockToleranceSeconds: 0,
  });
  strict.listen(0, "127.0.0.1");
  await once(strict, "listening");
  const strictUrl = `http://127.0.0.1:${strict.address().port}`;
  try {
    const capture = async () => (await (await e.fetch("/optional/x")).json()).headers["x-auth-assertion"];
    const genuine = await capture();
    const later = await capture();
    assert.ok(genuine && later);
    const ok = await fetch(`${strictUrl}/optional/x`, { headers: { "x-auth-assertion": genuine } });
    assert.equal(ok.status, 200, await ok.clone().text());
    const [h, p, s] = later.split(".");
    const payload = JSON.parse(Buffer.from(p, "base64url"));
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: "root" })).toString("base64url")}.${s}`;
    assert.equal((await fetch(`${strictUrl}/optional/x`, { headers: { "x-auth-assertion": tampered } })).status, 401);
    await new Promise((r) => setTimeout(r, 6000)); // past exp (5 s ttl, no tolerance)
    const expired = await fetch(`${strictUrl}/optional/x`, { headers: { "x-auth-assertion": later } });
    assert.equal(expired.status, 401);
    assert.equal((await expired.json()).reason, "expired");
  } finally {
    strict.close();
    await e.close();
  }
});

test("without ASSERTION_KEY the edge runs and says assertions are off", async () => {
  const e = await startEdge({ config: { origin: echo.url, routes: [{ path: "/optional/**", auth: "optional" }] } });
  try {
    assert.equal((await (await e.fetch("/_auth/health")).json()).assertion, "disabled");
    const seen = await (await e.fetch("/optional/x")).json();
    assert.equal(seen.headers["x-auth-assertion"], undefined);
    assert.equal(seen.headers["x-auth-type"], "anonymous");
  } finally {
    await e.close();
  }
});

test("a malformed ASSERTION_KEY is a configuration error (500), never a silent downgrade", async () => {
  const e = await startEdge({ config: { origin: echo.url, routes: [{ path: "/optional/**", auth: "optional" }] }, bindings: { ASSERTION_KEY: "{oops" } });
  try {
    assert.equal((await e.fetch("/optional/x")).status, 500);
  } finally {
    await e.close();
  }
});
