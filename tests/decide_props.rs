//! Property tests of the whole decision (`Gateway::decide`) over arbitrary methods, paths,
//! header sets and credentials. Whatever the request:
//! - no client-sent `x-auth-*` header (any case, `_` or `-`) is forwarded;
//! - a route that requires a credential never forwards without a verified identity;
//! - the forwarded path is the canonical path the route matched (re-reading it gives the same
//!   path and the same route), and the query is forwarded byte for byte;
//! - no header the runtime cannot send is forwarded, and nothing panics.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support_jwt/mod.rs"]
mod support_jwt;
mod support_store;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use edge_auth::authn::{Decision, Gateway, Ports, RequestParts};
use edge_auth::config::Config;
use edge_auth::jwt::{NativeKey, NativeVerifier};
use edge_auth::route::NormalizedPath;
use edge_auth::time::UnixTime;
use proptest::prelude::*;
use serde_json::json;
use support_jwt::{EdKey, ScriptedSource};
use support_store::MemoryStore;

const NOW: u64 = 1_900_000_000;
const ISS: &str = "https://a.example";
const JWKS: &str = "https://a.example/jwks.json";
const AUD: &str = "https://api.example";
/// Every client value carries this, so a leak into a header the edge owns is visible.
const SPOOF: &str = "SPOOF";

/// Every port answers at once, so a decision never waits: poll it to completion.
fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

struct World {
    gateway: Gateway<NativeKey>,
    source: ScriptedSource,
    store: MemoryStore,
    jwt: String,
    admin_jwt: String,
}

const ROUTES: &[(&str, bool)] = &[
    // (pattern as configured, requires a credential)
    ("/public/**", false),
    ("/optional/**", false),
    ("/v1/admin/**", true),
    ("/v1/**", true),
];

fn world() -> World {
    let config = json!({
        "origin": "https://origin.internal",
        "issuers": [{ "issuer": ISS, "jwks_uri": JWKS, "audiences": [AUD], "algorithms": ["EdDSA"] }],
        "routes": [
            { "path": "/public/**", "auth": "public" },
            { "path": "/optional/**", "auth": "optional" },
            { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "scopes": ["admin"] },
            { "path": "/v1/**", "cors_preflight": true }
        ]
    });
    let gateway = Gateway::new(Config::from_json(&config.to_string(), &|_| None).unwrap());
    let key = EdKey::new("k", 3);
    let source = ScriptedSource::new();
    source.serve(JWKS, Some("max-age=600"), support_jwt::jwks(&[&key]));
    let claims = |scope: &str| json!({ "iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 600, "iat": NOW, "scope": scope });
    World {
        gateway,
        source,
        store: MemoryStore::new(),
        jwt: key.token(&claims("read")),
        admin_jwt: key.token(&claims("read admin")),
    }
}

fn methods() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("DELETE".to_string()),
        Just("OPTIONS".to_string()),
        Just("HEAD".to_string()),
        "[A-Z]{1,7}",
    ]
}

/// Paths built from route prefixes and hostile segments (dot segments, encodings, `;`, `%25`).
fn paths() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("v1".to_string()),
        Just("admin".to_string()),
        Just("public".to_string()),
        Just("optional".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("%2e%2e".to_string()),
        Just("%61dmin".to_string()),
        Just("admin;x=1".to_string()),
        Just("%252e".to_string()),
        Just("admin.".to_string()),
        Just("a%20".to_string()),
        Just("%2f".to_string()),
        Just("%c3%a9".to_string()),
        Just("%zz".to_string()),
        "[a-z~:@!$&'()*+,=-]{1,6}",
    ];
    proptest::collection::vec(segment, 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn header_names() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?i)x[-_]auth[-_](subject|type|scopes|issuer|key[-_]id|assertion)",
        Just("X-Auth-".to_string()),
        Just("x-forwarded-for".to_string()),
        Just("X-HTTP-Method-Override".to_string()),
        Just("Forwarded".to_string()),
        Just("X-Real-IP".to_string()),
        Just("X-Original-URL".to_string()),
        Just("accept".to_string()),
        Just("x-\u{410}uth-subject".to_string()),
        "[a-z-]{1,10}",
    ]
}

