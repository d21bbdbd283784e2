// The Worker's JavaScript entry, bundled by scripts/build.sh around wasm-bindgen's glue.
//
// worker-build's default entry wraps every request in a Proxy'd WorkerEntrypoint class; in
// workerd that costs about 16 µs of CPU per request, a fifth of everything edge-auth adds to a
// request. This entry is a plain module Worker that calls the exported Rust `fetch` directly and
// keeps the part that matters: after a Rust panic or a Wasm trap, the instance is rebuilt
// (`__wbg_reset_state`) before the next request, so no request runs on corrupted state, and the
// rebuild is logged. (wasm-bindgen's glue, built with its abort handler, would also reinitialise
// on the next call; tests/runtime/recovery.test.mjs checks the outcome: a new instance, logged.)
import { DurableObject } from "cloudflare:workers";
import * as wasm from "./index.js";
// runtime.js as the glue imports it (scripts/build.sh points this name at the same file, so the
// bundle holds one copy): the decision line is written here, after the synchronous call returns.
import { holdLines, releaseLines } from "edge-auth-runtime";
import { PENDING, SqlShell, openTables, readMeta, writeMeta } from "./tables.mjs";

const state = wasm.__worker_init_state();

function rebuildIfBroken() {
  if (state.criticalError) {
    console.error(JSON.stringify({ level: "error", event: "wasm_reinitialised" }));
    wasm.__wbg_reset_state();
    state.criticalError = false;
    state.instanceId++;
  }
}

function noteTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) state.criticalError = true;
}

// A trap inside a later step of an asynchronous request surfaces here.
addEventListener("error", (event) => noteTrap(event.error));

