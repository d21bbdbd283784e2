// The cold-start pass (issue #13): a fresh isolate to its first response, edge-auth against the
// jose reference and the bare Worker, and where edge-auth's start goes. Owns only the Miniflare
// instances it starts (one per sample, disposed before the next); never touches the timed
// Workers of benches/run.mjs, the build or src/.
//
// One sample: a new Miniflare (so a new workerd process) holding `copies` copies of one Worker,
// each its own isolate on its own loopback socket; the figures are
//   ready   `new Miniflare` → `mf.ready`: workerd's start, which loads every copy's script
//           (decodes a CompiledWasm module, evaluates the modules' top level) before it serves;
//   first   each copy's first request (GET /public/ping, a public route: no KV, no JWKS) and its
//           body, in which edge-auth builds its per-isolate state (reads and parses AUTH_CONFIG);
//   second  a second request to the same copy (the steady cost, for comparison);
// first and second are medians over the copies. Wall times are from the driver
// (performance.now); CPU is the new workerd process's, summed over its threads from
// /proc/<pid>/task/*/schedstat (nanoseconds; /proc/<pid>/stat counts 10 ms ticks, too coarse
// here). One isolate's start is `ready` less the same with as many bare copies, over `copies`
// (Miniflare's and workerd's own start cancel out); the bare Worker's own is `copies` bare copies
// less one, over `copies` - 1 (`coldFigures`).
//
// Besides bare, jose and edge-auth, two probes (benches/lib/workers.mjs `coldProbe`) split
// edge-auth's start: edge-wasm (imports the wasm module only) and edge-glue (imports the JS glue,
// which instantiates it), both answering with the bare Worker's handler; and edge-auth with V8's
// lazy wasm compilation off (MINIFLARE_WORKERD_V8_FLAGS=--no-wasm-lazy-compilation) splits its
// first request into lazy compilation and the rest.
//
// With `profile`, one more edge-auth isolate (lazy, then eager compilation) runs with workerd's
// inspector on: a CPU profile (Profiler.start/stop over the inspector's WebSocket) of its first
// request, summarised by where the samples fall (wasm, JS glue, garbage collector, the rest) and
// the part under the glue's JSON.stringify of AUTH_CONFIG and its callers.
import { readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

/** Pids of the workerd processes this process started. */
export function workerdPids() {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("workerd")) out.push(d);
    } catch {}
  }
  return out;
}

/** CPU milliseconds of every live thread of `pid` (NaN when /proc cannot tell). */
export function cpuMs(pid) {
  if (!pid) return NaN;
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
      } catch {}
    }
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

async function timedGet(url) {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

/** One inspector session: `call(method, params)` answers with the result. */
export async function inspector(port, name) {
  let ws;
  for (let i = 0; ; i++) {
    try {
      ws = new WebSocket(`ws://127.0.0.1:${port}/core:user:${name}`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("inspector connection failed"));
      });
      break;
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let id = 0;
  const pending = new Map();
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m.result);
      pending.delete(m.id);
    }
  };
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      const i = ++id;
      pending.set(i, resolve);
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  return { call, close: () => ws.close() };
}

/**
 * Where a profile's samples fall, in ms: by the kind of frame they land in (self time), and
 * the time under the frames that called the glue's JSON.stringify (the AUTH_CONFIG read):
 * `stringify` itself, its nearest wasm caller and that caller's wasm caller (inclusive).
 */
