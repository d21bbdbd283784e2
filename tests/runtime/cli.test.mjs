// The operators' command-line client (src/bin/edge-auth.rs) against the built Worker: create,
// list across pages, get, roll, revoke, and its errors and exit codes (1 API, 2 usage, 3
// network). It runs target/debug/edge-auth, which `make test-native` builds; it builds nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, startOrigin, startEdge, deadPort } from "../support/harness.mjs";
import { makeKey, startJwks } from "../support/tokens.mjs";
import { makeKeyToken } from "../../benches/lib/credentials.mjs";
import { createHash } from "node:crypto";

const BIN = path.join(ROOT, "target", "debug", "edge-auth");
const ADMIN = "runtime-test-admin-token-cli-0123456789";
const AUD = "https://api.test";
let origin, edge, jwks, scratch;

/** Run the CLI; never throws on a non-zero exit. `env` replaces the EDGE_AUTH_* variables. */
function cli(args, env = {}) {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith("EDGE_AUTH_")) delete base[k];
  const vars = { EDGE_AUTH_URL: edge.url, EDGE_AUTH_ADMIN_TOKEN: ADMIN, ...env };
  for (const [k, v] of Object.entries(vars)) if (v === undefined) delete vars[k];
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...base, ...vars }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function ok(args, env) {
  const r = await cli(args, env);
  assert.equal(r.code, 0, `edge-auth ${args.join(" ")}\n${r.stderr}`);
  return r;
}

const works = async (token) => (await edge.fetch("/v1/x", { headers: { "x-api-key": token } })).status;

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`cargo build --bin edge-auth\` (make test-native does)`);
  origin = await startOrigin();
  jwks = await startJwks([makeKey("EdDSA")]);
  edge = await startEdge({
    config: {
      origin: origin.url,
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [{ path: "/v1/**" }],
      keys: { cache_ttl_seconds: 0 },
    },
    bindings: { ADMIN_TOKEN: ADMIN },
  });
  scratch = mkdtempSync(path.join(tmpdir(), "edge-auth-cli-"));
});
after(async () => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  await edge?.close();
  await jwks?.close();
  await origin?.close();
});

test("create prints the details and the token once, with a warning to store it", async () => {
  const r = await ok(["keys", "create", "--kind", "api_key", "--subject", "svc-cli", "--name", "ci", "--scope", "read", "--scope", "write"]);
  const token = r.stdout.match(/^token:\s+(eak_[0-9A-Za-z]{36})$/m)?.[1];
  assert.ok(token, r.stdout);
  assert.equal(r.stdout.split(token).length, 2, "the token appears exactly once");
  assert.match(r.stdout, /^subject:\s+svc-cli$/m);
  assert.match(r.stdout, /^scopes:\s+read write$/m);
  assert.match(r.stderr, /shown only once/);
  assert.ok(!r.stderr.includes(token));
  assert.ok(!r.stdout.includes(ADMIN) && !r.stderr.includes(ADMIN), "the admin token is never printed");
  assert.equal(await works(token), 200);
});

test("create --json prints the API's answer as is (a PAT of the configured issuer)", async () => {
  const r = await ok(["keys", "create", "--json", "--kind", "pat", "--subject", "alice", "--name", "laptop", "--scope", "read", "--expires-in", "3600"]);
  const key = JSON.parse(r.stdout);
  assert.match(key.token, /^eap_/);
  assert.equal(key.kind, "pat");
  assert.equal(key.issuer, jwks.url);
  assert.deepEqual(key.scopes, ["read"]);
  assert.equal(key.expires_at - key.created_at, 3600);
  assert.match(r.stderr, /shown only once/);
  assert.equal(await works(key.token), 200);
});

test("list follows the cursor across pages, and --limit/--cursor page by hand", async () => {
  const ids = [];
  for (const name of ["a", "b", "c"]) {
    const r = await ok(["keys", "create", "--json", "--kind", "api_key", "--subject", "pager", "--name", name]);
    ids.push(JSON.parse(r.stdout).id);
  }
  // One key per request: three keys need at least three pages.
  const all = JSON.parse((await ok(["keys", "list", "--json", "--subject", "pager", "--page-size", "1"])).stdout);
  assert.deepEqual(all.keys.map((k) => k.id).sort(), [...ids].sort());
  assert.equal(all.cursor, undefined, "done: no cursor");
  assert.equal(all.subject, "pager");
  for (const k of all.keys) assert.equal(k.token, undefined);

  const first = JSON.parse((await ok(["keys", "list", "--json", "--subject", "pager", "--page-size", "1", "--limit", "2"])).stdout);
  assert.equal(first.keys.length, 2);
  assert.ok(first.cursor, "keys were left, so a cursor is given");
  const rest = JSON.parse((await ok(["keys", "list", "--json", "--subject", "pager", "--page-size", "1", "--cursor", first.cursor])).stdout);
  assert.deepEqual([...first.keys, ...rest.keys].map((k) => k.id).sort(), [...ids].sort());

  const table = (await ok(["keys", "list", "--subject", "pager", "--page-size", "1"])).stdout;
  const lines = table.trimEnd().split("\n");
  assert.match(lines[0], /^ID\s+KIND\s+SUBJECT\s+NAME\s+STATUS\s+SCOPES\s+EXPIRES\s+START$/);
  for (const id of ids) assert.match(table, new RegExp(`^${id}\\s+api_key\\s+pager\\s`, "m"));
  assert.equal(lines.at(-1), "3 key(s)");

  // Filters go to the API: every key, only PATs.
  const pats = JSON.parse((await ok(["keys", "list", "--json", "--kind", "pat", "--page-size", "2"])).stdout);
  assert.ok(pats.keys.length >= 1);
  for (const k of pats.keys) assert.equal(k.kind, "pat");
});

