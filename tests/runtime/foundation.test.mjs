// The foundation in the real runtime: routing, sanitising, forwarding, rejections, config errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startEdge, baseConfig, deadPort } from "../support/harness.mjs";

let origin, edge;

before(async () => {
  origin = await startOrigin();
  edge = await startEdge({ config: baseConfig(origin.url) });
});
after(async () => {
  await edge?.close();
  await origin?.close();
});

test("a public route is forwarded with method, path, query and body intact", async () => {
  const res = await edge.fetch("/public/echo?a=1&b=two%20words", {
    method: "POST",
    headers: { "content-type": "text/plain", "x-custom": "kept" },
    body: "hello body",
  });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.method, "POST");
  assert.equal(seen.url, "/public/echo?a=1&b=two%20words");
  assert.equal(seen.body, "hello body");
  assert.equal(seen.headers["x-custom"], "kept");
  assert.equal(res.headers.get("x-origin"), "demo");
});

test("spoofed identity headers never reach the origin, on any route", async () => {
  for (const p of ["/public/x", "/optional/x"]) {
    const res = await edge.fetch(p, {
      headers: {
        "X-Auth-Subject": "admin",
        "x_auth_type": "jwt",
        "X-AUTH-SCOPES": "root",
        "x-auth-assertion": "forged",
      },
    });
    assert.equal(res.status, 200, p);
    const seen = await res.json();
    for (const name of Object.keys(seen.headers)) {
      const normal = name.toLowerCase().replaceAll("_", "-");
      if (p === "/optional/x" && normal === "x-auth-type") continue;
      assert.ok(!normal.startsWith("x-auth-"), `${p}: ${name} reached the origin`);
    }
    if (p === "/optional/x") assert.equal(seen.headers["x-auth-type"], "anonymous");
  }
});

test("a protected route without a credential is 401 with a bare Bearer challenge", async () => {
  const before = origin.requests.length;
  const res = await edge.fetch("/v1/things");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="api"');
  assert.match(res.headers.get("content-type"), /application\/problem\+json/);
  const body = await res.json();
  assert.equal(body.status, 401);
  assert.ok(body.request_id);
  assert.equal(body.error, undefined);
  assert.equal(origin.requests.length, before, "nothing forwarded");
});

test("an unmatched path is 403 without a challenge and nothing is forwarded", async () => {
  const before = origin.requests.length;
  const res = await edge.fetch("/nowhere");
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("www-authenticate"), null);
  assert.equal((await res.json()).status, 403);
  assert.equal(origin.requests.length, before);
});

test("two credentials are 400 invalid_request", async () => {
  const res = await edge.fetch("/v1/things", { headers: { authorization: "Bearer a.b.c", "x-api-key": "eak_x" } });
  assert.equal(res.status, 400);
  assert.match(res.headers.get("www-authenticate"), /error="invalid_request"/);
  assert.equal((await res.json()).error, "invalid_request");
});

test("encoded traversal cannot reach a public route's rules from a protected path", async () => {
  const before = origin.requests.length;
  const res = await edge.fetch("/public/..%2f..%2fv1/things");
  assert.equal(res.status, 400);
  const res2 = await edge.fetch("/public/%2e%2e/v1/things");
  assert.equal(res2.status, 401, "normalised to /v1/things, which needs a credential");
  assert.equal(origin.requests.length, before);
});

test("health reports the version and a loaded config", async () => {
  const res = await edge.fetch("/_auth/health");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.config_loaded, true);
  assert.match(body.version, /^\d+\.\d+\.\d+/);
});

test("a decision log line is written as JSON without credentials", async () => {
  await edge.fetch("/v1/things", { headers: { authorization: "Bearer eak_secretsecretsecretsecretsecret000000" } });
  await new Promise((r) => setTimeout(r, 200));
  const lines = edge.logs.filter((l) => l.includes('"request_id"'));
  assert.ok(lines.length > 0, "decision lines logged");
  const parsed = lines.map((l) => JSON.parse(l.slice(l.indexOf("{"))));
  const line = parsed.find((l) => l.path === "/v1/things" && l.outcome === "rejected");
  assert.ok(line);
  // Whole milliseconds, as integers in the text (an int64 column takes them).
  assert.ok(Number.isInteger(line.time) && Math.abs(line.time - Date.now()) < 60_000, JSON.stringify(line));
  assert.ok(Number.isInteger(line.duration_ms) && line.duration_ms >= 0, JSON.stringify(line));
  assert.match(lines.find((l) => l.includes('"/v1/things"')), /"time":\d+,/);
  assert.ok(!edge.logs.join("\n").includes("secretsecret"));
});

