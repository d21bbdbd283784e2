//! API key and PAT authentication ([`KeyAuthenticator`]): format check, per-isolate lookup cache,
//! KV read, record check, in that order, so a mistyped or forged key costs no KV read and a hot
//! key none within the cache TTL. Owns the lookup's policy (when the cache, KV or the state
//! tier's authority is asked) and its outcome ([`KeySuccess`], [`KeyAuthFailure`]); never
//! names a KV key itself (the layout is [`super::repository`]'s), never reads a clock.

use super::cache::{Cached, KeyCache};
use super::digest::TokenDigest;
use super::format::{KeyFormat, KeyKind};
use super::record::KeyRecord;
use super::repository::{authority_record, KeyRepository};
use super::settings::KeySettings;
use crate::identity::Identity;
use crate::ports::{Authority, KeyStore, StoreError};
use crate::reason::Reason;
use crate::time::UnixTime;

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

/// A refused key, or a store that cannot answer: the authenticators' one failure type
/// ([`crate::rejection::AuthFailure`]).
pub type KeyAuthFailure = crate::rejection::AuthFailure;

/// Seconds a client should wait after a KV failure.
const KV_RETRY_AFTER: u64 = 5;

/// Per-isolate API key and PAT authentication: the validated key settings and the lookup cache.
/// Methods take `&self`; the cache lives in `RefCell`s whose borrows never span an `.await`.
#[derive(Debug)]
pub struct KeyAuthenticator {
    settings: KeySettings,
    cache: KeyCache,
}

impl KeyAuthenticator {
    #[must_use]
    pub fn new(settings: KeySettings) -> Self {
        let cache = KeyCache::new(&settings);
        KeyAuthenticator { settings, cache }
    }

    #[must_use]
    pub fn settings(&self) -> &KeySettings {
        &self.settings
    }

    #[must_use]
    pub fn format(&self) -> &KeyFormat {
        &self.settings.format
    }

    /// The lookup cache (the admin API invalidates what it changes through it).
    #[must_use]
    pub fn cache(&self) -> &KeyCache {
        &self.cache
    }

    /// True when this isolate holds `token`'s record as found and fresh (see
    /// [`KeyCache::holds_found`]).
    #[must_use]
    pub fn holds_found(&self, token: &str, now: UnixTime) -> bool {
        self.cache.holds_found(token, now)
    }

