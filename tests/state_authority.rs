//! The authority's runner over in-memory tables (issue #14): what each call writes, audits and
//! publishes; sticky terminal states in every order of roll and revoke; a failing table rolls
//! the whole call back; principal and token revocation end up in the feed; the view built from
//! that feed refuses what was revoked.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support_store;

use edge_auth::reason::Reason;
use std::cell::Cell;

use edge_auth::admin::{AdminCaller, AdminReply};
use edge_auth::config::Config;
use edge_auth::identity::{CredentialKind, Identity};
use edge_auth::keys::KeyAuthenticator;
use edge_auth::ports::StoreError;
use edge_auth::state::authority::{run, Applied, AuthorityCall};
use edge_auth::state::feed::ViewRefusal;
use edge_auth::state::{
    Actor, AuditEvent, AuditFilter, AuditPage, FeedDocument, FeedEntry, RevocationSettings,
    RevocationView, StateLog,
};
use edge_auth::time::UnixTime;
use serde_json::{json, Value};
use support_store::MemoryStore;

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://issuer.test";
/// The largest leeway an issuer may set: a token verifies up to that long past its `exp`.
const MAX_LEEWAY: u64 = 300;

/// The audit and feed tables, in memory; `fail_audit` makes appends fail.
#[derive(Default)]
struct MemoryLog {
    audit: Vec<AuditEvent>,
    feed: Vec<(FeedEntry, u64)>,
    fail_audit: Cell<bool>,
}

impl StateLog for MemoryLog {
    fn append_audit(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        if self.fail_audit.get() {
            return Err(StoreError::Unavailable);
        }
        self.audit.push(event.clone());
        Ok(())
    }
    fn append_feed(&mut self, entry: &FeedEntry, until: u64) -> Result<(), StoreError> {
        self.feed.push((entry.clone(), until));
        Ok(())
    }
    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        let mut rows: Vec<(u64, &AuditEvent)> = self
            .audit
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, e))
            .filter(|(seq, e)| {
                before.is_none_or(|b| *seq < b)
                    && match filter {
                        AuditFilter::All => true,
                        AuditFilter::OwnPats { issuer, subject } => {
                            e.kind.map(|k| k.as_str()) == Some("pat")
                                && e.subject.as_deref() == Some(subject)
                                && e.issuer.as_deref() == Some(issuer)
                        }
                    }
            })
            .collect();
        rows.reverse();
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(AuditPage {
            cursor: if more { rows.last().map(|r| r.0) } else { None },
            events: rows.into_iter().map(|r| r.1.clone()).collect(),
        })
    }
}

struct Authority {
    config: Config,
    keys: KeyAuthenticator,
    store: MemoryStore,
    log: MemoryLog,
    seed: u8,
}

impl Authority {
    fn new() -> Self {
        let config = Config::from_json(
            &json!({
                "issuers": [{ "issuer": ISSUER, "jwks_uri": "https://issuer.test/jwks", "audiences": ["api"], "algorithms": ["ES256"] }],
                "routes": [{ "path": "/**" }]
            })
            .to_string(),
            &|_| None,
        )
        .unwrap();
        let keys = KeyAuthenticator::new(config.keys.clone());
        Authority {
            config,
            keys,
            store: MemoryStore::new(),
            log: MemoryLog::default(),
            seed: 0,
        }
    }

