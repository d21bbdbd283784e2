// JWKS and discovery documents are bounded in bytes, counted after content decoding, and not in
// keys: a gzip bomb is cut off at the cap (and its connection cancelled), a declared
// Content-Length over the cap is refused without reading, and every key of a large set is usable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { once } from "node:events";
import { createGzip, gzipSync, constants as zlib } from "node:zlib";
import { startOrigin, startEdge, baseConfig } from "../support/harness.mjs";
import { makeKey, mint, claims } from "../support/tokens.mjs";

const AUD = "https://api.test";
/** The core's MAX_DOCUMENT_BYTES (src/jwks/mod.rs). */
const CAP = 256 * 1024;
const MiB = 1024 * 1024;
const FETCH_TIMEOUT_MS = 8000;

/** A loopback document server: `handler(req, res, record)` answers; each request is recorded. */
async function startServer(handler) {
  const requests = [];
  const server = createServer((req, res) => {
    const record = { url: req.url, closed: false, finished: false, decodedWritten: 0 };
    requests.push(record);
    res.on("close", () => {
      record.closed = true;
      record.finished = res.writableFinished;
    });
    handler(req, res, record);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(predicate, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await sleep(10);
  return predicate();
}

/**
 * A gzip body that decodes to `{"keys":[` + `total` bytes of spaces + `]}`, sent 1 MiB (decoded)
 * at a time, flushed, every `paceMs`: about 1 KiB on the wire per MiB. Stops when the client goes.
 */
async function sendGzipBomb(res, record, total, paceMs) {
  const gzip = createGzip();
  gzip.pipe(res);
  const spaces = Buffer.alloc(MiB, 0x20);
  gzip.write('{"keys":[');
  while (record.decodedWritten < total && !record.closed) {
    if (!gzip.write(spaces)) await once(gzip, "drain");
    record.decodedWritten += spaces.length;
    await new Promise((r) => gzip.flush(zlib.Z_SYNC_FLUSH, r));
    await sleep(paceMs);
  }
  if (!record.closed) gzip.end("]}");
}

let origin, edge, bomb, declared, many, gzipped, discovery;
let manyKeys, gzKey, bombKey, declaredKey, discoveryKey;

before(async () => {
  origin = await startOrigin();
  bombKey = makeKey("EdDSA", "bomb");
  declaredKey = makeKey("EdDSA", "declared");
  discoveryKey = makeKey("EdDSA", "discovery");
  manyKeys = Array.from({ length: 100 }, (_, i) => makeKey("EdDSA", `key-${i + 1}`));
  gzKey = makeKey("EdDSA", "gz");

  // (a) 20 MiB of whitespace inside JSON, gzip-compressed (~20 KiB on the wire), over ~4 s.
  bomb = await startServer((req, res, record) => {
    res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
    sendGzipBomb(res, record, 20 * MiB, 200).catch(() => {});
  });
  // (b) Declares 10 MiB, sends the headers and then nothing: reading would hang until the timeout.
  declared = await startServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": String(10 * MiB) });
    res.flushHeaders();
  });
  // (c) 100 keys; tokens are signed by the 100th.
  many = await startServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
    res.end(JSON.stringify({ keys: manyKeys.map((k) => k.jwk) }));
  });
  // (d) An ordinary JWKS, gzip-compressed: decoded, within the cap, usable.
  gzipped = await startServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
    res.end(gzipSync(JSON.stringify({ keys: [gzKey.jwk] })));
  });
  // (e) A discovery document declared over the cap.
  discovery = await startServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": String(CAP + 1) });
    res.flushHeaders();
  });

  const issuer = (server, extra = {}) => ({
    issuer: server.url,
    jwks_uri: `${server.url}/jwks.json`,
    audiences: [AUD],
    algorithms: ["EdDSA"],
    ...extra,
  });
  const { jwks_uri: _, ...discoveryIssuer } = issuer(discovery, { discovery: true });
  edge = await startEdge({
    config: baseConfig(origin.url, {
      issuers: [issuer(bomb), issuer(declared), issuer(many), issuer(gzipped), discoveryIssuer],
      jwks: { fetch_timeout_ms: FETCH_TIMEOUT_MS },
    }),
  });
  // Warm the isolate so the timings below measure the document fetch, not the wasm start.
  assert.equal((await edge.fetch("/health")).status, 200);
});

