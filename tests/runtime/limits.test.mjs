// Rate limits and credits (issue #15, docs/limits.md) in workerd: two isolates of the built Worker
// sharing the AUTH_STATE namespace (the authority and the counter objects), several clients each,
// bursts well past the limits. The design's claim is tested as stated: never over (exactly the
// limit when demand exceeds it on every isolate), for fixed and sliding windows and credits.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parseList } from "structured-headers";
import { startOrigin } from "../support/harness.mjs";
import { startCluster } from "../support/cluster.mjs";

const ADMIN = "limits-test-admin-token-0123456789abcdef";
let origin, cluster, A, B;
const slidingTimes = [];

const admin = (init = {}) => ({
  ...init,
  headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...(init.headers ?? {}) },
});

async function createKey(extra = {}) {
  const res = await A.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: `svc-${Math.random()}`, name: "k", ...extra }) }));
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

/** `count` requests for `path` with `token`, half to each isolate, by `clients` concurrent
 *  loops per isolate; every response's status, headers and body. */
async function burst(path, token, count, clients = 3) {
  const out = await burstAll(path, token, count, clients);
  // Every answer is a forward or a 429: never a 5xx, a hung request or a 503 from contention.
  assert.deepEqual([...new Set(out.map((r) => r.status))].filter((s) => s !== 200 && s !== 429), []);
  return out;
}

async function burstAll(path, token, count, clients) {
  const out = [];
  const left = [Math.ceil(count / 2), Math.floor(count / 2)];
  const loop = async (isolate, i) => {
    while (left[i] > 0) {
      left[i]--;
      const res = await isolate.fetch(path, { headers: { "x-api-key": token } });
      out.push({ status: res.status, headers: res.headers, body: await res.text() });
    }
  };
  await Promise.all([...Array(clients)].flatMap(() => [loop(A, 0), loop(B, 1)]));
  return out;
}

/** Both isolates keep asking for `ms` (one client each): what a lease still held when a burst
 *  ended (the bound on under-admission) is spent or returned and re-leased within a lease's
 *  time plus the refusal cache (1 s + 1 s here). */
async function drain(path, token, ms = 3000) {
  const out = [];
  const end = Date.now() + ms;
  const loop = async (isolate) => {
    while (Date.now() < end) {
      const res = await isolate.fetch(path, { headers: { "x-api-key": token } });
      out.push({ status: res.status, headers: res.headers, body: await res.text() });
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all([loop(A), loop(B)]);
  assert.deepEqual([...new Set(out.map((r) => r.status))].filter((s) => s !== 200 && s !== 429), []);
  return out;
}

const forwarded = (results) => results.filter((r) => r.status === 200).length;

/** A RateLimit field as `[{item, params}]` (RFC 9651 List, parsed by structured-headers). */
const fields = (value) => parseList(value).map(([item, params]) => ({ item, params: Object.fromEntries(params) }));

const hits = (prefix) => origin.requests.filter((r) => r.url.startsWith(prefix)).length;

/** Waits until a fixed window of `period` s has at least `need` s left (no burst spans two). */
async function windowRoom(period, need) {
  const left = period - ((Date.now() / 1000) % period);
  if (left < need) await new Promise((r) => setTimeout(r, left * 1000 + 200));
}

before(async () => {
  origin = await startOrigin(async (req, res) => {
    if (req.url.startsWith("/sliding")) slidingTimes.push(Date.now());
    if (!req.url.startsWith("/fail")) return false;
    res.writeHead(500, { "content-type": "text/plain" });
    res.end("origin failed");
  });
  cluster = await startCluster({
    config: {
      origin: origin.url,
      realm: "api",
      routes: [
        { path: "/fixed/**", limits: [{ name: "hourly", limit: 100, period_seconds: 3600, by: "key" }] },
        { path: "/sliding/**", limits: [{ name: "slide", limit: 100, period_seconds: 6, by: "key", window: "sliding" }] },
        { path: "/strict/**", limits: [{ name: "exact", limit: 7, period_seconds: 3600, by: "key", strict: true }] },
        { path: "/costly/**", cost: 10, limits: [{ name: "budget", limit: 25, period_seconds: 3600, by: "key" }] },
        { path: "/**" },
      ],
      keys: { record_last_used: false },
      usage: { lease_seconds: 1, charge: "success" },
    },
    isolates: 2,
    bindings: { ADMIN_TOKEN: ADMIN },
    durableObject: { binding: "AUTH_STATE", className: "AuthState" },
  });
  [A, B] = cluster.isolates;
});
after(async () => {
  await cluster?.close();
  await origin?.close();
});

test("fixed window: bursts from six clients on two isolates forward exactly the limit, the rest 429 with the draft's fields", async () => {
  await windowRoom(3600, 30);
  const key = await createKey();
  const secondsLeft = 3600 - Math.floor((Date.now() / 1000) % 3600);
  const before = hits("/fixed");
  const results = [...(await burst("/fixed/x", key.token, 260)), ...(await drain("/fixed/x", key.token))];
  const ok = results.filter((r) => r.status === 200);
  const limited = results.filter((r) => r.status === 429);
  assert.equal(ok.length, 100, "exactly the limit is forwarded");
  assert.equal(hits("/fixed") - before, 100, "the origin saw exactly 100");
  assert.equal(limited.length, results.length - 100);
  for (const r of limited) {
    assert.equal(r.headers.get("content-type"), "application/problem+json");
    const body = JSON.parse(r.body);
    assert.equal(body.error, "rate_limited");
    const retry = Number(r.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= secondsLeft + 1, `Retry-After ${retry} within the window's ${secondsLeft} s`);
    const policy = fields(r.headers.get("ratelimit-policy"));
    assert.deepEqual(policy, [{ item: "hourly", params: { q: 100, w: 3600 } }]);
    const [state] = fields(r.headers.get("ratelimit"));
    assert.equal(state.item, "hourly");
    assert.equal(state.params.r, 0);
    assert.ok(state.params.t >= 1 && state.params.t <= secondsLeft + 1, `t=${state.params.t}`);
  }
  // Forwarded responses of a limited request carry the fields too, remaining never above the quota.
  for (const r of ok) {
    assert.deepEqual(fields(r.headers.get("ratelimit-policy")), [{ item: "hourly", params: { q: 100, w: 3600 } }]);
    const [state] = fields(r.headers.get("ratelimit"));
    assert.ok(state.params.r >= 0 && state.params.r <= 100);
  }
  // A route without limits has no fields.
  const plain = await A.fetch("/other", { headers: { "x-api-key": key.token } });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get("ratelimit"), null);
});

test("sliding window: exactly the limit per period, never more in any period, and capacity comes back after it", async () => {
  const key = await createKey();
  const t0 = Date.now();
  const first = [...(await burst("/sliding/x", key.token, 250)), ...(await drain("/sliding/x", key.token, 2500))];
  assert.ok(Date.now() - t0 < 6000, "the first phase fits in one period");
  assert.equal(forwarded(first), 100, "first period: exactly 100");
  for (const r of first.filter((r) => r.status === 429)) {
    const retry = Number(r.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= 8, `Retry-After ${retry}: at most a lease (1 s) plus the period (6 s), in 1 s steps`);
  }
  // Released a period after each lease ended: wait it out, then the next 100.
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + 8500 - Date.now())));
  const second = [...(await burst("/sliding/x", key.token, 250)), ...(await drain("/sliding/x", key.token, 2500))];
  assert.equal(forwarded(second), 100, "second period: exactly 100");
  // No 6-second interval holds more than 100 forwards (origin arrival times, which lag the
  // edge's admissions a little: a small slack for the loopback hop).
  const times = slidingTimes.slice().sort((a, b) => a - b);
  assert.equal(times.length, 200);
  for (let i = 0; i + 100 < times.length; i++) {
    assert.ok(times[i + 100] - times[i] >= 6000 - 250, `101 forwards within ${times[i + 100] - times[i]} ms`);
  }
});

