//! The per-isolate JWKS cache: a state machine over (issuer → keys, freshness, failures),
//! driven only by `now` and fetch results. It never reads a clock; the only I/O is in
//! [`JwksCache::fetch`], through the caller's [`DocumentSource`], and no `RefCell` borrow is held
//! across an `.await` (requests interleave within one isolate).
//!
//! Freshness, per issuer:
//! * **fresh** until `fetched_at + ttl` (TTL from `Cache-Control: max-age`, clamped to
//!   `[min_ttl, max_ttl]`, else the default): keys are served as they are;
//! * **stale** for `stale_if_error` more seconds: keys are still served and one background
//!   refresh is asked for ([`JwksRefresh`]); only one is outstanding per issuer, and its
//!   in-flight mark lapses after the fetch timeout so a lost refresh cannot block the next;
//! * **expired** after that: nothing is served; a request fetches in the foreground and fails
//!   closed (`Unavailable`) when that fails.
//!
//! Failed fetches back off exponentially (1 s, 2 s, 4 s … capped at 60 s); while backing off with
//! nothing usable the answer is `Unavailable` with the remaining wait as `Retry-After`.
//!
//! An unknown `kid` refetches at most once per `unknown_kid_cooldown` per issuer (any fetch counts),
//! so a flood of random `kid`s costs one fetch per cooldown, not one per request.
//!
//! Each successful fetch whose set leaves some of the issuer's `algorithms` without a key is
//! noted once ([`UnusedAlgorithms`], drained by the adapter with
//! [`JwksCache::take_unused_algorithms`] for a log line).
//!
//! Concurrency: in Workers a fetch started by one request cannot be awaited by another, so
//! concurrent requests that find the cache cold (or expired) each fetch. That bounds the
//! duplicate work to the requests already in flight at a cold start, and avoids making them fail
//! or wait on a fetch they cannot observe.

use core::cell::RefCell;
use std::collections::HashMap;

use super::discovery::{jwks_uri_from, DiscoveryError};
use super::{JwksError, KeyMatch, KeySet, PublicKey};
use crate::jwt::alg::Algorithm;
use crate::jwt::config::{IssuerPolicy, JwksSettings, KeySource};
use crate::ports::{DocumentSource, FetchError};
use crate::time::UnixTime;

/// What the health endpoint reports about one issuer's keys in this isolate (read-only).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssuerHealth {
    pub issuer: String,
    /// `fresh`, `stale` (served while a refresh is due), `empty` (not fetched yet in this
    /// isolate: the first token fetches), `failing` (the last fetch failed and no usable keys
    /// are left), or `secret` (HS256 only: no JWKS).
    pub state: &'static str,
    /// Usable keys held (0 when none are usable).
    pub keys: usize,
    /// Unix seconds of the last fetch (or kid-miss refetch decision) in this isolate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fetch_at: Option<u64>,
    /// The last fetch's failure reason (`jwks_fetch_failed`, `jwks_timeout`, …), while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<&'static str>,
    /// Algorithms the issuer's `algorithms` allows that none of the keys held can verify
    /// ([`KeySet::unused_algorithms`]): accepted configuration, reported. Absent when none are,
    /// or when no keys are held.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unused_algorithms: Vec<&'static str>,
    /// Config paths of this issuer that are valid but look wrong (an unreplaced placeholder
    /// segment such as `<client>`): accepted, reported here and logged once per isolate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl IssuerHealth {
    /// True unless the issuer's keys cannot be had (`failing`).
    #[must_use]
    pub fn usable(&self) -> bool {
        self.state != "failing"
    }
}

/// Longest backoff after repeated failures.
pub const MAX_BACKOFF_SECONDS: u64 = 60;

/// A background refresh asked for by a lookup that served stale keys. Run it with
/// `JwtAuthenticator::refresh` (e.g. inside `ctx.wait_until`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksRefresh {
    issuer: String,
}

impl JwksRefresh {
    /// The issuer whose keys need refreshing.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Why a token's key could not be chosen from a usable set (the client's fault: 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRejection {
    UnknownKid,
    AlgMismatch,
    KidRequired,
}

impl KeyRejection {
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            KeyRejection::UnknownKid => "unknown_kid",
            KeyRejection::AlgMismatch => "alg_key_mismatch",
            KeyRejection::KidRequired => "kid_required",
        }
    }
}

