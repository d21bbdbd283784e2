#!/usr/bin/env node
// edge-auth side by side with a jose reference Worker and a bare pass-through Worker, in workerd.
//
//   make bench                 # build, then this script with the defaults
//   node benches/run.mjs       # on an existing build/
//
// Settings (environment; a full run with the defaults takes about 15-16 minutes on 2 cores, 22 at a
// load average of 5):
//   BENCH_ROUNDS=5            rounds; every round runs every (scenario, Worker) pair once,
//                             interleaved so drift hits all three Workers alike; medians reported
//   BENCH_DURATION=2          seconds per timed run
//   BENCH_CONNECTIONS=8       concurrent connections of the load generator
//   BENCH_POOL=4096           distinct tokens per algorithm for the "fresh token" scenarios
//   BENCH_COLD_KEYS=10000     distinct API keys seeded in KV for the "cold key" scenario
//   BENCH_WARMUP=0.3          untimed seconds per (scenario, Worker) before round 1
//   BENCH_COUNT_REQUESTS=1000 requests per scenario in the counting pass (0: skip it)
//   BENCH_SCENARIOS=a,b       run only these scenario ids (apikey-hot-limits: rate limits, issue
//                             #15, a hot key on a leased limit, no limit and a strict limit, on
//                             edge-auth-limits; in the default run, it adds about 40 s)
//   BENCH_FEED_WINDOW=10      seconds of continuous traffic on the state-tier Worker after the
//                             counting pass, counting the feed fetches reaching the object (0: skip)
//   BENCH_OUT=docs/benchmarks.md   where the report goes ("-" to only print it)
//   BENCH_BUILD_DIR=build     the scripts/build.sh output to measure
//   BENCH_RESULTS=$TMPDIR/edge-auth-bench-results.json   raw results of the run
//   BENCH_INSPECTOR_PORT=9229   workerd's V8 inspector on this port (for a CPU profile of a
//                             Worker while the bench runs: connect to /core:user:<worker>)
//   BENCH_COLD_SAMPLES=5      rounds of the cold-start pass (issue #13; 0: skip it): a fresh
//                             Miniflare per sample and kind, see benches/lib/cold.mjs; in
//                             BENCH_SCENARIOS its id is "cold-start"; it adds about a minute
//   BENCH_COLD_COPIES=8       copies of the Worker per cold-start sample (isolates started at once)
//   BENCH_COLD_PROFILE=1      also profile one edge-auth first request through the inspector (0: no)
//
// Issue #13's figures (the "Performance figures (issue #13)" section of the report): the public
// route's CPU above the floor (`public`), the repeated token's CPU above the floor against jose's
// (`jwt-<alg>-repeat`), the decision log line's cost (`log-line`: edge-auth and jose with their
// `console.log` on and replaced by a no-op, four variants timed back to back in each round), the
// cold start (the pass above) and the build's gzip size against its budget.
//
//   node benches/run.mjs --render [file]   re-renders the report from saved raw results
import { fork, execSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { BUILD_DIR, LIMITS_USAGE, ROOT, startWorkers } from "./lib/workers.mjs";
import { runLoad, runPaced, rotating } from "./lib/load.mjs";
import {
  jwksDocument,
  loadSigningKeys,
  makeApiKeys,
  makeMinter,
  tamperSignature,
} from "./lib/credentials.mjs";
import { renderChart, renderReport, writeReport } from "./lib/report.mjs";
import { coldFigures, coldStart } from "./lib/cold.mjs";

const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
  return n;
};
const settings = {
  rounds: Math.max(1, Math.floor(num("BENCH_ROUNDS", 5))),
  duration: num("BENCH_DURATION", 2),
  connections: Math.max(1, Math.floor(num("BENCH_CONNECTIONS", 8))),
  pool: Math.max(1, Math.floor(num("BENCH_POOL", 4096))),
  coldKeys: Math.max(1, Math.floor(num("BENCH_COLD_KEYS", 10000))),
  warmup: num("BENCH_WARMUP", 0.3),
  countRequests: Math.floor(num("BENCH_COUNT_REQUESTS", 1000)),
  feedWindow: num("BENCH_FEED_WINDOW", 10),
  pacedRate: num("BENCH_PACED_RATE", 100),
  pacedSeconds: num("BENCH_PACED_SECONDS", 3),
  pacedRounds: Math.floor(num("BENCH_PACED_ROUNDS", 7)),
  coldSamples: Math.floor(num("BENCH_COLD_SAMPLES", 5)),
  coldCopies: Math.max(2, Math.floor(num("BENCH_COLD_COPIES", 8))),
  coldProfile: num("BENCH_COLD_PROFILE", 1) > 0,
  only: (process.env.BENCH_SCENARIOS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
  out: process.env.BENCH_OUT ?? "docs/benchmarks.md",
};
const WORKERS = ["edge-auth", "jose", "bare"];
// The state tier (issue #14): edge-auth with AUTH_STATE bound, a fourth Worker in the scenarios
// marked `state` (a hot API key, the repeated-token ones), side by side with the three above.
const STATE = "edge-auth-state";
// Rate limits (issue #15): a scenario with `variants` times those instead of the Workers above,
// each a (Worker, path) pair; `apikey-hot-limits` runs one hot key on edge-auth-limits (state
// tier bound) on a route with a large leased limit, the same route without limits, and the limit
// strict (one object call per request), back to back in each round.
const LIMITS = "apikey-hot-limits";
// The decision log line (issue #13): one repeated ES256 token (no KV on either side, a verdict
// cached by edge-auth, a signature verified by jose) on edge-auth and jose with the line written
// (on) and with `console.log` a no-op (off: the line is still built), back to back in each round.
const LOG_LINE = "log-line";
/** The cold-start pass's id in BENCH_SCENARIOS. */
const COLD_START = "cold-start";
/** The Workers timed in scenario `sc`. */
const workersOf = (sc) => (sc.variants ? Object.keys(sc.variants) : sc.state ? [...WORKERS, STATE] : WORKERS);
/** The path requested of `worker` in scenario `sc`. */
const pathOf = (sc, worker) => sc.variants?.[worker]?.path ?? sc.path;
// Every algorithm gets a "fresh token per request" scenario (a verification per request); the
// "one repeated token" scenarios measure the verified-token cache, which does not depend on the
// algorithm, so the 384/512 variants have none.
const ALGS = ["RS256", "PS256", "ES256", "EdDSA", "HS256", "RS384", "RS512", "PS384", "PS512", "ES384", "ES512"];
const REPEAT_ALGS = ["RS256", "PS256", "ES256", "EdDSA", "HS256"];
const ISSUER = "https://issuer.bench.example";
const HS_ISSUER = "https://hs.bench.example";
const AUDIENCE = "https://api.bench.example";
// Benchmark-only secret (≥ 32 bytes); never used anywhere real.
const HS_SECRET = "benchmark-only-hs256-secret-0123456789-abcdefghij";

// The last run's raw results, for `--render`.
const RESULTS = process.env.BENCH_RESULTS || path.join(os.tmpdir(), "edge-auth-bench-results.json");

const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---------------------------------------------------------------------------------------------
// Size of the build

function sizes() {
  const dir = BUILD_DIR;
  const files = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(wasm|js|mjs)$/.test(name)) files.push(p);
    }
  };
  walk(dir);
  return files.sort().map((p) => {
    const raw = readFileSync(p);
    // As scripts/build.sh measures its budget: GNU gzip -9 (Node's zlib at level 9 comes out a
    // few hundred bytes larger on the wasm); zlib only where gzip is missing.
    let gzip;
    let tool = "gzip -9";
    try {
      gzip = execSync("gzip -9 -c", { input: raw, maxBuffer: 64 << 20 }).length;
    } catch {
      gzip = zlib.gzipSync(raw, { level: 9 }).length;
      tool = "zlib level 9";
    }
    return { file: path.relative(ROOT, p), raw: raw.length, gzip, tool, zlib: zlib.gzipSync(raw, { level: 9 }).length };
  });
}

