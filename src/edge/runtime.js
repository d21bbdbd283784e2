// Runtime plumbing for src/edge, imported by the wasm through wasm-bindgen. No policy: these
// functions move a request's facts into Rust and carry out a forward the core has decided, each
// in one boundary crossing instead of a dozen (every crossing costs string decoding and glue),
// and read bodies (admin requests, fetched documents) with a byte cap.

/**
 * The facts the core decides on, as one JSON array: method, URL, then each header's name and
 * value (names lowercase, as `Headers` yields them). The same pass notes, for `send`, which
 * names the runtime cannot send and which are the client's own `x-auth-*` (`noted`).
 */
export function requestFacts(request) {
  const facts = [request.method, request.url];
  let note = PLAIN;
  for (const [name, value] of request.headers) {
    facts.push(name, value);
    note = noteName(note, name);
  }
  noted.set(request, note);
  return JSON.stringify(facts);
}

/**
 * What `requestFacts` saw of a request's header names, kept for `send` so that the names are not
 * walked twice (a walk costs a JS string per name: ~2.4 µs of a public request's ~55 µs,
 * in-isolate microbenchmark 2026-12-02). Keyed by the request, so a request `requestFacts` never
 * saw is walked by `send` itself. `PLAIN`: every name sendable, none reserved.
 */
const noted = new WeakMap();
const PLAIN = Object.freeze({ reserved: null, unsendable: false });

/** `note` with `name` added: a name the runtime cannot send, or a client `x-auth-*` name. The
 *  usual name changes nothing and allocates nothing (`PLAIN` stays shared). */
function noteName(note, name) {
  const sendable = TOKEN.test(name);
  if (sendable && !RESERVED.test(name)) return note;
  const out = note === PLAIN ? { reserved: null, unsendable: false } : note;
  if (!sendable) out.unsendable = true;
  else (out.reserved ??= []).push(name);
  return out;
}

/** Walks `headers`' names as `requestFacts` does. */
function noteNames(headers) {
  let note = PLAIN;
  for (const name of headers.keys()) note = noteName(note, name);
  return note;
}

/** A header name the edge owns: `x-auth-` in any case, `_` read as `-`. */
const RESERVED = /^x[-_]auth[-_]/i;

/** RFC 9110 `token`: the header names the runtime can send. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The `error` given to `onError` when the assertion could not be signed. */
const SIGNING_FAILED = "assertion_signing_failed";

const encoder = new TextEncoder();

function base64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The assertion key (a private Ed25519 JWK as JSON) as a promise of a signing `CryptoKey`. */
export function importAssertionKey(jwk) {
  return crypto.subtle.importKey("jwk", JSON.parse(jwk), { name: "Ed25519" }, false, ["sign"]);
}

/**
 * Sends `request` as `order` says (one JSON array, src/edge/forward.rs `order`: `[target,
 * requestId, realm, [[names to delete], [[name, value] to append]]]`): to `target`, its headers edited
 * (deletions first), redirects passed back, not followed. With an `assertion` (its signing
 * input), signs it with `key` (a promise of a `CryptoKey`) and adds `X-Auth-Assertion` first; if
 * signing fails, nothing is sent. Returns the origin's response promise; any failure becomes
 * `onError(requestId, realm, error)`. One string crosses from the wasm instead of four (each is
 * a decode).
 */
export function forward(order, request, onError, assertion, key, after) {
  const sent = send(order, request, onError, assertion, key);
  return after === undefined ? sent : limited(sent, after);
}

/**
 * A limited request's response (issue #15): `after.policy`/`after.state` become the
 * `RateLimit-Policy` and `RateLimit` fields; `after.settle(status)` (credits charged only on
 * success) learns the origin's status (502 when it could not be reached) and may return a promise
 * of background work for `after.ctx.waitUntil`.
 */
function limited(sent, after) {
  return sent.then((response) => {
    if (after.settle) {
      // An unreachable origin arrives here as the edge's 502 (`onError`): a failure too.
      const pending = after.settle(response.status);
      if (pending) after.ctx.waitUntil(pending);
    }
    // A WebSocket upgrade (101) passes as it is: copying the response would drop its socket.
    if (after.policy === undefined || response.webSocket || response.status === 101) return response;
    const out = new Response(response.body, response);
    out.headers.set("RateLimit-Policy", after.policy);
    out.headers.set("RateLimit", after.state);
    return out;
  });
}