/// The key chosen for a token, with its imported handle when there is one already.
#[derive(Clone, Debug)]
pub struct SelectedKey<K> {
    pub key: PublicKey,
    pub handle: Option<K>,
    /// Present when the keys were stale: run it after answering.
    pub refresh: Option<JwksRefresh>,
}

/// What a lookup decided.
#[derive(Clone, Debug)]
pub enum Lookup<K> {
    Key(SelectedKey<K>),
    /// Fetch now ([`JwksCache::fetch`]), then look up again with `may_fetch = false`.
    Fetch,
    /// Nothing usable and no fetch allowed now: answer 503 with `Retry-After`.
    Unavailable {
        reason: &'static str,
        retry_after: u64,
    },
    Rejected(KeyRejection),
}

struct CachedKey<K> {
    key: PublicKey,
    /// Imported forms, one per algorithm (an RSA key imports differently for RS256 and PS256).
    handles: Vec<(Algorithm, K)>,
}

struct Keys<K> {
    entries: Vec<CachedKey<K>>,
    set: KeySet,
    fresh_until: UnixTime,
}

struct DiscoveredUri {
    uri: String,
    fresh_until: UnixTime,
}

struct IssuerState<K> {
    keys: Option<Keys<K>>,
    discovered: Option<DiscoveredUri>,
    refresh_in_flight_until: Option<UnixTime>,
    consecutive_failures: u32,
    retry_at: Option<UnixTime>,
    last_failure: Option<&'static str>,
    /// When a fetch last completed or a kid-miss refetch was last decided.
    last_fetch: Option<UnixTime>,
}

impl<K> Default for IssuerState<K> {
    fn default() -> Self {
        IssuerState {
            keys: None,
            discovered: None,
            refresh_in_flight_until: None,
            consecutive_failures: 0,
            retry_at: None,
            last_failure: None,
            last_fetch: None,
        }
    }
}

impl<K> IssuerState<K> {
    fn backing_off(&self, now: UnixTime) -> bool {
        self.retry_at.is_some_and(|t| now < t)
    }

    fn retry_after(&self, now: UnixTime) -> u64 {
        self.retry_at.map_or(1, |t| t.since(now).max(1))
    }

    fn unavailable<T>(&self, now: UnixTime) -> Lookup<T> {
        Lookup::Unavailable {
            reason: self.last_failure.unwrap_or("jwks_unavailable"),
            retry_after: self.retry_after(now),
        }
    }
}

/// Per-isolate JWKS state for every issuer, generic over the imported-key handle `K`
/// (a WebCrypto `CryptoKey` in production, a native key in tests).
pub struct JwksCache<K> {
    settings: JwksSettings,
    issuers: RefCell<HashMap<String, IssuerState<K>>>,
    unused: RefCell<Vec<UnusedAlgorithms>>,
}

/// A fetched set that leaves some of its issuer's configured algorithms without a key (noted
/// once per fetch, for a log line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusedAlgorithms {
    pub issuer: String,
    pub algorithms: Vec<Algorithm>,
}

/// Notes kept while nobody drains them (native tools never do): the oldest are dropped.
const MAX_UNUSED_NOTES: usize = 16;

impl<K: Clone> JwksCache<K> {
    #[must_use]
    pub fn new(settings: JwksSettings) -> Self {
        JwksCache {
            settings,
            issuers: RefCell::new(HashMap::new()),
            unused: RefCell::new(Vec::new()),
        }
    }

    /// The notes of fetches since the last call, oldest first (see [`UnusedAlgorithms`]).
    pub fn take_unused_algorithms(&self) -> Vec<UnusedAlgorithms> {
        self.unused
            .try_borrow_mut()
            .map(|mut notes| core::mem::take(&mut *notes))
            .unwrap_or_default()
    }

    fn note_unused(&self, issuer: &str, algorithms: Vec<Algorithm>) {
        if algorithms.is_empty() {
            return;
        }
        if let Ok(mut notes) = self.unused.try_borrow_mut() {
            if notes.len() >= MAX_UNUSED_NOTES {
                notes.remove(0);
            }
            notes.push(UnusedAlgorithms {
                issuer: issuer.to_owned(),
                algorithms,
            });
        }
    }

    #[must_use]
    pub fn settings(&self) -> &JwksSettings {
        &self.settings
    }

