// What `wrangler deploy` ships is the build the other runtime tests ran, not a re-bundle of it:
// `wrangler deploy --dry-run --outdir DIR` (no account needed) writes exactly what would be
// uploaded. wrangler.jsonc sets `no_bundle`, so the JS must carry none of esbuild's `__name()`
// wrappers (a re-bundle adds them, and they cost CPU on every request), must be build/index.js
// byte for byte, and the wasm must be build/index_bg.wasm byte for byte. Checked for the top-level
// config and for each named environment, which inherit `main`, `no_bundle` and `rules`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const BUILD_JS = readFileSync(path.join(ROOT, "build/index.js"));
const BUILD_WASM = readFileSync(path.join(ROOT, "build/index_bg.wasm"));

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

function dryRun(outdir, envName) {
  const args = [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "--config", path.join(ROOT, "wrangler.jsonc")];
  // `--env=` names the top level explicitly (wrangler warns when a config with environments is
  // deployed without --env), as `make deploy` does.
  args.push(`--env=${envName ?? ""}`);
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, {
      cwd: ROOT,
      timeout: 120_000,
      killSignal: "SIGKILL",
      // Offline and quiet: no metrics, no banner (its npm update check), no Request.cf fetch.
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(`${stdout}\n${stderr}`))),
  );
}

for (const envName of [undefined, "staging", "production"]) {
  test(`wrangler deploy --dry-run${envName ? ` --env ${envName}` : ""} ships build/ byte for byte, without __name()`, { timeout: 150_000 }, async () => {
    const outdir = mkdtempSync(path.join(os.tmpdir(), "edge-auth-deploy-"));
    try {
      const output = await dryRun(outdir, envName);
      const shipped = files(outdir);
      const js = shipped.filter((f) => /\.(m?js|cjs)$/.test(f));
      const wasm = shipped.filter((f) => f.endsWith(".wasm"));
      assert.deepEqual(js, ["index.js"], `the one JS module is the entry (shipped: ${shipped.join(", ")})\n${output}`);
      assert.deepEqual(wasm, ["index_bg.wasm"], `one wasm module, under the name index.js imports (shipped: ${shipped.join(", ")})`);
      const shippedJs = readFileSync(path.join(outdir, js[0]));
      assert.ok(!shippedJs.toString("utf8").includes("__name("), "no esbuild __name() wrappers");
      assert.ok(shippedJs.equals(BUILD_JS), "the shipped JS is build/index.js byte for byte");
      assert.ok(readFileSync(path.join(outdir, wasm[0])).equals(BUILD_WASM), "the shipped wasm is build/index_bg.wasm byte for byte");
      // The bindings the Worker needs are all in the upload.
      for (const binding of ["AUTH_KV", "ASSETS", "AUTH_CONFIG"]) assert.match(output, new RegExp(`\\b${binding}\\b`), output);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
}
