//! An in-memory `KeyStore` that counts reads, writes and lists and can be switched to failing,
//! for the key and admin behaviour tests. Listed values are kept apart from values, as KV keeps
//! metadata: `put` drops a key's listed value, `put_listed` sets both.
#![allow(dead_code, clippy::unwrap_used, clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use edge_auth::ports::{KeyStore, ListPage, Listed, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    pub data: RefCell<BTreeMap<String, String>>,
    /// What `put_listed` wrote, by key: what `list` hands back with the name.
    pub listed: RefCell<BTreeMap<String, String>>,
    pub reads: Cell<usize>,
    pub lists: Cell<usize>,
    pub writes: Cell<usize>,
    pub failing: Cell<bool>,
    /// Writes (`put`, `put_listed`) of keys starting with this fail: a write that fails halfway
    /// through a change of several keys.
    pub failing_writes: RefCell<Option<String>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.get() {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Every stored value, concatenated: for "never stores the token" assertions.
    pub fn dump(&self) -> String {
        self.data
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

impl KeyStore for MemoryStore {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.get(key).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        self.reads.set(self.reads.get() + 1);
        Ok(self.data.borrow().get(key).cloned())
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        _expires_at: Option<u64>,
    ) -> Result<(), StoreError> {
        self.check()?;
        if self
            .failing_writes
            .borrow()
            .as_deref()
            .is_some_and(|p| key.starts_with(p))
        {
            return Err(StoreError::Unavailable);
        }
        self.writes.set(self.writes.get() + 1);
        self.data
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
        self.listed.borrow_mut().remove(key);
        Ok(())
    }

    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError> {
        assert!(
            value.len() <= edge_auth::ports::MAX_LISTED_BYTES,
            "listed value of {} bytes",
            value.len()
        );
        self.put(key, value, None).await?;
        self.listed
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.data.borrow_mut().remove(key);
        self.listed.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError> {
        self.check()?;
        self.lists.set(self.lists.get() + 1);
        let start: usize = cursor.map_or(0, |c| c.parse().unwrap());
        let all: Vec<String> = self
            .data
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        let end = (start + limit as usize).min(all.len());
        Ok(ListPage {
            keys: all[start..end]
                .iter()
                .map(|name| Listed {
                    name: name.clone(),
                    listed: self.listed.borrow().get(name).cloned(),
                })
                .collect(),
            cursor: (end < all.len()).then(|| end.to_string()),
        })
    }
}

/// A key record of `kind` for (`issuer`, `subject`), as the admin API stores one: for tests that
/// seed a store directly (a history, a legacy record).
pub fn record(
    id: &str,
    kind: edge_auth::keys::KeyKind,
    issuer: Option<&str>,
    subject: &str,
    created_at: u64,
    expires_at: u64,
    revoked_at: Option<u64>,
) -> edge_auth::keys::KeyRecord {
    edge_auth::keys::KeyRecord {
        id: id.to_string(),
        kind,
        subject: subject.to_string(),
        name: id.to_string(),
        scopes: vec!["read".to_string()],
        created_at,
        expires_at: Some(expires_at),
        revoked_at,
        start: None,
        issuer: issuer.map(str::to_string),
        limits: Vec::new(),
        credits: None,
        rolled_to: None,
        meter: None,
    }
}
