//! Carrying out a forward: the core's `ForwardPlan` (its JSON edits, framed as one order) handed to `runtime.js`, the assertion's
//! signing key (imported into WebCrypto once per isolate), the one-crossing forward itself, and
//! the handler that answers a forward that failed in the runtime.
//!
//! Owns those runtime mechanics. Never decides: which edits may be sent (`headers::plan_forward`), whether an assertion
//! can be signed and which problem a failed forward becomes are `crate::carry`'s. Never reads or
//! changes the origin's response (it passes through untouched) and never logs a header value.

use std::cell::OnceCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::assertion::AssertionSigner;
use crate::headers::{ForwardPlan, Unsendable};

use super::env::once_per_isolate;
use super::glue::{self, BadGatewayHandler};
use super::response::problem_response;

thread_local! {
    /// The assertion key imported into WebCrypto: a promise of a `CryptoKey`, made on first use
    /// (the isolate's config, and so its key, never changes).
    static ASSERTION_KEY: OnceCell<JsValue> = const { OnceCell::new() };
}

/// The promise of the signing key for `signer`, imported once per isolate.
pub fn assertion_key(signer: &AssertionSigner) -> JsValue {
    once_per_isolate(&ASSERTION_KEY, || match signer.active_private_jwk() {
        Some(jwk) => glue::import_assertion_key(&jwk),
        None => JsValue::UNDEFINED,
    })
}

/// An assertion to sign on the way out: its signing input and the key (a `CryptoKey` promise).
pub struct PendingAssertion {
    pub input: String,
    pub key: JsValue,
}

/// The order `runtime.js` `forward` carries out, one JSON array so that one string crosses into
/// JS instead of four (each a decode): `[target, request_id, realm, edits]`, with `edits` the
/// plan's own JSON (`ForwardPlan::to_json`). The request id and realm word the 502 if the origin
/// cannot be reached. [`Unsendable`] when the plan cannot be written: nothing is sent.
pub fn order(
    target: &str,
    request_id: &str,
    realm: &str,
    plan: &ForwardPlan,
) -> Result<String, Unsendable> {
    let edits = plan.to_json()?;
    let head = serde_json::to_string(&(target, request_id, realm)).map_err(|_| Unsendable)?;
    // `head` is a JSON array: the edits go in as its fourth element.
    let open = head.strip_suffix(']').ok_or(Unsendable)?;
    Ok(format!("{open},{edits}]"))
}

/// Forward to the origin (one crossing: build the request, edit its headers, sign the assertion
/// through WebCrypto, fetch), as `order` ([`order`]) says. Returns the origin's
/// response promise; a failed fetch or signature is answered by `BAD_GATEWAY` (and nothing is
/// sent without its assertion).
pub fn forward(
    order: &str,
    incoming: &web_sys::Request,
    assertion: Option<&PendingAssertion>,
    after: &JsValue,
) -> JsValue {
    let (input, key) = match assertion {
        Some(a) => (Some(a.input.as_str()), &a.key),
        None => (None, &JsValue::UNDEFINED),
    };
    BAD_GATEWAY.with(|on_error| glue::forward(order, incoming, on_error, input, key, after))
}

thread_local! {
    /// `(request_id, realm, error) => problem response`, made once per isolate (not a closure per
    /// request). The problem is `crate::carry::forward_failed`'s; the failure is logged as a
    /// second line after the request's decision.
    static BAD_GATEWAY: BadGatewayHandler = {
        let handler = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> JsValue>::new(
            |request_id: JsValue, realm: JsValue, error: JsValue| -> JsValue {
                let request_id = request_id.as_string().unwrap_or_default();
                let realm = realm.as_string().unwrap_or_default();
                let p = crate::carry::forward_failed(error.as_string().as_deref());
                super::log::origin_error(&request_id, &p);
                problem_response(&p, &realm, &request_id).into()
            },
        );
        handler.into_js_value().unchecked_into()
    };
}
