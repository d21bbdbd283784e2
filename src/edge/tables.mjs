// The authority's SQLite tables (the AUTH_STATE Durable Object's storage, docs/state.md), without
// the object: the schema and its migrations, the table access the Rust handler calls (`SqlShell`,
// the extern type of src/edge/state.rs), and the SQL the object's feed, flush and pruning share.
//
// Owns: table and column names, statements, the order of migrations. Never touches: what a row
// means. The core decides that and hands the answer in: which feed rows stand for a KV write KV
// may not have had (`FeedEntry::stands_for_kv_write`, the `pending` column), which keys are
// listed with their value (`KeyStore::put_listed`, the `listed` column), what the names are
// (src/keys/repository.rs). No wasm, no bindings: tests/runtime/tables.test.mjs runs this
// module in Node over node:sqlite.

export const SCHEMA = [
  // The key records and their indexes, under the same names as in KV (key:, id:, sub:). `listed`:
  // the value is also the KV key's metadata, which a KV list returns (the subject index's
  // summaries).
  "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, listed INTEGER NOT NULL DEFAULT 0)",
  // Keys changed but not yet written to KV; `seq` orders and versions them.
  "CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, issuer TEXT, subject TEXT, kind TEXT, event TEXT NOT NULL)",
  "CREATE INDEX IF NOT EXISTS audit_owner ON audit (subject, issuer, kind, seq)",
  "CREATE INDEX IF NOT EXISTS audit_time ON audit (time)",
  // The revocation feed: `seq` is the head it was published at, `until` when it may go, `pending`
  // whether it stands for a KV write (kept past `until` while KV may lack it: PENDING).
  "CREATE TABLE IF NOT EXISTS feed (seq INTEGER PRIMARY KEY, until INTEGER NOT NULL, entry TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 0)",
  "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/** SQL for "this feed row stands in for a KV write that may not have been seen yet": a row the
 *  core marked `pending` published after `synced_head` (its one parameter), the feed head when
 *  KV last had every change. */
export const PENDING = "(seq > ? AND pending = 1)";

export function readMeta(sql, name) {
  const rows = sql.exec("SELECT value FROM meta WHERE name = ?", name).toArray();
  return rows.length ? rows[0].value : null;
}

export function writeMeta(sql, name, value) {
  sql.exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value", name, String(value));
}

/** The next value of a persistent counter. */
export function nextCounter(sql, name) {
  const value = Number(readMeta(sql, name) ?? 0) + 1;
  writeMeta(sql, name, value);
  return value;
}

/** Whether `table` has `column` (a query naming a missing column fails to prepare). */
function hasColumn(sql, table, column) {
  try {
    sql.exec(`SELECT ${column} FROM ${table} LIMIT 0`);
    return true;
  } catch {
    return false;
  }
}

/** `ALTER TABLE … ADD COLUMN` where a table made before the column lacks it; any failure of the
 *  change itself is thrown (the object does not start, and the next start tries again). */
function addColumn(sql, table, column, definition) {
  if (!hasColumn(sql, table, column)) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}

/** Migrations of tables made by earlier versions, in order, each run once (marked in `meta`).
 *  Each is safe to run again if the object stopped halfway (the mark is written last). */
const MIGRATIONS = [
  ["kv_listed", (sql) => addColumn(sql, "kv", "listed", "INTEGER NOT NULL DEFAULT 0")],
  // Its rows are marked by the judging every start does (openTables): only rows after
  // `synced_head` can be PENDING.
  ["feed_pending", (sql) => addColumn(sql, "feed", "pending", "INTEGER NOT NULL DEFAULT 0")],
];

/** Marks `pending` the feed rows `query` selects that the core's rule says stand for a KV write. */
function judge(sql, standsForKvWrite, query, ...bindings) {
  for (const { seq, entry } of sql.exec(query, ...bindings).toArray()) {
    if (standsForKvWrite(entry)) sql.exec("UPDATE feed SET pending = 1 WHERE seq = ?", seq);
  }
}

/** Creates what is missing and brings older tables up to date. Every start then judges, by the
 *  core's rule `standsForKvWrite(entryText)`, the unmarked feed rows KV may not have had yet
 *  (published after `synced_head`; none while KV has every change): rows from before the
 *  `pending` column, and rows a version from before it writes when run again after the
 *  migration (a rollback), which pruning would otherwise drop while KV lacks them. */
export function openTables(sql, standsForKvWrite) {
  for (const statement of SCHEMA) sql.exec(statement);
  for (const [name, migrate] of MIGRATIONS) {
    if (readMeta(sql, `migrated:${name}`) !== null) continue;
    migrate(sql);
    writeMeta(sql, `migrated:${name}`, 1);
  }
  judge(sql, standsForKvWrite, "SELECT seq, entry FROM feed WHERE pending = 0 AND seq > ?", Number(readMeta(sql, "synced_head") ?? 0));
}

/** The tables as `src/edge/state.rs` sees them: synchronous calls; any failure marks the shell
 *  `failed`, and the object rolls the call back. `wrote`: a key was queued for KV. */
export class SqlShell {
  constructor(sql) {
    this.sql = sql;
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
    const seq = nextCounter(this.sql, "outbox_seq");
    this.sql.exec("INSERT INTO outbox (key, seq) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET seq = excluded.seq", key, seq);
    this.wrote = true;
  }
  /** At most `limit` names after `cursor` under `prefix`, in order, with what `putListed` wrote
   *  (`listed[i]` for `keys[i]`, else null), as JSON. */
  list(prefix, cursor, limit) {
    return this.guard(() => {
      const after = cursor !== undefined && cursor !== null && cursor > prefix ? cursor : prefix;
      const rows = this.sql
        .exec("SELECT key, CASE WHEN listed = 1 THEN value END AS listed FROM kv WHERE key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?", after, prefix.length, prefix, limit + 1)
        .toArray();
      const page = rows.slice(0, limit);
      const keys = page.map((r) => r.key);
      const next = rows.length > limit ? keys[keys.length - 1] : null;
      return JSON.stringify({ keys, listed: page.map((r) => r.listed ?? null), cursor: next });
    });
  }
  appendAudit(event, issuer, subject, kind) {
    this.guard(() => {
      const time = Math.floor(Date.now() / 1000);
      this.sql.exec("INSERT INTO audit (time, issuer, subject, kind, event) VALUES (?, ?, ?, ?, ?)", time, issuer ?? null, subject ?? null, kind ?? null, event);
    });
  }
  /** A feed row at the next head; `standsForKvWrite` is the core's verdict on `entry`. */
  appendFeed(entry, until, standsForKvWrite) {
    this.guard(() => {
      const head = nextCounter(this.sql, "head");
      this.sql.exec("INSERT INTO feed (seq, until, entry, pending) VALUES (?, ?, ?, ?)", head, until, entry, standsForKvWrite ? 1 : 0);
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
