//! `DocumentSource` over `fetch`, with a hard timeout (`AbortSignal.timeout`).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::ports::{DocumentSource, FetchError, FetchedDocument};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;

    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_signal_timeout(ms: u32) -> web_sys::AbortSignal;
}

/// Fetch a request through the runtime's `fetch`.
pub async fn fetch(request: &web_sys::Request) -> Result<web_sys::Response, JsValue> {
    let value = JsFuture::from(global_fetch(request)).await?;
    value.dyn_into::<web_sys::Response>()
}

/// JWKS and discovery documents, fetched with a timeout.
pub struct FetchDocuments {
    timeout_ms: u32,
}

impl FetchDocuments {
    pub fn new(timeout_ms: u32) -> Self {
        FetchDocuments { timeout_ms }
    }
}

/// Largest document read; the core caps again.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

impl DocumentSource for FetchDocuments {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        // workerd has no redirect "error": "manual" hands a 3xx to the core, which refuses it.
        init.set_redirect(web_sys::RequestRedirect::Manual);
        init.set_signal(Some(&abort_signal_timeout(self.timeout_ms)));
        let headers = web_sys::Headers::new().map_err(|_| FetchError::Network)?;
        headers
            .set("accept", "application/json")
            .map_err(|_| FetchError::Network)?;
        init.set_headers(&headers);
        let request =
            web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| FetchError::Network)?;
        let response = fetch(&request).await.map_err(classify)?;
        let status = response.status();
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body_promise = response.array_buffer().map_err(|_| FetchError::Network)?;
        let buffer = JsFuture::from(body_promise).await.map_err(classify)?;
        let bytes = js_sys::Uint8Array::new(&buffer);
        if bytes.length() as usize > MAX_DOCUMENT_BYTES {
            return Ok(FetchedDocument {
                status,
                cache_control,
                body: Vec::new(),
            });
        }
        Ok(FetchedDocument {
            status,
            cache_control,
            body: bytes.to_vec(),
        })
    }
}

/// An abort from the timeout signal is a `TimeoutError` DOMException.
fn classify(error: JsValue) -> FetchError {
    let name = js_sys::Reflect::get(&error, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string());
    match name.as_deref() {
        Some("TimeoutError" | "AbortError") => FetchError::Timeout,
        _ => FetchError::Network,
    }
}
