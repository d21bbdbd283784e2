// Keys, JWKS servers and token minting for the runtime tests, using only node:crypto.
import { createServer } from "node:http";
import { once } from "node:events";
import { generateKeyPairSync, createSign, sign as edSign, createHmac, randomBytes, constants } from "node:crypto";

const b64u = (b) => Buffer.from(b).toString("base64url");

/** A signing key for one algorithm, with its public JWK. */
export function makeKey(alg, kid = `${alg.toLowerCase()}-${randomBytes(3).toString("hex")}`) {
  let pair;
  if (alg === "RS256" || alg === "PS256") pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  else if (alg === "ES256") pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  else if (alg === "EdDSA") pair = generateKeyPairSync("ed25519");
  else throw new Error(`no key type for ${alg}`);
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
  return { alg, kid, privateKey: pair.privateKey, jwk };
}

/** Sign `payload` as a compact JWS with `key` (or an HS256 secret as `{ alg: "HS256", secret }`). */
export function mint(key, payload, headerExtra = {}) {
  const header = { alg: key.alg, typ: "JWT", ...(key.kid ? { kid: key.kid } : {}), ...headerExtra };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  let sig;
  if (key.alg === "HS256") sig = createHmac("sha256", key.secret).update(input).digest();
  else if (key.alg === "RS256") sig = createSign("sha256").update(input).sign(key.privateKey);
  else if (key.alg === "PS256")
    sig = createSign("sha256").update(input).sign({ key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  else if (key.alg === "ES256")
    sig = createSign("sha256").update(input).sign({ key: key.privateKey, dsaEncoding: "ieee-p1363" });
  else if (key.alg === "EdDSA") sig = edSign(null, Buffer.from(input), key.privateKey);
  return `${input}.${b64u(sig)}`;
}

/** Standard claims for `issuer`/`audience`, valid for an hour. */
export function claims(issuer, audience, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer, aud: audience, sub: "user-1", scope: "read write", iat: now, exp: now + 3600, ...extra };
}

/**
 * A loopback JWKS server. `state.keys` is served; `state.mode` can be "ok", "500", "garbage" or
 * "hang". Counts fetches.
 */
export async function startJwks(keys = []) {
  const state = { keys, mode: "ok", fetches: 0, maxAge: 300 };
  const server = createServer((req, res) => {
    state.fetches++;
    if (state.mode === "hang") return; // never answers
    if (state.mode === "500") { res.writeHead(500); return res.end("boom"); }
    if (state.mode === "garbage") { res.writeHead(200, { "content-type": "application/json" }); return res.end("{not json"); }
    res.writeHead(200, { "content-type": "application/json", "cache-control": `max-age=${state.maxAge}` });
    res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk ?? k) }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    state,
    url,
    jwksUri: `${url}/jwks.json`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}
