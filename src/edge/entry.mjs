// The Worker's JavaScript entry, bundled by scripts/build.sh around wasm-bindgen's glue.
//
// worker-build's default entry wraps every request in a Proxy'd WorkerEntrypoint class; in
// workerd that costs about 16 µs of CPU per request, a fifth of everything edge-auth adds to a
// request. This entry is a plain module Worker that calls the exported Rust `fetch` directly and
// keeps the part that matters: after a Rust panic or a Wasm trap, the instance is rebuilt
// (`__wbg_reset_state`) before the next request, so no request runs on corrupted state, and the
// rebuild is logged. (wasm-bindgen's glue, built with its abort handler, would also reinitialise
// on the next call; tests/runtime/recovery.test.mjs checks the outcome: a new instance, logged.)
import * as wasm from "./index.js";

const state = wasm.__worker_init_state();

function rebuildIfBroken() {
  if (state.criticalError) {
    console.error(JSON.stringify({ level: "error", event: "wasm_reinitialised" }));
    wasm.__wbg_reset_state();
    state.criticalError = false;
    state.instanceId++;
  }
}

function noteTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) state.criticalError = true;
}

// A trap inside a later step of an asynchronous request surfaces here.
addEventListener("error", (event) => noteTrap(event.error));

export default {
  fetch(request, env, ctx) {
    rebuildIfBroken();
    try {
      return wasm.fetch(request, env, ctx);
    } catch (error) {
      noteTrap(error);
      throw error;
    }
  },
};
