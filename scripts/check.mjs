#!/usr/bin/env node
// `make check`: validates a wrangler config offline, before `make dev` and `make deploy` use it.
//
//   node scripts/check.mjs [wrangler.jsonc]
//
// For the top level and every environment (bindings are not inherited, so each is its own
// deployment): the `AUTH_CONFIG` var is validated by the built Worker itself (build/, in workerd
// through Miniflare, with placeholder secrets: the same validator that runs in production, so
// the check cannot drift from it), and every secret the config names must be declared in that
// environment's `secrets.required`. Each problem is printed as `file:line:column` of the user's
// file (the JSONC is parsed with positions by Microsoft's jsonc-parser, the parser VS Code
// uses), all at once. The validator stops at a configuration's first error, so each
// configuration reports at most one config error per run; secrets and syntax are all reported.
// Exit status 1 when anything is wrong.
import { readFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseTree, findNodeAtLocation, printParseErrorCode } from "jsonc-parser";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PARSE_OPTIONS = { allowTrailingComma: true, disallowComments: false };

/** 1-based line and column of `offset` in `text`. */
function position(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** `issuers[0].audiences` → ["issuers", 0, "audiences"]. */
function segments(field) {
  const out = [];
  for (const part of field.split(".")) {
    const m = part.match(/^([^[]*)((?:\[\d+\])*)$/);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/** The node at `location`, or the deepest existing one above it. */
function nearest(tree, location) {
  for (let n = location.length; n >= 0; n--) {
    const node = findNodeAtLocation(tree, location.slice(0, n));
    if (node) return node;
  }
  return tree;
}

function valueAt(config, location) {
  return location.reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), config);
}

/** Validate AUTH_CONFIG in the built Worker: `null` when valid, else `{field, reason}`. */
async function validate(authConfig, secretNames) {
  const bindings = { AUTH_CONFIG: authConfig };
  for (const name of secretNames) {
    if (name === "ASSERTION_KEY") {
      bindings[name] = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
    } else {
      bindings[name] = "x".repeat(48); // a placeholder of acceptable length: values are not checked
    }
  }
  const logs = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modulesRoot: path.join(ROOT, "build"),
      modules: [
        { type: "ESModule", path: path.join(ROOT, "build/index.js") },
        { type: "CompiledWasm", path: path.join(ROOT, "build/index_bg.wasm") },
      ],
      compatibilityDate: "2026-11-17",
      kvNamespaces: ["AUTH_KV"],
      bindings,
      handleStructuredLogs: ({ message }) => logs.push(...message.split("\n")),
      cf: false,
      telemetry: { enabled: false },
    }),
  );
  try {
    const adminPath = typeof authConfig === "object" && authConfig?.admin_path ? authConfig.admin_path : "/_auth";
    const res = await mf.dispatchFetch(`http://check.local${adminPath}/health`);
    await res.arrayBuffer();
    if (res.status !== 500) return null;
    for (const line of logs) {
      try {
        const entry = JSON.parse(line);
        if (entry.event === "config_invalid") return { field: entry.field, reason: entry.reason };
      } catch {
        // not a JSON log line
      }
    }
    return { field: "AUTH_CONFIG", reason: "refused by the Worker (no reason logged)" };
  } finally {
    await mf.dispose();
  }
}

/** Every secret name the config needs: hs256_secret names, by their location. */
function namedSecrets(authConfig) {
  const out = [];
  (authConfig?.issuers ?? []).forEach((issuer, i) => {
    if (typeof issuer?.hs256_secret === "string") out.push({ name: issuer.hs256_secret, at: ["issuers", i, "hs256_secret"] });
  });
  return out;
}

/** Check `file`; returns the problems as printable lines (empty when all is well). */
export async function checkFile(file) {
  const text = readFileSync(file, "utf8");
  const where = (offset) => {
    const { line, column } = position(text, offset);
    return `${file}:${line}:${column}`;
  };
  const syntax = [];
  const tree = parseTree(text, syntax, PARSE_OPTIONS);
  if (syntax.length || !tree) {
    return syntax.map((e) => `${where(e.offset)}: ${printParseErrorCode(e.error)}`);
  }
  const config = parse(text, [], PARSE_OPTIONS);
  const targets = [{ name: "top level", at: [] }];
  for (const env of Object.keys(config.env ?? {})) targets.push({ name: `env.${env}`, at: ["env", env] });

  const problems = [];
  for (const target of targets) {
    const varsAt = [...target.at, "vars"];
    const authAt = [...varsAt, "AUTH_CONFIG"];
    let authConfig = valueAt(config, authAt);
    if (authConfig === undefined) {
      problems.push(`${where(nearest(tree, authAt).offset)}: ${target.name}: vars.AUTH_CONFIG is not set (bindings are not inherited by environments)`);
      continue;
    }
    let insideString = false;
    if (typeof authConfig === "string") {
      insideString = true;
      try {
        authConfig = JSON.parse(authConfig);
      } catch (e) {
        problems.push(`${where(nearest(tree, authAt).offset)}: ${target.name}: AUTH_CONFIG is a string that is not JSON (${e.message})`);
        continue;
      }
    }
    const required = valueAt(config, [...target.at, "secrets", "required"]) ?? [];
    for (const { name, at } of namedSecrets(authConfig)) {
      if (!required.includes(name)) {
        const node = insideString ? nearest(tree, authAt) : nearest(tree, [...authAt, ...at]);
        problems.push(`${where(node.offset)}: ${target.name}: hs256_secret names the secret "${name}", which ${target.name}'s secrets.required does not list (set it with \`wrangler secret put ${name}\` and add it there)`);
      }
    }
    const secretNames = new Set([...required, ...namedSecrets(authConfig).map((s) => s.name)]);
    const error = await validate(authConfig, secretNames);
    if (error) {
      const at = error.field === "AUTH_CONFIG" ? authAt : [...authAt, ...segments(error.field)];
      const isSecret = /^[A-Z][A-Z0-9_]*$/.test(error.field) && error.field !== "AUTH_CONFIG";
      const node = isSecret || insideString ? nearest(tree, isSecret ? [...target.at, "secrets", "required"] : authAt) : nearest(tree, at);
      problems.push(`${where(node.offset)}: ${target.name}: ${error.field}: ${error.reason}`);
    }
  }
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? path.join(ROOT, "wrangler.jsonc");
  const problems = await checkFile(file);
  if (problems.length) {
    for (const p of problems) console.error(p);
    console.error(`check: ${problems.length} problem${problems.length === 1 ? "" : "s"} in ${file}`);
    process.exit(1);
  }
  console.log(`check: ${file} is valid (every environment's AUTH_CONFIG and the secrets it names)`);
}
