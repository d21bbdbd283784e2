// An origin that trusts edge-auth's identity only with a valid X-Auth-Assertion.
//
//   EDGE_JWKS_URL=https://api.example.com/_auth/jwks.json \
//   EDGE_ISSUER=https://api.example.com EDGE_AUDIENCE=https://origin.internal.example \
//   node examples/origin-verify-assertion.mjs
//
// Uses `jose` (npm). Requests without a valid assertion (signed by the edge's key, right issuer,
// audience and type, not expired) get 401: they did not come through the edge.
import { createServer } from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";

/** Build a verifier for the edge's assertions. */
export function assertionVerifier({ jwksUrl, issuer, audience }) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: 10 * 60 * 1000 });
  return async function verify(headers) {
    const token = headers["x-auth-assertion"];
    if (typeof token !== "string") throw new Error("no assertion");
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      algorithms: ["EdDSA"],
      typ: "edge-auth-assertion+jwt",
      maxTokenAge: "5 minutes",
    });
    return payload; // { sub, auth_type, scope, key_id | client_id, iss_upstream, iat, exp, jti }
  };
}

/** A tiny origin: 401 without a valid assertion, else echo the verified identity. */
export function createOrigin(options) {
  const verify = assertionVerifier(options);
  return createServer(async (req, res) => {
    try {
      const identity = await verify(req.headers);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ identity }));
    } catch (e) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "request did not come through the edge", reason: e.code ?? e.message }));
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = createOrigin({
    jwksUrl: process.env.EDGE_JWKS_URL,
    issuer: process.env.EDGE_ISSUER,
    audience: process.env.EDGE_AUDIENCE,
  });
  server.listen(Number(process.env.PORT || 9000), "127.0.0.1", () =>
    console.log(`origin listening on http://127.0.0.1:${server.address().port}`));
}
