// Issuer profiles in the real runtime: the built wasm in workerd with the docs/issuers.md
// snippets (as tests/vectors/issuers/*.json hold them), each provider's JWKS on a loopback
// server. One RS256 token per provider (re-minted from the vectors' header and claims with fresh
// times) is forwarded with the scopes and client id its claim mapping gives (and Logto's ES384
// token too); an ID token on the
// at+jwt issuer (Logto) and a Cognito token of another app client are refused and not forwarded.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createPrivateKey, sign } from "node:crypto";
import { startOrigin, startEdge, ROOT } from "../support/harness.mjs";
import { startJwks } from "../support/tokens.mjs";

const DIR = path.join(ROOT, "tests/vectors/issuers");
const load = (name) => JSON.parse(readFileSync(path.join(DIR, `${name}.json`), "utf8"));
const PRIVATE = load("keys").keys;

// The RS256 token of each provider that the runtime accepts.
const ACCEPTED = {
  auth0: "auth0_user_rbac",
  okta: "okta_user",
  entra: "entra_app_roles",
  cognito: "cognito_user_access",
  keycloak: "keycloak_user",
  logto: "logto_rs256_user",
};

const vectors = Object.fromEntries(Object.keys(ACCEPTED).map((p) => [p, load(p)]));
const find = (provider, name) => vectors[provider].tokens.find((t) => t.name === name);

const b64u = (b) => Buffer.from(b).toString("base64url");
const SIGN = {
  RS256: (key, data) => sign("sha256", data, key),
  ES256: (key, data) => sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }),
  ES384: (key, data) => sign("sha384", data, { key, dsaEncoding: "ieee-p1363" }),
};

/** The vector's header and claims, valid from now for an hour, signed with its private key. */
function remint(entry) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...entry.claims, iat: now, exp: now + 3600 };
  if ("nbf" in claims) claims.nbf = now;
  const input = `${b64u(JSON.stringify(entry.header))}.${b64u(JSON.stringify(claims))}`;
  const key = createPrivateKey({ key: PRIVATE[entry.key], format: "jwk" });
  return `${input}.${b64u(SIGN[entry.header.alg](key, Buffer.from(input)))}`;
}

let origin, edge;
const servers = [];

before(async () => {
  origin = await startOrigin();
  const issuers = [];
  for (const [name, v] of Object.entries(vectors)) {
    const keys = Object.values(v.documents).find((d) => Array.isArray(d.keys)).keys;
    const jwks = await startJwks(keys);
    servers.push(jwks);
    // The snippet as documented, with its keys served from loopback instead of the provider.
    const issuer = { ...v.config, jwks_uri: jwks.jwksUri };
    delete issuer.discovery;
    issuers.push(issuer);
  }
  edge = await startEdge({
    config: {
      origin: origin.url,
      realm: "api",
      issuers,
      routes: [
        { path: "/kc/**", accept: ["jwt"], scopes: ["things-reader"] },
        { path: "/v1/**", accept: ["jwt"] },
      ],
    },
  });
});
after(async () => {
  await edge?.close();
  for (const s of servers) await s.close();
  await origin?.close();
});

const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

for (const [provider, name] of Object.entries(ACCEPTED)) {
  test(`${provider}: ${name} is forwarded with the mapped scopes and client id`, async () => {
    const entry = find(provider, name);
    assert.equal(entry.header.alg, "RS256");
    const res = await edge.fetch("/v1/things", bearer(remint(entry)));
    assert.equal(res.status, 200, await res.clone().text());
    const seen = (await res.json()).headers;
    assert.equal(seen["x-auth-type"], "jwt");
    assert.equal(seen["x-auth-issuer"], vectors[provider].issuer);
    assert.equal(seen["x-auth-subject"], entry.expect.sub);
    assert.equal(seen["x-auth-scopes"], entry.expect.scopes.join(" "));
    assert.equal(seen["x-auth-client-id"], entry.expect.client_id);
  });
}

test("logto: its default ES384 key verifies through WebCrypto with the same snippet", async () => {
  const entry = find("logto", "logto_es384_m2m");
  assert.equal(entry.header.alg, "ES384");
  const res = await edge.fetch("/v1/things", bearer(remint(entry)));
  assert.equal(res.status, 200, await res.clone().text());
  const seen = (await res.json()).headers;
  assert.equal(seen["x-auth-scopes"], entry.expect.scopes.join(" "));
  assert.equal(seen["x-auth-client-id"], entry.expect.client_id);
});

test("route scopes check the mapped scopes (Keycloak client roles)", async () => {
  const kc = await edge.fetch("/kc/x", bearer(remint(find("keycloak", "keycloak_user"))));
  assert.equal(kc.status, 200);
  const auth0 = await edge.fetch("/kc/x", bearer(remint(find("auth0", "auth0_user_rbac"))));
  assert.equal(auth0.status, 403);
  assert.match(auth0.headers.get("www-authenticate"), /error="insufficient_scope"/);
});

for (const [provider, name, reason] of [
  ["logto", "logto_rs256_id_token", "token_type_not_access_token"],
  ["cognito", "cognito_other_client", "client_id_not_allowed"],
  ["cognito", "cognito_id_token", "audience_mismatch"],
]) {
  test(`${provider}: ${name} is refused (${reason}) and not forwarded`, async () => {
    const before = origin.requests.length;
    const res = await edge.fetch("/v1/things", bearer(remint(find(provider, name))));
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/);
    assert.equal(origin.requests.length, before);
    // workerd's output reaches Node through a pipe, apart from the response: wait for the line
    // (a CI run on a loaded machine read the logs before it arrived).
    const logged = () => edge.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .filter((l) => l && l.reason === reason);
    for (let waited = 0; logged().length === 0 && waited < 3000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(logged().length > 0, `a log line with reason ${reason}`);
  });
}