export function summariseProfile(p) {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const kind = (n) => {
    const { functionName: f, url } = n.callFrame;
    if (f === "(garbage collector)") return "gc";
    if (f === "(idle)") return "idle";
    if (f === "(program)" || f === "(root)") return "program";
    if (url.startsWith("wasm://")) return "wasm";
    if (/^(js-to-wasm|wasm-to-js)/.test(f)) return "wasm";
    if (url.endsWith("index.js")) return "glue";
    return "other";
  };
  const byKind = { wasm: 0, glue: 0, gc: 0, program: 0, other: 0, idle: 0 };
  let total = 0;
  for (const [id, us] of self) {
    const k = kind(nodes.get(id));
    byKind[k] += us;
    if (k !== "idle") total += us;
  }
  // Inclusive time of a node: its subtree's self time.
  const inclusive = (id) => {
    let t = self.get(id) ?? 0;
    for (const c of nodes.get(id).children ?? []) t += inclusive(c);
    return t;
  };
  const wasmAncestors = (id, k) => {
    const out = [];
    for (let cur = parent.get(id); cur !== undefined && out.length < k; cur = parent.get(cur)) {
      if (nodes.get(cur).callFrame.url.startsWith("wasm://")) out.push(cur);
    }
    return out;
  };
  const config = { stringify: 0, caller: 0, callerOfCaller: 0, found: 0 };
  const seen = new Set();
  for (const n of p.nodes) {
    if (!n.callFrame.functionName.startsWith("__wbg_stringify")) continue;
    config.found++;
    config.stringify += inclusive(n.id);
    const [a, b] = wasmAncestors(n.id, 2);
    if (a !== undefined && !seen.has(`a${a}`)) (seen.add(`a${a}`), (config.caller += inclusive(a)));
    if (b !== undefined && !seen.has(`b${b}`)) (seen.add(`b${b}`), (config.callerOfCaller += inclusive(b)));
  }
  const ms = (us) => us / 1000;
  return {
    totalMs: ms(total),
    byKindMs: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, ms(v)])),
    config: { found: config.found, stringifyMs: ms(config.stringify), callerMs: ms(config.caller), callerOfCallerMs: ms(config.callerOfCaller) },
    samples: p.samples.length,
  };
}

const V8_FLAGS = "MINIFLARE_WORKERD_V8_FLAGS";

/**
 * One sample: `copies` copies of Worker `def` (Miniflare v4-style options; each copy its own name,
 * socket and isolate) in a Miniflare of its own, then two requests to each copy in turn. With
 * `eager`, workerd's V8 compiles wasm when the module is created (--no-wasm-lazy-compilation,
 * through Miniflare's MINIFLARE_WORKERD_V8_FLAGS) instead of each function at its first call.
 */
