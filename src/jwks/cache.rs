//! The per-isolate JWKS cache: one explicit state machine per configured issuer, driven only by
//! `now`, lookups and fetch results. It never reads a clock and never does I/O itself: a lookup
//! answers a command ([`Lookup`]) and the caller performs it; [`JwksCache::fetch`] is the one
//! place that talks to the caller's [`DocumentSource`] and reports each outcome back through
//! [`JwksCache::fetch_succeeded`] / [`JwksCache::fetch_failed`]. It never holds a `RefCell`
//! borrow across an `.await` (requests interleave within one isolate), never logs, and never
//! touches the verified-token cache or the signature verifier.
//!
//! The issuers are known from the configuration: [`JwksCache::new`] builds one slot per issuer,
//! indexed by its `issuer` string once, so a lookup allocates nothing.
//!
//! # States
//!
//! Each slot stores what the events left (`KeyState`), so impossible combinations (a backoff
//! without a failure, a refresh in flight without keys, a failure reason with a success) cannot
//! be represented:
//! * `Empty`: nothing fetched in this isolate yet;
//! * `Current { held, last_fetch }`: the last fetch succeeded; `held` is the set, when it goes
//!   stale, and whether a background refresh is in flight (and until when);
//! * `Failing { held, backoff, last_fetch }`: the last `backoff.failures` fetches failed; no fetch
//!   before `backoff.retry_at`; `held` is the set of the last success, if any.
//!
//! Read at `now`, a slot is in one [`Freshness`] (the decision and [`IssuerHealth`] follow it):
//! * **`Empty`**: the first token fetches ([`Lookup::Fetch`], or [`Lookup::Discover`] when the
//!   `jwks_uri` must first be discovered);
//! * **`Fresh`** before `fresh_until = fetched_at + ttl` (TTL from `Cache-Control: max-age`,
//!   clamped to `[min_ttl, max_ttl]`; `no-store`/`no-cache` → `min_ttl`; else the default): keys
//!   are served as they are ([`Lookup::Serve`]);
//! * **`Stale`** from `fresh_until` (inclusive) for `stale_if_error` more seconds: keys are still
//!   served, and the refresh is [`StaleRefresh::Due`] (the serving lookup hands out one
//!   [`JwksRefresh`] and marks it in flight), [`StaleRefresh::InFlight`] (until the mark lapses,
//!   twice the fetch timeout after it was set: JWKS plus discovery, so a lost refresh cannot block
//!   the next) or [`StaleRefresh::BackingOff`];
//! * **`Expired`** from `fresh_until + stale_if_error` (inclusive) with no failure since:
//!   nothing is served; the next token fetches in the foreground (health reports `empty`). The
//!   set is kept only so imported handles carry over to the next fetch of the same keys;
//! * **`Failing`**: nothing usable and the last fetch failed: [`Lookup::Unavailable`] with the
//!   failure's reason and the rest of the backoff as `Retry-After` until `retry_at`, then a
//!   foreground fetch again.
//!
//! # Transitions
//!
//! * fetch succeeded (`fetch_succeeded`) → `Current` with the new set, fresh for its TTL; the
//!   backoff and any refresh mark are dropped; handles of unchanged keys carry over;
//! * fetch failed (`fetch_failed`) → `Failing`, keeping the held set (served while within its
//!   window) and dropping the refresh mark; failures back off exponentially (1 s, 2 s, 4 s …
//!   capped at 60 s), counted since the last success;
//! * a stale lookup that finds the refresh due → the refresh in flight;
//! * an unknown `kid` on usable keys → one foreground refetch (`Fetch`/`Discover`) at most once
//!   per `unknown_kid_cooldown` after the last fetch or refetch decision (recorded when decided,
//!   so concurrent misses wait), and never while backing off; else
//!   [`KeyRejection::UnknownKid`], unless the last fetch failed (`Failing`): then the failed
//!   fetch may be what kept the issuer's new key out, so the answer is [`Lookup::Unavailable`]
//!   (503, retry after the backoff), not a 401 that tells the client to drop its token. A flood
//!   of random `kid`s costs one fetch per cooldown;
//! * time alone moves `Fresh` → `Stale` → `Expired` (or `Failing` when a failure is recorded),
//!   and ends backoffs and in-flight marks.
//!
//! After a foreground fetch the caller looks again with [`JwksCache::lookup_after_fetch`], which
//! never answers a fetch: nothing usable is `Unavailable`, an unknown `kid` is rejected (or
//! `Unavailable` when that fetch failed).
//!
//! Discovery issuers keep the discovered `jwks_uri` with its own TTL; when rediscovery fails, a
//! URI still within stale-if-error is used, else the failure is recorded like a JWKS failure.
//!
//! Each successful fetch whose set leaves some of the issuer's `algorithms` without a key is
//! noted once ([`UnusedAlgorithms`], drained by the adapter with
//! [`JwksCache::take_unused_algorithms`] for a log line).
//!
//! Concurrency: in Workers a fetch started by one request cannot be awaited by another, so
//! concurrent requests that find the cache cold (or expired) each fetch. That bounds the
//! duplicate work to the requests already in flight at a cold start, and avoids making them fail
//! or wait on a fetch they cannot observe.

