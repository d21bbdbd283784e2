// An origin that trusts edge-auth's identity only with a valid X-Auth-Assertion bound to the
// very request it arrives on.
//
//   EDGE_JWKS_URL=https://api.example.com/_auth/jwks.json \
//   EDGE_ISSUER=https://api.example.com \
//   EXPECTED_BASE=https://origin.internal.example \
//   node examples/origin-verify-assertion.mjs
//
// Environment (the same names as examples/origin_verify_assertion.py):
//   EDGE_JWKS_URL          the edge's {admin_path}/jwks.json (required)
//   EDGE_ISSUER            the exact `iss`: config `assertion.issuer`, default the edge's own origin (required)
//   EXPECTED_BASE          this origin's external base URL, scheme://host[:port], exactly as the
//                          edge's `origin` config spells it: `htu` must be this + the request path (required)
//   EDGE_AUDIENCE          the exact `aud`: config `assertion.audience` (default: EXPECTED_BASE,
//                          which is also the edge's default)
//   ASSERTION_TTL_SECONDS  the edge's `assertion.ttl_seconds` (default 60): the oldest `iat` accepted
//   CLOCK_TOLERANCE_SECONDS  (default 5)
//   MAX_REPLAY_ENTRIES     the replay cache's cap (default 10000), see below
//   HOST (default 127.0.0.1), PORT (default 9000; 0 picks a free port). The bound URL is printed
//   on stdout as "origin listening on http://HOST:PORT".
//
// Uses `jose` (npm). Anything else gets 401 {"error":"invalid_assertion","reason":"…"}: the request
// did not come through the edge, or not as this request.
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { createRemoteJWKSet, jwtVerify } from "jose";

export const TYP = "edge-auth-assertion+jwt";
const MAX_BODY_BYTES = 1024 * 1024;

class Refused extends Error {
  constructor(reason, status = 401) {
    super(reason);
    this.reason = reason;
    this.status = status;
  }
}

/**
 * Seen `jti`s, each kept until its assertion can no longer be accepted anyway (exp + tolerance).
 * Bounded: when it holds `cap` live entries, new assertions are refused (503) rather than an old
 * entry forgotten, since forgetting one would let that assertion be replayed. Genuine assertions
 * only come from the edge, so size the cap above (requests per second) x (ttl + tolerance).
 * In memory, per process: with several origin instances use a shared store (e.g. Redis
 * `SET jti 1 NX EXAT exp`) instead.
 */
export class ReplayCache {
  constructor(cap) {
    this.cap = cap;
    this.seen = new Map(); // jti -> forget-after (Unix seconds); insertion order ~ expiry order
  }
  /** Record `jti`; false when it was already seen. Throws Refused when full. */
  add(jti, forgetAfter, now) {
    this.prune(now);
    const until = this.seen.get(jti);
    if (until !== undefined && until >= now) return false;
    if (this.seen.size >= this.cap) {
      for (const [k, t] of this.seen) if (t < now) this.seen.delete(k); // full sweep, only when full
      if (this.seen.size >= this.cap) throw new Refused("replay_cache_full", 503);
    }
    this.seen.set(jti, forgetAfter);
    return true;
  }
  /** Drop expired entries from the front (cheap, keeps the steady state small). */
  prune(now) {
    for (const [k, t] of this.seen) {
      if (t >= now) break;
      this.seen.delete(k);
    }
  }
}

/** scheme://host[:port] as the edge writes it: lower case, default port dropped. */
export function originOf(url) {
  const u = new URL(url);
  if (!["http:", "https:"].includes(u.protocol) || u.pathname !== "/" || u.search || u.username)
    throw new Error("EXPECTED_BASE must be scheme://host[:port]");
  return u.origin;
}

