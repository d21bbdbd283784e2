//! `KeyStore` over Workers KV. Errors become `StoreError::Unavailable` (→ 503, never a forward);
//! a missing `AUTH_KV` binding is `StoreError::NotBound` (→ 500 `kv_not_bound`, a configuration
//! fault that retrying cannot mend).
//!
//! Reads, on every key request that misses the isolate's cache, call the binding's own `get` with
//! options built once per isolate. Writes and lists (admin API, last-used records) call the
//! binding too, with options built per call.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use super::glue::probe_kv_js;
use crate::ports::{KeyStore, ListPage, Listed, StoreError};

use crate::ports::KV_BINDING as BINDING;

#[wasm_bindgen]
extern "C" {
    /// The KV namespace binding itself.
    type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_with_options(
        this: &KvNamespace,
        key: &str,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &js_sys::Object,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn delete(this: &KvNamespace, key: &str) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &KvNamespace, options: &js_sys::Object) -> Result<js_sys::Promise, JsValue>;
}

/// The fixed key the health endpoint reads (it need not exist).
const PROBE_KEY: &str = "health:probe";
/// How long the health endpoint waits for that read.
const PROBE_TIMEOUT_MS: u32 = 500;

thread_local! {
    /// Read options per `cacheTtl` (`None`: uncached), built once per isolate.
    static READ_OPTIONS: RefCell<Vec<(Option<u64>, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// `{ type: "text" }`, with `cacheTtl` when given; reused across requests.
fn read_options(cache_ttl: Option<u64>) -> JsValue {
    READ_OPTIONS.with(|cell| {
        if let Ok(list) = cell.try_borrow() {
            if let Some((_, options)) = list.iter().find(|(ttl, _)| *ttl == cache_ttl) {
                return options.clone();
            }
        }
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"type".into(), &"text".into());
        if let Some(ttl) = cache_ttl {
            #[allow(clippy::cast_precision_loss)] // a TTL in seconds is far below 2^53
            let ttl = JsValue::from_f64(ttl as f64);
            let _ = js_sys::Reflect::set(&options, &"cacheTtl".into(), &ttl);
        }
        let options: JsValue = options.into();
        if let Ok(mut list) = cell.try_borrow_mut() {
            list.push((cache_ttl, options.clone()));
        }
        options
    })
}

/// A property of a JS object, `undefined` when it cannot be read.
fn field(target: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `target[name] = value` on an options object this module built (cannot fail on a plain
/// object; a failure would only drop an option the binding then refuses or defaults).
fn set(target: &js_sys::Object, name: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(name), value);
}

/// Await a binding call's promise; any throw or rejection is `Unavailable`.
async fn settle(call: Result<js_sys::Promise, JsValue>) -> Result<JsValue, StoreError> {
    let promise = call.map_err(|_| StoreError::Unavailable)?;
    JsFuture::from(promise)
        .await
        .map_err(|_| StoreError::Unavailable)
}

/// Writes and lists, on the binding itself. (They went through the `worker` crate's `KvStore`,
/// whose `put` turns even a `&str` value into a JS value through `serde_wasm_bindgen`, and whose
/// list reads its answer the same way: 29 KB of wasm, 1,290,806 → 1,261,687 bytes in a
/// `KEEP_NAMES` build, for calls that pass strings and numbers the binding takes as they are.)
struct Writer {
    kv: KvNamespace,
}

impl Writer {
    async fn put(&self, key: &str, value: &str, expires_at: Option<u64>) -> Result<(), StoreError> {
        let options = js_sys::Object::new();
        // KV refuses expirations less than 60 s ahead; records outlive their expiry a little
        // anyway, so a late request is told "expired" rather than "unknown".
        if let Some(at) = expires_at {
            let floor = (super::env::now_ms() / 1000.0) as u64 + 120;
            #[allow(clippy::cast_precision_loss)] // Unix seconds are far below 2^53
            set(
                &options,
                "expiration",
                &JsValue::from_f64(at.max(floor) as f64),
            );
        }
        settle(self.kv.put(key, value, &options)).await.map(drop)
    }

    /// The value, and the same text as the key's metadata (a JSON string), which `list` returns.
    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let options = js_sys::Object::new();
        set(&options, "metadata", &JsValue::from_str(value));
        settle(self.kv.put(key, value, &options)).await.map(drop)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        settle(self.kv.delete(key)).await.map(drop)
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        let options = js_sys::Object::new();
        set(&options, "prefix", &JsValue::from_str(prefix));
        set(&options, "limit", &JsValue::from(limit));
        if let Some(c) = cursor {
            set(&options, "cursor", &JsValue::from_str(c));
        }
        let page = settle(self.kv.list(&options)).await?;
        let names: js_sys::Array = field(&page, "keys")
            .dyn_into()
            .map_err(|_| StoreError::Unavailable)?;
        let mut keys = Vec::with_capacity(names.length() as usize);
        for entry in names.iter() {
            let name = field(&entry, "name")
                .as_string()
                .ok_or(StoreError::Unavailable)?;
            keys.push(Listed {
                name,
                listed: field(&entry, "metadata").as_string(),
            });
        }
        let complete = field(&page, "list_complete").as_bool() != Some(false);
        Ok(ListPage {
            keys,
            cursor: if complete {
                None
            } else {
                field(&page, "cursor").as_string()
            },
        })
    }
}

/// The store a request uses: `AUTH_KV`. When it is not bound, every operation is `NotBound`
/// (→ 500, never a forward).
pub struct Store {
    env: Env,
    /// KV `cacheTtl` for hot-path reads, as the core gives it
    /// (`KeySettings::kv_cache_ttl_seconds`, already at least KV's minimum).
    cache_ttl: u64,
}

impl Store {
    pub fn new(env: &Env, cache_ttl: u64) -> Self {
        Store {
            env: env.clone(),
            cache_ttl,
        }
    }

    /// The binding, for a write or a list (a binding that is not a KV namespace fails the call:
    /// `Unavailable`).
    fn writer(&self) -> Result<Writer, StoreError> {
        Ok(Writer {
            kv: self.binding()?.unchecked_into(),
        })
    }

    /// The binding itself, or `NotBound` when the environment has no `AUTH_KV`.
    fn binding(&self) -> Result<JsValue, StoreError> {
        let env_value: &JsValue = self.env.as_ref();
        let binding = js_sys::Reflect::get(env_value, &JsValue::from_str(BINDING))
            .map_err(|_| StoreError::Unavailable)?;
        if binding.is_undefined() || binding.is_null() {
            return Err(StoreError::NotBound);
        }
        Ok(binding)
    }

    /// The health endpoint's probe: is `AUTH_KV` bound, and does a read of a fixed key answer
    /// within a short timeout (not tried when unbound)?
    pub async fn probe(&self) -> crate::authn::KvProbe {
        let Ok(binding) = self.binding() else {
            return crate::authn::KvProbe {
                bound: false,
                answering: None,
            };
        };
        let answered = JsFuture::from(probe_kv_js(&binding, PROBE_KEY, PROBE_TIMEOUT_MS))
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        crate::authn::KvProbe {
            bound: true,
            answering: Some(answered),
        }
    }

    async fn read(&self, key: &str, cache_ttl: Option<u64>) -> Result<Option<String>, StoreError> {
        let binding = self.binding()?;
        let namespace: KvNamespace = binding.unchecked_into();
        let promise = namespace
            .get_with_options(key, &read_options(cache_ttl))
            .map_err(|_| StoreError::Unavailable)?;
        let value = JsFuture::from(promise)
            .await
            .map_err(|_| StoreError::Unavailable)?;
        if value.is_null() || value.is_undefined() {
            return Ok(None);
        }
        value.as_string().map(Some).ok_or(StoreError::Unavailable)
    }
}

impl KeyStore for Store {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(key, Some(self.cache_ttl)).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(key, None).await
    }

    async fn put(&self, key: &str, value: &str, expires_at: Option<u64>) -> Result<(), StoreError> {
        self.writer()?.put(key, value, expires_at).await
    }

    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.writer()?.put_listed(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.writer()?.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        self.writer()?.list(prefix, cursor, limit).await
    }
}
