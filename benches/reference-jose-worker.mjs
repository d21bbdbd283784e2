// The reference: the same job as edge-auth, written the way a careful JS developer would with
// `jose` (https://github.com/panva/jose). It is bundled with esbuild by benches/run.mjs.
//
//  * routes: `/public/**` public (no credential looked at), `/v1/**` takes a JWT, an API key or a
//    PAT; anything else is 403;
//  * JWTs: `createRemoteJWKSet` (jose caches the JWKS and the imported keys per isolate) and
//    `jwtVerify` with issuer, audience, an algorithm allow-list, 60 s clock tolerance and required
//    `exp`/`sub`; HS256 tokens of the HS issuer are verified with a CryptoKey imported once;
//  * API keys / PATs: prefix, length, alphabet and CRC-32 checksum checked first, then
//    SHA-256 (crypto.subtle.digest) → hex → KV `key:<hex>` (cacheTtl 60 s, one read per request,
//    no in-isolate cache) → the record's kind, revocation, expiry and route scopes;
//  * every `x-auth-*` header (any case, `_` read as `-`) and the credential headers are removed,
//    identity headers are added, and the request is forwarded to ORIGIN;
//  * with ASSERTION_KEY bound (a private Ed25519 JWK), an `X-Auth-Assertion` signed with jose's
//    SignJWT (the key imported once per isolate), carrying the claims edge-auth's carries;
//  * one JSON log line per decision, with the fields the contract asks for (edge-auth writes the
//    same line; leaving it out would compare different jobs).
//
// Bindings: ORIGIN, REALM, ISSUER, JWKS_URI, AUDIENCE, HS_ISSUER, HS256_SECRET, AUTH_KV.
import { SignJWT, createRemoteJWKSet, decodeJwt, importJWK, jwtVerify } from "jose";

const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
const KEY_PREFIXES = { eak_: "api_key", eap_: "pat" };
const KEY_BODY = 30;
const KEY_CHECKSUM = 6;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Per-isolate state, created on first use.
let remoteJwks;
let remoteJwksUri;
let hsKey;
let hsKeySource;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(text) {
  let c = 0xffffffff;
  for (let i = 0; i < text.length; i++) c = CRC_TABLE[(c ^ text.charCodeAt(i)) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function base62(value, width) {
  let v = value;
  let out = "";
  do {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out.padStart(width, "0");
}

/** The key kind for a well-formed key or PAT, else null (refused before any KV read). */
function keyKind(token) {
  const prefix = token.slice(0, 4);
  const kind = KEY_PREFIXES[prefix];
  if (!kind || token.length !== prefix.length + KEY_BODY + KEY_CHECKSUM) return null;
  for (let i = prefix.length; i < token.length; i++) {
    if (!BASE62.includes(token[i])) return null;
  }
  const body = token.slice(0, prefix.length + KEY_BODY);
  return base62(crc32(body), KEY_CHECKSUM) === token.slice(body.length) ? kind : null;
}

function problem(status, env, error, detail, line) {
  if (line) {
    line.outcome = "rejected";
    line.reason = error ?? "rejected";
  }
  const headers = { "content-type": "application/problem+json", "cache-control": "no-store" };
  if (status === 401 || status === 400) {
    headers["www-authenticate"] = error
      ? `Bearer realm="${env.REALM}", error="${error}"`
      : `Bearer realm="${env.REALM}"`;
  }
  const body = { type: "about:blank", title: detail, status, detail };
  if (error) body.error = error;
  return new Response(JSON.stringify(body), { status, headers });
}

function headerValue(v) {
  return String(v).replace(/[^\x20-\x7e]|%/g, (c) => encodeURIComponent(c));
}

async function verifyJwt(token, env) {
  let unverified;
  try {
    unverified = decodeJwt(token);
  } catch {
    return null;
  }
  const common = { audience: env.AUDIENCE, clockTolerance: 60, requiredClaims: ["exp", "sub"] };
  let result;
  try {
    if (unverified.iss === env.HS_ISSUER) {
      if (hsKeySource !== env.HS256_SECRET) {
        hsKey = await crypto.subtle.importKey(
          "raw",
          new TextEncoder().encode(env.HS256_SECRET),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["verify"],
        );
        hsKeySource = env.HS256_SECRET;
      }
      result = await jwtVerify(token, hsKey, { ...common, issuer: env.HS_ISSUER, algorithms: ["HS256"] });
    } else {
      if (remoteJwksUri !== env.JWKS_URI) {
        remoteJwks = createRemoteJWKSet(new URL(env.JWKS_URI));
        remoteJwksUri = env.JWKS_URI;
      }
      result = await jwtVerify(token, remoteJwks, { ...common, issuer: env.ISSUER, algorithms: ASYMMETRIC });
    }
  } catch {
    return null;
  }
  const c = result.payload;
  const scopes = typeof c.scope === "string" ? c.scope.split(" ") : Array.isArray(c.scp) ? c.scp : [];
  const out = {
    "X-Auth-Type": "jwt",
    "X-Auth-Subject": headerValue(c.sub),
    "X-Auth-Scopes": headerValue([...new Set(scopes.filter(Boolean))].join(" ")),
    "X-Auth-Issuer": headerValue(c.iss),
    "X-Auth-Expires-At": String(Math.floor(c.exp)),
  };
  const client = c.client_id ?? c.azp;
  if (typeof client === "string") out["X-Auth-Client-Id"] = headerValue(client);
  return out;
}

async function verifyKey(token, kind, env, requiredScopes) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  let hex = "";
  for (const b of new Uint8Array(digest)) hex += b.toString(16).padStart(2, "0");
  const text = await env.AUTH_KV.get(`key:${hex}`, { type: "text", cacheTtl: 60 });
  if (text === null) return { status: 401 };
  let rec;
  try {
    rec = JSON.parse(text);
  } catch {
    return { status: 401 };
  }
  const now = Math.floor(Date.now() / 1000);
  if (rec.kind !== kind || rec.revoked_at != null) return { status: 401 };
  if (rec.expires_at != null && now >= rec.expires_at) return { status: 401 };
  const scopes = Array.isArray(rec.scopes) ? rec.scopes : [];
  if (!requiredScopes.every((s) => scopes.includes(s))) return { status: 403 };
  const headers = {
    "X-Auth-Type": kind,
    "X-Auth-Subject": headerValue(rec.subject),
    "X-Auth-Scopes": headerValue(scopes.join(" ")),
    "X-Auth-Key-Id": headerValue(rec.id),
  };
  if (rec.expires_at != null) headers["X-Auth-Expires-At"] = String(rec.expires_at);
  return { status: 200, headers };
}

function matches(path, prefix) {
  return path === prefix || path.startsWith(prefix + "/");
}

let requestCount = 0;
let assertionKey = null;
let assertionKeySource = null;

async function assertion(env, request, identity) {
  if (assertionKeySource !== env.ASSERTION_KEY) {
    const jwk = JSON.parse(env.ASSERTION_KEY);
    assertionKey = { kid: jwk.kid, key: await importJWK(jwk, "EdDSA") };
    assertionKeySource = env.ASSERTION_KEY;
  }
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: new URL(request.url).origin,
    aud: new URL(env.ORIGIN).origin,
    sub: identity["X-Auth-Subject"],
    auth_type: identity["X-Auth-Type"],
    scope: identity["X-Auth-Scopes"],
    iat: now,
    exp: now + 60,
    jti: crypto.randomUUID(),
  };
  if (identity["X-Auth-Key-Id"]) claims.key_id = identity["X-Auth-Key-Id"];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "EdDSA", kid: assertionKey.kid, typ: "edge-auth-assertion+jwt" })
    .sign(assertionKey.key);
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const line = {
      time: started,
      request_id: request.headers.get("cf-ray") ?? `ref${(requestCount++).toString(16)}`,
      method: request.method,
      path: "",
      outcome: "forwarded",
      reason: "",
    };
    const response = await handle(request, env, line);
    if (line.outcome === "rejected") line.status = response.status;
    line.duration_ms = Date.now() - started;
    console.log(JSON.stringify(line));
    return response;
  },
};