    /// A read-only snapshot of `issuer`'s keys at `now`, for the health endpoint: no fetch, no
    /// change to the state. `algorithms` is the issuer's allow-list, checked against the keys.
    #[must_use]
    pub fn snapshot(&self, issuer: &str, algorithms: &[Algorithm], now: UnixTime) -> IssuerHealth {
        let mut health = IssuerHealth {
            issuer: issuer.to_owned(),
            state: "empty",
            keys: 0,
            last_fetch_at: None,
            last_error: None,
            unused_algorithms: Vec::new(),
            warnings: Vec::new(),
        };
        let Ok(issuers) = self.issuers.try_borrow() else {
            return health;
        };
        let Some(state) = issuers.get(issuer) else {
            return health;
        };
        health.last_fetch_at = state.last_fetch.map(|t| t.0);
        health.last_error = state.last_failure;
        let hard_limit = self.settings.stale_if_error_seconds;
        let usable = state
            .keys
            .as_ref()
            .filter(|k| now < k.fresh_until.plus(hard_limit));
        health.state = match usable {
            Some(keys) => {
                health.keys = keys.set.len();
                health.unused_algorithms = keys
                    .set
                    .unused_algorithms(algorithms)
                    .into_iter()
                    .map(Algorithm::as_str)
                    .collect();
                if now < keys.fresh_until {
                    "fresh"
                } else {
                    "stale"
                }
            }
            None if state.last_failure.is_some() => "failing",
            None => "empty",
        };
        health
    }

    /// Chooses the key for (`issuer`, `kid`, `alg`) at `now`. With `may_fetch = false` (the
    /// second look after a fetch) it never answers [`Lookup::Fetch`].
    pub fn lookup(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Algorithm,
        now: UnixTime,
        may_fetch: bool,
    ) -> Lookup<K> {
        // Never held across an await, so this cannot fail; if it did, fail closed.
        let Ok(mut issuers) = self.issuers.try_borrow_mut() else {
            return Lookup::Unavailable {
                reason: "jwks_cache_busy",
                retry_after: 1,
            };
        };
        let state = issuers.entry(issuer.to_owned()).or_default();
        let hard_limit = self.settings.stale_if_error_seconds;
        let usable = state
            .keys
            .as_ref()
            .filter(|k| now < k.fresh_until.plus(hard_limit));
        let Some(keys) = usable else {
            if !may_fetch || state.backing_off(now) {
                return state.unavailable(now);
            }
            return Lookup::Fetch;
        };
        let stale = now >= keys.fresh_until;
        match keys.set.select(kid, alg) {
            KeyMatch::Found(i) => {
                let Some(entry) = keys.entries.get(i) else {
                    return state.unavailable(now);
                };
                let selected = SelectedKey {
                    key: entry.key.clone(),
                    handle: entry
                        .handles
                        .iter()
                        .find(|(a, _)| *a == alg)
                        .map(|(_, h)| h.clone()),
                    refresh: None,
                };
                let in_flight = state.refresh_in_flight_until.is_some_and(|t| now < t);
                let refresh = if stale && !in_flight && !state.backing_off(now) {
                    state.refresh_in_flight_until = Some(now.plus(self.in_flight_window()));
                    Some(JwksRefresh {
                        issuer: issuer.to_owned(),
                    })
                } else {
                    None
                };
                Lookup::Key(SelectedKey {
                    refresh,
                    ..selected
                })
            }
            KeyMatch::AlgMismatch => Lookup::Rejected(KeyRejection::AlgMismatch),
            KeyMatch::Ambiguous => Lookup::Rejected(KeyRejection::KidRequired),
            KeyMatch::Missing => {
                let cooldown = self.settings.unknown_kid_cooldown_seconds;
                let cooled = state.last_fetch.is_none_or(|t| now >= t.plus(cooldown));
                if may_fetch && cooled && !state.backing_off(now) {
                    // Recorded now, before the fetch is awaited, so concurrent misses wait.
                    state.last_fetch = Some(now);
                    Lookup::Fetch
                } else {
                    Lookup::Rejected(KeyRejection::UnknownKid)
                }
            }
        }
    }

    /// Seconds a background refresh may take before another may start: the JWKS fetch, plus
    /// the discovery fetch that may precede it.
    fn in_flight_window(&self) -> u64 {
        self.settings.fetch_timeout_seconds().saturating_mul(2)
    }