export async function sample(def, { path, copies, eager = false, profile = false, interval = 25 }) {
  const before = new Set(workerdPids());
  const inspectorPort = profile ? await freePort() : undefined;
  const names = Array.from({ length: copies }, (_, i) => (copies === 1 ? def.name : `${def.name}-${i}`));
  const saved = process.env[V8_FLAGS];
  if (eager) process.env[V8_FLAGS] = "--no-wasm-lazy-compilation";
  const t0 = performance.now();
  let mf;
  try {
    mf = new Miniflare(
      convertV4MiniflareOptions({
        workers: names.map((name) => ({ ...def, name })),
        cf: false,
        telemetry: { enabled: false },
        handleStructuredLogs() {},
        ...(inspectorPort ? { inspectorPort } : {}),
      }),
    );
    await mf.ready;
  } finally {
    if (saved === undefined) delete process.env[V8_FLAGS];
    else process.env[V8_FLAGS] = saved;
  }
  try {
    const readyMs = performance.now() - t0;
    const pid = workerdPids().find((p) => !before.has(p));
    const cpuReadyMs = cpuMs(pid);
    const urls = [];
    for (const name of names) urls.push((await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "") + path);
    const per = [];
    let prof;
    for (const [i, url] of urls.entries()) {
      let session;
      if (profile) {
        session = await inspector(inspectorPort, names[i]);
        await session.call("Profiler.enable");
        await session.call("Profiler.setSamplingInterval", { interval });
        await session.call("Profiler.start");
      }
      const c0 = cpuMs(pid);
      const first = await timedGet(url);
      const c1 = cpuMs(pid);
      if (session) {
        prof = { first: summariseProfile((await session.call("Profiler.stop")).profile) };
        await session.call("Profiler.start");
      }
      const c2 = cpuMs(pid);
      const second = await timedGet(url);
      const c3 = cpuMs(pid);
      if (session) {
        prof.second = summariseProfile((await session.call("Profiler.stop")).profile);
        session.close();
      }
      per.push({ firstMs: first.ms, cpuFirstMs: c1 - c0, secondMs: second.ms, cpuSecondMs: c3 - c2, statuses: [first.status, second.status] });
    }
    return {
      readyMs,
      cpuReadyMs,
      firstMs: median(per.map((r) => r.firstMs)),
      cpuFirstMs: median(per.map((r) => r.cpuFirstMs)),
      secondMs: median(per.map((r) => r.secondMs)),
      cpuSecondMs: median(per.map((r) => r.cpuSecondMs)),
      statuses: [...new Set(per.flatMap((r) => r.statuses))],
      ...(prof ? { profile: prof } : {}),
    };
  } finally {
    await mf.dispose();
  }
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** The kinds of sample in a round: [id, Worker, copies, eager]. "base" is one bare copy. */
const KINDS = (k) => [
  ["base", "bare", 1, false],
  ["bare", "bare", k, false],
  ["jose", "jose", k, false],
  ["edge-auth", "edge-auth", k, false],
  ["edge-wasm", "edge-wasm", k, false],
  ["edge-glue", "edge-glue", k, false],
  ["edge-auth-eager", "edge-auth", k, true],
];

/**
 * The figures of a pass's `runs` (`copies` per sample): per isolate, medians over rounds of
 * paired per-round figures; edge-auth's breakdown is differences of those medians, so its parts
 * add up to the medians they split (a median of differences would not).
 */
export function coldFigures(runs, copies) {
  const k = copies;
  const kinds = KINDS(k);
  const rounds = [...new Set(runs.map((r) => r.round))];
  const get = (round, kind) => runs.find((r) => r.round === round && r.kind === kind);
  const each = (f) =>
    rounds.map((round) => {
      const by = Object.fromEntries(kinds.map(([id]) => [id, get(round, id)]));
      return Object.values(by).every(Boolean) ? f(by) : NaN;
    });
  /** Median over rounds of f(the round's samples by kind). */
  const over = (f) => median(each(f));
  // Per isolate, in ms (wall) and ms of workerd CPU: the start of one isolate of `kind` above a
  // bare one, and the bare one's own.
  const startAbove = (kind, key) => (by) => (by[kind][key] - by.bare[key]) / k;
  const bareStart = (key) => (by) => (by.bare[key] - by.base[key]) / (k - 1);
  const figures = {};
  const perRound = {};
  for (const [label, key, first, second] of [["wall", "readyMs", "firstMs", "secondMs"], ["cpu", "cpuReadyMs", "cpuFirstMs", "cpuSecondMs"]]) {
    const fresh = (kind) => (by) => bareStart(key)(by) + (kind === "bare" ? 0 : startAbove(kind, key)(by)) + by[kind][first];
    const freshAbove = (kind) => (by) => startAbove(kind, key)(by) + by[kind][first] - by.bare[first];
    const start = Object.fromEntries(["jose", "edge-auth", "edge-wasm", "edge-glue", "edge-auth-eager"].map((w) => [w, over(startAbove(w, key))]));
    const firsts = Object.fromEntries(kinds.map(([id]) => [id, over((by) => by[id][first])]));
    const seconds = Object.fromEntries(kinds.map(([id]) => [id, over((by) => by[id][second])]));
    figures[label] = {
      // Fresh isolate to first response, per Worker.
      fresh: Object.fromEntries(["bare", "jose", "edge-auth"].map((w) => [w, over(fresh(w))])),
      freshAboveBare: Object.fromEntries(["jose", "edge-auth"].map((w) => [w, over(freshAbove(w))])),
      edgeVsJose: median((perRound[`${label}EdgeVsJose`] = each((by) => fresh("edge-auth")(by) / fresh("jose")(by)))),
      edgeVsJoseAboveBare: median(
        (perRound[`${label}EdgeVsJoseAboveBare`] = each((by) => {
          const j = freshAbove("jose")(by);
          return j > 0 ? freshAbove("edge-auth")(by) / j : NaN;
        })),
      ),
      bareIsolateStart: over(bareStart(key)),
      start,
      first: firsts,
      second: seconds,
      // Where edge-auth's goes (per isolate), from the medians above.
      breakdown: {
        // Loading the wasm module (lazy compilation: decoding and validation).
        wasmLoad: start["edge-wasm"],
        // The glue's top level: instantiation and the start function.
        instantiate: start["edge-glue"] - start["edge-wasm"],
        // edge-auth's own entry and bindings over the glue probe.
        entry: start["edge-auth"] - start["edge-glue"],
        // Compiling every wasm function at load (eager), over lazy.
        eagerCompile: start["edge-auth-eager"] - start["edge-auth"],
        // The first request's lazy compilation: first request, lazy over eager.
        firstLazyCompile: firsts["edge-auth"] - firsts["edge-auth-eager"],
        // The first request's one-time work with the code compiled (per-isolate state: AUTH_CONFIG
        // read and parsed, the gateway built; first runs): eager first over eager second.
        firstOneTime: firsts["edge-auth-eager"] - seconds["edge-auth-eager"],
        // The first request over the floor's first, and a steady (second) one over the floor's.
        firstAboveBare: firsts["edge-auth"] - firsts.bare,
        steadyAboveBare: seconds["edge-auth"] - seconds.bare,
      },
    };
  }
  return { figures, rounds: perRound };
}

/**
 * `samples` rounds; each starts every kind of KINDS once, in an order rotating with the round,
 * after one untimed start. Per isolate: its start (workerd's start with `copies` copies over the
 * same with as many bare copies, divided by `copies`; the bare Worker's own from `copies` bare
 * copies over one), its first and second request (medians over the copies). Figures are paired
 * per round, then the median over rounds.
 */
export async function coldStart({ defs, samples, copies = 8, path = "/public/ping", profile = true, log = () => {} }) {
  const k = Math.max(2, copies);
  const kinds = KINDS(k);
  await sample(defs.bare, { path, copies: 1 });
  const runs = [];
  for (let round = 0; round < samples; round++) {
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
    for (const [id, w, n, eager] of order) runs.push({ round, kind: id, ...(await sample(defs[w], { path, copies: n, eager })) });
    const last = runs.slice(-kinds.length);
    log(`cold start ${round + 1}/${samples}: ${last.map((r) => `${r.kind} ready ${r.readyMs.toFixed(0)} ms cpu ${r.cpuReadyMs.toFixed(0)} ms, first ${r.cpuFirstMs.toFixed(1)} ms cpu`).join(" | ")}`);
  }
  const { figures, rounds: perRound } = coldFigures(runs, k);
  let prof = null;
  if (profile) {
    prof = {};
    for (const [id, eager] of [["lazy", false], ["eager", true]]) {
      try {
        const p = await sample(defs["edge-auth"], { path, copies: 1, eager, profile: true });
        prof[id] = { ...p.profile, firstMs: p.firstMs, cpuFirstMs: p.cpuFirstMs, secondMs: p.secondMs, cpuSecondMs: p.cpuSecondMs };
        log(`cold start, profiled edge-auth first request (${id} compilation): ${JSON.stringify(prof[id].first)}`);
      } catch (e) {
        log(`cold start profile (${id}) failed: ${e.message}`);
      }
    }
  }
  return { samples, copies: k, path, figures, rounds: perRound, profile: prof, runs };
}