    /// Forget every cached answer (see [`KeyCache::clear`]).
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// Authenticate an API key or PAT. `expected` is the kind the route context wants checked
    /// against the record (the prefix's kind when `None`); `sole_issuer` is the configured issuer
    /// when there is exactly one (owner of PATs stored without one).
    pub async fn authenticate<S: KeyStore, A: Authority>(
        &self,
        store: &S,
        recent: Option<Recent<'_, A>>,
        token: &str,
        expected: Option<KeyKind>,
        sole_issuer: Option<&str>,
        now: UnixTime,
    ) -> Result<KeySuccess, KeyAuthFailure> {
        let cache = &self.cache;
        let kind = self
            .settings
            .format
            .parse(token)
            .map_err(|e| KeyAuthFailure::Invalid { reason: e.reason() })?;
        if expected.is_some_and(|e| e != kind) {
            return Err(KeyAuthFailure::Invalid {
                reason: Reason::KindMismatch,
            });
        }
        let digest = TokenDigest::of(token);
        let cached = cache.get(&digest, now);
        // A key created moments ago may be missing from KV (or cached missing here): the view
        // lists the digests of keys created within its window, and only for those is the
        // authority asked.
        if let Some(r) = recent.as_ref().filter(|r| {
            !matches!(cached, Some(Cached::Found(_))) && r.view.recently_created(&digest)
        }) {
            let unavailable = |_| KeyAuthFailure::Unavailable {
                reason: Reason::StateUnavailable,
                retry_after: KV_RETRY_AFTER,
            };
            let stored = authority_record(r.authority, &digest)
                .await
                .map_err(unavailable)?;
            if let Some(stored) = stored {
                let record =
                    KeyRecord::parse(&stored.text).map_err(|_| KeyAuthFailure::Invalid {
                        reason: Reason::BadRecord,
                    })?;
                cache.insert(digest, Cached::Found(record.clone()), now);
                return self.finish(&record, kind, sole_issuer, now);
            }
        }
        let record = match cached {
            Some(Cached::Found(r)) => r,
            Some(Cached::Missing) => {
                return Err(KeyAuthFailure::Invalid {
                    reason: Reason::UnknownKey,
                })
            }
            None => {
                let stored = KeyRepository::new(store)
                    .record_text_cached(&digest)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotBound => KeyAuthFailure::NotBound,
                        StoreError::Unavailable => KeyAuthFailure::Unavailable {
                            reason: Reason::KvUnavailable,
                            retry_after: KV_RETRY_AFTER,
                        },
                    })?;
                match stored {
                    None => {
                        cache.insert(digest, Cached::Missing, now);
                        return Err(KeyAuthFailure::Invalid {
                            reason: Reason::UnknownKey,
                        });
                    }
                    Some(text) => {
                        let record =
                            KeyRecord::parse(&text).map_err(|_| KeyAuthFailure::Invalid {
                                reason: Reason::BadRecord,
                            })?;
                        cache.insert(digest, Cached::Found(record.clone()), now);
                        record
                    }
                }
            }
        };
        // A record whose scopes changed after this copy was read (the feed says when) is read
        // again from the authority: KV and this cache may both hold the copy from before the
        // change. Change times are whole seconds and two changes may share one, so a copy
        // confirmed by a read in the change's own second (`c == at`) cannot prove it followed
        // the change and is read again; a read in a later second is trusted. The cost: requests
        // in the change's second each read again (the feed usually reaches an isolate a second
        // or more later, so normally one read per change), then one read in the next second.
        // A finer unit would change the feed's entries and the authority's clock; this does not.
        if let Some(r) = &recent {
            if let Some(at) = r.view.changed_at(&record.id) {
                if cache.confirmed(&digest).is_none_or(|c| c <= at) {
                    let read = authority_record(r.authority, &digest)
                        .await
                        .map_err(|_| KeyAuthFailure::Unavailable {
                            reason: Reason::StateUnavailable,
                            retry_after: KV_RETRY_AFTER,
                        })?
                        .ok_or(KeyAuthFailure::Invalid {
                            reason: Reason::UnknownKey,
                        })?;
                    let current =
                        KeyRecord::parse(&read.text).map_err(|_| KeyAuthFailure::Invalid {
                            reason: Reason::BadRecord,
                        })?;
                    // Confirmed as of the authority's own second at the read, the clock the
                    // feed's change times come from. An answer without it confirms nothing:
                    // the next request reads again.
                    match read.read_at {
                        Some(at) => cache.insert_confirmed(digest, current.clone(), at, now),
                        None => cache.insert(digest, Cached::Found(current.clone()), now),
                    }
                    return self.finish(&current, kind, sole_issuer, now);
                }
            }
        }
        self.finish(&record, kind, sole_issuer, now)
    }

    fn finish(
        &self,
        record: &KeyRecord,
        kind: KeyKind,
        sole_issuer: Option<&str>,
        now: UnixTime,
    ) -> Result<KeySuccess, KeyAuthFailure> {
        let identity = record
            .check(kind, now, sole_issuer)
            .map_err(|r| KeyAuthFailure::Invalid { reason: r.reason() })?;
        // A key with its own limits or credits has its last use in its counter object (the
        // usage endpoint reads it there): no KV write per key and minute for it.
        let quota = record.quota();
        let touch = (quota.as_ref().is_none_or(crate::limits::KeyQuota::is_empty)
            && self.cache.should_touch(&record.id, now))
        .then(|| Touch {
            key_id: record.id.clone(),
        });
        Ok(KeySuccess {
            identity,
            touch,
            created_at: record.created_at,
            quota,
        })
    }
}

/// Record a use (best effort: a failed write is not retried).
pub async fn touch<S: KeyStore>(store: &S, touch: &Touch, now: UnixTime) {
    KeyRepository::new(store)
        .record_use(&touch.key_id, now)
        .await;
}