export default {
  fetch(request, env, ctx) {
    rebuildIfBroken();
    holdLines();
    try {
      return wasm.fetch(request, env, ctx);
    } catch (error) {
      noteTrap(error);
      throw error;
    } finally {
      releaseLines();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// The authority: the AUTH_STATE Durable Object (docs/state.md). A storage shell: SQLite tables
// (./tables.mjs: schema, migrations, the table access Rust calls), one transaction per call, and
// replication of committed keys to KV. What a call writes, audits and publishes is decided in
// Rust (src/state, via `wasm.authorityCall`), and so is which feed rows wait for KV.

const ROLLBACK = Symbol("rollback");
/** A KV write that failed is retried by the alarm after this long. */
const RETRY_MS = 5_000;
/** How long an admin reply waits for its keys to reach KV (the feed covers the rest). */
const FLUSH_WAIT_MS = 3_000;
/** How long one adoption call copies before it answers with a cursor. */
const ADOPT_MS = 20_000;
/** Names per bulk KV read (KV's most), and the KV operations after which one adoption call
 *  answers with a cursor: a page of 1,000 names costs one list and at most ten bulk reads, and a
 *  request may make 1,000 operations (it read every name on its own, one operation each, and
 *  failed past the first 999 keys). */
const ADOPT_READ_BATCH = 100;
const ADOPT_MAX_OPERATIONS = 900;

export class AuthState extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    openTables(this.sql, wasm.feedEntryStandsForKvWrite);
    // The epoch names this storage: a new one tells every isolate to drop what it cached.
    if (this.meta("epoch") === null) this.setMeta("epoch", crypto.randomUUID());
    this.flushing = null;
    this.again = false;
    this.prunedAt = 0;
  }

  meta(name) {
    return readMeta(this.sql, name);
  }
  setMeta(name, value) {
    writeMeta(this.sql, name, value);
  }

  async fetch(request) {
    rebuildIfBroken();
    try {
      const url = new URL(request.url);
      if (url.pathname === "/call" && request.method === "POST") return await this.call(await request.text());
      if (url.pathname === "/feed") return this.feed();
      if (url.pathname === "/record") return this.record(url.searchParams.get("key") ?? "");
      if (url.pathname === "/adopt" && request.method === "POST") return await this.adopt(url.searchParams.get("cursor"));
      if (url.pathname === "/lease" && request.method === "POST") return this.limits("limitsLease", await request.text());
      if (url.pathname === "/usage" && request.method === "POST") return this.limits("limitsUsage", await request.text());
      return new Response("no such authority endpoint", { status: 404 });
    } catch (error) {
      noteTrap(error);
      throw error;
    }
  }

  async call(text) {
    this.prune();
    const shell = new SqlShell(this.sql);
    let result;
    try {
      this.ctx.storage.transactionSync(() => {
        result = wasm.authorityCall(shell, this.env, text, Date.now());
        if (!result.commit || shell.failed) throw ROLLBACK;
      });
    } catch (error) {
      if (error !== ROLLBACK) throw error;
      shell.wrote = false;
    }
    if (shell.failed && result.response.ok) {
      return Response.json({ status: 503, error: "state_unavailable" }, { status: 503, headers: { "retry-after": "2" } });
    }
    if (shell.wrote) {
      let timer;
      const waited = new Promise((resolve) => (timer = setTimeout(resolve, FLUSH_WAIT_MS)));
      await Promise.race([this.flush(), waited]);
      clearTimeout(timer);
    }
    return result.response;
  }

  /** True while changes wait for KV (the outbox holds any). */
  pending() {
    return this.sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length > 0;
  }

  /** The revocation feed: every entry still kept, newest first, at most the core's cap. */
  feed() {
    const now = Math.floor(Date.now() / 1000);
    const max = wasm.feedMaxEntries();
    // While KV lags, a revocation past its time may still be all that stands for it.
    const rows = this.pending()
      ? this.sql.exec(`SELECT entry FROM feed WHERE until > ? OR ${PENDING} ORDER BY seq DESC LIMIT ?`, now, this.syncedHead(), max + 1).toArray()
      : this.sql.exec("SELECT entry FROM feed WHERE until > ? ORDER BY seq DESC LIMIT ?", now, max + 1).toArray();
    const overflow = rows.length > max;
    const entries = rows.slice(0, max).map((r) => r.entry).join(",");
    const body = `{"epoch":${JSON.stringify(this.meta("epoch"))},"head":${Number(this.meta("head") ?? 0)},"overflow":${overflow},"entries":[${entries}]}`;
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "no-store" } });
  }

  /** A counter object (`limits/<subject>`, src/limits/counter.rs): its one row, read,
   *  changed by the core and written back in one transaction; the core's answer is the body. */
  limits(call, text) {
    let answer;
    this.ctx.storage.transactionSync(() => {
      const [state, reply] = wasm[call](this.env, this.meta("limits"), text, Date.now());
      if (state !== undefined) this.setMeta("limits", state);
      answer = reply;
    });
    return new Response(answer, { headers: { "content-type": "application/json" } });
  }

  /** A record for the Worker's read, with this object's clock at the read (`x-read-at`, Unix
   *  seconds): the clock the feed's change times come from (src/keys/authenticator.rs). */
  record(key) {
    const rows = this.sql.exec("SELECT value FROM kv WHERE key = ?", key).toArray();
    if (!wasm.kvIsRecord(key) || !rows.length) return new Response(null, { status: 404 });
    return new Response(rows[0].value, { headers: { "x-read-at": String(Math.floor(Date.now() / 1000)) } });
  }

  /** Copy records KV holds and the tables do not (keys made before the state tier), verbatim:
   *  records, id records and subject index entries (`kvIsAdopted`: the schema is
   *  src/keys/repository.rs's), never overwriting what the authority has. One call works
   *  for at most ADOPT_MS and answers a cursor to continue with. (Authorised by the Worker.) */
  async adopt(cursor) {
    const started = Date.now();
    let copied = 0;
    let skipped = 0;
    let operations = 0;
    let next = cursor || undefined;
    do {
      const page = await this.env.AUTH_KV.list({ cursor: next, limit: 1000 });
      operations++;
      const wanted = [];
      for (const { name, metadata } of page.keys) {
        if (!wasm.kvIsAdopted(name)) continue;
        if (this.sql.exec("SELECT 1 FROM kv WHERE key = ?", name).toArray().length) skipped++;
        else wanted.push({ name, metadata });
      }
      // KV's bulk read: up to 100 names per operation.
      for (let i = 0; i < wanted.length; i += ADOPT_READ_BATCH) {
        const batch = wanted.slice(i, i + ADOPT_READ_BATCH);
        const values = await this.env.AUTH_KV.get(batch.map((k) => k.name));
        operations++;
        for (const { name, metadata } of batch) {
          const value = values.get(name) ?? null;
          if (value === null) continue;
          // A key listed with its value (a summary entry) stays so; KV hands it back as the metadata.
          const listed = typeof metadata === "string" && metadata === value ? 1 : 0;
          this.sql.exec("INSERT INTO kv (key, value, listed) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING", name, value, listed);
          copied++;
        }
      }
      next = page.list_complete ? undefined : page.cursor;
    } while (next && Date.now() - started < ADOPT_MS && operations <= ADOPT_MAX_OPERATIONS);
    return Response.json({ copied, skipped, ...(next ? { cursor: next } : {}) });
  }

  /** Write changed keys to KV, one flusher at a time, each key's current value (so KV ends at
   *  the latest state whatever the order); a failure leaves the rest to the alarm. */
  flush() {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      let wrote = false;
      do {
        this.again = false;
        const rows = this.sql.exec("SELECT key, seq FROM outbox ORDER BY seq LIMIT 100").toArray();
        for (const { key, seq } of rows) {
          const current = this.sql.exec("SELECT value, listed FROM kv WHERE key = ?", key).toArray();
          try {
            if (current.length) {
              const { value, listed } = current[0];
              await this.env.AUTH_KV.put(key, value, listed === 1 ? { metadata: value } : undefined);
            } else await this.env.AUTH_KV.delete(key);
          } catch {
            this.setMeta("kv_failing", 1);
            await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
            return;
          }
          this.sql.exec("DELETE FROM outbox WHERE key = ? AND seq = ?", key, seq);
          wrote = true;
        }
        if (rows.length === 100) this.again = true;
      } while (this.again);
      if (!wrote || this.pending()) return;
      // KV has every change. After failed writes, the revocations and changes it took only now
      // stay in the feed one more window from now: caches and KV locations may still serve the
      // copy from before for that long. Writes that never failed need no more than their own.
      if (this.meta("kv_failing") !== null) {
        const until = Math.floor(Date.now() / 1000) + wasm.feedWindowSeconds();
        this.sql.exec(`UPDATE feed SET until = MAX(until, ?) WHERE ${PENDING}`, until, this.syncedHead());
        this.sql.exec("DELETE FROM meta WHERE name = ?", "kv_failing");
      }
      this.setMeta("synced_head", Number(this.meta("head") ?? 0));
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  async alarm() {
    rebuildIfBroken();
    this.prune();
    await this.flush();
  }

  /** The feed head when KV last had every change. */
  syncedHead() {
    return Number(this.meta("synced_head") ?? 0);
  }

  /** Drop feed entries past their time (but not, while KV lags, a revocation or change KV may
   *  not have: `PENDING`), and audit rows past the retention, at most once a minute. */
  prune() {
    const nowMs = Date.now();
    if (nowMs - this.prunedAt < 60_000) return;
    this.prunedAt = nowMs;
    const now = Math.floor(nowMs / 1000);
    if (this.pending()) this.sql.exec(`DELETE FROM feed WHERE until <= ? AND NOT ${PENDING}`, now, this.syncedHead());
    else this.sql.exec("DELETE FROM feed WHERE until <= ?", now);
    const keep = wasm.auditRetentionSeconds(this.env);
    this.sql.exec("DELETE FROM audit WHERE time < ?", now - keep);
  }
}
