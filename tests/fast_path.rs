//! The synchronous fast path the README sells (issue #13 item 5): public routes, API keys held in
//! the isolate's cache, tokens already verified, and HS256 are decided on the *first poll*, with
//! every port switched to "never answers" after warming up. A decision that waited on KV, a JWKS
//! fetch or a WebCrypto call would be `Pending` here, and the adapter would pay a task for it.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "support_jwt/mod.rs"]
mod support_jwt;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_auth::authn::{Decision, Gateway, Outcome, Ports, RequestParts};
use edge_auth::config::Config;
use edge_auth::jwt::{
    Algorithm, NativeKey, NativeVerifier, PublicKey, SignatureVerifier, VerifyError,
};
use edge_auth::keys::KeyKind;
use edge_auth::ports::{
    DocumentSource, FetchError, FetchedDocument, KeyStore, ListPage, StoreError,
};
use edge_auth::time::UnixTime;
use hmac::Mac;
use serde_json::json;
use support_jwt::{EdKey, ScriptedSource, AUD, ISS, JWKS_URL};

const NOW: u64 = 1_900_000_000;
const HS_ISS: &str = "https://hs.example";
const HS_SECRET: &str = "fast-path-hs256-secret-0123456789abcdef";

/// Every port: answers while `hang` is false, never once it is true.
struct Ports3 {
    hang: Cell<bool>,
    kv: RefCell<BTreeMap<String, String>>,
    kv_reads: Cell<usize>,
    jwks: ScriptedSource,
}

async fn never() {
    std::future::pending::<()>().await;
}

impl KeyStore for Ports3 {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.get(key).await
    }
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if self.hang.get() {
            never().await;
        }
        self.kv_reads.set(self.kv_reads.get() + 1);
        Ok(self.kv.borrow().get(key).cloned())
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

impl DocumentSource for Ports3 {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        if self.hang.get() {
            never().await;
        }
        self.jwks.fetch(url).await
    }
}

/// The native verifier, or one that never answers (as a WebCrypto promise would, pending).
struct Verifier<'a>(&'a Cell<bool>);

impl SignatureVerifier for Verifier<'_> {
    type Key = NativeKey;
    async fn import(&self, key: &PublicKey, alg: Algorithm) -> Result<NativeKey, VerifyError> {
        if self.0.get() {
            never().await;
        }
        NativeVerifier.import(key, alg).await
    }
    async fn verify(
        &self,
        key: &NativeKey,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifyError> {
        if self.0.get() {
            never().await;
        }
        NativeVerifier
            .verify(key, alg, signing_input, signature)
            .await
    }
}

fn gateway() -> Gateway<NativeKey> {
    let config = json!({
        "origin": "https://origin.internal",
        "issuers": [
            { "issuer": ISS, "jwks_uri": JWKS_URL, "audiences": [AUD], "algorithms": ["EdDSA"] },
            { "issuer": HS_ISS, "audiences": [AUD], "algorithms": ["HS256"], "hs256_secret": "HS_SECRET" }
        ],
        "routes": [
            { "path": "/health", "auth": "public" },
            { "path": "/**", "accept": ["jwt", "api_key", "pat"] }
        ],
        "keys": { "record_last_used": false }
    });
    let secret = |name: &str| (name == "HS_SECRET").then(|| HS_SECRET.to_string());
    Gateway::new(Config::from_json(&config.to_string(), &secret).unwrap())
}

/// Polls `decide` once; `None` when it is pending.
fn first_poll(
    g: &Gateway<NativeKey>,
    p: &Ports3,
    path: &str,
    authorization: Option<&str>,
) -> Option<Outcome> {
    let mut headers = vec![];
    if let Some(a) = authorization {
        headers.push(("authorization".to_string(), a.to_string()));
    }
    let req = RequestParts {
        method: "GET",
        path,
        query: None,
        headers: &headers,
        origin: "https://edge.example",
        entropy: [3; 16],
        request_id: "rid",
    };
    let verifier = Verifier(&p.hang);
    let ports = Ports::without_state(p, p, &verifier, NOW * 1000);
    let fut = g.decide(req, ports, UnixTime(NOW));
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(o) => Some(o),
        Poll::Pending => None,
    }
}