/** The gzip budget scripts/build.sh enforces (`BUDGET_BYTES=$((N * 1024))`, its last one), or null. */
function buildBudget() {
  try {
    const all = [...readFileSync(path.join(ROOT, "scripts/build.sh"), "utf8").matchAll(/^BUDGET_BYTES=\$\(\((\d+) \* 1024\)\)/gm)];
    return all.length ? Number(all[all.length - 1][1]) * 1024 : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Loopback origin + JWKS server (child process)

async function startLoopback(jwks) {
  const child = fork(path.join(ROOT, "benches/lib/loopback.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiters = [];
  child.on("message", (m) => waiters.shift()?.(m));
  const ask = (cmd) =>
    new Promise((resolve) => {
      waiters.push(resolve);
      child.send(cmd);
    });
  const ready = await ask({ cmd: "start", jwks });
  return {
    ...ready,
    counts: () => ask({ cmd: "counts" }),
    stop: async () => {
      child.send({ cmd: "stop" });
      await once(child, "exit");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

function scenarios({ hotKey, coldKeys, pools, repeat, badSignature }) {
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  const fixed = (h) => () => h;
  const list = [
    { id: "public", label: "public route (no credential)", path: "/public/ping", headers: fixed({}), status: 200, type: "" },
    { id: "apikey-hot", label: "API key, hot (same key)", path: "/v1/items", headers: fixed(bearer(hotKey.token)), status: 200, type: "api_key", state: true },
    {
      id: "apikey-cold",
      label: `API key, cold (${coldKeys.length} distinct keys)`,
      path: "/v1/items",
      headers: rotating(coldKeys.map((k) => k.token), bearer),
      status: 200,
      type: "api_key",
    },
    {
      id: "apikey-cold-last-used",
      label: `API key, cold, edge-auth recording last use (its default; jose does not)`,
      path: "/v1/items",
      headers: rotating(coldKeys.map((k) => k.token), bearer),
      status: 200,
      type: "api_key",
      edgeWorker: "edge-auth-last-used",
    },
    {
      id: "apikey-hot-assertion",
      label: "API key, hot, with a signed X-Auth-Assertion (both sign)",
      path: "/v1/items",
      headers: fixed(bearer(hotKey.token)),
      status: 200,
      type: "api_key",
      edgeWorker: "edge-auth-assertion",
      joseWorker: "jose-assertion",
      noCount: true,
      expectAssertion: true,
    },
    {
      id: LIMITS,
      label: "API key, hot, on a rate-limited route (limit never reached; state tier)",
      path: "/v1/items",
      headers: fixed(bearer(hotKey.token)),
      status: 200,
      type: "api_key",
      noCount: true, // counted by its own pass (object calls), below
      variants: {
        // (a) 1e9 per 3600 s, leased (the default); (b) the same Worker's route without limits;
        // (c) the same limit with `strict: true`.
        leased: { worker: "edge-auth-limits", path: "/limited/items", limited: "m" },
        none: { worker: "edge-auth-limits", path: "/v1/items", limited: false },
        strict: { worker: "edge-auth-limits", path: "/strict/items", limited: "s" },
      },
    },
  ];
  for (const alg of ALGS) {
    list.push({
      id: `jwt-${alg.toLowerCase()}-fresh`,
      label: `JWT ${alg}, fresh token per request`,
      path: "/v1/items",
      headers: rotating(pools[alg], bearer),
      status: 200,
      type: "jwt",
      alg,
    });
    if (!REPEAT_ALGS.includes(alg)) continue;
    list.push({
      id: `jwt-${alg.toLowerCase()}-repeat`,
      label: `JWT ${alg}, one repeated token`,
      path: "/v1/items",
      headers: fixed(bearer(repeat[alg])),
      status: 200,
      type: "jwt",
      alg,
      state: true,
    });
  }
  list.push({
    id: LOG_LINE,
    label: "decision log line on and off (JWT ES256, one repeated token)",
    path: "/v1/items",
    headers: fixed(bearer(repeat.ES256)),
    status: 200,
    type: "jwt",
    noCount: true,
    variants: {
      "edge-on": { worker: "edge-auth" },
      "edge-off": { worker: "edge-auth-nolog" },
      "jose-on": { worker: "jose" },
      "jose-off": { worker: "jose-nolog" },
    },
  });
  list.push({
    id: "jwt-bad-signature",
    label: "JWT RS256, bad signature (rejected)",
    path: "/v1/items",
    headers: fixed(bearer(badSignature)),
    status: 401,
    type: "",
  });
  return settings.only.length ? list.filter((s) => settings.only.includes(s.id)) : list;
}

/** The Worker that plays `worker` in scenario `sc` (one scenario swaps in a differently configured edge-auth). */
const workerName = (sc, worker) =>
  sc.variants?.[worker]?.worker ||
  (worker === "edge-auth" && sc.edgeWorker) || (worker === "jose" && sc.joseWorker) || worker;

/** What a Worker should answer in a scenario. The floor forwards everything. */
const expected = (sc, worker) => (worker === "bare" ? { status: 200, type: "" } : { status: sc.status, type: sc.type });

/** One request per (scenario, Worker), checking status and what reached the origin (and, on the
 *  rate-limited variants, the RateLimit-Policy and RateLimit fields, kept in `seen`). */
async function validate(list, urls, tail, seen = {}) {
  const problems = [];
  for (const sc of list) {
    for (const w of workersOf(sc)) {
      const want = expected(sc, w);
      const headers = { ...sc.headers(), "X-Auth-Spoofed": "1", "X-Auth-Subject": "spoofed-admin" };
      let res;
      let body = "";
      try {
        res = await fetch(urls[workerName(sc, w)] + pathOf(sc, w), { headers });
        body = await res.text();
      } catch (e) {
        problems.push({ scenario: sc.id, worker: w, detail: `request failed: ${e.message}` });
        continue;
      }
      const issues = [];
      if (res.status !== want.status) issues.push(`status ${res.status}, expected ${want.status}`);
      if (res.status === 200 && w !== "bare") {
        const type = res.headers.get("x-seen-auth-type") ?? "";
        if (type !== want.type) issues.push(`origin saw X-Auth-Type "${type}", expected "${want.type}"`);
        if (res.headers.get("x-seen-spoofed") !== "no") issues.push("a client-sent x-auth-* header reached the origin");
        if (res.headers.get("x-seen-credential") !== "stripped") issues.push("the credential reached the origin");
        if ((res.headers.get("x-seen-auth-subject") ?? "") === "spoofed-admin") issues.push("spoofed subject reached the origin");
        const sawAssertion = res.headers.get("x-seen-assertion") === "yes";
        if (sawAssertion !== Boolean(sc.expectAssertion)) {
          issues.push(sc.expectAssertion ? "no X-Auth-Assertion reached the origin" : "an unexpected X-Auth-Assertion reached the origin");
        }
      }
      if (sc.variants) {
        const policy = res.headers.get("ratelimit-policy");
        const state = res.headers.get("ratelimit");
        (seen[sc.id] ??= {})[w] = { status: res.status, policy, state };
        const name = sc.variants[w].limited;
        if (name) {
          // Structured fields (RFC 9651): the limit's name as a string, quota and window.
          const want = `"${name}";q=1000000000;w=3600`;
          if (!policy) issues.push("no RateLimit-Policy field on a limited route");
          else if (policy !== want) issues.push(`RateLimit-Policy '${policy}', expected '${want}'`);
          if (!state) issues.push("no RateLimit field on a limited route");
          else if (!/;r=\d+/.test(state) || !state.startsWith(`"${name}";`)) issues.push(`RateLimit '${state}': expected the limit "${name}" with its remaining units (r)`);
        } else if (policy || state) {
          issues.push("RateLimit fields on a route without limits");
        }
      }
      if (issues.length) {
        problems.push({ scenario: sc.id, worker: w, detail: `${issues.join("; ")}; body: ${body.slice(0, 300)}` });
      }
    }
  }
  if (problems.length) {
    const t = tail();
    const logTail = t.stdout.split("\n").filter(Boolean).slice(-5).join("\n");
    const errTail = t.stderr.split("\n").filter(Boolean).slice(-10).join("\n");
    log(`validation problems:\n${problems.map((p) => `  ${p.worker} / ${p.scenario}: ${p.detail}`).join("\n")}`);
    if (logTail) log(`last Worker log lines:\n${logTail}`);
    if (errTail) log(`last workerd stderr lines:\n${errTail}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// workerd's own CPU time (user + system, from /proc), the closest local figure to what Workers
// bill: per request it is independent of how busy the load generator and the origin are.

function workerdPid() {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("workerd")) return d;
    } catch {}
  }
  return null;
}

/** Resolves once process `pid` used at most one clock tick (10 ms) of CPU in 250 ms, or after
 *  3 s: work a previous run left behind is not counted in the next. */
async function untilIdle(pid, maxMs = 3000) {
  const started = Date.now();
  let last = cpuMs(pid);
  while (Date.now() - started < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = cpuMs(pid);
    if (!(now - last > 10)) return;
    last = now;
  }
}

/** CPU milliseconds used so far by process `pid` (NaN when /proc cannot tell). */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

export const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

function summarise(list, runs) {
  return list.filter((sc) => !sc.variants).map((sc) => {
    const per = {};
    for (const w of workersOf(sc)) {
      const rs = runs.filter((r) => r.scenario === sc.id && r.worker === w);
      const statuses = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      const want = String(expected(sc, w).status);
      const total = Object.values(statuses).reduce((a, b) => a + b, 0);
      per[w] = {
        rps: median(rs.map((r) => r.rps)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        costMs: median(rs.map((r) => r.costMs)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        requests: total,
        unexpected: total - (statuses[want] ?? 0),
        statuses,
        errors: rs.reduce((a, r) => a + r.errors, 0),
      };
    }
    // Paired ratios: computed per round (the three runs of a round are adjacent), then the median.
    const rounds = [...new Set(runs.map((r) => r.round))];
    const perRound = (a, b, key) =>
      rounds.map((round) => {
        const x = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === a);
        const y = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === b);
        return x && y ? x[key] / y[key] : NaN;
      });
    const paired = (a, b, key) => median(perRound(a, b, key));
    const deltaFloorRounds = rounds.map((round) => {
      const x = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === "edge-auth");
      const y = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === "bare");
      return x && y ? x.costMs - y.costMs : NaN;
    });
    const deltaFloor = median(deltaFloorRounds);
    // Issue #13: workerd CPU above the floor, edge-auth's over jose's, per round; and edge-auth's
    // CPU above the floor and over it, per round.
    const get = (round, w) => runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === w);
    const cpuOverheadRounds = rounds.map((round) => {
      const [e, j, b] = [get(round, "edge-auth"), get(round, "jose"), get(round, "bare")];
      return e && j && b && j.cpuUs > b.cpuUs ? (e.cpuUs - b.cpuUs) / (j.cpuUs - b.cpuUs) : NaN;
    });
    const cpuAboveFloorRounds = rounds.map((round) => {
      const [e, b] = [get(round, "edge-auth"), get(round, "bare")];
      return e && b ? e.cpuUs - b.cpuUs : NaN;
    });
    // workerd CPU above the floor's, per round.
    const cpuAbove = (w) =>
      median(
        rounds.map((round) => {
          const x = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === w);
          const y = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === "bare");
          return x && y ? x.cpuUs - y.cpuUs : NaN;
        }),
      );
    // The authentication work itself: edge-auth's cost above the floor over jose's.
    const overheadVsJose = median(
      rounds.map((round) => {
        const get = (w) => runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === w);
        const [e, j, b] = [get("edge-auth"), get("jose"), get("bare")];
        return e && j && b && j.costMs > b.costMs ? (e.costMs - b.costMs) / (j.costMs - b.costMs) : NaN;
      }),
    );
    // With the state tier (AUTH_STATE bound) against the same Worker without it, per round.
    let state;
    if (sc.state) {
      const cpuDeltaRounds = rounds.map((round) => {
        const x = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === STATE);
        const y = runs.find((r) => r.round === round && r.scenario === sc.id && r.worker === "edge-auth");
        return x && y ? x.cpuUs - y.cpuUs : NaN;
      });
      state = {
        cpuDeltaUs: median(cpuDeltaRounds),
        costVsOff: paired(STATE, "edge-auth", "costMs"),
        costVsJose: paired(STATE, "jose", "costMs"),
        costVsFloor: paired(STATE, "bare", "costMs"),
        p50VsOff: paired(STATE, "edge-auth", "p50"),
        rounds: { cpuDeltaUs: cpuDeltaRounds },
      };
    }
    return {
      ...sc,
      per,
      state,
      overheadVsJose,
      costVsJose: paired("edge-auth", "jose", "costMs"),
      costVsFloor: paired("edge-auth", "bare", "costMs"),
      p50VsJose: paired("edge-auth", "jose", "p50"),
      p50VsFloor: paired("edge-auth", "bare", "p50"),
      deltaFloorMs: deltaFloor,
      // Per-round values behind the target verdicts, to show how many rounds meet each target.
      rounds: {
        costVsJose: perRound("edge-auth", "jose", "costMs"),
        deltaFloorMs: deltaFloorRounds,
        cpuOverheadVsJose: cpuOverheadRounds,
        cpuAboveFloorUs: cpuAboveFloorRounds,
      },
      cpuOverheadVsJose: median(cpuOverheadRounds),
      cpuVsFloor: paired("edge-auth", "bare", "cpuUs"),
      cpuVsJose: paired("edge-auth", "jose", "cpuUs"),
      cpuAboveFloorUs: { "edge-auth": cpuAbove("edge-auth"), jose: cpuAbove("jose") },
    };
  });
}

/** The rate-limit scenario (issue #15): per variant, and (a) leased and (c) strict against (b)
 *  no limits, paired per round. Object calls are those counted while each timed run lasted. */
function summariseLimits(list, runs) {
  const sc = list.find((x) => x.id === LIMITS);
  if (!sc) return null;
  const mine = runs.filter((r) => r.scenario === sc.id);
  const per = {};
  for (const w of workersOf(sc)) {
    const rs = mine.filter((r) => r.worker === w);
    const statuses = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    const calls = rs.reduce((a, r) => a + (r.objectCalls?.limiter ?? 0), 0);
    per[w] = {
      ...sc.variants[w],
      rps: median(rs.map((r) => r.rps)),
      cpuUs: median(rs.map((r) => r.cpuUs)),
      costMs: median(rs.map((r) => r.costMs)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      requests: total,
      unexpected: total - (statuses[String(sc.status)] ?? 0),
      statuses,
      errors: rs.reduce((a, r) => a + r.errors, 0),
      // Counter-object calls (/lease, /usage) while timed, per 1,000 requests, over all rounds.
      limiterCalls: calls,
      limiterCallsPer1000: (calls * 1000) / Math.max(1, total),
      otherObjectCalls: rs.reduce((a, r) => a + (r.objectCalls?.other ?? 0), 0),
    };
  }
  const rounds = [...new Set(mine.map((r) => r.round))];
  const perRound = (a, b, key, f = (x, y) => x / y) =>
    rounds.map((round) => {
      const x = mine.find((r) => r.round === round && r.worker === a);
      const y = mine.find((r) => r.round === round && r.worker === b);
      return x && y ? f(x[key], y[key]) : NaN;
    });
  const pairs = {
    cpuLeasedVsNone: perRound("leased", "none", "cpuUs"),
    cpuStrictVsNone: perRound("strict", "none", "cpuUs"),
    cpuLeasedMinusNoneUs: perRound("leased", "none", "cpuUs", (x, y) => x - y),
    cpuStrictMinusNoneUs: perRound("strict", "none", "cpuUs", (x, y) => x - y),
    p50LeasedVsNone: perRound("leased", "none", "p50"),
    p50StrictVsNone: perRound("strict", "none", "p50"),
    costLeasedVsNone: perRound("leased", "none", "costMs"),
    costStrictVsNone: perRound("strict", "none", "costMs"),
  };
  return {
    id: sc.id,
    label: sc.label,
    usage: LIMITS_USAGE,
    per,
    ...Object.fromEntries(Object.entries(pairs).map(([k, v]) => [k, median(v)])),
    rounds: pairs,
  };
}

/** The log-line scenario (issue #13): per variant, and each Worker's on − off, paired per round. */
function summariseLogLine(list, runs) {
  const sc = list.find((x) => x.id === LOG_LINE);
  if (!sc) return null;
  const mine = runs.filter((r) => r.scenario === sc.id);
  const per = {};
  for (const w of workersOf(sc)) {
    const rs = mine.filter((r) => r.worker === w);
    const statuses = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    per[w] = {
      worker: sc.variants[w].worker,
      rps: median(rs.map((r) => r.rps)),
      cpuUs: median(rs.map((r) => r.cpuUs)),
      costMs: median(rs.map((r) => r.costMs)),
      p50: median(rs.map((r) => r.p50)),
      requests: total,
      unexpected: total - (statuses[String(sc.status)] ?? 0),
      statuses,
    };
  }
  const rounds = [...new Set(mine.map((r) => r.round))];
  const perRound = (a, b, key) =>
    rounds.map((round) => {
      const x = mine.find((r) => r.round === round && r.worker === a);
      const y = mine.find((r) => r.round === round && r.worker === b);
      return x && y ? x[key] - y[key] : NaN;
    });
  const pairs = {
    edgeCpuUs: perRound("edge-on", "edge-off", "cpuUs"),
    joseCpuUs: perRound("jose-on", "jose-off", "cpuUs"),
    edgeCostMs: perRound("edge-on", "edge-off", "costMs"),
    joseCostMs: perRound("jose-on", "jose-off", "costMs"),
  };
  return { id: sc.id, label: sc.label, per, ...Object.fromEntries(Object.entries(pairs).map(([k, v]) => [k, median(v)])), rounds: pairs };
}

// ---------------------------------------------------------------------------------------------
// Machine and provenance

const loadavg = () => ({ at: new Date().toISOString(), load: os.loadavg().map((x) => Number(x.toFixed(2))) });

function machine() {
  let cpu = "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {}
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try {
    nproc = Number(execSync("nproc", { encoding: "utf8" }).trim());
  } catch {}
  const version = (pkg) => {
    try {
      return JSON.parse(readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
    } catch {
      return "?";
    }
  };
  let commit = "?";
  try {
    commit = execSync("git rev-parse --short HEAD", { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execSync("git status --porcelain -- src", { cwd: ROOT, encoding: "utf8" }).trim();
    if (dirty) commit += " + uncommitted changes in src/";
  } catch {}
  let buildTime = "?";
  try {
    const built = statSync(path.join(BUILD_DIR, "index.js")).mtime;
    buildTime = built.toISOString();
    const committed = new Date(execSync("git log -1 --format=%cI", { cwd: ROOT, encoding: "utf8" }).trim());
    if (committed > built) buildTime += " (before that commit: the build may lag the source)";
  } catch {}
  const load = os.loadavg().map((x) => x.toFixed(2)).join(" ");
  return {
    cpu,
    nproc,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    workerd: version("workerd"),
    miniflare: version("miniflare"),
    jose: version("jose"),
    autocannon: version("autocannon"),
    commit,
    buildTime,
    load,
  };
}

function commandLine() {
  const vars = Object.entries(process.env)
    .filter(([k]) => k.startsWith("BENCH_") || k === "CARGO_TARGET_DIR")
    .map(([k, v]) => `${k}=${v}`);
  return [...vars, "node benches/run.mjs"].join(" ");
}

/** criterion results of `cargo bench --bench core`, if they are on disk. */
function criterionResults() {
  const dir = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "criterion");
  if (!existsSync(dir)) return [];
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (!statSync(p).isDirectory()) continue;
      const est = path.join(p, "new", "estimates.json");
      const meta = path.join(p, "new", "benchmark.json");
      if (existsSync(est) && existsSync(meta)) {
        const e = JSON.parse(readFileSync(est, "utf8"));
        const m = JSON.parse(readFileSync(meta, "utf8"));
        out.push({ id: m.full_id ?? path.relative(dir, p), ns: e.median?.point_estimate ?? e.mean?.point_estimate, when: statSync(est).mtime });
      } else if (name !== "report" && name !== "new" && name !== "base" && name !== "change") walk(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => a.id.localeCompare(b.id)).map((c) => ({ ...c, dir: path.relative(ROOT, dir) || dir }));
}

// ---------------------------------------------------------------------------------------------

/** Prints the report and writes it (markdown section + chart) unless BENCH_OUT is "-". */
function publish(report) {
  const markdown = renderReport(report);
  console.log(markdown);
  if (settings.out !== "-") {
    const mdPath = path.resolve(ROOT, settings.out);
    mkdirSync(path.dirname(mdPath), { recursive: true });
    writeReport(mdPath, markdown);
    const svgPath = mdPath.replace(/\.md$/, "") + ".svg";
    writeFileSync(svgPath, renderChart(report.summary, report));
    log(`wrote ${path.relative(ROOT, mdPath)} and ${path.relative(ROOT, svgPath)}`);
  }
}

async function main() {
  const renderIndex = process.argv.indexOf("--render");
  if (renderIndex > 0) {
    // Re-render a saved run (e.g. after changing the report format), without measuring again.
    const saved = JSON.parse(readFileSync(process.argv[renderIndex + 1] ?? RESULTS, "utf8"));
    saved.startedAt = new Date(saved.startedAt);
    saved.finishedAt = new Date(saved.finishedAt);
    for (const c of saved.criterion ?? []) c.when = new Date(c.when);
    // The cold-start figures are recomputed from the saved samples (the way they are summarised
    // may have changed since).
    if (saved.cold?.runs) Object.assign(saved.cold, coldFigures(saved.cold.runs, saved.cold.copies));
    // Criterion results run after the measurement are picked up too.
    const onDisk = criterionResults();
    if (onDisk.length) saved.criterion = onDisk;
    publish(saved);
    return;
  }
  const startedAt = new Date();
  const loads = { start: loadavg() };
  if (!existsSync(path.join(BUILD_DIR, "index.js"))) {
    throw new Error(`${path.relative(ROOT, BUILD_DIR)}/index.js is missing: run \`make build\` first (or \`make bench\`)`);
  }
  const size = sizes();
  log(`build: ${size.map((s) => `${s.file} ${s.raw} B (gzip ${s.gzip} B)`).join(", ")}`);
  log(`settings: ${JSON.stringify(settings)}`);

  // Credentials.
  const keys = loadSigningKeys();
  const mint = makeMinter({ keys, issuer: ISSUER, hsIssuer: HS_ISSUER, hsSecret: HS_SECRET, audience: AUDIENCE });
  const pools = {};
  const repeat = {};
  const anyFresh = (alg) => !settings.only.length || settings.only.includes(`jwt-${alg.toLowerCase()}-fresh`);
  for (const alg of ALGS) {
    const t0 = Date.now();
    const n = anyFresh(alg) ? settings.pool : 1;
    pools[alg] = Array.from({ length: n }, () => mint(alg));
    repeat[alg] = mint(alg);
    log(`minted ${n} ${alg} tokens in ${Date.now() - t0} ms`);
  }
  const badSignature = tamperSignature(mint("RS256"));
  const [hotKey] = makeApiKeys(1, { subjectPrefix: "bench-hot" });
  const coldKeys = makeApiKeys(settings.coldKeys, { subjectPrefix: "bench-cold" });

  const loop = await startLoopback(jwksDocument(keys));
  let workers;
  try {
    workers = await startWorkers({
      origin: loop.origin,
      jwksBase: loop.jwksBase,
      issuer: ISSUER,
      hsIssuer: HS_ISSUER,
      audience: AUDIENCE,
      hsSecret: HS_SECRET,
    });
    log(`workers: ${JSON.stringify(workers.urls)}`);
    const t0 = Date.now();
    await workers.seed([hotKey, ...coldKeys].map((k) => [k.kvKey, JSON.stringify(k.record)]));
    const probe = await workers.kv.get(hotKey.kvKey);
    if (probe !== JSON.stringify(hotKey.record)) throw new Error("KV seeding did not reach the AUTH_KV namespace");
    log(`seeded ${coldKeys.length + 1} API keys in KV in ${Date.now() - t0} ms`);

    const list = scenarios({ hotKey, coldKeys, pools, repeat, badSignature });
    const limitsSeen = {};
    const validation = await validate(list, workers.urls, workers.tail, limitsSeen);
    log(`validation: ${validation.length ? `${validation.length} problem(s)` : "every Worker answered as expected"}`);

    // Warm-up: untimed, every pair once.
    if (settings.warmup > 0) {
      for (const sc of list) {
        for (const w of workersOf(sc)) {
          await runLoad({ url: workers.urls[workerName(sc, w)], path: pathOf(sc, w), connections: settings.connections, duration: settings.warmup, headers: sc.headers });
        }
      }
      log("warm-up done");
    }

    // Timed rounds, interleaved: within a round each scenario runs on the three Workers back to
    // back, in an order that rotates with the round and the scenario.
    const runs = [];
    const delta = (a, b) => Object.fromEntries(Object.keys({ ...a, ...b }).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));
    /** Counter-object calls (/lease, /usage) and the rest (the authority's /feed, /call, ...). */
    const limiterCallsOf = (d) => {
      const { objects, ...paths } = d;
      const limiter = (paths["/lease"] ?? 0) + (paths["/usage"] ?? 0);
      const all = Object.values(paths).reduce((a, n) => a + n, 0);
      return { limiter, other: all - limiter, byPath: paths };
    };
    const pid = workerdPid();
    if (!pid) log("workerd's pid not found: no CPU figures");
    const jwksBefore = (await loop.counts()).jwks;
    // Requests the AuthState object receives while timing: only the state Worker's background
    // feed refreshes that missed the location's cache (nothing else has AUTH_STATE traffic now).
    const objectBefore = await workers.objectCalls();
    const timedStartedMs = Date.now();
    let stateTrafficMs = 0;
    for (let round = 0; round < settings.rounds; round++) {
      for (const [i, sc] of list.entries()) {
        const ws = workersOf(sc);
        const order = ws.map((_, k) => ws[(k + round + i) % ws.length]);
        for (const w of order) {
          // One untimed request first, every Worker alike: an isolate idle while the others ran
          // is back in steady state before timing starts (for the state tier: its view, past the
          // bound after the gap, is refreshed by this one request, not by every connection's
          // first request at once; the stale-view burst is measured on its own, below).
          await fetch(workers.urls[workerName(sc, w)] + pathOf(sc, w), { headers: sc.headers() }).then((res) => res.arrayBuffer()).catch(() => {});
          const limiterBefore = sc.id === LIMITS ? await workers.objectCalls("authority-limits") : null;
          // The rate-limit variants share one workerd with the counter object: a strict run
          // leaves the object working for a moment after its last request (measured: that tail
          // landed on whichever variant ran next, the leased one in 2 of 3 rounds by the
          // rotation, and read as 1.15-1.23x leased/none where a run without the strict variant
          // read 0.84-1.0x). Each timed run starts once workerd is idle (≤ 1 tick in 250 ms).
          if (sc.variants) await untilIdle(pid);
          const startedMs = Date.now();
          const cpuBefore = cpuMs(pid);
          const r = await runLoad({
            url: workers.urls[workerName(sc, w)],
            path: pathOf(sc, w),
            connections: settings.connections,
            duration: settings.duration,
            headers: sc.headers,
          });
          const cpuUs = ((cpuMs(pid) - cpuBefore) * 1000) / Math.max(1, r.requests);
          if (w === STATE) stateTrafficMs += Date.now() - startedMs;
          // Rate-limit variants: the counter-object calls made while the run lasted (a renewal
          // sent by its last requests may land in the next run's count instead).
          const objectCalls = limiterBefore ? limiterCallsOf(delta(limiterBefore, await workers.objectCalls("authority-limits"))) : undefined;
          runs.push({ round, scenario: sc.id, worker: w, ...r, cpuUs, ...(objectCalls ? { objectCalls } : {}) });
        }
        const last = runs.slice(-ws.length);
        log(
          `round ${round + 1}/${settings.rounds} ${sc.id}: ` +
            last.map((r) => `${r.worker} ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms`).join(" | "),
        );
      }
    }
    const objectAfter = await workers.objectCalls();
    const timedMs = Date.now() - timedStartedMs;
    const timedObject = delta(objectBefore, objectAfter);
    // One isolate per Worker in workerd, so per Worker = per isolate. Two rates: over the whole
    // timed phase (the state Worker idles while the others run, and an idle isolate does not
    // refresh) and over the time it had traffic.
    const stateFeed = list.some((sc) => sc.state)
      ? {
          feedFetches: timedObject["/feed"] ?? 0,
          otherCalls: Object.entries(timedObject).filter(([k]) => k !== "/feed").reduce((a, [, n]) => a + n, 0),
          timedMinutes: timedMs / 60000,
          trafficMinutes: stateTrafficMs / 60000,
          perMinuteOverRun: (timedObject["/feed"] ?? 0) / (timedMs / 60000),
          perMinuteOfTraffic: stateTrafficMs > 0 ? (timedObject["/feed"] ?? 0) / (stateTrafficMs / 60000) : NaN,
          isolates: 1,
        }
      : null;
    if (stateFeed) log(`state tier, timed phase: ${JSON.stringify(stateFeed)}`);
    const jwksAfter = (await loop.counts()).jwks;
    const timedJwks = {};
    for (const [w, p] of [["edge-auth", "/edge/jwks.json"], ["jose", "/jose/jwks.json"]]) {
      timedJwks[w] = (jwksAfter[p] ?? 0) - (jwksBefore[p] ?? 0);
    }
    const timedRequests = {};
    for (const w of [...WORKERS, ...(stateFeed ? [STATE] : [])]) {
      timedRequests[w] = runs.filter((r) => r.worker === w && !list.find((sc) => sc.id === r.scenario)?.variants).reduce((a, r) => a + r.requests, 0);
    }

    // Counting pass: the counted twins (fresh isolates, KV through the counting wrapper).
    const counts = {};
    if (settings.countRequests > 0) {
      for (const sc of list.filter((x) => !x.noCount)) {
        counts[sc.id] = {};
        for (const [w, twin, jwksPath, counter] of [
          sc.edgeWorker
            ? ["edge-auth", `${sc.edgeWorker}-counted`, "/edge-counted/jwks.json", sc.edgeWorker]
            : ["edge-auth", "edge-auth-counted", "/edge-counted/jwks.json", "edge-auth"],
          ["jose", "jose-counted", "/jose-counted/jwks.json", "jose"],
          ...(sc.state ? [[STATE, "edge-auth-state-counted", "/edge-counted/jwks.json", STATE]] : []),
        ]) {
          // A few untimed requests first, so the counts are steady state (the first JWKS fetch
          // of an isolate is reported separately).
          await runLoad({ url: workers.urls[twin], path: sc.path, connections: 1, amount: 5, headers: sc.headers });
          const kvBefore = { ...(workers.kvCounts[counter] ?? {}) };
          const jBefore = (await loop.counts()).jwks[jwksPath] ?? 0;
          const oBefore = w === STATE ? await workers.objectCalls() : {};
          const r = await runLoad({
            url: workers.urls[twin],
            path: sc.path,
            connections: settings.connections,
            amount: settings.countRequests,
            headers: sc.headers,
          });
          const kvAfter = workers.kvCounts[counter] ?? {};
          const jAfter = (await loop.counts()).jwks[jwksPath] ?? 0;
          const o = w === STATE ? delta(oBefore, await workers.objectCalls()) : {};
          const per1000 = (x) => (x * 1000) / Math.max(1, r.requests);
          // Calls a request itself waits on (/call, /record), apart from the background feed
          // refreshes (waitUntil) that missed the location's cache.
          const objectCalls =
            w === STATE
              ? {
                  onRequest: per1000(Object.entries(o).filter(([k]) => k !== "/feed").reduce((a, [, n]) => a + n, 0)),
                  feed: o["/feed"] ?? 0,
                  byPath: o,
                  seconds: r.seconds,
                }
              : undefined;
          counts[sc.id][w] = {
            kvReads: per1000((kvAfter.get ?? 0) - (kvBefore.get ?? 0)),
            kvOther: per1000(
              ["put", "delete", "list"].reduce((a, op) => a + (kvAfter[op] ?? 0) - (kvBefore[op] ?? 0), 0),
            ),
            jwksFetches: per1000(jAfter - jBefore),
            ...(objectCalls ? { objectCalls } : {}),
            requests: r.requests,
            statuses: r.statuses,
          };
        }
        log(`counted ${sc.id}: ${JSON.stringify(counts[sc.id])}`);
      }
    }
    // Rate limits (issue #15): counter-object calls per 1,000 requests of each variant, on the
    // Worker that was timed (its isolate holds leases by now: steady state), after 5 untimed
    // requests; background renewals sent by the counted requests are let land (300 ms).
    const limitsScenario = list.find((sc) => sc.id === LIMITS);
    let limitsCounts = null;
    if (limitsScenario && settings.countRequests > 0) {
      limitsCounts = {};
      for (const w of workersOf(limitsScenario)) {
        const url = workers.urls[workerName(limitsScenario, w)];
        const p = pathOf(limitsScenario, w);
        await runLoad({ url, path: p, connections: 1, amount: 5, headers: limitsScenario.headers });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const before = await workers.objectCalls("authority-limits");
        const r = await runLoad({ url, path: p, connections: settings.connections, amount: settings.countRequests, headers: limitsScenario.headers });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const after = await workers.objectCalls("authority-limits");
        const c = limiterCallsOf(delta(before, after));
        limitsCounts[w] = {
          requests: r.requests,
          statuses: r.statuses,
          seconds: r.seconds,
          limiterCalls: c.limiter,
          limiterCallsPer1000: (c.limiter * 1000) / Math.max(1, r.requests),
          otherObjectCalls: c.other,
          byPath: c.byPath,
          counterObjects: after.objects,
        };
      }
      log(`counted ${limitsScenario.id}: ${JSON.stringify(limitsCounts)}`);
    }
    // Rate limits' latency (issue #15: "p50 unchanged"), judged below saturation: an open-loop
    // client sending evenly spaced requests (benches/lib/load.mjs runPaced), (a) leased and (b)
    // none back to back in a rotating order, each round paired. At saturation p50 only follows
    // the cost per request (8 connections / throughput), which the CPU row already judges.
    let limitsPaced = null;
    if (limitsScenario && settings.pacedRounds > 0 && settings.pacedSeconds > 0 && settings.pacedRate > 0) {
      const pair = ["leased", "none"].filter((w) => workersOf(limitsScenario).includes(w));
      limitsPaced = { rate: settings.pacedRate, seconds: settings.pacedSeconds, rounds: [] };
      for (const w of pair) {
        await runPaced({ url: workers.urls[workerName(limitsScenario, w)], path: pathOf(limitsScenario, w), rate: settings.pacedRate, duration: 0.5, headers: limitsScenario.headers });
      }
      for (let round = 0; round < settings.pacedRounds; round++) {
        const order = round % 2 ? [...pair].reverse() : pair;
        const row = {};
        for (const w of order) {
          await untilIdle(pid);
          row[w] = await runPaced({ url: workers.urls[workerName(limitsScenario, w)], path: pathOf(limitsScenario, w), rate: settings.pacedRate, duration: settings.pacedSeconds, headers: limitsScenario.headers });
        }
        limitsPaced.rounds.push(row);
        log(`paced ${limitsScenario.id} round ${round + 1}/${settings.pacedRounds} at ${settings.pacedRate} req/s: ` + pair.map((w) => `${w} p50 ${row[w].p50.toFixed(2)} ms p99 ${row[w].p99.toFixed(2)} ms`).join(" | "));
      }
      const ratios = limitsPaced.rounds.map((r) => (r.leased && r.none ? r.leased.p50 / r.none.p50 : NaN));
      limitsPaced.p50Ratios = ratios;
      limitsPaced.p50LeasedVsNone = median(ratios);
      for (const w of pair) {
        limitsPaced[w] = {
          p50: median(limitsPaced.rounds.map((r) => r[w].p50)),
          p99: median(limitsPaced.rounds.map((r) => r[w].p99)),
          errors: limitsPaced.rounds.reduce((a, r) => a + r[w].errors, 0),
          unexpected: limitsPaced.rounds.reduce((a, r) => a + r[w].requests - (r[w].statuses[String(limitsScenario.status)] ?? 0), 0),
        };
      }
    }
    const limits = summariseLimits(list, runs);
    if (limits) {
      limits.counts = limitsCounts;
      limits.seen = limitsSeen[LIMITS] ?? {};
      limits.paced = limitsPaced;
    }

    // Feed window: continuous traffic on the state Worker (one isolate), so the rate of feed
    // fetches reaching the object is the steady one, without the timed phase's idle gaps (after
    // each gap the view is past its bound and the first request awaits a refresh).
    const stateScenario = list.find((sc) => sc.state);
    if (stateFeed && stateScenario && settings.feedWindow > 0) {
      // Lead-in: untimed traffic so the window starts with a current view.
      await runLoad({ url: workers.urls[STATE], path: stateScenario.path, connections: settings.connections, duration: 1, headers: stateScenario.headers });
      const before = await workers.objectCalls();
      const r = await runLoad({
        url: workers.urls[STATE],
        path: stateScenario.path,
        connections: settings.connections,
        duration: settings.feedWindow,
        headers: stateScenario.headers,
      });
      const o = delta(before, await workers.objectCalls());
      const minutes = r.seconds / 60;
      stateFeed.window = {
        scenario: stateScenario.id,
        seconds: r.seconds,
        requests: r.requests,
        feedFetches: o["/feed"] ?? 0,
        otherCalls: Object.entries(o).filter(([k]) => k !== "/feed").reduce((a, [, n]) => a + n, 0),
        perMinute: minutes > 0 ? (o["/feed"] ?? 0) / minutes : NaN,
      };
      log(`state tier, feed window: ${JSON.stringify(stateFeed.window)}`);
      // Stale-view burst: after an idle gap longer than the bound (revocation.max_staleness_seconds,
      // default 5 s), `connections` requests arrive at once; each finds the view past the bound.
      const idleMs = 6500;
      await new Promise((resolve) => setTimeout(resolve, idleMs));
      const b0 = await workers.objectCalls();
      const burst = await Promise.all(
        Array.from({ length: settings.connections }, () =>
          fetch(workers.urls[STATE] + stateScenario.path, { headers: stateScenario.headers() }).then(async (res) => (await res.arrayBuffer(), res.status)),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const ob = delta(b0, await workers.objectCalls());
      stateFeed.burst = { idleMs, requests: burst.length, statuses: burst, feedFetches: ob["/feed"] ?? 0 };
      log(`state tier, stale-view burst: ${JSON.stringify(stateFeed.burst)}`);
    }
    const finalJwks = (await loop.counts()).jwks;
    loads.timedEnd = loadavg();

    // Cold start (issue #13): the timed Workers' workerd is stopped first, so the fresh ones
    // started by the pass share the machine with the origin only.
    let cold = null;
    if (settings.coldSamples > 0 && (!settings.only.length || settings.only.includes(COLD_START))) {
      const defs = workers.defs;
      await workers.close();
      workers = undefined;
      loads.coldStart = loadavg();
      cold = await coldStart({ defs, samples: settings.coldSamples, copies: settings.coldCopies, profile: settings.coldProfile, log });
      loads.coldEnd = loadavg();
      log(`cold start: ${JSON.stringify(cold.figures.cpu.fresh)} ms of workerd CPU per fresh isolate to first response`);
    }

    const summary = summarise(list, runs);
    const logLine = summariseLogLine(list, runs);
    const report = {
      startedAt,
      finishedAt: new Date(),
      settings,
      machine: machine(),
      command: commandLine(),
      size,
      sizeBudget: buildBudget(),
      summary,
      counts,
      validation,
      timedJwks,
      timedRequests,
      stateFeed,
      limits,
      logLine,
      cold,
      loads,
      jwksTotals: finalJwks,
      criterion: criterionResults(),
    };
    writeFileSync(RESULTS, JSON.stringify(report, (k, v) => (typeof v === "function" ? undefined : v), 1));
    log(`raw results in ${RESULTS} (re-render with: node benches/run.mjs --render ${RESULTS})`);
    publish(report);
  } finally {
    await workers?.close();
    await loop.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