function send(order, request, onError, assertion, key) {
  const [target, requestId, realm, [remove, append]] = JSON.parse(order);
  const method = request.method;
  // The runtime can receive header names it cannot send (a Cyrillic look-alike of X-Auth-Subject,
  // say): copying them would fail the fetch, and `Headers.delete` refuses them. The core drops
  // them; here the copy is rebuilt without them, which only such requests pay for. The client's
  // own `x-auth-*` names are kept for the second line below. (`requestFacts`' note holds because
  // the headers of a request workerd delivers are immutable: nothing can change them between
  // the two calls.)
  const { reserved, unsendable } = noted.get(request) ?? noteNames(request.headers);
  let copied = request.headers;
  if (unsendable) {
    copied = new Headers();
    for (const [n, v] of request.headers) if (TOKEN.test(n)) copied.append(n, v);
  }
  // An init the edge writes, never the incoming request itself: `new Request(target, request)`
  // is ~1 µs cheaper (in-isolate microbenchmark, 2026-12-02) but carries what an init object
  // does not, above all a deep copy of the client's `request.cf` (its TLS client-certificate
  // verdict, bot scores; in `wrangler dev`, whatever a client sent as `MF-CF-Blob`), which a
  // Worker origin would read as the edge's own. Only the method, the headers, the body and
  // `redirect: "manual"` are sent.
  const init = { method, headers: copied, redirect: "manual" };
  if (method !== "GET" && method !== "HEAD" && request.body !== null) init.body = request.body;
  const outgoing = new Request(target, init);
  const headers = outgoing.headers;
  for (const name of remove) headers.delete(name);
  // A body dropped (GET/HEAD) must not leave its framing behind: an origin reading the client's
  // Content-Length would wait for bytes that never come, or read the next request as them.
  // workerd 1.20261117 already sends none (tests/runtime/hardening.test.mjs passes without this
  // line); it is here so that no runtime version can.
  if (init.body === undefined) headers.delete("content-length");
  // A second line behind the core's plan: no client-sent x-auth-* header ever leaves the edge
  // (the copy holds the client's headers and nothing else until the appends below).
  if (reserved !== null) for (const name of reserved) headers.delete(name);
  for (const [name, value] of append) headers.append(name, value);
  if (assertion === undefined) {
    return fetch(outgoing).catch((error) => onError(requestId, realm, error));
  }
  return key
    .then((k) => crypto.subtle.sign({ name: "Ed25519" }, k, encoder.encode(assertion)))
    .then(
      (signature) => headers.append("X-Auth-Assertion", `${assertion}.${base64url(new Uint8Array(signature))}`),
      () => {
        throw SIGNING_FAILED;
      },
    )
    .then(() => fetch(outgoing))
    .catch((error) => onError(requestId, realm, error));
}

/** Lines written during the entry's synchronous call into the wasm (`holdLines`), or null. */
let held = null;

/** From now until `releaseLines`, lines wait for the entry (src/edge/entry.mjs) to write them. */
export function holdLines() {
  held = [];
}

/**
 * Writes the lines held since `holdLines`, now that the call into the wasm has returned. Each
 * line is written on its own: a write that throws (none does for a string in workerd today)
 * loses that line only, and never the request, whose response the entry returns from the same
 * call (this runs in its `finally`).
 */
export function releaseLines() {
  const lines = held;
  held = null;
  if (lines === null) return;
  for (const line of lines) {
    try {
      console.log(line);
    } catch {
      // Nothing to report it to: the console is what failed.
    }
  }
}

/**
 * Writes a log line once the current call into the wasm has returned: workerd's `console.log`
 * called from inside a wasm call costs several times more (measured ~45 µs against ~15 µs). A
 * request decided in the entry's synchronous call has its line written by the entry right after
 * it (`releaseLines`); one written later, from a task, goes to a microtask, which costs more than
 * the entry's write (in-isolate loop, 2026-12-02: ~25 µs against ~11 µs per line).
 */
export function logLine(line) {
  if (held !== null) held.push(line);
  else queueMicrotask(() => console.log(line));
}

/**
 * The health endpoint's KV probe: resolves to true when `namespace.get(key)` answers (found or
 * not) within `ms`, false when it rejects or takes longer. Never rejects.
 */
export function probeKv(namespace, key, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  const read = Promise.resolve()
    .then(() => namespace.get(key))
    .then(() => true, () => false);
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}

/**
 * Reads at most `limit` bytes of `message`'s body (a `Request` or a `Response`) as a
 * `Uint8Array`, or `null` once it is longer. Bytes are counted as the reader yields them, so a
 * compressed response body is counted after decoding. Past the limit nothing more is kept; up
 * to `drain` more bytes are read and dropped, then the stream is cancelled (with `drain` 0, at
 * once). The admin API drains 1 MiB (`ADMIN_DRAIN_BYTES` in respond.rs), so a client still
 * sending a modest body gets the 413 instead of a reset connection (a client need not send
 * `Content-Length`); a document fetch drains nothing. A body that ends within `limit + drain`
 * is not cancelled: it was read whole.
 */
export async function readBodyCapped(message, limit, drain) {
  if (message.body === null) return new Uint8Array(0);
  const reader = message.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      chunks.length = 0;
      if (size > limit + drain) {
        await reader.cancel().catch(() => {});
        return null;
      }
      continue;
    }
    chunks.push(value);
  }
  if (size > limit) return null;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// The state tier (src/edge/state.rs): calls on the AUTH_STATE object. Each is bounded by `ms`;
