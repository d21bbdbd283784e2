//! The Worker's environment: string bindings, the `AUTH_CONFIG` text, the isolate's gateway
//! (built once from them), the runtime's clock, the CSPRNG, request ids, and the once-per-isolate
//! helper behind the adapter's memos.
//!
//! Owns reading bindings and what lives for the isolate's life. Never decides a request: an
//! invalid config is handed back as the `ConfigError` (the entry answers it through
//! `crate::carry`), and the clock and CSPRNG are only read here, never judged.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;
use std::thread::LocalKey;

use wasm_bindgen::JsValue;
use worker::Env;

use crate::authn::Gateway;
use crate::config::{Config, ConfigError};
use crate::ports::NoEntropy;
use crate::time::UnixTime;

use super::crypto::CryptoKeyHandle;
use super::kv::Store;

/// Per-isolate state: built once from the environment on the first request.
pub(crate) type Isolate = Result<Rc<Gateway<CryptoKeyHandle>>, ConfigError>;

thread_local! {
    static ISOLATE: OnceCell<Isolate> = const { OnceCell::new() };
}

/// The value in `slot`, made by `make` on its first use in this isolate and shared after that
/// (the isolate's config, and so everything made from it, never changes). Never panics: should
/// `make` reach the same slot again, the first value stored wins and the other is returned once.
pub(crate) fn once_per_isolate<T: Clone + 'static>(
    slot: &'static LocalKey<OnceCell<T>>,
    make: impl FnOnce() -> T,
) -> T {
    slot.with(|cell| {
        if let Some(value) = cell.get() {
            return value.clone();
        }
        let value = make();
        let _ = cell.set(value.clone());
        value
    })
}

/// Read a string binding (a var or a secret).
pub(crate) fn string_binding(env: &Env, name: &str) -> Option<String> {
    let env_value: &JsValue = env.as_ref();
    js_sys::Reflect::get(env_value, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// `AUTH_CONFIG` as JSON text, whether it was bound as an object or as a string.
fn config_text(env: &Env) -> Result<String, ConfigError> {
    let missing = || ConfigError {
        field: "AUTH_CONFIG".into(),
        reason: "the AUTH_CONFIG variable is not set".into(),
    };
    let env_value: &JsValue = env.as_ref();
    let value = js_sys::Reflect::get(env_value, &JsValue::from_str("AUTH_CONFIG"))
        .map_err(|_| missing())?;
    if value.is_undefined() || value.is_null() {
        return Err(missing());
    }
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(missing)
}

fn build_isolate(env: &Env) -> Isolate {
    let text = config_text(env)?;
    let config = Config::from_json(&text, &|name| string_binding(env, name))?;
    Ok(Rc::new(Gateway::new(config)))
}

/// The isolate's gateway (or why its config is invalid), built and logged on first use.
pub(crate) fn isolate(env: &Env) -> Isolate {
    once_per_isolate(&ISOLATE, || {
        let built = build_isolate(env);
        match &built {
            Err(e) => super::log::config_error(e),
            Ok(gateway) => super::log::config_warnings(&gateway.config),
        }
        built
    })
}

/// The key store for this request, with the config's KV cache TTL.
pub(crate) fn store(env: &Env, gateway: &Gateway<CryptoKeyHandle>) -> Store {
    Store::new(env, gateway.config.keys.kv_cache_ttl_seconds())
}

/// How long a document fetch (JWKS, discovery) may take.
pub(crate) fn fetch_timeout(gateway: &Gateway<CryptoKeyHandle>) -> u32 {
    u32::try_from(gateway.config.jwks.fetch_timeout_ms).unwrap_or(3_000)
}

pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Whole milliseconds of a JS time value (`Date.now()` is finite and non-negative; anything
/// else reads as 0).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn whole_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    }
}

/// Unix seconds of a JS time value.
pub(crate) fn unix_time(ms: f64) -> UnixTime {
    UnixTime(whole_ms(ms) / 1000)
}

pub(crate) fn now() -> UnixTime {
    unix_time(now_ms())
}

/// The randomness port ([`crate::ports::Fill`]): WebCrypto's `getRandomValues` through
/// `getrandom`; [`NoEntropy`] when it fails (the core then refuses to mint).
pub(crate) fn csprng_fill(buf: &mut [u8]) -> Result<(), NoEntropy> {
    getrandom::getrandom(buf).map_err(|_| NoEntropy)
}

/// The request's random bytes (the assertion's `jti`, the only per-request use of the CSPRNG),
/// or `None` when the CSPRNG fails.
pub(crate) fn entropy() -> Option<[u8; 16]> {
    let mut entropy = [0u8; 16];
    getrandom::getrandom(&mut entropy).ok()?;
    Some(entropy)
}

thread_local! {
    /// (random prefix, next counter) for request ids.
    static REQUEST_IDS: Cell<(u32, u32)> = Cell::new({
        let mut seed = [0u8; 4];
        // Without a CSPRNG the ids are still unique within the isolate.
        let _ = getrandom::getrandom(&mut seed);
        (u32::from_be_bytes(seed), 0)
    });
}

/// A request id: Cloudflare's `cf-ray` when present; else a per-isolate random prefix and a
/// counter (16 hex characters), which is unique without a CSPRNG call per request.
pub(crate) fn request_id(headers: &[(String, String)]) -> String {
    if let Some(ray) = crate::log::ray_request_id(headers) {
        return ray;
    }
    REQUEST_IDS.with(|ids| {
        let (prefix, count) = ids.get();
        ids.set((prefix, count.wrapping_add(1)));
        crate::log::local_request_id(prefix, count)
    })
}