    /// Keeps the imported form of `key` for `alg`, if that key is still in the issuer's set.
    /// Keys are matched by their whole content (kid and material), so a rotated key with a
    /// reused `kid` is imported afresh.
    pub fn store_handle(&self, issuer: &str, key: &PublicKey, alg: Algorithm, handle: K) {
        let Ok(mut issuers) = self.issuers.try_borrow_mut() else {
            return;
        };
        let Some(keys) = issuers.get_mut(issuer).and_then(|s| s.keys.as_mut()) else {
            return;
        };
        if let Some(entry) = keys.entries.iter_mut().find(|e| e.key == *key) {
            if !entry.handles.iter().any(|(a, _)| *a == alg) {
                entry.handles.push((alg, handle));
            }
        }
    }

    /// Keys of `issuer` that have no handle yet for an algorithm they allow and the issuer
    /// accepts: what a background refresh may import ahead of the next request.
    #[must_use]
    pub fn unimported(&self, policy: &IssuerPolicy) -> Vec<(PublicKey, Algorithm)> {
        let Ok(issuers) = self.issuers.try_borrow() else {
            return Vec::new();
        };
        let Some(keys) = issuers.get(&policy.issuer).and_then(|s| s.keys.as_ref()) else {
            return Vec::new();
        };
        keys.entries
            .iter()
            .flat_map(|e| {
                policy
                    .algorithms
                    .iter()
                    .filter(|a| e.key.allows(**a) && !e.handles.iter().any(|(h, _)| h == *a))
                    .map(|a| (e.key.clone(), *a))
            })
            .collect()
    }

    /// Records a successfully fetched set: handles of unchanged keys carry over.
    pub fn record_success(
        &self,
        issuer: &str,
        set: KeySet,
        cache_control: Option<&str>,
        now: UnixTime,
    ) {
        let ttl = ttl_from_cache_control(cache_control, &self.settings);
        let Ok(mut issuers) = self.issuers.try_borrow_mut() else {
            return;
        };
        let state = issuers.entry(issuer.to_owned()).or_default();
        let mut old = state.keys.take().map(|k| k.entries).unwrap_or_default();
        // Only keys with an imported handle carry anything over: few, even in a large set, so
        // matching the new keys against them stays linear in the set's size.
        old.retain(|e| !e.handles.is_empty());
        let entries = set
            .keys()
            .iter()
            .map(|key| {
                let handles = old
                    .iter_mut()
                    .find(|e| e.key == *key)
                    .map(|e| core::mem::take(&mut e.handles))
                    .unwrap_or_default();
                CachedKey {
                    key: key.clone(),
                    handles,
                }
            })
            .collect();
        state.keys = Some(Keys {
            entries,
            set,
            fresh_until: now.plus(ttl),
        });
        state.consecutive_failures = 0;
        state.retry_at = None;
        state.last_failure = None;
        state.refresh_in_flight_until = None;
        state.last_fetch = Some(now);
    }

    /// Records a failed fetch: current keys stay (until their hard limit), and fetching backs off.
    pub fn record_failure(&self, issuer: &str, reason: &'static str, now: UnixTime) {
        let Ok(mut issuers) = self.issuers.try_borrow_mut() else {
            return;
        };
        let state = issuers.entry(issuer.to_owned()).or_default();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let exponent = state.consecutive_failures.saturating_sub(1).min(6);
        let delay = (1u64 << exponent).min(MAX_BACKOFF_SECONDS);
        state.retry_at = Some(now.plus(delay));
        state.last_failure = Some(reason);
        state.refresh_in_flight_until = None;
        state.last_fetch = Some(now);
    }

    /// The discovered `jwks_uri` of `issuer`: fresh only, or any still within stale-if-error.
    fn discovered_uri(&self, issuer: &str, now: UnixTime, fresh_only: bool) -> Option<String> {
        let issuers = self.issuers.try_borrow().ok()?;
        let d = issuers.get(issuer)?.discovered.as_ref()?;
        let limit = if fresh_only {
            d.fresh_until
        } else {
            d.fresh_until.plus(self.settings.stale_if_error_seconds)
        };
        (now < limit).then(|| d.uri.clone())
    }

