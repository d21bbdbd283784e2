// A cluster of the built Worker for the runtime tests: N isolates of the same modules in one
// workerd (one Miniflare), sharing one KV namespace and, optionally, one Durable Object
// namespace, with each isolate's AUTH_KV lagging like production KV.
//
// What it models: Workers KV's propagation delay and `cacheTtl` — a write made through one
// location is seen elsewhere only after a delay (up to ~60 s in production). Each isolate's
// AUTH_KV is a wrapper (tests/support/kv-lag.mjs) around the shared namespace that serves reads
// as they were `lag` ms ago. The consistent authority (the `AUTH_STATE` Durable Object) is one
// namespace for the whole cluster: it is defined in a dedicated worker, "authority", running the
// same modules, and every isolate binds it by `scriptName`, with SQLite storage; the authority's
// own AUTH_KV is the same wrapper with lag 0.
//
// Layout of the workerd config (Miniflare workers, in this order):
//   "kv-store"   a stub worker that owns the real KV namespace (the harness's direct access);
//   "authority"  only with `durableObject`: the same modules, defines the object class;
//   "edge-0".."edge-(N-1)"  the isolates; each is its own V8 isolate (own module state, so its
//                own per-isolate caches), AUTH_KV = kv-lag wrapper.
//
// The wrapper is a workerd *wrapped binding*: its module runs inside the user's isolate and its
// default export builds the object the Worker sees as `env.AUTH_KV`, so the Worker calls
// `get(key, {type, cacheTtl})`, `put(key, value, {expiration})`, `delete`, `list` on a plain JS
// object exactly as on a real binding. Miniflare 5 has no user option for wrapped bindings (no
// `wrappedBindings`), so this file is also a Miniflare *external plugin* (it exports `plugins`),
// loaded through an `unsafeBindings` entry of type "kv-lag"; the plugin emits the raw workerd
// binding `{ wrapped: { moduleName, innerBindings } }` and registers kv-lag.mjs as an internal
// extension module. The inner KV binding is built by Miniflare's own KV plugin, so it reaches the
// same namespace as "kv-store"'s.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare, convertV4MiniflareOptions, KV_PLUGIN } from "miniflare";
import { ROOT, COMPATIBILITY_DATE, builtModules, withoutFailureBudget } from "./harness.mjs";
import { LAG_KEY, MAX_LAG_MS, parseEnvelope } from "./kv-lag.mjs";

const HERE = fileURLToPath(import.meta.url);
const KV_LAG_SOURCE = path.join(path.dirname(HERE), "kv-lag.mjs");
const PLUGIN_NAME = "edge-auth-kv-lag";
const BINDING_TYPE = "kv-lag";
const MODULE_NAME = "edge-auth:kv-lag";
/** The id of the one KV namespace every worker of a cluster shares. */
const NAMESPACE_ID = "edge-auth-cluster-kv";

/** The Miniflare plugin behind `unsafeBindings: [{ type: "kv-lag", ... }]`. */
const KV_LAG_PLUGIN = {
  bindingTypeDescription: "lagged KV namespace (test harness)",
  async getBindings(workerOpts, sharedOpts) {
    const lagged = Object.entries(workerOpts.config.env ?? {}).filter(([, b]) => b.type === `unsafe:${BINDING_TYPE}`);
    const out = [];
    for (const [name, binding] of lagged) {
      const { namespace, isolate, lagMs } = binding.dev?.options ?? {};
      // Miniflare's KV plugin makes the inner binding, as it would for `kvNamespaces`.
      const [inner] = await KV_PLUGIN.getBindings(
        { config: { env: { INNER: { type: "kv", id: namespace } } }, dev: workerOpts.dev },
        sharedOpts,
      );
      out.push({
        name,
        wrapped: {
          moduleName: MODULE_NAME,
          innerBindings: [
            inner,
            { name: "ISOLATE", text: String(isolate) },
            { name: "LAG_MS", json: JSON.stringify(Number(lagMs ?? 0)) },
          ],
        },
      });
    }
    return out;
  },
  getNodeBindings() {
    return {};
  },
  async getServices() {
    return [];
  },
  getExtensions() {
    return [{ modules: [{ name: MODULE_NAME, esModule: readFileSync(KV_LAG_SOURCE, "utf8"), internal: true }] }];
  },
};

/** Read by Miniflare when an `unsafeBindings` entry names this file as its plugin package. */
export const plugins = { [PLUGIN_NAME]: KV_LAG_PLUGIN };

function laggedKvBinding(name, isolate, lagMs) {
  return {
    name,
    type: BINDING_TYPE,
    plugin: { package: HERE, name: PLUGIN_NAME },
    options: { namespace: NAMESPACE_ID, isolate, lagMs },
  };
}

function checkLag(ms) {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_LAG_MS) throw new RangeError(`lag must be 0..${MAX_LAG_MS} ms, got ${ms}`);
  return ms;
}

