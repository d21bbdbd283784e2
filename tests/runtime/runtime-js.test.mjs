// src/edge/runtime.js on its own, in Node (its Request, Headers and fetch follow the same Fetch
// standard as workerd's): the second line behind the core's forward plan, and when the decision
// line is written. The built Worker's behaviour is covered by the workerd tests
// (hardening.test.mjs: no client `x-auth-*` reaches the origin); these pin the parts of
// runtime.js that must hold even if the core's plan were wrong.
import { test } from "node:test";
import assert from "node:assert/strict";
import { forward, holdLines, logLine, releaseLines, requestFacts } from "../../src/edge/runtime.js";

/**
 * Runs `forward` with a fetch that captures what would be sent; returns that request. It also
 * checks how the request was built: from an init object the edge wrote, never from the incoming
 * request itself (workerd's `new Request(url, request)` would copy the client's `request.cf`,
 * which Node's Request does not model), and with nothing in the init but the method, the
 * headers, the redirect mode and a body.
 */
async function sent(request, edits) {
  const realFetch = globalThis.fetch;
  const RealRequest = globalThis.Request;
  const inits = [];
  globalThis.Request = class extends RealRequest {
    constructor(input, init) {
      inits.push(init);
      super(input, init);
    }
  };
  let captured = null;
  globalThis.fetch = async (outgoing) => {
    captured = outgoing;
    return new Response("ok");
  };
  try {
    const onError = () => assert.fail("the forward failed");
    const order = JSON.stringify(["https://origin.example/v1/x", "rid", "api", edits]);
    const response = await forward(order, request, onError, undefined, undefined, undefined);
    assert.equal(response.status, 200);
  } finally {
    globalThis.fetch = realFetch;
    globalThis.Request = RealRequest;
  }
  assert.ok(captured, "nothing was sent");
  assert.equal(inits.length, 1, "one request built");
  const [init] = inits;
  assert.ok(!(init instanceof RealRequest), "the outgoing request was built from the incoming one");
  assert.equal(Object.getPrototypeOf(init), Object.prototype);
  for (const field of Object.keys(init)) {
    assert.ok(["method", "headers", "redirect", "body"].includes(field), `the init carries ${field}`);
  }
  return captured;
}

// `send` learns the client's `x-auth-*` names from `requestFacts`' pass when that saw the
// request, from its own walk otherwise; the second line must hold on both paths, whatever the
// incoming request's redirect mode (workerd delivers "manual"; the origin's redirects are never
// followed either way).
for (const redirect of ["manual", "follow"]) {
  for (const facts of [true, false]) {
    test(`every client-sent x-auth-* header is removed even when the plan names none of them (redirect ${redirect}, ${facts ? "after requestFacts" : "requestFacts never called"})`, async () => {
      const request = new Request("https://edge.example/v1/x", {
        redirect,
        headers: {
          "X-Auth-Subject": "root",
          "x_auth_scopes": "admin",
          "X-AUTH-TYPE": "api_key",
          "x-auth_issuer": "https://evil.example",
          "x-authz": "kept: not reserved",
          accept: "application/json",
        },
      });
      if (facts) {
        const [method, url, ...pairs] = JSON.parse(requestFacts(request));
        assert.equal(method, "GET");
        assert.equal(url, "https://edge.example/v1/x");
        assert.ok(pairs.includes("x-auth-subject") && pairs.includes("root"), "the facts carry every header");
      }
      // A plan that forgot every deletion, and appends the edge's own identity.
      const out = await sent(request, [[], [["X-Auth-Subject", "alice"], ["X-Auth-Type", "jwt"]]]);
      const names = [...out.headers.keys()];
      assert.deepEqual(names.filter((n) => /^x[-_]auth[-_]/i.test(n)).sort(), ["x-auth-subject", "x-auth-type"]);
      assert.equal(out.headers.get("x-auth-subject"), "alice");
      assert.equal(out.headers.get("x-auth-type"), "jwt");
      assert.equal(out.headers.get("x-authz"), "kept: not reserved");
      assert.equal(out.headers.get("accept"), "application/json");
      assert.equal(out.method, "GET");
      assert.equal(out.redirect, "manual");
    });
  }
}

test("the plan's deletions and appends are applied, deletions first", async () => {
  // (A body is forwarded as a stream, which Node's Request takes only with `duplex`; workerd's
  // needs none, and the workerd tests forward bodies.)
  const request = new Request("https://edge.example/v1/x", {
    method: "DELETE",
    headers: { authorization: "Bearer secret", "x-forwarded-for": "1.2.3.4", "content-type": "application/json" },
  });
  const out = await sent(request, [["authorization", "x-forwarded-for"], [["X-Forwarded-For", "203.0.113.7"]]]);
  assert.equal(out.headers.get("authorization"), null);
  assert.equal(out.headers.get("x-forwarded-for"), "203.0.113.7");
  assert.equal(out.headers.get("content-type"), "application/json");
  assert.equal(out.method, "DELETE");
});

test("a decision line is held during the entry's call and written when it returns", async () => {
  const written = [];
  const realLog = console.log;
  console.log = (line) => written.push(line);
  try {
    holdLines();
    logLine("first");
    logLine("second");
    assert.deepEqual(written, [], "written while the call into the wasm was still running");
    releaseLines();
    assert.deepEqual(written, ["first", "second"]);
    // Outside the entry's call (a task's later poll): written from a microtask, not inline.
    logLine("later");
    assert.deepEqual(written, ["first", "second"]);
    await Promise.resolve();
    assert.deepEqual(written, ["first", "second", "later"]);
    // Released with nothing held: nothing written twice.
    releaseLines();
    assert.deepEqual(written, ["first", "second", "later"]);
  } finally {
    console.log = realLog;
  }
});

test("a held line whose write throws loses only itself, and releaseLines never throws", () => {
  const written = [];
  const realLog = console.log;
  console.log = (line) => {
    if (line === "bad") throw new Error("console is broken");
    written.push(line);
  };
  try {
    holdLines();
    logLine("bad");
    logLine("good");
    assert.doesNotThrow(() => releaseLines());
    assert.deepEqual(written, ["good"]);
  } finally {
    console.log = realLog;
  }
});

test("the order names the target, and a failed fetch is answered with the order's request id and realm", async () => {
  const realFetch = globalThis.fetch;
  const seen = [];
  globalThis.fetch = async (outgoing) => {
    seen.push(outgoing.url);
    throw new Error("connection refused");
  };
  try {
    const order = JSON.stringify(["https://origin.example/v1/x?a=1", "rid-7", "api", [[], []]]);
    const answered = await forward(order, new Request("https://edge.example/v1/x?a=1"), (requestId, realm, error) => ({ requestId, realm, error: String(error) }), undefined, undefined, undefined);
    assert.deepEqual(seen, ["https://origin.example/v1/x?a=1"]);
    assert.deepEqual(answered, { requestId: "rid-7", realm: "api", error: "Error: connection refused" });
  } finally {
    globalThis.fetch = realFetch;
  }
});
