//! The revocation feed and each isolate's view of it (docs/state.md, "The revocation feed").
//!
//! Owns: the feed's entry and document types (written by the authority, read by every isolate),
//! the per-isolate [`RevocationView`] with its freshness rule (refresh after 1 s in the
//! background, never lean on a view older than `revocation.max_staleness_seconds`), and the
//! check every positive verdict passes before a forward. Never touches: storage, the network, a
//! clock (times are arguments), or a credential (a recently created key is known by the first
//! 8 bytes of its digest only, never by its token or full hash).

use crate::reason::Reason;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::identity::{CredentialKind, Identity};
use crate::jwt::config::MAX_LEEWAY_SECONDS;
use crate::keys::TokenDigest;

/// How long a key revocation (or a creation) stays in the feed: longer than every KV and cache
/// term together (isolate cache 30 s + KV `cacheTtl` 60 s + propagation ~60 s, docs/state.md),
/// so after it KV alone answers right.
pub const WINDOW_SECONDS: u64 = 600;

/// Until when a JWT revocation of a token expiring at `exp` stays in the feed: `exp` plus the
/// largest clock leeway an issuer may be configured with ([`MAX_LEEWAY_SECONDS`]), because a
/// token is accepted while `now < exp + leeway` (`jwt::claims`). Dropping the entry at `exp`
/// would let a revoked token work again for the leeway. The constant, not the configured
/// leeway, so the authority needs no issuer configuration to judge it and it is always enough.
#[must_use]
pub fn token_revocation_until(exp: u64) -> u64 {
    exp.saturating_add(MAX_LEEWAY_SECONDS)
}

/// A view younger than this is used as is; older, a request starts one background refresh.
pub const REFRESH_AFTER_MS: u64 = 1_000;

/// The most entries a feed document may hold (`revocation.max_entries` cannot exceed it); the
/// view is bounded by it.
pub const MAX_ENTRIES: usize = 50_000;

/// How long one location's cached copy of the feed is used (Cache API `max-age`): the feed's
/// share of the bound (2 s cache + 1 s refresh + a fetch ≈ 3.1 s, docs/state.md).
pub const CACHE_SECONDS: u64 = 2;

/// The Cache API key of the feed for the 2-second bucket holding `now_ms`: isolates of one
/// location share one copy per bucket, so the authority sees about one feed request per location
/// per bucket, whatever the number of isolates.
#[must_use]
pub fn bucket_url(now_ms: u64) -> String {
    format!(
        "https://edge-auth.internal/feed/{}",
        now_ms / (CACHE_SECONDS * 1000)
    )
}

/// The largest feed document an isolate reads: 50,000 entries of at most ~160 bytes.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// One fact of the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeedEntry {
    /// A key or PAT that stops working at `at`: its revocation time, or a roll's grace end.
    Key { id: String, at: u64 },
    /// A key whose record changed at `at` (its scopes): a copy cached or read from KV before
    /// then is stale, and the record is read again from the authority.
    Changed { id: String, at: u64 },
    /// A key created within the window: its record may be cached absent somewhere. `d` is the
    /// first 8 bytes of the token's SHA-256 in hex (enough to know when to ask the authority).
    Created { d: String },
    /// One JWT (`iss`, `jti`), revoked; kept until [`token_revocation_until`] of its `exp` (the
    /// view refuses the jti whatever the time: the token's own `exp` check ends it).
    Token { iss: String, jti: String, exp: u64 },
    /// Every credential of (`iss`, `sub`) issued at or before `before` (whole seconds: a revocation
    /// "now" includes what was issued earlier in the same second) (`iss` absent: the principal of
    /// admin-made API keys, which carry no issuer).
    Principal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        iss: Option<String>,
        sub: String,
        before: u64,
    },
}

