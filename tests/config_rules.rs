//! `AUTH_CONFIG` parsing: the contract's example loads, and every validation rule has a failing
//! case whose error names the field.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use edge_auth::config::{Config, ConfigError};
use serde_json::{json, Value};

fn contract_example() -> Value {
    json!({
        "origin": "http://127.0.0.1:9000",
        "realm": "api",
        "admin_path": "/_auth",
        "issuers": [{
            "issuer": "https://issuer.example",
            "jwks_uri": "https://issuer.example/.well-known/jwks.json",
            "audiences": ["https://api.example"],
            "algorithms": ["RS256", "PS256", "ES256", "EdDSA"],
            "leeway_seconds": 60,
            "hs256_secret": "NAME_OF_A_SECRET_BINDING"
        }],
        "routes": [
            { "path": "/health", "auth": "public" },
            { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "accept": ["jwt"], "scopes": ["admin"] },
            { "path": "/v1/**", "accept": ["jwt", "api_key", "pat"] }
        ]
    })
}

fn no_secrets(_: &str) -> Option<String> {
    None
}

fn parse(v: &Value) -> Result<Config, ConfigError> {
    Config::from_json(&v.to_string(), &no_secrets)
}

fn field_of(v: Value) -> String {
    parse(&v).expect_err("config should be refused").field
}

fn with(path: &[&str], value: Value) -> Value {
    let mut v = contract_example();
    let mut cursor = &mut v;
    for (i, key) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cursor[*key] = value.clone();
        } else {
            cursor = match key.parse::<usize>() {
                Ok(n) => &mut cursor[n],
                Err(_) => &mut cursor[*key],
            };
        }
    }
    v
}

#[test]
fn the_contract_example_loads_with_defaults() {
    let c = parse(&contract_example()).unwrap();
    assert_eq!(c.realm, "api");
    assert_eq!(c.admin_path_text, "/_auth");
    assert_eq!(
        c.origin.as_ref().map(edge_auth::config::Origin::as_str),
        Some("http://127.0.0.1:9000")
    );
    assert!(c.assertion_signer.is_none());
    assert!(!c.forward.claims);
    assert_eq!(c.assertion.ttl_seconds, 60);
}

#[test]
fn minimal_config_needs_only_routes() {
    let c = parse(&json!({ "routes": [{ "path": "/**", "auth": "public" }] })).unwrap();
    assert!(c.origin.is_none(), "route mode");
    assert_eq!(c.realm, "api");
    assert_eq!(c.admin_path_text, "/_auth");
}

#[test]
fn not_json_or_not_an_object_is_refused() {
    assert!(Config::from_json("{not json", &no_secrets).is_err());
    assert!(Config::from_json("[]", &no_secrets).is_err());
    assert!(Config::from_json("", &no_secrets).is_err());
}

#[test]
fn unknown_fields_are_errors_at_every_level_with_their_path() {
    let mut v = contract_example();
    v["orign"] = json!("x");
    assert!(parse(&v).unwrap_err().reason.contains("orign"));
    assert_eq!(
        field_of(with(&["routes", "0", "scope"], json!(["x"]))),
        "routes[0].scope"
    );
    assert_eq!(
        field_of(with(&["issuers", "0", "audience"], json!("x"))),
        "issuers[0].audience"
    );
    assert_eq!(
        field_of(with(&["forward", "claim"], json!(true))),
        "forward.claim"
    );
}

#[test]
fn type_errors_name_the_field() {
    assert_eq!(
        field_of(with(&["routes", "1", "methods"], json!("POST"))),
        "routes[1].methods"
    );
    assert_eq!(
        field_of(with(&["issuers", "0", "leeway_seconds"], json!("60"))),
        "issuers[0].leeway_seconds"
    );
}

#[test]
fn origin_rules() {
    for bad in [
        "ftp://x",
        "not a url",
        "https://u:p@x.example",
        "https://x.example/api",
        "https://x.example/?q=1",
        // Internationalised hosts must be written in punycode (the IDNA backend is ASCII-only).
        "https://b\u{fc}cher.example",
    ] {
        assert_eq!(field_of(with(&["origin"], json!(bad))), "origin", "{bad}");
    }
}

#[test]
fn an_origin_is_kept_as_scheme_host_and_port() {
    for (given, kept) in [
        ("https://API.Example", "https://api.example"),
        (
            "https://xn--bcher-kva.example:443/",
            "https://xn--bcher-kva.example",
        ),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
    ] {
        let c = parse(&with(&["origin"], json!(given))).unwrap();
        assert_eq!(
            c.origin.as_ref().map(edge_auth::config::Origin::as_str),
            Some(kept)
        );
    }
}

#[test]
fn realm_rules() {
    for bad in ["", "a\"b", "a\\b", "é"] {
        assert_eq!(field_of(with(&["realm"], json!(bad))), "realm", "{bad:?}");
    }
}

