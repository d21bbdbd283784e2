// Helpers for the browser tests: Debian's headless Chromium through playwright-core, and a tiny
// EdDSA identity provider (key pair, loopback JWKS endpoint, JWT minting) built on node:crypto.
import { createServer } from "node:http";
import { once } from "node:events";
import { generateKeyPairSync, sign, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Launch headless Chromium with a fresh profile directory. Returns `{ context, close }`; the
 * context grants clipboard access so the copy button can be checked. `isMobile` honours the
 * page's meta viewport and touch, as a phone does (content wider than the screen widens the
 * layout viewport, and with it where fixed elements such as dialogs are placed).
 */
export async function launchChromium({ viewport = { width: 1280, height: 900 }, isMobile = false } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_BIN)`);
  const profile = mkdtempSync(path.join(tmpdir(), "edge-auth-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    isMobile,
    hasTouch: isMobile,
    colorScheme: "light",
    reducedMotion: "reduce",
    permissions: ["clipboard-read", "clipboard-write"],
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const b64u = (data) => Buffer.from(data).toString("base64url");

/**
 * An identity provider for tests: an Ed25519 key whose public JWK is served at
 * `http://127.0.0.1:<port>/jwks.json`, and `mint(claims)` for EdDSA JWTs with `iss` = `issuer`.
 */
export async function startIssuer() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const kid = `test-${randomBytes(4).toString("hex")}`;
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  const server = createServer((req, res) => {
    if (req.url !== "/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks.json`,
    /** A signed JWT: standard claims valid for an hour, overridden by `claims`. */
    mint(claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: "EdDSA", typ: "JWT", kid };
      const payload = { iss: issuer, iat: now, nbf: now, exp: now + 3600, ...claims };
      const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
      return `${input}.${b64u(sign(null, Buffer.from(input), privateKey))}`;
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
