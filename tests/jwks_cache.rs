//! The JWKS cache state machine, driven through `JwtAuthenticator` with a scripted document
//! source: rotation, unknown-kid cooldown, stale serving with one background refresh,
//! stale-if-error, hard expiry, backoff, discovery, and imported-handle reuse.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use edge_auth::reason::Reason;

mod support_jwt;

use edge_auth::jwt::{
    JwksSettings, JwtAuthenticator, JwtFailure, JwtSuccess, NativeKey, NativeVerifier, RawIssuer,
    RawJwksSettings,
};
use edge_auth::ports::FetchError;
use edge_auth::time::UnixTime;
use serde_json::json;
use support_jwt::{
    claims, issuers, jwks, raw_issuer, settings, CountingVerifier, EdKey, ScriptedSource, AUD, ISS,
    JWKS_URL,
};

const T0: u64 = 1_900_000_000;

fn auth() -> JwtAuthenticator<NativeKey> {
    JwtAuthenticator::new(issuers(vec![raw_issuer()]), settings())
}

fn auth_with(s: RawJwksSettings) -> JwtAuthenticator<NativeKey> {
    JwtAuthenticator::new(
        issuers(vec![raw_issuer()]),
        JwksSettings::from_raw(s).unwrap(),
    )
}

async fn run(
    auth: &JwtAuthenticator<NativeKey>,
    source: &ScriptedSource,
    token: &str,
    now: u64,
) -> Result<JwtSuccess, JwtFailure> {
    auth.authenticate(token, source, &NativeVerifier, UnixTime(now))
        .await
}

fn reason(r: Result<JwtSuccess, JwtFailure>) -> &'static str {
    r.unwrap_err().reason().as_str()
}