impl FeedEntry {
    /// Whether this entry stands in for a KV write that KV may not have had yet: a revocation or
    /// a change of a key (`Key`, `Changed`), whose record the outbox writes through. While the
    /// outbox holds anything, such an entry published after the feed head KV last had in full is
    /// served and kept past its time (the shell's `pending` column; entry.mjs `flush`): until KV
    /// has it, the feed is all that says the key is revoked or changed. The others need no KV
    /// write to be true: token revocations and principal cut-offs live only in the feed, and a
    /// `Created` entry past its time only means a key KV lacks fails closed.
    #[must_use]
    pub fn stands_for_kv_write(&self) -> bool {
        matches!(self, FeedEntry::Key { .. } | FeedEntry::Changed { .. })
    }

    /// [`FeedEntry::stands_for_kv_write`] of a stored entry's text, read from its tag alone; one
    /// whose tag cannot be read is kept as if it did (what cannot be read is never dropped
    /// early). (A whole `FeedEntry` parse here cost 20 KB of wasm: serde buffers an internally
    /// tagged enum; the table test below holds the two readings together.)
    #[must_use]
    pub fn text_stands_for_kv_write(text: &str) -> bool {
        #[derive(Deserialize)]
        struct Tag {
            t: String,
        }
        serde_json::from_str::<Tag>(text).map_or(true, |tag| {
            !matches!(tag.t.as_str(), "created" | "token" | "principal")
        })
    }

    /// The `Created` entry for a key's digest.
    #[must_use]
    pub fn created(digest: &TokenDigest) -> FeedEntry {
        FeedEntry::Created {
            d: short_digest(digest),
        }
    }
}

/// The first 8 bytes of a digest, hex.
fn short_digest(digest: &TokenDigest) -> String {
    let mut hex = digest.to_hex();
    hex.truncate(16);
    hex
}

/// What the authority serves at `/feed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedDocument {
    /// Made once when the authority's storage is created: a new epoch means everything cached
    /// may rest on a state that no longer exists.
    pub epoch: String,
    /// The sequence number of the newest change.
    pub head: u64,
    /// True when more entries exist than the document holds: no cached positive may be trusted,
    /// and what is unlisted cannot be confirmed (the entries held are still refused).
    #[serde(default)]
    pub overflow: bool,
    pub entries: Vec<FeedEntry>,
}

impl FeedDocument {
    /// Parse a document, bounded in bytes and entries.
    pub fn parse(body: &[u8]) -> Result<FeedDocument, Reason> {
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(Reason::FeedTooLarge);
        }
        let doc: FeedDocument = serde_json::from_slice(body).map_err(|_| Reason::FeedInvalid)?;
        if doc.entries.len() > MAX_ENTRIES || doc.epoch.is_empty() || doc.epoch.len() > 64 {
            return Err(Reason::FeedInvalid);
        }
        Ok(doc)
    }
}

/// `revocation` in `AUTH_CONFIG`, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationSettings {
    /// The bound: no positive rests on a view older than this (default 5 s).
    pub max_staleness_ms: u64,
    /// What to do when the view cannot be refreshed within the bound.
    pub on_stale: OnStale,
    /// How long a principal cut-off stays in the feed (default 24 h: the longest token lifetime
    /// accepted).
    pub principal_retention_seconds: u64,
    /// Entries a feed document may hold before it reports `overflow` (default and most
    /// [`MAX_ENTRIES`]).
    pub max_entries: usize,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        RevocationSettings {
            max_staleness_ms: 5_000,
            on_stale: OnStale::Refuse,
            principal_retention_seconds: 86_400,
            max_entries: MAX_ENTRIES,
        }
    }
}

/// `revocation.on_stale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStale {
    /// 503 with `Retry-After` for requests that would rest on a positive older than the bound.
    Refuse,
    /// Keep serving cached positives and KV's answers (revocation then takes KV's ~150 s).
    Serve,
}

impl OnStale {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OnStale::Refuse => "refuse",
            OnStale::Serve => "serve",
        }
    }
}

/// What the adapter should do about the view before deciding a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewPlan {
    /// Young enough: decide now.
    Current,
    /// Decide now, and refresh in the background (`waitUntil`).
    RefreshInBackground,
    /// Too old (or never loaded): refresh first, then decide.
    AwaitRefresh,
}