test("strict limits ask the object for every request and are exact too", async () => {
  const key = await createKey();
  const results = [...(await burst("/strict/x", key.token, 30, 2)), ...(await drain("/strict/x", key.token, 1500))];
  assert.equal(forwarded(results), 7);
  // Every refusal carries both fields, whichever way it was decided (the object's answer to a
  // strict ask included), and they say the limit is spent.
  for (const r of results.filter((x) => x.status === 429)) {
    assert.match(r.headers.get("ratelimit-policy") ?? "", /^"exact";q=7;w=3600$/);
    assert.match(r.headers.get("ratelimit") ?? "", /^"exact";r=0;t=\d+$/);
  }
});

test("a route's cost is spent per request: 25 units at 10 each admit 2 requests", async () => {
  const key = await createKey();
  const results = [...(await burst("/costly/x", key.token, 12, 2)), ...(await drain("/costly/x", key.token, 2500))];
  assert.equal(forwarded(results), 2);
});

test("credits: never below zero across isolates; 429 credits_exhausted; PATCH sets a new balance; usage reports it", async () => {
  const key = await createKey({ credits: { remaining: 40 } });
  const results = [...(await burst("/other/c", key.token, 120)), ...(await drain("/other/c", key.token))];
  assert.equal(forwarded(results), 40, "exactly the balance");
  const refused = results.filter((r) => r.status === 429);
  assert.equal(refused.length, results.length - 40);
  const body = JSON.parse(refused[0].body);
  assert.equal(body.error, "credits_exhausted");
  assert.equal(refused[0].headers.get("retry-after"), null, "no refill: no time to retry at");

  let usage = await (await A.fetch(`/_auth/keys/${key.id}/usage`, admin())).json();
  assert.equal(usage.id, key.id);
  assert.equal(usage.credits.remaining + usage.credits.leased, 0);

  const patched = await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "PATCH", body: JSON.stringify({ credits: { remaining: 5 } }) }));
  assert.equal(patched.status, 200, await patched.clone().text());
  assert.equal((await patched.json()).credits.remaining, 5);
  usage = await (await B.fetch(`/_auth/keys/${key.id}/usage`, admin())).json();
  assert.equal(usage.credits.remaining, 5, "the new balance holds at once");
  // Within the revocation bound every isolate spends the new balance (5, exactly).
  await new Promise((r) => setTimeout(r, 1500));
  const again = [...(await burst("/other/c", key.token, 30)), ...(await drain("/other/c", key.token))];
  assert.equal(forwarded(again), 5);
});

