// A KV namespace that lags like production Workers KV, for the cluster harness (cluster.mjs).
//
// What it models: KV is eventually consistent. A write made in one location reaches the others
// after a propagation delay, and a read with `cacheTtl` may serve a cached copy for that long:
// in production a write is seen elsewhere after up to ~60 s. Here every isolate of the cluster
// reads the one shared namespace through this wrapper, which answers each read with the value as
// it was `lag` ms ago: a key written (or deleted) at time t is seen by this isolate's reads only
// from t + lag; before that the previous value (or absence) is served.
//
// How: this module runs inside the user's isolate as a workerd *wrapped binding* (its default
// export builds the object the Worker sees as `env.AUTH_KV`, from the inner bindings the harness
// gives it). Every stored value in the shared namespace is an envelope
//   {"__kvlag__": 1, "history": [{"t": <ms>, "value": <string> | null}, ...]}
// (oldest first; null is a deletion), so every wrapper, in any isolate, can answer "the value as
// of now − lag". A write appends to the history (read-modify-write: two isolates writing the same
// key in the same instant may lose one history entry; the harness does not need more), and the
// history is trimmed to what the largest allowed lag (MAX_LAG_MS) can still need. Seeds written
// by the harness directly carry t = 0: visible to every isolate at once.
//
// The lag of an isolate is its `LAG_MS` inner binding, overridden at runtime by the control key
// `__kvlag__:lag:<isolate>` in the same namespace (the harness's `setLag` writes it). Control keys
// are hidden from `list`.
//
// `get(key, type | {type, cacheTtl})` behaves for the caller as the real binding does: a string
// (or null) for "text" (the default), parsed JSON for "json", bytes for "arrayBuffer", a stream
// for "stream"; `cacheTtl` is accepted and has no further effect (the lag is the model of it).
// `getWithMetadata` likewise. `put(key, value, {expiration, expirationTtl, metadata})` passes the
// expiry on to the stored envelope. `list({prefix, cursor, limit})` is NOT lagged: it returns the
// keys whose current (newest) state is present, with their own metadata, and hides the envelope
// and the control keys (a page may hold fewer than `limit` names; follow the cursor).

/** The largest lag an isolate may be given; history older than this is dropped. */
export const MAX_LAG_MS = 120_000;
export const CONTROL_PREFIX = "__kvlag__:";
export const LAG_KEY = (isolate) => `${CONTROL_PREFIX}lag:${isolate}`;

/** Parses a stored value: an envelope, or a plain value (written around the wrapper) at t = 0. */
export function parseEnvelope(stored) {
  if (stored === null || stored === undefined) return null;
  if (stored.startsWith('{"__kvlag__":1,')) {
    try {
      const env = JSON.parse(stored);
      if (env && env.__kvlag__ === 1 && Array.isArray(env.history)) return env;
    } catch {
      // not an envelope after all
    }
  }
  return { __kvlag__: 1, history: [{ t: 0, value: stored }] };
}

/** The value (string or null) the history says was current at `asOf` (ms). */
export function valueAsOf(env, asOf) {
  if (env === null) return null;
  let value = null;
  for (const entry of env.history) {
    if (entry.t <= asOf) value = entry.value;
    else break;
  }
  return value;
}

/** Appends `{t, value}` and drops what no allowed lag can need any more. */
export function appendHistory(env, t, value, now = t) {
  const history = env ? env.history.slice() : [];
  // Keep the order even if clocks step back (a later write never lands before an earlier one).
  const last = history.at(-1);
  const at = last && last.t > t ? last.t : t;
  history.push({ t: at, value });
  // The newest entry at or before now − MAX_LAG is what the most lagged reader sees; older ones
  // are never read again.
  const horizon = now - MAX_LAG_MS;
  let keepFrom = 0;
  for (let i = 0; i < history.length; i++) if (history[i].t <= horizon) keepFrom = i;
  const trimmed = history.slice(keepFrom);
  // A deletion that every reader already sees leaves nothing to remember.
  const gone = trimmed.length === 1 && trimmed[0].value === null && trimmed[0].t <= horizon;
  return gone ? null : { __kvlag__: 1, history: trimmed };
}

