//! `edge_auth::json_path` names the same field as `serde_path_to_error` (its reference, a
//! dev-dependency only) for every error `AUTH_CONFIG` can raise while it is read: each document
//! below is a valid config broken in one place (a member added, removed, or given a value of
//! another type or out of range), written compact and pretty-printed.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use edge_auth::config::RawConfig;
use edge_auth::json_path::{breaks::broken, error_path};
use serde_json::{json, Value};

/// A config that sets every section, so that every type of the config is reached.
fn rich() -> Value {
    json!({
        "origin": "https://origin.example",
        "realm": "api",
        "admin_path": "/_auth",
        "admin_scope": { "issuer": "https://issuer.example", "scope": "edge-admin" },
        "hosts": ["api.example.com"],
        "issuers": [{
            "issuer": "https://issuer.example",
            "jwks_uri": "https://issuer.example/.well-known/jwks.json",
            "audiences": ["https://api.example"],
            "algorithms": ["RS256", "ES256", "EdDSA"],
            "leeway_seconds": 60
        }, {
            "issuer": "https://hs.example",
            "audiences": ["https://api.example"],
            "algorithms": ["HS256"],
            "hs256_secret": "HS_SECRET"
        }],
        "routes": [
            { "path": "/health", "auth": "public" },
            { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "accept": ["jwt"], "scopes": ["admin"] },
            { "path": "/v1/search/**", "cost": 5, "accept": ["jwt", "api_key", "pat"],
              "limits": [
                { "name": "per-minute", "limit": 600, "period_seconds": 60, "by": "key" },
                { "name": "daily", "limit": 100000, "period_seconds": 86400, "by": "principal", "window": "sliding" },
                { "name": "anon", "limit": 60, "period_seconds": 60, "by": "ip", "on_unavailable": "local" }
              ] },
            { "path": "/v1/**", "accept": ["jwt", "api_key", "pat"] }
        ],
        "revocation": { "max_staleness_seconds": 5, "on_stale": "refuse", "principal_retention_seconds": 86400 },
        "audit": { "retention_days": 90 },
        "failed_auth": { "burst": 20, "per_minute": 30, "max_tracked": 10000 },
        "usage": { "lease_seconds": 10, "max_lease": 100, "charge": "always", "max_tracked": 10000 },
        "debug": { "explain_rejections": false }
    })
}

/// The path `serde_path_to_error` gives for `text`, or None when `text` is read without error.
/// Text after the document is refused as `serde_json::from_str` refuses it (serde_path_to_error
/// does not look past the document), and belongs to the whole text: `.`.
fn reference(text: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, RawConfig>(&mut de) {
        Err(e) => Some(e.path().to_string()),
        Ok(_) => de.end().err().map(|_| ".".to_string()),
    }
}

fn ours(text: &str) -> Option<String> {
    serde_json::from_str::<RawConfig>(text)
        .err()
        .map(|e| error_path(text.as_bytes(), &e))
}

#[test]
fn the_scan_names_the_field_serde_path_to_error_names() {
    let docs = broken(&rich());
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for doc in &docs {
        for text in [doc.to_string(), serde_json::to_string_pretty(doc).unwrap()] {
            let want = reference(&text);
            let got = ours(&text);
            assert_eq!(want.is_some(), got.is_some(), "{text}");
            if want.is_some() {
                compared += 1;
                if want != got {
                    mismatches.push(format!("{want:?} != {got:?} for {text}"));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared}:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The breaks reach the config's types: hundreds of them are refused.
    assert!(compared > 500, "only {compared} documents were refused");
}

#[test]
fn texts_that_are_not_json_are_located_as_serde_path_to_error_locates_them() {
    let mut compared = 0;
    // Compact and pretty-printed (lines and columns), cut at every byte, and with each of these
    // put in at every byte: a stray character, a bad escape, a raw tab, a lone surrogate, a
    // number out of range, a separator, a bracket, a quote.
    let strays = [
        "#", "\\q", "\t", "\\ud800", "1e400", ",", ":", "}", "]", "{", "[", "\"",
    ];
    for good in [
        rich().to_string(),
        serde_json::to_string_pretty(&rich()).unwrap(),
    ] {
        for cut in 0..good.len() {
            let (Some(prefix), Some(rest)) = (good.get(..cut), good.get(cut..)) else {
                continue;
            };
            let texts = std::iter::once(prefix.to_string())
                .chain(strays.iter().map(|x| format!("{prefix}{x}{rest}")));
            for text in texts {
                let want = reference(&text);
                assert_eq!(want.is_some(), ours(&text).is_some(), "{text}");
                if let Some(want) = want {
                    compared += 1;
                    assert_eq!(Some(want), ours(&text), "{text}");
                }
            }
        }
    }
    assert!(compared > 30_000, "{compared}");
}

/// Errors the breaks above do not make: duplicate keys (a `Value` cannot hold them), an untagged
/// enum as the last member (serde_json gives its error the position past the enclosing `}`),
/// escapes and numbers serde_json refuses inside a value, text after the document.
#[test]
fn named_cases_agree() {
    let cases = [
        r#"{"routes":[],"realm":"a","realm":"b"}"#,
        r#"{"routes":[{"path":"/a","path":"/b","auth":"public"}]}"#,
        r#"{"routes":[],"admin_scope":5}"#,
        r#"{"routes":[],"admin_scope":{"issuer":"x","scope":5}}"#,
        r#"{"admin_scope":5,"routes":[]}"#,
        r#"{"routes":[],"realm":"a\qb"}"#,
        "{\"routes\":[],\"realm\":\"a\tb\"}",
        r#"{"routes":[],"realm":"a\ud800b"}"#,
        r#"{"routes":[],"realm":"a\uZZZZ"}"#,
        r#"{"routes":[],"forward":{"claims_max_bytes":1e400}}"#,
        r#"{"routes":[],"assertion":{"previous_keys":[1e400]}}"#,
        r#"{"routes":[],"issuers":[{"issuer":"https://i.example","audiences":["a"],"algorithms":["RS256"],"leeway_seconds":1e400}]}"#,
        r#"{"routes":[]} x"#,
        r#"{"routes":[]} {}"#,
    ];
    for text in cases {
        let want = reference(text);
        assert!(want.is_some(), "{text} is refused");
        assert_eq!(want, ours(text), "{text}");
    }
}