test("get, roll and revoke", async () => {
  const key = JSON.parse((await ok(["keys", "create", "--json", "--kind", "api_key", "--subject", "svc-roll", "--name", "r", "--scope", "read"])).stdout);
  const shown = (await ok(["keys", "get", key.id])).stdout;
  assert.match(shown, new RegExp(`^id:\\s+${key.id}$`, "m"));
  assert.match(shown, /^status:\s+active$/m);
  assert.ok(!shown.includes(key.token));
  assert.equal(JSON.parse((await ok(["keys", "get", "--json", key.id])).stdout).subject, "svc-roll");

  const rolled = await ok(["keys", "roll", key.id, "--grace-seconds", "0", "--json"]);
  const fresh = JSON.parse(rolled.stdout);
  assert.notEqual(fresh.id, key.id);
  assert.deepEqual(fresh.scopes, ["read"]);
  assert.match(rolled.stderr, /shown only once/);
  assert.equal(await works(fresh.token), 200);
  assert.equal(await works(key.token), 401, "past a zero grace");

  const human = await ok(["keys", "roll", fresh.id, "--grace-seconds", "600"]);
  const third = human.stdout.match(/^token:\s+(eak_\S+)$/m)?.[1];
  assert.ok(third, human.stdout);
  assert.equal(await works(fresh.token), 200, "within the grace");

  const revoked = await ok(["keys", "revoke", fresh.id]);
  assert.match(revoked.stdout, new RegExp(`Revoked ${fresh.id}`));
  assert.equal(await works(fresh.token), 401);
  assert.equal(JSON.parse((await ok(["keys", "get", "--json", fresh.id])).stdout).status, "revoked");
  assert.equal((await ok(["keys", "revoke", "--json", fresh.id])).stdout, "", "--json prints nothing for a 204");
});

test("errors: the problem's detail and exit 1; unreachable is 3; no token or bad usage is 2", async () => {
  const direct = await edge.fetch("/_auth/keys", { headers: { authorization: "Bearer wrong-admin-token-0123456789abcdef" } });
  const problem = await direct.json();
  assert.equal(direct.status, 401);
  assert.ok(problem.detail);
  let r = await cli(["keys", "list"], { EDGE_AUTH_ADMIN_TOKEN: "wrong-admin-token-0123456789abcdef" });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(problem.detail), r.stderr);
  assert.ok(r.stderr.includes("401"), r.stderr);
  assert.ok(!r.stderr.includes("wrong-admin-token"), "the token is never printed");
  assert.equal(r.stdout, "");

  r = await cli(["keys", "get", "key_doesNotExist0000"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /404 Not found: No such key\./);

  r = await cli(["keys", "create", "--kind", "api_key", "--subject", "s", "--name", "n", "--expires-in", "5"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /400 Invalid request: .*expiry/);

  r = await cli(["keys", "list"], { EDGE_AUTH_URL: `http://127.0.0.1:${await deadPort()}` });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /cannot reach the Worker/);

  r = await cli(["keys", "list"], { EDGE_AUTH_ADMIN_TOKEN: undefined });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /EDGE_AUTH_ADMIN_TOKEN is not set/);

  r = await cli(["keys", "list"], { EDGE_AUTH_URL: undefined });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--url/);

  r = await cli(["keys", "create", "--kind", "jwt", "--subject", "s", "--name", "n"]);
  assert.equal(r.code, 2);
  r = await cli(["keys", "get", "../jwks.json"]);
  assert.equal(r.code, 2);

  r = await cli(["keys", "list"], { EDGE_AUTH_URL: "http://edge.example" });
  assert.equal(r.code, 2, "plain http off loopback is refused");
  assert.match(r.stderr, /in clear/);
});

