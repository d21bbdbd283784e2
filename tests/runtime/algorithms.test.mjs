// ES384 / ES512 (P-384, P-521), RS384 / RS512 and PS384 / PS512 end to end through WebCrypto in
// workerd: a valid token per algorithm is forwarded with identity headers, and curve confusion
// and RS <-> PS confusion are refused 401 invalid_token without reaching the origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { sign } from "node:crypto";
import { startOrigin, startEdge } from "../support/harness.mjs";
import { makeKey, mint, claims, signWith, startJwks } from "../support/tokens.mjs";

const AUD = "https://api.test";
const NEW_ALGS = ["RS384", "RS512", "PS384", "PS512", "ES384", "ES512"];
let origin, jwks, edge, keys, issuer;

const b64u = (b) => Buffer.from(b).toString("base64url");

before(async () => {
  origin = await startOrigin();
  keys = Object.fromEntries([...NEW_ALGS, "ES256"].map((a) => [a, makeKey(a)]));
  // One RSA key without a JWK alg: it may verify every RS*/PS* algorithm.
  keys.RSA = makeKey("RS384", "rsa-any");
  delete keys.RSA.jwk.alg;
  jwks = await startJwks(Object.values(keys));
  issuer = jwks.url;
  edge = await startEdge({
    config: {
      origin: origin.url,
      realm: "api",
      issuers: [{ issuer, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["ES256", ...NEW_ALGS] }],
      routes: [{ path: "/v1/**", accept: ["jwt"] }],
    },
  });
});
after(async () => {
  await edge?.close();
  await jwks?.close();
  await origin?.close();
});

const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

