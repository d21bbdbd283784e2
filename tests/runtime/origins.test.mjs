// The two example origins (examples/origin-verify-assertion.mjs with jose, and
// examples/origin_verify_assertion.py with PyJWT), each run as a real child process on a loopback
// port, and the same checks for both:
//  - on their own, against assertions this test signs with a test Ed25519 key from a fake JWKS:
//    every claim an origin must check (typ, alg, iss, aud, exp, iat age, htm, htu, content_length,
//    jti replay and the replay cache's cap);
//  - end to end behind the built Worker, through a recording proxy that can hold a request instead
//    of forwarding it, so an assertion can be captured before its first use and replayed as
//    another request.
// Nothing is skipped: a missing python3 or PyJWT fails these tests.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { once } from "node:events";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import path from "node:path";
import { SignJWT } from "jose";
import { ROOT, startEdge } from "../support/harness.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const TYP = "edge-auth-assertion+jwt";
const EXAMPLES = [
  { name: "node (jose)", cmd: process.execPath, args: [path.join(ROOT, "examples/origin-verify-assertion.mjs")] },
  { name: "python (PyJWT)", cmd: "python3", args: [path.join(ROOT, "examples/origin_verify_assertion.py")] },
];

/** Start an example with `env`; resolves once it prints the URL it listens on. */
async function startExample(example, env) {
  const child = spawn(example.cmd, example.args, {
    cwd: ROOT,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${example.name} did not start in 15 s: ${stderr}`)), 15_000);
    child.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/origin listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${example.name} exited (${code}) before listening: ${stderr}`));
    });
  });
  return {
    url,
    stderr: () => stderr,
    close: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    },
  };
}

/** Send `token` (if any) straight to an example origin. */
async function direct(origin, method, p, token, body) {
  const headers = token ? { "x-auth-assertion": token } : {};
  const res = await fetch(`${origin.url}${p}`, { method, headers, body });
  return { status: res.status, body: await res.json() };
}

test("python3 with PyJWT and cryptography is installed (scripts/setup.sh installs it)", () => {
  const out = execFileSync("python3", ["-c", "import jwt, cryptography; print(jwt.__version__)"], { encoding: "utf8" });
  assert.match(out, /^\d+\.\d+/);
});

