//! Fault injection for the recovery tests (feature `fault-injection`, never in a deployed build):
//! `x-edge-auth-fault: trap` makes the wasm trap at once, `trap-after-await` after the request has
//! waited on a promise, so the trap surfaces from a later microtask instead of the entry call.

use wasm_bindgen::JsValue;

/// The header naming the fault; the test harness sends it.
const HEADER: &str = "x-edge-auth-fault";

pub async fn inject(headers: &[(String, String)]) {
    let fault = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(HEADER))
        .map(|(_, value)| value.as_str());
    match fault {
        Some("trap") => core::arch::wasm32::unreachable(),
        Some("trap-after-await") => {
            let resolved = js_sys::Promise::resolve(&JsValue::NULL);
            let _ = wasm_bindgen_futures::JsFuture::from(resolved).await;
            core::arch::wasm32::unreachable()
        }
        _ => {}
    }
}