#[test]
fn admin_path_rules() {
    for bad in ["_auth", "/", "/_auth/", "/_a*", "/a/../b", "/%61", "/a b"] {
        assert_eq!(
            field_of(with(&["admin_path"], json!(bad))),
            "admin_path",
            "{bad:?}"
        );
    }
    assert!(parse(&with(&["admin_path"], json!("/edge/auth"))).is_ok());
}

#[test]
fn routes_are_required_and_validated() {
    let mut v = contract_example();
    v.as_object_mut().unwrap().remove("routes");
    assert!(parse(&v).is_err());
    assert_eq!(field_of(with(&["routes"], json!([]))), "routes");
    assert_eq!(
        field_of(with(&["routes", "2", "accept"], json!(["cookie"]))),
        "routes[2].accept"
    );
}

#[test]
fn issuer_rules_come_from_the_jwt_module() {
    assert_eq!(
        field_of(with(
            &["issuers", "0", "jwks_uri"],
            json!("http://issuer.example/jwks")
        )),
        "issuers[0].jwks_uri"
    );
    assert_eq!(
        field_of(with(&["issuers", "0", "audiences"], json!([]))),
        "issuers[0].audiences"
    );
    assert_eq!(
        field_of(with(&["issuers", "0", "algorithms"], json!(["none"]))),
        "issuers[0].algorithms[0]"
    );
    assert_eq!(
        field_of(with(&["issuers", "0", "leeway_seconds"], json!(301))),
        "issuers[0].leeway_seconds"
    );
    assert_eq!(
        field_of(with(&["issuers", "0", "algorithms"], json!(["HS256"]))),
        "issuers[0].hs256_secret"
    );
}

#[test]
fn an_hs256_secret_is_an_issuers_own() {
    // The admin token or the assertion key as an issuer's secret: refused.
    for reserved in ["ADMIN_TOKEN", "ASSERTION_KEY"] {
        assert_eq!(
            field_of(with(&["issuers", "0", "hs256_secret"], json!(reserved))),
            "issuers[0].hs256_secret"
        );
    }
    // Two issuers naming one secret: whoever holds it could mint either's principals.
    let mut v = contract_example();
    let mut second = v["issuers"][0].clone();
    second["issuer"] = json!("https://other.example");
    v["issuers"].as_array_mut().unwrap().push(second);
    assert_eq!(field_of(v.clone()), "issuers[1].hs256_secret");
    // Each its own: accepted.
    v["issuers"][1]["hs256_secret"] = json!("OTHER_SECRET_BINDING");
    assert!(parse(&v).is_ok());
    // Two names holding one value are one secret, and so is the admin token's value.
    let shared = "a-shared-secret-of-at-least-32-bytes!!";
    let admin = "the-admin-token-0123456789abcdefghij";
    let distinct = "another-secret-of-at-least-32-bytes!!!";
    for (first, second, refused) in [
        (shared, shared, true),
        (admin, distinct, true),
        (shared, distinct, false),
    ] {
        let lookup = |name: &str| match name {
            "NAME_OF_A_SECRET_BINDING" => Some(first.to_string()),
            "OTHER_SECRET_BINDING" => Some(second.to_string()),
            "ADMIN_TOKEN" => Some(admin.to_string()),
            _ => None,
        };
        let result = Config::from_json(&v.to_string(), &lookup);
        if refused {
            let err = result.expect_err("one secret for two");
            assert!(err.field.starts_with("issuers["), "{}", err.field);
            assert!(
                !err.to_string().contains(first) && !err.to_string().contains(second),
                "never echoes a secret"
            );
        } else {
            assert!(result.is_ok(), "{:?}", result.err());
        }
    }
}

#[test]
fn forward_and_assertion_bounds() {
    assert_eq!(
        field_of(with(&["forward"], json!({ "claims_max_bytes": 10 }))),
        "forward.claims_max_bytes"
    );
    assert_eq!(
        field_of(with(&["assertion"], json!({ "ttl_seconds": 0 }))),
        "assertion.ttl_seconds"
    );
    assert_eq!(
        field_of(with(&["assertion"], json!({ "issuer": "" }))),
        "assertion.issuer"
    );
    assert_eq!(
        field_of(with(&["admin_scope"], json!("a b"))),
        "admin_scope"
    );
}

#[test]
fn a_malformed_assertion_key_is_an_error_naming_the_secret_not_its_value() {
    let secret = |name: &str| {
        (name == "ASSERTION_KEY").then(|| "{\"kty\":\"OKP\",\"d\":\"c2VjcmV0\"}".to_string())
    };
    let err = Config::from_json(&contract_example().to_string(), &secret).unwrap_err();
    assert_eq!(err.field, "ASSERTION_KEY");
    assert!(!err.reason.contains("c2VjcmV0"));
}

#[test]
fn errors_display_field_and_reason() {
    let err = parse(&with(&["realm"], json!(""))).unwrap_err();
    assert!(err.to_string().starts_with("realm: "));
}

