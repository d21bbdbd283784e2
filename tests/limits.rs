//! Rate limits and credits (issue #15): the guarantee of `src/limits/`, tested as stated.
//!
//! A discrete-event simulation runs several isolates (each its own [`LeaseBook`], its clock off
//! by up to ±5 s) against the counter objects ([`ObjectState`], real time), with calls that take
//! random time each way, renewals in the background, concurrent requests per isolate, and calls
//! that fail. Property: in real time, no fixed window and no sliding interval of the period ever
//! admits more than the limit, and credits are never spent below zero. When every isolate wants
//! more than the limit, exactly the limit is admitted (under-admission is bounded, here 0).
//! Then the pipeline: a hot key makes no object call per request, and `on_unavailable` does what
//! it says.

use std::collections::{BTreeMap, HashMap};

use edge_auth::limits::counter::{LeaseRules, ObjectState};
use edge_auth::limits::lease::{Admission, LeaseBook};
use edge_auth::limits::{
    plan, By, KeyQuota, LeaseCall, LimitDef, OnUnavailable, Plan, StoredCredits, Subject,
    UsageSettings, Window,
};
use proptest::prelude::*;

const RULES: LeaseRules = LeaseRules {
    lease_ms: 2_000,
    max_lease: 50,
};

fn settings() -> UsageSettings {
    UsageSettings {
        lease_ms: RULES.lease_ms,
        max_lease: RULES.max_lease,
        ..UsageSettings::default()
    }
}

fn limit(n: u64, period_seconds: u64, window: Window, strict: bool) -> LimitDef {
    LimitDef {
        name: "m".into(),
        limit: n,
        period_seconds,
        by: By::Key,
        cost: None,
        window,
        strict,
        on_unavailable: OnUnavailable::Deny,
    }
}

fn who() -> Subject<'static> {
    Subject {
        key_id: Some("k1"),
        client_id: None,
        issuer: None,
        subject: Some("svc"),
        ip: None,
    }
}

#[derive(Debug)]
enum Event {
    /// A request arrives at isolate `i` (its `round`-th try).
    Arrive { i: usize, req: usize, round: u8 },
    /// The object processes a call.
    Process { i: usize, call: usize },
    /// The answer arrives at the isolate.
    Answer { i: usize, call: usize },
}

struct Call {
    object: String,
    body: LeaseCall,
    sent_local: u64,
    reply: Option<edge_auth::limits::LeaseReply>,
    /// The request waiting on it (none: a background renewal).
    waiting: Option<usize>,
    fails: bool,
}

struct Sim {
    books: Vec<LeaseBook>,
    skew: Vec<i64>,
    objects: HashMap<String, ObjectState>,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    calls: Vec<Call>,
    /// Per request: calls still unanswered.
    pending: HashMap<usize, usize>,
    admitted: Vec<u64>,
    refused: usize,
    object_calls: usize,
    rng: u64,
    plan: Plan,
    fail_every: u64,
    /// Per request: its isolate and round.
    rounds: HashMap<usize, (usize, u8)>,
    strict_refused: std::collections::HashSet<usize>,
    renewals: usize,
    flights: HashMap<usize, edge_auth::limits::lease::Flight>,
    waits: Vec<u64>,
}

impl Sim {
    fn new(isolates: usize, skew: Vec<i64>, plan: Plan, seed: u64) -> Sim {
        Sim {
            books: (0..isolates).map(|_| LeaseBook::new(settings())).collect(),
            skew,
            objects: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            calls: Vec::new(),
            pending: HashMap::new(),
            admitted: Vec::new(),
            refused: 0,
            object_calls: 0,
            rng: seed | 1,
            plan,
            fail_every: 0,
            rounds: HashMap::new(),
            strict_refused: std::collections::HashSet::new(),
            renewals: 0,
            flights: HashMap::new(),
            waits: Vec::new(),
        }
    }