after(async () => {
  await edge?.close();
  for (const s of [bomb, declared, many, gzipped, discovery, origin]) await s?.close();
});

const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });

async function timed(issuerUrl, key) {
  const started = performance.now();
  const res = await edge.fetch("/v1/things", bearer(mint(key, claims(issuerUrl, AUD))));
  const elapsed = performance.now() - started;
  const body = await res.text();
  return { res, body, elapsed };
}

const logged = (reason) => until(() => edge.logs.some((l) => l.includes(`"reason":"${reason}"`)), 2000);

test("(a) a gzip body that decodes to far over the cap: 503 at once, the stream cancelled", async (t) => {
  const forwarded = origin.requests.length;
  const { res, body, elapsed } = await timed(bomb.url, bombKey);
  assert.equal(res.status, 503, body);
  assert.match(res.headers.get("retry-after"), /^\d+$/);
  assert.equal(JSON.parse(body).status, 503);
  assert.equal(origin.requests.length, forwarded, "nothing forwarded");
  // The whole body takes ~4 s to send (20 MiB decoded at 1 MiB per 200 ms): answering well
  // before that means the edge stopped reading at the cap instead of inflating everything.
  assert.ok(elapsed < 2000, `answered in ${elapsed.toFixed(0)} ms`);
  const record = bomb.requests.at(-1);
  const answered = performance.now();
  assert.ok(await until(() => record.closed), "the server saw the connection closed");
  const closedAfter = performance.now() - answered;
  assert.equal(record.finished, false, "the body was not sent to the end");
  assert.ok(record.decodedWritten < 20 * MiB, `${record.decodedWritten} decoded bytes sent`);
  assert.ok(await logged("jwks_too_large"), "the log names the reason");
  t.diagnostic(`gzip bomb: 503 in ${elapsed.toFixed(0)} ms, connection closed ${closedAfter.toFixed(0)} ms later; server stopped after ${record.decodedWritten / MiB} MiB decoded of 20`);
});

test("(b) a declared Content-Length over the cap is refused without reading the body", async (t) => {
  const forwarded = origin.requests.length;
  const { res, body, elapsed } = await timed(declared.url, declaredKey);
  assert.equal(res.status, 503, body);
  assert.equal(origin.requests.length, forwarded);
  // The server never sends the body: reading it would last until the fetch timeout.
  assert.ok(elapsed < FETCH_TIMEOUT_MS / 2, `answered in ${elapsed.toFixed(0)} ms`);
  const record = declared.requests.at(-1);
  const answered = performance.now();
  assert.ok(await until(() => record.closed), "the server saw the connection closed");
  const closedAfter = performance.now() - answered;
  assert.ok(await logged("jwks_too_large"));
  t.diagnostic(`declared length: 503 in ${elapsed.toFixed(0)} ms, connection closed ${closedAfter.toFixed(0)} ms later`);
});

test("(c) a token signed by the 100th key of a 100-key JWKS is forwarded", async () => {
  const last = manyKeys.at(-1);
  assert.equal(last.kid, "key-100");
  const { res, body } = await timed(many.url, last);
  assert.equal(res.status, 200, body);
  const seen = JSON.parse(body);
  assert.equal(seen.headers["x-auth-type"], "jwt");
  assert.equal(seen.headers["x-auth-issuer"], many.url);
  // The others are as usable, from the same fetch.
  assert.equal((await timed(many.url, manyKeys[64])).res.status, 200);
  assert.equal((await timed(many.url, manyKeys[0])).res.status, 200);
  assert.equal(many.requests.length, 1);
});

test("(d) a gzip-compressed JWKS within the cap is decoded and used", async () => {
  const { res, body } = await timed(gzipped.url, gzKey);
  assert.equal(res.status, 200, body);
});

test("(e) a discovery document declared over the cap is a failed fetch: 503, no JWKS fetched", async () => {
  const { res, body, elapsed } = await timed(discovery.url, discoveryKey);
  assert.equal(res.status, 503, body);
  assert.ok(elapsed < FETCH_TIMEOUT_MS / 2, `answered in ${elapsed.toFixed(0)} ms`);
  assert.deepEqual(discovery.requests.map((r) => r.url), ["/.well-known/openid-configuration"]);
  assert.ok(await logged("discovery_too_large"));
});
