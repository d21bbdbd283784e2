//! The hot path for API keys and PATs: format check, per-isolate lookup cache, KV read, record
//! check. A hot key costs no KV read within the cache TTL; a key revoked through this isolate is
//! dropped from its cache at once. Bounded in entries, misses apart from hits (see [`KeyCache`]).

use std::cell::RefCell;

use serde::Deserialize;

use crate::apikey::{KeyFormat, KeyKind};
use crate::bounded::SieveMap;
use crate::hash::TokenDigest;
use crate::identity::Identity;
use crate::keyrecord::{used_key, KeyRecord};
use crate::ports::{Authority, KeyStore, StoreError};
use crate::time::UnixTime;

/// `keys` in `AUTH_CONFIG`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeySettings {
    #[serde(default)]
    pub api_key_prefix: Option<String>,
    #[serde(default)]
    pub pat_prefix: Option<String>,
    /// Per-isolate lookup cache TTL (default 30 s; part of the revocation latency).
    #[serde(default)]
    pub cache_ttl_seconds: Option<u64>,
    /// Found records in the per-isolate cache (default 10,000); not-found entries are bounded
    /// apart, at a quarter of this (at least `min(this, 64)`).
    #[serde(default)]
    pub cache_max_entries: Option<usize>,
    /// Longest PAT lifetime (default 90 days).
    #[serde(default)]
    pub pat_max_lifetime_seconds: Option<u64>,
    /// Most active PATs one principal may hold (default 50).
    #[serde(default)]
    pub pat_max_active: Option<usize>,
    /// Record `last_used_at` (default true). Each recording is a KV write (billed), at most once
    /// a minute per key and isolate.
    #[serde(default)]
    pub record_last_used: Option<bool>,
}

/// Validated key settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySettings {
    pub format: KeyFormat,
    pub cache_ttl_seconds: u64,
    pub cache_max_entries: usize,
    pub pat_max_lifetime_seconds: u64,
    pub pat_max_active: usize,
    pub record_last_used: bool,
}

/// A settings error: field and rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySettingsError {
    pub field: String,
    pub reason: String,
}

impl KeySettings {
    pub fn from_raw(raw: RawKeySettings) -> Result<Self, KeySettingsError> {
        let err = |field: &str, reason: &str| KeySettingsError {
            field: format!("keys.{field}"),
            reason: reason.to_string(),
        };
        let default = KeyFormat::default();
        let api = raw
            .api_key_prefix
            .unwrap_or_else(|| default.prefix(KeyKind::ApiKey).to_string());
        let pat = raw
            .pat_prefix
            .unwrap_or_else(|| default.prefix(KeyKind::Pat).to_string());
        let format = KeyFormat::new(&api, &pat).map_err(|r| err("api_key_prefix", r))?;
        let cache_ttl_seconds = raw.cache_ttl_seconds.unwrap_or(30);
        if cache_ttl_seconds > 300 {
            return Err(err(
                "cache_ttl_seconds",
                "must be at most 300 (it bounds revocation latency)",
            ));
        }
        let cache_max_entries = raw.cache_max_entries.unwrap_or(10_000);
        if !(1..=100_000).contains(&cache_max_entries) {
            return Err(err("cache_max_entries", "must be between 1 and 100000"));
        }
        let pat_max_lifetime_seconds = raw.pat_max_lifetime_seconds.unwrap_or(90 * 86_400);
        if !(60..=5 * 365 * 86_400).contains(&pat_max_lifetime_seconds) {
            return Err(err(
                "pat_max_lifetime_seconds",
                "must be between 60 seconds and 5 years",
            ));
        }
        let pat_max_active = raw.pat_max_active.unwrap_or(50);
        if !(1..=10_000).contains(&pat_max_active) {
            return Err(err("pat_max_active", "must be between 1 and 10000"));
        }
        Ok(KeySettings {
            format,
            cache_ttl_seconds,
            cache_max_entries,
            pat_max_lifetime_seconds,
            pat_max_active,
            record_last_used: raw.record_last_used.unwrap_or(true),
        })
    }