function encodeValue(value) {
  if (typeof value === "string") return value;
  if (value instanceof ArrayBuffer) return new TextDecoder().decode(value);
  if (ArrayBuffer.isView(value)) return new TextDecoder().decode(value);
  throw new TypeError("kv-lag: put() takes a string, ArrayBuffer or ArrayBufferView (streams are not modelled)");
}

function decodeAs(value, type) {
  if (value === null) return null;
  switch (type ?? "text") {
    case "text":
      return value;
    case "json":
      return JSON.parse(value);
    case "arrayBuffer":
      return new TextEncoder().encode(value).buffer;
    case "stream":
      return new Response(value).body;
    default:
      throw new TypeError(`kv-lag: unknown get type ${JSON.stringify(type)}`);
  }
}

function readType(options) {
  if (typeof options === "string") return options;
  return options?.type;
}

export class LaggedKvNamespace {
  #inner;
  #isolate;
  #lagMs;

  constructor(inner, isolate, lagMs) {
    this.#inner = inner;
    this.#isolate = isolate;
    this.#lagMs = lagMs;
  }

  async #lag() {
    const override = await this.#inner.get(LAG_KEY(this.#isolate), { type: "text" });
    const ms = override === null ? this.#lagMs : Number(override);
    return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_LAG_MS) : 0;
  }

  async #read(key) {
    const [stored, lag] = await Promise.all([
      this.#inner.getWithMetadata(key, { type: "text" }),
      this.#lag(),
    ]);
    const env = parseEnvelope(stored.value);
    const value = valueAsOf(env, Date.now() - lag);
    return { value, metadata: value === null ? null : (stored.metadata?.user ?? null) };
  }

  async get(key, options) {
    if (Array.isArray(key)) {
      const out = new Map();
      for (const k of key) out.set(k, await this.get(k, options));
      return out;
    }
    const { value } = await this.#read(String(key));
    return decodeAs(value, readType(options));
  }

  async getWithMetadata(key, options) {
    const { value, metadata } = await this.#read(String(key));
    return { value: decodeAs(value, readType(options)), metadata, cacheStatus: null };
  }

  async #write(key, value, options = {}) {
    const now = Date.now();
    const stored = await this.#inner.get(key, { type: "text" });
    const env = appendHistory(parseEnvelope(stored), now, value, now);
    if (env === null) return this.#inner.delete(key);
    const putOptions = {
      // list() tells present keys from deleted ones by this, without reading values.
      metadata: { kvlag: { deleted: value === null }, user: options.metadata ?? null },
    };
    // A deletion keeps the envelope (lagged readers still need the old value) without expiry.
    if (value !== null && options.expiration !== undefined) putOptions.expiration = options.expiration;
    if (value !== null && options.expirationTtl !== undefined) putOptions.expirationTtl = options.expirationTtl;
    return this.#inner.put(key, JSON.stringify(env), putOptions);
  }

  async put(key, value, options) {
    return this.#write(String(key), encodeValue(value), options ?? {});
  }

  async delete(key) {
    return this.#write(String(key), null);
  }

  async list(options = {}) {
    const page = await this.#inner.list(options);
    const keys = [];
    for (const k of page.keys) {
      if (k.name.startsWith(CONTROL_PREFIX)) continue;
      if (k.metadata?.kvlag?.deleted) continue;
      const entry = { name: k.name };
      if (k.expiration !== undefined) entry.expiration = k.expiration;
      const user = k.metadata?.kvlag ? k.metadata.user : k.metadata;
      if (user !== undefined && user !== null) entry.metadata = user;
      keys.push(entry);
    }
    return { ...page, keys };
  }
}

/**
 * The wrapped binding's entry: workerd calls it with the inner bindings
 * (`INNER`: the shared KV namespace, `ISOLATE`: this isolate's name, `LAG_MS`: its initial lag).
 */
export default function makeBinding(env) {
  return new LaggedKvNamespace(env.INNER, String(env.ISOLATE ?? "default"), Number(env.LAG_MS ?? 0));
}
