// src/edge/tables.mjs on its own, in Node over node:sqlite (the SQLite a Durable Object's storage
// is; `sql.exec(query, ...bindings).toArray()` as there): the migrations of tables made by
// earlier versions, the listed values the PAT cap counts from, and the feed rows that wait for
// KV. The object around it is covered by the workerd tests (state.test.mjs, state-outbox.test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { PENDING, SqlShell, openTables, readMeta } from "../../src/edge/tables.mjs";

/** A Durable Object's `ctx.storage.sql` over an in-memory database. */
function storage() {
  const db = new DatabaseSync(":memory:");
  return {
    db,
    exec(query, ...bindings) {
      const statement = db.prepare(query);
      const rows = statement.columns().length ? statement.all(...bindings) : (statement.run(...bindings), []);
      return { toArray: () => rows.map((r) => ({ ...r })) };
    },
  };
}

/** The core's rule (src/state/feed.rs `FeedEntry::stands_for_kv_write`), for the test's rows. */
const standsForKvWrite = (text) => ["key", "changed"].includes(JSON.parse(text).t);
const columns = (sql, table) => sql.exec(`SELECT name FROM pragma_table_info('${table}')`).toArray().map((r) => r.name);

test("tables made by the first version gain the new columns once, with their rows kept and marked", () => {
  const sql = storage();
  // The first version's tables, with rows.
  sql.exec("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  sql.exec("CREATE TABLE feed (seq INTEGER PRIMARY KEY, until INTEGER NOT NULL, entry TEXT NOT NULL)");
  sql.exec("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  sql.exec("INSERT INTO kv VALUES ('sub:61:0:key_1', '')");
  const entries = ['{"t":"key","id":"a","at":1}', '{"t":"created","d":"00"}', '{"t":"changed","id":"b","at":2}', '{"t":"token","iss":"i","jti":"j","exp":3}'];
  entries.forEach((e, i) => sql.exec("INSERT INTO feed VALUES (?, 100, ?)", i + 1, e));

  const seen = [];
  openTables(sql, (text) => (seen.push(text), standsForKvWrite(text)));
  assert.ok(columns(sql, "kv").includes("listed"));
  assert.ok(columns(sql, "feed").includes("pending"));
  assert.deepEqual(sql.exec("SELECT key, value, listed FROM kv").toArray(), [{ key: "sub:61:0:key_1", value: "", listed: 0 }]);
  assert.deepEqual(sql.exec("SELECT seq FROM feed WHERE pending = 1 ORDER BY seq").toArray().map((r) => r.seq), [1, 3]);
  assert.deepEqual(seen, entries, "every old row was judged by the core's rule");
  for (const name of ["kv_listed", "feed_pending"]) assert.equal(readMeta(sql, `migrated:${name}`), "1");

  // Opened again (the next time the object starts): no migration runs twice; only the unmarked
  // rows KV may lack (KV has not had every change yet: synced_head 0) are judged again.
  const again = [];
  openTables(sql, (text) => (again.push(text), standsForKvWrite(text)));
  assert.deepEqual(again, [entries[1], entries[3]]);
  assert.equal(sql.exec("SELECT COUNT(*) AS n FROM feed").toArray()[0].n, 4);
});

test("rows written unmarked after the migration (an older version run again) are judged at the next start", () => {
  const sql = storage();
  openTables(sql, standsForKvWrite);
  // What a version from before `pending` writes: no verdict. KV last had everything at head 1.
  sql.exec("INSERT INTO feed (seq, until, entry) VALUES (1, 10, ?)", '{"t":"key","id":"old","at":1}');
  sql.exec("INSERT INTO feed (seq, until, entry) VALUES (2, 10, ?)", '{"t":"key","id":"a","at":1}');
  sql.exec("INSERT INTO feed (seq, until, entry) VALUES (3, 10, ?)", '{"t":"created","d":"00"}');
  sql.exec("INSERT INTO meta (name, value) VALUES ('synced_head', '1')");
  const judged = [];
  openTables(sql, (text) => (judged.push(JSON.parse(text).t), standsForKvWrite(text)));
  assert.deepEqual(judged, ["key", "created"], "only what KV may lack");
  assert.deepEqual(sql.exec(`SELECT seq FROM feed WHERE ${PENDING}`, 1).toArray().map((r) => r.seq), [2]);
});

test("a migration that cannot change the table stops the start, and runs again at the next", () => {
  const sql = storage();
  sql.exec("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const exec = sql.exec;
  sql.exec = (query, ...bindings) => {
    if (query.startsWith("ALTER TABLE kv")) throw new Error("SQLITE_FULL");
    return exec.call(sql, query, ...bindings);
  };
  assert.throws(() => openTables(sql, standsForKvWrite), /SQLITE_FULL/);
  assert.equal(readMeta(sql, "migrated:kv_listed"), null);
  sql.exec = exec;
  openTables(sql, standsForKvWrite);
  assert.ok(columns(sql, "kv").includes("listed"));
});

test("new tables have every column, and their migrations are marked without a row to judge", () => {
  const sql = storage();
  openTables(sql, () => assert.fail("no rows to judge"));
  assert.deepEqual(columns(sql, "kv"), ["key", "value", "listed"]);
  assert.deepEqual(columns(sql, "feed"), ["seq", "until", "entry", "pending"]);
  assert.equal(readMeta(sql, "migrated:feed_pending"), "1");
});

test("a listing hands back what put_listed wrote, and nothing for a plain put", () => {
  const sql = storage();
  openTables(sql, standsForKvWrite);
  const shell = new SqlShell(sql);
  shell.putListed("sub:61:i00:pat_a", '{"kind":"pat","created_at":1,"expires_at":2}');
  shell.put("sub:61:i00:pat_b", "");
  shell.put("sub:62:0:key_c", "");
  shell.putListed("sub:61:i00:pat_d", '{"kind":"pat","created_at":3,"expires_at":4}');
  shell.put("sub:61:i00:pat_d", "");
  const page = (cursor) => JSON.parse(shell.list("sub:61:", cursor, 2));
  const first = page(undefined);
  assert.deepEqual(first, { keys: ["sub:61:i00:pat_a", "sub:61:i00:pat_b"], listed: ['{"kind":"pat","created_at":1,"expires_at":2}', null], cursor: "sub:61:i00:pat_b" });
  // A plain put over a listed key leaves it unlisted, as a KV put without metadata does.
  assert.deepEqual(page(first.cursor), { keys: ["sub:61:i00:pat_d"], listed: [null], cursor: null });
  assert.ok(shell.wrote);
  assert.deepEqual(
    sql.exec("SELECT key FROM outbox ORDER BY seq").toArray().map((r) => r.key),
    ["sub:61:i00:pat_a", "sub:61:i00:pat_b", "sub:62:0:key_c", "sub:61:i00:pat_d"],
    "each written key queued once for KV, at its latest write",
  );
  shell.del("sub:61:i00:pat_a");
  assert.deepEqual(page(undefined).keys, ["sub:61:i00:pat_b", "sub:61:i00:pat_d"]);
});

test("feed rows wait for KV exactly when the core marked them", () => {
  const sql = storage();
  openTables(sql, standsForKvWrite);
  const shell = new SqlShell(sql);
  shell.appendFeed('{"t":"key","id":"a","at":1}', 10, true);
  shell.appendFeed('{"t":"created","d":"00"}', 10, false);
  shell.appendFeed('{"t":"key","id":"b","at":1}', 10, true);
  const waiting = (syncedHead) => sql.exec(`SELECT seq FROM feed WHERE ${PENDING} ORDER BY seq`, syncedHead).toArray().map((r) => r.seq);
  assert.deepEqual(waiting(0), [1, 3]);
  assert.deepEqual(waiting(1), [3], "only what was published after KV last had every change");
  assert.deepEqual(waiting(3), []);
  assert.equal(readMeta(sql, "head"), "3");
});

test("a failing statement marks the shell failed, so the object rolls the call back", () => {
  const sql = storage();
  openTables(sql, standsForKvWrite);
  const shell = new SqlShell(sql);
  sql.exec("DROP TABLE outbox");
  assert.throws(() => shell.put("key:x", "{}"));
  assert.equal(shell.failed, true);
});