    /// KV `cacheTtl` for hot-path reads: the adapter raises it to KV's minimum.
    #[must_use]
    pub fn kv_cache_ttl_seconds(&self) -> u64 {
        self.cache_ttl_seconds.max(60)
    }
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
// A short-lived answer (one per lookup, moved out at once): boxing the record would add an
// allocation to every cache hit for no saving.
#[allow(clippy::large_enum_variant)]
enum Cached {
    Found(KeyRecord),
    /// No record: negative caching, so a flood of well-formed unknown keys costs one read each
    /// per TTL, not one per request.
    Missing,
}

/// A found record and when it was read.
#[derive(Clone, Debug)]
struct Entry {
    record: KeyRecord,
    stored_at: UnixTime,
    /// Read from the authority because of a change published at this time (state tier): the
    /// record reflects every change up to it. `None`: read from KV, which may lag a change.
    confirmed: Option<u64>,
}

/// The fewest negative entries a cache keeps (when `max_entries` allows), so that small caches
/// still absorb a client that repeats an unknown key.
const MIN_NEGATIVE_ENTRIES: usize = 64;

/// Bound of the negative map for a cache of `max_entries` found records: a quarter of it, but at
/// least `min(max_entries, 64)`.
#[must_use]
fn negative_capacity(max_entries: usize) -> usize {
    (max_entries / 4).max(max_entries.min(MIN_NEGATIVE_ENTRIES))
}

/// Per-isolate lookup cache, bounded in entries: at most `max_entries` found records, and
/// separately at most a quarter of that (at least `min(max_entries, 64)`) not-found entries, so
/// misses (forged but well-formed keys, whose checksum is public) never evict hits. Both maps
/// evict by SIEVE in O(1) amortised: keys hit since the hand last passed stay, so a working set
/// somewhat larger than the bound still gets hits. Each entry is trusted for `ttl` seconds.
#[derive(Debug)]
pub struct KeyCache {
    found: RefCell<SieveMap<TokenDigest, Entry>>,
    /// Digest → when the store last answered "no such key".
    missing: RefCell<SieveMap<TokenDigest, UnixTime>>,
    /// Key id → when this isolate last recorded a use (the found bound).
    touched: RefCell<SieveMap<String, UnixTime>>,
    ttl: u64,
    record_last_used: bool,
}

/// Record a use at most this often per key and isolate (KV allows one write per second per key).
const TOUCH_INTERVAL_SECONDS: u64 = 60;

impl KeyCache {
    #[must_use]
    pub fn new(settings: &KeySettings) -> Self {
        let max = settings.cache_max_entries;
        KeyCache {
            found: RefCell::new(SieveMap::new(max)),
            missing: RefCell::new(SieveMap::new(negative_capacity(max))),
            touched: RefCell::new(SieveMap::new(max)),
            ttl: settings.cache_ttl_seconds,
            record_last_used: settings.record_last_used,
        }
    }

    /// A live cached answer; a hit marks the entry visited. A busy cell is a miss (the caller
    /// reads KV), never a panic.
    fn get(&self, digest: &TokenDigest, now: UnixTime) -> Option<Cached> {
        if let Ok(mut found) = self.found.try_borrow_mut() {
            let live = found
                .peek(digest)
                .is_some_and(|e| now.since(e.stored_at) < self.ttl);
            if live {
                return found.get(digest).map(|e| Cached::Found(e.record.clone()));
            }
        }
        let mut missing = self.missing.try_borrow_mut().ok()?;
        let live = missing
            .peek(digest)
            .is_some_and(|t| now.since(*t) < self.ttl);
        if live {
            missing.get(digest).map(|_| Cached::Missing)
        } else {
            None
        }
    }

    /// Caches what the store answered, replacing any answer of the other kind for the digest.
    fn insert(&self, digest: TokenDigest, value: Cached, now: UnixTime) {
        if self.ttl == 0 {
            return;
        }
        match value {
            Cached::Found(record) => self.insert_found(digest, record, None, now),
            Cached::Missing => {
                // Only cache the miss once no found record for it is left to contradict it.
                let Ok(mut found) = self.found.try_borrow_mut() else {
                    return;
                };
                found.remove(&digest);
                drop(found);
                if let Ok(mut missing) = self.missing.try_borrow_mut() {
                    missing.insert(digest, now);
                }
            }
        }
    }

    /// Forget a key (after a revocation or roll through this isolate).
    pub fn invalidate(&self, digest: &TokenDigest) {
        if let Ok(mut found) = self.found.try_borrow_mut() {
            found.remove(digest);
        }
        if let Ok(mut missing) = self.missing.try_borrow_mut() {
            missing.remove(digest);
        }
    }