    fn call(
        &mut self,
        caller: AdminCaller,
        method: &str,
        path: &str,
        body: Value,
        now: u64,
    ) -> Applied {
        self.seed = self.seed.wrapping_add(1);
        let seed = self.seed;
        // A small xorshift per call: distinct tokens and ids, reproducibly.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(seed);
        let mut fill = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x >> 24) as u8;
            }
            Ok(())
        };
        let actor = match &caller {
            AdminCaller::Admin => Actor::AdminToken,
            AdminCaller::User {
                issuer, subject, ..
            } => Actor::User {
                issuer: issuer.clone(),
                subject: subject.clone(),
            },
            AdminCaller::Anonymous => Actor::Anonymous,
        };
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path.to_string(), None),
        };
        let call = AuthorityCall::Admin {
            method: method.into(),
            path,
            query,
            body: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
            caller,
            actor,
            request_id: format!("rid-{seed}"),
            ip: Some("203.0.113.1".into()),
        };
        futures_now(run(
            call,
            &self.config,
            &self.keys,
            &self.store,
            &mut self.log,
            UnixTime(now),
            &mut fill,
        ))
    }

    fn admin(&mut self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let applied = self.call(AdminCaller::Admin, method, path, body, NOW);
        assert!(applied.commit, "{:?}", applied.reply);
        reply(applied.reply)
    }

    fn create(&mut self, subject: &str) -> Value {
        let (status, body) = self.admin(
            "POST",
            "/keys",
            json!({"kind": "api_key", "subject": subject, "name": "k", "scopes": []}),
        );
        assert_eq!(status, 201, "{body}");
        body
    }

    fn status_of(&mut self, id: &str) -> String {
        let (_, body) = self.admin("GET", &format!("/keys/{id}"), Value::Null);
        body["status"].as_str().unwrap().to_string()
    }

    fn view(&self) -> RevocationView {
        self.view_at(NOW)
    }

    /// The view an isolate builds from the feed the authority serves at `now` (entries kept
    /// while `until > now`).
    fn view_at(&self, now: u64) -> RevocationView {
        let view = RevocationView::new(RevocationSettings::default());
        let entries = self
            .log
            .feed
            .iter()
            .filter(|(_, until)| *until > now)
            .map(|(e, _)| e.clone())
            .collect();
        view.install(
            FeedDocument {
                epoch: "e".into(),
                head: self.log.feed.len() as u64,
                overflow: false,
                entries,
            },
            0,
        );
        view
    }
}

fn reply(r: AdminReply) -> (u16, Value) {
    match r {
        AdminReply::Json { status, body } => (status, body),
        AdminReply::NoContent => (204, Value::Null),
        AdminReply::Problem(p) => (p.status, json!({"reason": p.reason, "detail": p.detail})),
    }
}

/// Every table call is synchronous: the runner completes in one poll, as in the object.
fn futures_now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the runner waited: it would break the transaction"),
    }
}

fn key_identity(id: &str, subject: &str) -> Identity {
    Identity::for_tests(
        CredentialKind::ApiKey,
        subject,
        &[],
        None,
        None,
        Some(id),
        None,
        None,
    )
}

#[test]
fn every_mutation_is_audited_with_its_actor_and_published_in_the_feed() {
    let mut a = Authority::new();
    let key = a.create("svc");
    let id = key["id"].as_str().unwrap();
    let (status, rolled) = a.admin(
        "POST",
        &format!("/keys/{id}/roll"),
        json!({"grace_seconds": 60}),
    );
    assert_eq!(status, 201);
    let (status, _) = a.admin("DELETE", &format!("/keys/{id}"), Value::Null);
    assert_eq!(status, 204);

    let actions: Vec<&str> = a.log.audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.create", "key.roll", "key.revoke"]);
    let roll = &a.log.audit[1];
    assert_eq!(roll.actor, Actor::AdminToken);
    assert_eq!(roll.key_id.as_deref(), Some(id));
    assert_eq!(roll.detail.as_ref().unwrap()["new_key_id"], rolled["id"]);
    assert_eq!(roll.ip.as_deref(), Some("203.0.113.1"));
    // Created keys are announced by a digest prefix; the revoked id takes effect at once.
    assert!(a
        .log
        .feed
        .iter()
        .any(|(e, _)| matches!(e, FeedEntry::Created { .. })));
    let view = a.view();
    assert_eq!(
        view.check(&key_identity(id, "svc"), Some(NOW), NOW, 0),
        Err(ViewRefusal::Revoked(Reason::KeyRevoked))
    );
    let text = serde_json::to_string(&a.log.audit).unwrap();
    assert!(
        !text.contains(key["token"].as_str().unwrap()),
        "never the token"
    );
}