// jose's error codes, as the short reasons both examples answer with.
function reasonOf(e) {
  if (e instanceof Refused) return e.reason;
  if (e.code === "ERR_JWT_EXPIRED") return e.claim === "iat" ? "too_old" : "expired";
  if (e.code === "ERR_JWT_CLAIM_VALIDATION_FAILED") return e.reason === "missing" ? `missing_${e.claim}` : e.claim;
  if (e.code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return "signature";
  if (e.code === "ERR_JOSE_ALG_NOT_ALLOWED") return "alg";
  if (e.code === "ERR_JWKS_NO_MATCHING_KEY" || e.code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS") return "key";
  if (e.code === "ERR_JWKS_TIMEOUT" || e.code === "ERR_JOSE_GENERIC") return "jwks_unavailable";
  return "malformed";
}

/**
 * Build a verifier for the edge's assertions. It reads its options on each call, so a test can
 * pass getters for values it learns late (its own port).
 */
export function assertionVerifier(options) {
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 5 * 60 * 1000 });
  const replay = new ReplayCache(options.maxReplayEntries ?? 10_000);

  /** `req`: { method, path (no query), headers (lower-case names), body (Buffer) }. */
  return async function verify({ method, path, headers, body }) {
    const token = headers["x-auth-assertion"];
    if (typeof token !== "string" || token === "") throw new Refused("missing");
    const ttl = options.ttlSeconds ?? 60;
    const tolerance = options.clockToleranceSeconds ?? 5;
    const base = originOf(options.expectedBase);
    const audience = options.audience ?? base;

    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      algorithms: ["EdDSA"],
      typ: TYP,
      issuer: options.issuer,
      audience,
      clockTolerance: tolerance,
      maxTokenAge: ttl, // never longer than the assertion's lifetime
      requiredClaims: ["iat", "exp", "jti", "htm", "htu"],
    });
    // jose compares typ case-insensitively and without "application/"; we want it exactly.
    if (protectedHeader.typ !== TYP) throw new Refused("typ");
    if (payload.aud !== audience) throw new Refused("aud"); // one audience, not an array holding it
    if (typeof payload.jti !== "string" || payload.jti === "") throw new Refused("missing_jti");

    // Bound to this request: method, URL without query, and the body's length.
    if (payload.htm !== method) throw new Refused("htm");
    if (payload.htu !== base + path) throw new Refused("htu");
    if (payload.content_length !== undefined) {
      if (payload.content_length !== body.length) throw new Refused("content_length");
    } else if (body.length > 0) {
      throw new Refused("content_length"); // a body the edge did not declare: refuse
    }

    // Last, so a refused request never uses up the jti of the genuine one.
    const now = Math.floor(Date.now() / 1000);
    if (!replay.add(payload.jti, payload.exp + tolerance, now)) throw new Refused("replay");
    return payload; // { iss, aud, sub, auth_type, scope, key_id | client_id, iss_upstream, htm, htu, rid, ... }
  };
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new Refused("body_too_large", 413);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** A tiny origin: 401 without a valid assertion for this request, else echo the identity. */
export function createOrigin(options) {
  const verify = assertionVerifier(options);
  return createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const path = req.url.split("?")[0];
      const identity = await verify({ method: req.method, path, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ identity, method: req.method, path, body_bytes: body.length }));
    } catch (e) {
      const status = e.status ?? 401;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_assertion", reason: reasonOf(e) }));
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  for (const name of ["EDGE_JWKS_URL", "EDGE_ISSUER", "EXPECTED_BASE"]) {
    if (!env[name]) {
      console.error(`${name} is required`);
      process.exit(2);
    }
  }
  originOf(env.EXPECTED_BASE); // fail at start, not on the first request
  const server = createOrigin({
    jwksUrl: env.EDGE_JWKS_URL,
    issuer: env.EDGE_ISSUER,
    audience: env.EDGE_AUDIENCE || undefined,
    expectedBase: env.EXPECTED_BASE,
    ttlSeconds: Number(env.ASSERTION_TTL_SECONDS || 60),
    clockToleranceSeconds: Number(env.CLOCK_TOLERANCE_SECONDS || 5),
    maxReplayEntries: Number(env.MAX_REPLAY_ENTRIES || 10_000),
  });
  const host = env.HOST || "127.0.0.1";
  server.listen(Number(env.PORT ?? 9000), host, () =>
    console.log(`origin listening on http://${host}:${server.address().port}`));
}
