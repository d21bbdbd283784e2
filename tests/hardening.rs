//! The hardening of issue #12 through the core's public API (`Gateway::decide` and
//! `Gateway::admin`) with fakes: principals are (issuer, subject) everywhere; the origin receives
//! exactly the path and method that were authorised; the assertion is bound to its request; the
//! admin caller is resolved by issuer; bounded subjects, PATs and listings.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "support_jwt/mod.rs"]
mod support_jwt;
mod support_store;

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_auth::admin::{AdminReply, AdminRequest};
use edge_auth::authn::{Decision, Gateway, Outcome, Ports, RequestParts};
use edge_auth::config::Config;
use edge_auth::jwt::{NativeKey, NativeVerifier};
use edge_auth::time::UnixTime;
use serde_json::{json, Value};
use support_jwt::{Decided, EdKey, ScriptedSource};
use support_store::MemoryStore;

const NOW: u64 = 1_900_000_000;
const ISS_A: &str = "https://a.example";
const ISS_B: &str = "https://b.example";
const JWKS_A: &str = "https://a.example/jwks.json";
const JWKS_B: &str = "https://b.example/jwks.json";
const AUD: &str = "https://api.example";
const ADMIN: &str = "admin-token-0123456789-0123456789-abcdef";
/// An Ed25519 private JWK (seed 0x2a repeated) for `ASSERTION_KEY`.
fn assertion_key() -> String {
    let d = Base64UrlUnpadded::encode_string(&[0x2a; 32]);
    format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","kid":"edge-1"}}"#)
}

fn issuer(iss: &str, jwks: &str) -> Value {
    json!({ "issuer": iss, "jwks_uri": jwks, "audiences": [AUD], "algorithms": ["EdDSA"] })
}

fn two_issuer_config() -> Value {
    json!({
        "origin": "https://origin.internal",
        "issuers": [issuer(ISS_A, JWKS_A), issuer(ISS_B, JWKS_B)],
        "admin_scope": { "issuer": ISS_A, "scope": "edge:admin" },
        "routes": [
            { "path": "/public/**", "auth": "public" },
            { "path": "/a-only/**", "issuers": [ISS_A] },
            { "path": "/scoped/**", "scopes": ["admin"] },
            { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "scopes": ["admin"] },
            { "path": "/v1/**" }
        ]
    })
}

struct World {
    gateway: Gateway<NativeKey>,
    source: ScriptedSource,
    store: MemoryStore,
    a: EdKey,
    b: EdKey,
    counter: u8,
}

impl World {
    fn new(config: Value) -> Self {
        Self::with_secrets(config, &[("ADMIN_TOKEN", ADMIN)])
    }

    fn with_secrets(config: Value, secrets: &[(&str, &str)]) -> Self {
        let lookup = |name: &str| {
            secrets
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        };
        let config = Config::from_json(&config.to_string(), &lookup).unwrap();
        let a = EdKey::new("ka", 1);
        let b = EdKey::new("kb", 2);
        let source = ScriptedSource::new();
        source.serve(JWKS_A, Some("max-age=600"), support_jwt::jwks(&[&a]));
        source.serve(JWKS_B, Some("max-age=600"), support_jwt::jwks(&[&b]));
        World {
            gateway: Gateway::new(config),
            source,
            store: MemoryStore::new(),
            a,
            b,
            counter: 0,
        }
    }

    /// A JWT of `iss` for `sub` with `scope`.
    fn jwt(&self, iss: &str, sub: &str, scope: &str) -> String {
        let key = if iss == ISS_A { &self.a } else { &self.b };
        key.token(&json!({
            "iss": iss, "aud": AUD, "sub": sub, "exp": NOW + 600, "iat": NOW, "scope": scope
        }))
    }

    async fn decide(&self, method: &str, url: &str, headers: &[(&str, &str)]) -> Decided {
        self.decide_from("https://edge.example", method, url, headers)
            .await
    }

    async fn decide_from(
        &self,
        origin: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Decided {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (url, None),
        };
        let req = RequestParts {
            method,
            path,
            query,
            headers: &headers,
            origin,
            entropy: [9; 16],
            request_id: "rid-42",
        };
        let ports = Ports {
            store: &self.store,
            documents: &self.source,
            verifier: &NativeVerifier,
            authority: None::<&edge_auth::ports::NoAuthority>,
            now_ms: 0,
        };
        let outcome = self.gateway.decide(req, ports, UnixTime(NOW)).await;
        Decided {
            outcome,
            incoming: headers,
        }
    }

    /// An admin API call (`path` after `admin_path`) with `Authorization: Bearer <bearer>`.
    async fn admin(
        &mut self,
        bearer: &str,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: Value,
    ) -> AdminReply {
        let headers = vec![("authorization".to_string(), format!("Bearer {bearer}"))];
        self.admin_with_headers(&headers, method, path, query, body)
            .await
    }

    /// An admin API call with exactly these request headers.
    async fn admin_with_headers(
        &mut self,
        headers: &[(String, String)],
        method: &str,
        path: &str,
        query: Option<&str>,
        body: Value,
    ) -> AdminReply {
        self.counter = self.counter.wrapping_add(1);
        let mut n = self.counter;
        let mut fill = |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_mul(31).wrapping_add(11);
                *b = n;
            }
            Ok(())
        };
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let req = AdminRequest {
            method,
            path,
            query,
            body: &body,
        };
        let ports = Ports {
            store: &self.store,
            documents: &self.source,
            verifier: &NativeVerifier,
            authority: None::<&edge_auth::ports::NoAuthority>,
            now_ms: 0,
        };
        self.gateway
            .admin(req, headers, ports, UnixTime(NOW), &mut fill)
            .await
    }

    /// One PAT creation with `jwt` succeeds, and the next is refused with 409 (the cap).
    async fn one_more_pat_then_none(&mut self, jwt: &str) {
        let body = json!({ "name": "again", "scopes": ["read"], "expires_in": 3600 });
        assert_eq!(
            status(&self.admin(jwt, "POST", "/pats", None, body.clone()).await),
            201
        );
        assert_eq!(
            status(&self.admin(jwt, "POST", "/pats", None, body).await),
            409
        );
    }

    async fn mint_pat(&mut self, jwt: &str, name: &str) -> Value {
        let reply = self
            .admin(
                jwt,
                "POST",
                "/pats",
                None,
                json!({ "name": name, "scopes": ["read"], "expires_in": 3600 }),
            )
            .await;
        match reply {
            AdminReply::Json { status: 201, body } => body,
            other => panic!("PAT creation: {other:?}"),
        }
    }
}

fn status(reply: &AdminReply) -> u16 {
    match reply {
        AdminReply::Json { status, .. } => *status,
        AdminReply::NoContent => 204,
        AdminReply::Problem(p) => p.status,
    }
}

fn json_body(reply: AdminReply) -> Value {
    match reply {
        AdminReply::Json { body, .. } => body,
        other => panic!("expected JSON, got {other:?}"),
    }
}

/// (target, the headers the origin receives, the assertion's signing input) of a forward.
fn forward(decided: &Decided) -> (&str, Vec<(String, String)>, Option<&str>) {
    match (&decided.decision, decided.forwarded()) {
        (
            Decision::Forward {
                target, assertion, ..
            },
            Some(headers),
        ) => (target.as_str(), headers, assertion.as_deref()),
        (other, _) => panic!("expected a forward, got {other:?}"),
    }
}