#[tokio::test(flavor = "current_thread")]
async fn rotation_picks_up_a_new_kid_after_the_cooldown() {
    let (a, b) = (EdKey::new("a", 1), EdKey::new("b", 2));
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, None, jwks(&[&a]));
    let auth = auth();

    assert!(run(&auth, &source, &a.token(&claims(T0)), T0).await.is_ok());
    assert_eq!(source.fetches(), 1);

    // The issuer rotates in `b`. Within the cooldown of the last fetch, `b` is not refetched.
    source.serve(JWKS_URL, None, jwks(&[&a, &b]));
    let tb = b.token(&claims(T0));
    assert_eq!(
        reason(run(&auth, &source, &tb, T0 + 10).await),
        "unknown_kid"
    );
    assert_eq!(source.fetches(), 1);

    // After the cooldown (30 s), the miss triggers one refetch and `b` verifies.
    let ok = run(&auth, &source, &tb, T0 + 30).await.unwrap();
    assert_eq!(ok.identity.kid(), Some("b"));
    assert_eq!(source.fetches(), 2);
    // `a` still works from the same set, without fetching.
    assert!(run(&auth, &source, &a.token(&claims(T0)), T0 + 31)
        .await
        .is_ok());
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_random_kids_costs_one_fetch_per_cooldown() {
    let a = EdKey::new("a", 1);
    let attacker = EdKey::new("attacker", 66);
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=86400"), jwks(&[&a]));
    let auth = auth();
    assert!(run(&auth, &source, &a.token(&claims(T0)), T0).await.is_ok());
    assert_eq!(source.fetches(), 1);

    for window in 1..=3u64 {
        let start = T0 + window * 30;
        for i in 0..500u64 {
            let kid = format!("random-{window}-{i}");
            let t = attacker.token_with_kid(&kid, &claims(T0));
            assert_eq!(
                reason(run(&auth, &source, &t, start + i % 30).await),
                "unknown_kid"
            );
        }
        assert_eq!(
            source.fetches() as u64,
            1 + window,
            "one fetch per cooldown window"
        );
    }
    // Legitimate traffic is unaffected throughout.
    assert!(run(&auth, &source, &a.token(&claims(T0)), T0 + 100)
        .await
        .is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn stale_keys_are_served_while_one_background_refresh_runs() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=120"), jwks(&[&a]));
    let auth = auth();
    let token = a.token(&claims(T0));

    let fresh = run(&auth, &source, &token, T0).await.unwrap();
    assert!(fresh.refresh.is_none());
    assert!(run(&auth, &source, &token, T0 + 119)
        .await
        .unwrap()
        .refresh
        .is_none());

    // Stale: served, and exactly one request is asked to refresh.
    let first = run(&auth, &source, &token, T0 + 120).await.unwrap();
    let second = run(&auth, &source, &token, T0 + 121).await.unwrap();
    let refresh = first.refresh.expect("a refresh is asked for");
    assert_eq!(refresh.issuer(), ISS);
    assert!(second.refresh.is_none(), "only one refresh outstanding");
    assert_eq!(
        source.fetches(),
        1,
        "stale serving does not fetch in the foreground"
    );

    let outcome = auth
        .refresh(&refresh, &source, &NativeVerifier, UnixTime(T0 + 122))
        .await;
    assert_eq!(outcome, None);

    assert_eq!(source.fetches(), 2);
    let after = run(&auth, &source, &token, T0 + 123).await.unwrap();
    assert!(after.refresh.is_none(), "fresh again");
}

#[tokio::test(flavor = "current_thread")]
async fn stale_if_error_then_hard_expiry_fails_closed() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=60"), jwks(&[&a]));
    let auth = auth_with(RawJwksSettings {
        stale_if_error_seconds: 300,
        verified_token_cache_entries: 0,
        ..RawJwksSettings::default()
    });
    let token = a.token(&claims(T0));
    assert!(run(&auth, &source, &token, T0).await.is_ok());

    // The issuer goes down; stale keys keep serving and the refresh fails.
    source.fail(JWKS_URL, FetchError::Timeout);
    let stale = run(&auth, &source, &token, T0 + 100).await.unwrap();
    let refresh = stale.refresh.unwrap();
    let err = auth
        .refresh(&refresh, &source, &NativeVerifier, UnixTime(T0 + 100))
        .await;
    assert_eq!(err, Some(Reason::JwksTimeout));
    assert!(run(&auth, &source, &token, T0 + 200).await.is_ok());
    assert!(run(&auth, &source, &token, T0 + 359).await.is_ok());

    // Past fresh_until + stale_if_error: nothing is served; a foreground fetch fails → 503.
    let before = source.fetches();
    let r = run(&auth, &source, &token, T0 + 360).await;
    assert_eq!(
        r.unwrap_err(),
        JwtFailure::Unavailable {
            reason: Reason::JwksTimeout,
            retry_after: 2
        }
    );
    assert_eq!(source.fetches(), before + 1);

    // Recovery: the next allowed fetch succeeds and tokens verify again.
    source.serve(JWKS_URL, Some("max-age=60"), jwks(&[&a]));
    assert!(run(&auth, &source, &token, T0 + 362).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn failing_fetches_back_off_with_retry_after() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    source.serve_status(JWKS_URL, 500, None, "oops");
    let auth = auth();
    let token = a.token(&claims(T0));

    let unavailable = |retry_after| JwtFailure::Unavailable {
        reason: Reason::JwksHttpError,
        retry_after,
    };
    assert_eq!(
        run(&auth, &source, &token, T0).await.unwrap_err(),
        unavailable(1)
    );
    assert_eq!(source.fetches(), 1);
    // Still backing off at the same second: no fetch.
    assert_eq!(
        run(&auth, &source, &token, T0).await.unwrap_err(),
        unavailable(1)
    );
    assert_eq!(source.fetches(), 1);
    assert_eq!(
        run(&auth, &source, &token, T0 + 1).await.unwrap_err(),
        unavailable(2)
    );
    assert_eq!(
        run(&auth, &source, &token, T0 + 2).await.unwrap_err(),
        unavailable(1)
    );
    assert_eq!(
        run(&auth, &source, &token, T0 + 3).await.unwrap_err(),
        unavailable(4)
    );
    assert_eq!(source.fetches(), 3);
    // A broken document counts as a failure too.
    source.serve(JWKS_URL, None, "{\"keys\": 5}");
    let r = run(&auth, &source, &token, T0 + 7).await.unwrap_err();
    assert_eq!(
        r,
        JwtFailure::Unavailable {
            reason: Reason::JwksInvalid,
            retry_after: 8
        }
    );
    source.serve(JWKS_URL, None, jwks(&[&a]));
    assert!(run(&auth, &source, &token, T0 + 15).await.is_ok());
    assert_eq!(source.fetches(), 5);
    // Garbage is still refused without fetching while the cache is cold elsewhere.
    assert_eq!(
        reason(run(&auth, &source, "a.b.c", T0 + 16).await),
        "invalid_base64url"
    );
    assert_eq!(source.fetches(), 5);
}

fn discovery_issuer() -> RawIssuer {
    RawIssuer {
        jwks_uri: None,
        discovery: Some(true),
        ..raw_issuer()
    }
}

const DISCOVERY_URL: &str = "https://issuer.example/.well-known/openid-configuration";

#[tokio::test(flavor = "current_thread")]
async fn discovery_finds_and_caches_the_jwks_uri() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    let keys_url = "https://keys.issuer.example/v1/keys";
    source.serve(
        DISCOVERY_URL,
        Some("max-age=3600"),
        json!({ "issuer": ISS, "jwks_uri": keys_url }).to_string(),
    );
    source.serve(keys_url, Some("max-age=60"), jwks(&[&a]));
    let auth = JwtAuthenticator::<NativeKey>::new(issuers(vec![discovery_issuer()]), settings());
    let token = a.token(&claims(T0));
    assert!(run(&auth, &source, &token, T0).await.is_ok());
    assert_eq!(
        (
            source.fetches_of(DISCOVERY_URL),
            source.fetches_of(keys_url)
        ),
        (1, 1)
    );

    // Keys expire sooner than the discovery document: the refresh reuses the cached jwks_uri.
    let refresh = run(&auth, &source, &token, T0 + 61)
        .await
        .unwrap()
        .refresh
        .unwrap();
    assert_eq!(
        auth.refresh(&refresh, &source, &NativeVerifier, UnixTime(T0 + 61))
            .await,
        None
    );
    assert_eq!(
        (
            source.fetches_of(DISCOVERY_URL),
            source.fetches_of(keys_url)
        ),
        (1, 2)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn discovery_refuses_a_document_for_another_issuer() {
    let a = EdKey::new("a", 1);
    let token = a.token(&claims(T0));
    for (doc, want) in [
        (
            json!({ "issuer": "https://issuer.example/", "jwks_uri": JWKS_URL }),
            "discovery_issuer_mismatch",
        ),
        (
            json!({ "issuer": "https://evil.example", "jwks_uri": JWKS_URL }),
            "discovery_issuer_mismatch",
        ),
        (
            json!({ "issuer": ISS, "jwks_uri": "http://keys.example/jwks" }),
            "discovery_jwks_uri_invalid",
        ),
        (json!({ "issuer": ISS }), "discovery_invalid"),
    ] {
        let source = ScriptedSource::new();
        source.serve(DISCOVERY_URL, None, doc.to_string());
        source.serve(JWKS_URL, None, jwks(&[&a]));
        let auth =
            JwtAuthenticator::<NativeKey>::new(issuers(vec![discovery_issuer()]), settings());
        let r = run(&auth, &source, &token, T0).await.unwrap_err();
        assert_eq!(
            r,
            JwtFailure::Unavailable {
                reason: Reason::from_code(want).unwrap(),
                retry_after: 1
            }
        );
        assert_eq!(
            source.fetches_of(JWKS_URL),
            0,
            "no keys fetched from an unverified location"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn keys_are_imported_once_per_key_material() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=60"), jwks(&[&a]));
    let auth = auth();
    let verifier = CountingVerifier::default();
    let token = a.token(&claims(T0));
    for i in 0..3 {
        auth.authenticate(&token, &source, &verifier, UnixTime(T0 + i))
            .await
            .unwrap();
    }
    assert_eq!((verifier.imports.get(), verifier.verifies.get()), (1, 3));

    // A refetch returning the same key keeps its handle.
    let refresh = auth
        .authenticate(&token, &source, &verifier, UnixTime(T0 + 60))
        .await
        .unwrap()
        .refresh
        .unwrap();
    assert_eq!(
        auth.refresh(&refresh, &source, &verifier, UnixTime(T0 + 60))
            .await,
        None
    );
    auth.authenticate(&token, &source, &verifier, UnixTime(T0 + 61))
        .await
        .unwrap();
    assert_eq!(verifier.imports.get(), 1);

    // New material under the same kid: old tokens fail, new ones verify with a new import.
    let a2 = EdKey::new("a", 2);
    source.serve(JWKS_URL, Some("max-age=60"), jwks(&[&a2]));
    let refresh = auth
        .authenticate(&token, &source, &verifier, UnixTime(T0 + 130))
        .await
        .unwrap()
        .refresh
        .unwrap();
    assert_eq!(
        auth.refresh(&refresh, &source, &verifier, UnixTime(T0 + 130))
            .await,
        None
    );
    assert_eq!(
        verifier.imports.get(),
        2,
        "the refresh imports the new key ahead of time"
    );
    let old = auth
        .authenticate(&token, &source, &verifier, UnixTime(T0 + 131))
        .await;
    assert_eq!(old.unwrap_err().reason(), "bad_signature");
    let new = a2.token(&claims(T0));
    auth.authenticate(&new, &source, &verifier, UnixTime(T0 + 131))
        .await
        .unwrap();
    assert_eq!(verifier.imports.get(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn without_kid_a_single_candidate_is_used_and_several_are_refused() {
    let (a, b) = (EdKey::new("a", 1), EdKey::new("b", 2));
    let no_kid = |k: &EdKey| k.token_with_header(&json!({ "alg": "EdDSA" }), &claims(T0));

    let one = ScriptedSource::new();
    one.serve(JWKS_URL, None, jwks(&[&a]));
    let auth = auth();
    let ok = run(&auth, &one, &no_kid(&a), T0).await.unwrap();
    assert_eq!(ok.identity.kid(), None);
    assert_eq!(
        reason(run(&auth, &one, &no_kid(&b), T0).await),
        "bad_signature"
    );

    let two = ScriptedSource::new();
    two.serve(JWKS_URL, None, jwks(&[&a, &b]));
    let auth = self::auth();
    assert_eq!(
        reason(run(&auth, &two, &no_kid(&a), T0).await),
        "kid_required"
    );
    assert!(run(&auth, &two, &a.token(&claims(T0)), T0).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn verified_tokens_are_cached_briefly() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=86400"), jwks(&[&a]));
    let auth =
        JwtAuthenticator::<NativeKey>::new(issuers(vec![raw_issuer()]), JwksSettings::default());
    let verifier = CountingVerifier::default();
    let token = a.token(&claims(T0));
    for t in [T0, T0 + 1, T0 + 59] {
        auth.authenticate(&token, &source, &verifier, UnixTime(t))
            .await
            .unwrap();
    }
    assert_eq!(verifier.verifies.get(), 1, "hits skip verification");
    auth.authenticate(&token, &source, &verifier, UnixTime(T0 + 60))
        .await
        .unwrap();
    assert_eq!(verifier.verifies.get(), 2, "entries live at most 60 s");

    // A token expiring in 10 s is cached no longer than that, and a hit re-checks expiry.
    let short = a.token(&json!({ "iss": ISS, "aud": AUD, "sub": "s", "exp": T0 + 10 }));
    auth.authenticate(&short, &source, &verifier, UnixTime(T0))
        .await
        .unwrap();
    let r = auth
        .authenticate(&short, &source, &verifier, UnixTime(T0 + 10))
        .await;
    assert_eq!(r.unwrap_err().reason(), "expired");
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_cold_requests_each_fetch_and_never_conflict() {
    let a = EdKey::new("a", 1);
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, None, jwks(&[&a]));
    let auth = auth();
    let t1 = a.token(&claims(T0));
    let t2 = a.token(&json!({ "iss": ISS, "aud": AUD, "sub": "other", "exp": T0 + 60 }));
    // Interleaved on one thread (the fake source yields while "fetching"): no RefCell borrow
    // spans an await, and each cold request fetches for itself (documented trade-off).
    let (r1, r2) = tokio::join!(run(&auth, &source, &t1, T0), run(&auth, &source, &t2, T0));
    assert_eq!(r1.unwrap().identity.subject(), "user-1");
    assert_eq!(r2.unwrap().identity.subject(), "other");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn an_oversized_document_is_a_failed_fetch_never_an_empty_set() {
    let a = EdKey::new("a", 1);
    let token = a.token(&claims(T0));

    // Nothing cached: the source reports the body too large → 503, backing off like any failure.
    let source = ScriptedSource::new();
    source.fail(JWKS_URL, FetchError::TooLarge);
    let authn = auth();
    assert_eq!(
        run(&authn, &source, &token, T0).await.unwrap_err(),
        JwtFailure::Unavailable {
            reason: Reason::JwksTooLarge,
            retry_after: 1
        }
    );
    assert_eq!(
        run(&authn, &source, &token, T0 + 1).await.unwrap_err(),
        JwtFailure::Unavailable {
            reason: Reason::JwksTooLarge,
            retry_after: 2
        }
    );
    assert_eq!(source.fetches(), 2);

    // A body the source did hand over, but over the cap, is refused the same way by the core.
    let source = ScriptedSource::new();
    let mut big = jwks(&[&a]).into_bytes();
    big.resize(edge_auth::jwks::MAX_DOCUMENT_BYTES + 1, b' ');
    source.serve(JWKS_URL, None, big);
    let authn = auth();
    assert_eq!(
        reason(run(&authn, &source, &token, T0).await),
        "jwks_too_large"
    );

    // An empty 200 body is not an empty key set either: it is an invalid document.
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, None, "");
    let authn = auth();
    assert_eq!(
        reason(run(&authn, &source, &token, T0).await),
        "jwks_invalid"
    );

    // With keys cached, an oversized refresh keeps the stale keys serving (stale-if-error).
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=60"), jwks(&[&a]));
    let authn = auth();
    assert!(run(&authn, &source, &token, T0).await.is_ok());
    source.fail(JWKS_URL, FetchError::TooLarge);
    let stale = run(&authn, &source, &token, T0 + 100).await.unwrap();
    let err = authn
        .refresh(
            &stale.refresh.unwrap(),
            &source,
            &NativeVerifier,
            UnixTime(T0 + 100),
        )
        .await;
    assert_eq!(err, Some(Reason::JwksTooLarge));
    assert!(run(&authn, &source, &token, T0 + 101).await.is_ok());
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn an_oversized_discovery_document_is_a_failed_fetch() {
    let a = EdKey::new("a", 1);
    let token = a.token(&claims(T0));
    let source = ScriptedSource::new();
    source.fail(DISCOVERY_URL, FetchError::TooLarge);
    source.serve(JWKS_URL, None, jwks(&[&a]));
    let auth = JwtAuthenticator::<NativeKey>::new(issuers(vec![discovery_issuer()]), settings());
    assert_eq!(
        run(&auth, &source, &token, T0).await.unwrap_err(),
        JwtFailure::Unavailable {
            reason: Reason::DiscoveryTooLarge,
            retry_after: 1
        }
    );
    assert_eq!(source.fetches_of(JWKS_URL), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_signed_by_the_hundredth_key_verifies() {
    let keys: Vec<EdKey> = (0..100u8)
        .map(|i| EdKey::new(&format!("k{i}"), i + 1))
        .collect();
    let refs: Vec<&EdKey> = keys.iter().collect();
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, None, jwks(&refs));
    let auth = auth();
    let last = keys.last().unwrap();
    let ok = run(&auth, &source, &last.token(&claims(T0)), T0)
        .await
        .unwrap();
    assert_eq!(ok.identity.kid(), Some("k99"));
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn each_fetch_notes_configured_algorithms_its_keys_never_use_once() {
    // The issuer allows EdDSA and ES256; its set holds Ed25519 keys only.
    let (a, b) = (EdKey::new("a", 1), EdKey::new("b", 2));
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, None, jwks(&[&a]));
    let auth = auth();
    assert!(
        auth.take_unused_algorithms().is_empty(),
        "nothing fetched yet"
    );

    assert!(run(&auth, &source, &a.token(&claims(T0)), T0).await.is_ok());
    let notes = auth.take_unused_algorithms();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].issuer, ISS);
    assert_eq!(notes[0].algorithms, [edge_auth::jwt::Algorithm::Es256]);
    assert!(auth.take_unused_algorithms().is_empty(), "taken once");

    // Served from the cache: no fetch, no note.
    let t = a.token(&json!({ "iss": ISS, "aud": AUD, "sub": "other", "exp": T0 + 600 }));
    assert!(run(&auth, &source, &t, T0 + 1).await.is_ok());
    assert!(auth.take_unused_algorithms().is_empty());

    // A refetch (the kid miss after the cooldown) notes again.
    source.serve(JWKS_URL, None, jwks(&[&a, &b]));
    assert!(run(&auth, &source, &b.token(&claims(T0)), T0 + 30)
        .await
        .is_ok());
    assert_eq!(source.fetches(), 2);
    assert_eq!(auth.take_unused_algorithms().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_set_without_a_usable_key_is_a_failed_fetch_and_the_held_keys_keep_serving() {
    let a = EdKey::new("a", 1);
    let token = a.token(&claims(T0));
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, Some("max-age=60"), jwks(&[&a]));
    let authn = auth();
    assert!(run(&authn, &source, &token, T0).await.is_ok());

    // The provider (or a CDN in front of it) answers 200 with no usable key: the refresh of the
    // stale set fails, and `a` keeps verifying instead of every token becoming `unknown_kid`.
    source.serve(JWKS_URL, Some("max-age=60"), r#"{"keys":[]}"#);
    let stale = run(&authn, &source, &token, T0 + 100).await.unwrap();
    let err = authn
        .refresh(
            &stale.refresh.unwrap(),
            &source,
            &NativeVerifier,
            UnixTime(T0 + 100),
        )
        .await;
    assert_eq!(err, Some(Reason::JwksNoUsableKeys));
    assert!(run(&authn, &source, &token, T0 + 101).await.is_ok());

    // With nothing held, such a set is a 503 that backs off, not a 401 for every token.
    let source = ScriptedSource::new();
    source.serve(JWKS_URL, None, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
    let authn = auth();
    assert_eq!(
        run(&authn, &source, &token, T0).await.unwrap_err(),
        JwtFailure::Unavailable {
            reason: Reason::JwksNoUsableKeys,
            retry_after: 1
        }
    );
}
