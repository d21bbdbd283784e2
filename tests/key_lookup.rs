//! The key hot path and the admin API over an in-memory store: record semantics, caching (hot
//! keys cost no reads; negative caching; bounds; invalidation), KV failures, every endpoint.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support_store;

use edge_auth::admin::{handle, AdminCaller, AdminContext, AdminReply, AdminRequest};
use edge_auth::identity::CredentialKind;
use edge_auth::keys::repository::record_key;
use edge_auth::keys::{
    KeyAuthFailure, KeyAuthenticator, KeyFormat, KeyKind, KeySettings, RawKeySettings, TokenDigest,
};
use edge_auth::time::UnixTime;
use serde_json::{json, Value};
use support_store::MemoryStore;

const NOW: UnixTime = UnixTime(1_800_000_000);

fn settings(ttl: u64, max: usize) -> KeySettings {
    KeySettings::from_raw(RawKeySettings {
        cache_ttl_seconds: Some(ttl),
        cache_max_entries: Some(max),
        ..RawKeySettings::default()
    })
    .unwrap()
}

/// The one issuer the admin tests configure: PATs belong to (TEST_ISSUER, subject).
const TEST_ISSUER: &str = "https://issuer.test";

struct Env {
    keys: KeyAuthenticator,
    store: MemoryStore,
    counter: u8,
}

impl Env {
    fn new(ttl: u64) -> Self {
        Env {
            keys: KeyAuthenticator::new(settings(ttl, 100)),
            store: MemoryStore::new(),
            counter: 0,
        }
    }

    async fn call(
        &mut self,
        caller: &AdminCaller,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: Value,
        now: UnixTime,
    ) -> AdminReply {
        self.counter = self.counter.wrapping_add(1);
        let mut n = self.counter;
        let mut fill = |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_mul(31).wrapping_add(7);
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
        let is_issuer = |iss: &str| iss == TEST_ISSUER;
        let mut ctx = AdminContext {
            settings: self.keys.settings(),
            sole_issuer: Some(TEST_ISSUER),
            is_issuer: &is_issuer,
            cache: self.keys.cache(),
            now,
            fill: &mut fill,
            changes: Vec::new(),
            state_tier: false,
        };
        handle(req, caller, &mut ctx, &self.store).await
    }

    async fn create(&mut self, body: Value) -> Value {
        match self
            .call(&AdminCaller::Admin, "POST", "/keys", None, body, NOW)
            .await
        {
            AdminReply::Json { status: 201, body } => body,
            other => panic!("create failed: {other:?}"),
        }
    }

