// The OpenAPI document against the real Worker: the document is fetched from the Worker itself
// (`/_auth/openapi.json`), then every operation is exercised (successes and errors) and every
// real answer is checked against the document: its status must be documented for that operation,
// its content type listed, its body valid against that schema (JSON Schema 2020-12, Ajv), its
// required headers present. Request bodies are checked too: one the document refuses must be
// refused (400), one the Worker accepts must be one the document accepts. So the document cannot
// drift from the code. The state tier's endpoints (principal and token revocation, the audit log,
// health's `state`) are exercised against a one-isolate cluster with the AUTH_STATE authority, and
// against a plain edge without it (500 `state_not_bound`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { startOrigin, startEdge, deadPort, ROOT } from "../support/harness.mjs";
import { startCluster } from "../support/cluster.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const ADMIN = "openapi-test-admin-token-0123456789abcdef";
const AUD = "https://api.test";
const BASE = "/_auth";
const SCHEMA_BASE = "https://edge-auth.invalid/openapi/";

let origin, jwks, edge, disabledEdge, brokenEdge, cluster, stateEdge, userKey, doc, ajv;
let deadIssuer;
/** `METHOD template` → statuses seen. */
const seen = new Map();

before(async () => {
  origin = await startOrigin();
  userKey = makeKey("EdDSA");
  jwks = await startJwks([userKey]);
  // A second issuer whose JWKS endpoint refuses connections: its JWTs meet 503.
  deadIssuer = `http://127.0.0.1:${await deadPort()}`;
  const issuers = [
    { issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] },
    { issuer: deadIssuer, jwks_uri: `${deadIssuer}/jwks.json`, audiences: [AUD], algorithms: ["EdDSA"] },
  ];
  const config = {
    origin: origin.url,
    issuers,
    admin_scope: { issuer: jwks.url, scope: "edge-admin" },
    routes: [{ path: "/v1/**" }],
    keys: { cache_ttl_seconds: 0, pat_max_active: 2 },
  };
  // No AUTH_STATE: the admin API writes KV directly; the state tier's endpoints are 500. With
  // ASSETS (www/), which serves the OpenAPI document.
  edge = await startEdge({ config, bindings: { ADMIN_TOKEN: ADMIN }, assets: true });
  // The same configuration with the AUTH_STATE authority (one isolate).
  cluster = await startCluster({
    config,
    isolates: 1,
    bindings: { ADMIN_TOKEN: ADMIN },
    durableObject: { binding: "AUTH_STATE", className: "AuthState" },
  });
  stateEdge = cluster.isolates[0];
  // No ADMIN_TOKEN and no admin_scope: /keys answers 404. No ASSETS: /openapi.json answers 503.
  disabledEdge = await startEdge({
    config: { origin: origin.url, issuers: issuers.slice(0, 1), routes: [{ path: "/v1/**" }] },
  });
  // An invalid configuration: every request is 500.
  brokenEdge = await startEdge({ config: { origin: origin.url, routes: [{ path: "no-slash" }] } });

  const res = await edge.fetch(`${BASE}/openapi.json`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("cache-control"), "public, max-age=300");
  const served = await res.json();
  // The Worker serves the committed document (from ASSETS: www/openapi.json is a symlink to
  // docs/openapi.json); real answers are checked against it.
  doc = JSON.parse(await readFile(path.join(ROOT, "docs/openapi.json"), "utf8"));
  assert.deepEqual(served, doc);

  ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema(rebase(schema), `${SCHEMA_BASE}${name}`);
  }
  record({ status: 200 }, "GET", "/openapi.json");
});

after(async () => {
  await cluster?.close();
  await edge?.close();
  await disabledEdge?.close();
  await brokenEdge?.close();
  await jwks?.close();
  await origin?.close();
});

/** `#/components/schemas/X` → an absolute id Ajv knows (the document itself is not a schema). */
function rebase(value) {
  if (Array.isArray(value)) return value.map(rebase);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/")) {
        out[k] = SCHEMA_BASE + v.slice("#/components/schemas/".length);
      } else {
        out[k] = rebase(v);
      }
    }
    return out;
  }
  return value;
}

/** Follow a `$ref` into the document (responses, headers, parameters). */
function deref(node) {
  let n = node;
  while (n && n.$ref) {
    assert.ok(n.$ref.startsWith("#/"), n.$ref);
    n = n.$ref.slice(2).split("/").reduce((o, k) => o?.[k.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
    assert.ok(n, `${node.$ref} resolves`);
  }
  return n;
}

const compiled = new Map();
function validator(schema) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rebase(schema)));
  return compiled.get(key);
}

function assertValid(schema, value, what) {
  const validate = validator(schema);
  assert.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
}

function record(res, method, template) {
  const k = `${method} ${template}`;
  if (!seen.has(k)) seen.set(k, new Set());
  seen.get(k).add(res.status);
}

/**
 * Send a request to `edgeInstance` and check the answer against the document. `template` is the
 * documented path (`/keys/{id}`), `url` the real one (after BASE). Returns the parsed body.
 */
