// The failed-authentication budget (#15 item 5) in workerd: past the budget, an address's forged
// keys and admin-token guesses get 429 with Retry-After and nothing is forwarded; the owner of a
// key this isolate holds as valid, and the right admin token, keep working.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startEdge } from "../support/harness.mjs";

const ADMIN = "failures-test-admin-token-0123456789abcdef";
let origin, edge;

before(async () => {
  origin = await startOrigin();
  edge = await startEdge({
    config: {
      origin: origin.url,
      routes: [{ path: "/v1/**", accept: ["api_key"] }],
      keys: { record_last_used: false },
      failed_auth: { burst: 3, per_minute: 1 },
    },
    bindings: { ADMIN_TOKEN: ADMIN },
  });
});
after(async () => {
  await edge?.close();
  await origin?.close();
});

test("a forged-key flood from one address is refused before any lookup; the owner keeps working", async () => {
  const res = await edge.fetch("/_auth/keys", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ kind: "api_key", subject: "owner", name: "k", scopes: [] }),
  });
  assert.equal(res.status, 201);
  const { token } = await res.json();
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": token } })).status, 200);

  // Well-formed forgeries: the owner's key with its random part changed (the checksum then fails
  // only for some; either way each is a failure of this address).
  const forged = (i) => `eak_${String(i).padStart(30, "0")}${token.slice(-6)}`;
  const before = origin.requests.length;
  const statuses = [];
  for (let i = 0; i < 8; i++) statuses.push((await edge.fetch("/v1/x", { headers: { "x-api-key": forged(i) } })).status);
  assert.deepEqual(statuses.slice(0, 3), [401, 401, 401], "the burst");
  assert.deepEqual(statuses.slice(3), [429, 429, 429, 429, 429]);
  const limited = await edge.fetch("/v1/x", { headers: { "x-api-key": forged(99) } });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  const body = await limited.json();
  assert.equal(body.error, "rate_limited");
  assert.equal(origin.requests.length, before, "nothing forwarded");
  assert.equal((await edge.fetch("/v1/x", { headers: { "x-api-key": token } })).status, 200, "the owner's key still works");
});

test("admin token guesses are budgeted; the right token always works", async () => {
  const guess = { headers: { authorization: "Bearer not-the-admin-token-at-all-000000" } };
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await edge.fetch("/_auth/keys", guess)).status);
  assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
  assert.equal((await edge.fetch("/_auth/keys", { headers: { authorization: `Bearer ${ADMIN}` } })).status, 200);
});