fn forwarded(o: Option<Outcome>) -> bool {
    matches!(o.map(|o| o.decision), Some(Decision::Forward { .. }))
}

fn hs256(claims: &serde_json::Value) -> String {
    let header = Base64UrlUnpadded::encode_string(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HS_SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let sig = Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes());
    format!("{input}.{sig}")
}

#[test]
fn public_routes_cached_keys_verified_tokens_and_hs256_decide_on_the_first_poll() {
    let g = gateway();
    let ed = EdKey::new("k1", 9);
    let jwks = ScriptedSource::new();
    jwks.serve(JWKS_URL, Some("max-age=600"), support_jwt::jwks(&[&ed]));
    let p = Ports3 {
        hang: Cell::new(false),
        kv: RefCell::new(BTreeMap::new()),
        kv_reads: Cell::new(0),
        jwks,
    };

    // An API key in KV.
    let token = g
        .config
        .keys
        .format
        .generate(KeyKind::ApiKey, &mut |b| {
            b.fill(7);
            Ok(())
        })
        .unwrap();
    let record = json!({
        "id": "key_fastpath000000001", "kind": "api_key", "subject": "svc", "name": "n",
        "scopes": [], "created_at": NOW - 10, "expires_at": null
    });
    p.kv.borrow_mut().insert(
        edge_auth::keys::repository::record_key(&edge_auth::keys::TokenDigest::of(&token)),
        record.to_string(),
    );
    let jwt =
        ed.token(&json!({ "iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 600, "iat": NOW }));
    let hs =
        hs256(&json!({ "iss": HS_ISS, "aud": AUD, "sub": "bob", "exp": NOW + 600, "iat": NOW }));

    // Warm up: one KV read for the key; a JWKS fetch, an import and a verify for the JWT.
    let warm = |auth: &str| {
        let verifier = Verifier(&p.hang);
        let headers = vec![("authorization".to_string(), auth.to_string())];
        let req = RequestParts {
            method: "GET",
            path: "/v1/x",
            query: None,
            headers: &headers,
            origin: "https://edge.example",
            entropy: [3; 16],
            request_id: "rid",
        };
        let ports = Ports::without_state(&p, &p, &verifier, NOW * 1000);
        let mut fut = std::pin::pin!(g.decide(req, ports, UnixTime(NOW)));
        // The fakes answer at once, but a step may yield once: poll until done.
        for _ in 0..100 {
            if let Poll::Ready(o) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                assert!(
                    matches!(o.decision, Decision::Forward { .. }),
                    "{:?}",
                    o.decision
                );
                return;
            }
        }
        panic!("the warm-up did not finish");
    };
    warm(&format!("Bearer {token}"));
    warm(&format!("Bearer {jwt}"));
    assert_eq!(p.kv_reads.get(), 1);

    // From now on every port hangs: only decisions that need none of them can complete.
    p.hang.set(true);
    assert!(
        forwarded(first_poll(&g, &p, "/health", None)),
        "a public route"
    );
    assert!(
        forwarded(first_poll(
            &g,
            &p,
            "/v1/x",
            Some(&format!("Bearer {token}"))
        )),
        "a cached API key"
    );
    assert!(
        forwarded(first_poll(&g, &p, "/v1/x", Some(&format!("Bearer {jwt}")))),
        "a token already verified"
    );
    assert!(
        forwarded(first_poll(&g, &p, "/v1/x", Some(&format!("Bearer {hs}")))),
        "HS256 (verified in the core, no WebCrypto)"
    );
    // The control: what does need a port waits (an unknown key: a KV read).
    let other = g
        .config
        .keys
        .format
        .generate(KeyKind::ApiKey, &mut |b| {
            b.fill(8);
            Ok(())
        })
        .unwrap();
    assert!(
        first_poll(&g, &p, "/v1/x", Some(&format!("Bearer {other}"))).is_none(),
        "an unknown key waits on KV"
    );
    assert_eq!(p.kv_reads.get(), 1, "no KV read after the warm-up");
}