/// Why a positive verdict was overturned, or could not be confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewRefusal {
    /// 401 `invalid_token`, with this reason.
    Revoked(Reason),
    /// The view is older than the bound and `on_stale` is `refuse`: 503.
    Stale,
}

#[derive(Debug, Default)]
struct Snapshot {
    epoch: String,
    head: u64,
    overflow: bool,
    keys: HashMap<String, u64>,
    changed: HashMap<String, u64>,
    created: HashSet<String>,
    tokens: HashMap<String, HashMap<String, u64>>,
    principals: HashMap<(Option<String>, String), u64>,
}

#[derive(Debug, Default)]
struct ViewState {
    snapshot: Snapshot,
    /// When the installed document was fetched (Unix ms); `None` before the first.
    fetched_at_ms: Option<u64>,
    /// A refresh is running (so one request does not start another).
    refreshing_since_ms: Option<u64>,
    last_error: Option<Reason>,
    /// When the last refresh failed: requests do not wait on another for [`REFRESH_AFTER_MS`].
    failed_at_ms: Option<u64>,
}

/// Health facts about the view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViewHealth {
    /// Milliseconds since the installed document was fetched; `None` before the first.
    pub age_ms: Option<u64>,
    pub head: u64,
    pub entries: usize,
    pub overflow: bool,
    pub last_error: Option<Reason>,
    pub on_stale: &'static str,
    pub max_staleness_seconds: u64,
}

/// One isolate's view of recent revocations. Bounded: it holds one feed document's entries, at
/// most [`MAX_ENTRIES`].
#[derive(Debug)]
pub struct RevocationView {
    settings: RevocationSettings,
    state: RefCell<ViewState>,
}

impl RevocationView {
    #[must_use]
    pub fn new(settings: RevocationSettings) -> Self {
        RevocationView {
            settings,
            state: RefCell::new(ViewState::default()),
        }
    }

    #[must_use]
    pub fn settings(&self) -> &RevocationSettings {
        &self.settings
    }

