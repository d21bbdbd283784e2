//! What operators and clients are told: the health report (dependencies from the JWKS cache and
//! the adapter's KV probe), configuration faults named in problems and log facts (`AUTH_KV` not
//! bound, the issuer whose keys cannot be fetched), what a rejection's log facts carry, the
//! `debug.explain_rejections` dev setting, and the copy of rejections and admin body errors.
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

use edge_auth::admin::{AdminReply, AdminRequest};
use edge_auth::authn::{Decision, Gateway, KvProbe, Outcome, Ports, RequestParts};
use edge_auth::config::Config;
use edge_auth::jwt::{NativeKey, NativeVerifier};
use edge_auth::ports::{FetchError, KeyStore, ListPage, StoreError};
use edge_auth::problem::{Challenge, Problem};
use edge_auth::time::UnixTime;
use serde_json::{json, Value};
use support_jwt::{EdKey, ScriptedSource, AUD, ISS, JWKS_URL};
use support_store::MemoryStore;

const NOW: u64 = 1_900_000_000;
const ADMIN_TOKEN: &str = "admin-token-that-is-long-enough-000000000";

/// A store whose binding is absent, as the adapter reports it.
struct UnboundStore;

impl KeyStore for UnboundStore {
    async fn get_cached(&self, _: &str) -> Result<Option<String>, StoreError> {
        Err(StoreError::NotBound)
    }
    async fn get(&self, _: &str) -> Result<Option<String>, StoreError> {
        Err(StoreError::NotBound)
    }
    async fn put(&self, _: &str, _: &str, _: Option<u64>) -> Result<(), StoreError> {
        Err(StoreError::NotBound)
    }
    async fn put_listed(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(StoreError::NotBound)
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::NotBound)
    }
    async fn list(&self, _: &str, _: Option<&str>, _: u32) -> Result<ListPage, StoreError> {
        Err(StoreError::NotBound)
    }
}

