// The console in a real headless Chromium against the real Worker in workerd: admin flow (create
// → listed → works through the edge → revoke → refused), a wrong admin token, the PAT flow with
// a user JWT, and the console's security headers. Screenshots go to test-artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT, startOrigin, startEdge } from "../support/harness.mjs";
import { makeKey, mint, claims, startJwks } from "../support/tokens.mjs";

const ADMIN = "browser-test-admin-token-0123456789";
const AUD = "https://api.test";
const ARTIFACTS = path.join(ROOT, "test-artifacts");
let origin, jwks, userKey, edge, browser, page;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  origin = await startOrigin();
  userKey = makeKey("EdDSA");
  jwks = await startJwks([userKey]);
  edge = await startEdge({
    config: {
      origin: origin.url,
      issuers: [{ issuer: jwks.url, jwks_uri: jwks.jwksUri, audiences: [AUD], algorithms: ["EdDSA"] }],
      routes: [{ path: "/v1/**" }],
    },
    bindings: { ADMIN_TOKEN: ADMIN },
    assets: true,
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("dialog", (d) => d.accept(d.type() === "prompt" ? "0" : undefined));
});
after(async () => {
  await browser?.close();
  await edge?.close();
  await jwks?.close();
  await origin?.close();
});

const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `console-${name}.png`), fullPage: true });

test("the console is served with strict security headers", async () => {
  const res = await page.goto(`${edge.url}/_auth/console/`);
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h["content-security-policy"], /script-src 'self'/);
  assert.doesNotMatch(h["content-security-policy"], /unsafe-inline/);
  assert.match(h["content-security-policy"], /frame-ancestors 'none'/);
  assert.equal(h["x-frame-options"], "DENY");
  assert.equal(h["referrer-policy"], "no-referrer");
  const redirect = await fetch(`${edge.url}/_auth/console`, { redirect: "manual" });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "/_auth/console/");
});

test("a wrong admin token shows an error", async () => {
  await page.goto(`${edge.url}/_auth/console/`);
  await page.fill("#admin-token", "not-the-token");
  await page.click("#admin-login button[type=submit]");
  await page.waitForSelector("#notice.error");
  assert.match(await page.textContent("#notice"), /refused/i);
  assert.equal(await page.isVisible("#admin-main"), false);
  await shot("admin-wrong-token");
});

test("admin: create a key, see it listed, use it through the edge, revoke it", async () => {
  await page.goto(`${edge.url}/_auth/console/`);
  await page.fill("#admin-token", ADMIN);
  await page.click("#admin-login button[type=submit]");
  await page.waitForSelector("#admin-main:not([hidden])");
  assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
  assert.ok(!page.url().includes(ADMIN), "the token is not in the URL");

  await page.selectOption("#create-kind", "api_key");
  await page.fill("#create-subject", "svc-browser");
  await page.fill("#create-name", "from the console");
  await page.fill("#create-scopes", "read write");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#reveal:not([hidden])");
  const token = (await page.textContent("#reveal-token")).trim();
  assert.match(token, /^eak_[0-9A-Za-z]{36}$/);
  assert.match(await page.textContent("#reveal-warning"), /will not see this token again/);
  await page.waitForSelector("#key-rows tr");
  assert.equal(await page.locator("#key-rows tr").count(), 1);
  assert.match(await page.textContent("#key-rows tr"), /from the console.*active/s);
  await shot("admin");
  await page.click("#reveal-done");

  await page.click("#tab-try");
  await page.selectOption("#try-via", "x-api-key");
  await page.fill("#try-credential", token);
  await page.click("#try-form button[type=submit]");
  await page.waitForSelector("#try-result:not([hidden])");
  assert.match(await page.textContent("#try-status"), /^200/);
  assert.match(await page.textContent("#try-identity"), /x-auth-type\s*api_key/);
  await shot("try-ok");

  await page.click("#tab-admin");
  await page.click("#key-rows button.danger");
  await page.waitForSelector("#key-rows .status-revoked");

  await page.click("#tab-try");
  await page.click("#try-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("try-status").textContent.startsWith("401"));
  assert.match(await page.textContent("#try-problem"), /invalid_token/);
  await shot("try-refused");
});

test("my tokens: a user creates a PAT within their scopes, sees it, revokes it", async () => {
  const jwt = mint(userKey, claims(jwks.url, AUD, { sub: "carol", scope: "read write" }));
  await page.goto(`${edge.url}/_auth/console/`);
  await page.click("#tab-mine");
  await page.fill("#mine-jwt", jwt);
  await page.click("#mine-login button[type=submit]");
  await page.waitForSelector("#mine-main:not([hidden])");
  assert.match(await page.textContent("#mine-who"), /carol/);
  assert.equal(await page.locator("#pat-scopes input").count(), 2);
  await page.fill("#pat-name", "laptop");
  await page.check("#pat-scopes input[value=read]");
  await page.click("#pat-form button[type=submit]");
  await page.waitForSelector("#reveal:not([hidden])");
  const pat = (await page.textContent("#reveal-token")).trim();
  assert.match(pat, /^eap_/);
  await page.waitForSelector("#pat-rows tr");
  assert.match(await page.textContent("#pat-rows tr"), /laptop.*read.*active/s);
  await shot("my-tokens");
  await page.click("#reveal-done");
  const used = await fetch(`${edge.url}/v1/x`, { headers: { authorization: `Bearer ${pat}` } });
  assert.equal(used.status, 200);
  await page.click("#pat-rows button.danger");
  await page.waitForSelector("#pat-rows .status-revoked");
  const refused = await fetch(`${edge.url}/v1/x`, { headers: { authorization: `Bearer ${pat}` } });
  assert.equal(refused.status, 401);
});
