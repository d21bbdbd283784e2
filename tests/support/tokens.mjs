// Keys, JWKS servers and token minting for the runtime tests, using only node:crypto.
import { createServer } from "node:http";
import { once } from "node:events";
import { generateKeyPairSync, createSign, sign as edSign, createHmac, randomBytes, constants } from "node:crypto";

const b64u = (b) => Buffer.from(b).toString("base64url");

const CURVES = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

/** A signing key for one algorithm, with its public JWK. */
export function makeKey(alg, kid = `${alg.toLowerCase()}-${randomBytes(3).toString("hex")}`) {
  let pair;
  if (/^[RP]S(256|384|512)$/.test(alg)) pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  else if (CURVES[alg]) pair = generateKeyPairSync("ec", { namedCurve: CURVES[alg] });
  else if (alg === "EdDSA") pair = generateKeyPairSync("ed25519");
  else throw new Error(`no key type for ${alg}`);
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
  return { alg, kid, privateKey: pair.privateKey, jwk };
}

/** Sign `payload` as a compact JWS with `key` (or an HS256 secret as `{ alg: "HS256", secret }`). */
export function mint(key, payload, headerExtra = {}) {
  const header = { alg: key.alg, typ: "JWT", ...(key.kid ? { kid: key.kid } : {}), ...headerExtra };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${b64u(signWith(key.signAlg ?? key.alg, key, input))}`;
}

/**
 * The JWS signature of `input` for `alg` with `key` (RS/PS/ES at 256/384/512, EdDSA, HS256).
 * PSS salts are the hash length and ECDSA signatures raw r||s (RFC 7518 §3.4, §3.5).
 */
export function signWith(alg, key, input) {
  const hash = `sha${alg.slice(2)}`;
  if (alg === "HS256") return createHmac("sha256", key.secret).update(input).digest();
  if (alg.startsWith("RS")) return createSign(hash).update(input).sign(key.privateKey);
  if (alg.startsWith("PS"))
    return createSign(hash).update(input).sign({ key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  if (alg.startsWith("ES")) return createSign(hash).update(input).sign({ key: key.privateKey, dsaEncoding: "ieee-p1363" });
  if (alg === "EdDSA") return edSign(null, Buffer.from(input), key.privateKey);
  throw new Error(`cannot sign ${alg}`);
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