    fn record_discovery(
        &self,
        issuer: &str,
        uri: String,
        cache_control: Option<&str>,
        now: UnixTime,
    ) {
        let ttl = ttl_from_cache_control(cache_control, &self.settings);
        let Ok(mut issuers) = self.issuers.try_borrow_mut() else {
            return;
        };
        issuers.entry(issuer.to_owned()).or_default().discovered = Some(DiscoveredUri {
            uri,
            fresh_until: now.plus(ttl),
        });
    }

    /// Fetches `policy`'s keys (through discovery when configured) and records the outcome.
    /// Returns the failure's reason code, for logs.
    pub async fn fetch<S: DocumentSource>(
        &self,
        policy: &IssuerPolicy,
        source: &S,
        now: UnixTime,
    ) -> Result<(), &'static str> {
        let issuer = policy.issuer.as_str();
        let jwks_uri = match &policy.key_source {
            None => return Err("jwks_not_configured"),
            Some(KeySource::JwksUri(uri)) => uri.clone(),
            Some(KeySource::Discovery(url)) => match self.discovered_uri(issuer, now, true) {
                Some(uri) => uri,
                None => match fetch_discovery(source, url, issuer).await {
                    Ok((uri, cache_control)) => {
                        self.record_discovery(issuer, uri.clone(), cache_control.as_deref(), now);
                        uri
                    }
                    Err(reason) => match self.discovered_uri(issuer, now, false) {
                        Some(uri) => uri,
                        None => {
                            self.record_failure(issuer, reason, now);
                            return Err(reason);
                        }
                    },
                },
            },
        };
        match fetch_jwks(source, &jwks_uri).await {
            Ok((set, cache_control)) => {
                self.note_unused(issuer, set.unused_algorithms(&policy.algorithms));
                self.record_success(issuer, set, cache_control.as_deref(), now);
                Ok(())
            }
            Err(reason) => {
                self.record_failure(issuer, reason, now);
                Err(reason)
            }
        }
    }
}

async fn fetch_discovery<S: DocumentSource>(
    source: &S,
    url: &str,
    issuer: &str,
) -> Result<(String, Option<String>), &'static str> {
    let doc = source.fetch(url).await.map_err(|e| match e {
        FetchError::Timeout => "discovery_timeout",
        FetchError::Network => "discovery_fetch_failed",
        FetchError::TooLarge => DiscoveryError::TooLarge.reason(),
    })?;
    if doc.status != 200 {
        return Err("discovery_http_error");
    }
    let uri = jwks_uri_from(&doc.body, issuer).map_err(|e| e.reason())?;
    Ok((uri, doc.cache_control))
}

async fn fetch_jwks<S: DocumentSource>(
    source: &S,
    url: &str,
) -> Result<(KeySet, Option<String>), &'static str> {
    let doc = source.fetch(url).await.map_err(|e| match e {
        FetchError::Timeout => "jwks_timeout",
        FetchError::Network => "jwks_fetch_failed",
        FetchError::TooLarge => JwksError::TooLarge.reason(),
    })?;
    if doc.status != 200 {
        return Err("jwks_http_error");
    }
    let set = KeySet::parse(&doc.body).map_err(|e| e.reason())?;
    Ok((set, doc.cache_control))
}

