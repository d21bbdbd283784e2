// Print a new Ed25519 private JWK for ASSERTION_KEY, with a kid derived from today's date:
//   node scripts/gen-assertion-key.mjs | npx wrangler secret put ASSERTION_KEY
import { generateKeyPairSync, randomBytes } from "node:crypto";

const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const kid = `edge-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString("hex")}`;
process.stdout.write(JSON.stringify({ ...jwk, kid }) + "\n");
