// `make check` (scripts/check.mjs): a wrangler config validated offline by the built Worker, every
// environment at once, each problem at its line and column in the user's file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "../support/harness.mjs";

function check(file) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, "scripts/check.mjs"), file], { cwd: ROOT }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

test("the repository's wrangler.jsonc passes", { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await check(path.join(ROOT, "wrangler.jsonc"));
  assert.equal(code, 0, stderr);
  assert.match(stdout, /is valid/);
});

test("every problem of every environment, at its place in the file", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-auth-check-"));
  const file = path.join(dir, "wrangler.jsonc");
  try {
    writeFileSync(file, [
      "{",
      "  // comments are fine: this is JSONC",
      '  "name": "x",',
      '  "vars": {',
      '    "AUTH_CONFIG": {',
      '      "issuers": [{ "issuer": "https://i.example", "jwks_uri": "https://i.example/j",',
      '                    "audiences": [], "algorithms": ["ES256"] }],',
      '      "routes": [{ "path": "/v1/**" }]',
      "    }",
      "  },",
      '  "env": {',
      '    "staging": {',
      '      "secrets": { "required": [] },',
      '      "vars": {',
      '        "AUTH_CONFIG": {',
      '          "issuers": [{ "issuer": "https://h.example", "audiences": ["a"], "algorithms": ["HS256"],',
      '                        "hs256_secret": "MY_HS" }],',
      '          "routes": [{ "path": "/v1/**", "auth": "sometimes" }]',
      "        }",
      "      }",
      "    },",
      '    "production": {}',
      "  }",
      "}",
    ].join("\n"));
    const { code, stderr } = await check(file);
    assert.equal(code, 1);
    const lines = stderr.trim().split("\n");
    assert.match(lines[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:7:34: top level: issuers\\[0\\]\\.audiences: `));
    assert.ok(lines.some((l) => l.includes(":17:") && /hs256_secret names the secret "MY_HS"/.test(l)), stderr);
    assert.ok(lines.some((l) => l.includes(":18:") && /env\.staging: routes\[0\]\.auth: unknown variant `sometimes`/.test(l)), stderr);
    assert.ok(lines.some((l) => l.includes(":22:") && /env\.production: vars\.AUTH_CONFIG is not set/.test(l)), stderr);
    assert.ok(!/at line 1 column/.test(stderr), "never a position in re-serialised JSON");
    assert.match(lines.at(-1), /4 problems/);

    writeFileSync(file, '{ "vars": { "AUTH_CONFIG": { "routes": [ ] } }, }\n{');
    const syntax = await check(file);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /wrangler\.jsonc:2:1: /, "a syntax error at its place");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