use crate::reason::Reason;
use core::cell::RefCell;
use std::collections::HashMap;

use super::discovery::{jwks_uri_from, DiscoveryError};
use super::{JwksError, KeyMatch, KeySet, PublicKey};
use crate::jwt::alg::Algorithm;
use crate::jwt::config::{IssuerPolicy, Issuers, JwksSettings, KeySource};
use crate::ports::{DocumentSource, FetchError};
use crate::time::UnixTime;

/// What the health endpoint reports about one issuer's keys in this isolate (read-only).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssuerHealth {
    pub issuer: String,
    /// `fresh`, `stale` (served while a refresh is due), `empty` (not fetched yet in this
    /// isolate, or expired with no failure since: the next token fetches), `failing` (the last
    /// fetch failed and no usable keys are left), or `secret` (HS256 only: no JWKS).
    pub state: &'static str,
    /// Usable keys held (0 when none are usable).
    pub keys: usize,
    /// Unix seconds of the last fetch (or kid-miss refetch decision) in this isolate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fetch_at: Option<u64>,
    /// The last fetch's failure reason (`jwks_fetch_failed`, `jwks_timeout`, …) while fetches
    /// have failed since the last success, whether or not keys still serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Reason>,
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
    pub fn reason(self) -> Reason {
        match self {
            KeyRejection::UnknownKid => Reason::UnknownKid,
            KeyRejection::AlgMismatch => Reason::AlgKeyMismatch,
            KeyRejection::KidRequired => Reason::KidRequired,
        }
    }
}

/// The key chosen for a token, with its imported handle when there is one already.
#[derive(Clone, Debug)]
pub struct SelectedKey<K> {
    pub key: PublicKey,
    pub handle: Option<K>,
    /// Present when the keys were stale and the refresh was due: run it after answering.
    pub refresh: Option<JwksRefresh>,
}

/// The command a lookup answers; the caller performs it.
#[derive(Clone, Debug)]
pub enum Lookup<K> {
    /// Verify with this key.
    Serve(SelectedKey<K>),
    /// Fetch the JWKS now ([`JwksCache::fetch`]), then [`JwksCache::lookup_after_fetch`].
    Fetch,
    /// Like [`Lookup::Fetch`], but the `jwks_uri` must be discovered first (no fresh one is
    /// held): [`JwksCache::fetch`] does both.
    Discover,
    /// Nothing usable and no fetch allowed now: answer 503 with `Retry-After`.
    Unavailable { reason: Reason, retry_after: u64 },
    /// The token's key cannot be chosen from the usable set: 401.
    Rejected(KeyRejection),
}

/// What a stale set's background refresh is doing at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleRefresh {
    /// The next lookup that serves a key hands out the refresh.
    Due,
    /// A refresh was handed out; another may start from `until`.
    InFlight { until: UnixTime },
    /// The last fetch failed: no refresh before `retry_at`.
    BackingOff { retry_at: UnixTime },
}

