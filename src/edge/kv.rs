//! `KeyStore` over Workers KV. Errors become `StoreError::Unavailable` (→ 503, never a forward).

use std::cell::OnceCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::kv::KvStore;
use worker::Env;

use crate::ports::{KeyStore, ListPage, StoreError};

/// The `AUTH_KV` binding.
pub struct WorkersKv {
    kv: KvStore,
    /// KV `cacheTtl` for hot-path reads. KV refuses values under its minimum (30 or 60 s
    /// depending on the platform's vintage), so 60 s is the floor.
    cache_ttl: u64,
}

impl WorkersKv {
    pub fn new(env: &Env, cache_ttl: u64) -> Result<Self, StoreError> {
        let kv = env.kv("AUTH_KV").map_err(|_| StoreError::Unavailable)?;
        Ok(WorkersKv {
            kv,
            cache_ttl: cache_ttl.max(60),
        })
    }
}

impl KeyStore for WorkersKv {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.kv
            .get(key)
            .cache_ttl(self.cache_ttl)
            .text()
            .await
            .map_err(|_| StoreError::Unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.kv
            .get(key)
            .text()
            .await
            .map_err(|_| StoreError::Unavailable)
    }

    async fn put(&self, key: &str, value: &str, expires_at: Option<u64>) -> Result<(), StoreError> {
        let builder = self
            .kv
            .put(key, value)
            .map_err(|_| StoreError::Unavailable)?;
        // KV refuses expirations less than 60 s ahead; records outlive their expiry a little
        // anyway, so a late request is told "expired" rather than "unknown".
        let floor = (super::now_ms() / 1000.0) as u64 + 120;
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

/// The store a request uses: `AUTH_KV`, opened on first use (most requests never touch KV, and
/// opening the binding costs several property lookups). When it is not bound, every operation is
/// unavailable (→ 503, never a forward).
pub struct Store {
    env: Env,
    cache_ttl: u64,
    opened: OnceCell<Option<WorkersKv>>,
}

impl Store {
    pub fn new(env: &Env, cache_ttl: u64) -> Self {
        Store {
            env: env.clone(),
            cache_ttl,
            opened: OnceCell::new(),
        }
    }

    fn kv(&self) -> Result<&WorkersKv, StoreError> {
        self.opened
            .get_or_init(|| WorkersKv::new(&self.env, self.cache_ttl).ok())
            .as_ref()
            .ok_or(StoreError::Unavailable)
    }
}

#[wasm_bindgen]
extern "C" {
    /// The KV namespace binding itself, for the hot-path read.
    type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_with_options(
        this: &KvNamespace,
        key: &str,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

thread_local! {
    /// `{ type: "text", cacheTtl }` for hot-path reads, built once per isolate and TTL.
    static CACHED_READ: std::cell::RefCell<Option<(u64, JsValue)>> = const { std::cell::RefCell::new(None) };
}

/// The read options for `cache_ttl`, reused across requests.
fn cached_read_options(cache_ttl: u64) -> JsValue {
    CACHED_READ.with(|cell| {
        if let Ok(slot) = cell.try_borrow() {
            if let Some((ttl, options)) = slot.as_ref() {
                if *ttl == cache_ttl {
                    return options.clone();
                }
            }
        }
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"type".into(), &"text".into());
        #[allow(clippy::cast_precision_loss)] // a TTL in seconds is far below 2^53
        let ttl = JsValue::from_f64(cache_ttl as f64);
        let _ = js_sys::Reflect::set(&options, &"cacheTtl".into(), &ttl);
        let options: JsValue = options.into();
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some((cache_ttl, options.clone()));
        }
        options
    })
}

impl Store {
    /// The hot-path read: the binding's own `get` with cached options (the `worker` crate's
    /// builder opens the binding with several lookups and builds the options every time).
    async fn read_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        let env_value: &JsValue = self.env.as_ref();
        let binding = js_sys::Reflect::get(env_value, &JsValue::from_str("AUTH_KV"))
            .map_err(|_| StoreError::Unavailable)?;
        if binding.is_undefined() || binding.is_null() {
            return Err(StoreError::Unavailable);
        }
        let namespace: KvNamespace = binding.unchecked_into();
        let options = cached_read_options(self.cache_ttl.max(60));
        let promise = namespace
            .get_with_options(key, &options)
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
        self.read_cached(key).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.kv()?.get(key).await
    }

    async fn put(&self, key: &str, value: &str, expires_at: Option<u64>) -> Result<(), StoreError> {
        self.kv()?.put(key, value, expires_at).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.kv()?.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        self.kv()?.list(prefix, cursor, limit).await
    }
}
