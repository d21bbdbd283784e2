// The Workers under test, all in one Miniflare instance (one workerd process), each on its own
// loopback socket so that requests reach the Worker directly, without Miniflare's entry proxy:
//
//   edge-auth          the real build (build/index.js + wasm), AUTH_KV = the shared namespace
//   jose               benches/reference-jose-worker.mjs, bundled with esbuild at start
//   bare               benches/bare-worker.mjs, the floor
//   edge-auth-last-used  edge-auth with `keys.record_last_used` on (its default), for one scenario
//   edge-auth-assertion, jose-assertion  both with ASSERTION_KEY bound: signed assertions
//   edge-auth-state    edge-auth with the state tier: AUTH_STATE bound (issue #14), the object
//                      defined by "authority" and bound by scriptName, SQLite-backed
//   authority          the same build, defines the AuthState class (not served on a socket); its
//                      entry module subclasses AuthState only to count the requests the object
//                      receives, per path (/feed, /call, /record), in the isolate's memory
//                      (read through GET /__bench/object-calls on the worker itself)
//   edge-auth-limits   edge-auth with the state tier and rate limits (issue #15): the same routes
//                      plus /limited/** (a large leased limit, never reached) and /strict/** (the
//                      same limit, `strict`: one object call per request); AUTH_STATE bound to
//                      its own authority script, "authority-limits" (the same counting entry),
//                      so its lease calls and feed refreshes are counted apart from edge-auth-state's
//   edge-auth-counted  }  the same Workers, but AUTH_KV is a counting wrapper
//   edge-auth-last-used-counted }  (benches/lib/counting-kv.mjs) around the namespace, put in
//   edge-auth-state-counted }  place by a small entry module; used only by the counting pass
//   jose-counted       }  (edge-auth-state-counted binds the same authority)
//   edge-auth-nolog, jose-nolog  edge-auth and jose with `console.log` replaced by a no-op (an
//                      entry module around the Worker's own entry): the decision line is still
//                      built, never written; the "log-line" scenario times them against the two
//                      Workers above (issue #13)
//
// `startWorkers` also returns `defs`, the option sets of the bare, jose and edge-auth Workers
// (and two edge-auth start-up probes, see `coldProbe`), for benches/lib/cold.mjs, which starts
// each in a Miniflare of its own to time a fresh isolate.
//
// The three timed Workers and the counting wrappers all bind the same KV namespace, so one seed
// serves them all. (Miniflare 5 has no `wrappedBindings`: the wrapper now runs in the Worker's own
// isolate, as the wrapped binding's module did in its own.)
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare, Response, convertV4MiniflareOptions } from "miniflare";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KV_ID = "edge-auth-bench-kv";
/** The build under test: `build/` unless BENCH_BUILD_DIR names another scripts/build.sh output. */
export const BUILD_DIR = path.resolve(ROOT, process.env.BENCH_BUILD_DIR || "build");
// As in wrangler.jsonc, scripts/dev.mjs and tests/support/harness.mjs.
export const COMPAT_DATE = "2026-11-17";
/** `usage` of edge-auth-limits (issue #15): how long and how large a lease is. */
export const LIMITS_USAGE = { lease_seconds: 10, max_lease: 100 };
const COUNTING_KV_SOURCE = readFileSync(path.join(ROOT, "benches/lib/counting-kv.mjs"), "utf8");

/**
 * `worker` with a counting AUTH_KV: a new entry module hands the Worker's own entry (`main`, a
 * module of `worker.modules`) an env whose AUTH_KV is benches/lib/counting-kv.mjs around the
 * real namespace (INNER), reporting to `counter` as `who`.
 */
function withCountingKv(worker, main, who, counter) {
  const entry = path.join(worker.modulesRoot, "counted-entry.mjs");
  const source = `import worker from "./${main}";
import countingKv from "./counting-kv.mjs";
let seen, wrapped;
export default {
  fetch(request, env, ctx) {
    if (env !== seen) {
      seen = env;
      wrapped = { ...env, AUTH_KV: countingKv({ INNER: env.INNER, COUNTER: env.COUNTER, WHO: env.WHO }) };
    }
    return worker.fetch(request, wrapped, ctx);
  },
};
`;
  return {
    ...worker,
    modules: [
      { type: "ESModule", path: entry, contents: source },
      ...worker.modules,
      { type: "ESModule", path: path.join(worker.modulesRoot, "counting-kv.mjs"), contents: COUNTING_KV_SOURCE },
    ],
    bindings: { ...worker.bindings, WHO: who },
    kvNamespaces: { INNER: KV_ID },
    serviceBindings: { COUNTER: counter },
  };
}