/// An issuer's keys read at `now` (see the module header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing fetched yet: the first token fetches.
    Empty,
    /// Served as they are until `stale_at`.
    Fresh { stale_at: UnixTime },
    /// Served until `expires_at`, refreshed in the background.
    Stale {
        expires_at: UnixTime,
        refresh: StaleRefresh,
    },
    /// Past stale-if-error with no failure since: nothing served, the next token fetches.
    Expired,
    /// Nothing usable and the last fetch failed with `reason`: no fetch before `retry_at`.
    Failing { reason: Reason, retry_at: UnixTime },
}

impl Freshness {
    /// The health endpoint's name for this state (an expired set reads as `empty`: the next
    /// token fetches, as on a cold start).
    #[must_use]
    pub fn health_state(self) -> &'static str {
        match self {
            Freshness::Empty | Freshness::Expired => "empty",
            Freshness::Fresh { .. } => "fresh",
            Freshness::Stale { .. } => "stale",
            Freshness::Failing { .. } => "failing",
        }
    }
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

/// A background refresh's mark.
#[derive(Clone, Copy)]
enum Refresh {
    Idle,
    /// Handed out; lapses at `until`.
    InFlight {
        until: UnixTime,
    },
}

/// A fetched set and its background refresh.
struct Held<K> {
    keys: Keys<K>,
    refresh: Refresh,
}

/// Consecutive failures since the last success.
#[derive(Clone, Copy)]
struct Backoff {
    /// At least 1.
    failures: u32,
    retry_at: UnixTime,
    reason: Reason,
}

impl Backoff {
    /// The backoff after one more failure at `now` (`previous` failures before it).
    fn after(previous: u32, reason: Reason, now: UnixTime) -> Backoff {
        let failures = previous.saturating_add(1);
        let exponent = failures.saturating_sub(1).min(6);
        let delay = (1u64 << exponent).min(MAX_BACKOFF_SECONDS);
        Backoff {
            failures,
            retry_at: now.plus(delay),
            reason,
        }
    }
}

/// One issuer's stored state (see the module header).
enum KeyState<K> {
    Empty,
    Current {
        held: Held<K>,
        /// When a fetch last completed or a kid-miss refetch was last decided.
        last_fetch: UnixTime,
    },
    Failing {
        held: Option<Held<K>>,
        backoff: Backoff,
        last_fetch: UnixTime,
    },
}

impl<K> KeyState<K> {
    fn held(&self) -> Option<&Held<K>> {
        match self {
            KeyState::Empty => None,
            KeyState::Current { held, .. } => Some(held),
            KeyState::Failing { held, .. } => held.as_ref(),
        }
    }

    fn held_mut(&mut self) -> Option<&mut Held<K>> {
        match self {
            KeyState::Empty => None,
            KeyState::Current { held, .. } => Some(held),
            KeyState::Failing { held, .. } => held.as_mut(),
        }
    }

    fn backoff(&self) -> Option<&Backoff> {
        match self {
            KeyState::Failing { backoff, .. } => Some(backoff),
            KeyState::Empty | KeyState::Current { .. } => None,
        }
    }

    fn last_fetch(&self) -> Option<UnixTime> {
        match self {
            KeyState::Empty => None,
            KeyState::Current { last_fetch, .. } | KeyState::Failing { last_fetch, .. } => {
                Some(*last_fetch)
            }
        }
    }

    fn set_last_fetch(&mut self, now: UnixTime) {
        match self {
            KeyState::Empty => {}
            KeyState::Current { last_fetch, .. } | KeyState::Failing { last_fetch, .. } => {
                *last_fetch = now;
            }
        }
    }

    fn backing_off(&self, now: UnixTime) -> bool {
        self.backoff().is_some_and(|b| now < b.retry_at)
    }

