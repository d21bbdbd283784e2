//! Rate limits and credits (issue #15) at the edges a review found (2026-12-02), each as one
//! named case of one isolate ([`LeaseBook`]) against the counter object ([`ObjectState`]) that
//! answers at once: one name defined differently on two routes; a refund call that is applied
//! but whose answer is lost; a refund sent on its own; a limit that would be named like the
//! credit balance; a cached refusal's Retry-After. Each case failed before its fix.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;

use edge_auth::limits::counter::{LeaseRules, ObjectState};
use edge_auth::limits::lease::{Admission, LeaseBook};
use edge_auth::limits::{
    plan, validate_limits, By, Charge, KeyQuota, LimitDef, OnUnavailable, Plan, Refill,
    StoredCredits, Subject, UsageSettings, Window,
};

const RULES: LeaseRules = LeaseRules {
    lease_ms: 10_000,
    max_lease: 100,
};

fn settings(charge: Charge) -> UsageSettings {
    UsageSettings {
        lease_ms: RULES.lease_ms,
        max_lease: RULES.max_lease,
        charge,
        ..UsageSettings::default()
    }
}

fn per_minute(name: &str, limit: u64) -> LimitDef {
    LimitDef {
        name: name.into(),
        limit,
        period_seconds: 60,
        by: By::Key,
        cost: None,
        window: Window::Fixed,
        strict: false,
        on_unavailable: OnUnavailable::Deny,
    }
}

fn key() -> Subject<'static> {
    Subject {
        key_id: Some("k1"),
        client_id: None,
        issuer: None,
        subject: Some("svc"),
        ip: None,
    }
}

fn credits(remaining: u64, refill: Option<Refill>) -> KeyQuota {
    KeyQuota {
        limits: Vec::new(),
        credits: Some(StoredCredits {
            remaining,
            refill,
            set_at: 1,
        }),
        meter: None,
    }
}

/// One request at `now`, the objects answering every call at once.
fn request(
    book: &LeaseBook,
    objects: &mut HashMap<String, ObjectState>,
    p: &Plan,
    now: u64,
) -> Admission {
    let mut asked = false;
    for _ in 0..4 {
        match book.admit(p, now, asked, true) {
            Admission::Need(calls, flight) => {
                asked = true;
                for (object, call) in &calls {
                    let reply = objects
                        .entry(object.clone())
                        .or_default()
                        .lease(call, now, RULES);
                    book.install(object, call, &reply, now, now);
                }
                drop(flight);
            }
            Admission::Admitted(ticket) => {
                for (object, call) in &ticket.renewals {
                    let reply = objects
                        .entry(object.clone())
                        .or_default()
                        .lease(call, now, RULES);
                    book.install(object, call, &reply, now, now);
                }
                return Admission::Admitted(ticket);
            }
            other => return other,
        }
    }
    panic!("no decision after four rounds")
}

fn admitted(
    book: &LeaseBook,
    objects: &mut HashMap<String, ObjectState>,
    p: &Plan,
    times: std::ops::Range<u64>,
) -> usize {
    times
        .filter(|&t| matches!(request(book, objects, p, t), Admission::Admitted(_)))
        .count()
}

#[test]
fn one_name_defined_twice_is_one_counter_but_two_leases() {
    let book = LeaseBook::new(settings(Charge::Always));
    let mut objects = HashMap::new();
    let cheap = plan(&[per_minute("rpm", 1_000)], 1, None, &key());
    let dear = plan(&[per_minute("rpm", 10)], 1, None, &key());
    // The cheap route's lease grows with use (it doubles per renewal).
    assert_eq!(admitted(&book, &mut objects, &cheap, 60_000..60_300), 300);
    // The counter holds the 300 (and what is leased): the dear route's 10 a minute are gone.
    // (Before: it spent from the cheap route's lease, 127 admitted in the same minute.)
    assert_eq!(admitted(&book, &mut objects, &dear, 60_400..60_600), 0);
    // In a minute of its own, the dear route gets its 10.
    let book = LeaseBook::new(settings(Charge::Always));
    let mut objects = HashMap::new();
    assert_eq!(admitted(&book, &mut objects, &dear, 120_000..120_200), 10);
}

#[test]
fn a_refund_sent_on_its_own_is_no_refusal() {
    let book = LeaseBook::new(settings(Charge::Success));
    let mut objects = HashMap::new();
    let quota = credits(
        1_000,
        Some(Refill {
            amount: 1_000,
            every_seconds: 3_600,
        }),
    );
    let p = plan(&[], 1, Some(&quota), &key());
    let Admission::Admitted(ticket) = request(&book, &mut objects, &p, 1_000) else {
        panic!("the first request")
    };
    // The origin answered 404: the credit goes back in a call of its own, answered after the
    // isolate's lease ran out.
    let (object, call) = book.settle(ticket.refund.as_ref().unwrap(), 404).unwrap();
    let reply = objects
        .get_mut(&object)
        .unwrap()
        .lease(&call, 12_000, RULES);
    book.install(&object, &call, &reply, 12_000, 12_000);
    // (Before: taken as a refusal, the next request was 429 credits_exhausted for the hour.)
    let next = request(&book, &mut objects, &p, 12_010);
    assert!(
        matches!(next, Admission::Admitted(_)),
        "about 1,000 credits left: {next:?}"
    );
}

#[test]
fn a_refund_whose_answer_is_lost_is_not_given_twice() {
    let book = LeaseBook::new(settings(Charge::Success));
    let mut objects = HashMap::new();
    let quota = credits(1, None);
    let p = plan(&[], 1, Some(&quota), &key());
    let Admission::Admitted(ticket) = request(&book, &mut objects, &p, 1_000) else {
        panic!("the first request")
    };
    let (object, call) = book.settle(ticket.refund.as_ref().unwrap(), 500).unwrap();
    // The object applies the refund; its answer is lost (the call times out).
    let _ = objects.get_mut(&object).unwrap().lease(&call, 1_010, RULES);
    book.failed(&object, &call, 3_010);
    // One credit is back: one more request, not two.
    assert_eq!(admitted(&book, &mut objects, &p, 5_000..5_010), 1);
}

#[test]
fn no_limit_may_be_named_like_the_credit_balance() {
    let err = validate_limits(&[per_minute("credits", 10)], 1).unwrap_err();
    assert!(err.to_string().contains("[0].name"), "{err}");
    assert!(validate_limits(&[per_minute("credits2", 10)], 1).is_ok());
}

#[test]
fn a_cached_refusal_counts_its_retry_after_down() {
    let book = LeaseBook::new(settings(Charge::Always));
    let mut objects = HashMap::new();
    let p = plan(&[per_minute("rpm", 2)], 1, None, &key());
    // The minute from 60 s: two pass; the rest is refused until 120 s.
    assert_eq!(admitted(&book, &mut objects, &p, 60_000..60_002), 2);
    let mut retry_after = |now| match request(&book, &mut objects, &p, now) {
        Admission::Refused(r) => r.retry_after,
        other => panic!("{other:?}"),
    };
    assert_eq!(retry_after(100_500), Some(20), "19.5 s, rounded up");
    // 0.9 s later the refusal is still cached, and says 18.6 s (before: 19.5 s again).
    assert_eq!(retry_after(101_400), Some(19));
}