    /// What to do before deciding a request at `now_ms`. A refresh already running for less
    /// than the bound is not started again.
    #[must_use]
    pub fn plan(&self, now_ms: u64) -> ViewPlan {
        let Ok(state) = self.state.try_borrow() else {
            return ViewPlan::AwaitRefresh;
        };
        let age = state.fetched_at_ms.map(|t| now_ms.saturating_sub(t));
        match age {
            Some(a) if a <= self.settings.max_staleness_ms => {
                let running = state
                    .refreshing_since_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) < self.settings.max_staleness_ms);
                if a >= REFRESH_AFTER_MS && !running {
                    ViewPlan::RefreshInBackground
                } else {
                    ViewPlan::Current
                }
            }
            // Past the bound: wait for a refresh, unless one just failed (then decide on the
            // stale view, which `on_stale` governs, rather than make every request wait).
            _ if state
                .failed_at_ms
                .is_some_and(|t| now_ms.saturating_sub(t) < REFRESH_AFTER_MS) =>
            {
                ViewPlan::Current
            }
            _ => ViewPlan::AwaitRefresh,
        }
    }

    /// Mark a refresh as started (see [`Self::plan`]).
    pub fn refresh_started(&self, now_ms: u64) {
        if let Ok(mut s) = self.state.try_borrow_mut() {
            s.refreshing_since_ms = Some(now_ms);
        }
    }

    /// Install a document fetched at `fetched_at_ms` (when the authority or the location's
    /// cache produced it). Returns true when cached positives must be dropped: a new epoch, or a
    /// document that overflowed. An older document than the one held (lower `head`, same
    /// epoch) only refreshes nothing.
    pub fn install(&self, doc: FeedDocument, fetched_at_ms: u64) -> bool {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return false;
        };
        state.refreshing_since_ms = None;
        state.last_error = None;
        state.failed_at_ms = None;
        let same_epoch = state.fetched_at_ms.is_some() && state.snapshot.epoch == doc.epoch;
        if same_epoch && doc.head < state.snapshot.head {
            return false;
        }
        let drop_cached = (state.fetched_at_ms.is_some() && !same_epoch) || doc.overflow;
        let mut snap = Snapshot {
            epoch: doc.epoch,
            head: doc.head,
            overflow: doc.overflow,
            ..Snapshot::default()
        };
        for entry in doc.entries {
            match entry {
                FeedEntry::Key { id, at } => {
                    let slot = snap.keys.entry(id).or_insert(at);
                    *slot = (*slot).min(at);
                }
                FeedEntry::Changed { id, at } => {
                    let slot = snap.changed.entry(id).or_insert(at);
                    *slot = (*slot).max(at);
                }
                FeedEntry::Created { d } => {
                    snap.created.insert(d);
                }
                FeedEntry::Token { iss, jti, exp } => {
                    snap.tokens.entry(iss).or_default().insert(jti, exp);
                }
                FeedEntry::Principal { iss, sub, before } => {
                    let slot = snap.principals.entry((iss, sub)).or_insert(before);
                    *slot = (*slot).max(before);
                }
            }
        }
        state.snapshot = snap;
        state.fetched_at_ms = Some(fetched_at_ms);
        drop_cached
    }

    /// A refresh failed at `now_ms` (the view keeps its last document).
    pub fn refresh_failed(&self, reason: Reason, now_ms: u64) {
        if let Ok(mut s) = self.state.try_borrow_mut() {
            s.refreshing_since_ms = None;
            s.last_error = Some(reason);
            s.failed_at_ms = Some(now_ms);
        }
    }

    /// True when a key whose KV record is absent may have been created recently: ask the
    /// authority instead of believing the miss.
    #[must_use]
    pub fn recently_created(&self, digest: &TokenDigest) -> bool {
        self.state
            .try_borrow()
            .is_ok_and(|s| s.snapshot.created.contains(&short_digest(digest)))
    }

    /// When the record of key `id` last changed (its scopes), if within the window.
    #[must_use]
    pub fn changed_at(&self, id: &str) -> Option<u64> {
        self.state
            .try_borrow()
            .ok()
            .and_then(|s| s.snapshot.changed.get(id).copied())
    }

    /// Check a positive verdict at `now` (seconds) against the view as of `now_ms`.
    /// `created_at` is the key record's creation time (keys and PATs only). A revocation the
    /// view lists is refused always; only then does a stale or overflowing view apply
    /// `on_stale` to what it cannot confirm.
    pub fn check(
        &self,
        identity: &Identity,
        created_at: Option<u64>,
        now: u64,
        now_ms: u64,
    ) -> Result<(), ViewRefusal> {
        let Ok(state) = self.state.try_borrow() else {
            return Err(ViewRefusal::Stale);
        };
        // What the view lists is refused first, whatever its age or an overflow: a listed
        // revocation is a fact (revocations are sticky), so even `serve` never lets it pass.
        if let Some(reason) = listed_revocation(&state.snapshot, identity, created_at, now) {
            return Err(ViewRefusal::Revoked(reason));
        }
        let fresh = state
            .fetched_at_ms
            .is_some_and(|t| now_ms.saturating_sub(t) <= self.settings.max_staleness_ms);
        if !fresh || state.snapshot.overflow {
            // A stale or overflowing view cannot confirm that nothing else is revoked (an
            // overflowing document left entries out); `serve` accepts that knowingly.
            return match self.settings.on_stale {
                OnStale::Refuse => Err(ViewRefusal::Stale),
                OnStale::Serve => Ok(()),
            };
        }
        Ok(())
    }

    /// Facts for `/_auth/health`.
    #[must_use]
    pub fn health(&self, now_ms: u64) -> ViewHealth {
        let state = self.state.try_borrow();
        let (age_ms, head, entries, overflow, last_error) = match &state {
            Ok(s) => (
                s.fetched_at_ms.map(|t| now_ms.saturating_sub(t)),
                s.snapshot.head,
                s.snapshot.keys.len()
                    + s.snapshot.changed.len()
                    + s.snapshot.created.len()
                    + s.snapshot.tokens.values().map(HashMap::len).sum::<usize>()
                    + s.snapshot.principals.len(),
                s.snapshot.overflow,
                s.last_error,
            ),
            Err(_) => (None, 0, 0, false, None),
        };
        ViewHealth {
            age_ms,
            head,
            entries,
            overflow,
            last_error,
            on_stale: self.settings.on_stale.as_str(),
            max_staleness_seconds: self.settings.max_staleness_ms / 1000,
        }
    }
}