test("charge on success: requests the origin fails cost nothing; successes are charged", async () => {
  const key = await createKey({ credits: { remaining: 5 } });
  const before = hits("/fail");
  for (let i = 0; i < 12; i++) {
    const res = await (i % 2 ? A : B).fetch("/fail/x", { headers: { "x-api-key": key.token } });
    assert.equal(res.status, 500, `request ${i} reached the failing origin`);
    await new Promise((r) => setTimeout(r, 30));
  }
  assert.equal(hits("/fail") - before, 12);
  // Refunds travel with the next call or one of their own: give them a moment, then spend.
  await new Promise((r) => setTimeout(r, 1500));
  const results = [...(await burst("/other/s", key.token, 20, 1)), ...(await drain("/other/s", key.token))];
  assert.equal(forwarded(results), 5, "the balance is intact");
});

test("admin: limits and credits in a key's body are validated with the field named", async () => {
  const bad = await A.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "x", name: "k", limits: [{ name: "m", limit: 10, period_seconds: 0, by: "key" }] }) }));
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).detail, /"limits\[0\]\.period_seconds"/);
  const badCredits = await A.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "x", name: "k", credits: { remaining: 1, refill: { amount: 1, every_seconds: 5 } } }) }));
  assert.equal(badCredits.status, 400);
  assert.match((await badCredits.json()).detail, /"credits\.refill\.every_seconds"/);
  const unknown = await A.fetch("/_auth/keys", admin({ method: "POST", body: JSON.stringify({ kind: "api_key", subject: "x", name: "k", limits: [{ name: "m", limit: 10, period_seconds: 5, by: "key", burst: 3 }] }) }));
  assert.equal(unknown.status, 400);
});

test("a key's own limit replaces the route's of the same name, set by PATCH without a deploy", async () => {
  await windowRoom(3600, 30);
  const key = await createKey();
  const patched = await A.fetch(`/_auth/keys/${key.id}`, admin({ method: "PATCH", body: JSON.stringify({ limits: [{ name: "hourly", limit: 3, period_seconds: 3600, by: "key" }] }) }));
  assert.equal(patched.status, 200, await patched.clone().text());
  await new Promise((r) => setTimeout(r, 1500));
  const results = [...(await burst("/fixed/y", key.token, 20)), ...(await drain("/fixed/y", key.token))];
  assert.equal(forwarded(results), 3);
  const usage = await (await A.fetch(`/_auth/keys/${key.id}/usage`, admin())).json();
  const hourly = usage.limits.find((l) => l.name === "hourly");
  assert.equal(hourly.limit, 3);
  assert.equal(hourly.used, 3);
  assert.equal(hourly.by, "key");
});

test("a roll hands out no fresh balance or window: the successor spends what its chain left", async () => {
  await windowRoom(3600, 30);
  const key = await createKey({ credits: { remaining: 10 } });
  const first = [...(await burst("/strict/r", key.token, 4, 1))];
  assert.equal(forwarded(first), 4);
  const roll = await A.fetch(`/_auth/keys/${key.id}/roll`, admin({ method: "POST", body: JSON.stringify({ grace_seconds: 600 }) }));
  assert.equal(roll.status, 201, await roll.clone().text());
  const fresh = await roll.json();
  assert.equal(fresh.credits.remaining, 10, "the definition is kept as set");
  // Roll the successor too: the chain's first key still holds the counters.
  const roll2 = await B.fetch(`/_auth/keys/${fresh.id}/roll`, admin({ method: "POST", body: JSON.stringify({ grace_seconds: 600 }) }));
  assert.equal(roll2.status, 201, await roll2.clone().text());
  const third = await roll2.json();
  // The route's strict window (7 per hour by key): 4 spent, 3 left for the whole chain.
  const strict = [...(await burst("/strict/r", third.token, 6, 1)), ...(await burst("/strict/r", key.token, 4, 1))];
  assert.equal(forwarded(strict), 3, "the window is the chain's");
  // Credits: 10 less the 7 spent, whichever of the three keys spends them.
  const spent = [...(await burst("/other/r", fresh.token, 10)), ...(await drain("/other/r", third.token))];
  assert.equal(forwarded(spent), 3, "the balance is the chain's");
  const usage = await (await A.fetch(`/_auth/keys/${third.id}/usage`, admin())).json();
  assert.equal(usage.id, third.id);
  assert.equal(usage.credits.remaining + usage.credits.leased, 0);
  assert.equal(usage.limits.find((l) => l.name === "exact").used, 7);
  const meta = await (await A.fetch(`/_auth/keys/${third.id}`, admin())).json();
  assert.equal(meta.meter, key.id);
  assert.equal((await (await A.fetch(`/_auth/keys/${key.id}`, admin())).json()).rolled_to, fresh.id);
});
