//! Who may call the admin API, as `Gateway::admin` resolves it, natively with the fakes: the
//! admin token, a JWT carrying the admin scope, a user JWT without it (PAT self-service on its own
//! principal only), and key-shaped credentials presented to the admin API. Each refusal is checked
//! for its status and reason, and for the KV reads and JWKS fetches it did (not) cost.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "support_jwt/mod.rs"]
mod support_jwt;
#[path = "support_store/mod.rs"]
mod support_store;

use edge_auth::admin::{AdminCaller, AdminReply, AdminRequest};
use edge_auth::authn::{Gateway, Ports};
use edge_auth::config::Config;
use edge_auth::jwt::NativeKey;
use edge_auth::state::feed::FeedDocument;
use edge_auth::state::FeedEntry;
use edge_auth::time::UnixTime;
use serde_json::{json, Value};
use support_jwt::{CountingVerifier, EdKey, ScriptedSource, AUD, ISS, JWKS_URL};
use support_store::MemoryStore;

const NOW: u64 = 1_900_000_000;
const ADMIN_TOKEN: &str = "admin-token-for-the-caller-tests-0123456789";
const ADMIN_SCOPE: &str = "edge:admin";
const IP: &str = "198.51.100.7";

fn config() -> Value {
    json!({
        "origin": "https://origin.internal",
        "issuers": [{
            "issuer": ISS, "jwks_uri": JWKS_URL, "audiences": [AUD], "algorithms": ["EdDSA"]
        }],
        "admin_scope": { "issuer": ISS, "scope": ADMIN_SCOPE },
        "routes": [{ "path": "/v1/**" }]
    })
}

struct World {
    gateway: Gateway<NativeKey>,
    source: ScriptedSource,
    verifier: CountingVerifier,
    store: MemoryStore,
    key: EdKey,
    seed: u8,
    /// The time of the next call (default `NOW`).
    now: u64,
}

impl World {
    fn new() -> Self {
        Self::with(config(), &[("ADMIN_TOKEN", ADMIN_TOKEN)])
    }

    fn with(config: Value, secrets: &[(&str, &str)]) -> Self {
        let lookup = |name: &str| {
            secrets
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        };
        let config = Config::from_json(&config.to_string(), &lookup).unwrap();
        let key = EdKey::new("k1", 3);
        let source = ScriptedSource::new();
        source.serve(JWKS_URL, Some("max-age=600"), support_jwt::jwks(&[&key]));
        World {
            gateway: Gateway::new(config),
            source,
            verifier: CountingVerifier::default(),
            store: MemoryStore::new(),
            key,
            seed: 0,
            now: NOW,
        }
    }

    /// A JWT of the configured issuer for `sub` with `scope`.
    fn jwt(&self, sub: &str, scope: &str) -> String {
        self.key.token(&json!({
            "iss": ISS, "aud": AUD, "sub": sub, "exp": NOW + 600, "iat": NOW, "scope": scope
        }))
    }

    /// One admin request with exactly `headers` (from [`IP`]).
    async fn call(
        &mut self,
        headers: &[(&str, &str)],
        method: &str,
        path: &str,
        body: Value,
    ) -> AdminReply {
        self.seed = self.seed.wrapping_add(1);
        let mut n = self.seed;
        let mut fill = |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_mul(31).wrapping_add(11);
                *b = n;
            }
            Ok(())
        };
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        headers.push(("cf-connecting-ip".into(), IP.into()));
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let req = AdminRequest {
            method,
            path,
            query: None,
            body: &body,
        };
        let ports = Ports {
            store: &self.store,
            documents: &self.source,
            verifier: &self.verifier,
            authority: None::<&edge_auth::ports::NoAuthority>,
            now_ms: 0,
        };
        self.gateway
            .admin(req, &headers, ports, UnixTime(self.now), &mut fill)
            .await
    }

    /// One admin request with `Authorization: Bearer <token>`.
    async fn bearer(&mut self, token: &str, method: &str, path: &str, body: Value) -> AdminReply {
        let value = format!("Bearer {token}");
        self.call(&[("authorization", &value)], method, path, body)
            .await
    }

    /// A key made with the admin token.
    async fn create(&mut self, body: Value) -> Value {
        json_of(self.bearer(ADMIN_TOKEN, "POST", "/keys", body).await, 201)
    }
}

