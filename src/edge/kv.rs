//! `KeyStore` over Workers KV. Errors become `StoreError::Unavailable` (→ 503, never a forward).

use std::cell::OnceCell;

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

impl KeyStore for Store {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.kv()?.get_cached(key).await
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