fn config_json() -> Value {
    json!({
        "origin": "https://origin.internal",
        "issuers": [{
            "issuer": ISS, "jwks_uri": JWKS_URL, "audiences": [AUD], "algorithms": ["EdDSA"]
        }],
        "routes": [
            { "path": "/keys-only/**", "accept": ["api_key"] },
            { "path": "/jwt-or-key/**", "accept": ["jwt", "api_key"] },
            { "path": "/v1/**" }
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

/// A well-formed API key (valid checksum) that no store holds.
fn api_key() -> String {
    let body = format!("eak_{}", "Q".repeat(30));
    let crc = crc32fast_ieee(body.as_bytes());
    format!("{body}{}", base62(crc))
}

fn crc32fast_ieee(bytes: &[u8]) -> u32 {
    let mut c: u32 = !0;
    for b in bytes {
        c ^= u32::from(*b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn base62(mut n: u32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap()
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
        let mut claims =
            json!({ "iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 600, "iat": NOW });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.key.token(&claims)
    }

    async fn run_with<S: KeyStore>(
        &self,
        g: &Gateway<NativeKey>,
        store: &S,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Outcome {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let req = RequestParts {
            method: "GET",
            path,
            query: None,
            headers: &headers,
            origin: "https://edge.example",
            entropy: [7; 16],
            request_id: "rid-1",
        };
        let ports = Ports {
            store,
            documents: &self.source,
            verifier: &NativeVerifier,
            authority: None::<&edge_auth::ports::NoAuthority>,
            now_ms: 0,
        };
        g.decide(req, ports, UnixTime(NOW)).await
    }

    async fn run(&self, g: &Gateway<NativeKey>, path: &str, headers: &[(&str, &str)]) -> Outcome {
        self.run_with(g, &MemoryStore::new(), path, headers).await
    }
}

fn rejected(out: &Outcome) -> &Problem {
    match &out.decision {
        Decision::Reject(p) => p,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// --- copy of rejections ---------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_missing_credential_says_what_to_send() {
    let w = World::new();
    let out = w.run(&gateway(), "/v1/x", &[]).await;
    let p = rejected(&out);
    assert_eq!((p.status, p.reason.as_str()), (401, "missing_credential"));
    assert_eq!(
        p.detail,
        "Send a credential: Authorization: Bearer <token> or X-API-Key: <key>."
    );
    assert_eq!(
        p.www_authenticate("api").as_deref(),
        Some("Bearer realm=\"api\"")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn basic_authorization_is_named_as_unsupported_with_the_plain_challenge() {
    let w = World::new();
    let out = w
        .run(
            &gateway(),
            "/v1/x",
            &[("Authorization", "Basic YWxpY2U6cHc=")],
        )
        .await;
    let p = rejected(&out);
    assert_eq!((p.status, p.reason.as_str()), (401, "missing_credential"));
    assert_eq!(p.challenge, Challenge::Bearer);
    assert!(
        p.detail
            .starts_with("Basic authentication is not supported."),
        "{}",
        p.detail
    );
    assert!(p.detail.contains("Authorization: Bearer <token>"));
    assert!(
        !p.detail.contains("YWxpY2U6cHc"),
        "never echoes the credential"
    );
    // Another scheme is not named: its name is the client's text.
    let out = w
        .run(&gateway(), "/v1/x", &[("Authorization", "Evil<b> abc")])
        .await;
    let p = rejected(&out);
    assert!(p
        .detail
        .starts_with("This Authorization scheme is not supported."));
    assert!(!p.detail.contains("Evil"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_kind_lists_the_kinds_the_route_accepts() {
    let w = World::new();
    let token = w.token(json!({}));
    let bearer = format!("Bearer {token}");
    let out = w
        .run(&gateway(), "/keys-only/x", &[("Authorization", &bearer)])
        .await;
    let p = rejected(&out);
    assert_eq!((p.status, p.reason.as_str()), (401, "kind_not_accepted"));
    assert!(
        p.detail.ends_with("This route accepts: api_key."),
        "{}",
        p.detail
    );
    let pat = "eap_".to_string() + &"Q".repeat(36);
    let out = w
        .run(&gateway(), "/jwt-or-key/x", &[("X-API-Key", &pat)])
        .await;
    let p = rejected(&out);
    assert_eq!(p.reason, "kind_not_accepted");
    assert!(
        p.detail.ends_with("This route accepts: jwt, api_key."),
        "{}",
        p.detail
    );
}

// --- configuration faults named ----------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn an_unbound_kv_is_a_500_naming_auth_kv_without_retry_after() {
    let w = World::new();
    let key = api_key();
    let out = w
        .run_with(&gateway(), &UnboundStore, "/v1/x", &[("X-API-Key", &key)])
        .await;
    let p = rejected(&out);
    assert_eq!((p.status, p.reason.as_str()), (500, "kv_not_bound"));
    assert!(p.detail.contains("AUTH_KV is not bound"), "{}", p.detail);
    assert_eq!(p.retry_after, None);
    assert_eq!(p.challenge, Challenge::None);
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("kv_not_bound"));
    assert_eq!(out.log.binding, Some("AUTH_KV"));
    assert!(!p.body("r").contains(&key));

    // A store that is bound but failing is still a 503 to retry.
    let failing = MemoryStore::new();
    failing.failing.set(true);
    let out = w
        .run_with(&gateway(), &failing, "/v1/x", &[("X-API-Key", &key)])
        .await;
    let p = rejected(&out);
    assert_eq!((p.status, p.reason.as_str()), (503, "kv_unavailable"));
    assert!(p.retry_after.is_some());
    assert_eq!(out.log.binding, None);
}

#[tokio::test(flavor = "current_thread")]
async fn the_admin_api_names_an_unbound_kv_too() {
    let g = gateway_with(config_json(), &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    let reply = admin(&g, &UnboundStore, "GET", "/keys", b"").await;
    match reply {
        AdminReply::Problem(p) => {
            assert_eq!((p.status, p.reason.as_str()), (500, "kv_not_bound"));
            assert!(p.detail.contains("AUTH_KV is not bound"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_issuer_is_named_in_the_detail_and_its_url_only_in_the_log() {
    let w = World::new();
    w.source.fail(JWKS_URL, FetchError::Network);
    let token = w.token(json!({}));
    let bearer = format!("Bearer {token}");
    let out = w
        .run(&gateway(), "/v1/x", &[("Authorization", &bearer)])
        .await;
    let p = rejected(&out);
    assert_eq!((p.status, p.reason.as_str()), (503, "jwks_fetch_failed"));
    assert_eq!(
        p.detail,
        format!("The signing keys of issuer {ISS} cannot be fetched right now.")
    );
    assert!(!p.body("r").contains(JWKS_URL), "the URL stays in the log");
    assert_eq!(out.log.issuer.as_deref(), Some(ISS));
    assert_eq!(out.log.jwks_uri.as_deref(), Some(JWKS_URL));
    assert_eq!(out.log.kid.as_deref(), Some("k1"));
}

// --- log facts of rejections -------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_refused_token_logs_its_iss_and_kid_and_the_route_pattern() {
    let w = World::new();
    let token = w.token(json!({ "aud": "https://other.example" }));
    let bearer = format!("Bearer {token}");
    let out = w
        .run(&gateway(), "/v1/x", &[("Authorization", &bearer)])
        .await;
    assert_eq!(rejected(&out).status, 401);
    assert_eq!(out.log.issuer.as_deref(), Some(ISS));
    assert_eq!(out.log.kid.as_deref(), Some("k1"));
    assert_eq!(out.log.route, Some(2));
    assert_eq!(out.log.route_path.as_deref(), Some("/v1/**"));
    assert_eq!(out.log.jwks_uri, None);

    // An unknown issuer's `iss` is logged as sent, cut to 256 characters.
    let long_iss = format!("https://{}", "x".repeat(400));
    let token = w.token(json!({ "iss": long_iss }));
    let bearer = format!("Bearer {token}");
    let out = w
        .run(&gateway(), "/v1/x", &[("Authorization", &bearer)])
        .await;
    assert_eq!(out.log.reason.map(|r| r.as_str()), Some("unknown_issuer"));
    assert_eq!(out.log.issuer.as_deref().map(str::len), Some(256));

    // A token that does not parse carries neither.
    let out = w
        .run(&gateway(), "/v1/x", &[("Authorization", "Bearer a.b.c")])
        .await;
    assert_eq!((out.log.issuer.clone(), out.log.kid.clone()), (None, None));
    assert_eq!(out.log.route_path.as_deref(), Some("/v1/**"));
}

#[tokio::test(flavor = "current_thread")]
async fn explain_rejections_is_an_opt_in_that_puts_the_reason_in_the_detail() {
    let w = World::new();
    let out = w.run(&gateway(), "/v1/x", &[]).await;
    assert!(!rejected(&out).detail.contains("reason:"));

    let mut config = config_json();
    config["debug"] = json!({ "explain_rejections": true });
    let g = gateway_with(config, &[]);
    let out = w.run(&g, "/v1/x", &[]).await;
    let p = rejected(&out);
    assert!(
        p.detail.ends_with("(reason: missing_credential)"),
        "{}",
        p.detail
    );
    let out = w.run(&g, "/nowhere", &[]).await;
    assert!(rejected(&out).detail.ends_with("(reason: no_route)"));

    let mut config = config_json();
    config["debug"] = json!({ "explain": true });
    let err = Config::from_json(&config.to_string(), &|_| None)
        .err()
        .unwrap();
    assert!(err.field.starts_with("debug"), "{}", err.field);
}

// --- health -----------------------------------------------------------------------------------

const KV_OK: KvProbe = KvProbe {
    bound: true,
    answering: Some(true),
};

fn health_json(g: &Gateway<NativeKey>, kv: KvProbe, now: u64) -> Value {
    serde_json::to_value(g.health(kv, UnixTime(now))).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn health_follows_the_jwks_cache_without_fetching() {
    let w = World::new();
    let g = gateway();
    let h = health_json(&g, KV_OK, NOW);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["config_loaded"], true);
    assert_eq!(h["kv"], json!({ "bound": true, "answering": true }));
    assert_eq!(
        h["issuers"],
        json!([{ "issuer": ISS, "state": "empty", "keys": 0 }])
    );
    assert_eq!(h["assertion"], "disabled");
    assert_eq!(h["admin_api"], "disabled");
    assert_eq!(h["problems"], json!([]));
    assert_eq!(w.source.fetches(), 0, "health does no I/O");

    // A verified token fills the cache: fresh, then stale after max-age.
    let token = w.token(json!({}));
    let bearer = format!("Bearer {token}");
    let out = w.run(&g, "/v1/x", &[("Authorization", &bearer)]).await;
    assert!(matches!(out.decision, Decision::Forward { .. }));
    let h = health_json(&g, KV_OK, NOW);
    assert_eq!(
        h["issuers"][0],
        json!({ "issuer": ISS, "state": "fresh", "keys": 1, "last_fetch_at": NOW })
    );
    let h = health_json(&g, KV_OK, NOW + 600);
    assert_eq!(h["issuers"][0]["state"], "stale");
    assert_eq!(h["status"], "ok");
    let h = health_json(&g, KV_OK, NOW + 600 + 86_400);
    assert_eq!(h["issuers"][0]["state"], "empty", "past stale-if-error");
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_issuer_makes_health_degraded_and_says_why() {
    let w = World::new();
    w.source.fail(JWKS_URL, FetchError::Timeout);
    let g = gateway();
    let token = w.token(json!({}));
    let bearer = format!("Bearer {token}");
    let out = w.run(&g, "/v1/x", &[("Authorization", &bearer)]).await;
    assert_eq!(rejected(&out).status, 503);
    let h = health_json(&g, KV_OK, NOW);
    assert_eq!(h["status"], "degraded");
    assert_eq!(
        h["issuers"][0],
        json!({ "issuer": ISS, "state": "failing", "keys": 0, "last_fetch_at": NOW, "last_error": "jwks_timeout" })
    );
    assert_eq!(
        h["problems"],
        json!([{ "dependency": "issuer", "issuer": ISS, "reason": "jwks_timeout" }])
    );
}

#[test]
fn health_names_an_unbound_or_silent_kv() {
    let g = gateway();
    let unbound = KvProbe {
        bound: false,
        answering: None,
    };
    let h = health_json(&g, unbound, NOW);
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["kv"], json!({ "bound": false, "answering": null }));
    assert_eq!(
        h["problems"],
        json!([{ "dependency": "kv", "reason": "kv_not_bound" }])
    );
    let silent = KvProbe {
        bound: true,
        answering: Some(false),
    };
    let h = health_json(&g, silent, NOW);
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["kv"], json!({ "bound": true, "answering": false }));
    assert_eq!(h["problems"][0]["reason"], "kv_not_answering");
}

#[test]
fn health_reports_the_admin_api_and_hs256_issuers() {
    let mut config = config_json();
    config["issuers"] = json!([{
        "issuer": "https://hs.example", "audiences": [AUD], "algorithms": ["HS256"],
        "hs256_secret": "HS_SECRET"
    }]);
    let g = gateway_with(
        config,
        &[
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("HS_SECRET", "a-shared-secret-that-is-32-bytes-long!!"),
        ],
    );
    let h = health_json(&g, KV_OK, NOW);
    assert_eq!(h["admin_api"], "enabled");
    assert_eq!(h["issuers"][0]["state"], "secret");
    assert_eq!(h["status"], "ok");
    let text = serde_json::to_string(&h).unwrap();
    assert!(!text.contains(ADMIN_TOKEN) && !text.contains("a-shared-secret"));
}

// --- admin body errors in JSON terms ----------------------------------------------------------

async fn admin<S: KeyStore>(
    g: &Gateway<NativeKey>,
    store: &S,
    method: &str,
    path: &str,
    body: &[u8],
) -> AdminReply {
    let mut fill = |buf: &mut [u8]| {
        buf.fill(9);
        Ok(())
    };
    admin_with(g, store, method, path, body, &mut fill).await
}

async fn admin_with<S: KeyStore>(
    g: &Gateway<NativeKey>,
    store: &S,
    method: &str,
    path: &str,
    body: &[u8],
    fill: &mut edge_auth::ports::Fill<'_>,
) -> AdminReply {
    let headers = vec![("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"))];
    let req = AdminRequest {
        method,
        path,
        query: None,
        body,
    };
    let source = ScriptedSource::new();
    let ports = Ports {
        store,
        documents: &source,
        verifier: &NativeVerifier,
        authority: None::<&edge_auth::ports::NoAuthority>,
        now_ms: 0,
    };
    g.admin(req, &headers, ports, UnixTime(NOW), fill).await
}

/// Minting fails closed when the CSPRNG does: 500 `no_entropy`, and nothing is written (no
/// record, no id, no index entry), whether it fails at once or after giving some bytes.
#[tokio::test(flavor = "current_thread")]
async fn a_failing_csprng_mints_nothing_and_writes_nothing() {
    let g = gateway_with(config_json(), &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    let store = MemoryStore::new();
    let body = br#"{"kind":"api_key","subject":"svc","name":"n","scopes":["read"]}"#;
    let mut never = |_: &mut [u8]| Err(edge_auth::ports::NoEntropy);
    let mut once = {
        let mut left = 1u8;
        move |buf: &mut [u8]| {
            if left == 0 {
                return Err(edge_auth::ports::NoEntropy);
            }
            left -= 1;
            buf.fill(3);
            Ok(())
        }
    };
    for fill in [
        &mut never as &mut edge_auth::ports::Fill<'_>,
        &mut once as &mut edge_auth::ports::Fill<'_>,
    ] {
        match admin_with(&g, &store, "POST", "/keys", body, fill).await {
            AdminReply::Problem(p) => {
                assert_eq!((p.status, p.reason.as_str()), (500, "no_entropy"))
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(store.writes.get(), 0);
    assert!(store.data.borrow().is_empty());
    // The same request with a working CSPRNG mints.
    match admin(&g, &store, "POST", "/keys", body).await {
        AdminReply::Json { status, .. } => assert_eq!(status, 201),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn admin_body_errors_speak_json_not_rust() {
    let g = gateway_with(config_json(), &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    let store = MemoryStore::new();
    let cases: [(&str, &str); 8] = [
        (
            r#"{"kind":"api_key","subject":"s","name":"n","expires_in":"3600"}"#,
            "\"expires_in\" must be a whole number of seconds, not a string.",
        ),
        (
            r#"{"kind":"api_key","subject":"s","name":"n","expires_in":1.5}"#,
            "\"expires_in\" must be a whole number of seconds, not a number.",
        ),
        (
            r#"{"kind":"api_key","subject":"s","name":"n","expires_in":-5}"#,
            "\"expires_in\" must be a whole number of seconds.",
        ),
        (
            r#"{"kind":"api_key","subject":"s","name":"n","expires_at":true}"#,
            "\"expires_at\" must be a whole number (Unix seconds), not a boolean.",
        ),
        (
            r#"{"kind":"api_key","subject":7,"name":"n"}"#,
            "\"subject\" must be a string, not a number.",
        ),
        (
            r#"{"kind":"api_key","subject":"s","name":"n","scopes":{"a":1}}"#,
            "\"scopes\" must be an array of strings, not an object.",
        ),
        (
            r#"{"kind":"api_key","subject":"s","name":"n","scopes":[null]}"#,
            "\"scopes[0]\" must be a string, not null.",
        ),
        (
            r#"{"kind":"api_key","name":"n"}"#,
            "\"subject\" is required.",
        ),
    ];
    for (body, expected) in cases {
        match admin(&g, &store, "POST", "/keys", body.as_bytes()).await {
            AdminReply::Problem(p) => {
                assert_eq!(p.status, 400, "{body}");
                assert_eq!(p.detail, expected, "{body}");
                for rust in ["u64", "struct", "sequence", "map", "line "] {
                    assert!(!p.detail.contains(rust), "{body}: {}", p.detail);
                }
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    match admin(&g, &store, "POST", "/keys", b"[]").await {
        AdminReply::Problem(p) => assert_eq!(
            p.detail,
            "Invalid body: it must be a JSON object, not an array."
        ),
        other => panic!("{other:?}"),
    }
    match admin(
        &g,
        &store,
        "POST",
        "/keys/abc/roll",
        br#"{"grace_seconds":"1h"}"#,
    )
    .await
    {
        AdminReply::Problem(p) => assert_eq!(
            p.detail,
            "\"grace_seconds\" must be a whole number of seconds, not a string."
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn health_reports_configured_algorithms_the_keys_never_use() {
    let w = World::new();
    let mut config = config_json();
    config["issuers"][0]["algorithms"] = json!(["ES384", "EdDSA", "RS512"]);
    let g = gateway_with(config, &[]);
    // Nothing fetched yet: nothing to compare against, nothing reported.
    let h = health_json(&g, KV_OK, NOW);
    assert!(h["issuers"][0].get("unused_algorithms").is_none());
    // The set holds one Ed25519 key: ES384 and RS512 are accepted but reported, in order.
    let bearer = format!("Bearer {}", w.token(json!({})));
    let out = w.run(&g, "/v1/x", &[("Authorization", &bearer)]).await;
    assert!(matches!(out.decision, Decision::Forward { .. }));
    let h = health_json(&g, KV_OK, NOW);
    assert_eq!(
        h["issuers"][0],
        json!({ "issuer": ISS, "state": "fresh", "keys": 1, "last_fetch_at": NOW,
                "unused_algorithms": ["ES384", "RS512"] })
    );
    assert_eq!(h["status"], "ok", "reported, not a problem");
}