/**
 * Start `isolates` isolates of the built Worker (or of `workerModules`).
 *
 * - `config`: AUTH_CONFIG (object, or a string to bind it as text), for every isolate.
 * - `kvLagMs`: the initial lag of each isolate's AUTH_KV (missing entries: 0).
 * - `bindings`: more vars/secrets, for every isolate (and the authority).
 * - `buildDir`: the built Worker (default build/), used unless `workerModules` is given.
 * - `workerModules`: `{ modulesRoot, modules }` as builtModules() returns, to run other modules
 *   (tests of the plumbing, e.g. tests/support/fixtures/counter-do.mjs). Alias: `modulesOverride`.
 * - `durableObject`: `{ binding, className }`: the class is exported by the modules; it is
 *   defined once, in the "authority" worker, and every isolate binds that one namespace.
 * - `authorityModules`: other modules for the "authority" worker alone (a test entry around the
 *   built Worker, e.g. tests/support/fixtures/authority-clock.mjs).
 *
 * Returns `{ isolates: [{ name, fetch(path, init), logs }], kv, setLag(i, ms), logs, mf, close() }`.
 * `kv` is direct, lag-free access to the shared namespace: `put` writes the envelope with time 0
 * (visible to every isolate at once), `get` reads the newest value, `delete` removes the key for
 * everyone at once, `list` lists present keys. workerd's structured logs carry no worker name, so
 * every isolate's `logs` is the same array: all the cluster's console lines, in order.
 */
export async function startCluster({
  config,
  isolates = 2,
  kvLagMs = [0, 0],
  bindings = {},
  buildDir = "build",
  durableObject = null,
  workerModules,
  modulesOverride,
  authorityModules,
} = {}) {
  const modules = workerModules ?? modulesOverride ?? builtModules(path.join(ROOT, buildDir));
  const vars = { ...bindings };
  // Every request of a test comes from one address (127.0.0.1), so the failed-auth budget is
  // off unless a test configures it (tests of the budget do).
  if (config !== undefined) vars.AUTH_CONFIG = withoutFailureBudget(config);
  const common = { ...modules, compatibilityDate: COMPATIBILITY_DATE, bindings: vars };

  const workers = [
    {
      name: "kv-store",
      modules: [{ type: "ESModule", path: "kv-store.mjs", contents: 'export default { fetch() { return new Response("kv-store"); } };' }],
      compatibilityDate: COMPATIBILITY_DATE,
      kvNamespaces: { AUTH_KV: NAMESPACE_ID },
    },
  ];
  let durableObjects;
  if (durableObject) {
    const { binding, className } = durableObject;
    workers.push({
      ...common,
      ...(authorityModules ?? {}),
      name: "authority",
      durableObjects: { [binding]: { className, useSQLite: true } },
      unsafeBindings: [laggedKvBinding("AUTH_KV", "authority", 0)],
    });
    durableObjects = { [binding]: { className, scriptName: "authority", useSQLite: true } };
  }
  const names = [];
  for (let i = 0; i < isolates; i++) {
    const name = `edge-${i}`;
    names.push(name);
    workers.push({
      ...common,
      name,
      ...(durableObjects ? { durableObjects } : {}),
      unsafeBindings: [laggedKvBinding("AUTH_KV", name, checkLag(kvLagMs[i] ?? 0))],
    });
  }

  const logs = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers,
      handleStructuredLogs: ({ message }) => logs.push(...message.split("\n").filter(Boolean)),
      cf: false,
      telemetry: { enabled: false },
    }),
  );
  await mf.ready;
  const store = await mf.getKVNamespace("AUTH_KV", "kv-store");

  const kv = {
    /** Seeds `key` for every isolate at once (history `[{t: 0, value}]`). */
    async put(key, value, opts = {}) {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      const envelope = { __kvlag__: 1, history: [{ t: 0, value: text }] };
      await store.put(key, JSON.stringify(envelope), {
        ...opts,
        metadata: { kvlag: { deleted: false }, user: opts.metadata ?? null },
      });
    },
    /** The newest value of `key` (string or null), whatever any isolate's lag. */
    async get(key) {
      const env = parseEnvelope(await store.get(key));
      return env ? (env.history.at(-1).value ?? null) : null;
    },
    /** The stored history of `key` (`[{t, value}]`, oldest first), or null. */
    async history(key) {
      return parseEnvelope(await store.get(key))?.history ?? null;
    },
    /** Removes `key` for every isolate at once. */
    async delete(key) {
      await store.delete(key);
    },
    /** Present keys under `prefix` (all pages; control keys and deletions left out). */
    async list(prefix = "") {
      return (await this.listed(prefix)).map((k) => k.name);
    },
    /** The same, each with the metadata its writer gave (`{name, metadata}`). */
    async listed(prefix = "") {
      const out = [];
      let cursor;
      do {
        const page = await store.list({ prefix, cursor });
        for (const k of page.keys) {
          if (k.name.startsWith("__kvlag__:") || k.metadata?.kvlag?.deleted) continue;
          out.push({ name: k.name, metadata: k.metadata?.user ?? null });
        }
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return out;
    },
    raw: store,
  };

  const fetchVia = (name) => (p, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    headers.set("MF-Route-Override", name);
    return mf.dispatchFetch(new URL(p, "http://edge.test").toString(), { ...init, headers });
  };

  return {
    mf,
    kv,
    logs,
    isolates: names.map((name) => ({ name, fetch: fetchVia(name), logs })),
    authority: durableObject ? { name: "authority", fetch: fetchVia("authority"), logs } : null,
    /** Changes isolate `i`'s lag (ms), effective for its next read. */
    async setLag(i, ms) {
      if (!(i >= 0 && i < names.length)) throw new RangeError(`no isolate ${i}`);
      await store.put(LAG_KEY(names[i]), String(checkLag(ms)));
    },
    close: () => mf.dispose(),
  };
}
