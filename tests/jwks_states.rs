//! The JWKS cache's state machine as a transition table: each row builds a starting state from
//! a sequence of events (fetches through the scripted document source, lookups), then applies
//! one event or lookup at a time `t`, and states the command answered, the state read at `t`
//! ([`Freshness`]), what the health endpoint reports, how many documents were fetched in all
//! and how many unused-algorithm notes were left. It drives `JwksCache` directly; the
//! authenticator's use of it is covered by `jwks_cache.rs`. It owns no fakes (they are in
//! `support_jwt`) and touches nothing outside the cache.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_jwt;

use edge_auth::jwks::cache::{Freshness, JwksCache, Lookup, StaleRefresh};
use edge_auth::jwt::{Algorithm, Issuers, JwksSettings, RawIssuer, RawJwksSettings};
use edge_auth::ports::FetchError;
use edge_auth::reason::Reason;
use edge_auth::time::UnixTime;
use serde_json::json;
use support_jwt::{issuers, jwks, raw_issuer, EdKey, ScriptedSource, ISS, JWKS_URL};

const T0: u64 = 1_900_000_000;
/// Stale-if-error in these rows (the other settings are the defaults: TTL 600 s within
/// [60 s, 86400 s], unknown-kid cooldown 30 s, fetch timeout 3 s so an in-flight mark lasts 6 s).
const STALE_IF_ERROR: u64 = 300;
const DISCOVERY_URL: &str = "https://issuer.example/.well-known/openid-configuration";
const DISCOVERED_JWKS: &str = "https://keys.issuer.example/v1/keys";
/// The discovery document's lifetime in the discovery rows.
const DISCOVERY_CC: &str = "max-age=200";

fn at(t: u64) -> UnixTime {
    UnixTime(T0 + t)
}

/// What the source answers for the JWKS in a [`Ev::Fetch`].
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// The set {a, b} with this `Cache-Control` ("" for none).
    Keys(&'static str),
    Status(u16),
    Error(FetchError),
    /// A 200 that is not a JWKS.
    Broken,
}

/// The token a lookup is for. The set holds two Ed25519 keys, `a` and `b`.
#[derive(Clone, Copy, Debug)]
enum Tok {
    /// kid `a`, EdDSA.
    Known,
    /// kid `zz`: not in the set.
    Unknown,
    /// kid `a`, ES256: a key that may not verify it.
    WrongAlg,
    /// No kid, EdDSA: two candidates.
    NoKid,
}