    fn rand(&mut self, below: u64) -> u64 {
        // xorshift64*: deterministic per seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }

    fn at(&mut self, t: u64, e: Event) {
        self.seq += 1;
        self.queue.insert((t, self.seq), e);
    }

    fn local(&self, i: usize, t: u64) -> u64 {
        t.saturating_add_signed(self.skew[i])
    }

    fn send(&mut self, i: usize, t: u64, object: String, body: LeaseCall, waiting: Option<usize>) {
        let fails = self.fail_every > 0 && self.rand(self.fail_every) == 0;
        self.calls.push(Call {
            object,
            body,
            sent_local: self.local(i, t),
            reply: None,
            waiting,
            fails,
        });
        let id = self.calls.len() - 1;
        let there = 1 + self.rand(80);
        self.at(t + there, Event::Process { i, call: id });
    }

    fn run(&mut self) {
        while !self.queue.is_empty() {
            self.step();
        }
    }

    /// Requests that had to wait for a call (theirs or another's) after `t`.
    fn waited_after(&self, t: u64) -> usize {
        self.waits.iter().filter(|&&w| w >= t).count()
    }

    fn step(&mut self) {
        if let Some(((t, _), event)) = self.queue.pop_first() {
            match event {
                Event::Arrive { i, req, round } => {
                    let now = self.local(i, t);
                    match self.books[i].admit(&self.plan, now, round > 0, true) {
                        Admission::Admitted(ticket) => {
                            self.admitted.push(t);
                            self.renewals += ticket.renewals.len();
                            for (object, call) in ticket.renewals {
                                self.send(i, t, object, call, None);
                            }
                        }
                        Admission::Refused(_) | Admission::Unavailable => self.refused += 1,
                        Admission::Need(calls, flight) if round < 3 => {
                            self.waits.push(t);
                            self.pending.insert(req, calls.len());
                            self.flights.insert(req, flight);
                            for (object, call) in calls {
                                self.send(i, t, object, call, Some(req));
                            }
                        }
                        Admission::Need(..) => self.refused += 1,
                        // Another request's call is on its way: look again a moment later.
                        // Another request's call is on its way: look again a moment later (the
                        // pipeline awaits its gate; a waiting round is not a call).
                        Admission::Wait => {
                            self.waits.push(t);
                            self.at(t + 5, Event::Arrive { i, req, round });
                        }
                    }
                    // The request's round is remembered by its pending calls.
                    self.rounds.insert(req, (i, round));
                }
                Event::Process { i, call } => {
                    self.object_calls += 1;
                    let c = &self.calls[call];
                    if !c.fails {
                        let state = self.objects.entry(c.object.clone()).or_default();
                        let reply = state.lease(&c.body, t, RULES);
                        self.calls[call].reply = Some(reply);
                    }
                    let back = 1 + self.rand(80);
                    self.at(t + back, Event::Answer { i, call });
                }
                Event::Answer { i, call } => {
                    let now = self.local(i, t);
                    let c = &self.calls[call];
                    let mut strict_refused = false;
                    match &c.reply {
                        Some(reply) => {
                            let done =
                                self.books[i].install(&c.object, &c.body, reply, c.sent_local, now);
                            strict_refused = done.strict_refused.is_some();
                        }
                        None => self.books[i].failed(&c.object, &c.body, now),
                    }
                    if let Some(req) = c.waiting {
                        if strict_refused {
                            self.strict_refused.insert(req);
                        }
                        let left = self.pending.get_mut(&req).map(|n| {
                            *n -= 1;
                            *n
                        });
                        if left == Some(0) {
                            self.flights.remove(&req);
                            let (i, round) = self.rounds[&req];
                            if self.strict_refused.contains(&req) {
                                self.refused += 1;
                            } else {
                                self.at(
                                    t,
                                    Event::Arrive {
                                        i,
                                        req,
                                        round: round + 1,
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

fn window_counts(times: &[u64], period_ms: u64) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for t in times {
        *out.entry(t / period_ms).or_insert(0) += 1;
    }
    out
}

fn max_in_interval(times: &[u64], period_ms: u64) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    let mut j = 0;
    for i in 0..sorted.len() {
        while sorted[i] - sorted[j] >= period_ms {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    best
}

/// Requests at random times over `span_ms`, to random isolates.
fn schedule(sim: &mut Sim, requests: usize, span_ms: u64, start: u64) {
    for req in 0..requests {
        let t = start + sim.rand(span_ms);
        let i = sim.rand(sim.books.len() as u64) as usize;
        sim.at(t, Event::Arrive { i, req, round: 0 });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn never_over_the_limit_in_any_window(
        seed in any::<u64>(),
        isolates in 1usize..5,
        skews in proptest::collection::vec(-5_000i64..5_000, 4),
        n in 1u64..60,
        period in 1u64..8,
        sliding in any::<bool>(),
        strict in any::<bool>(),
        failing in any::<bool>(),
    ) {
        let window = if sliding { Window::Sliding } else { Window::Fixed };
        let def = limit(n, period, window, strict);
        let plan = plan(&[def], 1, None, &who());
        let mut sim = Sim::new(isolates, skews[..isolates].to_vec(), plan, seed);
        if failing {
            sim.fail_every = 7;
        }
        schedule(&mut sim, 600, 20_000, 1_000_000);
        sim.run();
        let period_ms = period * 1000;
        match window {
            Window::Fixed => {
                for (w, count) in window_counts(&sim.admitted, period_ms) {
                    prop_assert!(count <= n, "window {w}: {count} > {n}");
                }
            }
            Window::Sliding => {
                let most = max_in_interval(&sim.admitted, period_ms);
                prop_assert!(most as u64 <= n, "{most} in one period > {n}");
            }
        }
    }

    #[test]
    fn credits_are_never_spent_below_zero(
        seed in any::<u64>(),
        isolates in 1usize..5,
        skews in proptest::collection::vec(-5_000i64..5_000, 4),
        balance in 0u64..200,
        failing in any::<bool>(),
    ) {
        let quota = KeyQuota {
            limits: vec![],
            credits: Some(StoredCredits { remaining: balance, refill: None, set_at: 1 }),
            meter: None,
        };
        let plan = plan(&[], 1, Some(&quota), &who());
        let mut sim = Sim::new(isolates, skews[..isolates].to_vec(), plan, seed);
        if failing {
            sim.fail_every = 5;
        }
        schedule(&mut sim, 500, 30_000, 1_000_000);
        sim.run();
        prop_assert!(sim.admitted.len() as u64 <= balance, "{} > {balance}", sim.admitted.len());
    }
}

#[test]
fn with_demand_past_the_limit_everywhere_exactly_the_limit_is_admitted() {
    for seed in 1..20u64 {
        for window in [Window::Fixed, Window::Sliding] {
            let plan = plan(&[limit(100, 3600, window, false)], 1, None, &who());
            let mut sim = Sim::new(3, vec![-3000, 0, 4000], plan, seed);
            // 300 requests per isolate within 2 s: every isolate wants more than the limit.
            for req in 0..900 {
                let t = 1_000_000 + sim.rand(2_000);
                sim.at(
                    t,
                    Event::Arrive {
                        i: req % 3,
                        req,
                        round: 0,
                    },
                );
            }
            sim.run();
            assert_eq!(sim.admitted.len(), 100, "seed {seed}, {window:?}");
        }
    }
}

#[test]
fn credits_are_spent_exactly_however_leases_end() {
    // Bursts, then a trickle on every isolate for longer than a lease: every credit is spent
    // (none lost in a lease that ended while a renewal held it), none twice.
    for seed in 1..40u64 {
        let quota = KeyQuota {
            limits: vec![],
            credits: Some(StoredCredits {
                remaining: 100,
                refill: None,
                set_at: 1,
            }),
            meter: None,
        };
        let plan = plan(&[], 1, Some(&quota), &who());
        let mut sim = Sim::new(3, vec![-2000, 0, 3000], plan, seed);
        for req in 0..300 {
            let t = 1_000_000 + sim.rand(1_500);
            sim.at(
                t,
                Event::Arrive {
                    i: req % 3,
                    req,
                    round: 0,
                },
            );
        }
        for req in 300..900 {
            sim.at(
                1_001_500 + (req as u64 - 300) * 15,
                Event::Arrive {
                    i: req % 3,
                    req,
                    round: 0,
                },
            );
        }
        sim.run();
        assert_eq!(sim.admitted.len(), 100, "seed {seed}");
    }
}

#[test]
fn a_hot_key_calls_its_object_once_per_lease_in_the_background() {
    let plan = plan(
        &[limit(1_000_000, 3600, Window::Fixed, false)],
        1,
        None,
        &who(),
    );
    let mut sim = Sim::new(1, vec![0], plan, 7);
    // 100 requests a second for 15 s to one isolate, calls taking up to 160 ms there and back.
    for req in 0..1500 {
        sim.at(
            1_000_000 + req as u64 * 10,
            Event::Arrive {
                i: 0,
                req,
                round: 0,
            },
        );
    }
    // The first 5 s: slow start (leases of 1, 2, 4, … 50) and waits on the first calls.
    let warm_until = 1_005_000;
    let mut warm_calls = 0;
    while let Some((&(t, _), _)) = sim.queue.first_key_value() {
        if t >= warm_until {
            break;
        }
        sim.step();
        warm_calls = sim.object_calls;
    }
    sim.run();
    assert_eq!(sim.admitted.len(), 1500, "nothing refused");
    assert!(warm_calls <= 30, "{warm_calls} calls to warm up");
    // Then one renewal per lease of 50, sent ahead of need: no request waits.
    let steady = sim.object_calls - warm_calls;
    assert!(
        steady <= 1000 / RULES.max_lease as usize + 1,
        "{steady} calls for 1,000 requests at lease size {}",
        RULES.max_lease
    );
    assert_eq!(
        sim.waited_after(warm_until),
        0,
        "no request waited in the steady state"
    );
}

#[test]
fn an_unreachable_object_denies_or_counts_locally_as_each_limit_says() {
    for (on_unavailable, expect) in [(OnUnavailable::Deny, 0), (OnUnavailable::Local, 5)] {
        let def = LimitDef {
            on_unavailable,
            ..limit(5, 60, Window::Fixed, false)
        };
        let plan = plan(&[def], 1, None, &who());
        let mut sim = Sim::new(1, vec![0], plan, 3);
        sim.fail_every = 1; // every call fails
        for req in 0..20 {
            sim.at(
                1_000_000 + req as u64 * 20,
                Event::Arrive {
                    i: 0,
                    req,
                    round: 0,
                },
            );
        }
        sim.run();
        assert_eq!(sim.admitted.len(), expect, "{on_unavailable:?}");
    }
    // Credits always deny.
    let quota = KeyQuota {
        limits: vec![],
        credits: Some(StoredCredits {
            remaining: 10,
            refill: None,
            set_at: 1,
        }),
        meter: None,
    };
    let plan = plan(&[], 1, Some(&quota), &who());
    let mut sim = Sim::new(1, vec![0], plan, 3);
    sim.fail_every = 1;
    for req in 0..5 {
        sim.at(
            1_000_000 + req as u64 * 20,
            Event::Arrive {
                i: 0,
                req,
                round: 0,
            },
        );
    }
    sim.run();
    assert_eq!(sim.admitted.len(), 0);
}

// ---------------------------------------------------------------------------------------------
// The pipeline: `Gateway::decide` with counter objects that answer at once and count calls.

mod pipeline {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    use edge_auth::authn::{Decision, Gateway, Ports, RequestParts};
    use edge_auth::config::Config;
    use edge_auth::jwt::{NativeKey, NativeVerifier};
    use edge_auth::limits::counter::{LeaseRules, ObjectState};
    use edge_auth::limits::lease::Calls;
    use edge_auth::limits::LeaseReply;
    use edge_auth::ports::{
        Authority, DocumentSource, FetchError, FetchedDocument, KeyStore, ListPage, StoreError,
    };
    use edge_auth::time::UnixTime;

    const NOW: u64 = 1_800_000_000;

    /// Counter objects in memory: every call answered at once, counted; `down` fails them all.
    struct Objects {
        states: RefCell<HashMap<String, ObjectState>>,
        calls: Cell<usize>,
        now_ms: Cell<u64>,
        down: Cell<bool>,
        /// Calls never answer (to prove a decision needed none).
        hang: Cell<bool>,
    }

    impl Objects {
        fn new() -> Self {
            Objects {
                states: RefCell::new(HashMap::new()),
                calls: Cell::new(0),
                now_ms: Cell::new(NOW * 1000),
                down: Cell::new(false),
                hang: Cell::new(false),
            }
        }
    }

    impl Authority for Objects {
        async fn record(
            &self,
            _kv_key: &str,
        ) -> Result<Option<edge_auth::ports::AuthorityRecord>, StoreError> {
            Ok(None)
        }
        #[allow(clippy::disallowed_methods)] // a test fake: a busy cell would be a test bug
        async fn lease(&self, calls: &Calls) -> Vec<Result<LeaseReply, StoreError>> {
            if self.hang.get() {
                std::future::pending::<()>().await;
            }
            calls
                .iter()
                .map(|(object, call)| {
                    self.calls.set(self.calls.get() + 1);
                    if self.down.get() {
                        return Err(StoreError::Unavailable);
                    }
                    let rules = LeaseRules {
                        lease_ms: 10_000,
                        max_lease: 100,
                    };
                    let mut states = self.states.borrow_mut();
                    Ok(states.entry(object.clone()).or_default().lease(
                        call,
                        self.now_ms.get(),
                        rules,
                    ))
                })
                .collect()
        }
        fn now_ms(&self) -> u64 {
            self.now_ms.get()
        }
        async fn pause(&self, ms: u32) {
            self.now_ms.set(self.now_ms.get() + u64::from(ms));
        }
    }

    struct Nothing;
    impl KeyStore for Nothing {
        async fn get_cached(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(None)
        }
        async fn get(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(None)
        }
        async fn put(&self, _: &str, _: &str, _: Option<u64>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn put_listed(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn list(&self, _: &str, _: Option<&str>, _: u32) -> Result<ListPage, StoreError> {
            Err(StoreError::Unavailable)
        }
    }
    impl DocumentSource for Nothing {
        async fn fetch(&self, _: &str) -> Result<FetchedDocument, FetchError> {
            Err(FetchError::Network)
        }
    }

    fn now<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("waited on nothing"),
        }
    }

    fn gateway() -> Gateway<NativeKey> {
        let config = serde_json::json!({
            "origin": "https://origin.example",
            "routes": [
                { "path": "/limited/**", "auth": "public",
                  "limits": [{ "name": "per-ip", "limit": 3, "period_seconds": 60, "by": "ip" }] },
                { "path": "/local/**", "auth": "public",
                  "limits": [{ "name": "loc", "limit": 2, "period_seconds": 60, "by": "ip", "on_unavailable": "local" }] },
                { "path": "/**", "auth": "public" }
            ]
        });
        Gateway::new(Config::from_json(&config.to_string(), &|_| None).unwrap())
    }

    /// One request from 192.0.2.9, polled once (`now` panics if the decision waits).
    fn outcome(
        g: &Gateway<NativeKey>,
        path: &str,
        objects: Option<&Objects>,
    ) -> edge_auth::authn::Outcome {
        let headers = vec![("cf-connecting-ip".to_string(), "192.0.2.9".to_string())];
        let req = RequestParts {
            method: "GET",
            path,
            query: None,
            headers: &headers,
            origin: "https://edge.example",
            entropy: [1; 16],
            request_id: "rid",
        };
        let ports = Ports {
            store: &Nothing,
            documents: &Nothing,
            verifier: &NativeVerifier,
            authority: objects,
            now_ms: NOW * 1000,
        };
        now(g.decide(req, ports, UnixTime(NOW)))
    }

    fn decide(g: &Gateway<NativeKey>, path: &str, objects: Option<&Objects>) -> Decision {
        outcome(g, path, objects).decision
    }

    #[test]
    fn a_limited_route_forwards_the_limit_then_429s_with_the_fields_and_retry_after() {
        let g = gateway();
        let objects = Objects::new();
        for _ in 0..3 {
            match decide(&g, "/limited/x", Some(&objects)) {
                Decision::Forward { rate_limit, .. } => {
                    let fields = rate_limit.expect("forwarded with the fields");
                    assert_eq!(fields.0, "\"per-ip\";q=3;w=60");
                }
                other => panic!("{other:?}"),
            }
        }
        match decide(&g, "/limited/x", Some(&objects)) {
            Decision::Reject(p) => {
                assert_eq!(
                    (p.status, p.reason.as_str(), p.error),
                    (429, "limit_exceeded", Some("rate_limited"))
                );
                assert_eq!(
                    p.retry_after,
                    Some(60),
                    "until the window ends (the clock is at :00)"
                );
                let fields = p.rate_limit.expect("the fields on the 429");
                assert_eq!(fields.1, "\"per-ip\";r=0;t=60");
            }
            other => panic!("{other:?}"),
        }
        let calls = objects.calls.get();
        // A refusal is believed for a second: no call for the next requests.
        decide(&g, "/limited/x", Some(&objects));
        assert_eq!(objects.calls.get(), calls);
        // A route without limits: no fields, no call.
        match decide(&g, "/other", Some(&objects)) {
            Decision::Forward { rate_limit, .. } => assert!(rate_limit.is_none()),
            other => panic!("{other:?}"),
        }
        assert_eq!(objects.calls.get(), calls);
    }

    /// The hot path: with units leased, a limited request is decided on the first poll, with no
    /// object call (the objects here would never answer); the renewal is a follow-up.
    #[test]
    fn a_leased_request_is_decided_without_waiting_on_the_object() {
        let config = serde_json::json!({
            "origin": "https://origin.example",
            "routes": [{ "path": "/**", "auth": "public",
                "limits": [{ "name": "big", "limit": 1000000, "period_seconds": 3600, "by": "ip" }] }]
        });
        let g: Gateway<NativeKey> =
            Gateway::new(Config::from_json(&config.to_string(), &|_| None).unwrap());
        let objects = Objects::new();
        // Slow start: leases of 1, 2, 4, 8 … up to `max_lease`, renewals run as the adapter runs
        // them (answered at once here).
        for _ in 0..300 {
            let outcome = outcome(&g, "/x", Some(&objects));
            for f in outcome.followups {
                if let edge_auth::authn::Followup::RenewLeases(calls) = f {
                    let answers = now(objects.lease(&calls));
                    g.install_leases(&objects, &calls, objects.now_ms(), answers);
                }
            }
        }
        let warm = objects.calls.get();
        assert!(
            warm <= 12,
            "{warm} calls for 300 requests (leases of up to 100)"
        );
        objects.hang.set(true);
        let mut renewals = 0;
        for _ in 0..10 {
            // `outcome` panics if the decision waits.
            let outcome = outcome(&g, "/x", Some(&objects));
            assert!(matches!(outcome.decision, Decision::Forward { .. }));
            renewals += outcome
                .followups
                .iter()
                .filter(|f| matches!(f, edge_auth::authn::Followup::RenewLeases(_)))
                .count();
        }
        assert_eq!(objects.calls.get(), warm, "no call was awaited");
        // Renewals (when due) are follow-ups, run after the response; the simulation above
        // checks that they arrive ahead of need.
        assert!(renewals <= 1, "at most one renewal in flight per counter");
    }

    #[test]
    fn without_the_state_tier_a_limited_route_is_refused_not_forwarded() {
        let g = gateway();
        match decide(&g, "/limited/x", None) {
            Decision::Reject(p) => {
                assert_eq!((p.status, p.reason.as_str()), (500, "state_not_bound"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&g, "/other", None),
            Decision::Forward { .. }
        ));
    }

    #[test]
    fn an_unreachable_object_denies_or_counts_locally() {
        let g = gateway();
        let objects = Objects::new();
        objects.down.set(true);
        match decide(&g, "/limited/x", Some(&objects)) {
            Decision::Reject(p) => {
                assert_eq!((p.status, p.reason.as_str()), (503, "limits_unavailable"))
            }
            other => panic!("{other:?}"),
        }
        let local: Vec<u16> = (0..4)
            .map(|_| match decide(&g, "/local/x", Some(&objects)) {
                Decision::Forward { .. } => 200,
                Decision::Reject(p) => p.status,
                Decision::Own(_) => 0,
            })
            .collect();
        assert_eq!(
            local,
            [200, 200, 429, 429],
            "the local bucket at the same rate"
        );
    }
}