fn rejection(outcome: &Outcome) -> (u16, &'static str) {
    match &outcome.decision {
        Decision::Reject(p) => (p.status, p.reason.as_str()),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn payload(signing_input: &str) -> Value {
    let part = signing_input.split('.').nth(1).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
}

// ---- 1. Principals are (issuer, subject) ----

#[tokio::test(flavor = "current_thread")]
async fn same_sub_of_another_issuer_cannot_see_revoke_or_use_anothers_pats() {
    let mut w = World::new(two_issuer_config());
    let alice_a = w.jwt(ISS_A, "alice", "read write");
    let alice_b = w.jwt(ISS_B, "alice", "read write");
    let pat = w.mint_pat(&alice_a, "a's pat").await;
    let id = pat["id"].as_str().unwrap().to_string();
    assert_eq!(pat["issuer"], ISS_A);

    // B's alice lists none of A's alice's PATs, and cannot read or revoke them.
    let listed = json_body(w.admin(&alice_b, "GET", "/pats", None, Value::Null).await);
    assert_eq!(listed["keys"], json!([]), "{listed}");
    let path = format!("/pats/{id}");
    assert_eq!(
        status(&w.admin(&alice_b, "GET", &path, None, Value::Null).await),
        404
    );
    assert_eq!(
        status(&w.admin(&alice_b, "DELETE", &path, None, Value::Null).await),
        404
    );
    // A's alice still sees it, and it still works, carrying its issuer to the origin.
    let listed = json_body(w.admin(&alice_a, "GET", "/pats", None, Value::Null).await);
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    let token = pat["token"].as_str().unwrap();
    let out = w
        .decide(
            "GET",
            "/v1/x",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    assert_eq!(header(headers, "X-Auth-Type"), Some("pat"));
    assert_eq!(header(headers, "X-Auth-Subject"), Some("alice"));
    assert_eq!(header(headers, "X-Auth-Issuer"), Some(ISS_A));
    // Only A's alice can revoke it.
    assert_eq!(
        status(&w.admin(&alice_a, "DELETE", &path, None, Value::Null).await),
        204
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_route_naming_issuers_refuses_the_others_tokens_and_pats() {
    let mut w = World::new(two_issuer_config());
    let from_a = w.jwt(ISS_A, "alice", "read");
    let from_b = w.jwt(ISS_B, "alice", "read");
    let ok = w
        .decide(
            "GET",
            "/a-only/x",
            &[("authorization", &format!("Bearer {from_a}"))],
        )
        .await;
    forward(&ok);
    let refused = w
        .decide(
            "GET",
            "/a-only/x",
            &[("authorization", &format!("Bearer {from_b}"))],
        )
        .await;
    assert_eq!(rejection(&refused), (401, "issuer_not_accepted"));
    let pat_b = w.mint_pat(&from_b, "b").await;
    let token = pat_b["token"].as_str().unwrap();
    let refused = w.decide("GET", "/a-only/x", &[("x-api-key", token)]).await;
    assert_eq!(rejection(&refused), (401, "issuer_not_accepted"));
    let elsewhere = w.decide("GET", "/v1/x", &[("x-api-key", token)]).await;
    forward(&elsewhere);
}

#[tokio::test(flavor = "current_thread")]
async fn the_admin_scope_counts_only_from_its_issuer() {
    let mut w = World::new(two_issuer_config());
    let admin_a = w.jwt(ISS_A, "ops", "edge:admin");
    let admin_b = w.jwt(ISS_B, "ops", "edge:admin");
    let body = json!({ "kind": "api_key", "subject": "svc", "name": "n", "scopes": [] });
    assert_eq!(
        status(&w.admin(&admin_a, "POST", "/keys", None, body.clone()).await),
        201
    );
    assert_eq!(
        status(&w.admin(&admin_b, "POST", "/keys", None, body.clone()).await),
        403,
        "the same scope from another issuer is a user, not an admin"
    );
    assert_eq!(
        status(&w.admin(ADMIN, "POST", "/keys", None, body).await),
        201
    );
    // The wrong admin token, a user JWT and no credential: three kinds of refusal.
    assert_eq!(
        status(
            &w.admin("not-the-admin-token", "GET", "/keys", None, Value::Null)
                .await
        ),
        401
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_admin_made_pat_names_its_issuer_when_several_are_configured() {
    let mut w = World::new(two_issuer_config());
    let body =
        json!({ "kind": "pat", "subject": "alice", "name": "n", "scopes": [], "expires_in": 600 });
    let reply = w.admin(ADMIN, "POST", "/keys", None, body.clone()).await;
    assert_eq!(status(&reply), 400, "{reply:?}");
    let mut named = body.clone();
    named["issuer"] = json!(ISS_B);
    let made = json_body(w.admin(ADMIN, "POST", "/keys", None, named).await);
    assert_eq!(made["issuer"], ISS_B);
    let mut unknown = body;
    unknown["issuer"] = json!("https://nobody.example");
    assert_eq!(
        status(&w.admin(ADMIN, "POST", "/keys", None, unknown).await),
        400
    );
}

fn legacy_pat_record(token: &str) -> (String, String) {
    let digest = edge_auth::keys::TokenDigest::of(token);
    let record = json!({
        "id": "key_legacy", "kind": "pat", "subject": "alice", "name": "old", "scopes": ["read"],
        "created_at": NOW - 10, "expires_at": NOW + 600
    });
    (
        edge_auth::keys::repository::record_key(&digest),
        record.to_string(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_pat_stored_without_an_issuer_works_only_with_a_single_issuer() {
    let format = edge_auth::keys::KeyFormat::default();
    let mut bytes = 5u8;
    let token = format
        .generate(edge_auth::keys::KeyKind::Pat, &mut |buf: &mut [u8]| {
            for b in buf {
                bytes = bytes.wrapping_mul(13).wrapping_add(1);
                *b = bytes;
            }
            Ok(())
        })
        .unwrap();
    let (key, value) = legacy_pat_record(&token);

    let mut single = two_issuer_config();
    single["issuers"] = json!([issuer(ISS_A, JWKS_A)]);
    single["admin_scope"] = json!("edge:admin");
    single["routes"] = json!([{ "path": "/v1/**" }]);
    let w = World::new(single);
    w.store.data.borrow_mut().insert(key.clone(), value.clone());
    let out = w.decide("GET", "/v1/x", &[("x-api-key", &token)]).await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    assert_eq!(header(headers, "X-Auth-Issuer"), Some(ISS_A));

    let w = World::new(two_issuer_config());
    w.store.data.borrow_mut().insert(key, value);
    let out = w.decide("GET", "/v1/x", &[("x-api-key", &token)]).await;
    assert_eq!(rejection(&out), (401, "pat_without_issuer"));
}

#[test]
fn admin_scope_and_admin_token_rules_are_config_errors_naming_the_field() {
    let parse = |config: Value, token: Option<&str>| {
        let token = token.map(str::to_string);
        Config::from_json(&config.to_string(), &|name| {
            (name == "ADMIN_TOKEN").then(|| token.clone()).flatten()
        })
    };
    let mut bare = two_issuer_config();
    bare["admin_scope"] = json!("edge:admin");
    let err = parse(bare, None).unwrap_err();
    assert_eq!(err.field, "admin_scope");
    assert!(err.reason.contains("issuer"), "{}", err.reason);

    let mut unknown = two_issuer_config();
    unknown["admin_scope"] = json!({ "issuer": "https://nobody", "scope": "x" });
    assert_eq!(
        parse(unknown, None).unwrap_err().field,
        "admin_scope.issuer"
    );

    let mut route = two_issuer_config();
    route["routes"] = json!([{ "path": "/x", "issuers": ["https://nobody"] }]);
    assert_eq!(
        parse(route, None).unwrap_err().field,
        "routes[0].issuers[0]"
    );

    let err = parse(two_issuer_config(), Some("short-token")).unwrap_err();
    assert_eq!(err.field, "ADMIN_TOKEN");
    assert!(
        !err.reason.contains("short-token"),
        "never echoes the secret"
    );
    assert!(parse(two_issuer_config(), Some(ADMIN)).is_ok());
    assert!(!format!("{:?}", parse(two_issuer_config(), Some(ADMIN)).unwrap()).contains(ADMIN));
}

// ---- 2. The origin receives exactly what was authorised ----

#[tokio::test(flavor = "current_thread")]
async fn paths_that_cannot_be_made_canonical_are_refused() {
    let w = World::new(two_issuer_config());
    for (path, reason) in [
        ("/public/..;/scoped/x", "path_parameters"),
        ("/scoped;jsessionid=x/y", "path_parameters"),
        ("/public/%3b/x", "path_parameters"),
        ("/public/%252e%252e/scoped/x", "path_encoded_percent"),
        ("/scoped./x", "path_trailing_dot_or_space"),
        ("/scoped%20/x", "path_trailing_dot_or_space"),
        ("/public/x%2f..%2fscoped", "path_ambiguous"),
    ] {
        let out = w.decide("GET", path, &[]).await;
        assert_eq!(rejection(&out), (400, reason), "{path}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_forwarded_url_is_the_canonical_path_that_matched_with_the_query_intact() {
    let w = World::new(two_issuer_config());
    for (url, target) in [
        (
            "/public/a/../b?x=%2F&y",
            "https://origin.internal/public/b?x=%2F&y",
        ),
        ("/public//%61/./b/", "https://origin.internal/public/a/b/"),
        (
            "/public/caf%c3%a9%20x",
            "https://origin.internal/public/caf%C3%A9%20x",
        ),
        ("/public/a:b@c+d", "https://origin.internal/public/a:b@c+d"),
        ("/public/%7euser?", "https://origin.internal/public/~user?"),
    ] {
        let out = w.decide("GET", url, &[]).await;
        assert_eq!(forward(&out).0, target, "{url}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn matrix_parameters_are_an_opt_in_that_matches_the_segment_before_them() {
    let mut config = two_issuer_config();
    config["forward"] = json!({ "matrix_parameters": true });
    let w = World::new(config);
    // Matched as /scoped/y (which needs a credential), never as anything else.
    let out = w.decide("GET", "/scoped;jsessionid=x/y", &[]).await;
    assert_eq!(rejection(&out), (401, "missing_credential"));
    let out = w.decide("GET", "/public/..;/scoped/x", &[]).await;
    assert_eq!(rejection(&out), (401, "missing_credential"));
    let out = w.decide("GET", "/public/a;v=1/b", &[]).await;
    assert_eq!(forward(&out).0, "https://origin.internal/public/a;v=1/b");
}

#[tokio::test(flavor = "current_thread")]
async fn a_segment_of_only_matrix_parameters_cannot_skip_a_protected_route() {
    let mut config = two_issuer_config();
    config["forward"] = json!({ "matrix_parameters": true });
    let w = World::new(config);
    let user = w.jwt(ISS_A, "alice", "read");
    let bearer = format!("Bearer {user}");
    let auth = [("Authorization", bearer.as_str())];
    // Tomcat and Spring read `/v1/;x/admin/users` as `/v1/admin/users`: the edge must not
    // match it as a segment named "" under `/v1/**`.
    for path in [
        "/v1/;x/admin/users",
        "/v1/;/admin/users",
        "/v1/%3Bx/admin/users",
    ] {
        let out = w.decide("POST", path, &auth).await;
        assert_eq!(
            rejection(&out),
            (400, "path_parameters_without_name"),
            "{path}"
        );
    }
    // Without the admin scope the route it is read as refuses it.
    let out = w.decide("POST", "/v1/admin/users", &auth).await;
    assert_eq!(rejection(&out), (403, "insufficient_scope"));
    // A named segment keeps its parameters.
    let out = w.decide("GET", "/v1/items;v=1/x", &auth).await;
    assert_eq!(forward(&out).0, "https://origin.internal/v1/items;v=1/x");
}

#[tokio::test(flavor = "current_thread")]
async fn a_path_that_matches_another_route_when_case_is_ignored_is_refused() {
    let w = World::new(two_issuer_config());
    let user = w.jwt(ISS_A, "alice", "read");
    let bearer = format!("Bearer {user}");
    let auth = [("Authorization", bearer.as_str())];
    // Express, ASP.NET Core and IIS would run the admin handler for these.
    for path in ["/v1/Admin/users", "/v1/ADMIN/users"] {
        let out = w.decide("POST", path, &auth).await;
        assert_eq!(rejection(&out), (400, "path_case_ambiguous"), "{path}");
    }
    // No route takes `/V1/...` as written: 403 `no_route` (nothing forwarded either way).
    let out = w.decide("POST", "/V1/admin/users", &auth).await;
    assert_eq!(rejection(&out), (403, "no_route"));
    // Letters that Unicode-aware routers (.NET's OrdinalIgnoreCase) fold to ASCII: `admın`
    // (dotless ı), `adm\u{130}n`, `/v1/admin/uſers`, the Kelvin sign. Refused on any route.
    for path in [
        "/v1/adm%C4%B1n/users",
        "/v1/adm%C4%B0n/users",
        "/v1/admin/u%C5%BFers",
        "/v1/%E2%84%AAeys",
    ] {
        let out = w.decide("POST", path, &auth).await;
        assert_eq!(rejection(&out), (400, "path_case_ambiguous"), "{path}");
    }
    // Other non-ASCII letters are ordinary path text.
    let out = w.decide("GET", "/v1/caf%C3%A9", &auth).await;
    assert_eq!(forward(&out).0, "https://origin.internal/v1/caf%C3%A9");
    // Only `/v1/**` matches, with or without case: forwarded as sent.
    let out = w.decide("GET", "/v1/Items", &auth).await;
    assert_eq!(forward(&out).0, "https://origin.internal/v1/Items");
    // GET is not a method of the admin route: `/v1/**` either way.
    let out = w.decide("GET", "/v1/Admin/users", &auth).await;
    assert_eq!(forward(&out).0, "https://origin.internal/v1/Admin/users");
    // A route only when case is ignored: no route (the contract's 403), not forwarded; the
    // same for a look-alike letter on a path no route takes.
    let out = w.decide("GET", "/PUBLIC/x", &[]).await;
    assert_eq!(rejection(&out), (403, "no_route"));
    let out = w.decide("GET", "/%E2%84%AAeys/x", &[]).await;
    assert_eq!(rejection(&out), (403, "no_route"));

    // Two routes that differ only by the case of a literal segment: each is reached by its
    // exact spelling only where no other route would take it when case is ignored.
    let mut config = two_issuer_config();
    config["routes"] = json!([
        { "path": "/docs/Private/**", "scopes": ["admin"] },
        { "path": "/docs/private/**", "auth": "public" },
        { "path": "/docs/**", "auth": "public" }
    ]);
    let w = World::new(config);
    let out = w.decide("GET", "/docs/private/x", &[]).await;
    assert_eq!(rejection(&out), (400, "path_case_ambiguous"));
    let out = w.decide("GET", "/docs/PRIVATE/x", &[]).await;
    assert_eq!(rejection(&out), (400, "path_case_ambiguous"));
    let out = w.decide("GET", "/docs/Private/x", &[]).await;
    assert_eq!(rejection(&out), (401, "missing_credential"));
    let out = w.decide("GET", "/docs/public/x", &[]).await;
    assert_eq!(forward(&out).0, "https://origin.internal/docs/public/x");
}

#[tokio::test(flavor = "current_thread")]
async fn a_method_with_a_lower_case_letter_is_refused_before_routing() {
    let mut config = two_issuer_config();
    config["routes"] = json!([
        { "path": "/items/**", "methods": ["PATCH"], "scopes": ["write"] },
        { "path": "/**", "auth": "public", "cors_preflight": true }
    ]);
    let w = World::new(config);
    let writer = w.jwt(ISS_A, "alice", "write");
    let bearer = format!("Bearer {writer}");
    // `patch` would miss the PATCH route and reach the public catch-all, where Django and
    // Flask run it as PATCH.
    for method in ["patch", "Patch", "get"] {
        let out = w.decide(method, "/items/1", &[]).await;
        assert_eq!(rejection(&out), (400, "method_not_uppercase"), "{method}");
    }
    let out = w
        .decide("patch", "/items/1", &[("Authorization", bearer.as_str())])
        .await;
    assert_eq!(rejection(&out), (400, "method_not_uppercase"));
    // Upper case is routed as before.
    let out = w.decide("PATCH", "/items/1", &[]).await;
    assert_eq!(rejection(&out), (401, "missing_credential"));
    let out = w
        .decide("PATCH", "/items/1", &[("Authorization", bearer.as_str())])
        .await;
    assert_eq!(forward(&out).0, "https://origin.internal/items/1");

    // A preflight asking about `patch` is not let through by a later route's `cors_preflight`:
    // it is decided as a plain OPTIONS request.
    let mut config = two_issuer_config();
    config["routes"] = json!([
        { "path": "/items/**", "methods": ["PATCH"], "scopes": ["write"] },
        { "path": "/**", "cors_preflight": true }
    ]);
    let w = World::new(config);
    for asked in ["patch", "PATCH"] {
        let preflight = [
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", asked),
        ];
        let out = w.decide("OPTIONS", "/items/1", &preflight).await;
        assert_eq!(rejection(&out), (401, "missing_credential"), "{asked}");
    }
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "PUT"),
    ];
    let out = w.decide("OPTIONS", "/items/1", &preflight).await;
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("cors_preflight"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_method_override_in_the_query_is_refused() {
    // (From a review: `POST /v1/items/1?_method=DELETE` with a `read` JWT reached an origin that
    // runs it as DELETE, past the route that asks DELETE for `admin`.)
    let mut config = two_issuer_config();
    config["routes"] = json!([
        { "path": "/v1/items/**", "methods": ["DELETE"], "scopes": ["admin"] },
        { "path": "/v1/**" },
        { "path": "/public/**", "auth": "public" }
    ]);
    let w = World::new(config);
    let auth = format!("Bearer {}", w.jwt(ISS_A, "alice", "read"));
    for query in [
        "_method=DELETE",
        "a=1&_METHOD=DELETE",
        "%5Fmethod=DELETE",
        "x_http_method_override=DELETE",
        "X-HTTP-Method=DELETE",
        "x-method-override",
    ] {
        let url = format!("/v1/items/1?{query}");
        let out = w.decide("POST", &url, &[("authorization", &auth)]).await;
        assert_eq!(
            rejection(&out),
            (400, "method_override_in_query"),
            "{query}"
        );
        let out = w.decide("GET", &format!("/public/x?{query}"), &[]).await;
        assert_eq!(
            rejection(&out),
            (400, "method_override_in_query"),
            "{query}"
        );
    }
    // Names that only resemble one are forwarded, with the query as sent.
    let out = w
        .decide(
            "POST",
            "/v1/items/1?method=DELETE&x_method=1",
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(
        forward(&out).0,
        "https://origin.internal/v1/items/1?method=DELETE&x_method=1"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn subjects_that_differ_in_outer_spaces_reach_the_origin_apart() {
    // HTTP parsers drop a value's outer whitespace (RFC 9110 §5.5): sent as is, " alice" and
    // "alice " would both read `alice` at the origin.
    let w = World::new(two_issuer_config());
    let mut seen = Vec::new();
    for sub in ["alice", " alice", "alice "] {
        let auth = format!("Bearer {}", w.jwt(ISS_A, sub, "read"));
        let out = w.decide("GET", "/v1/x", &[("authorization", &auth)]).await;
        let (_, headers, _) = forward(&out);
        let value = header(&headers, "x-auth-subject").unwrap();
        seen.push(value.trim_matches([' ', '\t']).to_string());
    }
    assert_eq!(seen, ["alice", "%20alice", "alice%20"]);
}

#[tokio::test(flavor = "current_thread")]
async fn only_what_a_browser_sends_as_a_preflight_is_let_through_as_one() {
    let mut config = two_issuer_config();
    config["routes"] = json!([
        { "path": "/v1/**", "methods": ["OPTIONS"], "scopes": ["admin"] },
        { "path": "/v1/**", "methods": ["GET"], "cors_preflight": true, "forward_credentials": true },
        { "path": "/v2/**", "methods": ["GET"], "cors_preflight": true, "forward_credentials": true }
    ]);
    let w = World::new(config);
    let preflight = |extra: &[(&'static str, &'static str)]| {
        let mut h = vec![
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ];
        h.extend_from_slice(extra);
        h
    };
    // A browser's preflight where no route is written for OPTIONS: let through, as public.
    let out = w.decide("OPTIONS", "/v2/x", &preflight(&[])).await;
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("cors_preflight"));
    forward(&out);
    // A route written for OPTIONS before the asked method's route decides: the preflight does
    // not step around its scope.
    let out = w.decide("OPTIONS", "/v1/x", &preflight(&[])).await;
    assert_eq!(rejection(&out), (401, "missing_credential"));
    // With a credential or a body it is no browser's preflight: decided as a plain OPTIONS
    // request (here no route takes OPTIONS on /v2), so a forged credential is never forwarded
    // unchecked on a `forward_credentials` route.
    for extra in [
        [("authorization", "Bearer forged.jwt.value")],
        [("x-api-key", "eak_forged")],
        [("content-length", "5")],
        [("transfer-encoding", "chunked")],
    ] {
        let out = w.decide("OPTIONS", "/v2/x", &preflight(&extra)).await;
        assert!(out.forwarded().is_none(), "{extra:?}");
        assert_ne!(out.log.reason.map(|r| r.as_str()), Some("cors_preflight"));
    }
    let out = w
        .decide("OPTIONS", "/v2/x", &preflight(&[("content-length", "0")]))
        .await;
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("cors_preflight"));
}

#[tokio::test(flavor = "current_thread")]
async fn method_and_url_overrides_never_reach_the_origin() {
    let w = World::new(two_issuer_config());
    let out = w
        .decide(
            "POST",
            "/public/x",
            &[
                ("X-HTTP-Method-Override", "DELETE"),
                ("x-http-method", "DELETE"),
                ("X-Method-Override", "DELETE"),
                ("x_http_method_override", "DELETE"),
                ("X-Original-URL", "/v1/admin/users/42"),
                ("X-Rewrite-URL", "/v1/admin/users/42"),
                ("Accept", "*/*"),
            ],
        )
        .await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    for name in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x_http_method_override",
        "x-original-url",
        "x-rewrite-url",
    ] {
        assert_eq!(header(headers, name), None, "{name}");
    }
    assert_eq!(header(headers, "accept"), Some("*/*"));
}

#[tokio::test(flavor = "current_thread")]
async fn forwarding_headers_come_from_the_edge_unless_a_trusted_proxy_set_them() {
    let spoofs = [
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-Host", "admin.internal"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Prefix", "/admin"),
        ("Forwarded", "for=10.0.0.1"),
        ("X-Real-IP", "10.0.0.1"),
        ("True-Client-IP", "10.0.0.1"),
        ("CF-Connecting-IP", "203.0.113.7"),
    ];
    let w = World::new(two_issuer_config());
    let out = w.decide("GET", "/public/x", &spoofs).await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    assert_eq!(header(headers, "x-forwarded-for"), Some("203.0.113.7"));
    assert_eq!(header(headers, "x-forwarded-host"), Some("edge.example"));
    assert_eq!(header(headers, "x-forwarded-proto"), Some("https"));
    for name in [
        "x-forwarded-prefix",
        "forwarded",
        "x-real-ip",
        "true-client-ip",
    ] {
        assert_eq!(header(headers, name), None, "{name}");
    }
    let count = |n: &str| {
        headers
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case(n))
            .count()
    };
    assert_eq!(count("x-forwarded-for"), 1);

    let mut trusted = two_issuer_config();
    trusted["forward"] = json!({ "trust_forwarded_headers": true });
    let w = World::new(trusted);
    let out = w.decide("GET", "/public/x", &spoofs).await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    assert_eq!(
        header(headers, "x-forwarded-for"),
        Some("10.0.0.1, 203.0.113.7")
    );
    assert_eq!(header(headers, "x-forwarded-host"), Some("admin.internal"));
    assert_eq!(header(headers, "forwarded"), Some("for=10.0.0.1"));
}

#[tokio::test(flavor = "current_thread")]
async fn header_names_the_runtime_cannot_send_are_dropped_not_fatal() {
    let w = World::new(two_issuer_config());
    let out = w
        .decide(
            "GET",
            "/public/x",
            &[
                ("X-\u{410}uth-Subject", "root"),
                ("x y", "1"),
                ("Accept", "*/*"),
            ],
        )
        .await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    assert!(headers
        .iter()
        .all(|(n, _)| n.is_ascii() && !n.contains(' ')));
    assert_eq!(header(headers, "accept"), Some("*/*"));
}

// ---- 3. The assertion proves this request ----

#[tokio::test(flavor = "current_thread")]
async fn the_assertion_is_bound_to_method_url_request_and_body_length() {
    let w = World::with_secrets(
        two_issuer_config(),
        &[("ADMIN_TOKEN", ADMIN), ("ASSERTION_KEY", &assertion_key())],
    );
    let jwt = w.jwt(ISS_A, "alice", "read admin");
    let auth = format!("Bearer {jwt}");
    let out = w
        .decide(
            "DELETE",
            "/v1/admin/users/%34%32?confirm=1",
            &[("authorization", &auth), ("content-length", "17")],
        )
        .await;
    let (target, _, assertion) = forward(&out);
    assert_eq!(
        target,
        "https://origin.internal/v1/admin/users/42?confirm=1"
    );
    let claims = payload(assertion.unwrap());
    assert_eq!(claims["htm"], "DELETE");
    assert_eq!(claims["htu"], "https://origin.internal/v1/admin/users/42");
    assert_eq!(claims["rid"], "rid-42");
    assert_eq!(claims["content_length"], 17);
    assert_eq!(claims["iss_upstream"], ISS_A);
    assert_eq!(claims["iss"], "https://edge.example");
    assert_eq!(claims["aud"], "https://origin.internal");

    let out = w
        .decide(
            "GET",
            "/v1/reports/x",
            &[("authorization", &auth), ("content-length", "5")],
        )
        .await;
    let claims = payload(forward(&out).2.unwrap());
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "https://origin.internal/v1/reports/x");
    assert!(
        claims.get("content_length").is_none(),
        "GET bodies are not forwarded"
    );
    // Public routes carry no assertion.
    assert_eq!(forward(&w.decide("GET", "/public/x", &[]).await).2, None);
}

#[tokio::test(flavor = "current_thread")]
async fn route_mode_forwards_to_the_requests_host_and_refuses_loops_and_other_hosts() {
    let mut config = two_issuer_config();
    config.as_object_mut().unwrap().remove("origin");
    config["hosts"] = json!(["api.example.com"]);
    let w = World::new(config);
    let out = w
        .decide_from("https://api.example.com", "GET", "/public/x?q", &[])
        .await;
    assert_eq!(forward(&out).0, "https://api.example.com/public/x?q");
    let hop = header(&forward(&out).1, "x-edge-auth-hop")
        .unwrap()
        .to_string();
    let out = w
        .decide_from("https://evil.example", "GET", "/public/x", &[])
        .await;
    assert_eq!(rejection(&out), (421, "host_not_allowed"));
    let out = w
        .decide_from(
            "https://api.example.com",
            "GET",
            "/public/x",
            &[("x-edge-auth-hop", &hop)],
        )
        .await;
    assert_eq!(rejection(&out), (508, "forwarding_loop"));

    let mut local = two_issuer_config();
    local.as_object_mut().unwrap().remove("origin");
    let w = World::new(local);
    for origin in [
        "http://127.0.0.1:8787",
        "http://localhost:8787",
        "https://x.y.workers.dev",
    ] {
        let out = w.decide_from(origin, "GET", "/public/x", &[]).await;
        assert_eq!(
            rejection(&out),
            (500, "route_mode_without_origin"),
            "{origin}"
        );
        // The edge's own endpoints still answer there (health, the console).
        let own = w.decide_from(origin, "GET", "/_auth/health", &[]).await;
        assert!(matches!(own.decision, Decision::Own(_)), "{origin}");
    }
}

// ---- 4. Bounded everything ----

#[tokio::test(flavor = "current_thread")]
async fn subjects_that_cannot_be_stored_or_mislead_are_refused() {
    let mut w = World::new(two_issuer_config());
    for subject in [
        "\u{202e}nimda".to_string(),
        "ad\u{200b}min".to_string(),
        "s".repeat(201),
    ] {
        let body = json!({ "kind": "api_key", "subject": subject, "name": "n", "scopes": [] });
        let reply = w.admin(ADMIN, "POST", "/keys", None, body).await;
        assert_eq!(status(&reply), 400, "{subject:?}");
        let AdminReply::Problem(p) = reply else {
            unreachable!()
        };
        assert!(p.detail.contains("\"subject\""), "{}", p.detail);
    }
    assert!(w.store.data.borrow().is_empty(), "nothing half-written");
    let long = w.jwt(ISS_A, &"u".repeat(300), "read");
    let reply = w
        .admin(
            &long,
            "POST",
            "/pats",
            None,
            json!({ "name": "x", "expires_in": 600 }),
        )
        .await;
    assert_eq!(status(&reply), 400);
    assert!(w.store.data.borrow().is_empty());
    // Such a user owns no PATs, and listing them is an empty list, not a store error.
    let listed = json_body(w.admin(&long, "GET", "/pats", None, Value::Null).await);
    assert_eq!(listed["keys"], json!([]));
}

#[tokio::test(flavor = "current_thread")]
async fn pats_are_capped_per_principal_and_every_listing_paginates() {
    let mut config = two_issuer_config();
    config["keys"] = json!({ "pat_max_active": 3 });
    let mut w = World::new(config);
    let alice = w.jwt(ISS_A, "alice", "read");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(w.mint_pat(&alice, &format!("p{i}")).await["id"].clone());
    }
    let body = json!({ "name": "p3", "scopes": ["read"], "expires_in": 3600 });
    let over = w.admin(&alice, "POST", "/pats", None, body.clone()).await;
    assert_eq!(status(&over), 409, "{over:?}");
    // Another issuer's alice is another principal with a cap of her own.
    let alice_b = w.jwt(ISS_B, "alice", "read");
    w.mint_pat(&alice_b, "b0").await;
    // Revoking one frees a place.
    let path = format!("/pats/{}", ids[0].as_str().unwrap());
    assert_eq!(
        status(&w.admin(&alice, "DELETE", &path, None, Value::Null).await),
        204
    );
    ids.push(json_body(w.admin(&alice, "POST", "/pats", None, body).await)["id"].clone());

    // Pages of one: every PAT of alice@A is reached by following cursors, none twice.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let query = match &cursor {
            Some(c) => format!("limit=1&cursor={c}"),
            None => "limit=1".to_string(),
        };
        let page = json_body(
            w.admin(&alice, "GET", "/pats", Some(&query), Value::Null)
                .await,
        );
        for k in page["keys"].as_array().unwrap() {
            seen.push(k["id"].clone());
        }
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen.sort_by_key(|v| v.to_string());
    let mut want = ids.clone();
    want.sort_by_key(|v| v.to_string());
    assert_eq!(
        seen, want,
        "alice@A's four PATs (one revoked), and not alice@B's"
    );
    // The admin pages through every key.
    let all = json_body(
        w.admin(ADMIN, "GET", "/keys", Some("limit=2"), Value::Null)
            .await,
    );
    assert_eq!(all["keys"].as_array().unwrap().len(), 2);
    assert!(all["cursor"].is_string());
}

/// A record of `kind` for (issuer, subject) made two hours before `NOW`.
fn old_record(
    id: &str,
    kind: edge_auth::keys::KeyKind,
    issuer: Option<&str>,
    subject: &str,
    expires_at: u64,
    revoked: bool,
) -> edge_auth::keys::KeyRecord {
    support_store::record(
        id,
        kind,
        issuer,
        subject,
        NOW - 7_200,
        expires_at,
        revoked.then_some(NOW - 3_600),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn the_pat_cap_counts_a_long_history_from_the_index_listing_alone() {
    use edge_auth::keys::{KeyKind, KeyRepository, TokenDigest};
    use edge_auth::ports::KeyStore;
    let mut config = two_issuer_config();
    config["keys"] = json!({ "pat_max_active": 4 });
    let mut w = World::new(config);
    let repo = KeyRepository::new(&w.store);
    // alice@A's history: 1,500 PATs, every other one revoked, the rest expired.
    for i in 0..1_500u64 {
        let record = old_record(
            &format!("pat_old{i:05}"),
            KeyKind::Pat,
            Some(ISS_A),
            "alice",
            NOW - 60,
            i % 2 == 0,
        );
        let digest = TokenDigest::of(&format!("old-{i}"));
        repo.write_key(&digest, &record).await.unwrap();
    }
    // Active, not hers: alice@B's PATs and an API key of subject "alice".
    for (i, (kind, iss)) in [
        (KeyKind::Pat, Some(ISS_B)),
        (KeyKind::Pat, Some(ISS_B)),
        (KeyKind::ApiKey, None),
    ]
    .into_iter()
    .enumerate()
    {
        let record = old_record(
            &format!("key_other{i}"),
            kind,
            iss,
            "alice",
            NOW + 3_600,
            false,
        );
        repo.write_key(&TokenDigest::of(&format!("other-{i}")), &record)
            .await
            .unwrap();
    }
    // Active and hers: one listed with its summary; one whose entry holds "" (written by a
    // version before summaries); one listed under the form from before principals were
    // issuer-qualified (`sub:<hex(subject)>:<id>`, also ""). The walk reads the last two.
    let active = |id: &str| old_record(id, KeyKind::Pat, Some(ISS_A), "alice", NOW + 3_600, false);
    let entry = |id: &str| edge_auth::keys::repository::index_entry(Some(ISS_A), "alice", id);
    for id in ["pat_sum", "pat_plain", "pat_legacy"] {
        repo.write_key(&TokenDigest::of(id), &active(id))
            .await
            .unwrap();
    }
    w.store.put(&entry("pat_plain"), "", None).await.unwrap();
    w.store.delete(&entry("pat_legacy")).await.unwrap();
    let legacy_entry = format!(
        "{}pat_legacy",
        edge_auth::keys::repository::subject_prefix("alice")
    );
    w.store.put(&legacy_entry, "", None).await.unwrap();
    assert!(!w.store.listed.borrow().contains_key(&entry("pat_plain")));

    // Three active of four: one more fits, counted with two list calls (1,506 entries) and the
    // two unsummarised entries' reads, not two reads per PAT ever made (3,000 before).
    let alice = w.jwt(ISS_A, "alice", "read");
    let (reads, lists) = (w.store.reads.get(), w.store.lists.get());
    w.mint_pat(&alice, "new0").await;
    let lists = w.store.lists.get() - lists;
    let reads = w.store.reads.get() - reads;
    assert_eq!(lists, 2, "one list call per 1,000 index entries");
    assert!(
        reads <= 6,
        "{reads} reads: 2 per unsummarised entry and the new id's check"
    );
    let body = json!({ "name": "over", "scopes": ["read"], "expires_in": 3600 });
    let over = w.admin(&alice, "POST", "/pats", None, body).await;
    assert_eq!(status(&over), 409, "{over:?}");

    // Revoking the legacy one frees a place (its record says revoked, and it is read again); it
    // gets no second index entry, which would list it twice.
    let names = w.store.data.borrow().len();
    assert_eq!(
        status(
            &w.admin(&alice, "DELETE", "/pats/pat_legacy", None, Value::Null)
                .await
        ),
        204
    );
    assert_eq!(w.store.data.borrow().len(), names, "no entry added");
    assert!(!w.store.data.borrow().contains_key(&entry("pat_legacy")));
    w.one_more_pat_then_none(&alice).await;
    // Revoking the others rewrites their summaries (the unsummarised one gains one), and each
    // frees a place.
    for id in ["pat_plain", "pat_sum"] {
        let path = format!("/pats/{id}");
        assert_eq!(
            status(&w.admin(&alice, "DELETE", &path, None, Value::Null).await),
            204
        );
        let listed = w.store.listed.borrow().get(&entry(id)).cloned().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&listed).unwrap(),
            json!({ "kind": "pat", "created_at": NOW - 7_200, "expires_at": NOW + 3_600, "revoked_at": NOW })
        );
        w.one_more_pat_then_none(&alice).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_that_fails_halfway_never_leaves_the_cap_counting_a_pat_that_is_not_active() {
    let fail = |w: &World, prefix: Option<&str>| {
        *w.store.failing_writes.borrow_mut() = prefix.map(str::to_string);
    };
    // A creation whose key record was not written: its index entry says "active", but there is
    // no such PAT (DELETE finds none). Before refusing, the cap reads the keys behind the
    // summaries, and this one is not there.
    let mut config = two_issuer_config();
    config["keys"] = json!({ "pat_max_active": 2 });
    let mut w = World::new(config.clone());
    let alice = w.jwt(ISS_A, "alice", "read");
    let body = json!({ "name": "p", "scopes": ["read"], "expires_in": 3600 });
    fail(&w, Some("key:"));
    assert_eq!(
        status(&w.admin(&alice, "POST", "/pats", None, body.clone()).await),
        503
    );
    fail(&w, None);
    w.mint_pat(&alice, "p1").await;
    w.one_more_pat_then_none(&alice).await;
    let mine = json_body(w.admin(&alice, "GET", "/pats", None, Value::Null).await);
    assert_eq!(mine["keys"].as_array().unwrap().len(), 2);

    // A revocation whose summary rewrite failed: the record says revoked, the summary active.
    // Sent again, it repairs the summary; either way the PAT no longer counts.
    config["keys"] = json!({ "pat_max_active": 1 });
    let mut w = World::new(config);
    let bob = w.jwt(ISS_A, "bob", "read");
    let id = w.mint_pat(&bob, "only").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/pats/{id}");
    fail(&w, Some("sub:"));
    assert_eq!(
        status(&w.admin(&bob, "DELETE", &path, None, Value::Null).await),
        503
    );
    fail(&w, None);
    let entry = edge_auth::keys::repository::index_entry(Some(ISS_A), "bob", &id);
    let summary = |w: &World| -> Value {
        serde_json::from_str(&w.store.listed.borrow().get(&entry).cloned().unwrap()).unwrap()
    };
    assert!(
        summary(&w).get("revoked_at").is_none(),
        "the rewrite failed"
    );
    assert_eq!(
        status(&w.admin(&bob, "POST", "/pats", None, body.clone()).await),
        201,
        "the record is read before refusing"
    );
    assert_eq!(
        status(&w.admin(&bob, "DELETE", &path, None, Value::Null).await),
        204
    );
    assert_eq!(
        summary(&w)["revoked_at"],
        NOW,
        "sent again, the summary is repaired"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_listing_call_stays_within_the_kv_operations_of_one_request() {
    use edge_auth::keys::{KeyKind, KeyRepository, TokenDigest};
    let mut w = World::new(two_issuer_config());
    let repo = KeyRepository::new(&w.store);
    for i in 0..400 {
        let record = old_record(
            &format!("key_svc{i:03}"),
            KeyKind::ApiKey,
            None,
            "svc",
            NOW + 60,
            false,
        );
        repo.write_key(&TokenDigest::of(&record.id), &record)
            .await
            .unwrap();
    }
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let query = match &cursor {
            Some(c) => format!("subject=svc&limit=1000&cursor={c}"),
            None => "subject=svc&limit=1000".to_string(),
        };
        let (reads, lists) = (w.store.reads.get(), w.store.lists.get());
        let body = json_body(
            w.admin(ADMIN, "GET", "/keys", Some(&query), Value::Null)
                .await,
        );
        let ops = w.store.reads.get() - reads + w.store.lists.get() - lists;
        assert!(ops <= 1_000, "page {page}: {ops} KV operations");
        seen += body["keys"].as_array().unwrap().len();
        match body.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, 400, "every key, over the pages");
}

// ---- 5. Smaller ----

#[tokio::test(flavor = "current_thread")]
async fn oversized_and_many_segment_tokens_are_invalid_tokens_not_bad_requests() {
    let w = World::new(two_issuer_config());
    let big = format!("Bearer {}", "a".repeat(16 * 1024 + 1));
    let out = w.decide("GET", "/v1/x", &[("authorization", &big)]).await;
    assert_eq!(rejection(&out), (401, "credential_too_large"));
    let out = w
        .decide("GET", "/v1/x", &[("authorization", "Bearer a.b.c.d")])
        .await;
    assert_eq!(rejection(&out).0, 401);
    let jwt = w.jwt(ISS_A, "alice", "read");
    let out = w
        .decide(
            "GET",
            "/v1/x",
            &[("authorization", &format!("Bearer {jwt}  "))],
        )
        .await;
    forward(&out);
}

#[test]
fn an_http_origin_is_refused_except_on_loopback_or_when_allowed() {
    let parse = |config: Value| Config::from_json(&config.to_string(), &|_| None);
    let mut c = two_issuer_config();
    c["origin"] = json!("http://origin.internal");
    let err = parse(c.clone()).unwrap_err();
    assert_eq!(err.field, "origin");
    c["forward"] = json!({ "allow_http_origin": true });
    assert!(parse(c).is_ok());
    let mut local = two_issuer_config();
    local["origin"] = json!("http://127.0.0.1:9000");
    assert!(parse(local).is_ok());
}

// ---- Import (the CLI's `keys import`, #16; #14 item 7 for records made elsewhere) ----

#[tokio::test(flavor = "current_thread")]
async fn existing_keys_are_imported_by_hash_and_work_without_being_reissued() {
    let mut w = World::new(two_issuer_config());
    let format = edge_auth::keys::KeyFormat::default();
    let mut n = 77u8;
    let mut token = |kind| {
        format
            .generate(kind, &mut |buf: &mut [u8]| {
                for b in buf {
                    n = n.wrapping_mul(29).wrapping_add(3);
                    *b = n;
                }
                Ok(())
            })
            .unwrap()
    };
    let api = token(edge_auth::keys::KeyKind::ApiKey);
    let pat = token(edge_auth::keys::KeyKind::Pat);
    let hash = |t: &str| edge_auth::keys::TokenDigest::of(t).to_hex();
    let body = json!({ "keys": [
        { "hash": hash(&api), "id": "key_legacy1", "kind": "api_key", "subject": "svc", "name": "old", "scopes": ["read"] },
        { "hash": hash(&pat), "kind": "pat", "subject": "alice", "issuer": ISS_B, "name": "old pat", "scopes": [], "expires_at": NOW + 600 }
    ]});
    let reply = json_body(
        w.admin(ADMIN, "POST", "/keys/import", None, body.clone())
            .await,
    );
    assert_eq!(reply["imported"], 2, "{reply}");
    assert_eq!(reply["ids"][0], "key_legacy1");
    assert!(
        !reply.to_string().contains(&hash(&api)),
        "the reply never echoes a hash"
    );

    let out = w.decide("GET", "/v1/x", &[("x-api-key", &api)]).await;
    let (_, headers, _) = forward(&out);
    let headers = headers.as_slice();
    assert_eq!(header(headers, "X-Auth-Key-Id"), Some("key_legacy1"));
    let out = w.decide("GET", "/v1/x", &[("x-api-key", &pat)]).await;
    assert_eq!(header(&forward(&out).1, "X-Auth-Issuer"), Some(ISS_B));
    // The PAT belongs to (B, alice): she lists it, A's alice does not.
    let b_alice = w.jwt(ISS_B, "alice", "read");
    let listed = json_body(w.admin(&b_alice, "GET", "/pats", None, Value::Null).await);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);

    // Re-running skips what is there; an id taken by another key refuses the whole batch.
    let again = json_body(w.admin(ADMIN, "POST", "/keys/import", None, body).await);
    assert_eq!(
        (again["imported"].clone(), again["skipped"].clone()),
        (json!(0), json!(2))
    );
    let other = token(edge_auth::keys::KeyKind::ApiKey);
    let writes_before = w.store.writes.get();
    let clash = json!({ "keys": [
        { "hash": hash(&token(edge_auth::keys::KeyKind::ApiKey)), "kind": "api_key", "subject": "x", "name": "" },
        { "hash": hash(&other), "id": "key_legacy1", "kind": "api_key", "subject": "x", "name": "" }
    ]});
    assert_eq!(
        status(&w.admin(ADMIN, "POST", "/keys/import", None, clash).await),
        409
    );
    assert_eq!(w.store.writes.get(), writes_before, "nothing written");
    // One id twice in a batch: `id:X` could name only one of them, so revoking X would leave
    // the other active and unlisted. Refused, naming the second, before anything is written.
    let twice = json!({ "keys": [
        { "hash": hash(&token(edge_auth::keys::KeyKind::ApiKey)), "id": "key_twin", "kind": "api_key", "subject": "x", "name": "" },
        { "hash": hash(&token(edge_auth::keys::KeyKind::ApiKey)), "id": "key_twin", "kind": "api_key", "subject": "y", "name": "" }
    ]});
    let reply = w.admin(ADMIN, "POST", "/keys/import", None, twice).await;
    assert_eq!(status(&reply), 400, "{reply:?}");
    let AdminReply::Problem(p) = reply else {
        panic!("{reply:?}")
    };
    assert!(p.detail.contains("keys[1].id"), "{}", p.detail);
    assert_eq!(w.store.writes.get(), writes_before, "nothing written");
    let bad = json!({ "keys": [{ "hash": "ABC", "kind": "api_key", "subject": "x", "name": "" }] });
    let reply = w.admin(ADMIN, "POST", "/keys/import", None, bad).await;
    let AdminReply::Problem(p) = reply else {
        panic!("{reply:?}")
    };
    assert!(p.detail.contains("keys[0].hash"), "{}", p.detail);
    // Only the admin imports.
    let user = w.jwt(ISS_A, "alice", "read");
    assert_eq!(
        status(
            &w.admin(&user, "POST", "/keys/import", None, json!({ "keys": [] }))
                .await
        ),
        403
    );
}

/// #15 item 5: failures are limited per client address before any lookup; a key's owner is never
/// locked out by someone failing with it, and the right admin token always works.
#[tokio::test(flavor = "current_thread")]
async fn the_failed_auth_budget_stops_a_forged_key_flood_before_kv_and_never_locks_out_the_owner() {
    let mut w = World::new(json!({
        "origin": "https://origin.example",
        "routes": [{ "path": "/v1/**", "accept": ["api_key"] }],
        "keys": { "record_last_used": false },
        "failed_auth": { "burst": 5, "per_minute": 1 }
    }));
    let created = json_body(
        w.admin(
            ADMIN,
            "POST",
            "/keys",
            None,
            json!({"kind": "api_key", "subject": "owner", "name": "k", "scopes": []}),
        )
        .await,
    );
    let token = created["token"].as_str().unwrap().to_string();
    let ip = ("cf-connecting-ip", "198.51.100.66");
    let valid = |t: &str| format!("Bearer {t}");
    let owner = valid(&token);
    assert!(matches!(
        w.decide("GET", "/v1/x", &[("authorization", &owner), ip])
            .await
            .decision,
        Decision::Forward { .. }
    ));

    let mut n = 7u8;
    let mut fill = |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_mul(29).wrapping_add(3);
            *b = n;
        }
        Ok(())
    };
    let reads_before = w.store.reads.get();
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let forged = w
            .gateway
            .config
            .keys
            .format
            .generate(edge_auth::keys::KeyKind::ApiKey, &mut fill)
            .unwrap();
        let outcome = w
            .decide("GET", "/v1/x", &[("authorization", &valid(&forged)), ip])
            .await;
        statuses.push(rejection(&outcome).0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "the burst"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 45);
    assert!(
        w.store.reads.get() - reads_before <= 5,
        "no KV read once the budget is spent"
    );
    let Decision::Reject(p) = w
        .decide("GET", "/v1/x", &[("authorization", "Bearer eak_x"), ip])
        .await
        .outcome
        .decision
    else {
        panic!("refused");
    };
    assert!(p.status == 401 || p.status == 429);
    let forged = w
        .gateway
        .config
        .keys
        .format
        .generate(edge_auth::keys::KeyKind::ApiKey, &mut fill)
        .unwrap();
    let outcome = w
        .decide("GET", "/v1/x", &[("authorization", &valid(&forged)), ip])
        .await;
    let Decision::Reject(p) = outcome.outcome.decision else {
        panic!("refused")
    };
    assert_eq!(
        (p.status, p.reason.as_str(), p.error_code()),
        (429, "too_many_failures", Some("rate_limited"))
    );
    assert!(p.retry_after.is_some_and(|r| r >= 1));

    // The owner's key, which this isolate holds as valid, still works from the same address.
    assert!(matches!(
        w.decide("GET", "/v1/x", &[("authorization", &owner), ip])
            .await
            .decision,
        Decision::Forward { .. }
    ));
    // Another address has its own budget.
    let other = w
        .decide(
            "GET",
            "/v1/x",
            &[
                ("authorization", &valid(&forged)),
                ("cf-connecting-ip", "203.0.113.5"),
            ],
        )
        .await;
    assert_eq!(rejection(&other).0, 401);

    // Admin token guesses: the budget, then 429; the right token still works.
    for _ in 0..5 {
        let headers_ip = [
            (
                "authorization".to_string(),
                "Bearer wrong-admin-token-guess".to_string(),
            ),
            ("cf-connecting-ip".to_string(), "198.51.100.77".to_string()),
        ];
        let r = w
            .admin_with_headers(&headers_ip, "GET", "/keys", None, Value::Null)
            .await;
        assert_eq!(status(&r), 401);
    }
    let guess = [
        (
            "authorization".to_string(),
            "Bearer wrong-admin-token-guess".to_string(),
        ),
        ("cf-connecting-ip".to_string(), "198.51.100.77".to_string()),
    ];
    assert_eq!(
        status(
            &w.admin_with_headers(&guess, "GET", "/keys", None, Value::Null)
                .await
        ),
        429
    );
    let right = [
        ("authorization".to_string(), format!("Bearer {ADMIN}")),
        ("cf-connecting-ip".to_string(), "198.51.100.77".to_string()),
    ];
    assert_eq!(
        status(
            &w.admin_with_headers(&right, "GET", "/keys", None, Value::Null)
                .await
        ),
        200
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_pat_roll_with_a_grace_counts_toward_the_cap_and_one_without_replaces() {
    let mut config = two_issuer_config();
    config["keys"] = json!({ "pat_max_active": 2 });
    let mut w = World::new(config);
    let alice = w.jwt(ISS_A, "alice", "read");
    let first = w.mint_pat(&alice, "p0").await["id"].clone();
    w.mint_pat(&alice, "p1").await;
    let roll = |id: &Value| format!("/keys/{}/roll", id.as_str().unwrap());
    // Through a grace both keys are live: at the cap that would be a third.
    let over = w
        .admin(
            ADMIN,
            "POST",
            &roll(&first),
            None,
            json!({ "grace_seconds": 600 }),
        )
        .await;
    assert_eq!(status(&over), 409, "{over:?}");
    // Without one the new key replaces the old: allowed at the cap, and still two live.
    let replaced = json_body(
        w.admin(
            ADMIN,
            "POST",
            &roll(&first),
            None,
            json!({ "grace_seconds": 0 }),
        )
        .await,
    );
    // A chain of graceful rolls cannot grow past the cap either.
    let again = w
        .admin(
            ADMIN,
            "POST",
            &roll(&replaced["id"]),
            None,
            json!({ "grace_seconds": 60 }),
        )
        .await;
    assert_eq!(status(&again), 409, "{again:?}");
    let body = json!({ "name": "p2", "scopes": ["read"], "expires_in": 3600 });
    assert_eq!(
        status(&w.admin(&alice, "POST", "/pats", None, body).await),
        409
    );
}