fn credentials() -> impl Strategy<Value = u8> {
    0u8..7
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_decision_upholds_the_gateway_invariants(
        method in methods(),
        path in paths(),
        query in proptest::option::of("[a-z0-9=&%+]{0,12}"),
        spoofed in proptest::collection::vec((header_names(), "[a-z]{0,4}"), 0..6),
        credential in credentials(),
        preflight_asks in proptest::option::of(prop_oneof![Just("GET"), Just("POST"), Just("DELETE")]),
    ) {
        let w = world();
        let mut headers: Vec<(String, String)> = spoofed
            .into_iter()
            .map(|(n, v)| (n, format!("{SPOOF}{v}")))
            .collect();
        let bearer = |t: &str| ("authorization".to_string(), format!("Bearer {t}"));
        match credential {
            0 => {}
            1 => headers.push(bearer(&w.jwt)),
            2 => headers.push(bearer(&w.admin_jwt)),
            3 => headers.push(bearer("not.a.jwt")),
            4 => headers.push(("x-api-key".into(), "eak_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000".into())),
            5 => {
                headers.push(bearer(&w.jwt));
                headers.push(("x-api-key".into(), "eak_x".into()));
            }
            _ => headers.push(("authorization".into(), format!("Basic {SPOOF}"))),
        }
        // Preflight headers (on any method: only an OPTIONS without a credential is one).
        if let Some(asked) = preflight_asks {
            headers.push(("origin".into(), "https://app.example".into()));
            headers.push(("access-control-request-method".into(), asked.into()));
        }
        let req = RequestParts {
            method: &method,
            path: &path,
            query: query.as_deref(),
            headers: &headers,
            origin: "https://edge.example",
            entropy: [1; 16],
            request_id: "rid",
        };
        let ports = Ports { store: &w.store, documents: &w.source, verifier: &NativeVerifier, authority: None::<&edge_auth::ports::NoAuthority>, now_ms: 0 };
        let outcome = run_now(w.gateway.decide(req, ports, UnixTime(NOW)));

        if let Decision::Forward { target, plan, identity, .. } = &outcome.decision {
            // What the origin receives: the plan applied to this request's headers as the
            // runtime applies it.
            let out = plan.apply(&headers);
            for (name, value) in &out {
                let lower = name.to_ascii_lowercase().replace('_', "-");
                let edge_owned = edge_auth::headers::is_reserved_auth_header(name)
                    || lower.starts_with("x-forwarded-")
                    || lower.contains("method-override")
                    || matches!(lower.as_str(), "authorization" | "forwarded" | "x-real-ip" | "x-original-url");
                prop_assert!(!(edge_owned && value.contains(SPOOF)), "client value forwarded: {name}: {value}");
                prop_assert!(name.is_ascii() && !name.is_empty() && !name.contains(' '), "{name:?}");
            }
            let route = outcome.log.route.expect("a forward names its route");
            // A browser's preflight carries no credential: it passes as public (checked below).
            let as_preflight = outcome.log.reason.map(|r| r.as_str()) == Some("cors_preflight");
            if ROUTES[route].1 && !as_preflight {
                prop_assert!(identity.is_some(), "required route {route} forwarded without identity");
            }
            let rest = target.strip_prefix("https://origin.internal").expect("to the origin");
            let (forwarded_path, forwarded_query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            prop_assert_eq!(forwarded_query, query.as_deref());
            let matched = NormalizedPath::parse(&path).expect("a forwarded path parses");
            prop_assert_eq!(forwarded_path, matched.canonical());
            let reread = NormalizedPath::parse(forwarded_path).expect("canonical parses");
            prop_assert_eq!(reread.canonical(), forwarded_path, "canonical is a fixed point");
            // A preflight is forwarded on the asked method's route, and only a browser's: an
            // OPTIONS without a credential, forwarded without one.
            let checked = match (as_preflight, preflight_asks) {
                (true, Some(asked)) => {
                    prop_assert_eq!(method.as_str(), "OPTIONS");
                    prop_assert!(!headers.iter().any(|(n, _)| n == "authorization" || n == "x-api-key"), "a preflight with a credential");
                    prop_assert!(!out.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")), "a preflight forwarded a credential");
                    asked.to_string()
                }
                (true, None) => return Err(TestCaseError::fail("a preflight without its headers")),
                (false, _) => method.clone(),
            };
            let again = w.gateway.config.routes.find(&checked, &reread).map(|r| r.route_index);
            prop_assert!(again == Some(route), "re-read matches another route");
        }
    }
}
