// After a wasm trap the instance is rebuilt before the next request, so no request runs on the
// state a trap left behind. Runs the fault-injection build (`make build-fault`): the header
// `x-edge-auth-fault` makes the wasm trap, synchronously or after the request has waited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { startOrigin, startEdge, baseConfig } from "../support/harness.mjs";

let origin, edge, deployable;

before(async () => {
  if (!existsSync(new URL("../../build-fault/index.js", import.meta.url))) {
    throw new Error("build-fault/ is missing: run `make build-fault` (make test does)");
  }
  origin = await startOrigin();
  edge = await startEdge({ config: baseConfig(origin.url), buildDir: "build-fault" });
  deployable = await startEdge({ config: baseConfig(origin.url) });
});
after(async () => {
  await edge?.close();
  await deployable?.close();
  await origin?.close();
});

const countReinitialised = (logs) => logs.filter((l) => l.includes('"event":"wasm_reinitialised"')).length;
const reinitialised = () => countReinitialised(edge.logs);

/** Logs arrive over workerd's stdio, not with the responses: wait up to 2 s for `count`. */
async function reinitialisedReaches(count) {
  for (const deadline = Date.now() + 2000; reinitialised() < count && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return reinitialised();
}

/** The request id of a rejection: a per-instance random prefix (8 hex) and a counter (8 hex). */
async function rejectionId() {
  const res = await edge.fetch("/v1/things");
  assert.equal(res.status, 401);
  const { request_id: id } = await res.json();
  assert.match(id, /^[0-9a-f]{16}$/);
  return { prefix: id.slice(0, 8), count: parseInt(id.slice(8), 16) };
}

async function trapThenRecover(fault) {
  const old = await rejectionId();
  const before = origin.requests.length;
  const rebuilt = reinitialised();
  const trapped = await edge.fetch("/public/x", { headers: { "x-edge-auth-fault": fault } });
  assert.equal(trapped.status, 500, `${fault}: a trap is an error response`);
  await trapped.arrayBuffer();
  assert.equal(origin.requests.length, before, `${fault}: nothing forwarded`);

  // The next requests are served by a fresh instance, and keep working.
  for (let i = 0; i < 3; i++) {
    const res = await edge.fetch("/public/echo", { headers: { "x-auth-subject": "spoof" } });
    assert.equal(res.status, 200, `${fault}: request ${i} after the trap`);
    const seen = await res.json();
    assert.equal(seen.headers["x-auth-subject"], undefined);
  }
  // A new instance: its request ids have a new prefix and a counter that started again.
  const now = await rejectionId();
  assert.notEqual(now.prefix, old.prefix, `${fault}: request ids come from a new instance`);
  assert.ok(now.count < old.count + 4, `${fault}: the counter restarted`);
  assert.equal(await reinitialisedReaches(rebuilt + 1), rebuilt + 1, `${fault}: the rebuild is logged once`);
}

test("a trap during the entry call: 500, then a rebuilt instance serves the next requests", async () => {
  await trapThenRecover("trap");
});

test("a trap after the request has waited: 500, then a rebuilt instance serves the next requests", async () => {
  await trapThenRecover("trap-after-await");
});

test("the deployable build/ has no fault injection: the header changes nothing", async () => {
  for (const fault of ["trap", "trap-after-await"]) {
    const res = await deployable.fetch("/public/echo", { headers: { "x-edge-auth-fault": fault } });
    assert.equal(res.status, 200, fault);
    await res.arrayBuffer();
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(countReinitialised(deployable.logs), 0);
});

test("without the fault header the fault-injection build behaves as usual", async () => {
  const res = await edge.fetch("/public/echo");
  assert.equal(res.status, 200);
  await res.arrayBuffer();
});