/// The revocation `snap` lists for `identity` at `now`, if any (`created_at`: the key record's
/// creation time, keys and PATs only).
fn listed_revocation(
    snap: &Snapshot,
    identity: &Identity,
    created_at: Option<u64>,
    now: u64,
) -> Option<Reason> {
    if let Some(id) = identity.key_id() {
        if snap.keys.get(id).is_some_and(|&at| at <= now) {
            return Some(Reason::KeyRevoked);
        }
    }
    let principal = (
        identity.issuer().map(str::to_string),
        identity.subject().to_string(),
    );
    let cut_off = snap.principals.get(&principal).copied();
    match identity.kind() {
        CredentialKind::ApiKey | CredentialKind::Pat => {
            if let (Some(before), Some(created)) = (cut_off, created_at) {
                if created <= before {
                    return Some(Reason::PrincipalRevoked);
                }
            }
        }
        CredentialKind::Jwt => {
            let issuer_tokens = identity.issuer().and_then(|i| snap.tokens.get(i));
            if cut_off.is_none() && issuer_tokens.is_none() {
                return None;
            }
            // Only now is the payload read again: most requests never get here.
            let (jti, iat) = token_id_and_iat(identity.claims_json());
            if let (Some(tokens), Some(jti)) = (issuer_tokens, jti.as_deref()) {
                if tokens.contains_key(jti) {
                    return Some(Reason::TokenRevoked);
                }
            }
            if let Some(before) = cut_off {
                // A token without `iat` cannot prove it was issued after the cut-off.
                if iat.is_none_or(|iat| iat <= before) {
                    return Some(Reason::PrincipalRevoked);
                }
            }
        }
    }
    None
}

