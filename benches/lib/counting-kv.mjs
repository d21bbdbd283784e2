// A counting KV wrapper for the counting pass only (never in timed runs): every call is reported
// to the driver through the COUNTER service binding (a Node function), then forwarded to the
// real namespace INNER. An entry module made by benches/lib/workers.mjs (withCountingKv) hands
// it to the Worker under test as its AUTH_KV: the Rust `worker` crate and the reference Worker
// only call these methods on it.
class CountingKv {
  constructor(env) {
    this.inner = env.INNER;
    this.counter = env.COUNTER;
    this.who = env.WHO;
  }
  async count(op) {
    await this.counter.fetch(`http://counter/${this.who}/${op}`, { method: "POST" });
  }
  async get(key, options) {
    await this.count("get");
    return this.inner.get(key, options);
  }
  async getWithMetadata(key, options) {
    await this.count("get");
    return this.inner.getWithMetadata(key, options);
  }
  async put(key, value, options) {
    await this.count("put");
    return this.inner.put(key, value, options);
  }
  async delete(key) {
    await this.count("delete");
    return this.inner.delete(key);
  }
  async list(options) {
    await this.count("list");
    return this.inner.list(options);
  }
}

export default function (env) {
  return new CountingKv(env);
}