    /// The change time a cached found record reflects (see `Entry::confirmed`).
    fn confirmed(&self, digest: &TokenDigest) -> Option<u64> {
        self.found
            .try_borrow()
            .ok()
            .and_then(|f| f.peek(digest).and_then(|e| e.confirmed))
    }

    /// Cache a record the authority answered after a change published at `at`.
    fn insert_confirmed(&self, digest: TokenDigest, record: KeyRecord, at: u64, now: UnixTime) {
        if self.ttl > 0 {
            self.insert_found(digest, record, Some(at), now);
        }
    }

    /// A found record replaces any "not found" for its digest.
    fn insert_found(
        &self,
        digest: TokenDigest,
        record: KeyRecord,
        confirmed: Option<u64>,
        now: UnixTime,
    ) {
        if let Ok(mut missing) = self.missing.try_borrow_mut() {
            missing.remove(&digest);
        }
        if let Ok(mut found) = self.found.try_borrow_mut() {
            found.insert(
                digest,
                Entry {
                    record,
                    stored_at: now,
                    confirmed,
                },
            );
        }
    }

    /// True when this isolate holds `token`'s record as found and fresh: the failed-auth budget
    /// never refuses such a key (its owner keeps working behind an address that floods).
    #[must_use]
    pub fn holds_found(&self, token: &str, now: UnixTime) -> bool {
        matches!(
            self.get(&TokenDigest::of(token), now),
            Some(Cached::Found(_))
        )
    }

    /// Forget every cached answer (a new authority epoch: whatever was cached may rest on a
    /// state that no longer exists).
    pub fn clear(&self) {
        if let Ok(mut found) = self.found.try_borrow_mut() {
            let capacity = found.capacity();
            *found = SieveMap::new(capacity);
        }
        if let Ok(mut missing) = self.missing.try_borrow_mut() {
            let capacity = missing.capacity();
            *missing = SieveMap::new(capacity);
        }
    }

    /// Cached answers, found and not found.
    #[must_use]
    pub fn len(&self) -> usize {
        self.found.try_borrow().map_or(0, |e| e.len())
            + self.missing.try_borrow().map_or(0, |e| e.len())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a use of `id` should be recorded now (and marks it).
    fn should_touch(&self, id: &str, now: UnixTime) -> bool {
        if !self.record_last_used {
            return false;
        }
        let Ok(mut touched) = self.touched.try_borrow_mut() else {
            return false;
        };
        let key = id.to_string();
        if touched
            .get(&key)
            .is_some_and(|t| now.since(*t) < TOUCH_INTERVAL_SECONDS)
        {
            return false;
        }
        touched.insert(key, now);
        true
    }
}

/// A `last_used_at` write to run after the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    pub key_id: String,
}

/// A verified key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySuccess {
    pub identity: Identity,
    pub touch: Option<Touch>,
    /// The record's `created_at` (checked against principal cut-offs).
    pub created_at: u64,
    /// The record's own limits and credits.
    pub quota: Option<crate::limits::KeyQuota>,
}

/// The state tier as key authentication sees it: a miss for a key the view lists as recently
/// created is asked of the authority instead of believed.
pub struct Recent<'a, A> {
    pub view: &'a crate::state::RevocationView,
    pub authority: &'a A,
}

/// A refused key, or a store that cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFailure {
    /// 401 `invalid_token`.
    Invalid { reason: &'static str },
    /// 503 with `Retry-After`.
    Unavailable {
        reason: &'static str,
        retry_after: u64,
    },
    /// The store is not bound at all: 500 `kv_not_bound`, a configuration fault.
    NotBound,
}

/// Seconds a client should wait after a KV failure.
const KV_RETRY_AFTER: u64 = 5;

