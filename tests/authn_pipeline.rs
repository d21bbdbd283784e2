//! The pipeline through the core's public API, with fakes: routing, extraction, JWT verification
//! (native verifier), header plan, assertions and the decision for every kind of rejection.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "support_jwt/mod.rs"]
mod support_jwt;

use base64ct::Encoding;
use edge_auth::authn::{Decision, Gateway, OwnEndpoint, Ports, RequestParts};
use edge_auth::config::Config;
use edge_auth::jwt::{NativeKey, NativeVerifier};
use edge_auth::ports::{FetchError, KeyStore, ListPage, StoreError};
use edge_auth::problem::Problem;
use edge_auth::time::UnixTime;
use serde_json::{json, Value};
use support_jwt::{Decided, EdKey, ScriptedSource, AUD, ISS, JWKS_URL};

const NOW: u64 = 1_900_000_000;

/// A store that must not be touched by the paths under test here.
struct NoStore;

impl KeyStore for NoStore {
    async fn get_cached(&self, _: &str) -> Result<Option<String>, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn get(&self, _: &str) -> Result<Option<String>, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn put(&self, _: &str, _: &str, _: Option<u64>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn put_listed(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn list(&self, _: &str, _: Option<&str>, _: u32) -> Result<ListPage, StoreError> {
        Err(StoreError::Unavailable)
    }
}

fn config_json() -> Value {
    json!({
        "origin": "https://origin.internal",
        "realm": "api",
        "issuers": [{
            "issuer": ISS, "jwks_uri": JWKS_URL, "audiences": [AUD], "algorithms": ["EdDSA"]
        }],
        "routes": [
            { "path": "/health", "auth": "public" },
            { "path": "/optional/**", "auth": "optional" },
            { "path": "/cors/**", "methods": ["PUT"], "cors_preflight": true },
            { "path": "/keys-only/**", "accept": ["api_key"] },
            { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "accept": ["jwt"], "scopes": ["admin"] },
            { "path": "/v1/**", "accept": ["jwt", "api_key", "pat"] }
        ]
    })
}

fn gateway_with(config: Value, secrets: &[(&str, &str)]) -> Gateway<NativeKey> {
    let lookup = |name: &str| {
        secrets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
    };
    Gateway::new(Config::from_json(&config.to_string(), &lookup).unwrap())
}

fn gateway() -> Gateway<NativeKey> {
    gateway_with(config_json(), &[])
}

struct World {
    source: ScriptedSource,
    key: EdKey,
}

impl World {
    fn new() -> Self {
        let key = EdKey::new("k1", 1);
        let source = ScriptedSource::new();
        source.serve(JWKS_URL, Some("max-age=600"), support_jwt::jwks(&[&key]));
        World { source, key }
    }

    fn token(&self, extra: Value) -> String {
        let mut claims = json!({ "iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 600, "iat": NOW, "scope": "read write" });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        self.key.token(&claims)
    }

    async fn run(
        &self,
        g: &Gateway<NativeKey>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Decided {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let req = RequestParts {
            method,
            path,
            query,
            headers: &headers,
            origin: "https://edge.example",
            entropy: [7; 16],
            request_id: "rid-1",
        };
        let ports = Ports {
            store: &NoStore,
            documents: &self.source,
            verifier: &NativeVerifier,
            authority: None::<&edge_auth::ports::NoAuthority>,
            now_ms: 0,
        };
        let outcome = g.decide(req, ports, UnixTime(NOW)).await;
        Decided {
            outcome,
            incoming: headers,
        }
    }
}

/// The forwarded headers, less the forwarding headers the edge sets itself on every forward
/// from `https://edge.example` (asserted present exactly once each, so nothing is hidden).
fn forwarded(decided: &Decided) -> Vec<(String, String)> {
    let Some(headers) = decided.forwarded() else {
        panic!("expected a forward, got {:?}", decided.decision)
    };
    let edge = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "edge.example"),
        ("x-edge-auth-hop", "https://edge.example"),
    ];
    for (name, value) in edge {
        let count = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count();
        assert_eq!(count, 1, "{name} set once by the edge");
        assert!(
            headers.iter().any(|(n, v)| n == name && v == value),
            "{name}: {value}"
        );
    }
    headers
        .iter()
        .filter(|(n, _)| !edge.iter().any(|(e, _)| n == e))
        .cloned()
        .collect()
}

/// The assertion's signing input a forward carries (signed by the adapter).
fn pending_assertion(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Forward { assertion, .. } => assertion.as_deref(),
        other => panic!("expected a forward, got {other:?}"),
    }
}

fn rejected(decision: &Decision) -> &Problem {
    match decision {
        Decision::Reject(p) => p,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "current_thread")]
async fn public_route_forwards_without_identity_and_strips_spoofs() {
    let w = World::new();
    let out = w
        .run(
            &gateway(),
            "GET",
            "/health",
            &[
                ("X-Auth-Subject", "root"),
                ("x_auth_type", "jwt"),
                ("Accept", "*/*"),
            ],
        )
        .await;
    let headers = forwarded(&out);
    assert_eq!(headers, vec![("Accept".to_string(), "*/*".to_string())]);
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("public"));
}

#[tokio::test(flavor = "current_thread")]
async fn protected_route_without_credential_is_401_without_error_code() {
    let w = World::new();
    let out = w.run(&gateway(), "GET", "/v1/things", &[]).await;
    let p = rejected(&out.decision);
    assert_eq!(p.status, 401);
    assert_eq!(
        p.www_authenticate("api").as_deref(),
        Some("Bearer realm=\"api\"")
    );
    assert_eq!(w.source.fetches(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn unmatched_path_is_403_and_ambiguous_path_is_400() {
    let w = World::new();
    let g = gateway();
    let p = rejected(&w.run(&g, "GET", "/elsewhere", &[]).await.outcome.decision).clone();
    assert_eq!(
        (p.status, p.reason.as_str(), p.www_authenticate("api")),
        (403, "no_route", None)
    );
    let p = rejected(&w.run(&g, "GET", "/v1/a%2Fb", &[]).await.outcome.decision).clone();
    assert_eq!((p.status, p.reason.as_str()), (400, "path_ambiguous"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_valid_jwt_is_forwarded_with_identity_headers_and_no_credential() {
    let w = World::new();
    let token = w.token(json!({ "client_id": "cli-9" }));
    let auth = format!("Bearer {token}");
    let out = w
        .run(
            &gateway(),
            "GET",
            "/v1/things",
            &[("Authorization", &auth), ("X-Auth-Key-Id", "spoof")],
        )
        .await;
    let h = &forwarded(&out);
    assert_eq!(header(h, "X-Auth-Type"), Some("jwt"));
    assert_eq!(header(h, "X-Auth-Subject"), Some("alice"));
    assert_eq!(header(h, "X-Auth-Scopes"), Some("read write"));
    assert_eq!(header(h, "X-Auth-Issuer"), Some(ISS));
    assert_eq!(header(h, "X-Auth-Client-Id"), Some("cli-9"));
    assert_eq!(header(h, "X-Auth-Expires-At"), Some("1900000600"));
    assert_eq!(
        header(h, "X-Auth-Key-Id"),
        None,
        "the spoofed key id is gone"
    );
    assert_eq!(header(h, "Authorization"), None);
    assert_eq!(header(h, "X-Auth-Assertion"), None);
    assert_eq!(
        pending_assertion(&out.decision),
        None,
        "no ASSERTION_KEY configured"
    );
    assert_eq!(out.log.subject.as_deref(), Some("alice"));
    assert_eq!(out.log.kid.as_deref(), Some("k1"));
}

#[tokio::test(flavor = "current_thread")]
async fn scopes_are_enforced_with_403_naming_them() {
    let w = World::new();
    let g = gateway();
    let auth = format!("Bearer {}", w.token(json!({})));
    let p = rejected(
        &w.run(&g, "POST", "/v1/admin/users", &[("Authorization", &auth)])
            .await
            .outcome
            .decision,
    )
    .clone();
    assert_eq!(p.status, 403);
    assert_eq!(p.scope.as_deref(), Some("admin"));
    let admin = format!("Bearer {}", w.token(json!({ "scope": "admin" })));
    forwarded(
        &w.run(&g, "POST", "/v1/admin/users", &[("Authorization", &admin)])
            .await,
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_kind_the_route_does_not_accept_is_refused_before_any_fetch() {
    let w = World::new();
    let auth = format!("Bearer {}", w.token(json!({})));
    let p = rejected(
        &w.run(
            &gateway(),
            "GET",
            "/keys-only/x",
            &[("Authorization", &auth)],
        )
        .await
        .outcome
        .decision,
    )
    .clone();
    assert_eq!((p.status, p.reason.as_str()), (401, "kind_not_accepted"));
    assert_eq!(w.source.fetches(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn optional_routes_forward_anonymous_but_never_a_bad_credential() {
    let w = World::new();
    let g = gateway();
    let h = forwarded(
        &w.run(&g, "GET", "/optional/x", &[("x-auth-type", "jwt")])
            .await,
    )
    .clone();
    assert_eq!(
        h,
        vec![("X-Auth-Type".to_string(), "anonymous".to_string())]
    );
    let p = rejected(
        &w.run(
            &g,
            "GET",
            "/optional/x",
            &[("Authorization", "Bearer not.a.jwt")],
        )
        .await
        .outcome
        .decision,
    )
    .clone();
    assert_eq!(p.status, 401);
    let auth = format!("Bearer {}", w.token(json!({})));
    let h = forwarded(
        &w.run(&g, "GET", "/optional/x", &[("Authorization", &auth)])
            .await,
    )
    .clone();
    assert_eq!(header(&h, "X-Auth-Type"), Some("jwt"));
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_credentials_are_400_invalid_request() {
    let w = World::new();
    let g = gateway();
    for headers in [
        vec![("Authorization", "Bearer a.b.c"), ("X-API-Key", "eak_x")],
        vec![("Authorization", "Bearer  a.b.c")],
        vec![("Authorization", "Bearer a.b.c, Bearer d.e.f")],
    ] {
        let p = rejected(&w.run(&g, "GET", "/v1/x", &headers).await.outcome.decision).clone();
        assert_eq!(
            (p.status, p.error_code()),
            (400, Some("invalid_request")),
            "{headers:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_jwt_in_x_api_key_and_unrecognised_tokens_are_invalid_token() {
    let w = World::new();
    let g = gateway();
    let token = w.token(json!({}));
    let p = rejected(
        &w.run(&g, "GET", "/v1/x", &[("X-API-Key", &token)])
            .await
            .outcome
            .decision,
    )
    .clone();
    assert_eq!(
        (p.status, p.reason.as_str()),
        (401, "jwt_in_api_key_header")
    );
    let p = rejected(
        &w.run(
            &g,
            "GET",
            "/v1/x",
            &[("Authorization", "Bearer opaque-token")],
        )
        .await
        .outcome
        .decision,
    )
    .clone();
    assert_eq!(
        (p.status, p.reason.as_str()),
        (401, "unrecognised_credential")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn jwks_down_with_nothing_cached_is_503_with_retry_after() {
    let w = World::new();
    w.source.fail(JWKS_URL, FetchError::Timeout);
    let auth = format!("Bearer {}", w.token(json!({})));
    let p = rejected(
        &w.run(&gateway(), "GET", "/v1/x", &[("Authorization", &auth)])
            .await
            .outcome
            .decision,
    )
    .clone();
    assert_eq!(p.status, 503);
    assert!(p.retry_after.is_some_and(|s| s > 0));
    assert_eq!(p.www_authenticate("api"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn cors_preflight_passes_only_where_the_route_says_so() {
    let w = World::new();
    let g = gateway();
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "PUT"),
    ];
    let out = w.run(&g, "OPTIONS", "/cors/thing", &preflight).await;
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("cors_preflight"));
    forwarded(&out);
    let p = rejected(
        &w.run(&g, "OPTIONS", "/v1/thing", &preflight)
            .await
            .outcome
            .decision,
    )
    .clone();
    assert_eq!(
        p.status, 401,
        "a route without cors_preflight still wants a credential"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn own_endpoints_live_under_admin_path() {
    let w = World::new();
    let g = gateway();
    let own = |d: &Decision| match d {
        Decision::Own(e) => e.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/health", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Health
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/jwks.json", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Jwks
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/openapi.json", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::OpenApi
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/openapi.json/x", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::NotFound
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/console/", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Console("/".into())
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/console/app.js", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Console("/app.js".into())
    );
    // The OpenAPI document shares the assets directory; the console does not serve it.
    for path in [
        "/_auth/console/openapi.json",
        "/_auth/console/%6Fpenapi.json",
    ] {
        assert_eq!(
            own(&w.run(&g, "GET", path, &[]).await.outcome.decision),
            OwnEndpoint::NotFound,
            "{path}"
        );
    }
    assert_eq!(
        own(&w
            .run(&g, "POST", "/_auth/keys/abc/roll", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Api("/keys/abc/roll".into())
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/console", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Redirect("/_auth/console/".into()),
        "redirected to the slashed form"
    );
    assert_eq!(
        own(&w.run(&g, "GET", "/_auth/nope", &[]).await.outcome.decision),
        OwnEndpoint::NotFound
    );
    assert_eq!(
        own(&w
            .run(&g, "GET", "/_auth/%2e/health", &[])
            .await
            .outcome
            .decision),
        OwnEndpoint::Health
    );
}

#[tokio::test(flavor = "current_thread")]
async fn with_an_assertion_key_every_non_public_forward_is_signed() {
    let w = World::new();
    let d = base64ct::Base64UrlUnpadded::encode_string(&[3u8; 32]);
    let secret = format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","kid":"edge-1"}}"#);
    let g = gateway_with(config_json(), &[("ASSERTION_KEY", &secret)]);
    let auth = format!("Bearer {}", w.token(json!({})));
    let decided = w.run(&g, "GET", "/v1/x", &[("Authorization", &auth)]).await;
    let decision = &decided.decision;
    let input = pending_assertion(decision).unwrap();
    assert_eq!(
        header(&forwarded(&decided), "X-Auth-Assertion"),
        None,
        "the adapter adds the header once it has signed"
    );
    let payload: Value = serde_json::from_slice(
        &base64ct::Base64UrlUnpadded::decode_vec(input.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(payload["iss"], "https://edge.example");
    assert_eq!(payload["aud"], "https://origin.internal");
    assert_eq!(payload["sub"], "alice");
    assert_eq!(payload["auth_type"], "jwt");
    assert_eq!(payload["exp"], NOW + 60);

    // What the adapter does with WebCrypto, done here with the Rust signer: the result verifies
    // against the published key.
    let signer = g.config.assertion_signer.as_ref().unwrap();
    let token = signer.sign_input(input).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    assert_eq!(signed, input);
    let x = signer.jwks()["keys"][0]["x"].as_str().unwrap().to_string();
    let public = ed25519_compact::PublicKey::from_slice(
        &base64ct::Base64UrlUnpadded::decode_vec(&x).unwrap(),
    )
    .unwrap();
    let signature = ed25519_compact::Signature::from_slice(
        &base64ct::Base64UrlUnpadded::decode_vec(signature).unwrap(),
    )
    .unwrap();
    assert!(public.verify(signed.as_bytes(), &signature).is_ok());
    // The private JWK for WebCrypto carries the same key.
    let jwk: Value = serde_json::from_str(&signer.active_private_jwk().unwrap()).unwrap();
    assert_eq!(jwk["x"], x.as_str());
    assert_eq!(jwk["crv"], "Ed25519");

    let public_route = w.run(&g, "GET", "/health", &[]).await.outcome.decision;
    assert_eq!(
        pending_assertion(&public_route),
        None,
        "public routes carry no identity"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn claims_forwarding_is_off_by_default_and_capped() {
    let w = World::new();
    let auth = format!("Bearer {}", w.token(json!({})));
    let h = forwarded(
        &w.run(&gateway(), "GET", "/v1/x", &[("Authorization", &auth)])
            .await,
    )
    .clone();
    assert_eq!(header(&h, "X-Auth-Claims"), None);
    let mut cfg = config_json();
    cfg["forward"] = json!({ "claims": true, "claims_max_bytes": 256 });
    let g = gateway_with(cfg, &[]);
    let h = forwarded(&w.run(&g, "GET", "/v1/x", &[("Authorization", &auth)]).await).clone();
    let claims = header(&h, "X-Auth-Claims").unwrap();
    let decoded: Value =
        serde_json::from_slice(&base64ct::Base64UrlUnpadded::decode_vec(claims).unwrap()).unwrap();
    assert_eq!(decoded["sub"], "alice");
    let big = format!("Bearer {}", w.token(json!({ "padding": "x".repeat(400) })));
    let h = forwarded(&w.run(&g, "GET", "/v1/x", &[("Authorization", &big)]).await).clone();
    assert_eq!(header(&h, "X-Auth-Claims"), None, "over the cap: omitted");
}

#[tokio::test(flavor = "current_thread")]
async fn mapped_scopes_and_client_id_reach_headers_routes_and_the_assertion() {
    let w = World::new();
    let d = base64ct::Base64UrlUnpadded::encode_string(&[3u8; 32]);
    let secret = format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","kid":"edge-1"}}"#);
    let mut config = config_json();
    config["issuers"][0]["scope_claims"] = json!(["scope", "realm_access.roles"]);
    config["issuers"][0]["client_id_claims"] = json!(["cid"]);
    let g = gateway_with(config, &[("ASSERTION_KEY", &secret)]);
    let token = w.token(json!({
        "scope": "read", "realm_access": {"roles": ["admin", "read"]}, "cid": "svc", "client_id": "ignored"
    }));
    let auth = format!("Bearer {token}");
    // The route's `scopes: ["admin"]` is met by the realm role.
    let decided = w
        .run(&g, "POST", "/v1/admin/x", &[("Authorization", &auth)])
        .await;
    let decision = &decided.decision;
    let headers = forwarded(&decided);
    assert_eq!(header(&headers, "X-Auth-Scopes"), Some("read admin"));
    assert_eq!(header(&headers, "X-Auth-Client-Id"), Some("svc"));
    let input = pending_assertion(decision).unwrap();
    let payload: Value = serde_json::from_slice(
        &base64ct::Base64UrlUnpadded::decode_vec(input.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(payload["scope"], "read admin");
    assert_eq!(payload["client_id"], "svc");

    // A configured scope claim of the wrong type refuses the token; nothing is forwarded.
    let bad = format!(
        "Bearer {}",
        w.token(json!({ "realm_access": {"roles": [1]} }))
    );
    let decision = w
        .run(&g, "GET", "/v1/x", &[("Authorization", &bad)])
        .await
        .outcome
        .decision;
    let p = rejected(&decision);
    assert_eq!((p.status, p.reason.as_str()), (401, "invalid_scope"));
    assert_eq!(p.error_code(), Some("invalid_token"));
}