test("an unreachable origin gives 502 problem+json", async () => {
  const port = await deadPort();
  const down = await startEdge({ config: baseConfig(`http://127.0.0.1:${port}`) });
  try {
    const res = await down.fetch("/public/x");
    assert.equal(res.status, 502);
    assert.match(res.headers.get("content-type"), /application\/problem\+json/);
  } finally {
    await down.close();
  }
});

test("an invalid config answers 500 to everything and forwards nothing", async () => {
  const before = origin.requests.length;
  const configs = [
    undefined,
    "{not json",
    { ...baseConfig(origin.url), routes: [{ path: "/public/**", auth: "public", typo: true }] },
    { ...baseConfig(origin.url), origin: "ftp://x" },
  ];
  for (const config of configs) {
    const bad = await startEdge({ config });
    try {
      for (const p of ["/public/x", "/v1/x", "/_auth/health"]) {
        const res = await bad.fetch(p);
        assert.equal(res.status, 500, `${JSON.stringify(config)} ${p}`);
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(bad.logs.some((l) => l.includes("config_invalid")), "the log names the problem");
    } finally {
      await bad.close();
    }
  }
  assert.equal(origin.requests.length, before);
});

test("AUTH_CONFIG bound as a JSON string works like an object", async () => {
  const asText = await startEdge({ config: JSON.stringify(baseConfig(origin.url)) });
  try {
    const res = await asText.fetch("/public/x");
    assert.equal(res.status, 200);
  } finally {
    await asText.close();
  }
});

test("origin errors are passed back as they are", async () => {
  const failing = await startOrigin((req, res) => {
    res.writeHead(418, { "content-type": "text/plain", "x-teapot": "yes" });
    res.end("short and stout");
  });
  const e = await startEdge({ config: baseConfig(failing.url) });
  try {
    const res = await e.fetch("/public/x");
    assert.equal(res.status, 418);
    assert.equal(res.headers.get("x-teapot"), "yes");
    assert.equal(await res.text(), "short and stout");
  } finally {
    await e.close();
    await failing.close();
  }
});

test("an origin's redirect is passed back to the client, never followed with the identity headers", async () => {
  const elsewhere = await startOrigin();
  const redirecting = await startOrigin((req, res) => {
    res.writeHead(302, { location: `${elsewhere.url}/stolen` });
    res.end();
  });
  const e = await startEdge({ config: baseConfig(redirecting.url) });
  try {
    const res = await e.fetch("/public/go", { redirect: "manual" });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), `${elsewhere.url}/stolen`);
    assert.equal(redirecting.requests.length, 1);
    assert.equal(elsewhere.requests.length, 0, "the edge did not follow the redirect");
  } finally {
    await e.close();
    await redirecting.close();
    await elsewhere.close();
  }
});

test("repeated and mixed-case client headers reach the origin as sent; spoofed x-auth-* never do", async () => {
  const before = origin.requests.length;
  const headers = new Headers();
  headers.append("Accept", "application/json");
  headers.append("accept", "text/plain");
  headers.append("X-Custom", "kept");
  headers.append("X_Auth_Subject", "spoofed");
  headers.append("x-AUTH-type", "spoofed");
  const res = await edge.fetch("/public/echo?q=1", { headers });
  assert.equal(res.status, 200);
  const seen = origin.requests.at(-1);
  assert.equal(origin.requests.length, before + 1);
  assert.equal(seen.url, "/public/echo?q=1");
  assert.equal(seen.headers.accept, "application/json, text/plain");
  assert.equal(seen.headers["x-custom"], "kept");
  assert.equal(seen.headers["x-auth-type"], undefined, "public routes get no identity headers");
  assert.equal(seen.headers.x_auth_subject, undefined);
  assert.equal(seen.headers["x-auth-subject"], undefined);
});
