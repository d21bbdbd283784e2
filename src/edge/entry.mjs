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
// The authority: the AUTH_STATE Durable Object (docs/state.md). A storage shell: SQLite tables,
// one transaction per call, and replication of committed keys to KV. What a call writes, audits
// and publishes is decided in Rust (src/state, via `wasm.authorityCall`).
const SCHEMA = [
  // The key records and their indexes, under the same names as in KV (key:, id:, sub:). `listed`:
  // the value is also the KV key's metadata, which a KV list returns (`put_listed`: the subject
  // index's summaries).
  "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, listed INTEGER NOT NULL DEFAULT 0)",
  // Keys changed but not yet written to KV; `seq` orders and versions them.
  "CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, issuer TEXT, subject TEXT, kind TEXT, event TEXT NOT NULL)",
  "CREATE INDEX IF NOT EXISTS audit_owner ON audit (subject, issuer, kind, seq)",
  "CREATE INDEX IF NOT EXISTS audit_time ON audit (time)",
  // The revocation feed: `seq` is the head it was published at, `until` when it may go.
  "CREATE TABLE IF NOT EXISTS feed (seq INTEGER PRIMARY KEY, until INTEGER NOT NULL, entry TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

const ROLLBACK = Symbol("rollback");
/** A KV write that failed is retried by the alarm after this long. */
const RETRY_MS = 5_000;
/** How long an admin reply waits for its keys to reach KV (the feed covers the rest). */
const FLUSH_WAIT_MS = 3_000;
/** How long one adoption call copies before it answers with a cursor. */
const ADOPT_MS = 20_000;

/** The tables as `src/edge/state.rs` sees them: synchronous calls; any failure rolls back. */
class SqlShell {
  constructor(owner) {
    this.owner = owner;
    this.sql = owner.sql;
    this.failed = false;
    this.wrote = false;
  }
  guard(run) {
    try {
      return run();
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }
  get(key) {
    return this.guard(() => {
      const rows = this.sql.exec("SELECT value FROM kv WHERE key = ?", key).toArray();
      return rows.length ? rows[0].value : null;
    });
  }
  put(key, value) {
    this.write(key, value, 0);
  }
  putListed(key, value) {
    this.write(key, value, 1);
  }
  write(key, value, listed) {
    this.guard(() => {
      this.sql.exec(
        "INSERT INTO kv (key, value, listed) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, listed = excluded.listed",
        key,
        value,
        listed,
      );
      this.queue(key);
    });
  }
  del(key) {
    this.guard(() => {
      this.sql.exec("DELETE FROM kv WHERE key = ?", key);
      this.queue(key);
    });
  }
  queue(key) {
    const seq = this.owner.next("outbox_seq");
    this.sql.exec("INSERT INTO outbox (key, seq) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET seq = excluded.seq", key, seq);
    this.wrote = true;
  }
  list(prefix, cursor, limit) {
    return this.guard(() => {
      const after = cursor !== undefined && cursor > prefix ? cursor : prefix;
      const rows = this.sql
        .exec("SELECT key, CASE WHEN listed = 1 THEN value END AS listed FROM kv WHERE key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?", after, prefix.length, prefix, limit + 1)
        .toArray();
      const page = rows.slice(0, limit);
      const keys = page.map((r) => r.key);
      const next = rows.length > limit ? keys[keys.length - 1] : null;
      return JSON.stringify({ keys, listed: page.map((r) => r.listed), cursor: next });
    });
  }
  appendAudit(event, issuer, subject, kind) {
    this.guard(() => {
      const time = Math.floor(Date.now() / 1000);
      this.sql.exec("INSERT INTO audit (time, issuer, subject, kind, event) VALUES (?, ?, ?, ?, ?)", time, issuer ?? null, subject ?? null, kind ?? null, event);
    });
  }
  appendFeed(entry, until) {
    this.guard(() => {
      const head = this.owner.next("head");
      this.sql.exec("INSERT INTO feed (seq, until, entry) VALUES (?, ?, ?)", head, until, entry);
    });
  }
  auditPage(issuer, subject, before, limit) {
    return this.guard(() => {
      const where = [];
      const args = [];
      if (subject !== undefined) {
        where.push("kind = 'pat' AND subject = ? AND issuer = ?");
        args.push(subject, issuer ?? null);
      }
      if (before !== undefined) {
        where.push("seq < ?");
        args.push(before);
      }
      const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
      const rows = this.sql.exec(`SELECT seq, event FROM audit ${clause} ORDER BY seq DESC LIMIT ?`, ...args, limit + 1).toArray();
      const page = rows.slice(0, limit);
      const cursor = rows.length > limit ? page[page.length - 1].seq : null;
      return `{"events":[${page.map((r) => r.event).join(",")}],"cursor":${cursor}}`;
    });
  }
}

export class AuthState extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
    // Tables made before `listed` existed get the column once (a new table has it already).
    if (this.meta("kv_listed") === null) {
      try {
        this.sql.exec("ALTER TABLE kv ADD COLUMN listed INTEGER NOT NULL DEFAULT 0");
      } catch {
        // the column is there
      }
      this.setMeta("kv_listed", 1);
    }
    // The epoch names this storage: a new one tells every isolate to drop what it cached.
    if (this.meta("epoch") === null) this.setMeta("epoch", crypto.randomUUID());
    this.flushing = null;
    this.again = false;
    this.prunedAt = 0;
  }

  meta(name) {
    const rows = this.sql.exec("SELECT value FROM meta WHERE name = ?", name).toArray();
    return rows.length ? rows[0].value : null;
  }
  setMeta(name, value) {
    this.sql.exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value", name, String(value));
  }
  /** The next value of a persistent counter. */
  next(name) {
    const value = Number(this.meta(name) ?? 0) + 1;
    this.setMeta(name, value);
    return value;
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
    const shell = new SqlShell(this);
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

  /** SQL for "this row stands in for a KV write that may not have been seen yet": a revocation
   *  or change (`key`, `changed`) published after `synced_head`, the feed head when KV last had
   *  every change. Token revocations and principal cut-offs live only in the feed, and a
   *  `created` entry only spares a KV miss (past its time a key KV lacks fails closed). */
  static PENDING = "(seq > ? AND json_extract(entry, '$.t') IN ('key', 'changed'))";

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
      ? this.sql.exec(`SELECT entry FROM feed WHERE until > ? OR ${AuthState.PENDING} ORDER BY seq DESC LIMIT ?`, now, this.syncedHead(), max + 1).toArray()
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
    let next = cursor || undefined;
    do {
      const page = await this.env.AUTH_KV.list({ cursor: next, limit: 1000 });
      for (const { name, metadata } of page.keys) {
        if (!wasm.kvIsAdopted(name)) continue;
        if (this.sql.exec("SELECT 1 FROM kv WHERE key = ?", name).toArray().length) {
          skipped++;
          continue;
        }
        const value = await this.env.AUTH_KV.get(name);
        if (value === null) continue;
        // A key listed with its value (a summary entry) stays so; KV hands it back as the metadata.
        const listed = typeof metadata === "string" && metadata === value ? 1 : 0;
        this.sql.exec("INSERT INTO kv (key, value, listed) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING", name, value, listed);
        copied++;
      }
      next = page.list_complete ? undefined : page.cursor;
    } while (next && Date.now() - started < ADOPT_MS);
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
        this.sql.exec(`UPDATE feed SET until = MAX(until, ?) WHERE ${AuthState.PENDING}`, until, this.syncedHead());
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
    if (this.pending()) this.sql.exec(`DELETE FROM feed WHERE until <= ? AND NOT ${AuthState.PENDING}`, now, this.syncedHead());
    else this.sql.exec("DELETE FROM feed WHERE until <= ?", now);
    const keep = wasm.auditRetentionSeconds(this.env);
    this.sql.exec("DELETE FROM audit WHERE time < ?", now - keep);
  }
}
