// Shared harness for the runtime tests: the real built Worker (build/) in workerd through
// Miniflare, with real loopback HTTP servers as origin and JWKS endpoint, on ephemeral ports.
import { createServer } from "node:http";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The compatibility date of wrangler.jsonc, scripts/dev.mjs and the benches (workerd must support it). */
export const COMPATIBILITY_DATE = "2026-11-17";

/**
 * The built Worker's modules (scripts/build.sh output), as wrangler.jsonc ships them: the JS entry
 * and its wasm as a compiled module. Miniflare 5 has no `modulesRules`, so they are listed.
 */
export function builtModules(dir) {
  return {
    modulesRoot: dir,
    modules: [
      { type: "ESModule", path: path.join(dir, "index.js") },
      { type: "CompiledWasm", path: path.join(dir, "index_bg.wasm") },
    ],
  };
}

/** A loopback origin that records each request and echoes it back as JSON. */
export async function startOrigin(handler) {
  const requests = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const record = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    requests.push(record);
    if (handler && (await handler(req, res, record)) !== false) return;
    res.writeHead(200, { "content-type": "application/json", "x-origin": "demo" });
    res.end(JSON.stringify(record));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** A loopback port that refuses connections (nothing listens there any more). */
export async function deadPort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  await new Promise((r) => server.close(() => r()));
  return port;
}

/**
 * Start the built Worker in workerd. `config` is AUTH_CONFIG (object, or string to bind it as
 * text); `bindings` adds secrets/vars; `kv` seeds AUTH_KV; `state` binds AUTH_STATE.
 */
export async function startEdge({ config, bindings = {}, kv = {}, assets = false, kvBinding = true, buildDir = "build", state = false } = {}) {
  const allBindings = { ...bindings };
  // Every request of a test comes from one address (127.0.0.1), so the failed-auth budget is
  // off unless a test configures it (tests of the budget do).
  if (config !== undefined) allBindings.AUTH_CONFIG = withoutFailureBudget(config);
  // Miniflare 5 takes a new options format; these are the v4-style worker options, converted
  // by Miniflare's own adapter. KV and the cache are ephemeral (a temp dir, removed on dispose).
  const options = {
    ...builtModules(path.join(ROOT, buildDir)),
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: kvBinding ? ["AUTH_KV"] : [],
    bindings: allBindings,
  };
  // `state`: the AUTH_STATE authority, defined and bound by this one Worker (as wrangler.jsonc
  // deploys it); tests/support/cluster.mjs runs several isolates around one.
  if (state) options.durableObjects = { AUTH_STATE: { className: "AuthState", useSQLite: true } };
  if (assets) {
    options.assets = {
      directory: path.join(ROOT, "www"),
      binding: "ASSETS",
      routerConfig: { invoke_user_worker_ahead_of_assets: true, has_user_worker: true },
    };
  }
  // workerd's output arrives as structured logs; `message` is one console line of the Worker.
  const logs = [];
  options.handleStructuredLogs = ({ message }) => logs.push(...message.split("\n").filter(Boolean));
  options.cf = false;
  options.telemetry = { enabled: false };
  const mf = new Miniflare(convertV4MiniflareOptions(options));
  const url = await mf.ready;
  const store = kvBinding ? await mf.getKVNamespace("AUTH_KV") : null;
  for (const [k, v] of Object.entries(kv)) await store.put(k, typeof v === "string" ? v : JSON.stringify(v));
  return {
    mf,
    url: url.toString().replace(/\/$/, ""),
    kv: store,
    logs,
    fetch: (p, init) => mf.dispatchFetch(new URL(p, "http://edge.test").toString(), init),
    close: () => mf.dispose(),
  };
}

/** `config` with `failed_auth: {burst: 0}` unless it sets `failed_auth` (objects only). */
export function withoutFailureBudget(config) {
  if (config === null || typeof config !== "object" || "failed_auth" in config) return config;
  return { ...config, failed_auth: { burst: 0 } };
}

/** The demo routes most tests use. */
export function baseConfig(origin, extra = {}) {
  return {
    origin,
    realm: "api",
    routes: [
      { path: "/health", auth: "public" },
      { path: "/public/**", auth: "public" },
      { path: "/optional/**", auth: "optional" },
      { path: "/v1/admin/**", methods: ["POST", "DELETE"], accept: ["jwt"], scopes: ["admin"] },
      { path: "/v1/**", accept: ["jwt", "api_key", "pat"] },
    ],
    ...extra,
  };
}