fn api_key_body(subject: &str) -> Value {
    json!({ "kind": "api_key", "subject": subject, "name": "n", "scopes": ["read"] })
}

fn pat_body() -> Value {
    json!({ "name": "laptop", "scopes": ["read"], "expires_in": 3600 })
}

/// (status, reason) of a reply; `ok` for a success.
fn verdict(reply: &AdminReply) -> (u16, &str) {
    match reply {
        AdminReply::Json { status, .. } => (*status, "ok"),
        AdminReply::NoContent => (204, "ok"),
        AdminReply::Problem(p) => (p.status, p.reason.as_str()),
    }
}

fn json_of(reply: AdminReply, want: u16) -> Value {
    match reply {
        AdminReply::Json { status, body } if status == want => body,
        other => panic!("wanted {want}, got {other:?}"),
    }
}

fn ids(listing: &Value) -> Vec<&str> {
    listing["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect()
}

// --- the admin token ----------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn the_admin_token_is_the_admin_and_costs_no_jwks_fetch() {
    let mut w = World::new();
    let made = w.create(api_key_body("svc")).await;
    assert_eq!(made["kind"], "api_key");
    let id = made["id"].as_str().unwrap();
    let listing = json_of(
        w.bearer(ADMIN_TOKEN, "GET", "/keys", Value::Null).await,
        200,
    );
    assert_eq!(ids(&listing), [id]);
    let one = json_of(
        w.bearer(ADMIN_TOKEN, "GET", &format!("/keys/{id}"), Value::Null)
            .await,
        200,
    );
    assert_eq!(one["status"], "active");
    assert_eq!(
        verdict(
            &w.bearer(ADMIN_TOKEN, "DELETE", &format!("/keys/{id}"), Value::Null)
                .await
        ),
        (204, "ok")
    );
    assert_eq!(w.source.fetches(), 0, "the admin token is no JWT");
    assert_eq!(w.verifier.imports.get() + w.verifier.verifies.get(), 0);
    // PAT self-service acts for a user's own principal: the admin has none.
    assert_eq!(
        verdict(&w.bearer(ADMIN_TOKEN, "POST", "/pats", pat_body()).await),
        (403, "forbidden")
    );
    assert_eq!(
        verdict(&w.bearer(ADMIN_TOKEN, "GET", "/pats", Value::Null).await),
        (403, "forbidden")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_or_missing_admin_token_is_refused_before_any_read_or_fetch() {
    let mut w = World::new();
    let wrong = w
        .bearer("not-the-admin-token", "GET", "/keys", Value::Null)
        .await;
    let AdminReply::Problem(p) = &wrong else {
        panic!("refused: {wrong:?}");
    };
    assert_eq!((p.status, p.reason.as_str()), (401, "bad_admin_token"));
    assert_eq!(p.error_code(), Some("invalid_token"));
    // A longer or shorter token is as wrong (compared as hashes, in constant time).
    let longer = format!("{ADMIN_TOKEN}x");
    assert_eq!(
        verdict(&w.bearer(&longer, "GET", "/keys", Value::Null).await),
        (401, "bad_admin_token")
    );
    // No credential, or one in a scheme the admin API does not take: who is asking is unknown.
    assert_eq!(
        verdict(&w.call(&[], "GET", "/keys", Value::Null).await),
        (401, "missing_credential")
    );
    assert_eq!(
        verdict(&w.call(&[], "POST", "/pats", pat_body()).await),
        (401, "missing_credential")
    );
    let basic = format!("Basic {ADMIN_TOKEN}");
    assert_eq!(
        verdict(
            &w.call(&[("authorization", &basic)], "GET", "/keys", Value::Null)
                .await
        ),
        (401, "missing_credential")
    );
    assert_eq!(
        (
            w.store.reads.get(),
            w.store.writes.get(),
            w.source.fetches()
        ),
        (0, 0, 0),
        "refusing a caller reads nothing"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_admin_tokens_spend_the_failed_auth_budget_but_the_right_one_always_works() {
    let mut budgeted = config();
    budgeted["failed_auth"] = json!({ "burst": 3, "per_minute": 1 });
    let mut w = World::with(budgeted, &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    for _ in 0..3 {
        assert_eq!(
            verdict(
                &w.bearer("guess-guess-guess", "GET", "/keys", Value::Null)
                    .await
            ),
            (401, "bad_admin_token")
        );
    }
    let limited = w
        .bearer("guess-guess-guess", "GET", "/keys", Value::Null)
        .await;
    let AdminReply::Problem(p) = &limited else {
        panic!("refused: {limited:?}");
    };
    assert_eq!((p.status, p.reason.as_str()), (429, "too_many_failures"));
    assert!(p.retry_after.is_some_and(|s| s > 0));
    // The same address with the right token: the comparison is one hash, never budgeted.
    assert_eq!(
        verdict(&w.bearer(ADMIN_TOKEN, "GET", "/keys", Value::Null).await),
        (200, "ok")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_an_admin_token_or_scope_the_admin_api_is_disabled_but_pats_are_not() {
    let mut bare = config();
    bare.as_object_mut().unwrap().remove("admin_scope");
    let mut w = World::with(bare, &[]);
    for path in ["/keys", "/principals/revoke", "/tokens/revoke", "/audit"] {
        assert_eq!(
            verdict(&w.bearer(ADMIN_TOKEN, "GET", path, Value::Null).await),
            (404, "admin_disabled"),
            "{path}"
        );
    }
    let user = w.jwt("alice", "read");
    let made = json_of(w.bearer(&user, "POST", "/pats", pat_body()).await, 201);
    assert_eq!(made["kind"], "pat");
    // Without a configured token, a presented one is just a wrong one.
    assert_eq!(
        verdict(&w.bearer(ADMIN_TOKEN, "GET", "/pats", Value::Null).await),
        (401, "bad_admin_token")
    );
}

// --- a JWT with the admin scope -----------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_jwt_with_the_admin_scope_is_the_admin() {
    let mut w = World::new();
    let admin = w.jwt("ops", &format!("read {ADMIN_SCOPE}"));
    let made = json_of(
        w.bearer(&admin, "POST", "/keys", api_key_body("svc")).await,
        201,
    );
    let listing = json_of(w.bearer(&admin, "GET", "/keys", Value::Null).await, 200);
    assert_eq!(ids(&listing), [made["id"].as_str().unwrap()]);
    // An admin-made PAT for someone else's principal, then principal revocation: admin-only
    // endpoints (this one needs the state tier, so it stops there, after the caller check).
    let pat = w
        .create(json!({ "kind": "pat", "subject": "alice", "name": "n", "scopes": [], "expires_in": 600 }))
        .await;
    assert_eq!(pat["issuer"], ISS, "the only issuer");
    assert_eq!(
        verdict(
            &w.bearer(
                &admin,
                "POST",
                "/principals/revoke",
                json!({ "subject": "alice" })
            )
            .await
        ),
        (500, "state_not_bound")
    );
    assert_eq!(
        w.source.fetches_of(JWKS_URL),
        1,
        "one JWKS fetch, then the cache"
    );
    // As the admin, the JWT's holder has no PATs of their own to manage here.
    assert_eq!(
        verdict(&w.bearer(&admin, "POST", "/pats", pat_body()).await),
        (403, "forbidden")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_admin_scope_must_be_a_whole_scope_of_a_valid_token() {
    let mut w = World::new();
    let near = w.jwt("ops", "edge:admins edge read");
    assert_eq!(
        verdict(&w.bearer(&near, "GET", "/keys", Value::Null).await),
        (403, "forbidden"),
        "a scope that merely contains the admin scope is a user's"
    );
    // Past its `exp` by more than the leeway (60 s by default).
    let expired = w.key.token(&json!({
        "iss": ISS, "aud": AUD, "sub": "ops", "exp": NOW - 600, "iat": NOW - 1200, "scope": ADMIN_SCOPE
    }));
    assert_eq!(
        verdict(&w.bearer(&expired, "GET", "/keys", Value::Null).await),
        (401, "expired")
    );
    let forged = EdKey::new("k1", 99).token(&json!({
        "iss": ISS, "aud": AUD, "sub": "ops", "exp": NOW + 600, "iat": NOW, "scope": ADMIN_SCOPE
    }));
    assert_eq!(
        verdict(&w.bearer(&forged, "GET", "/keys", Value::Null).await),
        (401, "bad_signature")
    );
    let stranger = EdKey::new("k1", 3).token(&json!({
        "iss": "https://elsewhere.example", "aud": AUD, "sub": "ops", "exp": NOW + 600,
        "iat": NOW, "scope": ADMIN_SCOPE
    }));
    let fetches = w.source.fetches();
    assert_eq!(
        verdict(&w.bearer(&stranger, "GET", "/keys", Value::Null).await),
        (401, "unknown_issuer")
    );
    assert_eq!(
        w.source.fetches(),
        fetches,
        "an unknown issuer costs no fetch"
    );
    assert_eq!(
        w.store.reads.get(),
        0,
        "no refused caller reached the store"
    );
}

// --- a user JWT ---------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_user_jwt_manages_its_own_pats_only() {
    let mut w = World::new();
    let alice = w.jwt("alice", "read write");
    let bob = w.jwt("bob", "read");

    let mine = json_of(w.bearer(&alice, "POST", "/pats", pat_body()).await, 201);
    assert_eq!(
        (&mine["subject"], &mine["issuer"], &mine["kind"]),
        (&json!("alice"), &json!(ISS), &json!("pat"))
    );
    let mine_id = mine["id"].as_str().unwrap().to_string();
    let theirs = json_of(w.bearer(&bob, "POST", "/pats", pat_body()).await, 201);
    let theirs_id = theirs["id"].as_str().unwrap().to_string();
    let service = w.create(api_key_body("alice")).await;
    let service_id = service["id"].as_str().unwrap().to_string();

    // A PAT carries only scopes its creator holds.
    let too_much = json!({ "name": "x", "scopes": ["admin"], "expires_in": 3600 });
    assert_eq!(
        verdict(&w.bearer(&bob, "POST", "/pats", too_much).await),
        (403, "scope_not_held")
    );

    // Listing and reading: alice's own PAT only (not bob's, not an API key of the same subject).
    let listing = json_of(w.bearer(&alice, "GET", "/pats", Value::Null).await, 200);
    assert_eq!(ids(&listing), [mine_id.as_str()]);
    assert_eq!(listing["subject"], "alice");
    assert_eq!(
        verdict(
            &w.bearer(&alice, "GET", &format!("/pats/{mine_id}"), Value::Null)
                .await
        ),
        (200, "ok")
    );
    for other in [&theirs_id, &service_id] {
        for method in ["GET", "DELETE"] {
            assert_eq!(
                verdict(
                    &w.bearer(&alice, method, &format!("/pats/{other}"), Value::Null)
                        .await
                ),
                (404, "not_found"),
                "{method} of another principal's key looks absent"
            );
        }
    }
    assert_eq!(
        verdict(
            &w.bearer(&alice, "DELETE", &format!("/pats/{mine_id}"), Value::Null)
                .await
        ),
        (204, "ok")
    );

    // Admin-only endpoints refuse a user, whatever the method, before touching the store.
    let reads = w.store.reads.get();
    let admin_only = [
        ("GET", "/keys".to_string()),
        ("POST", "/keys".to_string()),
        ("GET", format!("/keys/{theirs_id}")),
        ("DELETE", format!("/keys/{theirs_id}")),
        ("PATCH", format!("/keys/{service_id}")),
        ("POST", format!("/keys/{service_id}/roll")),
        ("POST", "/keys/import".to_string()),
        ("POST", "/principals/revoke".to_string()),
        ("POST", "/tokens/revoke".to_string()),
    ];
    for (method, path) in &admin_only {
        assert_eq!(
            verdict(&w.bearer(&alice, method, path, api_key_body("x")).await),
            (403, "forbidden"),
            "{method} {path}"
        );
    }
    assert_eq!(w.store.reads.get(), reads, "refused before any read");

    // Bob's PAT and the API key are untouched.
    let keys = json_of(
        w.bearer(ADMIN_TOKEN, "GET", "/keys", Value::Null).await,
        200,
    );
    let status_of = |id: &str| {
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .map(|k| k["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of(&theirs_id).as_deref(), Some("active"));
    assert_eq!(status_of(&service_id).as_deref(), Some("active"));
    assert_eq!(status_of(&mine_id).as_deref(), Some("revoked"));
    assert_eq!(
        w.source.fetches_of(JWKS_URL),
        1,
        "every user call after the first is served from the JWKS cache"
    );
}

// --- key-shaped credentials ---------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn an_api_key_or_pat_is_no_admin_credential_and_is_never_looked_up() {
    let mut w = World::new();
    let key = w.create(api_key_body("svc")).await;
    let api_key = key["token"].as_str().unwrap().to_string();
    let alice = w.jwt("alice", "read");
    let pat = json_of(w.bearer(&alice, "POST", "/pats", pat_body()).await, 201);
    let pat = pat["token"].as_str().unwrap().to_string();
    let (reads, fetches) = (w.store.reads.get(), w.source.fetches());

    for token in [&api_key, &pat] {
        for (method, path) in [("GET", "/keys"), ("GET", "/pats"), ("POST", "/pats")] {
            assert_eq!(
                verdict(&w.bearer(token, method, path, pat_body()).await),
                (401, "bad_admin_token"),
                "{method} {path}"
            );
        }
    }
    // In the API-key header the admin API does not read: no credential at all.
    assert_eq!(
        verdict(
            &w.call(&[("x-api-key", &api_key)], "GET", "/keys", Value::Null)
                .await
        ),
        (401, "missing_credential")
    );
    assert_eq!(
        (w.store.reads.get(), w.source.fetches()),
        (reads, fetches),
        "a key presented to the admin API costs no KV read and no fetch"
    );
    assert!(
        w.gateway.keys.cache().is_empty(),
        "nor does it fill the key lookup cache"
    );
}

// --- revocations (the state tier) ----------------------------------------------------------------

/// Who `headers` resolve to, with the state tier bound and the gateway's view as installed (read
/// 10 ms after it was fetched), or without it (`state: false`).
async fn caller_of(
    w: &World,
    token: &str,
    path: &str,
    state: bool,
) -> Result<AdminCaller, (u16, String)> {
    let headers = vec![
        ("authorization".to_string(), format!("Bearer {token}")),
        ("cf-connecting-ip".to_string(), IP.to_string()),
    ];
    let authority = edge_auth::ports::NoAuthority;
    let ports = Ports {
        store: &w.store,
        documents: &w.source,
        verifier: &w.verifier,
        authority: state.then_some(&authority),
        now_ms: VIEW_FETCHED_MS + 10,
    };
    match w
        .gateway
        .admin_caller(path, &headers, &ports, UnixTime(NOW))
        .await
    {
        Ok((caller, _)) => Ok(caller),
        Err(AdminReply::Problem(p)) => Err((p.status, p.reason.as_str().to_string())),
        Err(other) => panic!("not a problem: {other:?}"),
    }
}

const VIEW_FETCHED_MS: u64 = NOW * 1000;

impl World {
    /// A JWT for `sub` with `scope`, its `jti` and `iat`.
    fn jwt_with(&self, sub: &str, scope: &str, jti: &str, iat: u64) -> String {
        self.key.token(&json!({
            "iss": ISS, "aud": AUD, "sub": sub, "exp": NOW + 600, "iat": iat, "scope": scope,
            "jti": jti
        }))
    }

    /// The view of recent revocations, as the feed would deliver it: `entries` and nothing else.
    fn install(&self, entries: Vec<FeedEntry>) {
        let doc = FeedDocument {
            epoch: "e".into(),
            head: entries.len() as u64,
            overflow: false,
            entries,
        };
        // (`install` answers whether cached positives must go: not for a first document.)
        let _ = self.gateway.view.install(doc, VIEW_FETCHED_MS);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_revoked_jwt_is_no_caller_of_the_admin_api_with_the_state_tier() {
    let w = World::new();
    w.install(vec![
        FeedEntry::Token {
            iss: ISS.into(),
            jti: "stolen".into(),
            exp: NOW + 600,
        },
        FeedEntry::Token {
            iss: ISS.into(),
            jti: "admin-stolen".into(),
            exp: NOW + 600,
        },
        FeedEntry::Principal {
            iss: Some(ISS.into()),
            sub: "carol".into(),
            before: NOW,
        },
    ]);
    // A user JWT revoked by its jti cannot mint a PAT that would outlive it.
    let user = w.jwt_with("alice", "read", "stolen", NOW);
    assert_eq!(
        caller_of(&w, &user, "/pats", true).await,
        Err((401, "token_revoked".into()))
    );
    // An admin-scoped JWT revoked by its jti loses its admin rights.
    let admin = w.jwt_with("ops", ADMIN_SCOPE, "admin-stolen", NOW);
    assert_eq!(
        caller_of(&w, &admin, "/keys", true).await,
        Err((401, "token_revoked".into()))
    );
    // A principal cut off ("sign out everywhere"): its tokens issued until then are refused...
    let carol = w.jwt_with("carol", "read", "c1", NOW);
    assert_eq!(
        caller_of(&w, &carol, "/pats", true).await,
        Err((401, "principal_revoked".into()))
    );
    // ...while another subject's token, and an admin JWT nobody revoked, are still callers.
    let bob = w.jwt_with("bob", "read", "b1", NOW);
    assert!(matches!(
        caller_of(&w, &bob, "/pats", true).await,
        Ok(AdminCaller::User { subject, .. }) if subject == "bob"
    ));
    let admin_ok = w.jwt_with("ops", ADMIN_SCOPE, "a2", NOW);
    assert_eq!(
        caller_of(&w, &admin_ok, "/keys", true).await,
        Ok(AdminCaller::Admin)
    );
    // Revocations live in the state tier: without it nothing is revoked (docs/state.md).
    assert!(matches!(
        caller_of(&w, &user, "/pats", false).await,
        Ok(AdminCaller::User { .. })
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn a_revoked_jwt_spends_the_failed_auth_budget_of_the_admin_api() {
    let w = World::new();
    w.install(vec![FeedEntry::Token {
        iss: ISS.into(),
        jti: "stolen".into(),
        exp: NOW + 600,
    }]);
    let user = w.jwt_with("alice", "read", "stolen", NOW);
    let mut refused = 0;
    for _ in 0..200 {
        match caller_of(&w, &user, "/pats", true).await {
            Err((401, _)) => refused += 1,
            Err((429, reason)) => {
                assert_eq!(reason, "too_many_failures");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        refused > 0 && refused < 200,
        "{refused} refusals before the budget ran out"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_view_past_its_bound_refuses_a_jwt_caller_rather_than_let_a_revocation_through() {
    let w = World::new();
    // Never loaded: the revocations cannot be confirmed (`on_stale: refuse`, the default).
    let user = w.jwt_with("alice", "read", "fresh", NOW);
    assert_eq!(
        caller_of(&w, &user, "/pats", true).await,
        Err((503, "revocations_unconfirmed".into()))
    );
    // The admin token is a secret, not a token the feed can revoke: it needs no view.
    assert_eq!(
        caller_of(&w, ADMIN_TOKEN, "/keys", true).await,
        Ok(AdminCaller::Admin)
    );
}

// --- PAT churn ------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_principal_creates_at_most_so_many_pats_an_hour_even_if_it_revokes_them() {
    let mut config = config();
    config["keys"] = json!({ "pat_max_created_per_hour": 3 });
    let mut w = World::with(config, &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    let token = w.key.token(&json!({
        "iss": ISS, "aud": AUD, "sub": "churner", "exp": NOW + 7_200, "iat": NOW, "scope": "read"
    }));
    // Create and revoke, three times: each pair would be two feed entries kept 10 minutes.
    for i in 0..3 {
        w.now = NOW + i * 60;
        let made = json_of(w.bearer(&token, "POST", "/pats", pat_body()).await, 201);
        let id = made["id"].as_str().unwrap().to_string();
        let path = format!("/pats/{id}");
        assert_eq!(
            verdict(&w.bearer(&token, "DELETE", &path, Value::Null).await),
            (204, "ok")
        );
    }
    // The fourth within the hour is refused, none active notwithstanding, with when to retry:
    // an hour after the first.
    w.now = NOW + 600;
    match w.bearer(&token, "POST", "/pats", pat_body()).await {
        AdminReply::Problem(p) => {
            assert_eq!((p.status, p.reason.as_str()), (429, "pat_creation_rate"));
            assert_eq!(p.retry_after, Some(3_000));
        }
        other => panic!("wanted 429, got {other:?}"),
    }
    // Another principal is not affected; an hour after the first creation, one more may be made.
    let other = w.key.token(&json!({
        "iss": ISS, "aud": AUD, "sub": "someone-else", "exp": NOW + 7_200, "iat": NOW, "scope": "read"
    }));
    assert_eq!(
        verdict(&w.bearer(&other, "POST", "/pats", pat_body()).await),
        (201, "ok")
    );
    w.now = NOW + 3_601;
    assert_eq!(
        verdict(&w.bearer(&token, "POST", "/pats", pat_body()).await),
        (201, "ok")
    );
}