    /// The state read at `now`, with `stale_if_error` seconds of stale serving.
    fn freshness(&self, now: UnixTime, stale_if_error: u64) -> Freshness {
        let Some(held) = self.held() else {
            return match self.backoff() {
                Some(b) => Freshness::Failing {
                    reason: b.reason,
                    retry_at: b.retry_at,
                },
                None => Freshness::Empty,
            };
        };
        let stale_at = held.keys.fresh_until;
        let expires_at = stale_at.plus(stale_if_error);
        if now < stale_at {
            return Freshness::Fresh { stale_at };
        }
        if now < expires_at {
            let refresh = match (held.refresh, self.backoff()) {
                (Refresh::InFlight { until }, _) if now < until => StaleRefresh::InFlight { until },
                (_, Some(b)) if now < b.retry_at => StaleRefresh::BackingOff {
                    retry_at: b.retry_at,
                },
                _ => StaleRefresh::Due,
            };
            return Freshness::Stale {
                expires_at,
                refresh,
            };
        }
        match self.backoff() {
            Some(b) => Freshness::Failing {
                reason: b.reason,
                retry_at: b.retry_at,
            },
            None => Freshness::Expired,
        }
    }

    /// The answer when nothing usable is held and no fetch is allowed now.
    fn unavailable<T>(&self, now: UnixTime) -> Lookup<T> {
        match self.backoff() {
            Some(b) => Lookup::Unavailable {
                reason: b.reason,
                retry_after: b.retry_at.since(now).max(1),
            },
            None => Lookup::Unavailable {
                reason: Reason::JwksUnavailable,
                retry_after: 1,
            },
        }
    }
}

struct DiscoveredUri {
    uri: String,
    fresh_until: UnixTime,
}

/// One configured issuer's slot, built with the cache.
struct Slot<K> {
    issuer: String,
    /// The issuer finds its `jwks_uri` through discovery.
    discovers: bool,
    keys: KeyState<K>,
    discovered: Option<DiscoveredUri>,
}

impl<K> Slot<K> {
    /// The discovered `jwks_uri`: fresh only, or any still within `stale_if_error` after it.
    fn discovered_uri(&self, now: UnixTime, stale_if_error: Option<u64>) -> Option<&str> {
        let d = self.discovered.as_ref()?;
        let limit = d.fresh_until.plus(stale_if_error.unwrap_or(0));
        (now < limit).then_some(d.uri.as_str())
    }

    /// The command that starts a fetch for this issuer.
    fn fetch_command<T>(&self, now: UnixTime) -> Lookup<T> {
        if self.discovers && self.discovered_uri(now, None).is_none() {
            Lookup::Discover
        } else {
            Lookup::Fetch
        }
    }
}

/// Whether a lookup may still ask for a fetch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attempt {
    First,
    AfterFetch,
}

/// Per-isolate JWKS state for every configured issuer, generic over the imported-key handle `K`
/// (a WebCrypto `CryptoKey` in production, a native key in tests).
pub struct JwksCache<K> {
    settings: JwksSettings,
    /// Position in `slots` of each configured issuer (built once, never grown).
    index: HashMap<String, usize>,
    slots: Vec<RefCell<Slot<K>>>,
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

/// Never held across an await, so a borrow cannot fail; if it did, fail closed.
const BUSY: Reason = Reason::JwksCacheBusy;

impl<K: Clone> JwksCache<K> {
    /// An empty state for each of `issuers` (issuers are unique by construction).
    #[must_use]
    pub fn new(settings: JwksSettings, issuers: &Issuers) -> Self {
        let mut index = HashMap::with_capacity(issuers.len());
        let mut slots = Vec::with_capacity(issuers.len());
        for policy in issuers.iter() {
            index.insert(policy.issuer.clone(), slots.len());
            slots.push(RefCell::new(Slot {
                issuer: policy.issuer.clone(),
                discovers: matches!(policy.key_source, Some(KeySource::Discovery(_))),
                keys: KeyState::Empty,
                discovered: None,
            }));
        }
        JwksCache {
            settings,
            index,
            slots,
            unused: RefCell::new(Vec::new()),
        }
    }

