// One load run with autocannon's programmatic API, loopback only, bounded by duration or count.
// autocannon's own latency histogram has 1 ms resolution; every response time it reports (ms,
// from process.hrtime) is collected here instead, so percentiles are exact to the microsecond.
import http from "node:http";
import autocannon from "autocannon";

/**
 * @param {object} o
 * @param {string} o.url      base URL of the Worker (http://127.0.0.1:port)
 * @param {string} o.path     request path
 * @param {number} o.connections
 * @param {number} [o.duration]  seconds (ignored when `amount` is set)
 * @param {number} [o.amount]    exact number of requests
 * @param {() => Record<string,string>} o.headers  headers for the next request (called per request)
 */
export async function runLoad({ url, path, connections, duration, amount, headers }) {
  const latencies = [];
  const statuses = {};
  const opts = {
    url: url + path,
    connections,
    pipelining: 1,
    // A request that hangs longer than this is an error, not a latency sample.
    timeout: 10,
    // autocannon only notices the end of a run (duration or amount reached) on its sampling
    // tick; a short tick ends runs promptly.
    sampleInt: 100,
    requests: [
      {
        method: "GET",
        path,
        setupRequest(req) {
          req.headers = { ...req.headers, ...headers() };
          return req;
        },
      },
    ],
  };
  if (amount) opts.amount = amount;
  else opts.duration = duration;

  let first = 0n;
  let last = 0n;
  const instance = autocannon(opts);
  instance.on("response", (_client, status, _bytes, responseTime) => {
    last = process.hrtime.bigint();
    if (first === 0n) first = last;
    latencies.push(responseTime);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  const result = await instance;
  // Throughput over the steady part: from the first response to the last one.
  const seconds = Number(last - first) / 1e9;

  latencies.sort((a, b) => a - b);
  const count = latencies.length;
  const pct = (p) => (count ? latencies[Math.min(count - 1, Math.floor((p / 100) * count))] : NaN);
  return {
    requests: count,
    seconds,
    rps: count > 1 ? (count - 1) / seconds : NaN,
    // Wall-clock cost of one request at saturation: the inverse of throughput.
    costMs: count > 1 ? (seconds * 1000) / (count - 1) : NaN,
    p50: pct(50),
    p99: pct(99),
    mean: count ? latencies.reduce((a, b) => a + b, 0) / count : NaN,
    statuses,
    errors: result.errors + result.timeouts,
  };
}

/** A header factory that rotates through `tokens` (shared by every connection). */
export function rotating(tokens, toHeaders) {
  let i = 0;
  return () => {
    const t = tokens[i];
    i = (i + 1) % tokens.length;
    return toHeaders(t);
  };
}

/**
 * One open-loop run at a fixed rate: request i is due at start + i / rate, sent then whatever
 * the earlier ones are doing (keep-alive sockets, as many as are in flight), and its latency is
 * counted from when it was due, so a stalled server cannot hide behind a paused client
 * (no coordinated omission). Below saturation this is the latency a client pacing itself sees;
 * `runLoad` at saturation measures throughput instead (its p50 ≈ connections / throughput).
 * @param {object} o
 * @param {string} o.url
 * @param {string} o.path
 * @param {number} o.rate      requests per second
 * @param {number} o.duration  seconds
 * @param {() => Record<string,string>} o.headers
 */
export async function runPaced({ url, path, rate, duration, headers }) {
  const target = new URL(url + path);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const total = Math.max(1, Math.round(rate * duration));
  const intervalNs = 1e9 / rate;
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let lateNs = 0n;
  const start = process.hrtime.bigint() + 10_000_000n;
  const inFlight = [];
  for (let i = 0; i < total; i++) {
    const due = start + BigInt(Math.round(i * intervalNs));
    await until(due);
    const behind = process.hrtime.bigint() - due;
    if (behind > lateNs) lateNs = behind;
    inFlight.push(
      new Promise((resolve) => {
        // Settled once: by the body's end, or by an error on the request or the response (a
        // reset or the timeout after the headers arrived is the response's). A failed request
        // counts in the latencies too (as when it failed), so a stall cannot vanish from p99.
        let settled = false;
        const finish = (status) => {
          if (settled) return;
          settled = true;
          latencies.push(Number(process.hrtime.bigint() - due) / 1e6);
          if (status === undefined) errors++;
          else statuses[status] = (statuses[status] ?? 0) + 1;
          resolve();
        };
        const req = http.request(
          { host: target.hostname, port: target.port, path: target.pathname + target.search, method: "GET", agent, headers: headers() },
          (res) => {
            res.resume();
            res.on("end", () => finish(res.statusCode));
            res.on("error", () => finish(undefined));
            res.on("close", () => {
              if (!res.complete) finish(undefined);
            });
          },
        );
        req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
        req.on("error", () => finish(undefined));
        req.end();
      }),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const count = latencies.length;
  const pct = (p) => (count ? latencies[Math.min(count - 1, Math.floor((p / 100) * count))] : NaN);
  return { requests: count, rate, p50: pct(50), p90: pct(90), p99: pct(99), statuses, errors, maxLateMs: Number(lateNs) / 1e6 };
}

/** Resolve at `due` (process.hrtime.bigint() ns): a timer for the bulk, then yielding turns. */
async function until(due) {
  for (;;) {
    const left = Number(due - process.hrtime.bigint()) / 1e6;
    if (left <= 0) return;
    if (left > 2) await new Promise((r) => setTimeout(r, left - 1.5));
    else await new Promise((r) => setImmediate(r));
  }
}