    async fn auth(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<edge_auth::identity::Identity, KeyAuthFailure> {
        self.keys
            .authenticate(
                &self.store,
                None::<edge_auth::keys::Recent<'_, edge_auth::ports::NoAuthority>>,
                token,
                None,
                Some(TEST_ISSUER),
                now,
            )
            .await
            .map(|s| s.identity)
    }
}

fn status(reply: &AdminReply) -> u16 {
    match reply {
        AdminReply::Json { status, .. } => *status,
        AdminReply::NoContent => 204,
        AdminReply::Problem(p) => p.status,
    }
}

fn reason(r: Result<edge_auth::identity::Identity, KeyAuthFailure>) -> &'static str {
    match r {
        Err(KeyAuthFailure::Invalid { reason })
        | Err(KeyAuthFailure::Unavailable { reason, .. }) => reason.as_str(),
        Err(KeyAuthFailure::NotBound) => "kv_not_bound",
        Ok(_) => "ok",
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_created_key_authenticates_and_the_token_is_never_stored() {
    let mut env = Env::new(30);
    let k = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "ci", "scopes": ["read"] }))
        .await;
    let token = k["token"].as_str().unwrap();
    let id = env.auth(token, NOW).await.unwrap();
    assert_eq!(id.kind(), CredentialKind::ApiKey);
    assert_eq!(id.subject(), "svc");
    assert_eq!(id.key_id(), k["id"].as_str());
    assert!(!env.store.dump().contains(token));
    assert!(env
        .store
        .data
        .borrow()
        .contains_key(&record_key(&TokenDigest::of(token))));
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_keys_cost_no_read() {
    let env = Env::new(30);
    for t in [
        "eak_short",
        "eak_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000",
        "zzz_x",
    ] {
        assert!(env.auth(t, NOW).await.is_err());
    }
    assert_eq!(env.store.reads.get(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_hot_key_costs_one_read_per_ttl() {
    let mut env = Env::new(30);
    let k = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "n" }))
        .await;
    let token = k["token"].as_str().unwrap().to_string();
    let before = env.store.reads.get();
    for i in 0..100 {
        env.auth(&token, NOW.plus(i % 29)).await.unwrap();
    }
    assert_eq!(
        env.store.reads.get() - before,
        1,
        "one read, then the cache"
    );
    env.auth(&token, NOW.plus(30)).await.unwrap();
    assert_eq!(env.store.reads.get() - before, 2, "the TTL elapsed");
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_keys_are_negatively_cached() {
    let mut env = Env::new(30);
    // A well-formed key the store has never seen: mint one with a throwaway env.
    let mut other = Env::new(30);
    let k = other
        .create(json!({ "kind": "api_key", "subject": "x", "name": "n" }))
        .await;
    let token = k["token"].as_str().unwrap();
    for _ in 0..10 {
        assert_eq!(reason(env.auth(token, NOW).await), "unknown_key");
    }
    assert_eq!(env.store.reads.get(), 1);
    let _ = env
        .create(json!({ "kind": "api_key", "subject": "y", "name": "n" }))
        .await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_cache_is_bounded() {
    let keys = KeyAuthenticator::new(settings(300, 3));
    let store = MemoryStore::new();
    let format = KeyFormat::default();
    for i in 0..10u8 {
        let token = format
            .generate(KeyKind::ApiKey, &mut |b: &mut [u8]| {
                b.fill(i);
                Ok(())
            })
            .unwrap();
        let _ = keys
            .authenticate(
                &store,
                None::<edge_auth::keys::Recent<'_, edge_auth::ports::NoAuthority>>,
                &token,
                None,
                Some(TEST_ISSUER),
                NOW,
            )
            .await;
        assert!(keys.cache().len() <= 3);
    }
    assert_eq!(keys.cache().len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn revocation_through_this_isolate_applies_at_once_despite_the_cache() {
    let mut env = Env::new(300);
    let k = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "n" }))
        .await;
    let token = k["token"].as_str().unwrap().to_string();
    env.auth(&token, NOW).await.unwrap();
    let path = format!("/keys/{}", k["id"].as_str().unwrap());
    assert_eq!(
        status(
            &env.call(&AdminCaller::Admin, "DELETE", &path, None, Value::Null, NOW)
                .await
        ),
        204
    );
    assert_eq!(reason(env.auth(&token, NOW).await), "revoked");
    assert_eq!(
        status(
            &env.call(&AdminCaller::Admin, "DELETE", &path, None, Value::Null, NOW)
                .await
        ),
        204,
        "idempotent"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn kv_failure_is_unavailable_never_success() {
    let env = Env::new(30);
    let token = KeyFormat::default()
        .generate(KeyKind::ApiKey, &mut |b: &mut [u8]| {
            b.fill(9);
            Ok(())
        })
        .unwrap();
    env.store.failing.set(true);
    match env.auth(&token, NOW).await {
        Err(KeyAuthFailure::Unavailable { retry_after, .. }) => assert!(retry_after > 0),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn expiry_kind_and_record_checks() {
    let mut env = Env::new(0);
    let k = env
        .create(json!({ "kind": "pat", "subject": "u", "name": "n", "expires_in": 3600 }))
        .await;
    let token = k["token"].as_str().unwrap().to_string();
    assert_eq!(
        env.auth(&token, NOW.plus(3599)).await.unwrap().kind(),
        CredentialKind::Pat
    );
    assert_eq!(reason(env.auth(&token, NOW.plus(3600)).await), "expired");
    // A PAT-prefixed token whose record claims api_key is refused.
    let digest = record_key(&TokenDigest::of(&token));
    let mut record: Value = serde_json::from_str(&env.store.data.borrow()[&digest]).unwrap();
    record["kind"] = json!("api_key");
    env.store
        .data
        .borrow_mut()
        .insert(digest.clone(), record.to_string());
    assert_eq!(reason(env.auth(&token, NOW).await), "kind_mismatch");
    env.store
        .data
        .borrow_mut()
        .insert(digest, "{garbage".into());
    assert_eq!(reason(env.auth(&token, NOW).await), "bad_record");
}

#[tokio::test(flavor = "current_thread")]
async fn listing_shows_metadata_and_never_tokens_or_hashes() {
    let mut env = Env::new(30);
    let a = env
        .create(json!({ "kind": "api_key", "subject": "team:a", "name": "one", "scopes": ["r"] }))
        .await;
    let b = env
        .create(json!({ "kind": "pat", "subject": "team:a", "name": "two", "expires_in": 600 }))
        .await;
    env.create(json!({ "kind": "api_key", "subject": "team:ab", "name": "other" }))
        .await;
    let AdminReply::Json { status: 200, body } = env
        .call(
            &AdminCaller::Admin,
            "GET",
            "/keys",
            Some("subject=team%3Aa"),
            Value::Null,
            NOW,
        )
        .await
    else {
        panic!()
    };
    let text = body.to_string();
    for k in [&a, &b] {
        let token = k["token"].as_str().unwrap();
        assert!(!text.contains(token));
        assert!(!text.contains(&TokenDigest::of(token).to_hex()));
    }
    let ids: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "team:ab is not team:a");
    assert!(ids.contains(&a["id"].as_str().unwrap()) && ids.contains(&b["id"].as_str().unwrap()));
    assert_eq!(body["keys"][0]["status"], "active");
    // Without ?subject= (the contract's paginated listing): every key, never a token or hash.
    let all = env
        .call(&AdminCaller::Admin, "GET", "/keys", None, Value::Null, NOW)
        .await;
    let AdminReply::Json {
        status: 200,
        body: all,
    } = all
    else {
        panic!("listing every key: {all:?}")
    };
    let every: Vec<&str> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(
        every.contains(&a["id"].as_str().unwrap()) && every.contains(&b["id"].as_str().unwrap())
    );
    assert!(!all.to_string().contains("token"), "no token in listings");
    assert_eq!(
        status(
            &env.call(
                &AdminCaller::Admin,
                "GET",
                "/keys",
                Some("limit=0"),
                Value::Null,
                NOW
            )
            .await
        ),
        400
    );
}

#[tokio::test(flavor = "current_thread")]
async fn roll_keeps_subject_and_scopes_and_ends_the_old_key_after_the_grace() {
    let mut env = Env::new(0);
    let old = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "n", "scopes": ["a", "b"] }))
        .await;
    let path = format!("/keys/{}/roll", old["id"].as_str().unwrap());
    let AdminReply::Json {
        status: 201,
        body: new,
    } = env
        .call(
            &AdminCaller::Admin,
            "POST",
            &path,
            None,
            json!({ "grace_seconds": 600 }),
            NOW,
        )
        .await
    else {
        panic!()
    };
    assert_eq!(new["scopes"], json!(["a", "b"]));
    assert_eq!(new["subject"], "svc");
    let old_token = old["token"].as_str().unwrap();
    assert!(env.auth(old_token, NOW.plus(599)).await.is_ok());
    assert_eq!(reason(env.auth(old_token, NOW.plus(600)).await), "expired");
    assert!(env
        .auth(new["token"].as_str().unwrap(), NOW.plus(601))
        .await
        .is_ok());
    assert_eq!(
        status(
            &env.call(
                &AdminCaller::Admin,
                "POST",
                "/keys/key_nope/roll",
                None,
                json!({}),
                NOW
            )
            .await
        ),
        404
    );
}

#[tokio::test(flavor = "current_thread")]
async fn callers_are_checked_per_endpoint() {
    let mut env = Env::new(30);
    let user = AdminCaller::User {
        issuer: TEST_ISSUER.into(),
        subject: "alice".into(),
        scopes: vec!["read".into(), "write".into()],
    };
    assert_eq!(
        status(
            &env.call(
                &AdminCaller::Anonymous,
                "GET",
                "/keys",
                Some("subject=a"),
                Value::Null,
                NOW
            )
            .await
        ),
        401
    );
    assert_eq!(
        status(&env.call(&user, "POST", "/keys", None, json!({}), NOW).await),
        403
    );
    assert_eq!(
        status(
            &env.call(&AdminCaller::Admin, "GET", "/pats", None, Value::Null, NOW)
                .await
        ),
        403
    );
    assert_eq!(
        status(
            &env.call(&AdminCaller::Admin, "PUT", "/keys", None, Value::Null, NOW)
                .await
        ),
        405
    );
    assert_eq!(
        status(
            &env.call(&AdminCaller::Admin, "GET", "/nope", None, Value::Null, NOW)
                .await
        ),
        404
    );
}

#[tokio::test(flavor = "current_thread")]
async fn pats_stay_within_the_callers_scopes_and_ownership() {
    let mut env = Env::new(30);
    let alice = AdminCaller::User {
        issuer: TEST_ISSUER.into(),
        subject: "alice".into(),
        scopes: vec!["read".into(), "write".into()],
    };
    let bob = AdminCaller::User {
        issuer: TEST_ISSUER.into(),
        subject: "bob".into(),
        scopes: vec!["read".into()],
    };
    let AdminReply::Json {
        status: 201,
        body: pat,
    } = env
        .call(
            &alice,
            "POST",
            "/pats",
            None,
            json!({ "name": "cli", "scopes": ["read"], "expires_in": 3600 }),
            NOW,
        )
        .await
    else {
        panic!()
    };
    assert_eq!(pat["subject"], "alice");
    assert_eq!(pat["kind"], "pat");
    assert_eq!(
        status(
            &env.call(
                &alice,
                "POST",
                "/pats",
                None,
                json!({ "name": "x", "scopes": ["admin"], "expires_in": 60 }),
                NOW
            )
            .await
        ),
        403
    );
    assert_eq!(
        status(
            &env.call(
                &alice,
                "POST",
                "/pats",
                None,
                json!({ "name": "x", "scopes": ["read"], "expires_in": 100 * 86400 }),
                NOW
            )
            .await
        ),
        400,
        "beyond the 90-day maximum"
    );
    let path = format!("/pats/{}", pat["id"].as_str().unwrap());
    assert_eq!(
        status(
            &env.call(&bob, "DELETE", &path, None, Value::Null, NOW)
                .await
        ),
        404
    );
    assert_eq!(
        status(&env.call(&bob, "GET", &path, None, Value::Null, NOW).await),
        404
    );
    let AdminReply::Json { body: list, .. } =
        env.call(&bob, "GET", "/pats", None, Value::Null, NOW).await
    else {
        panic!()
    };
    assert_eq!(list["keys"].as_array().unwrap().len(), 0);
    assert_eq!(
        status(
            &env.call(&alice, "DELETE", &path, None, Value::Null, NOW)
                .await
        ),
        204
    );
    assert_eq!(
        reason(env.auth(pat["token"].as_str().unwrap(), NOW).await),
        "revoked"
    );
    // An admin-made API key for alice is not hers to delete as a PAT.
    let key = env
        .create(json!({ "kind": "api_key", "subject": "alice", "name": "svc" }))
        .await;
    let path = format!("/pats/{}", key["id"].as_str().unwrap());
    assert_eq!(
        status(
            &env.call(&alice, "DELETE", &path, None, Value::Null, NOW)
                .await
        ),
        404
    );
}

#[tokio::test(flavor = "current_thread")]
async fn admin_store_failures_are_503() {
    let mut env = Env::new(30);
    env.store.failing.set(true);
    let reply = env
        .call(
            &AdminCaller::Admin,
            "POST",
            "/keys",
            None,
            json!({ "kind": "api_key", "subject": "s", "name": "n" }),
            NOW,
        )
        .await;
    assert_eq!(status(&reply), 503);
}

#[tokio::test(flavor = "current_thread")]
async fn last_use_is_recorded_at_most_once_a_minute_and_can_be_turned_off() {
    let mut env = Env::new(0);
    let k = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "n" }))
        .await;
    let token = k["token"].as_str().unwrap().to_string();
    assert!(touches(&env, &token, NOW).await);
    assert!(!touches(&env, &token, NOW.plus(59)).await);
    assert!(touches(&env, &token, NOW.plus(60)).await);

    let quiet = KeySettings::from_raw(RawKeySettings {
        record_last_used: Some(false),
        ..RawKeySettings::default()
    })
    .unwrap();
    let quiet = KeyAuthenticator::new(quiet);
    let success = quiet
        .authenticate(
            &env.store,
            None::<edge_auth::keys::Recent<'_, edge_auth::ports::NoAuthority>>,
            &token,
            None,
            Some(TEST_ISSUER),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(success.touch, None);
}