/**
 * `worker` with `console.log` a no-op: a new entry module re-exports the Worker's own entry
 * (`main`, a module of `worker.modules`) after replacing the global console's `log`. Both Workers
 * write their decision line with `console.log` at request time (edge-auth from a microtask,
 * build/index.js `logLine`), so every line is dropped; its building (in wasm, in JS) still runs.
 */
function withoutLog(worker, main) {
  const entry = path.join(worker.modulesRoot, "nolog-entry.mjs");
  const source = `import worker from "./${main}";
console.log = () => {};
export default worker;
`;
  return { ...worker, modules: [{ type: "ESModule", path: entry, contents: source }, ...worker.modules] };
}

/**
 * Two start-up probes of edge-auth for the cold-start pass, each with the bare Worker's fetch
 * handler (so their first request costs what the floor's does): "edge-wasm" only imports the
 * build's wasm module (workerd compiles it when it loads the script), "edge-glue" imports
 * build/index.js, whose top level instantiates the module and runs its start function. Against
 * the bare Worker and each other they split edge-auth's start into wasm compile and glue +
 * instantiate; edge-auth's own first request adds the config parse and the first decision.
 */
function coldProbe(name, importLine, origin) {
  return {
    name,
    modules: true,
    modulesRoot: BUILD_DIR,
    modules: [
      {
        type: "ESModule",
        path: path.join(BUILD_DIR, `${name}-entry.mjs`),
        contents: `${importLine}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new Request(env.ORIGIN + url.pathname + url.search, request));
  },
};
`,
      },
      { type: "ESModule", path: path.join(BUILD_DIR, "index.js") },
      { type: "CompiledWasm", path: path.join(BUILD_DIR, "index_bg.wasm") },
    ],
    compatibilityDate: COMPAT_DATE,
    bindings: { ORIGIN: origin },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  };
}

const ALL_ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
/**
 * The asymmetric algorithms the build accepts in `issuers[].algorithms`, read from its config
 * error message ("must be one of RS256, ..."). A build older than the 384/512 algorithms (issue
 * #17) refuses a config that lists them, and would refuse every request: the bench then
 * configures what the build knows, and the 384/512 scenarios fail validation for edge-auth only.
 */
export function buildAlgorithms(dir = BUILD_DIR) {
  try {
    const text = readFileSync(path.join(dir, "index_bg.wasm")).toString("latin1");
    const m = /must be one of ((?:[A-Za-z0-9]+, )*[A-Za-z0-9]+) \(exact case\)/.exec(text);
    if (m) {
      const known = new Set(m[1].split(", "));
      const algs = ALL_ASYMMETRIC.filter((a) => known.has(a));
      if (algs.length) return algs;
    }
  } catch {}
  return ALL_ASYMMETRIC;
}

/**
 * The authority's entry: the build's AuthState, subclassed to count each request the object
 * receives by path. A Cache API hit of an isolate's feed refresh never reaches the object, so
 * these are the object's real load. Counting is a map update in the object's isolate (no I/O).
 */
//
// The counter objects of rate limits (issue #15, `limits/<object>` by idFromName, called at
// https://limits/lease and /usage) are instances of the same class: their calls are counted the
// same way, by path, and the distinct objects that received one under "objects".
const AUTHORITY_ENTRY = `import worker, { AuthState as Base } from "./index.js";
const calls = {};
const objects = new Set();
export class AuthState extends Base {
  fetch(request) {
    const url = new URL(request.url);
    const p = url.pathname;
    calls[p] = (calls[p] ?? 0) + 1;
    if (url.hostname === "limits") objects.add(String(this.ctx.id));
    return super.fetch(request);
  }
}
export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__bench/object-calls") return Response.json({ ...calls, objects: objects.size });
    return worker.fetch(request, env, ctx);
  },
};
`;