#[test]
fn revoked_is_sticky_in_both_orders_of_roll_and_revoke() {
    let mut a = Authority::new();
    // revoke, then roll: the roll is refused and writes nothing.
    let key = a.create("s1");
    let id = key["id"].as_str().unwrap().to_string();
    assert_eq!(
        a.admin("DELETE", &format!("/keys/{id}"), Value::Null).0,
        204
    );
    let writes = a.store.writes.get();
    let (status, body) = a.admin(
        "POST",
        &format!("/keys/{id}/roll"),
        json!({"grace_seconds": 600}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(a.store.writes.get(), writes, "nothing written");
    assert_eq!(a.status_of(&id), "revoked");

    // roll, then revoke: the old key is revoked whatever its grace.
    let key = a.create("s2");
    let id = key["id"].as_str().unwrap().to_string();
    assert_eq!(
        a.admin(
            "POST",
            &format!("/keys/{id}/roll"),
            json!({"grace_seconds": 600})
        )
        .0,
        201
    );
    assert_eq!(a.status_of(&id), "active", "within its grace");
    assert_eq!(
        a.admin("DELETE", &format!("/keys/{id}"), Value::Null).0,
        204
    );
    assert_eq!(a.status_of(&id), "revoked");
    // Revoking again changes and records nothing.
    let audited = a.log.audit.len();
    assert_eq!(
        a.admin("DELETE", &format!("/keys/{id}"), Value::Null).0,
        204
    );
    assert_eq!(a.log.audit.len(), audited);
}

#[test]
fn a_failure_anywhere_rolls_the_call_back() {
    let mut a = Authority::new();
    a.log.fail_audit.set(true);
    let applied = a.call(
        AdminCaller::Admin,
        "POST",
        "/keys",
        json!({"kind": "api_key", "subject": "x", "name": "k", "scopes": []}),
        NOW,
    );
    assert!(
        !applied.commit,
        "the shell must roll back what the handler wrote"
    );
    assert_eq!(reply(applied.reply).0, 503);
    a.log.fail_audit.set(false);
    a.store.failing.set(true);
    let applied = a.call(AdminCaller::Admin, "GET", "/keys", Value::Null, NOW);
    assert!(!applied.commit);
    assert_eq!(reply(applied.reply).0, 503);
}

#[test]
fn principal_revocation_revokes_the_principals_keys_and_publishes_a_cut_off() {
    let mut a = Authority::new();
    let k1 = a.create("alice");
    let k2 = a.create("alice");
    let other = a.create("bob");
    let (status, body) = a.admin("POST", "/principals/revoke", json!({"subject": "alice"}));
    assert_eq!(status, 200, "{body}");
    let mut revoked: Vec<String> = body["revoked_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    revoked.sort();
    let mut want = vec![
        k1["id"].as_str().unwrap().to_string(),
        k2["id"].as_str().unwrap().to_string(),
    ];
    want.sort();
    assert_eq!(revoked, want);
    assert_eq!(a.status_of(other["id"].as_str().unwrap()), "active");
    let audit: Vec<&str> = a.log.audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        audit.last(),
        Some(&"principal.revoke"),
        "one row for the principal"
    );
    assert!(a.log.feed.iter().any(
        |(e, until)| matches!(e, FeedEntry::Principal { sub, iss: None, .. } if sub == "alice")
            && *until >= NOW + 86_400
    ));

    // A JWT principal: every JWT of (issuer, subject) issued at or before the cut-off.
    let (status, _) = a.admin(
        "POST",
        "/principals/revoke",
        json!({"issuer": ISSUER, "subject": "carol"}),
    );
    assert_eq!(status, 200);
    let view = a.view();
    let jwt = |iat: u64| {
        Identity::for_tests(
            CredentialKind::Jwt,
            "carol",
            &[],
            Some(ISSUER),
            None,
            None,
            None,
            Some(&format!(r#"{{"iat":{iat}}}"#)),
        )
    };
    assert_eq!(
        view.check(&jwt(NOW), None, NOW, 0),
        Err(ViewRefusal::Revoked(Reason::PrincipalRevoked))
    );
    assert_eq!(view.check(&jwt(NOW + 1), None, NOW + 1, 0), Ok(()));

    let (status, body) = a.admin(
        "POST",
        "/principals/revoke",
        json!({"issuer": "https://unknown", "subject": "x"}),
    );
    assert_eq!(status, 400, "{body}");
}

/// A key record of subject "alice" made two hours before `NOW`, live for another hour.
fn alice_record(
    id: &str,
    kind: edge_auth::keys::KeyKind,
    issuer: Option<&str>,
    revoked: bool,
) -> edge_auth::keys::KeyRecord {
    let mut record = support_store::record(
        id,
        kind,
        issuer,
        "alice",
        NOW - 7_200,
        NOW + 3_600,
        revoked.then_some(NOW - 3_600),
    );
    record.scopes.clear();
    record
}

#[test]
fn a_principal_revocation_reads_only_the_keys_it_may_revoke() {
    use edge_auth::keys::{KeyKind, KeyRecord, KeyRepository, TokenDigest};
    let mut a = Authority::new();
    let record = alice_record;
    // 1,000 of alice@ISSUER's PATs revoked before; live: three of hers, one PAT of another
    // issuer's alice, one API key of subject "alice" (the principal (none, alice)).
    let mut keys: Vec<KeyRecord> = (0..1_000)
        .map(|i| record(&format!("pat_gone{i:04}"), KeyKind::Pat, Some(ISSUER), true))
        .collect();
    for i in 0..3 {
        keys.push(record(
            &format!("pat_live{i}"),
            KeyKind::Pat,
            Some(ISSUER),
            false,
        ));
    }
    keys.push(record(
        "pat_other",
        KeyKind::Pat,
        Some("https://other.test"),
        false,
    ));
    keys.push(record("key_alice", KeyKind::ApiKey, None, false));
    for key in &keys {
        futures_now(KeyRepository::new(&a.store).write_key(&TokenDigest::of(&key.id), key))
            .unwrap();
    }
    let revoke = |a: &mut Authority| {
        let reads = a.store.reads.get();
        let (status, body) = a.admin(
            "POST",
            "/principals/revoke",
            json!({ "issuer": ISSUER, "subject": "alice" }),
        );
        assert_eq!(status, 200, "{body}");
        (body, a.store.reads.get() - reads)
    };
    let (first, reads) = revoke(&mut a);
    let mut ids: Vec<&str> = first["revoked_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["pat_live0", "pat_live1", "pat_live2"]);
    // Two reads per live key of hers and one per summary rewritten, not 2,010 (every key).
    assert!(reads <= 12, "{reads} reads");
    // Called again (as after a store error halfway): nothing read, nothing revoked.
    let (again, reads) = revoke(&mut a);
    assert_eq!(again["revoked_keys"], json!([]));
    assert_eq!(reads, 0);
    assert_eq!(a.status_of("pat_other"), "active");
    assert_eq!(a.status_of("key_alice"), "active");
}

#[test]
fn a_rolled_key_is_not_rolled_again_its_successor_is() {
    let mut a = Authority::new();
    let key = a.create("svc");
    let id = key["id"].as_str().unwrap().to_string();
    let roll = |a: &mut Authority, id: &str| {
        a.admin(
            "POST",
            &format!("/keys/{id}/roll"),
            json!({"grace_seconds": 3600}),
        )
    };
    let (s, first) = roll(&mut a, &id);
    assert_eq!(s, 201, "{first}");
    // A retry, or a second roll during the grace: refused, naming the successor.
    let (s, again) = roll(&mut a, &id);
    assert_eq!(
        (s, again["reason"].as_str()),
        (409, Some("not_active")),
        "{again}"
    );
    let successor = first["id"].as_str().unwrap();
    assert!(
        again["detail"].as_str().unwrap().contains(successor),
        "{again}"
    );
    assert_eq!(a.status_of(&id), "active", "still within its grace");
    // The successor rolls as any key does.
    let (s, second) = roll(&mut a, successor);
    assert_eq!(s, 201, "{second}");
}

#[test]
fn an_imported_key_is_bound_by_the_lifetimes_a_new_one_has() {
    let mut a = Authority::new();
    let max = a.config.keys.pat_max_lifetime_seconds;
    let import = |a: &mut Authority, kind: &str, expires_at: u64, hash: &str| {
        a.admin(
            "POST",
            "/keys/import",
            json!({"keys": [{ "hash": hash.repeat(32), "kind": kind, "subject": "alice",
                "name": "x", "scopes": ["admin"], "expires_at": expires_at }]}),
        )
    };
    let (s, body) = import(&mut a, "pat", NOW + 100 * 365 * 86_400, "ab");
    assert_eq!(s, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("keys[0].expires_at"),
        "{body}"
    );
    let (s, body) = import(&mut a, "api_key", NOW + 11 * 365 * 86_400, "ac");
    assert_eq!(s, 400, "{body}");
    let (s, body) = import(&mut a, "pat", NOW + max, "ad");
    assert_eq!(s, 200, "{body}");
}

fn alice() -> AdminCaller {
    AdminCaller::User {
        issuer: ISSUER.into(),
        subject: "alice".into(),
        scopes: vec!["read".into()],
    }
}

#[test]
fn a_users_audit_view_shows_their_pats_events_but_not_where_an_admin_acted_from() {
    use edge_auth::keys::{KeyKind, KeyRepository, TokenDigest};
    let mut a = Authority::new();
    // The admin makes alice a PAT; alice revokes one stored before PATs had an issuer (it is
    // hers: one issuer is configured).
    let (s, _) = a.admin(
        "POST",
        "/keys",
        json!({"kind": "pat", "subject": "alice", "name": "p", "expires_in": 3600}),
    );
    assert_eq!(s, 201);
    let legacy = alice_record("key_legacy1", KeyKind::Pat, None, false);
    futures_now(KeyRepository::new(&a.store).write_key(&TokenDigest::of("legacy"), &legacy))
        .unwrap();
    let (s, b) = reply(
        a.call(alice(), "DELETE", "/pats/key_legacy1", Value::Null, NOW)
            .reply,
    );
    assert_eq!(s, 204, "{b}");
    let (s, page) = reply(a.call(alice(), "GET", "/audit", Value::Null, NOW).reply);
    assert_eq!(s, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["pat.revoke", "pat.create"],
        "her own revocation of the old PAT too"
    );
    // Her own event keeps where she acted from; the admin's does not show it.
    assert_eq!(events[0]["ip"], "203.0.113.1");
    assert!(events[1].get("ip").is_none(), "{}", events[1]);
    assert_eq!(events[1]["actor"]["type"], "admin_token");
    // The admin still sees it.
    let (_, all) = a.admin("GET", "/audit", Value::Null);
    assert!(all["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ip"] == "203.0.113.1"));
}

#[test]
fn token_revocation_lasts_until_its_exp_and_users_see_only_their_own_pat_events() {
    let mut a = Authority::new();
    let (status, _) = a.admin(
        "POST",
        "/tokens/revoke",
        json!({"issuer": ISSUER, "jti": "t1", "exp": NOW + 100}),
    );
    assert_eq!(status, 200);
    assert!(a.log.feed.iter().any(
        |(e, until)| matches!(e, FeedEntry::Token { jti, .. } if jti == "t1")
            && *until == NOW + 100 + MAX_LEEWAY
    ));
    let (_, expired) = a.admin(
        "POST",
        "/tokens/revoke",
        json!({"issuer": ISSUER, "jti": "t0", "exp": NOW - MAX_LEEWAY}),
    );
    assert_eq!(expired["already_expired"], true);

    let user = |sub: &str| AdminCaller::User {
        issuer: ISSUER.into(),
        subject: sub.into(),
        scopes: vec!["read".into()],
    };
    let body = json!({"name": "mine", "scopes": ["read"], "expires_in": 3600});
    assert!(
        a.call(user("dana"), "POST", "/pats", body.clone(), NOW)
            .commit
    );
    assert!(a.call(user("erin"), "POST", "/pats", body, NOW).commit);
    let (status, page) = reply(
        a.call(user("dana"), "GET", "/audit", Value::Null, NOW)
            .reply,
    );
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["action"], "pat.create");
    assert_eq!(
        events[0]["actor"],
        json!({"type": "user", "issuer": ISSUER, "subject": "dana"})
    );
    // An anonymous caller gets nothing; a user cannot revoke principals.
    assert_eq!(
        reply(
            a.call(AdminCaller::Anonymous, "GET", "/audit", Value::Null, NOW)
                .reply
        )
        .0,
        401
    );
    assert_eq!(
        reply(
            a.call(
                user("dana"),
                "POST",
                "/principals/revoke",
                json!({"subject": "x"}),
                NOW
            )
            .reply
        )
        .0,
        403
    );

    // Pages: newest first, cursor until the end.
    let (_, first) = a.admin("GET", "/audit?limit=2", Value::Null);
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let cursor = first["cursor"].as_str().unwrap();
    let (_, rest) = a.admin(
        "GET",
        &format!("/audit?limit=10&cursor={cursor}"),
        Value::Null,
    );
    // token.revoke (t1; the expired t0 records nothing) and two pat.create: 2 + 1.
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["action"], "token.revoke");
    assert!(rest.get("cursor").is_none());
    assert_eq!(a.admin("GET", "/audit?cursor=abc", Value::Null).0, 400);
}

fn jwt_identity(jti: &str) -> Identity {
    Identity::for_tests(
        CredentialKind::Jwt,
        "bob",
        &[],
        Some(ISSUER),
        None,
        None,
        None,
        Some(&format!(r#"{{"jti":"{jti}","iat":{NOW}}}"#)),
    )
}

#[test]
fn a_revoked_token_stays_refused_through_the_leeway_past_its_exp() {
    let mut a = Authority::new();
    let (status, body) = a.admin(
        "POST",
        "/tokens/revoke",
        json!({"issuer": ISSUER, "jti": "t-soon", "exp": NOW + 10}),
    );
    assert_eq!(
        (status, body["already_expired"].clone()),
        (200, json!(false))
    );
    // At NOW + 30 a token with `exp` NOW + 10 and a leeway of 60 still verifies
    // (`now < exp + leeway`): the feed the authority serves then must still list it.
    let later = NOW + 30;
    let view = a.view_at(later);
    assert_eq!(
        view.check(&jwt_identity("t-soon"), None, later, 0),
        Err(ViewRefusal::Revoked(Reason::TokenRevoked))
    );
    assert_eq!(
        a.view_at(NOW + 10 + MAX_LEEWAY).check(
            &jwt_identity("t-soon"),
            None,
            NOW + 10 + MAX_LEEWAY,
            0
        ),
        Ok(()),
        "dropped once no leeway accepts the token"
    );

    // Past `exp` but within the leeway: recorded, not "already expired".
    let (status, body) = a.admin(
        "POST",
        "/tokens/revoke",
        json!({"issuer": ISSUER, "jti": "t-late", "exp": NOW - 10}),
    );
    assert_eq!(
        (status, body["already_expired"].clone()),
        (200, json!(false))
    );
    assert!(a.log.feed.iter().any(
        |(e, until)| matches!(e, FeedEntry::Token { jti, .. } if jti == "t-late")
            && *until == NOW - 10 + MAX_LEEWAY
    ));
    assert_eq!(
        a.view().check(&jwt_identity("t-late"), None, NOW, 0),
        Err(ViewRefusal::Revoked(Reason::TokenRevoked))
    );
}

#[test]
fn failed_admin_authentication_is_one_audit_row_for_many() {
    let mut a = Authority::new();
    let call = AuthorityCall::AuthFailed {
        request_id: "r".into(),
        ip: Some("198.51.100.2".into()),
        reason: "bad_admin_token".into(),
        count: 7,
    };
    let mut fill = |b: &mut [u8]| {
        b.fill(1);
        Ok(())
    };
    let applied = futures_now(run(
        call,
        &a.config,
        &a.keys,
        &a.store,
        &mut a.log,
        UnixTime(NOW),
        &mut fill,
    ));
    assert!(applied.commit);
    let e = a.log.audit.last().unwrap();
    assert_eq!(e.action, "admin.auth_failed");
    assert_eq!(e.actor, Actor::Anonymous);
    assert_eq!(e.detail.as_ref().unwrap()["count"], 7);
}

/// The view an isolate holds before the feed lists anything.
fn empty_view() -> RevocationView {
    let empty = RevocationView::new(RevocationSettings::default());
    empty.install(
        FeedDocument {
            epoch: "e".into(),
            head: 0,
            overflow: false,
            entries: vec![],
        },
        0,
    );
    empty
}

/// An authority that answers records from the authority's tables, with its own clock at the
/// read (`read_at`, Unix seconds), and counts the calls.
struct CountingAuthority<'a> {
    store: &'a MemoryStore,
    calls: Cell<usize>,
    read_at: u64,
}

impl edge_auth::ports::Authority for CountingAuthority<'_> {
    async fn record(
        &self,
        kv_key: &str,
    ) -> Result<Option<edge_auth::ports::AuthorityRecord>, StoreError> {
        self.calls.set(self.calls.get() + 1);
        Ok(self.store.data.borrow().get(kv_key).cloned().map(|text| {
            edge_auth::ports::AuthorityRecord {
                text,
                read_at: Some(UnixTime(self.read_at)),
            }
        }))
    }

    async fn lease(
        &self,
        calls: &edge_auth::limits::lease::Calls,
    ) -> Vec<Result<edge_auth::limits::LeaseReply, StoreError>> {
        calls.iter().map(|_| Err(StoreError::Unavailable)).collect()
    }

    fn now_ms(&self) -> u64 {
        0
    }

    async fn pause(&self, _ms: u32) {}
}

#[test]
fn a_scope_change_reaches_cached_copies_through_the_feed_with_one_authority_read() {
    use edge_auth::keys::Recent;
    let mut a = Authority::new();
    let key = a.create("svc");
    let id = key["id"].as_str().unwrap().to_string();
    let token = key["token"].as_str().unwrap().to_string();
    let (status, _) = a.admin(
        "PATCH",
        &format!("/keys/{id}"),
        json!({"scopes": ["read", "write"]}),
    );
    assert_eq!(status, 200);

    // An isolate that cached the key before the change (its KV still says no scopes).
    let stale = MemoryStore::new();
    let digest = edge_auth::keys::TokenDigest::of(&token);
    let old = a
        .store
        .data
        .borrow()
        .get(&edge_auth::keys::repository::record_key(&digest))
        .unwrap()
        .replace(r#""scopes":["read","write"]"#, r#""scopes":[]"#);
    stale
        .data
        .borrow_mut()
        .insert(edge_auth::keys::repository::record_key(&digest), old);
    let keys = KeyAuthenticator::new(a.config.keys.clone());
    let authority = CountingAuthority {
        store: &a.store,
        calls: Cell::new(0),
        read_at: NOW + 1,
    };
    let empty = empty_view();
    // The feed reaches an isolate after the change's second (the feed is cached 2 s per
    // location): the reads are at NOW + 1. A read in the change's own second would be repeated
    // (a_second_scope_change_in_the_same_second_is_seen_by_an_isolate_that_read_between).
    let auth = |view| {
        futures_now(keys.authenticate(
            &stale,
            Some(Recent {
                view,
                authority: &authority,
            }),
            &token,
            None,
            None,
            UnixTime(NOW + 1),
        ))
        .unwrap()
        .identity
        .scopes()
        .to_vec()
    };
    assert_eq!(
        auth(&empty),
        Vec::<String>::new(),
        "before the feed says so: the stale copy"
    );
    let view = a.view();
    assert_eq!(
        auth(&view),
        ["read", "write"],
        "the feed's Changed entry: read from the authority"
    );
    assert_eq!(auth(&view), ["read", "write"]);
    assert_eq!(
        authority.calls.get(),
        1,
        "once per isolate, then cached as confirmed"
    );

    // Audit: one key.update naming the fields; a name-only change publishes nothing.
    let update = a
        .log
        .audit
        .iter()
        .find(|e| e.action == "key.update")
        .unwrap();
    assert_eq!(update.detail.as_ref().unwrap()["fields"], json!(["scopes"]));
    let feed_len = a.log.feed.len();
    let (status, body) = a.admin("PATCH", &format!("/keys/{id}"), json!({"name": "renamed"}));
    assert_eq!((status, body["name"].as_str()), (200, Some("renamed")));
    assert_eq!(a.log.feed.len(), feed_len, "a new name changes no verdict");
    let (status, body) = a.admin(
        "PATCH",
        &format!("/keys/{id}"),
        json!({"limits": [{"name": "m", "limit": 0, "period_seconds": 60, "by": "key"}]}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("\"limits[0].limit\""),
        "{body}"
    );
    assert_eq!(a.log.feed.len(), feed_len, "nothing written");
    assert_eq!(a.admin("PATCH", &format!("/keys/{id}"), json!({})).0, 400);
    assert_eq!(
        a.admin("PATCH", "/keys/key_nope", json!({"name": "x"})).0,
        404
    );
}

/// Scopes of `token` as an isolate with `keys` (its cache), KV `kv` and `view` sees them at
/// `now`, counting authority reads in `calls`, while the authority's clock reads `authority_now`.
#[allow(clippy::too_many_arguments)]
fn scopes_seen_skewed(
    keys: &KeyAuthenticator,
    kv: &MemoryStore,
    view: &RevocationView,
    authority: &MemoryStore,
    calls: &Cell<usize>,
    token: &str,
    now: u64,
    authority_now: u64,
) -> Vec<String> {
    let counting = CountingAuthority {
        store: authority,
        calls: Cell::new(0),
        read_at: authority_now,
    };
    let seen = futures_now(keys.authenticate(
        kv,
        Some(edge_auth::keys::Recent {
            view,
            authority: &counting,
        }),
        token,
        None,
        None,
        UnixTime(now),
    ))
    .unwrap()
    .identity
    .scopes()
    .to_vec();
    calls.set(calls.get() + counting.calls.get());
    seen
}

/// A key `svc` whose record an isolate's KV keeps as it was made (`stale`), an empty view (the
/// feed before any change), the isolate's key cache, and a PATCH of the key's scopes.
struct StaleIsolate {
    id: String,
    token: String,
    stale: MemoryStore,
    keys: KeyAuthenticator,
    empty: RevocationView,
}

impl StaleIsolate {
    fn new(a: &mut Authority) -> Self {
        let key = a.create("svc");
        let id = key["id"].as_str().unwrap().to_string();
        let token = key["token"].as_str().unwrap().to_string();
        let record_key =
            edge_auth::keys::repository::record_key(&edge_auth::keys::TokenDigest::of(&token));
        let stale = MemoryStore::new();
        let old = a.store.data.borrow().get(&record_key).unwrap().clone();
        stale.data.borrow_mut().insert(record_key, old);
        let empty = empty_view();
        StaleIsolate {
            id,
            token,
            stale,
            keys: KeyAuthenticator::new(a.config.keys.clone()),
            empty,
        }
    }

    /// The scopes this isolate sees with `view` at `now`, the authority's clock at
    /// `authority_now` (reads counted in `calls`).
    fn seen(
        &self,
        a: &Authority,
        view: &RevocationView,
        calls: &Cell<usize>,
        now: u64,
        authority_now: u64,
    ) -> Vec<String> {
        scopes_seen_skewed(
            &self.keys,
            &self.stale,
            view,
            &a.store,
            calls,
            &self.token,
            now,
            authority_now,
        )
    }

    fn patch(&self, a: &mut Authority, scopes: Value) {
        let (status, body) = a.admin(
            "PATCH",
            &format!("/keys/{}", self.id),
            json!({ "scopes": scopes }),
        );
        assert_eq!(status, 200, "{body}");
    }
}

/// Two scope changes in one second (by the authority's clock, `NOW`), seen by an isolate whose
/// clock reads `NOW + ahead`: it holds the KV copy from before both, reads the record after the
/// first (one authority call) and, because that read was in the change's own second by the
/// authority's clock, reads again after the second. The isolate, its cache and the count are
/// returned for what the caller checks next.
fn two_changes_in_one_second(ahead: u64) -> (Authority, StaleIsolate, Cell<usize>) {
    let mut a = Authority::new();
    // The isolate's KV keeps the copy from before both changes.
    let isolate = StaleIsolate::new(&mut a);
    let calls = Cell::new(0);
    let now = NOW + ahead;
    // The isolate holds the KV copy (read before the feed listed anything).
    assert!(isolate
        .seen(&a, &isolate.empty, &calls, now, NOW)
        .is_empty());
    assert_eq!(calls.get(), 0);

    isolate.patch(&mut a, json!(["read"]));
    let view = a.view();
    assert_eq!(
        isolate.seen(&a, &view, &calls, now, NOW),
        ["read"],
        "the first change: read from the authority"
    );
    assert_eq!(calls.get(), 1);

    // A second change in the same second: its Changed entry has the same `at`.
    isolate.patch(&mut a, json!(["read", "write"]));
    let view = a.view();
    assert_eq!(
        isolate.seen(&a, &view, &calls, now, NOW),
        ["read", "write"],
        "a read in the change's second (the authority's clock) cannot prove it followed the change: read again"
    );
    assert_eq!(calls.get(), 2);
    (a, isolate, calls)
}

#[test]
fn a_second_scope_change_in_the_same_second_is_seen_by_an_isolate_that_read_between() {
    let (a, isolate, calls) = two_changes_in_one_second(0);
    let view = a.view();
    // Bounded: a read made in a later second than the change is trusted.
    for _ in 0..3 {
        assert_eq!(
            isolate.seen(&a, &view, &calls, NOW + 1, NOW + 1),
            ["read", "write"]
        );
    }
    assert_eq!(
        calls.get(),
        3,
        "one more read (in a later second), then the cache"
    );
}

/// A change's time and a read's confirmation are judged on the authority's clock. An isolate
/// whose clock runs 2 s ahead reads the record in the change's own second (by the authority's
/// clock); a second change follows in that second. By its own clock the read came 2 s after
/// both changes, so it would trust its copy and miss the second change; by the authority's it
/// cannot tell, and reads again.
#[test]
fn an_isolate_clock_ahead_of_the_authority_does_not_confirm_a_read_made_before_a_change() {
    two_changes_in_one_second(2);
}