    fn slot(&self, issuer: &str) -> Option<&RefCell<Slot<K>>> {
        self.index.get(issuer).and_then(|i| self.slots.get(*i))
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

    /// `issuer`'s state read at `now` (`None` for an issuer that is not configured).
    #[must_use]
    pub fn freshness(&self, issuer: &str, now: UnixTime) -> Option<Freshness> {
        let slot = self.slot(issuer)?.try_borrow().ok()?;
        Some(
            slot.keys
                .freshness(now, self.settings.stale_if_error_seconds),
        )
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
        let Some(Ok(slot)) = self.slot(issuer).map(RefCell::try_borrow) else {
            return health;
        };
        let state = &slot.keys;
        let freshness = state.freshness(now, self.settings.stale_if_error_seconds);
        health.state = freshness.health_state();
        health.last_fetch_at = state.last_fetch().map(|t| t.0);
        health.last_error = state.backoff().map(|b| b.reason);
        if let (Freshness::Fresh { .. } | Freshness::Stale { .. }, Some(held)) =
            (freshness, state.held())
        {
            health.keys = held.keys.set.len();
            health.unused_algorithms = held
                .keys
                .set
                .unused_algorithms(algorithms)
                .into_iter()
                .map(Algorithm::as_str)
                .collect();
        }
        health
    }

    /// Chooses the key for (`issuer`, `kid`, `alg`) at `now`, or says which fetch to make first.
    pub fn lookup(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Algorithm,
        now: UnixTime,
    ) -> Lookup<K> {
        self.decide(issuer, kid, alg, now, Attempt::First)
    }

    /// The second look, after the fetch a [`JwksCache::lookup`] asked for: never a fetch.
    pub fn lookup_after_fetch(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Algorithm,
        now: UnixTime,
    ) -> Lookup<K> {
        self.decide(issuer, kid, alg, now, Attempt::AfterFetch)
    }

    fn decide(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Algorithm,
        now: UnixTime,
        attempt: Attempt,
    ) -> Lookup<K> {
        // Lookups only come for configured issuers (the token's issuer was resolved first).
        let Some(slot) = self.slot(issuer) else {
            return Lookup::Unavailable {
                reason: Reason::JwksIssuerUnknown,
                retry_after: 1,
            };
        };
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return Lookup::Unavailable {
                reason: BUSY,
                retry_after: 1,
            };
        };
        let freshness = slot
            .keys
            .freshness(now, self.settings.stale_if_error_seconds);
        let refresh_due = match freshness {
            Freshness::Empty | Freshness::Expired | Freshness::Failing { .. } => {
                if attempt == Attempt::AfterFetch || slot.keys.backing_off(now) {
                    return slot.keys.unavailable(now);
                }
                return slot.fetch_command(now);
            }
            Freshness::Fresh { .. } => false,
            Freshness::Stale { refresh, .. } => refresh == StaleRefresh::Due,
        };
        let in_flight_until = now.plus(self.in_flight_window());
        let cooldown = self.settings.unknown_kid_cooldown_seconds;
        let may_refetch = attempt == Attempt::First
            && !slot.keys.backing_off(now)
            && slot
                .keys
                .last_fetch()
                .is_none_or(|t| now >= t.plus(cooldown));
        let slot = &mut *slot;
        let Some(held) = slot.keys.held_mut() else {
            return slot.keys.unavailable(now);
        };
        match held.keys.set.select(kid, alg) {
            KeyMatch::Found(i) => {
                let Some(entry) = held.keys.entries.get(i) else {
                    return slot.keys.unavailable(now);
                };
                let selected = SelectedKey {
                    key: entry.key.clone(),
                    handle: entry
                        .handles
                        .iter()
                        .find(|(a, _)| *a == alg)
                        .map(|(_, h)| h.clone()),
                    refresh: refresh_due.then(|| JwksRefresh {
                        issuer: slot.issuer.clone(),
                    }),
                };
                if refresh_due {
                    held.refresh = Refresh::InFlight {
                        until: in_flight_until,
                    };
                }
                Lookup::Serve(selected)
            }
            KeyMatch::AlgMismatch => Lookup::Rejected(KeyRejection::AlgMismatch),
            KeyMatch::Ambiguous => Lookup::Rejected(KeyRejection::KidRequired),
            KeyMatch::Missing if may_refetch => {
                // Recorded now, before the fetch is awaited, so concurrent misses wait.
                slot.keys.set_last_fetch(now);
                slot.fetch_command(now)
            }
            // A kid the held set lacks while the issuer's last fetch failed may be the issuer's
            // new key, which that fetch would have brought: nothing held can decide, so the
            // answer is 503 with when to retry, not 401 (RFC 6750 `invalid_token` tells clients
            // to drop the token; the contract's "JWKS unavailable and nothing cached can
            // decide"). No fetch is added: random kids still cost nothing while it fails.
            KeyMatch::Missing if slot.keys.backoff().is_some() => slot.keys.unavailable(now),
            KeyMatch::Missing => Lookup::Rejected(KeyRejection::UnknownKid),
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
        let Some(Ok(mut slot)) = self.slot(issuer).map(RefCell::try_borrow_mut) else {
            return;
        };
        let Some(held) = slot.keys.held_mut() else {
            return;
        };
        if let Some(entry) = held.keys.entries.iter_mut().find(|e| e.key == *key) {
            if !entry.handles.iter().any(|(a, _)| *a == alg) {
                entry.handles.push((alg, handle));
            }
        }
    }

    /// Keys of `issuer` that have no handle yet for an algorithm they allow and the issuer
    /// accepts: what a background refresh may import ahead of the next request.
    #[must_use]
    pub fn unimported(&self, policy: &IssuerPolicy) -> Vec<(PublicKey, Algorithm)> {
        let Some(Ok(slot)) = self.slot(&policy.issuer).map(RefCell::try_borrow) else {
            return Vec::new();
        };
        let Some(held) = slot.keys.held() else {
            return Vec::new();
        };
        held.keys
            .entries
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

    /// Result: a fetch of `issuer`'s JWKS at `now` returned `set` with `cache_control`. The
    /// issuer becomes `Current`: fresh for the TTL, backoff and refresh mark dropped, handles of
    /// unchanged keys carried over.
    pub fn fetch_succeeded(
        &self,
        issuer: &str,
        set: KeySet,
        cache_control: Option<&str>,
        now: UnixTime,
    ) {
        let ttl = ttl_from_cache_control(cache_control, &self.settings);
        let Some(Ok(mut slot)) = self.slot(issuer).map(RefCell::try_borrow_mut) else {
            return;
        };
        let previous = core::mem::replace(&mut slot.keys, KeyState::Empty);
        let mut old = match previous {
            KeyState::Empty => Vec::new(),
            KeyState::Current { held, .. } => held.keys.entries,
            KeyState::Failing { held, .. } => held.map(|h| h.keys.entries).unwrap_or_default(),
        };
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
        slot.keys = KeyState::Current {
            held: Held {
                keys: Keys {
                    entries,
                    set,
                    fresh_until: now.plus(ttl),
                },
                refresh: Refresh::Idle,
            },
            last_fetch: now,
        };
    }

    /// Result: a fetch of `issuer`'s keys at `now` failed with `reason`. The issuer becomes
    /// `Failing`: held keys stay (until their hard limit), the refresh mark is dropped, and
    /// fetching backs off one step further.
    pub fn fetch_failed(&self, issuer: &str, reason: Reason, now: UnixTime) {
        let Some(Ok(mut slot)) = self.slot(issuer).map(RefCell::try_borrow_mut) else {
            return;
        };
        let previous = core::mem::replace(&mut slot.keys, KeyState::Empty);
        let (held, failures) = match previous {
            KeyState::Empty => (None, 0),
            KeyState::Current { held, .. } => (Some(held), 0),
            KeyState::Failing { held, backoff, .. } => (held, backoff.failures),
        };
        slot.keys = KeyState::Failing {
            held: held.map(|h| Held {
                keys: h.keys,
                refresh: Refresh::Idle,
            }),
            backoff: Backoff::after(failures, reason, now),
            last_fetch: now,
        };
    }

    /// Result: discovery for `issuer` at `now` found `uri`, cacheable per `cache_control`.
    pub fn discovery_succeeded(
        &self,
        issuer: &str,
        uri: String,
        cache_control: Option<&str>,
        now: UnixTime,
    ) {
        let ttl = ttl_from_cache_control(cache_control, &self.settings);
        let Some(Ok(mut slot)) = self.slot(issuer).map(RefCell::try_borrow_mut) else {
            return;
        };
        slot.discovered = Some(DiscoveredUri {
            uri,
            fresh_until: now.plus(ttl),
        });
    }

    /// The discovered `jwks_uri` of `issuer`: fresh only, or any still within stale-if-error.
    fn discovered_uri(&self, issuer: &str, now: UnixTime, fresh_only: bool) -> Option<String> {
        let slot = self.slot(issuer)?.try_borrow().ok()?;
        let window = (!fresh_only).then_some(self.settings.stale_if_error_seconds);
        slot.discovered_uri(now, window).map(str::to_owned)
    }

    /// Performs the fetch a lookup asked for (discovery first when configured and no fresh
    /// `jwks_uri` is held) and reports the outcome to the state machine. Returns the failure's
    /// reason code, for logs.
    pub async fn fetch<S: DocumentSource>(
        &self,
        policy: &IssuerPolicy,
        source: &S,
        now: UnixTime,
    ) -> Result<(), Reason> {
        let issuer = policy.issuer.as_str();
        let jwks_uri = match &policy.key_source {
            None => return Err(Reason::JwksNotConfigured),
            Some(KeySource::JwksUri(uri)) => uri.clone(),
            Some(KeySource::Discovery(url)) => match self.discovered_uri(issuer, now, true) {
                Some(uri) => uri,
                None => match fetch_discovery(source, url, issuer).await {
                    Ok((uri, cache_control)) => {
                        self.discovery_succeeded(
                            issuer,
                            uri.clone(),
                            cache_control.as_deref(),
                            now,
                        );
                        uri
                    }
                    Err(reason) => match self.discovered_uri(issuer, now, false) {
                        Some(uri) => uri,
                        None => {
                            self.fetch_failed(issuer, reason, now);
                            return Err(reason);
                        }
                    },
                },
            },
        };
        match fetch_jwks(source, &jwks_uri).await {
            // A 200 without one usable key (`{"keys":[]}` from a CDN or provider glitch) would
            // replace a good set and turn every token into a 401: it counts as a failed fetch,
            // so the held keys keep serving within their window and the fetch backs off.
            Ok((set, _)) if set.keys().is_empty() => {
                let reason = Reason::JwksNoUsableKeys;
                self.fetch_failed(issuer, reason, now);
                Err(reason)
            }
            Ok((set, cache_control)) => {
                self.note_unused(issuer, set.unused_algorithms(&policy.algorithms));
                self.fetch_succeeded(issuer, set, cache_control.as_deref(), now);
                Ok(())
            }
            Err(reason) => {
                self.fetch_failed(issuer, reason, now);
                Err(reason)
            }
        }
    }
}

async fn fetch_discovery<S: DocumentSource>(
    source: &S,
    url: &str,
    issuer: &str,
) -> Result<(String, Option<String>), Reason> {
    let doc = source.fetch(url).await.map_err(|e| match e {
        FetchError::Timeout => Reason::DiscoveryTimeout,
        FetchError::Network => Reason::DiscoveryFetchFailed,
        FetchError::TooLarge => DiscoveryError::TooLarge.reason(),
    })?;
    if doc.status != 200 {
        return Err(Reason::DiscoveryHttpError);
    }
    let uri = jwks_uri_from(&doc.body, issuer).map_err(|e| e.reason())?;
    Ok((uri, doc.cache_control))
}

async fn fetch_jwks<S: DocumentSource>(
    source: &S,
    url: &str,
) -> Result<(KeySet, Option<String>), Reason> {
    let doc = source.fetch(url).await.map_err(|e| match e {
        FetchError::Timeout => Reason::JwksTimeout,
        FetchError::Network => Reason::JwksFetchFailed,
        FetchError::TooLarge => JwksError::TooLarge.reason(),
    })?;
    if doc.status != 200 {
        return Err(Reason::JwksHttpError);
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

    fn cache() -> JwksCache<u32> {
        let raw = crate::jwt::config::RawIssuer {
            issuer: ISS.into(),
            jwks_uri: Some("https://issuer.example/jwks.json".into()),
            audiences: Some(vec!["https://api.example".into()]),
            algorithms: vec!["EdDSA".into()],
            ..crate::jwt::config::RawIssuer::default()
        };
        let issuers = Issuers::from_raw(vec![raw], &|_| None).unwrap();
        JwksCache::new(JwksSettings::default(), &issuers)
    }

    fn found(l: Lookup<u32>) -> SelectedKey<u32> {
        match l {
            Lookup::Serve(k) => k,
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
        let cache = cache();
        let t = UnixTime(1_000);
        assert!(matches!(
            cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t),
            Lookup::Fetch
        ));
        assert!(matches!(
            cache.lookup_after_fetch(ISS, Some("a"), Algorithm::EdDsa, t),
            Lookup::Unavailable { .. }
        ));
        cache.fetch_succeeded(ISS, set(&[key("a", 1)]), None, t);
        let k = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t));
        assert_eq!(k.handle, None);
        assert_eq!(k.refresh, None);
        cache.store_handle(ISS, &k.key, Algorithm::EdDsa, 7);
        let k = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t));
        assert_eq!(k.handle, Some(7));
    }

