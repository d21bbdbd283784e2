// Credentials for the benchmark: API keys in the contract's format and their KV records, and
// pools of JWTs signed with node:crypto. Nothing here talks to a Worker.
import { createHash, createHmac, createPrivateKey, constants, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import zlib from "node:zlib";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `n` random base62 characters (rejection sampling, so every character is equally likely). */
export function randomBase62(n) {
  let out = "";
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 248 && out.length < n) out += BASE62[b % 62];
    }
  }
  return out;
}

/** A non-negative integer in base62, left-padded with `0` to `width` characters. */
export function toBase62(value, width) {
  let v = value;
  let out = "";
  do {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out.padStart(width, "0");
}

/** `<prefix><30 base62><6-char base62 CRC-32 (IEEE) of prefix+random>`. */
export function makeKeyToken(prefix = "eak_") {
  const body = prefix + randomBase62(30);
  return body + toBase62(zlib.crc32(Buffer.from(body, "utf8")) >>> 0, 6);
}

export const sha256Hex = (text) => createHash("sha256").update(text, "utf8").digest("hex");

/**
 * `count` API keys with their KV entries: `key:<sha256 hex>` → the record JSON. Records never
 * hold the token.
 */
export function makeApiKeys(count, { subjectPrefix = "bench-user", scopes = ["read", "write"] } = {}) {
  const createdAt = Math.floor(Date.now() / 1000) - 3600;
  const keys = [];
  for (let i = 0; i < count; i++) {
    const token = makeKeyToken("eak_");
    const record = {
      id: `key_${randomBase62(16)}`,
      kind: "api_key",
      subject: `${subjectPrefix}-${i}`,
      name: `bench key ${i}`,
      scopes,
      created_at: createdAt,
      expires_at: null,
    };
    keys.push({ token, kvKey: `key:${sha256Hex(token)}`, record });
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// JWTs

const VECTOR_KEYS = new URL("../../tests/vectors/jwt/keys.json", import.meta.url);

/**
 * The signing keys reused from the test vectors: one RSA (every RS and PS algorithm), P-256,
 * P-384, P-521, Ed25519.
 */
export function loadSigningKeys() {
  const stored = JSON.parse(readFileSync(VECTOR_KEYS, "utf8")).keys;
  const pick = (kid) => {
    const jwk = stored[kid];
    if (!jwk) throw new Error(`tests/vectors/jwt/keys.json has no key ${kid}`);
    const { d, p, q, dp, dq, qi, ...pub } = jwk;
    return { kid, privateKey: createPrivateKey({ key: jwk, format: "jwk" }), publicJwk: pub };
  };
  return { rsa: pick("rsa-a"), ec: pick("ec-a"), ec384: pick("ec384-a"), ec521: pick("ec521-a"), ed: pick("ed-a") };
}

/** The public JWKS document the loopback JWKS server publishes. */
export function jwksDocument(keys) {
  return {
    keys: [
      { ...keys.rsa.publicJwk, kid: keys.rsa.kid, use: "sig" },
      { ...keys.ec.publicJwk, kid: keys.ec.kid, use: "sig", alg: "ES256" },
      { ...keys.ec384.publicJwk, kid: keys.ec384.kid, use: "sig", alg: "ES384" },
      { ...keys.ec521.publicJwk, kid: keys.ec521.kid, use: "sig", alg: "ES512" },
      { ...keys.ed.publicJwk, kid: keys.ed.kid, use: "sig", alg: "EdDSA" },
    ],
  };
}

const b64u = (data) => Buffer.from(data).toString("base64url");

function signInput(alg, key, input) {
  const data = Buffer.from(input, "ascii");
  const bits = alg.slice(2);
  switch (alg) {
    case "RS256":
    case "RS384":
    case "RS512":
      return sign(`sha${bits}`, data, key);
    case "PS256":
    case "PS384":
    case "PS512":
      // RFC 7518 §3.5: the salt is as long as the hash.
      return sign(`sha${bits}`, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 });
    case "ES256":
    case "ES384":
    case "ES512":
      return sign(`sha${bits}`, data, { key, dsaEncoding: "ieee-p1363" });
    case "EdDSA":
      return sign(null, data, key);
    case "HS256":
      return createHmac("sha256", key).update(data).digest();
    default:
      throw new Error(`unknown alg ${alg}`);
  }
}

/**
 * Mints compact JWS tokens. `alg` selects the key; HS256 uses `hsSecret` and the HS issuer.
 * Every token is distinct (its own `sub` and `jti`).
 */
export function makeMinter({ keys, issuer, hsIssuer, hsSecret, audience, ttlSeconds = 3600 }) {
  const keyFor = {
    RS256: keys.rsa,
    RS384: keys.rsa,
    RS512: keys.rsa,
    PS256: keys.rsa,
    PS384: keys.rsa,
    PS512: keys.rsa,
    ES256: keys.ec,
    ES384: keys.ec384,
    ES512: keys.ec521,
    EdDSA: keys.ed,
  };
  let serial = 0;
  return function mint(alg, extraClaims = {}) {
    const now = Math.floor(Date.now() / 1000);
    const n = serial++;
    const header = alg === "HS256" ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid: keyFor[alg].kid };
    const claims = {
      iss: alg === "HS256" ? hsIssuer : issuer,
      aud: audience,
      sub: `bench-subject-${n}`,
      scope: "read write",
      client_id: "bench-client",
      iat: now - 5,
      exp: now + ttlSeconds,
      jti: `jti-${n}-${randomBase62(8)}`,
      ...extraClaims,
    };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const key = alg === "HS256" ? hsSecret : keyFor[alg].privateKey;
    return `${input}.${b64u(signInput(alg, key, input))}`;
  };
}

/** The same token with one signature character changed (still valid base64url). */
export function tamperSignature(token) {
  const [h, p, s] = token.split(".");
  const i = Math.floor(s.length / 2);
  const flipped = s[i] === "A" ? "B" : "A";
  return `${h}.${p}.${s.slice(0, i)}${flipped}${s.slice(i + 1)}`;
}