async function handle(request, env, line) {
  const url = new URL(request.url);
  const path = url.pathname;
  line.path = path;
  const headers = new Headers(request.headers);
  for (const name of [...headers.keys()]) {
    if (name.replaceAll("_", "-").startsWith("x-auth-")) headers.delete(name);
  }
  headers.delete("host");
  headers.delete("authorization");
  headers.delete("x-api-key");

  let route;
  if (matches(path, "/public")) route = { public: true };
  else if (matches(path, "/v1")) route = { public: false, scopes: [] };
  else return problem(403, env, null, "No route matches this request.", line);

  if (!route.public) {
    const authorization = request.headers.get("authorization");
    const apiKey = request.headers.get("x-api-key");
    let token = null;
    if (authorization !== null) {
      const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
      if (!m) {
        if (!/^Bearer(\s|$)/i.test(authorization)) return problem(401, env, null, "A credential is required.", line);
        return problem(400, env, "invalid_request", "Malformed Authorization header.", line);
      }
      token = m[1];
    }
    if (apiKey !== null) {
      if (token !== null || apiKey.includes(",")) {
        return problem(400, env, "invalid_request", "Send exactly one credential.", line);
      }
      token = apiKey;
    }
    if (token === null) return problem(401, env, null, "A credential is required.", line);

    let identity;
    const kind = keyKind(token);
    if (kind) {
      const r = await verifyKey(token, kind, env, route.scopes);
      if (r.status === 403) return problem(403, env, "insufficient_scope", "Missing scope.", line);
      identity = r.headers;
    } else if (token.split(".").length === 3) {
      identity = await verifyJwt(token, env);
    }
    if (!identity) return problem(401, env, "invalid_token", "The credential is not valid.", line);
    for (const [k, v] of Object.entries(identity)) headers.set(k, v);
    line.kind = identity["X-Auth-Type"];
    line.subject = identity["X-Auth-Subject"];
    if (identity["X-Auth-Key-Id"]) line.key_id = identity["X-Auth-Key-Id"];
    if (identity["X-Auth-Issuer"]) line.issuer = identity["X-Auth-Issuer"];
    if (env.ASSERTION_KEY) headers.set("X-Auth-Assertion", await assertion(env, request, identity));
  }

  return fetch(env.ORIGIN + path + url.search, {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
  });
}
