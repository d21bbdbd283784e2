//! `DocumentSource` over `fetch`, with a hard timeout (`AbortSignal.timeout`) and the core's byte
//! cap ([`MAX_DOCUMENT_BYTES`]) applied to the decoded body as it streams in.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::glue::read_response_capped;
use crate::jwks::MAX_DOCUMENT_BYTES;
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
        if status != 200 {
            // The core refuses any other status whatever the body says: do not read it.
            cancel_body(&response).await;
            return Ok(FetchedDocument {
                status,
                cache_control,
                body: Vec::new(),
            });
        }
        // The one cap, the core's. A declared length over it is refused before reading a byte
        // (for a compressed body that is the encoded length: a document whose compressed form
        // is over the cap is not one worth decoding).
        let declared = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
            cancel_body(&response).await;
            return Err(FetchError::TooLarge);
        }
        // Streamed: bytes are counted as decoded, and the stream is cancelled once over the cap,
        // so a small compressed body that inflates to gigabytes costs at most the cap plus a chunk.
        let cap = u32::try_from(MAX_DOCUMENT_BYTES).unwrap_or(u32::MAX);
        let read = JsFuture::from(read_response_capped(&response, cap))
            .await
            .map_err(classify)?;
        if read.is_null() {
            return Err(FetchError::TooLarge);
        }
        let bytes: js_sys::Uint8Array = read.dyn_into().map_err(|_| FetchError::Network)?;
        if bytes.length() as usize > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        Ok(FetchedDocument {
            status,
            cache_control,
            body: bytes.to_vec(),
        })
    }
}

/// Cancels a body that will not be read, so the connection is released now.
async fn cancel_body(response: &web_sys::Response) {
    if let Some(body) = response.body() {
        // Ignored: there is nothing to do if the stream is already closed or errored.
        let _ = JsFuture::from(body.cancel()).await;
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