async function call(method, template, url, { auth, body, rawBody, headers = {}, on = edge, expect, refusedByDoc } = {}) {
  const init = { method, headers: { ...headers } };
  if (auth !== undefined) init.headers.authorization = auth;
  const item = doc.paths[template];
  assert.ok(item, `${template} is documented`);
  const op = item[method.toLowerCase()];
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  } else if (rawBody !== undefined) {
    init.body = rawBody;
  }
  const res = await on.fetch(`${BASE}${url}`, init);
  const what = `${method} ${url} → ${res.status}`;
  if (expect !== undefined) assert.equal(res.status, expect, `${what}: ${await res.clone().text()}`);

  let response;
  if (op) {
    response = op.responses[String(res.status)];
    assert.ok(response, `${what}: status ${res.status} is not documented for ${method} ${template}`);
    record(res, method, template);
  } else {
    assert.equal(res.status, 405, `${what}: an undocumented method must be 405 (or 401/403 before it)`);
    response = doc.components.responses.MethodNotAllowed;
  }
  response = deref(response);

  for (const [name, h] of Object.entries(response.headers ?? {})) {
    const header = deref(h);
    const value = res.headers.get(name);
    if (header.required) assert.ok(value !== null, `${what}: header ${name} is required`);
    if (value !== null) assertValid(header.schema, value, `${what}: header ${name}`);
  }

  const text = await res.text();
  const contentType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
  let parsed;
  if (!response.content) {
    assert.equal(text, "", `${what}: no body documented`);
  } else {
    const media = response.content[contentType];
    assert.ok(media, `${what}: content type "${contentType}" is not documented (${Object.keys(response.content)})`);
    parsed = JSON.parse(text);
    assertValid(media.schema, parsed, `${what}: body`);
    if (contentType === "application/problem+json") assert.equal(parsed.status, res.status, `${what}: problem status`);
  }

  // The request body against the documented request schema.
  if (op?.requestBody && (body !== undefined || rawBody !== undefined)) {
    const schema = deref(op.requestBody).content["application/json"].schema;
    let candidate;
    let isJson = true;
    try {
      candidate = body !== undefined ? body : JSON.parse(rawBody);
    } catch {
      isJson = false;
    }
    const ok = isJson && validator(schema)(candidate);
    if (refusedByDoc) assert.ok(!ok, `${what}: the document should refuse this body too: ${JSON.stringify(candidate)}`);
    if (!ok && ![401, 403, 404, 413].includes(res.status)) {
      assert.equal(res.status, 400, `${what}: the document refuses this body, the Worker must too: ${JSON.stringify(candidate)}`);
    }
    if (res.status >= 200 && res.status < 300) {
      assert.ok(ok, `${what}: the Worker accepted a body the document refuses: ${ajv.errorsText(validator(schema).errors)}`);
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

const adminAuth = `Bearer ${ADMIN}`;
const now = () => Math.floor(Date.now() / 1000);
function userJwt(sub = "user-1", extra = {}) {
  return `Bearer ${mint(userKey, claims(jwks.url, AUD, { sub, scope: "read write", ...extra }))}`;
}
const adminJwt = () => userJwt("ops", { scope: "edge-admin" });

test("the edge's public endpoints: health, jwks, openapi (and 500 while the config is invalid)", async () => {
  const health = await call("GET", "/health", "/health", { expect: 200 });
  assert.equal(health.body.config_loaded, true);
  const keys = await call("GET", "/jwks.json", "/jwks.json", { expect: 200 });
  assert.equal(keys.headers.get("cache-control"), "public, max-age=300");
  await call("GET", "/openapi.json", "/openapi.json", { expect: 200 });

  const broken = await call("GET", "/health", "/health", { on: brokenEdge, expect: 500 });
  assert.equal(broken.body.config_loaded, false);
  await call("GET", "/jwks.json", "/jwks.json", { on: brokenEdge, expect: 500 });
  await call("GET", "/openapi.json", "/openapi.json", { on: brokenEdge, expect: 500 });
});

test("openapi.json is docs/openapi.json byte for byte, from ASSETS; 503 problem without ASSETS; not under the console", async () => {
  const committed = await readFile(path.join(ROOT, "docs/openapi.json"));
  const res = await edge.fetch(`${BASE}/openapi.json`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("cache-control"), "public, max-age=300");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(committed), "the served bytes are docs/openapi.json's");
  // What the assets directory ships is the committed file (a symlink wrangler and Miniflare follow).
  assert.ok((await readFile(path.join(ROOT, "www/openapi.json"))).equals(committed), "www/openapi.json is docs/openapi.json");

  const missing = await call("GET", "/openapi.json", "/openapi.json", { on: disabledEdge, expect: 503 });
  assert.equal(missing.headers.get("content-type"), "application/problem+json");
  assert.match(missing.body.detail, /ASSETS is not bound/);
  assert.equal(missing.headers.get("retry-after"), null, "retrying cannot help");

  // The console shares the assets directory but serves only its own files.
  assert.equal((await edge.fetch(`${BASE}/console/openapi.json`)).status, 404);
  assert.equal((await edge.fetch(`${BASE}/console/app.js`)).status, 200);
});

test("POST /keys: API keys and PATs, and every refusal", async () => {
  const key = await call("POST", "/keys", "/keys", {
    auth: adminAuth,
    body: { kind: "api_key", subject: "svc@openapi", name: "CI caf\u00e9 \u{1f600}", scopes: ["read", "read", "write", "keys:read/all!~"] },
    expect: 201,
  });
  assert.equal(key.body.issuer, null);
  assert.equal(key.body.expires_at, null);
  assert.deepEqual(key.body.scopes, ["read", "write", "keys:read/all!~"]);
  const pat = await call("POST", "/keys", "/keys", {
    auth: adminAuth,
    body: { kind: "pat", subject: "pat-owner", issuer: jwks.url, name: "laptop", scopes: ["read"], expires_in: 3600, expires_at: null },
    expect: 201,
  });
  assert.equal(pat.body.issuer, jwks.url);
  // An admin-scoped JWT is an admin too.
  await call("POST", "/keys", "/keys", {
    auth: adminJwt(),
    body: { kind: "api_key", subject: "svc-openapi", name: "by-jwt", expires_at: now() + 600 },
    expect: 201,
  });

  const bad = [
    { kind: "api_key", subject: "s", name: "n", admin: true }, // unknown field
    { kind: "cookie", subject: "s", name: "n" },
    { kind: "api_key", subject: "", name: "n" },
    { kind: "api_key", subject: "s" }, // no name
    { kind: "api_key", subject: "s", name: "n", scopes: ["a b"] },
    { kind: "api_key", subject: "s", name: "n", issuer: jwks.url },
    { kind: "api_key", subject: "s", name: "n", expires_in: 10 },
    { kind: "api_key", subject: "s", name: "n", expires_in: 600, expires_at: now() + 600 },
    { kind: "pat", subject: "s", name: "n", issuer: jwks.url }, // a PAT needs an expiry
    { kind: "api_key", subject: "s", name: "n", scopes: "read" },
    { kind: "pat", subject: "s", name: "n", expires_in: 600 }, // several issuers: name one
    { kind: "pat", subject: "s", name: "n", issuer: "https://unknown.example", expires_in: 600 },
  ];
  for (const [i, body] of bad.entries()) {
    // The last two depend on the configured issuers: the document cannot refuse them.
    await call("POST", "/keys", "/keys", { auth: adminAuth, body, expect: 400, refusedByDoc: i < bad.length - 2 });
  }
  await call("POST", "/keys", "/keys", { auth: adminAuth, rawBody: "not json", expect: 400 });
  await call("POST", "/keys", "/keys", { auth: "Bearer", body: { kind: "api_key", subject: "s", name: "n" }, expect: 400 });
  await call("POST", "/keys", "/keys", { body: { kind: "api_key", subject: "s", name: "n" }, expect: 401 });
  await call("POST", "/keys", "/keys", { auth: "Bearer not-the-admin-token", body: { kind: "api_key", subject: "s", name: "n" }, expect: 401 });
  await call("POST", "/keys", "/keys", { auth: userJwt(), body: { kind: "api_key", subject: "s", name: "n" }, expect: 403 });
  await call("POST", "/keys", "/keys", { auth: adminAuth, rawBody: "x".repeat(20000), expect: 413 });
  await call("POST", "/keys", "/keys", { on: disabledEdge, auth: adminAuth, body: { kind: "api_key", subject: "s", name: "n" }, expect: 404 });

  // The PAT cap (2 per principal) through the admin API.
  await call("POST", "/keys", "/keys", {
    auth: adminAuth,
    body: { kind: "pat", subject: "pat-owner", issuer: jwks.url, name: "second", expires_in: 3600 },
    expect: 201,
  });
  await call("POST", "/keys", "/keys", {
    auth: adminAuth,
    body: { kind: "pat", subject: "pat-owner", issuer: jwks.url, name: "third", expires_in: 3600 },
    expect: 409,
  });
  // A JWT whose issuer's keys cannot be fetched, with nothing cached.
  const stranger = `Bearer ${mint(userKey, claims(deadIssuer, AUD))}`;
  const unavailable = await call("POST", "/keys", "/keys", { auth: stranger, body: { kind: "api_key", subject: "s", name: "n" }, expect: 503 });
  assert.ok(unavailable.headers.get("retry-after"));
});

test("GET /keys: by subject, everything, filters and pages", async () => {
  for (const name of ["a", "b", "c"]) {
    await call("POST", "/keys", "/keys", { auth: adminAuth, body: { kind: "api_key", subject: "lister", name }, expect: 201 });
  }
  const bySubject = await call("GET", "/keys", "/keys?subject=lister", { auth: adminAuth, expect: 200 });
  assert.equal(bySubject.body.subject, "lister");
  assert.equal(bySubject.body.keys.length, 3);
  assert.equal(bySubject.body.cursor, undefined);
  const all = await call("GET", "/keys", "/keys?kind=api_key&status=active", { auth: adminAuth, expect: 200 });
  assert.equal(all.body.subject, undefined);
  assert.ok(all.body.keys.length >= 3);
  const pats = await call("GET", "/keys", `/keys?kind=pat&issuer=${encodeURIComponent(jwks.url)}`, { auth: adminAuth, expect: 200 });
  assert.ok(pats.body.keys.every((k) => k.kind === "pat" && k.issuer === jwks.url));
  // Page by page.
  let cursor;
  const ids = [];
  for (let i = 0; i < 10; i++) {
    const q = `/keys?subject=lister&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await call("GET", "/keys", q, { auth: adminAuth, expect: 200 });
    ids.push(...page.body.keys.map((k) => k.id));
    cursor = page.body.cursor;
    if (!cursor) break;
  }
  assert.equal(new Set(ids).size, 3);

  for (const q of ["limit=0", "limit=1001", "limit=x", "kind=cookie", "status=gone", "subject=", `cursor=${"c".repeat(1025)}`]) {
    await call("GET", "/keys", `/keys?${q}`, { auth: adminAuth, expect: 400 });
  }
  await call("GET", "/keys", "/keys", { expect: 401 });
  await call("GET", "/keys", "/keys", { auth: userJwt(), expect: 403 });
  await call("GET", "/keys", "/keys", { on: disabledEdge, auth: adminAuth, expect: 404 });
});

test("POST /keys/import: existing keys by hash, re-runs skip, a taken id refuses all", async () => {
  const hash = (n) => createHash("sha256").update(`openapi-import-${n}-${Date.now()}`).digest("hex");
  const keys = [
    { hash: hash(1), id: "key_openapi_import", kind: "api_key", subject: "imported", name: "old", scopes: ["read"] },
    { hash: hash(2), kind: "pat", subject: "user-1", issuer: jwks.url, name: "old pat", scopes: [], expires_at: now() + 600 },
  ];
  const first = await call("POST", "/keys/import", "/keys/import", { auth: adminAuth, body: { keys }, expect: 200 });
  assert.equal(first.body.imported, 2);
  const again = await call("POST", "/keys/import", "/keys/import", { auth: adminAuth, body: { keys }, expect: 200 });
  assert.equal(again.body.skipped, 2);
  await call("POST", "/keys/import", "/keys/import", { auth: adminAuth, body: { keys: [{ ...keys[0], hash: hash(3) }] }, expect: 409 });
  await call("POST", "/keys/import", "/keys/import", { auth: adminAuth, body: { keys: [{ hash: "ABC", kind: "api_key", subject: "x", name: "" }] }, expect: 400, refusedByDoc: true });
  await call("POST", "/keys/import", "/keys/import", { body: { keys }, expect: 401 });
  await call("POST", "/keys/import", "/keys/import", { auth: userJwt(), body: { keys }, expect: 403 });
});

test("GET and DELETE /keys/{id}, POST /keys/{id}/roll", async () => {
  const key = (await call("POST", "/keys", "/keys", { auth: adminAuth, body: { kind: "api_key", subject: "svc-roll", name: "r", scopes: ["read"], expires_in: 86400 }, expect: 201 })).body;
  const meta = await call("GET", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, expect: 200 });
  const renamed = await call("PATCH", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, body: { name: "renamed" }, expect: 200 });
  assert.equal(renamed.body.name, "renamed");
  await call("PATCH", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, body: { name: meta.body.name }, expect: 200 });
  await call("PATCH", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, body: {}, expect: 400, refusedByDoc: true });
  const refused = await call("PATCH", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, body: { credits: { remaining: -5 } }, expect: 400, refusedByDoc: true });
  assert.match(refused.body.detail, /"credits\.remaining"/);
  assert.deepEqual(meta.body.limits, []);
  assert.equal(meta.body.credits, null);
  await call("PATCH", "/keys/{id}", "/keys/key_missing000000000", { auth: adminAuth, body: { name: "x" }, expect: 404 });
  await call("PATCH", "/keys/{id}", `/keys/${key.id}`, { expect: 401, body: { name: "x" } });
  assert.equal(meta.body.status, "active");
  assert.equal(meta.body.last_used_at, null);
  // Used once, so last_used_at may be set (it is written after the response).
  await edge.fetch("/v1/x", { headers: { "x-api-key": key.token } });
  await call("GET", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, expect: 200 });

  const rolled = await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { auth: adminAuth, body: { grace_seconds: 600 }, expect: 201 });
  assert.equal(rolled.body.subject, "svc-roll");
  await call("POST", "/keys/{id}/roll", `/keys/${rolled.body.id}/roll`, { auth: adminAuth, expect: 201 }); // empty body
  await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { auth: adminAuth, body: { grace_seconds: 30 * 86400 + 1 }, expect: 400, refusedByDoc: true });
  await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { auth: adminAuth, body: { grace_seconds: 1, extra: 1 }, expect: 400, refusedByDoc: true });
  await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { auth: adminAuth, body: { grace_seconds: -1 }, expect: 400, refusedByDoc: true });
  await call("POST", "/keys/{id}/roll", "/keys/key_nope/roll", { auth: adminAuth, body: {}, expect: 404 });
  await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { auth: userJwt(), expect: 403 });
  await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { expect: 401 });

  await call("DELETE", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, expect: 204 });
  await call("DELETE", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, expect: 204 }); // again
  const revoked = await call("GET", "/keys/{id}", `/keys/${key.id}`, { auth: adminAuth, expect: 200 });
  assert.equal(revoked.body.status, "revoked");
  assert.equal(typeof revoked.body.revoked_at, "number");
  await call("POST", "/keys/{id}/roll", `/keys/${key.id}/roll`, { auth: adminAuth, expect: 409 });

  for (const id of ["key_doesnotexist00", "not!an-id", "x".repeat(65)]) {
    await call("GET", "/keys/{id}", `/keys/${id}`, { auth: adminAuth, expect: 404 });
    await call("DELETE", "/keys/{id}", `/keys/${id}`, { auth: adminAuth, expect: 404 });
  }
  await call("GET", "/keys/{id}", `/keys/${key.id}`, { expect: 401 });
  await call("DELETE", "/keys/{id}", `/keys/${key.id}`, { auth: userJwt(), expect: 403 });
  await call("GET", "/keys/{id}", `/keys/${key.id}`, { on: disabledEdge, auth: adminAuth, expect: 404 });
});

test("PATs: create, list, read and revoke one's own; never another principal's", async () => {
  const alice = userJwt("alice");
  const pat = await call("POST", "/pats", "/pats", { auth: alice, body: { name: "cli", scopes: ["read"], expires_in: 3600 }, expect: 201 });
  assert.equal(pat.body.kind, "pat");
  assert.equal(pat.body.subject, "alice");
  assert.equal(pat.body.issuer, jwks.url);
  await call("POST", "/pats", "/pats", { auth: alice, body: { name: "ci", expires_at: now() + 3600 }, expect: 201 });
  await call("POST", "/pats", "/pats", { auth: alice, body: { name: "third", expires_in: 3600 }, expect: 409 });

  for (const [body, refusedByDoc] of [
    [{ name: "x" }, true], // no expiry
    [{ name: "x", expires_in: null }, true],
    [{ name: "x", expires_in: 3600, subject: "bob" }, true], // unknown field
    [{ name: "x", expires_in: 100 * 86400 }, false], // beyond pat_max_lifetime_seconds (configured)
    [{ name: "x", expires_in: 3600, scopes: "read" }, true],
    [{ name: "x", expires_in: 30 }, true],
  ]) {
    await call("POST", "/pats", "/pats", { auth: userJwt("carol"), body, expect: 400, refusedByDoc });
  }
  await call("POST", "/pats", "/pats", { auth: userJwt("carol"), body: { name: "x", expires_in: 3600, scopes: ["admin"] }, expect: 403 });
  await call("POST", "/pats", "/pats", { auth: adminAuth, body: { name: "x", expires_in: 3600 }, expect: 403 });
  await call("POST", "/pats", "/pats", { auth: adminJwt(), body: { name: "x", expires_in: 3600 }, expect: 403 });
  await call("POST", "/pats", "/pats", { body: { name: "x", expires_in: 3600 }, expect: 401 });
  await call("POST", "/pats", "/pats", { auth: `Bearer ${mint(userKey, claims(jwks.url, "https://other.aud"))}`, body: { name: "x", expires_in: 3600 }, expect: 401 });
  await call("POST", "/pats", "/pats", { auth: userJwt("carol"), rawBody: "x".repeat(20000), expect: 413 });
  await call("POST", "/pats", "/pats", { auth: `Bearer ${mint(userKey, claims(deadIssuer, AUD))}`, body: { name: "x", expires_in: 3600 }, expect: 503 });

  const list = await call("GET", "/pats", "/pats", { auth: alice, expect: 200 });
  assert.equal(list.body.subject, "alice");
  assert.equal(list.body.keys.length, 2);
  const page = await call("GET", "/pats", "/pats?limit=1&status=active&subject=ignored&kind=api_key", { auth: alice, expect: 200 });
  assert.equal(page.body.subject, "alice");
  const empty = await call("GET", "/pats", "/pats", { auth: userJwt("nobody"), expect: 200 });
  assert.deepEqual(empty.body.keys, []);
  await call("GET", "/pats", "/pats?limit=abc", { auth: alice, expect: 400 });
  await call("GET", "/pats", "/pats", { expect: 401 });
  await call("GET", "/pats", "/pats", { auth: adminAuth, expect: 403 });

  await call("GET", "/pats/{id}", `/pats/${pat.body.id}`, { auth: alice, expect: 200 });
  await call("GET", "/pats/{id}", `/pats/${pat.body.id}`, { auth: userJwt("bob"), expect: 404 });
  await call("GET", "/pats/{id}", `/pats/${pat.body.id}`, { auth: adminAuth, expect: 403 });
  await call("GET", "/pats/{id}", `/pats/${pat.body.id}`, { expect: 401 });
  await call("DELETE", "/pats/{id}", `/pats/${pat.body.id}`, { auth: userJwt("bob"), expect: 404 });
  await call("DELETE", "/pats/{id}", `/pats/${pat.body.id}`, { auth: alice, expect: 204 });
  const gone = await call("GET", "/pats/{id}", `/pats/${pat.body.id}`, { auth: alice, expect: 200 });
  assert.equal(gone.body.status, "revoked");
  await call("DELETE", "/pats/{id}", "/pats/key_nope", { auth: alice, expect: 404 });
  await call("DELETE", "/pats/{id}", `/pats/${pat.body.id}`, { auth: adminAuth, expect: 403 });
});

test("the state tier: health says AUTH_STATE is bound and shows the revocation view; without it, bound is false", async () => {
  const bound = await call("GET", "/health", "/health", { on: stateEdge, expect: 200 });
  assert.equal(bound.body.state.bound, true);
  const view = bound.body.state.view;
  assert.equal(view.on_stale, "refuse");
  assert.equal(view.max_staleness_seconds, 5);
  assert.equal(view.overflow, false);
  assert.equal(view.last_error, null);
  // Health refreshes a view that is due before answering: it has been fetched, and just now.
  assert.equal(typeof view.age_ms, "number");
  assert.ok(view.age_ms <= 5000, `age_ms ${view.age_ms}`);
  assert.equal(bound.body.status, "ok");
  assert.ok(!bound.body.problems.some((p) => p.dependency === "state"));

  const plain = await call("GET", "/health", "/health", { expect: 200 });
  assert.deepEqual(plain.body.state, { bound: false });
});

test("GET /keys?name_prefix: only keys whose name starts with it, by subject or across all keys", async () => {
  for (const name of ["ci-one", "ci-two", "laptop"]) {
    await call("POST", "/keys", "/keys", { on: stateEdge, auth: adminAuth, body: { kind: "api_key", subject: "prefixed", name }, expect: 201 });
  }
  const bySubject = await call("GET", "/keys", "/keys?subject=prefixed&name_prefix=ci-", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.deepEqual(bySubject.body.keys.map((k) => k.name).sort(), ["ci-one", "ci-two"]);
  const everywhere = await call("GET", "/keys", "/keys?name_prefix=ci-t&kind=api_key", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.deepEqual(everywhere.body.keys.map((k) => `${k.subject}/${k.name}`), ["prefixed/ci-two"]);
  const none = await call("GET", "/keys", `/keys?subject=prefixed&name_prefix=${encodeURIComponent("CI-")}`, { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.deepEqual(none.body.keys, [], "the prefix is case-sensitive");
  const empty = await call("GET", "/keys", "/keys?subject=prefixed&name_prefix=", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.equal(empty.body.keys.length, 3, "an empty prefix filters nothing");
  // Without the state tier too (KV directly).
  await call("POST", "/keys", "/keys", { auth: adminAuth, body: { kind: "api_key", subject: "prefixed-kv", name: "ci-kv" }, expect: 201 });
  await call("POST", "/keys", "/keys", { auth: adminAuth, body: { kind: "api_key", subject: "prefixed-kv", name: "other" }, expect: 201 });
  const kv = await call("GET", "/keys", "/keys?subject=prefixed-kv&name_prefix=ci", { auth: adminAuth, expect: 200 });
  assert.deepEqual(kv.body.keys.map((k) => k.name), ["ci-kv"]);
  await call("GET", "/keys", "/keys?name_prefix=ci&limit=0", { on: stateEdge, auth: adminAuth, expect: 400 });
});

test("POST /principals/revoke: every key and PAT of the principal; 500 state_not_bound without AUTH_STATE", async () => {
  const apiKey = (await call("POST", "/keys", "/keys", { on: stateEdge, auth: adminAuth, body: { kind: "api_key", subject: "leaver", name: "k" }, expect: 201 })).body;
  const pat = (await call("POST", "/pats", "/pats", { on: stateEdge, auth: userJwt("leaver"), body: { name: "cli", expires_in: 3600 }, expect: 201 })).body;
  assert.equal((await stateEdge.fetch("/v1/x", { headers: { "x-api-key": apiKey.token } })).status, 200);

  // Without issuer: the admin's API keys of the subject (not the PAT, whose principal has one).
  const keys = await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: adminAuth, body: { subject: "leaver" }, expect: 200 });
  assert.equal(keys.body.issuer, null);
  assert.equal(keys.body.subject, "leaver");
  assert.deepEqual(keys.body.revoked_keys, [apiKey.id]);
  assert.ok(Math.abs(keys.body.before - now()) <= 5, "before defaults to now");
  assert.equal((await stateEdge.fetch("/v1/x", { headers: { "x-api-key": apiKey.token } })).status, 401);
  // With the issuer, by an admin-scoped JWT, and an explicit cut-off: the PAT.
  const before = now();
  const pats = await call("POST", "/principals/revoke", "/principals/revoke", {
    on: stateEdge,
    auth: adminJwt(),
    body: { issuer: jwks.url, subject: "leaver", before },
    expect: 200,
  });
  assert.deepEqual(pats.body, { issuer: jwks.url, subject: "leaver", before, revoked_keys: [pat.id] });
  // Again: nothing left to revoke.
  const again = await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: adminAuth, body: { issuer: jwks.url, subject: "leaver", before: null }, expect: 200 });
  assert.deepEqual(again.body.revoked_keys, []);

  for (const [body, refusedByDoc] of [
    [{}, true],
    [{ subject: "" }, true],
    [{ subject: "x", admin: true }, true], // unknown field
    [{ subject: "x", before: -1 }, true],
    [{ subject: "x", before: "yesterday" }, true],
    [{ subject: 7 }, true],
    [{ subject: "x", issuer: "" }, true],
    [{ subject: "x", before: now() + 3600 }, false], // in the future: the code's rule
    [{ subject: "x", issuer: "https://unknown.example" }, false], // not a configured issuer
  ]) {
    await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: adminAuth, body, expect: 400, refusedByDoc });
  }
  await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: adminAuth, rawBody: "not json", expect: 400 });
  await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, body: { subject: "x" }, expect: 401 });
  await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: "Bearer not-the-admin-token", body: { subject: "x" }, expect: 401 });
  await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: userJwt(), body: { subject: "x" }, expect: 403 });
  await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: adminAuth, rawBody: "x".repeat(20000), expect: 413 });
  const stranger = `Bearer ${mint(userKey, claims(deadIssuer, AUD))}`;
  const unavailable = await call("POST", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: stranger, body: { subject: "x" }, expect: 503 });
  assert.ok(unavailable.headers.get("retry-after"));
  await call("POST", "/principals/revoke", "/principals/revoke", { on: disabledEdge, auth: adminAuth, body: { subject: "x" }, expect: 404 });

  // A plain edge (no AUTH_STATE): 500 state_not_bound, naming the binding; nothing revoked.
  const kvKey = (await call("POST", "/keys", "/keys", { auth: adminAuth, body: { kind: "api_key", subject: "stays", name: "k" }, expect: 201 })).body;
  const notBound = await call("POST", "/principals/revoke", "/principals/revoke", { auth: adminAuth, body: { subject: "stays" }, expect: 500 });
  assert.equal(notBound.body.title, "Configuration error");
  assert.match(notBound.body.detail, /AUTH_STATE is not bound/);
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": kvKey.token } })).status, 200);
  // The caller is still checked first.
  await call("POST", "/principals/revoke", "/principals/revoke", { body: { subject: "stays" }, expect: 401 });
  await call("POST", "/principals/revoke", "/principals/revoke", { auth: userJwt(), body: { subject: "stays" }, expect: 403 });
});

test("POST /tokens/revoke: one JWT until its exp; an expired one records nothing; 500 without AUTH_STATE", async () => {
  const exp = now() + 600;
  const revoked = await call("POST", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, auth: adminAuth, body: { issuer: jwks.url, jti: "openapi-jti-1", exp }, expect: 200 });
  assert.deepEqual(revoked.body, { issuer: jwks.url, jti: "openapi-jti-1", exp, already_expired: false });
  const expired = await call("POST", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, auth: adminJwt(), body: { issuer: jwks.url, jti: "openapi-jti-2", exp: now() - 400 }, expect: 200 });
  // Past exp + 300 s (the largest leeway): no token can verify any more.
  assert.equal(expired.body.already_expired, true);
  const inLeeway = await call("POST", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, auth: adminAuth, body: { issuer: jwks.url, jti: "openapi-jti-3", exp: now() - 10 }, expect: 200 });
  assert.equal(inLeeway.body.already_expired, false, "within the leeway a token still verifies: recorded");

  for (const [body, refusedByDoc] of [
    [{ issuer: jwks.url, jti: "j" }, true], // no exp
    [{ issuer: jwks.url, exp }, true], // no jti
    [{ jti: "j", exp }, true], // no issuer
    [{ issuer: jwks.url, jti: "", exp }, true],
    [{ issuer: jwks.url, jti: "j", exp: "soon" }, true],
    [{ issuer: jwks.url, jti: "j", exp: -1 }, true],
    [{ issuer: jwks.url, jti: "j", exp, sub: "alice" }, true], // unknown field
    [{ issuer: jwks.url, jti: "j".repeat(257), exp }, true],
    [{ issuer: jwks.url, jti: "j", exp: now() + 400 * 86400 }, false], // over a year away
    [{ issuer: "https://unknown.example", jti: "j", exp }, false], // not a configured issuer
  ]) {
    await call("POST", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, auth: adminAuth, body, expect: 400, refusedByDoc });
  }
  await call("POST", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, body: { issuer: jwks.url, jti: "j", exp }, expect: 401 });
  await call("POST", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, auth: userJwt(), body: { issuer: jwks.url, jti: "j", exp }, expect: 403 });
  await call("POST", "/tokens/revoke", "/tokens/revoke", { on: disabledEdge, auth: adminAuth, body: { issuer: jwks.url, jti: "j", exp }, expect: 404 });
  const notBound = await call("POST", "/tokens/revoke", "/tokens/revoke", { auth: adminAuth, body: { issuer: jwks.url, jti: "j", exp }, expect: 500 });
  assert.match(notBound.body.detail, /AUTH_STATE is not bound/);
});

test("GET /audit: newest first, page by page; the admin sees every event, a user those of their own PATs", async () => {
  const marker = (await call("POST", "/keys", "/keys", { on: stateEdge, auth: adminAuth, body: { kind: "api_key", subject: "audited", name: "m" }, headers: { "cf-connecting-ip": "203.0.113.7" }, expect: 201 })).body;
  const first = await call("GET", "/audit", "/audit?limit=2", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.equal(first.body.events.length, 2);
  const [newest] = first.body.events;
  assert.equal(newest.action, "key.create");
  assert.equal(newest.key_id, marker.id);
  assert.equal(newest.kind, "api_key");
  assert.equal(newest.subject, "audited");
  assert.deepEqual(newest.actor, { type: "admin_token" });
  assert.equal(newest.ip, "203.0.113.7");
  assert.equal(typeof newest.request_id, "string");
  assert.ok(first.body.cursor, "more pages follow");

  // Every page, through the cursor: no event twice, newest first, ending without a cursor.
  const events = [...first.body.events];
  let cursor = first.body.cursor;
  for (let i = 0; cursor && i < 100; i++) {
    const page = await call("GET", "/audit", `/audit?limit=7&cursor=${encodeURIComponent(cursor)}`, { on: stateEdge, auth: adminAuth, expect: 200 });
    assert.ok(page.body.events.length <= 7);
    events.push(...page.body.events);
    cursor = page.body.cursor;
  }
  assert.equal(cursor, undefined, "the last page has no cursor");
  for (let i = 1; i < events.length; i++) assert.ok(events[i - 1].time >= events[i].time, "newest first");
  assert.equal(new Set(events.map((e) => e.request_id + e.action + (e.key_id ?? ""))).size, events.length, "no event twice");
  const actions = new Set(events.map((e) => e.action));
  for (const a of ["key.create", "pat.create", "principal.revoke", "token.revoke"]) assert.ok(actions.has(a), `${a} is in the log`);
  // The principal revoked by an admin-scoped JWT: that actor, and the PAT it revoked.
  const principal = events.find((e) => e.action === "principal.revoke" && e.actor.type === "admin_jwt");
  assert.ok(principal, "principal.revoke by the admin JWT is in the log");
  assert.deepEqual(principal.actor, { type: "admin_jwt", issuer: jwks.url, subject: "ops" });
  assert.equal(principal.issuer, jwks.url);
  assert.equal(principal.subject, "leaver");
  assert.equal(principal.detail.revoked_keys.length, 1);
  const tokens = events.filter((e) => e.action === "token.revoke").map((e) => e.detail.jti);
  assert.ok(tokens.includes("openapi-jti-1"));
  assert.ok(!tokens.includes("openapi-jti-2"), "an already expired token records nothing");

  // A user: the events of their own PATs only.
  const pat = (await call("POST", "/pats", "/pats", { on: stateEdge, auth: userJwt("auditee"), body: { name: "cli", expires_in: 3600 }, expect: 201 })).body;
  await call("DELETE", "/pats/{id}", `/pats/${pat.id}`, { on: stateEdge, auth: userJwt("auditee"), expect: 204 });
  const own = await call("GET", "/audit", "/audit", { on: stateEdge, auth: userJwt("auditee"), expect: 200 });
  assert.deepEqual(own.body.events.map((e) => e.action), ["pat.revoke", "pat.create"]);
  for (const e of own.body.events) {
    assert.equal(e.key_id, pat.id);
    assert.deepEqual(e.actor, { type: "user", issuer: jwks.url, subject: "auditee" });
  }
  const nobody = await call("GET", "/audit", "/audit", { on: stateEdge, auth: userJwt("nobody-audited"), expect: 200 });
  assert.deepEqual(nobody.body, { events: [] });

  // A failed admin authentication is audited (at most once per isolate every 10 s, in the background).
  await call("GET", "/audit", "/audit", { on: stateEdge, auth: "Bearer not-the-admin-token", expect: 401 });
  let failed;
  for (let i = 0; i < 50 && !failed; i++) {
    const page = await call("GET", "/audit", "/audit?limit=100", { on: stateEdge, auth: adminAuth, expect: 200 });
    failed = page.body.events.find((e) => e.action === "admin.auth_failed");
    if (!failed) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(failed, "admin.auth_failed is in the log");
  assert.deepEqual(failed.actor, { type: "anonymous" });
  assert.equal(typeof failed.detail.count, "number");

  for (const q of ["limit=0", "limit=1001", "limit=x", "cursor=abc", "cursor=-1"]) {
    await call("GET", "/audit", `/audit?${q}`, { on: stateEdge, auth: adminAuth, expect: 400 });
  }
  await call("GET", "/audit", "/audit", { on: stateEdge, expect: 401 });
  await call("GET", "/audit", "/audit", { on: disabledEdge, auth: adminAuth, expect: 404 });
  const notBound = await call("GET", "/audit", "/audit", { auth: adminAuth, expect: 500 });
  assert.match(notBound.body.detail, /AUTH_STATE is not bound/);
});

test("keys/adopt copies KV's records into the authority in steps; 500 without the state tier", async () => {
  const first = await call("POST", "/keys/adopt", "/keys/adopt", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.equal(typeof first.body.copied, "number");
  const again = await call("POST", "/keys/adopt", "/keys/adopt", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.equal(again.body.copied, 0, "a second run copies nothing");
  await call("POST", "/keys/adopt", "/keys/adopt", { on: stateEdge, expect: 401 });
  await call("POST", "/keys/adopt", "/keys/adopt", { on: stateEdge, auth: userJwt(), expect: 403 });
  const notBound = await call("POST", "/keys/adopt", "/keys/adopt", { auth: adminAuth, expect: 500 });
  assert.match(notBound.body.detail, /AUTH_STATE is not bound/);
  await call("POST", "/keys/adopt", "/keys/adopt", { on: disabledEdge, auth: adminAuth, expect: 404 });
});

test("limits and credits: created, read, changed and removed; GET /keys/{id}/usage live from the counters", async () => {
  const hourly = { name: "hourly", limit: 100, period_seconds: 3600, by: "key" };
  const daily = { name: "daily", limit: 1000, period_seconds: 86400, by: "principal", cost: 2, window: "sliding", strict: true, on_unavailable: "local" };
  const credits = { remaining: 50, refill: { amount: 50, every_seconds: 3600 } };
  const created = await call("POST", "/keys", "/keys", { on: stateEdge, auth: adminAuth, body: { kind: "api_key", subject: "metered", name: "m", limits: [hourly, daily], credits }, expect: 201 });
  const id = created.body.id;
  const meta = await call("GET", "/keys/{id}", `/keys/${id}`, { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.deepEqual(meta.body.limits, [hourly, daily]);
  assert.equal(meta.body.credits.remaining, 50);
  assert.deepEqual(meta.body.credits.refill, credits.refill);
  assert.ok(Math.abs(meta.body.credits.set_at - Date.now()) < 60_000, "set_at is Unix milliseconds");
  // In a listing too.
  const listed = await call("GET", "/keys", "/keys?subject=metered", { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.deepEqual(listed.body.keys[0].limits, [hourly, daily]);

  // Before any request: no counter yet, the balance as set.
  const fresh = await call("GET", "/keys/{id}/usage", `/keys/${id}/usage`, { on: stateEdge, auth: adminAuth, expect: 200 });
  assert.equal(fresh.body.id, id);
  assert.equal(fresh.body.last_used_at, null);
  for (let i = 0; i < 3; i++) assert.equal((await stateEdge.fetch("/v1/x", { headers: { "x-api-key": created.body.token } })).status, 200);
  const used = await call("GET", "/keys/{id}/usage", `/keys/${id}/usage`, { on: stateEdge, auth: adminAuth, expect: 200 });
  const byName = Object.fromEntries(used.body.limits.map((l) => [l.name, l]));
  assert.equal(byName.hourly.by, "key");
  assert.equal(byName.hourly.limit, 100);
  assert.ok(byName.hourly.used >= 3, "at least what was spent (leases may hold more)");
  assert.equal(byName.hourly.remaining, 100 - byName.hourly.used);
  assert.equal(byName.daily.by, "principal");
  assert.equal(byName.daily.window, "sliding");
  assert.ok(used.body.credits.remaining <= 47, "three requests took at least 3 (spent or leased)");
  assert.ok(used.body.credits.remaining + used.body.credits.leased <= 50);
  assert.deepEqual(used.body.credits.refill, credits.refill);
  assert.equal(typeof used.body.credits.next_refill_at, "number");
  assert.equal(typeof used.body.last_used_at, "number");

  // PATCH: new limits, new credits (the balance starts over), then both removed.
  const patched = await call("PATCH", "/keys/{id}", `/keys/${id}`, { on: stateEdge, auth: adminAuth, body: { limits: [{ ...hourly, limit: 10 }], credits: { remaining: 5 } }, expect: 200 });
  assert.deepEqual(patched.body.limits, [{ ...hourly, limit: 10 }]);
  assert.equal(patched.body.credits.remaining, 5);
  assert.equal(patched.body.credits.refill, undefined);
  assert.ok(patched.body.credits.set_at >= meta.body.credits.set_at);
  const balance = await call("GET", "/keys/{id}/usage", `/keys/${id}/usage`, { on: stateEdge, auth: adminAuth, expect: 200 });
  // The balance starts over from 5; units isolates still hold on lease from before count against it.
  assert.ok(balance.body.credits.remaining <= 5, JSON.stringify(balance.body));
  const cleared = await call("PATCH", "/keys/{id}", `/keys/${id}`, { on: stateEdge, auth: adminAuth, body: { limits: null, credits: null }, expect: 200 });
  assert.deepEqual(cleared.body.limits, []);
  assert.equal(cleared.body.credits, null);
  await call("PATCH", "/keys/{id}", `/keys/${id}`, { on: stateEdge, auth: adminAuth, body: { limits: [hourly] }, expect: 200 });
  const empty = await call("PATCH", "/keys/{id}", `/keys/${id}`, { on: stateEdge, auth: adminAuth, body: { limits: [] }, expect: 200 });
  assert.deepEqual(empty.body.limits, []);

  // Refusals name the field.
  const bad = [
    [{ limits: [{ ...hourly, period_seconds: 0 }] }, true, /"limits\[0\]\.period_seconds" must be between 1 and 31536000\./],
    [{ limits: [hourly, { ...hourly, name: "bad name" }] }, true, /"limits\[1\]\.name"/],
    [{ limits: [{ ...hourly, limit: 0 }] }, true, /"limits\[0\]\.limit"/],
    [{ limits: [{ ...hourly, by: "tenant" }] }, true, /limits\[0\]\.by/],
    [{ limits: [{ ...hourly, burst: 3 }] }, true, /burst/],
    [{ limits: [{ ...hourly, cost: 0 }] }, true, /"limits\[0\]\.cost"/],
    [{ limits: Array.from({ length: 9 }, (_, i) => ({ ...hourly, name: `l${i}` })) }, true, /at most 8/],
    [{ limits: [hourly, hourly] }, false, /unique/], // duplicate names: the code's rule
    [{ limits: [{ ...hourly, limit: 5, cost: 6 }] }, false, /"limits\[0\]\.cost"/], // cost over the limit
    [{ credits: { remaining: 1e13 } }, true, /"credits\.remaining"/],
    [{ credits: { remaining: 1, refill: { amount: 1, every_seconds: 5 } } }, true, /"credits\.refill\.every_seconds"/],
    [{ credits: { remaining: 1, refill: { amount: 0, every_seconds: 60 } } }, true, /"credits\.refill\.amount"/],
    [{ credits: { remaining: 1, set_at: 5 } }, true, /set_at/],
  ];
  for (const [body, refusedByDoc, detail] of bad) {
    const r = await call("PATCH", "/keys/{id}", `/keys/${id}`, { on: stateEdge, auth: adminAuth, body, expect: 400, refusedByDoc });
    assert.match(r.body.detail, detail);
    const c = await call("POST", "/keys", "/keys", { on: stateEdge, auth: adminAuth, body: { kind: "api_key", subject: "metered", name: "bad", ...body }, expect: 400, refusedByDoc });
    assert.match(c.body.detail, detail);
  }

  await call("GET", "/keys/{id}/usage", "/keys/key_doesnotexist00/usage", { on: stateEdge, auth: adminAuth, expect: 404 });
  await call("GET", "/keys/{id}/usage", "/keys/not!an-id/usage", { on: stateEdge, auth: adminAuth, expect: 404 });
  await call("GET", "/keys/{id}/usage", `/keys/${id}/usage`, { on: stateEdge, expect: 401 });
  await call("GET", "/keys/{id}/usage", `/keys/${id}/usage`, { on: stateEdge, auth: userJwt(), expect: 403 });
  await call("GET", "/keys/{id}/usage", `/keys/${id}/usage`, { on: disabledEdge, auth: adminAuth, expect: 404 });
  // Without the state tier there are no counters.
  const kvKey = (await call("POST", "/keys", "/keys", { auth: adminAuth, body: { kind: "api_key", subject: "metered-kv", name: "k", limits: [hourly], credits: { remaining: 3 } }, expect: 201 })).body;
  const kvMeta = await call("GET", "/keys/{id}", `/keys/${kvKey.id}`, { auth: adminAuth, expect: 200 });
  assert.deepEqual(kvMeta.body.limits, [hourly]);
  const notBound = await call("GET", "/keys/{id}/usage", `/keys/${kvKey.id}/usage`, { auth: adminAuth, expect: 500 });
  assert.match(notBound.body.detail, /AUTH_STATE is not bound/);
});

test("methods a path does not document are 405 for an allowed caller", async () => {
  await call("PUT", "/keys", "/keys", { auth: adminAuth, expect: 405 });
  await call("PUT", "/keys/{id}", "/keys/key_x", { auth: adminAuth, expect: 405 });
  await call("GET", "/keys/{id}/roll", "/keys/key_x/roll", { auth: adminAuth, expect: 405 });
  await call("PUT", "/keys/{id}/usage", "/keys/key_x/usage", { on: stateEdge, auth: adminAuth, expect: 405 });
  await call("PUT", "/pats", "/pats", { auth: userJwt(), expect: 405 });
  await call("POST", "/pats/{id}", "/pats/key_x", { auth: userJwt(), expect: 405 });
  await call("GET", "/principals/revoke", "/principals/revoke", { on: stateEdge, auth: adminAuth, expect: 405 });
  await call("PUT", "/tokens/revoke", "/tokens/revoke", { on: stateEdge, auth: adminAuth, expect: 405 });
  await call("POST", "/audit", "/audit", { on: stateEdge, auth: adminAuth, expect: 405 });
  await call("DELETE", "/audit", "/audit", { on: stateEdge, auth: userJwt(), expect: 405 });
});

test("every operation was exercised with a success and an error", () => {
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "put", "post", "delete", "patch"]) {
      if (!item[method]) continue;
      const statuses = [...(seen.get(`${method.toUpperCase()} ${template}`) ?? [])];
      assert.ok(statuses.some((s) => s < 300), `${method} ${template}: no success seen (${statuses})`);
      assert.ok(statuses.some((s) => s >= 400), `${method} ${template}: no error seen (${statuses})`);
    }
  }
});