/// TTL for a fetched document: `max-age` clamped to `[min_ttl, max_ttl]`; `no-store` or
/// `no-cache` mean the minimum; absent or unreadable means the configured default.
#[must_use]
pub fn ttl_from_cache_control(header: Option<&str>, settings: &JwksSettings) -> u64 {
    let mut max_age = None;
    for directive in header.unwrap_or_default().split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return settings.min_ttl_seconds;
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            max_age = value
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
        }
    }
    max_age.map_or(settings.cache_ttl_seconds, |s| {
        s.clamp(settings.min_ttl_seconds, settings.max_ttl_seconds)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::KeyMaterial;

    fn key(kid: &str, byte: u8) -> PublicKey {
        PublicKey {
            kid: Some(kid.into()),
            alg: None,
            material: KeyMaterial::Ed25519 { x: [byte; 32] },
        }
    }

    fn set(keys: &[PublicKey]) -> KeySet {
        KeySet::from_keys(keys.to_vec())
    }

    const ISS: &str = "https://issuer.example";

    fn found(l: Lookup<u32>) -> SelectedKey<u32> {
        match l {
            Lookup::Key(k) => k,
            other => panic!("expected a key, got {other:?}"),
        }
    }

    #[test]
    fn ttl_follows_max_age_within_bounds() {
        let s = JwksSettings::default();
        assert_eq!(ttl_from_cache_control(None, &s), 600);
        assert_eq!(
            ttl_from_cache_control(Some("public, max-age=3600"), &s),
            3600
        );
        assert_eq!(ttl_from_cache_control(Some("max-age=5"), &s), 60);
        assert_eq!(ttl_from_cache_control(Some("MAX-AGE=\"120\""), &s), 120);
        assert_eq!(
            ttl_from_cache_control(Some("max-age=99999999999999999999999"), &s),
            86_400
        );
        assert_eq!(ttl_from_cache_control(Some("max-age=-1"), &s), 600);
        assert_eq!(ttl_from_cache_control(Some("max-age=abc"), &s), 600);
        assert_eq!(ttl_from_cache_control(Some("no-store"), &s), 60);
        assert_eq!(
            ttl_from_cache_control(Some("max-age=3600, no-cache"), &s),
            60
        );
    }

    #[test]
    fn cold_cache_asks_for_a_fetch_and_then_serves() {
        let cache = JwksCache::<u32>::new(JwksSettings::default());
        let t = UnixTime(1_000);
        assert!(matches!(
            cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t, true),
            Lookup::Fetch
        ));
        assert!(matches!(
            cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t, false),
            Lookup::Unavailable { .. }
        ));
        cache.record_success(ISS, set(&[key("a", 1)]), None, t);
        let k = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t, true));
        assert_eq!(k.handle, None);
        assert_eq!(k.refresh, None);
        cache.store_handle(ISS, &k.key, Algorithm::EdDsa, 7);
        let k = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t, true));
        assert_eq!(k.handle, Some(7));
    }

    #[test]
    fn handles_survive_refetches_of_the_same_key_only() {
        let cache = JwksCache::<u32>::new(JwksSettings::default());
        let t = UnixTime(1_000);
        cache.record_success(ISS, set(&[key("a", 1), key("b", 2)]), None, t);
        cache.store_handle(ISS, &key("a", 1), Algorithm::EdDsa, 1);
        cache.store_handle(ISS, &key("b", 2), Algorithm::EdDsa, 2);
        // `b` is rotated to new material under the same kid.
        cache.record_success(ISS, set(&[key("a", 1), key("b", 3)]), None, t.plus(700));
        let a = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t.plus(700), true));
        let b = found(cache.lookup(ISS, Some("b"), Algorithm::EdDsa, t.plus(700), true));
        assert_eq!(a.handle, Some(1));
        assert_eq!(b.handle, None);
        // A handle for a key no longer in the set is dropped.
        cache.store_handle(ISS, &key("b", 2), Algorithm::EdDsa, 9);
        let b = found(cache.lookup(ISS, Some("b"), Algorithm::EdDsa, t.plus(700), true));
        assert_eq!(b.handle, None);
    }

    #[test]
    fn stale_keys_serve_with_one_refresh_at_a_time() {
        let cache = JwksCache::<u32>::new(JwksSettings::default());
        let t = UnixTime(1_000);
        cache.record_success(ISS, set(&[key("a", 1)]), Some("max-age=100"), t);
        let stale = t.plus(100);
        let first = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, stale, true));
        assert_eq!(first.refresh.as_ref().map(JwksRefresh::issuer), Some(ISS));
        let second = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, stale, true));
        assert_eq!(second.refresh, None);
        // The in-flight mark lapses after the fetch timeout (3 s, doubled for discovery).
        let later = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, stale.plus(6), true));
        assert!(later.refresh.is_some());
    }

    #[test]
    fn failures_back_off_exponentially_up_to_a_minute() {
        let cache = JwksCache::<u32>::new(JwksSettings::default());
        let mut t = UnixTime(1_000);
        let mut waits = Vec::new();
        for _ in 0..9 {
            cache.record_failure(ISS, "jwks_fetch_failed", t);
            match cache.lookup(ISS, None, Algorithm::EdDsa, t, true) {
                Lookup::Unavailable {
                    reason,
                    retry_after,
                } => {
                    assert_eq!(reason, "jwks_fetch_failed");
                    waits.push(retry_after);
                    t = t.plus(retry_after);
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                cache.lookup(ISS, None, Algorithm::EdDsa, t, true),
                Lookup::Fetch
            ));
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