test("import sends existing keys by hash: they work without being reissued, and a re-run skips them", async () => {
  const file = path.join(scratch, "keys.jsonl");
  const token = makeKeyToken("eak_");
  const hash = createHash("sha256").update(token).digest("hex");
  writeFileSync(file, `${JSON.stringify({ hash, id: "key_imported1", kind: "api_key", subject: "old", name: "legacy", scopes: ["read"] })}\n`);
  let r = await cli(["keys", "import", file, "--dry-run"], { EDGE_AUTH_ADMIN_TOKEN: undefined });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 record\(s\) .* valid/);

  r = await cli(["keys", "import", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Imported 1 key\(s\) .*\(0 already there/);
  assert.ok(!r.stdout.includes(hash) && !r.stderr.includes(hash), "never prints the hash");
  const res = await edge.fetch("/v1/things", { headers: { "x-api-key": token } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).headers["x-auth-key-id"], "key_imported1");
  r = await cli(["keys", "import", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Imported 0 key\(s\) .*\(1 already there/);

  const bad = path.join(scratch, "bad.jsonl");
  writeFileSync(bad, `${JSON.stringify({ hash: "ABC", kind: "api_key", subject: "old", name: "legacy" })}\n`);
  r = await cli(["keys", "import", bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /record 1: "hash"/);
});

test("with the state tier: principals revoke, tokens revoke, audit across pages, keys adopt", async () => {
  const stateEdge = await startEdge({
    config: {
      origin: origin.url,
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [{ path: "/v1/**" }],
    },
    bindings: { ADMIN_TOKEN: ADMIN },
    state: true,
  });
  try {
    const env = { EDGE_AUTH_URL: stateEdge.url };
    const made = [];
    for (let i = 0; i < 3; i++) {
      const r = await ok(["--json", "keys", "create", "--kind", "api_key", "--subject", "carol", "--name", `k${i}`], env);
      made.push(JSON.parse(r.stdout));
    }
    const revoked = JSON.parse((await ok(["--json", "principals", "revoke", "--subject", "carol"], env)).stdout);
    assert.deepEqual(revoked.revoked_keys.sort(), made.map((k) => k.id).sort());
    for (const k of made) assert.equal((await stateEdge.fetch("/v1/x", { headers: { "x-api-key": k.token } })).status, 401);
    const human = await ok(["principals", "revoke", "--subject", "nobody"], env);
    assert.match(human.stdout, /Revoked nobody: 0 key\(s\)/);

    const exp = Math.floor(Date.now() / 1000) + 600;
    const tok = JSON.parse((await ok(["--json", "tokens", "revoke", "--issuer", jwks.url, "--jti", "j-1", "--exp", String(exp)], env)).stdout);
    assert.equal(tok.jti, "j-1");
    const bad = await cli(["tokens", "revoke", "--issuer", "https://unknown.test", "--jti", "j", "--exp", String(exp)], env);
    assert.equal(bad.code, 1, "an API refusal is exit 1");

    const all = JSON.parse((await ok(["--json", "audit"], env)).stdout);
    const actions = all.events.map((e) => e.action);
    assert.deepEqual(actions.slice(0, 3), ["token.revoke", "principal.revoke", "principal.revoke"], "newest first");
    assert.equal(actions.filter((a) => a === "key.create").length, 3);
    const two = JSON.parse((await ok(["--json", "audit", "--limit", "2"], env)).stdout);
    assert.equal(two.events.length, 2);
    const text = await ok(["audit", "--limit", "1"], env);
    assert.match(text.stdout, /token\.revoke\s+admin_token/);

    const adopted = JSON.parse((await ok(["--json", "keys", "adopt"], env)).stdout);
    assert.equal(adopted.copied, 0, "everything was made through the authority");
    assert.ok(adopted.skipped >= 3);

    // Without the state tier the same commands say so (500 state_not_bound, exit 1).
    const plain = await cli(["audit"]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /AUTH_STATE is not bound/);
  } finally {
    await stateEdge.close();
  }
});

test("limits and credits: keys create --limits/--credits, keys update, keys usage (state tier)", async () => {
  const stateEdge = await startEdge({
    config: {
      origin: origin.url,
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [{ path: "/v1/**" }],
    },
    bindings: { ADMIN_TOKEN: ADMIN },
    state: true,
  });
  try {
    const env = { EDGE_AUTH_URL: stateEdge.url };
    const hourly = { name: "hourly", limit: 100, period_seconds: 3600, by: "key" };
    const created = JSON.parse(
      (await ok(["--json", "keys", "create", "--kind", "api_key", "--subject", "metered", "--name", "m", "--limits", JSON.stringify([hourly]), "--credits", "50", "--refill", "50/3600"], env)).stdout,
    );
    let meta = JSON.parse((await ok(["--json", "keys", "get", created.id], env)).stdout);
    assert.deepEqual(meta.limits, [hourly]);
    assert.equal(meta.credits.remaining, 50);
    assert.deepEqual(meta.credits.refill, { amount: 50, every_seconds: 3600 });
    const shown = (await ok(["keys", "get", created.id], env)).stdout;
    assert.match(shown, /^limit:\s+hourly: 100 per 3600 s by key$/m);
    assert.match(shown, /^credits:\s+50 to start from, refilled to 50 every 3600 s, set \d{4}-/m);

    // Before any request: the balance, no counters; after two, the counters.
    let usage = await ok(["keys", "usage", created.id], env);
    assert.match(usage.stdout, /^credits:\s+50 remaining, 0 leased/m);
    assert.match(usage.stdout, /No counters yet/);
    for (let i = 0; i < 2; i++) assert.equal((await stateEdge.fetch("/v1/x", { headers: { "x-api-key": created.token } })).status, 200);
    const report = JSON.parse((await ok(["--json", "keys", "usage", created.id], env)).stdout);
    assert.equal(report.id, created.id);
    const counter = report.limits.find((l) => l.name === "hourly");
    assert.equal(counter.by, "key");
    assert.ok(counter.used >= 2);
    assert.ok(report.credits.remaining <= 48);
    usage = await ok(["keys", "usage", created.id], env);
    assert.match(usage.stdout, /^LIMIT\s+BY\s+WINDOW\s+USED\s+REMAINING\s+OF\s+PERIOD\s+RESETS_IN$/m);
    assert.match(usage.stdout, /^hourly\s+key\s+fixed\s+\d+\s+\d+\s+100\s+3600 s\s+\d+ s$/m);

    // Update: limits from a file (one object is a list of one), credits without refill, name and scopes.
    const file = path.join(scratch, "limits.json");
    writeFileSync(file, JSON.stringify({ name: "burst", limit: 10, period_seconds: 60, by: "principal", window: "sliding" }));
    const updated = await ok(["keys", "update", created.id, "--limits-file", file, "--credits", "5", "--name", "renamed", "--scope", "read"], env);
    assert.match(updated.stdout, new RegExp(`^Updated ${created.id}:$`, "m"));
    assert.match(updated.stdout, /^limit:\s+burst: 10 per 60 s by principal \(sliding\)$/m);
    assert.match(updated.stdout, /^credits:\s+5 to start from, set /m);
    assert.match(updated.stdout, /^name:\s+renamed$/m);
    assert.match(updated.stdout, /^scopes:\s+read$/m);
    meta = JSON.parse((await ok(["--json", "keys", "update", created.id, "--clear-limits", "--clear-credits", "--clear-scopes"], env)).stdout);
    assert.deepEqual(meta.limits, []);
    assert.equal(meta.credits, null);
    assert.deepEqual(meta.scopes, []);
    assert.equal(meta.name, "renamed");
    const cleared = (await ok(["keys", "get", created.id], env)).stdout;
    assert.match(cleared, /^limits:\s+none/m);
    assert.match(cleared, /^credits:\s+none$/m);

    // Refusals: the API names the field (exit 1); bad flags and input are exit 2.
    let r = await cli(["keys", "update", created.id, "--limits", JSON.stringify([{ ...hourly, period_seconds: 0 }])], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /400 Invalid request: "limits\[0\]\.period_seconds" must be between 1 and 31536000\./);
    r = await cli(["keys", "create", "--kind", "api_key", "--subject", "s", "--name", "n", "--credits", "1", "--refill", "1/5"], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /"credits\.refill\.every_seconds"/);
    r = await cli(["keys", "update", created.id], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nothing to change/);
    r = await cli(["keys", "update", created.id, "--limits", "[{"], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--limits is not JSON/);
    r = await cli(["keys", "update", created.id, "--limits", "[]", "--clear-limits"], env);
    assert.equal(r.code, 2);
    r = await cli(["keys", "update", created.id, "--refill", "1/60"], env);
    assert.equal(r.code, 2, "--refill needs --credits");
    r = await cli(["keys", "update", created.id, "--credits", "1", "--refill", "60"], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /AMOUNT\/SECONDS/);
    r = await cli(["keys", "update", created.id, "--limits-file", path.join(scratch, "missing.json")], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read it/);
    r = await cli(["keys", "usage", "key_doesNotExist0000"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /404 Not found/);
    r = await cli(["keys", "usage", "../x"], env);
    assert.equal(r.code, 2);
    // Without the state tier there are no counters (500 state_not_bound, exit 1).
    r = await cli(["keys", "usage", created.id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /AUTH_STATE is not bound/);
  } finally {
    await stateEdge.close();
  }
});