/** Bundles the reference Worker (it imports `jose`) into a temp dir; returns its source. */
export async function bundleReference() {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-auth-bench-"));
  const outfile = path.join(dir, "reference-jose-worker.mjs");
  try {
    await build({
      entryPoints: [path.join(ROOT, "benches/reference-jose-worker.mjs")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      conditions: ["workerd", "worker", "browser"],
      outfile,
      logLevel: "warning",
    });
    return readFileSync(outfile, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts every Worker. `s` holds the shared settings: origin, jwksBase, issuer, hsIssuer,
 * audience, hsSecret. Returns { mf, urls, kv, seed, kvCounts, objectCalls, tail, close }.
 */
export async function startWorkers(s) {
  const joseSource = await bundleReference();
  const socket = () => [{ host: "127.0.0.1", port: 0 }];

  // `recordLastUsed`: edge-auth's default writes `last_used_at` for each key it sees (a KV write
  // per key and cache lifetime). The reference does not, so the timed comparison turns it off
  // (same job) and one extra scenario measures what it costs.
  const edgeAlgorithms = buildAlgorithms();
  if (edgeAlgorithms.length < ALL_ASYMMETRIC.length) {
    console.error(
      `[bench] ${path.relative(ROOT, BUILD_DIR)} accepts only ${edgeAlgorithms.join(", ")} (+ HS256): it predates the other algorithms; ` +
        "edge-auth is configured with those only (rebuild with `make build` to measure the rest)",
    );
  }
  const edgeConfig = (jwksPath, recordLastUsed = false, extraRoutes = []) => ({
    origin: s.origin,
    keys: { record_last_used: recordLastUsed },
    // Off: every bench request comes from one address, and the bad-signature scenario measures
    // the cost of a refused signature, not of the failed-auth budget's 429.
    failed_auth: { burst: 0 },
    realm: "api",
    issuers: [
      {
        issuer: s.issuer,
        jwks_uri: `${s.jwksBase}/${jwksPath}/jwks.json`,
        audiences: [s.audience],
        algorithms: edgeAlgorithms,
        leeway_seconds: 60,
      },
      {
        issuer: s.hsIssuer,
        audiences: [s.audience],
        algorithms: ["HS256"],
        leeway_seconds: 60,
        hs256_secret: "BENCH_HS256_SECRET",
      },
    ],
    routes: [
      { path: "/public/**", auth: "public" },
      ...extraRoutes,
      { path: "/v1/**", accept: ["jwt", "api_key", "pat"] },
    ],
  });
  // Rate limits (issue #15) on edge-auth-limits: a limit the bench never reaches, leased (the
  // default) and strict; `usage` sizes the leases (at most LIMITS_USAGE.max_lease units each).
  const bigLimit = { name: "m", limit: 1e9, period_seconds: 3600, by: "key" };
  const limitRoutes = [
    { path: "/limited/**", accept: ["jwt", "api_key", "pat"], limits: [bigLimit] },
    // One name is one counter: the strict limit has its own.
    { path: "/strict/**", accept: ["jwt", "api_key", "pat"], limits: [{ ...bigLimit, name: "s", strict: true }] },
  ];
  const joseBindings = (jwksPath) => ({
    ORIGIN: s.origin,
    REALM: "api",
    ISSUER: s.issuer,
    JWKS_URI: `${s.jwksBase}/${jwksPath}/jwks.json`,
    AUDIENCE: s.audience,
    HS_ISSUER: s.hsIssuer,
    HS256_SECRET: s.hsSecret,
  });
  const edgeWorker = (name, jwksPath, recordLastUsed = false, config = edgeConfig(jwksPath, recordLastUsed)) => ({
    name,
    modules: true,
    // The built modules as wrangler.jsonc ships them (Miniflare 5 has no `modulesRules`).
    modulesRoot: BUILD_DIR,
    modules: [
      { type: "ESModule", path: path.join(BUILD_DIR, "index.js") },
      { type: "CompiledWasm", path: path.join(BUILD_DIR, "index_bg.wasm") },
    ],
    compatibilityDate: COMPAT_DATE,
    bindings: { AUTH_CONFIG: config, BENCH_HS256_SECRET: s.hsSecret },
    unsafeDirectSockets: socket(),
  });
  const joseWorker = (name, jwksPath) => ({
    name,
    modulesRoot: path.join(ROOT, "benches"),
    modules: [{ type: "ESModule", path: path.join(ROOT, "benches/reference-jose-worker.bundle.mjs"), contents: joseSource }],
    compatibilityDate: COMPAT_DATE,
    bindings: joseBindings(jwksPath),
    unsafeDirectSockets: socket(),
  });
  // One benchmark-only Ed25519 key, bound to the two Workers of the assertion scenario.
  const assertionKey = JSON.stringify({
    ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
    kid: "bench-assertion",
  });
  // KV operations seen by the counting wrapper, per Worker.
  const kvCounts = {};
  const counter = (request) => {
    const [, who, op] = new URL(request.url).pathname.split("/");
    kvCounts[who] ??= {};
    kvCounts[who][op] = (kvCounts[who][op] ?? 0) + 1;
    return new Response(null, { status: 204 });
  };
  // The tail of workerd's output, for diagnosing a failed check (edge-auth logs one line per
  // request; the rest is drained and dropped).
  const chunks = { stdout: [], stderr: [] };
  const tail = () => ({ stdout: chunks.stdout.join("\n"), stderr: chunks.stderr.join("\n") });
  // The state tier's binding: one authority for the deployment, as in tests/support/cluster.mjs.
  const stateBinding = { AUTH_STATE: { className: "AuthState", scriptName: "authority", useSQLite: true } };
  /** The Worker defining AuthState (not served on a socket), through the counting entry. */
  const authorityWorker = (name, w) => {
    const { unsafeDirectSockets, ...rest } = w;
    return {
      ...rest,
      name,
      modules: [{ type: "ESModule", path: path.join(BUILD_DIR, `${name}-entry.mjs`), contents: AUTHORITY_ENTRY }, ...w.modules],
      kvNamespaces: { AUTH_KV: KV_ID },
      durableObjects: { AUTH_STATE: { className: "AuthState", useSQLite: true } },
    };
  };
  const workers = [
    { ...edgeWorker("edge-auth", "edge"), kvNamespaces: { AUTH_KV: KV_ID } },
    { ...joseWorker("jose", "jose"), kvNamespaces: { AUTH_KV: KV_ID } },
    {
      name: "bare",
      modules: true,
      scriptPath: path.join(ROOT, "benches/bare-worker.mjs"),
      compatibilityDate: COMPAT_DATE,
      bindings: { ORIGIN: s.origin },
      unsafeDirectSockets: socket(),
    },
    { ...edgeWorker("edge-auth-last-used", "edge", true), kvNamespaces: { AUTH_KV: KV_ID } },
    { ...edgeWorker("edge-auth-state", "edge"), kvNamespaces: { AUTH_KV: KV_ID }, durableObjects: stateBinding },
    authorityWorker("authority", edgeWorker("authority", "edge")),
    {
      ...edgeWorker("edge-auth-limits", "edge", false, { ...edgeConfig("edge", false, limitRoutes), usage: LIMITS_USAGE }),
      kvNamespaces: { AUTH_KV: KV_ID },
      durableObjects: { AUTH_STATE: { className: "AuthState", scriptName: "authority-limits", useSQLite: true } },
    },
    authorityWorker("authority-limits", edgeWorker("authority-limits", "edge", false, { ...edgeConfig("edge", false, limitRoutes), usage: LIMITS_USAGE })),
    (() => {
      const w = edgeWorker("edge-auth-assertion", "edge");
      return { ...w, bindings: { ...w.bindings, ASSERTION_KEY: assertionKey }, kvNamespaces: { AUTH_KV: KV_ID } };
    })(),
    (() => {
      const w = joseWorker("jose-assertion", "jose");
      return { ...w, bindings: { ...w.bindings, ASSERTION_KEY: assertionKey }, kvNamespaces: { AUTH_KV: KV_ID } };
    })(),
    withCountingKv(edgeWorker("edge-auth-counted", "edge-counted"), "index.js", "edge-auth", counter),
    withCountingKv(edgeWorker("edge-auth-last-used-counted", "edge-counted", true), "index.js", "edge-auth-last-used", counter),
    {
      ...withCountingKv(edgeWorker("edge-auth-state-counted", "edge-counted"), "index.js", "edge-auth-state", counter),
      durableObjects: stateBinding,
    },
    withCountingKv(joseWorker("jose-counted", "jose-counted"), "reference-jose-worker.bundle.mjs", "jose", counter),
    { ...withoutLog(edgeWorker("edge-auth-nolog", "edge"), "index.js"), kvNamespaces: { AUTH_KV: KV_ID } },
    { ...withoutLog(joseWorker("jose-nolog", "jose"), "reference-jose-worker.bundle.mjs"), kvNamespaces: { AUTH_KV: KV_ID } },
    {
      // Seeds KV from inside workerd: much faster than one Node → workerd round trip per put.
      name: "kv-seeder",
      modules: true,
      script: `export default {
        async fetch(request, env) {
          const entries = await request.json();
          await Promise.all(entries.map(([k, v]) => env.KV.put(k, v)));
          return new Response(String(entries.length));
        },
      };`,
      compatibilityDate: COMPAT_DATE,
      kvNamespaces: { KV: KV_ID },
    },
  ];

  // Miniflare 5 takes a new options format: these v4-style options go through its own adapter.
  // KV is ephemeral (a temp dir removed on dispose). workerd's output arrives as structured logs.
  const mf = new Miniflare(convertV4MiniflareOptions({
    workers,
    cf: false,
    telemetry: { enabled: false },
    ...(process.env.BENCH_INSPECTOR_PORT ? { inspectorPort: Number(process.env.BENCH_INSPECTOR_PORT) } : {}),
    handleStructuredLogs({ level, message }) {
      const name = level === "error" || level === "warn" ? "stderr" : "stdout";
      chunks[name].push(message);
      if (chunks[name].length > 40) chunks[name].shift();
    },
  }));
  try {
    await mf.ready;
  } catch (e) {
    const t = tail();
    console.error(`workerd failed to start:\n${t.stderr}\n${t.stdout}`);
    throw e;
  }
  const urls = {};
  for (const name of [
    "edge-auth",
    "jose",
    "bare",
    "edge-auth-last-used",
    "edge-auth-state",
    "edge-auth-limits",
    "edge-auth-assertion",
    "jose-assertion",
    "edge-auth-counted",
    "edge-auth-last-used-counted",
    "edge-auth-state-counted",
    "jose-counted",
    "edge-auth-nolog",
    "jose-nolog",
  ]) {
    urls[name] = (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
  }
  const seeder = await mf.getWorker("kv-seeder");
  /** Seeds `entries` ([key, value] pairs) into the shared namespace. */
  const seed = async (entries, chunk = 500) => {
    for (let i = 0; i < entries.length; i += chunk) {
      const res = await seeder.fetch("http://seed/", { method: "POST", body: JSON.stringify(entries.slice(i, i + chunk)) });
      const n = Number(await res.text());
      if (res.status !== 200 || n !== Math.min(chunk, entries.length - i)) throw new Error(`seeding KV failed: ${res.status}`);
    }
  };
  const kv = await mf.getKVNamespace("AUTH_KV", "edge-auth");
  const authorities = { authority: await mf.getWorker("authority"), "authority-limits": await mf.getWorker("authority-limits") };
  /** Requests the AuthState objects of `which` have received so far, per path ({ "/feed": n,
   *  "/lease": n, ..., objects: distinct counter objects called }); the default is the state
   *  tier's, "authority-limits" edge-auth-limits'. */
  const objectCalls = async (which = "authority") => {
    const { objects, ...calls } = await (await authorities[which].fetch("http://authority/__bench/object-calls")).json();
    return which === "authority" ? calls : { ...calls, objects };
  };
  // For the cold-start pass: each of these alone in a Miniflare of its own (KV bound, empty).
  const byName = Object.fromEntries(workers.map((w) => [w.name, w]));
  const defs = {
    bare: byName.bare,
    jose: byName.jose,
    "edge-auth": byName["edge-auth"],
    "edge-wasm": coldProbe("edge-wasm", `import wasm from "./index_bg.wasm";\nglobalThis.__benchWasm = wasm;`, s.origin),
    "edge-glue": coldProbe("edge-glue", `import * as glue from "./index.js";\nglobalThis.__benchGlue = glue;`, s.origin),
  };
  return { mf, urls, kv, seed, kvCounts, objectCalls, tail, defs, kvId: KV_ID, close: () => mf.dispose() };
}