/// `jti` and `iat` of a verified payload (`iat` rounded down, as the policy reads it).
fn token_id_and_iat(payload: Option<&str>) -> (Option<String>, Option<u64>) {
    #[derive(Deserialize)]
    struct Ids {
        #[serde(default)]
        jti: Option<serde_json::Value>,
        #[serde(default)]
        iat: Option<serde_json::Value>,
    }
    let Some(ids) = payload.and_then(|p| serde_json::from_str::<Ids>(p).ok()) else {
        return (None, None);
    };
    let jti = ids.jti.and_then(|v| v.as_str().map(str::to_string));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let iat = ids
        .iat
        .and_then(|v| v.as_f64())
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(|f| f.floor() as u64);
    (jti, iat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_revocations_and_changes_stand_for_a_kv_write() {
        let cases = [
            (r#"{"t":"key","id":"k","at":1}"#, true),
            (r#"{"t":"changed","id":"k","at":1}"#, true),
            (r#"{"t":"created","d":"0011223344556677"}"#, false),
            (r#"{"t":"token","iss":"i","jti":"j","exp":1}"#, false),
            (r#"{"t":"principal","sub":"s","before":1}"#, false),
            // what cannot be read is kept
            (r#"{"t":"later","x":1}"#, true),
            ("", true),
        ];
        for (text, want) in cases {
            assert_eq!(FeedEntry::text_stands_for_kv_write(text), want, "{text}");
            if let Ok(entry) = serde_json::from_str::<FeedEntry>(text) {
                assert_eq!(entry.stands_for_kv_write(), want, "{text}");
            }
        }
        // Every variant, as the authority writes it: the tag alone says the same.
        let every = [
            FeedEntry::Key {
                id: "k".into(),
                at: 1,
            },
            FeedEntry::Changed {
                id: "k".into(),
                at: 1,
            },
            FeedEntry::Created { d: "00".into() },
            FeedEntry::Token {
                iss: "i".into(),
                jti: "j".into(),
                exp: 1,
            },
            FeedEntry::Principal {
                iss: None,
                sub: "s".into(),
                before: 1,
            },
        ];
        for entry in every {
            let text = serde_json::to_string(&entry).unwrap_or_default();
            assert_eq!(
                FeedEntry::text_stands_for_kv_write(&text),
                entry.stands_for_kv_write(),
                "{text}"
            );
        }
    }

    fn doc(head: u64, entries: Vec<FeedEntry>) -> FeedDocument {
        FeedDocument {
            epoch: "e1".into(),
            head,
            overflow: false,
            entries,
        }
    }

    fn key(id: &str, subject: &str, issuer: Option<&str>) -> Identity {
        Identity::for_tests(
            if issuer.is_some() {
                CredentialKind::Pat
            } else {
                CredentialKind::ApiKey
            },
            subject,
            &[],
            issuer,
            None,
            Some(id),
            None,
            None,
        )
    }

    fn jwt(iss: &str, sub: &str, payload: &str) -> Identity {
        Identity::for_tests(
            CredentialKind::Jwt,
            sub,
            &[],
            Some(iss),
            None,
            None,
            None,
            Some(payload),
        )
    }

    #[test]
    fn freshness_plan_follows_the_bound() {
        let v = RevocationView::new(RevocationSettings::default());
        assert_eq!(v.plan(10_000), ViewPlan::AwaitRefresh, "never loaded");
        v.install(doc(1, vec![]), 10_000);
        assert_eq!(v.plan(10_500), ViewPlan::Current);
        assert_eq!(v.plan(11_000), ViewPlan::RefreshInBackground);
        v.refresh_started(11_000);
        assert_eq!(v.plan(11_200), ViewPlan::Current, "one refresh at a time");
        assert_eq!(v.plan(15_000), ViewPlan::Current);
        assert_eq!(v.plan(15_001), ViewPlan::AwaitRefresh, "past the bound");
        v.refresh_failed(Reason::FeedUnreachable, 15_001);
        assert_eq!(
            v.plan(15_500),
            ViewPlan::Current,
            "no wait right after a failure"
        );
        assert_eq!(v.plan(16_001), ViewPlan::AwaitRefresh);
        assert_eq!(bucket_url(3_999), bucket_url(2_000));
        assert_ne!(bucket_url(4_000), bucket_url(3_999));
    }

    #[test]
    fn revoked_keys_and_rolls_take_effect_at_their_time() {
        let v = RevocationView::new(RevocationSettings::default());
        v.install(
            doc(
                2,
                vec![
                    FeedEntry::Key {
                        id: "key_a".into(),
                        at: 100,
                    },
                    FeedEntry::Key {
                        id: "key_b".into(),
                        at: 200,
                    },
                ],
            ),
            0,
        );
        let at = |id, now| v.check(&key(id, "s", None), Some(1), now, 1_000);
        assert_eq!(
            at("key_a", 100),
            Err(ViewRefusal::Revoked(Reason::KeyRevoked))
        );
        assert_eq!(
            at("key_b", 150),
            Ok(()),
            "a rolled key works until its grace ends"
        );
        assert_eq!(
            at("key_b", 200),
            Err(ViewRefusal::Revoked(Reason::KeyRevoked))
        );
        assert_eq!(at("key_c", 150), Ok(()));
    }

    #[test]
    fn principal_cut_off_is_per_issuer_and_subject() {
        let v = RevocationView::new(RevocationSettings::default());
        v.install(
            doc(
                3,
                vec![FeedEntry::Principal {
                    iss: Some("https://i".into()),
                    sub: "alice".into(),
                    before: 500,
                }],
            ),
            0,
        );
        let pat = key("key_p", "alice", Some("https://i"));
        assert_eq!(
            v.check(&pat, Some(499), 600, 0),
            Err(ViewRefusal::Revoked(Reason::PrincipalRevoked))
        );
        assert_eq!(
            v.check(&pat, Some(500), 600, 0),
            Err(ViewRefusal::Revoked(Reason::PrincipalRevoked)),
            "the cut-off's own second is included"
        );
        assert_eq!(v.check(&pat, Some(501), 600, 0), Ok(()), "made after");
        let other_issuer = key("key_q", "alice", Some("https://other"));
        assert_eq!(v.check(&other_issuer, Some(1), 600, 0), Ok(()));
        let api_key = key("key_k", "alice", None);
        assert_eq!(v.check(&api_key, Some(1), 600, 0), Ok(()));

        let old = jwt("https://i", "alice", r#"{"iat":499}"#);
        let new = jwt("https://i", "alice", r#"{"iat":501}"#);
        let no_iat = jwt("https://i", "alice", r#"{}"#);
        assert_eq!(
            v.check(&old, None, 600, 0),
            Err(ViewRefusal::Revoked(Reason::PrincipalRevoked))
        );
        assert_eq!(v.check(&new, None, 600, 0), Ok(()));
        assert_eq!(
            v.check(&no_iat, None, 600, 0),
            Err(ViewRefusal::Revoked(Reason::PrincipalRevoked)),
            "without iat a token cannot prove it is newer"
        );
    }

    #[test]
    fn revoked_jti_is_per_issuer() {
        let v = RevocationView::new(RevocationSettings::default());
        v.install(
            doc(
                4,
                vec![FeedEntry::Token {
                    iss: "https://i".into(),
                    jti: "t-1".into(),
                    exp: 9_999,
                }],
            ),
            0,
        );
        let t = |iss, jti: &str| {
            v.check(
                &jwt(iss, "bob", &format!(r#"{{"jti":"{jti}","iat":1}}"#)),
                None,
                10,
                0,
            )
        };
        assert_eq!(
            t("https://i", "t-1"),
            Err(ViewRefusal::Revoked(Reason::TokenRevoked))
        );
        assert_eq!(t("https://i", "t-2"), Ok(()));
        assert_eq!(t("https://other", "t-1"), Ok(()));
    }

    #[test]
    fn a_stale_view_refuses_or_serves_as_configured() {
        let refuse = RevocationView::new(RevocationSettings::default());
        let id = key("key_a", "s", None);
        assert_eq!(refuse.check(&id, Some(1), 1, 0), Err(ViewRefusal::Stale));
        refuse.install(doc(1, vec![]), 1_000);
        assert_eq!(refuse.check(&id, Some(1), 1, 6_000), Ok(()));
        assert_eq!(
            refuse.check(&id, Some(1), 1, 6_001),
            Err(ViewRefusal::Stale)
        );
        let serve = RevocationView::new(RevocationSettings {
            on_stale: OnStale::Serve,
            ..RevocationSettings::default()
        });
        assert_eq!(serve.check(&id, Some(1), 1, 0), Ok(()));
    }

    #[test]
    fn epochs_and_overflow_drop_cached_positives_and_old_documents_are_ignored() {
        let v = RevocationView::new(RevocationSettings::default());
        assert!(!v.install(doc(5, vec![]), 0), "first document");
        assert!(!v.install(doc(6, vec![]), 1), "same epoch");
        let revoked = vec![FeedEntry::Key {
            id: "key_a".into(),
            at: 1,
        }];
        assert!(!v.install(doc(4, revoked.clone()), 2), "older: ignored");
        assert_eq!(v.check(&key("key_a", "s", None), Some(1), 5, 2), Ok(()));
        let mut other = doc(1, revoked);
        other.epoch = "e2".into();
        assert!(v.install(other, 3), "a new epoch drops cached positives");
        assert!(v.check(&key("key_a", "s", None), Some(1), 5, 3).is_err());
        let mut overflow = doc(9, vec![]);
        overflow.epoch = "e2".into();
        overflow.overflow = true;
        assert!(v.install(overflow, 4));
        assert_eq!(
            v.check(&key("key_b", "s", None), Some(1), 5, 4),
            Err(ViewRefusal::Stale)
        );
    }

    #[test]
    fn an_overflowing_or_stale_view_still_refuses_what_it_lists() {
        let listed = vec![
            FeedEntry::Key {
                id: "key_gone".into(),
                at: 1,
            },
            FeedEntry::Principal {
                iss: Some("https://i".into()),
                sub: "mallory".into(),
                before: 50,
            },
            FeedEntry::Token {
                iss: "https://i".into(),
                jti: "t-gone".into(),
                exp: 9_999,
            },
        ];
        for on_stale in [OnStale::Refuse, OnStale::Serve] {
            let v = RevocationView::new(RevocationSettings {
                on_stale,
                ..RevocationSettings::default()
            });
            let mut overflowing = doc(7, listed.clone());
            overflowing.overflow = true;
            assert!(v.install(overflowing, 0));
            let unlisted = if on_stale == OnStale::Refuse {
                Err(ViewRefusal::Stale)
            } else {
                Ok(())
            };
            // Fresh but overflowing, then stale (past the 5 s bound).
            for now_ms in [0, 60_000] {
                let case = format!("{on_stale:?} at {now_ms} ms");
                assert_eq!(
                    v.check(&key("key_gone", "s", None), Some(1), 5, now_ms),
                    Err(ViewRefusal::Revoked(Reason::KeyRevoked)),
                    "{case}: a listed key"
                );
                assert_eq!(
                    v.check(
                        &key("key_p", "mallory", Some("https://i")),
                        Some(10),
                        60,
                        now_ms
                    ),
                    Err(ViewRefusal::Revoked(Reason::PrincipalRevoked)),
                    "{case}: a listed principal (PAT)"
                );
                assert_eq!(
                    v.check(
                        &jwt("https://i", "mallory", r#"{"iat":40}"#),
                        None,
                        60,
                        now_ms
                    ),
                    Err(ViewRefusal::Revoked(Reason::PrincipalRevoked)),
                    "{case}: a listed principal (JWT)"
                );
                assert_eq!(
                    v.check(
                        &jwt("https://i", "bob", r#"{"jti":"t-gone","iat":1}"#),
                        None,
                        60,
                        now_ms
                    ),
                    Err(ViewRefusal::Revoked(Reason::TokenRevoked)),
                    "{case}: a listed jti"
                );
                assert_eq!(
                    v.check(&key("key_other", "s", None), Some(1), 5, now_ms),
                    unlisted,
                    "{case}: what the view cannot confirm follows on_stale"
                );
            }
        }
    }

    #[test]
    fn created_keys_are_known_by_a_digest_prefix() {
        let v = RevocationView::new(RevocationSettings::default());
        let d = TokenDigest::of("eak_new");
        v.install(doc(1, vec![FeedEntry::created(&d)]), 0);
        assert!(v.recently_created(&d));
        assert!(!v.recently_created(&TokenDigest::of("eak_forged")));
        let text = serde_json::to_string(&FeedEntry::created(&d)).unwrap();
        assert!(!text.contains(&d.to_hex()), "never the whole digest");
    }

    #[test]
    fn documents_are_bounded_and_strict() {
        assert!(FeedDocument::parse(br#"{"epoch":"e","head":1,"entries":[]}"#).is_ok());
        assert_eq!(
            FeedDocument::parse(br#"{"epoch":"e","head":1,"entries":[{"t":"nope"}]}"#),
            Err(Reason::FeedInvalid)
        );
        assert_eq!(
            FeedDocument::parse(br#"{"epoch":"","head":1,"entries":[]}"#),
            Err(Reason::FeedInvalid)
        );
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(FeedDocument::parse(&big), Err(Reason::FeedTooLarge));
    }
}
