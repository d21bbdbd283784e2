//! Issuer profiles: each provider's vectors in `tests/vectors/issuers/` (minted by
//! `scripts/gen-issuer-vectors.mjs` in the provider's documented token shape) against the config
//! snippet that docs/issuers.md shows. The snippet must be identical in both places; it must
//! accept the provider's access tokens with the expected subject, scopes and client id, and
//! refuse each near-miss (ID tokens, wrong client, wrong claim types) with its reason.
//!
//! The Logto ES384 tokens are in their own `logto_es384_*` test (ES384 support came separately;
//! `cargo test --test issuers -- --skip es384` runs the rest).
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_jwt;

use std::path::PathBuf;

use edge_auth::jwt::{
    Issuers, JwksSettings, JwtAuthenticator, JwtFailure, NativeKey, NativeVerifier, RawIssuer,
};
use edge_auth::time::UnixTime;
use serde_json::Value;
use support_jwt::ScriptedSource;

const PROVIDERS: [&str; 6] = ["logto", "auth0", "okta", "entra", "cognito", "keycloak"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vectors(provider: &str) -> Value {
    let path = root().join(format!("tests/vectors/issuers/{provider}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The JSON block after `<!-- snippet:{provider} -->` in docs/issuers.md.
fn doc_snippet(provider: &str) -> Value {
    let doc = std::fs::read_to_string(root().join("docs/issuers.md")).unwrap();
    let marker = format!("<!-- snippet:{provider} -->");
    let after = &doc[doc.find(&marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len()..];
    let body = after.trim_start().strip_prefix("```json").unwrap();
    let end = body.find("```").unwrap();
    serde_json::from_str(&body[..end]).unwrap()
}

fn issuers(config: &Value) -> Issuers {
    let raw: RawIssuer = serde_json::from_value(config.clone()).unwrap();
    Issuers::from_raw(vec![raw], &|_| None).unwrap()
}

fn source(v: &Value) -> ScriptedSource {
    let source = ScriptedSource::new();
    for (url, doc) in v["documents"].as_object().unwrap() {
        source.serve(url, Some("max-age=3600"), doc.to_string());
    }
    source
}

/// Runs every token of `provider` whose name `select` picks through `config`; returns the
/// number checked. Failures are collected and reported together.
async fn run(provider: &str, config: &Value, select: &dyn Fn(&str) -> bool) -> usize {
    let v = vectors(provider);
    let now = UnixTime(v["now"].as_u64().unwrap());
    let mut failures = Vec::new();
    let mut checked = 0;
    for t in v["tokens"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if !select(name) {
            continue;
        }
        checked += 1;
        // A fresh authenticator per token: nothing cached carries over.
        let auth = JwtAuthenticator::<NativeKey>::new(issuers(config), JwksSettings::default());
        let source = source(&v);
        let result = auth
            .authenticate(t["token"].as_str().unwrap(), &source, &NativeVerifier, now)
            .await;
        // Every near-miss here is decided by phase 2 (claims and token type): no key fetch.
        if t["expect"]["outcome"] == "invalid" && source.fetches() != 0 {
            failures.push(format!("{name}: refused only after fetching keys"));
        }
        let want = &t["expect"];
        match (want["outcome"].as_str().unwrap(), result) {
            ("valid", Ok(success)) => {
                let id = success.identity;
                let scopes: Vec<String> = serde_json::from_value(want["scopes"].clone()).unwrap();
                if id.subject() != want["sub"].as_str().unwrap()
                    || id.scopes() != scopes
                    || id.client_id() != want["client_id"].as_str()
                    || id.issuer() != v["issuer"].as_str()
                {
                    failures.push(format!("{name}: got {id:?}, want {want}"));
                }
            }
            ("invalid", Err(JwtFailure::Invalid { reason })) => {
                if reason != want["reason"].as_str().unwrap() {
                    failures.push(format!("{name}: reason {reason}, want {}", want["reason"]));
                }
            }
            (outcome, got) => failures.push(format!("{name}: want {outcome}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    checked
}

/// Every valid and every refused case of a provider is exercised.
async fn profile(provider: &str) {
    let v = vectors(provider);
    let n = run(provider, &v["config"], &|_| true).await;
    assert_eq!(n, v["tokens"].as_array().unwrap().len());
    let outcomes: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expect"]["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"valid") && outcomes.contains(&"invalid"),
        "{provider}"
    );
}

#[test]
fn docs_snippets_are_the_vectors_configs() {
    for p in PROVIDERS {
        assert_eq!(
            doc_snippet(p),
            vectors(p)["config"],
            "{p}: docs/issuers.md differs"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn auth0_profile() {
    profile("auth0").await;
}

#[tokio::test(flavor = "current_thread")]
async fn okta_profile() {
    profile("okta").await;
}

#[tokio::test(flavor = "current_thread")]
async fn entra_profile() {
    profile("entra").await;
}

#[tokio::test(flavor = "current_thread")]
async fn cognito_profile() {
    profile("cognito").await;
}

#[tokio::test(flavor = "current_thread")]
async fn keycloak_profile() {
    profile("keycloak").await;
}

/// Logto after its rotation to an RSA key: the snippet unchanged (it lists ES384, the default
/// key, and RS256), the RS256 tokens only.
#[tokio::test(flavor = "current_thread")]
async fn logto_rs256_profile() {
    let config = vectors("logto")["config"].clone();
    let n = run("logto", &config, &|name| !name.contains("es384")).await;
    assert_eq!(n, 5);
}

/// Logto's default ES384 key: every Logto token, ES384 and RS256, through the snippet.
#[tokio::test(flavor = "current_thread")]
async fn logto_es384_profile() {
    profile("logto").await;
}

#[test]
fn snippets_refuse_their_own_near_miss_configs() {
    // Cognito without the explicit option is a config error, never a silent accept-all.
    let mut cognito = vectors("cognito")["config"].clone();
    cognito
        .as_object_mut()
        .unwrap()
        .remove("accept_without_audience");
    let raw: RawIssuer = serde_json::from_value(cognito).unwrap();
    let e = Issuers::from_raw(vec![raw], &|_| None).unwrap_err();
    assert_eq!(e.field, "issuers[0].audiences");
    // An impossible claim path names its entry.
    let mut kc = vectors("keycloak")["config"].clone();
    kc["scope_claims"][2] = serde_json::json!("resource_access..roles");
    let raw: RawIssuer = serde_json::from_value(kc).unwrap();
    let e = Issuers::from_raw(vec![raw], &|_| None).unwrap_err();
    assert_eq!(e.field, "issuers[0].scope_claims[2]");
}

#[test]
fn placeholder_paths_are_accepted_and_reported_in_health() {
    let mut kc = vectors("keycloak")["config"].clone();
    kc["scope_claims"][2] = serde_json::json!("resource_access.<client>.roles");
    let auth = JwtAuthenticator::<NativeKey>::new(issuers(&kc), JwksSettings::default());
    let health = auth.health(UnixTime(0));
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].warnings.len(), 1);
    assert!(
        health[0].warnings[0].starts_with("scope_claims[2]: "),
        "{:?}",
        health[0].warnings
    );
    let json = serde_json::to_value(&health[0]).unwrap();
    assert!(json["warnings"].is_array());
    // The snippet as shipped has none, and then the member is absent.
    let auth = JwtAuthenticator::<NativeKey>::new(
        issuers(&vectors("keycloak")["config"]),
        JwksSettings::default(),
    );
    let json = serde_json::to_value(&auth.health(UnixTime(0))[0]).unwrap();
    assert!(json.get("warnings").is_none());
}