impl Tok {
    fn kid_alg(self) -> (Option<&'static str>, Algorithm) {
        match self {
            Tok::Known => (Some("a"), Algorithm::EdDsa),
            Tok::Unknown => (Some("zz"), Algorithm::EdDsa),
            Tok::WrongAlg => (Some("a"), Algorithm::Es256),
            Tok::NoKid => (None, Algorithm::EdDsa),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// `JwksCache::fetch` at `t` (seconds after T0), the source answering `Reply`.
    Fetch(u64, Reply),
    /// `lookup` at `t`.
    Look(u64, Tok),
    /// `lookup_after_fetch` at `t`.
    After(u64, Tok),
    /// Nothing happens; the state is read at `t`.
    Read(u64),
    /// From now on the discovery document cannot be fetched.
    DiscoveryDown,
}

/// A command or a result, comparable.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cmd {
    Serve {
        refresh: bool,
    },
    Fetch,
    Discover,
    Unavailable(&'static str, u64),
    Rejected(&'static str),
    /// The result of a [`Ev::Fetch`].
    Done(Result<(), &'static str>),
    /// A [`Ev::Read`] or [`Ev::DiscoveryDown`].
    Nothing,
}

impl From<Lookup<u32>> for Cmd {
    fn from(l: Lookup<u32>) -> Self {
        match l {
            Lookup::Serve(k) => Cmd::Serve {
                refresh: k.refresh.is_some(),
            },
            Lookup::Fetch => Cmd::Fetch,
            Lookup::Discover => Cmd::Discover,
            Lookup::Unavailable {
                reason,
                retry_after,
            } => Cmd::Unavailable(reason.as_str(), retry_after),
            Lookup::Rejected(r) => Cmd::Rejected(r.reason().as_str()),
        }
    }
}

/// The health endpoint's view: state, usable keys, last fetch (seconds after T0), last error.
type Health = (&'static str, usize, Option<u64>, Option<&'static str>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Iss {
    Jwks,
    Discovery,
}

struct Row {
    name: &'static str,
    issuer: Iss,
    setup: Vec<Ev>,
    action: Ev,
    command: Cmd,
    freshness: Freshness,
    health: Health,
    fetches: usize,
    notes: usize,
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    command: Cmd,
    freshness: Freshness,
    health: Health,
    fetches: usize,
    notes: usize,
}

fn settings() -> JwksSettings {
    JwksSettings::from_raw(RawJwksSettings {
        stale_if_error_seconds: STALE_IF_ERROR,
        ..RawJwksSettings::default()
    })
    .unwrap()
}

fn discovery_issuer() -> RawIssuer {
    RawIssuer {
        jwks_uri: None,
        discovery: Some(true),
        ..raw_issuer()
    }
}

struct Bench {
    issuers: Issuers,
    cache: JwksCache<u32>,
    source: ScriptedSource,
    jwks_url: &'static str,
}

impl Bench {
    fn new(issuer: Iss) -> Bench {
        let (raw, jwks_url) = match issuer {
            Iss::Jwks => (raw_issuer(), JWKS_URL),
            Iss::Discovery => (discovery_issuer(), DISCOVERED_JWKS),
        };
        let issuers = issuers(vec![raw]);
        let source = ScriptedSource::new();
        source.serve(
            DISCOVERY_URL,
            Some(DISCOVERY_CC),
            json!({ "issuer": ISS, "jwks_uri": DISCOVERED_JWKS }).to_string(),
        );
        Bench {
            cache: JwksCache::new(settings(), &issuers),
            issuers,
            source,
            jwks_url,
        }
    }

    async fn apply(&self, ev: Ev) -> Cmd {
        let policy = self.issuers.get(ISS).unwrap();
        match ev {
            Ev::Fetch(t, reply) => {
                match reply {
                    Reply::Keys(cc) => self.source.serve(
                        self.jwks_url,
                        Some(cc).filter(|c| !c.is_empty()),
                        jwks(&[&EdKey::new("a", 1), &EdKey::new("b", 2)]),
                    ),
                    Reply::Status(s) => self.source.serve_status(self.jwks_url, s, None, "no"),
                    Reply::Error(e) => self.source.fail(self.jwks_url, e),
                    Reply::Broken => self.source.serve(self.jwks_url, None, "{\"keys\":5}"),
                }
                Cmd::Done(
                    self.cache
                        .fetch(policy, &self.source, at(t))
                        .await
                        .map_err(Reason::as_str),
                )
            }
            Ev::Look(t, tok) => {
                let (kid, alg) = tok.kid_alg();
                self.cache.lookup(ISS, kid, alg, at(t)).into()
            }
            Ev::After(t, tok) => {
                let (kid, alg) = tok.kid_alg();
                self.cache.lookup_after_fetch(ISS, kid, alg, at(t)).into()
            }
            Ev::Read(_) => Cmd::Nothing,
            Ev::DiscoveryDown => {
                self.source.fail(DISCOVERY_URL, FetchError::Network);
                Cmd::Nothing
            }
        }
    }
}

fn time_of(ev: Ev) -> u64 {
    match ev {
        Ev::Fetch(t, _) | Ev::Look(t, _) | Ev::After(t, _) | Ev::Read(t) => t,
        Ev::DiscoveryDown => 0,
    }
}

async fn play(row: &Row) -> Outcome {
    let bench = Bench::new(row.issuer);
    for ev in &row.setup {
        bench.apply(*ev).await;
    }
    let command = bench.apply(row.action).await;
    let now = at(time_of(row.action));
    let policy = bench.issuers.get(ISS).unwrap();
    let h = bench.cache.snapshot(ISS, &policy.algorithms, now);
    Outcome {
        command,
        freshness: bench.cache.freshness(ISS, now).unwrap(),
        health: (
            h.state,
            h.keys,
            h.last_fetch_at.map(|s| s - T0),
            h.last_error.map(Reason::as_str),
        ),
        fetches: bench.source.fetches(),
        notes: bench.cache.take_unused_algorithms().len(),
    }
}

// Shorthands for the expected states.
fn fresh(stale_at: u64) -> Freshness {
    Freshness::Fresh {
        stale_at: at(stale_at),
    }
}
fn stale(expires_at: u64, refresh: StaleRefresh) -> Freshness {
    Freshness::Stale {
        expires_at: at(expires_at),
        refresh,
    }
}
fn due() -> StaleRefresh {
    StaleRefresh::Due
}
fn in_flight(until: u64) -> StaleRefresh {
    StaleRefresh::InFlight { until: at(until) }
}
fn backing_off(until: u64) -> StaleRefresh {
    StaleRefresh::BackingOff {
        retry_at: at(until),
    }
}
fn failing(reason: &'static str, retry_at: u64) -> Freshness {
    Freshness::Failing {
        reason: Reason::from_code(reason).unwrap(),
        retry_at: at(retry_at),
    }
}

use Ev::{After, DiscoveryDown, Fetch, Look, Read};
use Tok::{Known, NoKid, Unknown, WrongAlg};

const NET: &str = "jwks_fetch_failed";

fn ok(t: u64, cc: &'static str) -> Ev {
    Fetch(t, Reply::Keys(cc))
}
fn err(t: u64) -> Ev {
    Fetch(t, Reply::Error(FetchError::Network))
}
fn serve(refresh: bool) -> Cmd {
    Cmd::Serve { refresh }
}
fn done_err(reason: &'static str) -> Cmd {
    Cmd::Done(Err(reason))
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: &'static str,
    setup: Vec<Ev>,
    action: Ev,
    command: Cmd,
    freshness: Freshness,
    health: Health,
    fetches: usize,
    notes: usize,
) -> Row {
    Row {
        name,
        issuer: Iss::Jwks,
        setup,
        action,
        command,
        freshness,
        health,
        fetches,
        notes,
    }
}

fn discovery(r: Row) -> Row {
    Row {
        issuer: Iss::Discovery,
        ..r
    }
}

/// The failure times of consecutive failures, each at the end of the previous backoff.
fn failures_from(t: u64, n: usize) -> Vec<Ev> {
    let mut evs = Vec::new();
    let mut t = t;
    let mut wait = 1;
    for _ in 0..n {
        evs.push(err(t));
        t += wait;
        wait = (wait * 2).min(60);
    }
    evs
}

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    let e = Freshness::Empty;
    let x = Freshness::Expired;
    let c100 = "max-age=100";
    vec![
        // --- Empty
        row("empty: a lookup asks for a fetch", vec![], Look(0, Known), Cmd::Fetch, e, ("empty", 0, None, None), 0, 0),
        row("empty: an unknown kid asks for a fetch too", vec![], Look(0, Unknown), Cmd::Fetch, e, ("empty", 0, None, None), 0, 0),
        row("empty: the second look is unavailable, never a fetch", vec![], After(0, Known), Cmd::Unavailable("jwks_unavailable", 1), e, ("empty", 0, None, None), 0, 0),
        row("empty → fresh: a fetch succeeds", vec![], ok(0, c100), Cmd::Done(Ok(())), fresh(100), ("fresh", 2, Some(0), None), 1, 1),
        row("empty → failing: a fetch fails", vec![], err(0), done_err(NET), failing(NET, 1), ("failing", 0, Some(0), Some(NET)), 1, 0),
        row("empty → failing: a timeout", vec![], Fetch(0, Reply::Error(FetchError::Timeout)), done_err("jwks_timeout"), failing("jwks_timeout", 1), ("failing", 0, Some(0), Some("jwks_timeout")), 1, 0),
        row("empty → failing: an HTTP error", vec![], Fetch(0, Reply::Status(500)), done_err("jwks_http_error"), failing("jwks_http_error", 1), ("failing", 0, Some(0), Some("jwks_http_error")), 1, 0),
        row("empty → failing: a document that is not a set", vec![], Fetch(0, Reply::Broken), done_err("jwks_invalid"), failing("jwks_invalid", 1), ("failing", 0, Some(0), Some("jwks_invalid")), 1, 0),
        row("empty → failing: an oversized document", vec![], Fetch(0, Reply::Error(FetchError::TooLarge)), done_err("jwks_too_large"), failing("jwks_too_large", 1), ("failing", 0, Some(0), Some("jwks_too_large")), 1, 0),
        // --- TTL clamp
        row("ttl: max-age is the TTL within bounds", vec![], ok(0, "max-age=3600"), Cmd::Done(Ok(())), fresh(3600), ("fresh", 2, Some(0), None), 1, 1),
        row("ttl: no max-age means the default 600 s", vec![], ok(0, ""), Cmd::Done(Ok(())), fresh(600), ("fresh", 2, Some(0), None), 1, 1),
        row("ttl: a max-age under the minimum is raised to 60 s", vec![], ok(0, "max-age=5"), Cmd::Done(Ok(())), fresh(60), ("fresh", 2, Some(0), None), 1, 1),
        row("ttl: a max-age over the maximum is cut to 86400 s", vec![], ok(0, "max-age=99999999"), Cmd::Done(Ok(())), fresh(86_400), ("fresh", 2, Some(0), None), 1, 1),
        row("ttl: no-store means the minimum", vec![], ok(0, "max-age=3600, no-store"), Cmd::Done(Ok(())), fresh(60), ("fresh", 2, Some(0), None), 1, 1),
        // --- Fresh
        row("fresh: the known kid is served without a refresh", vec![ok(0, c100)], Look(50, Known), serve(false), fresh(100), ("fresh", 2, Some(0), None), 1, 1),
        row("fresh: the last second before fresh_until", vec![ok(0, c100)], Look(99, Known), serve(false), fresh(100), ("fresh", 2, Some(0), None), 1, 1),
        row("fresh: a key that may not verify the alg is rejected", vec![ok(0, c100)], Look(1, WrongAlg), Cmd::Rejected("alg_key_mismatch"), fresh(100), ("fresh", 2, Some(0), None), 1, 1),
        row("fresh: no kid with two candidates is rejected", vec![ok(0, c100)], Look(1, NoKid), Cmd::Rejected("kid_required"), fresh(100), ("fresh", 2, Some(0), None), 1, 1),
        row("fresh: an unknown kid within the cooldown is rejected", vec![ok(0, c100)], Look(29, Unknown), Cmd::Rejected("unknown_kid"), fresh(100), ("fresh", 2, Some(0), None), 1, 1),
        row("fresh: an unknown kid at the cooldown's end refetches", vec![ok(0, c100)], Look(30, Unknown), Cmd::Fetch, fresh(100), ("fresh", 2, Some(30), None), 1, 1),
        row("fresh: a refetch decision starts a new cooldown", vec![ok(0, c100), Look(30, Unknown)], Look(59, Unknown), Cmd::Rejected("unknown_kid"), fresh(100), ("fresh", 2, Some(30), None), 1, 1),
        row("fresh: the cooldown after a refetch decision ends", vec![ok(0, c100), Look(30, Unknown)], Look(60, Unknown), Cmd::Fetch, fresh(100), ("fresh", 2, Some(60), None), 1, 1),
        row("fresh: after the refetch an unknown kid is rejected, never fetched again", vec![ok(0, c100), Look(30, Unknown), ok(30, c100)], After(30, Unknown), Cmd::Rejected("unknown_kid"), fresh(130), ("fresh", 2, Some(30), None), 2, 2),
        row("fresh: a failed refetch keeps the keys fresh and reports the error", vec![ok(0, c100), Look(30, Unknown)], err(30), done_err(NET), fresh(100), ("fresh", 2, Some(30), Some(NET)), 2, 1),
        row("fresh: after a failed refetch the unknown kid is unavailable, not rejected", vec![ok(0, c100), Look(30, Unknown), err(30)], After(30, Unknown), Cmd::Unavailable("jwks_fetch_failed", 1), fresh(100), ("fresh", 2, Some(30), Some(NET)), 2, 1),
        row("fresh while backing off: known keys still serve", vec![ok(0, c100), err(30)], Look(30, Known), serve(false), fresh(100), ("fresh", 2, Some(30), Some(NET)), 2, 1),
        row("fresh: an unknown kid after the cooldown but while backing off is unavailable (the failed fetch may have missed its key)", {
            let mut s = vec![ok(0, c100)];
            s.extend(failures_from(30, 6)); // the last at 61, backing off 32 s, until 93
            s
        }, Look(92, Unknown), Cmd::Unavailable("jwks_fetch_failed", 1), fresh(100), ("fresh", 2, Some(61), Some(NET)), 7, 1),
        row("fresh: the backoff ends: an unknown kid refetches", {
            let mut s = vec![ok(0, c100)];
            s.extend(failures_from(30, 6));
            s
        }, Look(93, Unknown), Cmd::Fetch, fresh(100), ("fresh", 2, Some(93), Some(NET)), 7, 1),
        // --- Fresh → Stale
        row("stale: due exactly at fresh_until", vec![ok(0, c100)], Read(100), Cmd::Nothing, stale(400, due()), ("stale", 2, Some(0), None), 1, 1),
        row("stale: the first lookup is served with the one refresh", vec![ok(0, c100)], Look(100, Known), serve(true), stale(400, in_flight(106)), ("stale", 2, Some(0), None), 1, 1),
        row("stale: while in flight, no second refresh", vec![ok(0, c100), Look(100, Known)], Look(105, Known), serve(false), stale(400, in_flight(106)), ("stale", 2, Some(0), None), 1, 1),
        row("stale: the in-flight mark lapses after twice the fetch timeout", vec![ok(0, c100), Look(100, Known)], Look(106, Known), serve(true), stale(400, in_flight(112)), ("stale", 2, Some(0), None), 1, 1),
        row("stale: a rejected token hands out no refresh", vec![ok(0, c100)], Look(100, WrongAlg), Cmd::Rejected("alg_key_mismatch"), stale(400, due()), ("stale", 2, Some(0), None), 1, 1),
        row("stale: an unknown kid refetches in the foreground", vec![ok(0, c100)], Look(100, Unknown), Cmd::Fetch, stale(400, due()), ("stale", 2, Some(100), None), 1, 1),
        row("stale → fresh: the refresh succeeds", vec![ok(0, c100), Look(100, Known)], ok(102, c100), Cmd::Done(Ok(())), fresh(202), ("fresh", 2, Some(102), None), 2, 2),
        row("stale: the refresh fails: backing off", vec![ok(0, c100), Look(100, Known)], err(102), done_err(NET), stale(400, backing_off(103)), ("stale", 2, Some(102), Some(NET)), 2, 1),
        row("stale while backing off: served without a refresh", vec![ok(0, c100), Look(100, Known), err(102)], Look(102, Known), serve(false), stale(400, backing_off(103)), ("stale", 2, Some(102), Some(NET)), 2, 1),
        row("stale: a failure drops the in-flight mark", vec![ok(0, c100), Look(100, Known), err(101)], Look(102, Known), serve(true), stale(400, in_flight(108)), ("stale", 2, Some(101), Some(NET)), 2, 1),
        row("stale: the backoff ends: the refresh is due again", vec![ok(0, c100), Look(100, Known), err(102)], Read(103), Cmd::Nothing, stale(400, due()), ("stale", 2, Some(102), Some(NET)), 2, 1),
        row("stale: the last second of stale-if-error still serves", vec![ok(0, c100), Look(100, Known), err(100)], Look(399, Known), serve(true), stale(400, in_flight(405)), ("stale", 2, Some(100), Some(NET)), 2, 1),
        // --- Stale → Expired / Failing
        row("expired exactly at the end of stale-if-error: fetch", vec![ok(0, c100)], Look(400, Known), Cmd::Fetch, x, ("empty", 0, Some(0), None), 1, 1),
        row("expired: an in-flight mark changes nothing", vec![ok(0, c100), Look(398, Known)], Look(400, Known), Cmd::Fetch, x, ("empty", 0, Some(0), None), 1, 1),
        row("expired: the second look is unavailable", vec![ok(0, c100)], After(400, Known), Cmd::Unavailable("jwks_unavailable", 1), x, ("empty", 0, Some(0), None), 1, 1),
        row("expired → fresh: the foreground fetch succeeds", vec![ok(0, c100)], ok(400, c100), Cmd::Done(Ok(())), fresh(500), ("fresh", 2, Some(400), None), 2, 2),
        row("expired → failing: the foreground fetch fails", vec![ok(0, c100)], err(400), done_err(NET), failing(NET, 401), ("failing", 0, Some(400), Some(NET)), 2, 1),
        row("stale → failing at the end of stale-if-error after a failure", vec![ok(0, c100), err(100)], Look(400, Known), Cmd::Fetch, failing(NET, 101), ("failing", 0, Some(100), Some(NET)), 2, 1),
        row("stale → failing while backing off: unavailable", vec![ok(0, c100), err(398), err(399)], Look(400, Known), Cmd::Unavailable(NET, 1), failing(NET, 401), ("failing", 0, Some(399), Some(NET)), 3, 1),
        // --- Failing: backoff
        row("failing: within the backoff, unavailable with the rest as Retry-After", vec![err(0), err(1)], Look(1, Known), Cmd::Unavailable(NET, 2), failing(NET, 3), ("failing", 0, Some(1), Some(NET)), 2, 0),
        row("failing: the last second of the backoff", vec![err(0), err(1)], Look(2, Known), Cmd::Unavailable(NET, 1), failing(NET, 3), ("failing", 0, Some(1), Some(NET)), 2, 0),
        row("failing: an unknown kid is unavailable too", vec![err(0)], Look(0, Unknown), Cmd::Unavailable(NET, 1), failing(NET, 1), ("failing", 0, Some(0), Some(NET)), 1, 0),
        row("failing: the backoff ends exactly at retry_at: fetch", vec![err(0)], Look(1, Known), Cmd::Fetch, failing(NET, 1), ("failing", 0, Some(0), Some(NET)), 1, 0),
        row("failing: the second look after the backoff is unavailable", vec![err(0)], After(5, Known), Cmd::Unavailable(NET, 1), failing(NET, 1), ("failing", 0, Some(0), Some(NET)), 1, 0),
        row("backoff: the second failure waits 2 s", failures_from(0, 1), err(1), done_err(NET), failing(NET, 3), ("failing", 0, Some(1), Some(NET)), 2, 0),
        row("backoff: the third failure waits 4 s", failures_from(0, 2), err(3), done_err(NET), failing(NET, 7), ("failing", 0, Some(3), Some(NET)), 3, 0),
        row("backoff: the sixth failure waits 32 s", failures_from(0, 5), err(31), done_err(NET), failing(NET, 63), ("failing", 0, Some(31), Some(NET)), 6, 0),
        row("backoff: the seventh failure is capped at 60 s", failures_from(0, 6), err(63), done_err(NET), failing(NET, 123), ("failing", 0, Some(63), Some(NET)), 7, 0),
        row("backoff: it stays capped", failures_from(0, 7), err(123), done_err(NET), failing(NET, 183), ("failing", 0, Some(123), Some(NET)), 8, 0),
        row("backoff: the reason is the last failure's", vec![err(0)], Fetch(1, Reply::Status(503)), done_err("jwks_http_error"), failing("jwks_http_error", 3), ("failing", 0, Some(1), Some("jwks_http_error")), 2, 0),
        row("failing → fresh: a success clears the backoff", failures_from(0, 2), ok(3, c100), Cmd::Done(Ok(())), fresh(103), ("fresh", 2, Some(3), None), 3, 1),
        row("a success resets the failure count", { let mut s = failures_from(0, 3); s.push(ok(7, c100)); s }, err(200), done_err(NET), stale(407, backing_off(201)), ("stale", 2, Some(200), Some(NET)), 5, 1),
        // --- Discovery
        discovery(row("discovery: empty asks to discover", vec![], Look(0, Known), Cmd::Discover, e, ("empty", 0, None, None), 0, 0)),
        discovery(row("discovery: a fetch discovers, then fetches the keys", vec![], ok(0, c100), Cmd::Done(Ok(())), fresh(100), ("fresh", 2, Some(0), None), 2, 1)),
        discovery(row("discovery: the uri is still fresh: a refetch skips discovery", vec![ok(0, c100)], Look(199, Unknown), Cmd::Fetch, stale(400, due()), ("stale", 2, Some(199), None), 2, 1)),
        discovery(row("discovery: the uri went stale exactly at its TTL: discover again", vec![ok(0, c100)], Look(200, Unknown), Cmd::Discover, stale(400, due()), ("stale", 2, Some(200), None), 2, 1)),
        discovery(row("discovery: a refresh within the uri's TTL fetches the keys only", vec![ok(0, c100)], ok(150, c100), Cmd::Done(Ok(())), fresh(250), ("fresh", 2, Some(150), None), 3, 2)),
        discovery(row("discovery: rediscovery fails: a uri within stale-if-error is used", vec![ok(0, c100), DiscoveryDown], ok(499, c100), Cmd::Done(Ok(())), fresh(599), ("fresh", 2, Some(499), None), 4, 2)),
        discovery(row("discovery: rediscovery fails past the uri's stale-if-error: failing", vec![ok(0, c100), DiscoveryDown], ok(500, c100), done_err("discovery_fetch_failed"), failing("discovery_fetch_failed", 501), ("failing", 0, Some(500), Some("discovery_fetch_failed")), 3, 1)),
        discovery(row("discovery: no uri and discovery fails: failing, no keys fetched", vec![DiscoveryDown], ok(0, c100), done_err("discovery_fetch_failed"), failing("discovery_fetch_failed", 1), ("failing", 0, Some(0), Some("discovery_fetch_failed")), 1, 0)),
    ]
}

#[tokio::test(flavor = "current_thread")]
async fn every_transition_of_the_table() {
    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let got = play(row).await;
        let want = Outcome {
            command: row.command.clone(),
            freshness: row.freshness,
            health: row.health,
            fetches: row.fetches,
            notes: row.notes,
        };
        if got != want {
            failures.push(format!("{}:\n  want {want:?}\n  got  {got:?}", row.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The table covers every command and every state.
    let has = |f: &dyn Fn(&Row) -> bool| rows.iter().any(f);
    for (what, covered) in [
        ("serve", has(&|r| matches!(r.command, Cmd::Serve { .. }))),
        ("fetch", has(&|r| r.command == Cmd::Fetch)),
        ("discover", has(&|r| r.command == Cmd::Discover)),
        (
            "unavailable",
            has(&|r| matches!(r.command, Cmd::Unavailable(..))),
        ),
        ("rejected", has(&|r| matches!(r.command, Cmd::Rejected(_)))),
        ("empty", has(&|r| r.freshness == Freshness::Empty)),
        (
            "fresh",
            has(&|r| matches!(r.freshness, Freshness::Fresh { .. })),
        ),
        (
            "stale due",
            has(&|r| {
                matches!(
                    r.freshness,
                    Freshness::Stale {
                        refresh: StaleRefresh::Due,
                        ..
                    }
                )
            }),
        ),
        (
            "stale in flight",
            has(&|r| {
                matches!(
                    r.freshness,
                    Freshness::Stale {
                        refresh: StaleRefresh::InFlight { .. },
                        ..
                    }
                )
            }),
        ),
        (
            "stale backing off",
            has(&|r| {
                matches!(
                    r.freshness,
                    Freshness::Stale {
                        refresh: StaleRefresh::BackingOff { .. },
                        ..
                    }
                )
            }),
        ),
        ("expired", has(&|r| r.freshness == Freshness::Expired)),
        (
            "failing",
            has(&|r| matches!(r.freshness, Freshness::Failing { .. })),
        ),
    ] {
        assert!(covered, "no row covers {what}");
    }
}

#[test]
fn an_issuer_that_is_not_configured_has_no_state() {
    let cache = JwksCache::<u32>::new(settings(), &issuers(vec![raw_issuer()]));
    let other = "https://other.example";
    assert_eq!(cache.freshness(other, at(0)), None);
    assert!(matches!(
        cache.lookup(other, Some("a"), Algorithm::EdDsa, at(0)),
        Lookup::Unavailable { .. }
    ));
    assert_eq!(cache.snapshot(other, &[], at(0)).state, "empty");
}