async fn touches(env: &Env, token: &str, now: UnixTime) -> bool {
    env.keys
        .authenticate(
            &env.store,
            None::<edge_auth::keys::Recent<'_, edge_auth::ports::NoAuthority>>,
            token,
            None,
            Some(TEST_ISSUER),
            now,
        )
        .await
        .unwrap()
        .touch
        .is_some()
}

/// A well-formed key (right prefix, length, alphabet and checksum: anyone can make one) that the
/// store has never seen, different for each `seed`.
fn forged_key(seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    KeyFormat::default()
        .generate(KeyKind::ApiKey, &mut |buf: &mut [u8]| {
            for b in buf {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = (state >> 24) as u8;
            }
            Ok(())
        })
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_forged_keys_does_not_evict_a_hot_key() {
    let mut env = Env::new(300); // 100 entries
    let k = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "hot" }))
        .await;
    let hot = k["token"].as_str().unwrap().to_string();
    env.auth(&hot, NOW).await.unwrap();
    let before = env.store.reads.get();
    const FLOOD: usize = 10_000;
    for i in 0..FLOOD {
        let forged = forged_key(i as u64 + 1);
        assert_eq!(reason(env.auth(&forged, NOW).await), "unknown_key");
    }
    assert_eq!(
        env.store.reads.get() - before,
        FLOOD,
        "each forged key costs its one read"
    );
    // No hit on the hot key during the flood, and still it is cached: misses live apart.
    env.auth(&hot, NOW.plus(1)).await.unwrap();
    assert_eq!(
        env.store.reads.get() - before,
        FLOOD,
        "the hot key costs no read"
    );
    // The misses are bounded too, and a repeated unknown key is still absorbed.
    assert!(env.keys.cache().len() <= 1 + 64);
    let repeated = forged_key(u64::MAX);
    env.auth(&repeated, NOW).await.unwrap_err();
    env.auth(&repeated, NOW).await.unwrap_err();
    assert_eq!(env.store.reads.get() - before, FLOOD + 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_miss_then_a_found_record_for_the_same_key_is_not_shadowed() {
    let mut env = Env::new(300);
    let k = env
        .create(json!({ "kind": "api_key", "subject": "svc", "name": "n" }))
        .await;
    let token = k["token"].as_str().unwrap().to_string();
    let kv_key = record_key(&TokenDigest::of(&token));
    let record = env.store.data.borrow_mut().remove(&kv_key).unwrap();
    env.keys.cache().invalidate(&TokenDigest::of(&token));
    assert_eq!(reason(env.auth(&token, NOW).await), "unknown_key");
    // The record appears (KV propagation): once the negative entry is past its TTL, the found
    // record replaces it and is served from the cache.
    env.store.data.borrow_mut().insert(kv_key.clone(), record);
    assert_eq!(reason(env.auth(&token, NOW.plus(299)).await), "unknown_key");
    env.auth(&token, NOW.plus(300)).await.unwrap();
    let reads = env.store.reads.get();
    env.auth(&token, NOW.plus(301)).await.unwrap();
    assert_eq!(env.store.reads.get(), reads, "cached as found");
    // And back: gone from KV, the stale found record is replaced by a miss after its TTL.
    env.store.data.borrow_mut().remove(&kv_key);
    assert_eq!(reason(env.auth(&token, NOW.plus(600)).await), "unknown_key");
    assert_eq!(reason(env.auth(&token, NOW.plus(601)).await), "unknown_key");
    assert_eq!(env.store.reads.get(), reads + 1, "cached as missing");
}

/// The share of `requests` answered without a KV read.
async fn hit_rate(env: &Env, tokens: &[String], requests: &[usize]) -> f64 {
    let before = env.store.reads.get();
    for &i in requests {
        env.auth(&tokens[i], NOW).await.unwrap();
    }
    1.0 - (env.store.reads.get() - before) as f64 / requests.len() as f64
}

/// One round over a working set of `n` keys, 80/20-skewed: every key of the cold 80% once, in
/// order, each followed by four requests for the hot 20% in rotation (so 80% of requests go to
/// 20% of the keys, and every key is requested every round).
fn skewed_round(n: usize) -> Vec<usize> {
    let hot = n / 5;
    let mut out = Vec::new();
    let mut h = 0;
    for cold in hot..n {
        out.push(cold);
        for _ in 0..4 {
            out.push(h % hot);
            h += 1;
        }
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn a_working_set_20_percent_over_the_cap_still_gets_hits() {
    let mut env = Env::new(300); // 100 entries, no expiry within the test
    let mut tokens = Vec::new();
    for i in 0..120 {
        let k = env
            .create(json!({ "kind": "api_key", "subject": "svc", "name": format!("k{i}") }))
            .await;
        tokens.push(k["token"].as_str().unwrap().to_string());
    }

    // Measured (deterministic, so the bounds sit just under the numbers): cycled 80/20 80.0%
    // (every hot request hits; the cold keys, cycled in order, never do), random 80/20 95.5%.
    // benches/core.rs prints the same patterns with the old oldest-first eviction as a model
    // (cycled 73.8%: each hot key was evicted about once a round; random 95.0%) and a uniform
    // cycle, where both get 0%.
    let round = skewed_round(120);
    let _ = hit_rate(&env, &tokens, &round.repeat(2)).await; // warm up
    let skewed = hit_rate(&env, &tokens, &round.repeat(20)).await;
    println!("80/20 cycled, working set 120 over cap 100: hit rate {skewed:.3}");
    assert!(skewed >= 0.79, "cycled 80/20 hit rate {skewed}");
    let _ = hit_rate(&env, &tokens, &random_skewed(120, 960, 3)).await;
    let random = hit_rate(&env, &tokens, &random_skewed(120, 20 * 480, 7)).await;
    println!("80/20 random, working set 120 over cap 100: hit rate {random:.3}");
    assert!(random >= 0.94, "random 80/20 hit rate {random}");
}

/// `len` requests over `n` keys: 80% to the hot 20% and 20% to the rest, uniformly within each.
fn random_skewed(n: usize, len: usize, seed: u64) -> Vec<usize> {
    let hot = n / 5;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..len)
        .map(|_| {
            let r = next();
            if r % 10 < 8 {
                (r >> 8) as usize % hot
            } else {
                hot + (r >> 8) as usize % (n - hot)
            }
        })
        .collect()
}