/** A token whose header says `alg`/`kid` and whose signature is `signAlg` by `key`. */
function forged(key, signAlg, alg, kid) {
  const header = { alg, typ: "JWT", kid };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims(issuer, AUD)))}`;
  return `${input}.${b64u(signWith(signAlg, key, input))}`;
}

async function refused(token, label) {
  const before = origin.requests.length;
  const res = await edge.fetch("/v1/things", bearer(token));
  assert.equal(res.status, 401, `${label}: ${await res.clone().text()}`);
  assert.match(res.headers.get("www-authenticate"), /error="invalid_token"/, label);
  assert.equal((await res.json()).error, "invalid_token", label);
  assert.equal(origin.requests.length, before, `${label} was forwarded`);
}

for (const alg of NEW_ALGS) {
  test(`${alg} tokens are verified through WebCrypto and forwarded`, async () => {
    const token = mint(keys[alg], claims(issuer, AUD, { sub: `svc-${alg}` }));
    const res = await edge.fetch("/v1/things", bearer(token));
    assert.equal(res.status, 200, await res.clone().text());
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-type"], "jwt");
    assert.equal(seen.headers["x-auth-subject"], `svc-${alg}`);
    assert.equal(seen.headers["x-auth-issuer"], issuer);
    // A signature bit flipped is refused (WebCrypto said no, not the shape check).
    const [h, p, s] = token.split(".");
    const raw = Buffer.from(s, "base64url");
    raw[raw.length >> 1] ^= 1;
    await refused(`${h}.${p}.${b64u(raw)}`, `${alg} tampered`);
  });
}

test("the unbound RSA key verifies every RS and PS algorithm", async () => {
  for (const alg of ["RS384", "RS512", "PS384", "PS512"]) {
    const token = mint({ ...keys.RSA, alg }, claims(issuer, AUD, { sub: `any-${alg}` }));
    const res = await edge.fetch("/v1/things", bearer(token));
    assert.equal(res.status, 200, `${alg}: ${await res.clone().text()}`);
    assert.equal((await res.json()).headers["x-auth-subject"], `any-${alg}`);
  }
});

test("curve confusion among P-256, P-384 and P-521 is 401 invalid_token", async () => {
  const curves = ["ES256", "ES384", "ES512"];
  for (const signAlg of curves) {
    for (const claimAlg of curves.filter((a) => a !== signAlg)) {
      const signer = keys[signAlg];
      // Another curve's alg with the signer's kid, with that curve's kid, and the signer's alg
      // under the other curve's kid.
      await refused(forged(signer, signAlg, claimAlg, signer.kid), `${signAlg} as ${claimAlg}, own kid`);
      await refused(forged(signer, signAlg, claimAlg, keys[claimAlg].kid), `${signAlg} as ${claimAlg}, its kid`);
      await refused(forged(signer, signAlg, signAlg, keys[claimAlg].kid), `${signAlg} under the ${claimAlg} kid`);
    }
  }
});

test("RS <-> PS confusion at 384 and 512 is 401 invalid_token", async () => {
  const pairs = [
    ["RS384", "PS384"],
    ["PS384", "RS384"],
    ["RS512", "PS512"],
    ["PS512", "RS512"],
    ["RS384", "RS512"],
    ["PS512", "PS384"],
  ];
  for (const [signAlg, claimAlg] of pairs) {
    // Same key (no JWK alg): only the signature can tell, and WebCrypto refuses it.
    await refused(forged(keys.RSA, signAlg, claimAlg, keys.RSA.kid), `${signAlg} labelled ${claimAlg} (unbound key)`);
    // Key bound by its JWK alg to signAlg: refused before any verification.
    await refused(forged(keys[signAlg], signAlg, claimAlg, keys[signAlg].kid), `${signAlg} labelled ${claimAlg} (bound key)`);
  }
});

test("psychic and DER signatures on P-384 and P-521 are 401 invalid_token", async () => {
  for (const [alg, len] of [["ES384", 48], ["ES512", 66]]) {
    const token = mint(keys[alg], claims(issuer, AUD));
    const [h, p] = token.split(".");
    await refused(`${h}.${p}.${b64u(Buffer.alloc(2 * len))}`, `${alg} r = s = 0`);
    assert.equal(signWith(alg, keys[alg], "x").length, 2 * len, "raw r||s");
    const der = sign(`sha${alg.slice(2)}`, Buffer.from(`${h}.${p}`), { key: keys[alg].privateKey, dsaEncoding: "der" });
    await refused(`${h}.${p}.${b64u(der)}`, `${alg} DER`);
  }
});

test("algorithms the issuer's keys never use are reported in health and logged once per fetch", async () => {
  // This issuer allows ES512 and PS512 but publishes one P-384 key.
  const key = makeKey("ES384", "only-p384");
  const lone = await startJwks([key]);
  const e = await startEdge({
    config: {
      origin: origin.url,
      realm: "api",
      issuers: [{ issuer: lone.url, jwks_uri: lone.jwksUri, audiences: [AUD], algorithms: ["ES512", "ES384", "PS512"] }],
      routes: [{ path: "/v1/**", accept: ["jwt"] }],
    },
  });
  try {
    for (const sub of ["a", "b"]) {
      const res = await e.fetch("/v1/things", bearer(mint(key, claims(lone.url, AUD, { sub }))));
      assert.equal(res.status, 200, await res.clone().text());
    }
    assert.equal(lone.state.fetches, 1);
    const health = await (await e.fetch("/_auth/health")).json();
    assert.deepEqual(health.issuers[0].unused_algorithms, ["ES512", "PS512"]);
    assert.equal(health.status, "ok", "reported, not a problem");
    const lines = e.logs.filter((l) => l.includes('"jwks_unused_algorithms"')).map((l) => JSON.parse(l));
    assert.equal(lines.length, 1, e.logs.join("\n"));
    assert.equal(lines[0].issuer, lone.url);
    assert.deepEqual(lines[0].unused_algorithms, ["ES512", "PS512"]);
  } finally {
    await e.close();
    await lone.close();
  }
});

test("an Ed25519 key of small order in a JWKS is skipped: no forged signature passes", async () => {
  // WebCrypto's Ed25519 (workerd's and Node's) accepts R = identity, S = 0 for any message under
  // the identity key, so a JWKS holding that key would let anyone sign.
  const identity = Buffer.alloc(32);
  identity[0] = 1;
  const real = makeKey("EdDSA", "real");
  const weakJwks = await startJwks([{ kty: "OKP", crv: "Ed25519", kid: "weak", x: b64u(identity) }, real]);
  const weakEdge = await startEdge({
    config: {
      origin: origin.url,
      issuers: [{ issuer: weakJwks.url, jwks_uri: weakJwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [{ path: "/v1/**", accept: ["jwt"] }],
    },
  });
  try {
    const signature = Buffer.alloc(64);
    signature[0] = 1;
    const input = `${b64u(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: "weak" }))}.${b64u(JSON.stringify(claims(weakJwks.url, AUD, { sub: "anyone" })))}`;
    const before = origin.requests.length;
    const res = await weakEdge.fetch("/v1/things", bearer(`${input}.${b64u(signature)}`));
    assert.equal(res.status, 401, await res.clone().text());
    assert.equal(origin.requests.length, before, "the forgery was forwarded");
    // The set's other key still works.
    const ok = await weakEdge.fetch("/v1/things", bearer(mint(real, claims(weakJwks.url, AUD, { sub: "svc" }))));
    assert.equal(ok.status, 200, await ok.clone().text());
  } finally {
    await weakEdge.close();
    await weakJwks.close();
  }
});
