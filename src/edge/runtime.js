// Runtime plumbing for src/edge, imported by the wasm through wasm-bindgen. No policy: these two
// functions move a request's facts into Rust and carry out a forward the core has decided, each
// in one boundary crossing instead of a dozen (every crossing costs string decoding and glue).

/**
 * The facts the core decides on, as one JSON array: method, URL, then each header's name and
 * value (names lowercase, as `Headers` yields them).
 */
export function requestFacts(request) {
  const facts = [request.method, request.url];
  for (const [name, value] of request.headers) facts.push(name, value);
  return JSON.stringify(facts);
}

/**
 * Sends `request` to `target` with its headers edited by `edits` (JSON: `[[names to delete],
 * [[name, value] to append]]`, deletions first) and redirects passed back, not followed.
 * Returns the origin's response promise; a failed fetch becomes `onError(requestId, realm)`.
 */
export function forward(target, request, edits, onError, requestId, realm) {
  const method = request.method;
  const init = { method, headers: request.headers, redirect: "manual" };
  if (method !== "GET" && method !== "HEAD" && request.body !== null) init.body = request.body;
  const outgoing = new Request(target, init);
  const [remove, append] = JSON.parse(edits);
  const headers = outgoing.headers;
  for (const name of remove) headers.delete(name);
  for (const [name, value] of append) headers.append(name, value);
  return fetch(outgoing).catch((error) => onError(requestId, realm, error));
}

/**
 * Writes a log line once the current call into the wasm has returned: workerd's `console.log`
 * called from inside a wasm call costs several times more (measured ~45 µs against ~15 µs).
 */
export function logLine(line) {
  queueMicrotask(() => console.log(line));
}
