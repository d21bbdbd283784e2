//! The bindings of `runtime.js`, in one place: every `#[wasm_bindgen(module = "/src/edge/runtime.js")]`
//! import of the adapter, except the state tier's (`state.rs`) and the counter objects'
//! (`limits.rs`), which stay next to the code that calls them. Each crossing moves a request's
//! facts in, or carries out one step, in a single call (see `runtime.js`).
//!
//! Owns the imports' Rust signatures and the thin typed wrappers over them. Never decides
//! anything and never touches the core: the concern modules (`entry`, `forward`, `log`, `kv`,
//! `documents`, `endpoints`) call these.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A JS function taking `(request_id, realm, error)` and returning a 502 (or 500) problem
    /// response (made once per isolate by `forward.rs`).
    pub type BadGatewayHandler;
}

#[wasm_bindgen(module = "/src/edge/runtime.js")]
extern "C" {
    /// The request's method, URL and headers as a JSON array of strings.
    #[wasm_bindgen(js_name = requestFacts)]
    pub fn request_facts(request: &web_sys::Request) -> String;

    /// Build the origin's request from `request` as `order` says (`forward::order`: its
    /// target and header edits), sign `assertion` with `key` (a `CryptoKey` promise) and fetch;
    /// `on_error` answers a failed fetch or signature with the order's request id and realm.
    #[wasm_bindgen(js_name = forward)]
    pub fn forward(
        order: &str,
        request: &web_sys::Request,
        on_error: &BadGatewayHandler,
        assertion: Option<&str>,
        key: &JsValue,
        after: &JsValue,
    ) -> JsValue;

    /// A promise of the `CryptoKey` for the private JWK `jwk`.
    #[wasm_bindgen(js_name = importAssertionKey)]
    pub fn import_assertion_key(jwk: &str) -> JsValue;

    /// Write one finished log line.
    #[wasm_bindgen(js_name = logLine)]
    pub fn log_line(line: &str);

    /// `message` is a `Request` (admin bodies) or a `Response` (fetched documents).
    #[wasm_bindgen(js_name = readBodyCapped)]
    pub fn read_body_capped(message: &JsValue, limit: u32, drain: u32) -> js_sys::Promise;

    /// A KV read of `key` that gives up after `ms` (the health endpoint's probe).
    #[wasm_bindgen(js_name = probeKv)]
    pub fn probe_kv_js(namespace: &JsValue, key: &str, ms: u32) -> js_sys::Promise;
}

/// Reads at most `limit` bytes of a fetched response's body, counted after content decoding,
/// as the `Uint8Array` the promise resolves to; it resolves to `null` once the body is longer,
/// and the stream is then cancelled at once (nothing is drained).
pub fn read_response_capped(response: &web_sys::Response, limit: u32) -> js_sys::Promise {
    read_body_capped(response.as_ref(), limit, 0)
}
