// The loopback origin and JWKS server, run in a child process (`fork`) so that serving them does
// not share an event loop with the load generator. Talks to the parent over IPC:
//   parent → { cmd: "counts" }  child → { type: "counts", jwks: { "/edge/jwks.json": n, … }, origin: n }
//   parent → { cmd: "reset" }   child → { type: "reset" }
// At start the parent sends { cmd: "start", jwks } and gets { type: "ready", origin, jwksBase }.
import { createServer } from "node:http";
import { once } from "node:events";

let jwksBody = "{}";
const jwksHits = new Map();
let originHits = 0;

// The origin: drains the body and answers a small JSON document. It echoes the identity headers
// it was sent back as response headers so the driver can check what reached it, cheaply.
const origin = createServer((req, res) => {
  originHits++;
  req.resume();
  req.on("end", () => {
    const h = req.headers;
    res.writeHead(200, {
      "content-type": "application/json",
      "x-seen-auth-type": h["x-auth-type"] ?? "",
      "x-seen-auth-subject": h["x-auth-subject"] ?? "",
      "x-seen-credential": h.authorization || h["x-api-key"] ? "forwarded" : "stripped",
      "x-seen-spoofed": h["x-auth-spoofed"] === undefined ? "no" : "yes",
      "x-seen-assertion": h["x-auth-assertion"] ? "yes" : "no",
    });
    res.end('{"ok":true}');
  });
});

// The JWKS endpoint: one document under any `/<name>/jwks.json`, counted per path so each
// Worker's fetches are attributed to it.
const jwks = createServer((req, res) => {
  const path = req.url.split("?")[0];
  jwksHits.set(path, (jwksHits.get(path) ?? 0) + 1);
  req.resume();
  if (!path.endsWith("/jwks.json")) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=600" });
  res.end(jwksBody);
});

origin.keepAliveTimeout = 30_000;
jwks.keepAliveTimeout = 30_000;

process.on("message", async (msg) => {
  if (msg.cmd === "start") {
    jwksBody = JSON.stringify(msg.jwks);
    origin.listen(0, "127.0.0.1");
    jwks.listen(0, "127.0.0.1");
    await Promise.all([once(origin, "listening"), once(jwks, "listening")]);
    process.send({
      type: "ready",
      origin: `http://127.0.0.1:${origin.address().port}`,
      jwksBase: `http://127.0.0.1:${jwks.address().port}`,
    });
  } else if (msg.cmd === "counts") {
    process.send({ type: "counts", jwks: Object.fromEntries(jwksHits), origin: originHits });
  } else if (msg.cmd === "reset") {
    jwksHits.clear();
    originHits = 0;
    process.send({ type: "reset" });
  } else if (msg.cmd === "stop") {
    origin.closeAllConnections?.();
    jwks.closeAllConnections?.();
    origin.close();
    jwks.close();
    process.exit(0);
  }
});
// Never outlive the parent.
process.on("disconnect", () => process.exit(0));