/// Authenticate an API key or PAT. `expected` is the kind the route context wants checked
/// against the record (the prefix's kind when `None`).
#[allow(clippy::too_many_arguments)]
pub async fn authenticate_key<S: KeyStore, A: Authority>(
    format: &KeyFormat,
    cache: &KeyCache,
    store: &S,
    recent: Option<Recent<'_, A>>,
    token: &str,
    expected: Option<KeyKind>,
    sole_issuer: Option<&str>,
    now: UnixTime,
) -> Result<KeySuccess, KeyFailure> {
    let kind = format
        .parse(token)
        .map_err(|e| KeyFailure::Invalid { reason: e.reason() })?;
    if expected.is_some_and(|e| e != kind) {
        return Err(KeyFailure::Invalid {
            reason: "kind_mismatch",
        });
    }
    let digest = TokenDigest::of(token);
    let cached = cache.get(&digest, now);
    // A key created moments ago may be missing from KV (or cached missing here): the view lists
    // the digests of keys created within its window, and only for those is the authority asked.
    if let Some(r) = recent
        .as_ref()
        .filter(|r| !matches!(cached, Some(Cached::Found(_))) && r.view.recently_created(&digest))
    {
        let unavailable = |_| KeyFailure::Unavailable {
            reason: "state_unavailable",
            retry_after: KV_RETRY_AFTER,
        };
        let stored = r
            .authority
            .record(&digest.kv_key())
            .await
            .map_err(unavailable)?;
        if let Some(text) = stored {
            let record = KeyRecord::parse(&text).map_err(|_| KeyFailure::Invalid {
                reason: "bad_record",
            })?;
            cache.insert(digest, Cached::Found(record.clone()), now);
            return finish(&record, kind, cache, sole_issuer, now);
        }
    }
    let record = match cached {
        Some(Cached::Found(r)) => r,
        Some(Cached::Missing) => {
            return Err(KeyFailure::Invalid {
                reason: "unknown_key",
            })
        }
        None => {
            let stored = store
                .get_cached(&digest.kv_key())
                .await
                .map_err(|e| match e {
                    StoreError::NotBound => KeyFailure::NotBound,
                    StoreError::Unavailable => KeyFailure::Unavailable {
                        reason: "kv_unavailable",
                        retry_after: KV_RETRY_AFTER,
                    },
                })?;
            match stored {
                None => {
                    cache.insert(digest, Cached::Missing, now);
                    return Err(KeyFailure::Invalid {
                        reason: "unknown_key",
                    });
                }
                Some(text) => {
                    let record = KeyRecord::parse(&text).map_err(|_| KeyFailure::Invalid {
                        reason: "bad_record",
                    })?;
                    cache.insert(digest, Cached::Found(record.clone()), now);
                    record
                }
            }
        }
    };
    // A record whose scopes changed after this copy was read (the feed says when) is read again
    // from the authority: KV and this cache may both hold the copy from before the change.
    if let Some(r) = &recent {
        if let Some(at) = r.view.changed_at(&record.id) {
            if cache.confirmed(&digest).is_none_or(|c| c < at) {
                let text = r
                    .authority
                    .record(&digest.kv_key())
                    .await
                    .map_err(|_| KeyFailure::Unavailable {
                        reason: "state_unavailable",
                        retry_after: KV_RETRY_AFTER,
                    })?
                    .ok_or(KeyFailure::Invalid {
                        reason: "unknown_key",
                    })?;
                let current = KeyRecord::parse(&text).map_err(|_| KeyFailure::Invalid {
                    reason: "bad_record",
                })?;
                cache.insert_confirmed(digest, current.clone(), at, now);
                return finish(&current, kind, cache, sole_issuer, now);
            }
        }
    }
    finish(&record, kind, cache, sole_issuer, now)
}

fn finish(
    record: &KeyRecord,
    kind: KeyKind,
    cache: &KeyCache,
    sole_issuer: Option<&str>,
    now: UnixTime,
) -> Result<KeySuccess, KeyFailure> {
    let identity = record
        .check(kind, now, sole_issuer)
        .map_err(|r| KeyFailure::Invalid { reason: r.reason() })?;
    // A key with its own limits or credits has its last use in its counter object (the usage
    // endpoint reads it there): no KV write per key and minute for it.
    let quota = record.quota();
    let touch = (quota.is_none() && cache.should_touch(&record.id, now)).then(|| Touch {
        key_id: record.id.clone(),
    });
    Ok(KeySuccess {
        identity,
        touch,
        created_at: record.created_at,
        quota,
    })
}

/// Record a use (best effort: a failed write is not retried).
pub async fn touch<S: KeyStore>(store: &S, touch: &Touch, now: UnixTime) {
    let _ = store
        .put(&used_key(&touch.key_id), &now.0.to_string(), None)
        .await;
}