for (const example of EXAMPLES) {
  describe(`${example.name}: verifying assertions signed here`, () => {
    const ISS = "https://edge.test";
    const BASE = "https://origin.test"; // EXPECTED_BASE need not be where the example listens
    let jwks, key, stranger, origin, small;

    async function sign(over = {}, header = {}, k = key) {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: ISS, aud: BASE, sub: "alice", auth_type: "jwt", scope: "read", iat: now, exp: now + 60,
        jti: randomBytes(16).toString("base64url"), htm: "GET", htu: `${BASE}/v1/a`, rid: "rid-1", ...over,
      };
      for (const [name, v] of Object.entries(payload)) if (v === undefined) delete payload[name];
      return new SignJWT(payload).setProtectedHeader({ alg: "EdDSA", kid: k.kid, typ: TYP, ...header }).sign(k.privateKey);
    }

    before(async () => {
      key = makeKey("EdDSA", "test-1");
      stranger = makeKey("EdDSA", "stranger");
      jwks = await startJwks([key]);
      const env = { EDGE_JWKS_URL: jwks.jwksUri, EDGE_ISSUER: ISS, EXPECTED_BASE: BASE, ASSERTION_TTL_SECONDS: "60" };
      origin = await startExample(example, env);
      small = await startExample(example, { ...env, MAX_REPLAY_ENTRIES: "2" });
    });
    after(async () => {
      await origin?.close();
      await small?.close();
      await jwks?.close();
    });

    test("a good assertion is accepted once; the same one again is a replay", async () => {
      const token = await sign();
      const ok = await direct(origin, "GET", "/v1/a", token);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.identity.sub, "alice");
      assert.deepEqual(await direct(origin, "GET", "/v1/a", token), { status: 401, body: { error: "invalid_assertion", reason: "replay" } });
    });

    test("the query is not part of htu", async () => {
      assert.equal((await direct(origin, "GET", "/v1/a?x=1", await sign())).status, 200);
      const withQuery = await direct(origin, "GET", "/v1/a?x=1", await sign({ htu: `${BASE}/v1/a?x=1` }));
      assert.equal(withQuery.body.reason, "htu");
    });

    test("no assertion, or garbage, is refused", async () => {
      assert.deepEqual(await direct(origin, "GET", "/v1/a"), { status: 401, body: { error: "invalid_assertion", reason: "missing" } });
      const garbage = await direct(origin, "GET", "/v1/a", "not.a.jwt");
      assert.equal(garbage.status, 401);
    });

    const refusals = [
      ["expired", async () => sign({ iat: Math.floor(Date.now() / 1000) - 120, exp: Math.floor(Date.now() / 1000) - 60 }), "expired"],
      ["older than the assertion lifetime (maxTokenAge)", async () => sign({ iat: Math.floor(Date.now() / 1000) - 100 }), "too_old"],
      ["issued in the future", async () => sign({ iat: Math.floor(Date.now() / 1000) + 120, exp: Math.floor(Date.now() / 1000) + 180 }), "iat"],
      ["wrong aud", async () => sign({ aud: "https://other.test" }), "aud"],
      ["aud as an array holding ours", async () => sign({ aud: [BASE, "https://other.test"] }), "aud"],
      ["wrong iss", async () => sign({ iss: "https://evil.test" }), "iss"],
      ["typ JWT", async () => sign({}, { typ: "JWT" }), "typ"],
      ["typ not exactly ours (application/…)", async () => sign({}, { typ: `application/${TYP}` }), "typ"],
      ["no typ", async () => sign({}, { typ: undefined }), "typ"],
      ["signed by a key the JWKS does not have", async () => sign({}, {}, stranger), "key"],
      ["signed by another key under our kid", async () => sign({}, {}, { ...stranger, kid: "test-1" }), "signature"],
      ["HS256", async () => new SignJWT({ iss: ISS, aud: BASE }).setProtectedHeader({ alg: "HS256", kid: "test-1", typ: TYP }).sign(randomBytes(32)), "alg"],
      ["no htm", async () => sign({ htm: undefined }), "missing_htm"],
      ["no htu", async () => sign({ htu: undefined }), "missing_htu"],
      ["no jti", async () => sign({ jti: undefined }), "missing_jti"],
      ["htm of another method", async () => sign({ htm: "DELETE" }), "htm"],
      ["htu of another path", async () => sign({ htu: `${BASE}/v1/b` }), "htu"],
      ["htu of another origin", async () => sign({ htu: "https://elsewhere.test/v1/a" }), "htu"],
    ];
    for (const [name, make, reason] of refusals) {
      test(`refused: ${name}`, async () => {
        const res = await direct(origin, "GET", "/v1/a", await make());
        assert.deepEqual(res, { status: 401, body: { error: "invalid_assertion", reason } });
      });
    }

    test("content_length must equal the body received; a body without it is refused", async () => {
      const post = (over, body) => sign({ htm: "POST", htu: `${BASE}/v1/up`, ...over }).then((t) => direct(origin, "POST", "/v1/up", t, body));
      const ok = await post({ content_length: 5 }, "hello");
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.body_bytes, 5);
      assert.equal((await post({ content_length: 4 }, "hello")).body.reason, "content_length");
      assert.equal((await post({ content_length: 6 }, "hello")).body.reason, "content_length");
      assert.equal((await post({ content_length: "5" }, "hello")).body.reason, "content_length");
      assert.equal((await post({}, "hello")).body.reason, "content_length");
      assert.equal((await post({}, undefined)).status, 200);
      assert.equal((await post({ content_length: 0 }, "")).status, 200);
    });

    test("a refused request does not use up the jti of the genuine one", async () => {
      const token = await sign();
      assert.equal((await direct(origin, "DELETE", "/v1/a", token)).body.reason, "htm");
      assert.equal((await direct(origin, "GET", "/v1/b", token)).body.reason, "htu");
      assert.equal((await direct(origin, "GET", "/v1/a", token)).status, 200);
      assert.equal((await direct(origin, "GET", "/v1/a", token)).body.reason, "replay");
    });

    test("the replay cache is bounded: full of live entries, new assertions get 503", async () => {
      assert.equal((await direct(small, "GET", "/v1/a", await sign())).status, 200);
      assert.equal((await direct(small, "GET", "/v1/a", await sign())).status, 200);
      assert.deepEqual(await direct(small, "GET", "/v1/a", await sign()), { status: 503, body: { error: "invalid_assertion", reason: "replay_cache_full" } });
    });
  });

  describe(`${example.name}: end to end behind the built Worker`, () => {
    const AUD = "https://api.test";
    const EDGE_ISS = "https://edge.test";
    let edge, jwks, key, proxy, jwksProxy, origin;

    // A recording proxy in front of the example: the edge's `origin` (so also EXPECTED_BASE).
    // With `hold`, it records the request and answers itself instead of forwarding it.
    async function startProxy() {
      const state = { target: null, hold: false, seen: [] };
      const server = createServer((req, res) => {
        state.seen.push({ method: req.method, url: req.url, headers: req.headers });
        if (state.hold) {
          req.resume();
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify({ held: true }));
        }
        const up = httpRequest(`${state.target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        });
        up.on("error", () => { res.writeHead(502); res.end(); });
        req.pipe(up);
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      return { state, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
    }

    before(async () => {
      const assertionJwk = { ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid: "edge-1" };
      key = makeKey("EdDSA");
      jwks = await startJwks([key]);
      proxy = await startProxy();
      edge = await startEdge({
        config: {
          origin: proxy.url,
          issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
          routes: [{ path: "/public/**", auth: "public" }, { path: "/v1/**" }],
          // No `audience`: it defaults to `origin`, which is also the examples' default.
          assertion: { issuer: EDGE_ISS, ttl_seconds: 60 },
        },
        bindings: { ASSERTION_KEY: JSON.stringify(assertionJwk) },
      });
      // The edge's own {admin_path}/jwks.json, over loopback HTTP for the example to fetch.
      jwksProxy = createServer(async (req, res) => {
        const r = await edge.fetch("/_auth/jwks.json");
        res.writeHead(r.status, { "content-type": "application/json" });
        res.end(await r.text());
      });
      jwksProxy.listen(0, "127.0.0.1");
      await once(jwksProxy, "listening");
      origin = await startExample(example, {
        EDGE_JWKS_URL: `http://127.0.0.1:${jwksProxy.address().port}/_auth/jwks.json`,
        EDGE_ISSUER: EDGE_ISS,
        EXPECTED_BASE: proxy.url,
        ASSERTION_TTL_SECONDS: "60",
      });
      proxy.state.target = origin.url;
    });
    after(async () => {
      await origin?.close();
      await edge?.close();
      jwksProxy?.closeAllConnections();
      jwksProxy?.close();
      await proxy?.close();
      await jwks?.close();
    });

    const bearer = () => ({ authorization: `Bearer ${mint(key, claims(jwks.url, AUD, { sub: "alice" }))}` });
    const lastAssertion = () => proxy.state.seen.at(-1).headers["x-auth-assertion"];

    test("a good request through the edge is accepted, with the request-bound claims", async () => {
      proxy.state.hold = false;
      const res = await edge.fetch("/v1/a?x=1", { headers: bearer() });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      const id = body.identity;
      assert.equal(id.sub, "alice");
      assert.equal(id.iss, EDGE_ISS);
      assert.equal(id.aud, proxy.url);
      assert.equal(id.htm, "GET");
      assert.equal(id.htu, `${proxy.url}/v1/a`);
      assert.equal(typeof id.rid, "string");
      assert.equal(id.content_length, undefined);
    });

    test("htu is the canonical path the origin receives; other methods are bound too", async () => {
      proxy.state.hold = false;
      const res = await edge.fetch("/v1//b/./c", { headers: bearer() });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.path, "/v1/b/c");
      assert.equal(body.identity.htu, `${proxy.url}/v1/b/c`);
      const del = await edge.fetch("/v1/b", { method: "DELETE", headers: bearer() });
      const delBody = await del.json();
      assert.equal(del.status, 200, JSON.stringify(delBody));
      assert.equal(delBody.identity.htm, "DELETE");
    });

    test("the same assertion sent again to the origin is refused as a replay", async () => {
      proxy.state.hold = false;
      assert.equal((await edge.fetch("/v1/a", { headers: bearer() })).status, 200);
      assert.deepEqual(await direct(origin, "GET", "/v1/a", lastAssertion()), { status: 401, body: { error: "invalid_assertion", reason: "replay" } });
    });

    test("a body through the edge is bound by content_length", async () => {
      proxy.state.hold = false;
      const res = await edge.fetch("/v1/up", { method: "POST", headers: { ...bearer(), "content-type": "text/plain", "content-length": "5" }, body: "hello" });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.identity.htm, "POST");
      assert.equal(body.identity.content_length, 5);
      assert.equal(body.body_bytes, 5);
    });

    test("a body the client did not declare (streamed, no Content-Length) carries no content_length: refused", async () => {
      proxy.state.hold = false;
      const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("hello")); c.close(); } });
      const res = await edge.fetch("/v1/up", { method: "POST", headers: bearer(), body, duplex: "half" });
      assert.deepEqual({ status: res.status, body: await res.json() }, { status: 401, body: { error: "invalid_assertion", reason: "content_length" } });
      const { headers } = proxy.state.seen.at(-1);
      const claimsSeen = JSON.parse(Buffer.from(headers["x-auth-assertion"].split(".")[1], "base64url"));
      assert.equal(claimsSeen.content_length, undefined);
      assert.equal(claimsSeen.htm, "POST");
    });

    test("an assertion captured before its first use is refused as another method or path", async () => {
      proxy.state.hold = true;
      try {
        assert.equal((await edge.fetch("/v1/a", { headers: bearer() })).status, 200);
      } finally {
        proxy.state.hold = false;
      }
      const captured = lastAssertion();
      assert.ok(captured);
      assert.equal((await direct(origin, "DELETE", "/v1/a", captured)).body.reason, "htm");
      assert.equal((await direct(origin, "GET", "/v1/b", captured)).body.reason, "htu");
      // Neither refusal used it up: as the request it was made for, it is accepted once.
      assert.equal((await direct(origin, "GET", "/v1/a", captured)).status, 200);
      assert.equal((await direct(origin, "GET", "/v1/a", captured)).body.reason, "replay");
    });

    test("a request with no assertion is refused, and public routes carry none", async () => {
      assert.equal((await direct(origin, "GET", "/v1/a")).body.reason, "missing");
      proxy.state.hold = false;
      const res = await edge.fetch("/public/x");
      assert.equal(res.status, 401);
      assert.equal((await res.json()).reason, "missing");
      assert.equal(proxy.state.seen.at(-1).url, "/public/x");
      assert.equal(lastAssertion(), undefined);
    });
  });
}
