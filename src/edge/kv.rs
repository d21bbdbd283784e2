//! `KeyStore` over Workers KV. Errors become `StoreError::Unavailable` (→ 503, never a forward);
//! a missing `AUTH_KV` binding is `StoreError::NotBound` (→ 500 `kv_not_bound`, a configuration
//! fault that retrying cannot mend).
//!
//! Reads, on every key request that misses the isolate's cache, call the binding's own `get` with
//! options built once per isolate. Writes and lists (admin API, last-used records) go through the
//! `worker` crate's wrapper, which is opened on first use: opening it costs several property
//! lookups, and most requests never write.

use std::cell::{OnceCell, RefCell};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::kv::KvStore;
use worker::Env;

use super::glue::probe_kv_js;
use crate::ports::{KeyStore, ListPage, StoreError};

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

/// The `worker` crate's wrapper of the binding, for writes and lists.
struct Writer {
    kv: KvStore,
}

impl Writer {
    async fn put(&self, key: &str, value: &str, expires_at: Option<u64>) -> Result<(), StoreError> {
        let builder = self
            .kv
            .put(key, value)
            .map_err(|_| StoreError::Unavailable)?;
        // KV refuses expirations less than 60 s ahead; records outlive their expiry a little
        // anyway, so a late request is told "expired" rather than "unknown".
        let floor = (super::env::now_ms() / 1000.0) as u64 + 120;
        let builder = match expires_at {
            Some(at) => builder.expiration(at.max(floor)),
            None => builder,
        };
        builder.execute().await.map_err(|_| StoreError::Unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.kv
            .delete(key)
            .await
            .map_err(|_| StoreError::Unavailable)
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        let mut builder = self
            .kv
            .list()
            .prefix(prefix.to_string())
            .limit(u64::from(limit));
        if let Some(c) = cursor {
            builder = builder.cursor(c.to_string());
        }
        let page = builder
            .execute()
            .await
            .map_err(|_| StoreError::Unavailable)?;
        Ok(ListPage {
            keys: page.keys.into_iter().map(|k| k.name).collect(),
            cursor: if page.list_complete {
                None
            } else {
                page.cursor
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
    writer: OnceCell<Option<Writer>>,
}

impl Store {
    pub fn new(env: &Env, cache_ttl: u64) -> Self {
        Store {
            env: env.clone(),
            cache_ttl,
            writer: OnceCell::new(),
        }
    }

    fn writer(&self) -> Result<&Writer, StoreError> {
        self.writer
            .get_or_init(|| self.env.kv(BINDING).ok().map(|kv| Writer { kv }))
            .as_ref()
            .ok_or_else(|| self.missing_or_unavailable())
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

    /// Why the writer could not be opened: the binding is absent, or it is not a KV namespace.
    fn missing_or_unavailable(&self) -> StoreError {
        match self.binding() {
            Err(e) => e,
            Ok(_) => StoreError::Unavailable,
        }
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
