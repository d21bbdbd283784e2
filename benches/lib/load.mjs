// One load run with autocannon's programmatic API, loopback only, bounded by duration or count.
// autocannon's own latency histogram has 1 ms resolution; every response time it reports (ms,
// from process.hrtime) is collected here instead, so percentiles are exact to the microsecond.
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