    #[test]
    fn handles_survive_refetches_of_the_same_key_only() {
        let cache = cache();
        let t = UnixTime(1_000);
        cache.fetch_succeeded(ISS, set(&[key("a", 1), key("b", 2)]), None, t);
        cache.store_handle(ISS, &key("a", 1), Algorithm::EdDsa, 1);
        cache.store_handle(ISS, &key("b", 2), Algorithm::EdDsa, 2);
        // `b` is rotated to new material under the same kid.
        cache.fetch_succeeded(ISS, set(&[key("a", 1), key("b", 3)]), None, t.plus(700));
        let a = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, t.plus(700)));
        let b = found(cache.lookup(ISS, Some("b"), Algorithm::EdDsa, t.plus(700)));
        assert_eq!(a.handle, Some(1));
        assert_eq!(b.handle, None);
        // A handle for a key no longer in the set is dropped.
        cache.store_handle(ISS, &key("b", 2), Algorithm::EdDsa, 9);
        let b = found(cache.lookup(ISS, Some("b"), Algorithm::EdDsa, t.plus(700)));
        assert_eq!(b.handle, None);
    }

    #[test]
    fn stale_keys_serve_with_one_refresh_at_a_time() {
        let cache = cache();
        let t = UnixTime(1_000);
        cache.fetch_succeeded(ISS, set(&[key("a", 1)]), Some("max-age=100"), t);
        let stale = t.plus(100);
        let first = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, stale));
        assert_eq!(first.refresh.as_ref().map(JwksRefresh::issuer), Some(ISS));
        let second = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, stale));
        assert_eq!(second.refresh, None);
        // The in-flight mark lapses after the fetch timeout (3 s, doubled for discovery).
        let later = found(cache.lookup(ISS, Some("a"), Algorithm::EdDsa, stale.plus(6)));
        assert!(later.refresh.is_some());
    }

    #[test]
    fn failures_back_off_exponentially_up_to_a_minute() {
        let cache = cache();
        let mut t = UnixTime(1_000);
        let mut waits = Vec::new();
        for _ in 0..9 {
            cache.fetch_failed(ISS, Reason::JwksFetchFailed, t);
            match cache.lookup(ISS, None, Algorithm::EdDsa, t) {
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
                cache.lookup(ISS, None, Algorithm::EdDsa, t),
                Lookup::Fetch
            ));
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