/// The README's example configuration is a configuration the code accepts, so the documentation
/// cannot drift from the parser.
#[test]
fn the_readme_example_config_parses() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("a Configuration section");
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a json block in it");
    let config = Config::from_json(block, &|_| None).expect("the README's example parses");
    assert!(config.origin.is_some());
    assert_eq!(config.realm, "api");
}

#[test]
fn every_supported_algorithm_name_is_accepted_and_unknown_ones_are_named() {
    let all = json!([
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
    ]);
    let config = parse(&with(&["issuers", "0", "algorithms"], all)).unwrap();
    let issuer = config.issuers.get("https://issuer.example").unwrap();
    let names: Vec<&str> = issuer.algorithms.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
            "EdDSA"
        ]
    );
    for bad in ["HS384", "HS512", "es384", "ES521", "ES256K", "PS1024"] {
        let e = parse(&with(
            &["issuers", "0", "algorithms"],
            json!(["ES384", bad]),
        ))
        .expect_err(bad);
        assert_eq!(e.field, "issuers[0].algorithms[1]", "{bad}");
        assert!(
            e.reason.contains(&format!("\"{bad}\"")),
            "{bad}: {}",
            e.reason
        );
        assert!(e.reason.contains("ES512"), "{}", e.reason);
    }
}

/// The README's default blocks (`"revocation": …`, `"audit": …`, `"failed_auth": …`, `"usage": …`) are the
/// defaults: a config that spells them out means the same as one that leaves them out.
#[test]
fn the_readme_default_blocks_are_the_code_defaults() {
    let readme = include_str!("../README.md");
    let fragments: Vec<&str> = readme
        .lines()
        .filter(|l| {
            [
                "\"revocation\":",
                "\"audit\":",
                "\"failed_auth\":",
                "\"usage\":",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| l.trim_end_matches(','))
        .collect();
    assert_eq!(fragments.len(), 4, "{fragments:?}");
    let spelled = format!(r#"{{"routes":[{{"path":"/**"}}],{}}}"#, fragments.join(","));
    let spelled = Config::from_json(&spelled, &|_| None).expect("the README's blocks parse");
    let defaults = Config::from_json(r#"{"routes":[{"path":"/**"}]}"#, &|_| None).unwrap();
    assert_eq!(spelled.revocation, defaults.revocation);
    assert_eq!(spelled.audit_retention_days, defaults.audit_retention_days);
    assert_eq!(spelled.failed_auth, defaults.failed_auth);
    assert_eq!(spelled.usage, defaults.usage);
}

/// Limits in routes: bad definitions are config errors naming the field; one name, one meaning.
#[test]
fn route_limits_are_validated_with_the_field_named() {
    let cases = [
        (
            r#"{"routes":[{"path":"/**","limits":[{"name":"m","limit":5,"period_seconds":60,"by":"key"}],"cost":6}]}"#,
            "routes[0].limits[0].cost",
        ),
        (
            r#"{"routes":[{"path":"/**","limits":[{"name":"m","limit":5,"period_seconds":0,"by":"key"}]}]}"#,
            "routes[0].limits[0].period_seconds",
        ),
        (
            r#"{"routes":[{"path":"/a","limits":[{"name":"m","limit":5,"period_seconds":60,"by":"key"}]},{"path":"/**","limits":[{"name":"m","limit":6,"period_seconds":60,"by":"key"}]}]}"#,
            "routes[1].limits[0]",
        ),
        (r#"{"routes":[{"path":"/**","cost":0}]}"#, "routes[0].cost"),
        (
            r#"{"routes":[{"path":"/**"}],"usage":{"lease_seconds":0}}"#,
            "usage.lease_seconds",
        ),
    ];
    for (text, field) in cases {
        let e = Config::from_json(text, &|_| None).unwrap_err();
        assert_eq!(e.field, field, "{}", e.reason);
    }
    let bad_by = Config::from_json(
        r#"{"routes":[{"path":"/**","limits":[{"name":"m","limit":5,"period_seconds":60,"by":"user"}]}]}"#,
        &|_| None,
    )
    .unwrap_err();
    assert!(
        bad_by.field.starts_with("routes[0].limits[0]"),
        "{}",
        bad_by.field
    );
}

/// `AUTH_CONFIG` is one JSON object: text after it is an error naming the whole config, never
/// ignored (a second object after the first would otherwise be a config nobody reads).
#[test]
fn text_after_the_config_is_an_error() {
    let text = format!("{} {{\"realm\":\"other\"}}", contract_example());
    let err = Config::from_json(&text, &no_secrets).unwrap_err();
    assert_eq!(err.field, "AUTH_CONFIG");
    assert!(err.reason.contains("trailing characters"), "{}", err.reason);
    // Whitespace after it is fine.
    assert!(Config::from_json(&format!("{}\n  ", contract_example()), &no_secrets).is_ok());
}