// a call that does not answer in time rejects (the core decides what that means).

function within(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("authority_timeout")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The authority's stub (one object per deployment), or undefined without the binding. The
 *  id (a hash of the name) is computed once per isolate; the stub, an I/O object of the
 *  request, is made per request. */
export function authorityStub(env) {
  const ns = env.AUTH_STATE;
  if (!ns || typeof ns.idFromName !== "function") return undefined;
  if (authorityIds.namespace !== ns) {
    authorityIds.namespace = ns;
    authorityIds.id = ns.idFromName("authority");
  }
  return ns.get(authorityIds.id);
}

const authorityIds = { namespace: null, id: null };

/** One call (JSON text): the object's response. */
export function authorityCall(stub, body, ms) {
  return within(stub.fetch("https://authority/call", { method: "POST", body }), ms);
}

/** The authority's record at `key` as `[text, readAt]` (`readAt`: the authority's clock at the
 *  read, Unix seconds, or null if it did not say), or null. */
export async function authorityRecord(stub, key, ms) {
  const response = await within(stub.fetch(`https://authority/record?key=${encodeURIComponent(key)}`), ms);
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`authority record: ${response.status}`);
  const readAt = Number(response.headers.get("x-read-at") ?? NaN);
  return [await response.text(), Number.isSafeInteger(readAt) && readAt >= 0 ? readAt : null];
}

/**
 * The feed as `[text, fetchedAtMs]`: the location's cached copy for this bucket when there is
 * one (`useCache`), else from the object, then cached for the bucket's other isolates. The copy
 * keeps the time it was fetched, so its age counts against the bound.
 */
export function readFeed(stub, bucket, useCache, ms, maxAge) {
  // One read at a time per isolate and kind: concurrent requests that need a fresh view share it.
  const kind = useCache ? "cached" : "direct";
  if (!feedReads[kind]) {
    feedReads[kind] = readFeedOnce(stub, bucket, useCache, ms, maxAge).finally(() => {
      feedReads[kind] = null;
    });
  }
  return feedReads[kind];
}

const feedReads = { cached: null, direct: null };

async function readFeedOnce(stub, bucket, useCache, ms, maxAge) {
  const cache = typeof caches !== "undefined" ? caches.default : undefined;
  // Without `useCache` (after a change through this isolate) the object is asked, and its
  // answer replaces the location's copy, so the other isolates here see the change at once.
  if (cache && useCache) {
    const hit = await cache.match(bucket);
    if (hit) return [await hit.text(), Number(hit.headers.get("x-fetched-at"))];
  }
  const fetchedAt = Date.now();
  const response = await within(stub.fetch("https://authority/feed"), ms);
  if (!response.ok) throw new Error(`authority feed: ${response.status}`);
  const text = await response.text();
  if (cache) {
    const copy = new Response(text, {
      headers: { "cache-control": `max-age=${maxAge}`, "x-fetched-at": String(fetchedAt) },
    });
    await cache.put(bucket, copy).catch(() => {});
  }
  return [text, fetchedAt];
}

/** Copy KV's records into the authority's tables (one bounded step; `cursor` continues). */
export function authorityAdopt(stub, cursor, ms) {
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  return within(stub.fetch(`https://authority/adopt${query}`, { method: "POST" }), ms);
}

// ---------------------------------------------------------------------------------------------
// Rate limits (src/edge/limits.rs): one object per counter subject, `limits/<object>`.

const limiterIds = { namespace: null, ids: new Map() };

/** The stub of the counter object `object` (ids cached per isolate, at most 1,000). */
function limiter(ns, object) {
  if (limiterIds.namespace !== ns) {
    limiterIds.namespace = ns;
    limiterIds.ids.clear();
  }
  let id = limiterIds.ids.get(object);
  if (id === undefined) {
    if (limiterIds.ids.size >= 1000) limiterIds.ids.clear();
    id = ns.idFromName(`limits/${object}`);
    limiterIds.ids.set(object, id);
  }
  return ns.get(id);
}

/** Send `[object, body]` lease calls together; each answer's text, or null when it failed. */
export function leaseCalls(env, calls, ms) {
  const ns = env.AUTH_STATE;
  return Promise.all(
    calls.map(([object, body]) =>
      within(limiter(ns, object).fetch("https://limits/lease", { method: "POST", body }), ms).then(
        (r) => (r.ok ? r.text() : null),
        () => null,
      ),
    ),
  );
}

/** A counter object's usage report (after applying `credits`, a JSON text or ""), or null. */
export function limiterUsage(env, object, credits, ms) {
  return within(limiter(env.AUTH_STATE, object).fetch("https://limits/usage", { method: "POST", body: credits }), ms).then(
    (r) => (r.ok ? r.text() : null),
    () => null,
  );
}

/** Resolves after `ms`: a request pausing while another's lease call is out (a timer of its own,
 *  never another request's promise). */
export function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
