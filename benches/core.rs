//! Micro benchmarks of the core's hot operations, native (`cargo bench --bench core`).
//!
//! These time the pure Rust core on the build machine's CPU, not the wasm build in workerd
//! (`node benches/run.mjs` does that). Inputs come from the committed JWT test vectors, so the
//! numbers refer to the same tokens and keys the tests use. Runs are kept short (2 s each).

// Fakes here are single-threaded test doubles; a failed borrow would be a bench bug.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::Value;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use edge_auth::authn::{Decision, Gateway, Ports, RequestParts};
use edge_auth::config::Config;
use edge_auth::extract::extract;
use edge_auth::headers::{forward_headers, identity_headers};
use edge_auth::jwks::KeySet;
use edge_auth::jwt::claims::check;
use edge_auth::jwt::token::parse;
use edge_auth::jwt::{Issuers, RawIssuer};
use edge_auth::jwt::{NativeKey, NativeVerifier};
use edge_auth::keys::format::{checksum, KeyFormat, KeyKind};
use edge_auth::keys::repository::record_key;
use edge_auth::keys::{KeyAuthenticator, KeyRecord, KeySettings, RawKeySettings, TokenDigest};
use edge_auth::ports::{
    DocumentSource, FetchError, FetchedDocument, KeyStore, ListPage, StoreError,
};
use edge_auth::route::{NormalizedPath, RawRoute, RouteTable};
use edge_auth::time::UnixTime;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jwt")
}

fn load_json(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name))
        .unwrap_or_else(|e| panic!("tests/vectors/jwt/{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("tests/vectors/jwt/{name}: {e}"))
}

/// The named token from tokens.json.
fn vector_token(tokens: &Value, name: &str) -> String {
    tokens["tokens"]
        .as_array()
        .and_then(|list| list.iter().find(|t| t["name"] == name))
        .and_then(|t| t["token"].as_str())
        .unwrap_or_else(|| panic!("no token {name} in tokens.json"))
        .to_string()
}

/// Deterministic stand-in for a CSPRNG (xorshift64*): the key's bytes do not matter here.
fn filler() -> impl FnMut(&mut [u8]) -> Result<(), edge_auth::ports::NoEntropy> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *b = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
        Ok(())
    }
}

fn routes() -> RouteTable {
    let raw: Vec<RawRoute> = serde_json::from_value(serde_json::json!([
        { "path": "/health", "auth": "public" },
        { "path": "/public/**", "auth": "public" },
        { "path": "/files/*.json", "accept": ["api_key"] },
        { "path": "/v1/admin/**", "methods": ["POST", "DELETE"], "accept": ["jwt"], "scopes": ["admin"] },
        { "path": "/v1/**", "accept": ["jwt", "api_key", "pat"] }
    ]))
    .expect("routes");
    RouteTable::from_raw(raw).expect("route table")
}

fn bench_extract(c: &mut Criterion, jwt: &str, key: &str) {
    let bearer_jwt = format!("Bearer {jwt}");
    let bearer_key = format!("Bearer {key}");
    let mut g = c.benchmark_group("extract");
    g.bench_function("bearer_jwt", |b| {
        b.iter(|| extract(black_box(Some(bearer_jwt.as_str())), black_box(None)))
    });
    g.bench_function("bearer_api_key", |b| {
        b.iter(|| extract(black_box(Some(bearer_key.as_str())), black_box(None)))
    });
    g.bench_function("x_api_key", |b| {
        b.iter(|| extract(black_box(None), black_box(Some(key))))
    });
    g.finish();
}

fn bench_route(c: &mut Criterion) {
    let table = routes();
    let mut g = c.benchmark_group("route");
    g.bench_function("normalize_plain", |b| {
        b.iter(|| NormalizedPath::parse(black_box("/v1/users/12345/orders")))
    });
    g.bench_function("normalize_encoded_dots", |b| {
        b.iter(|| NormalizedPath::parse(black_box("/v1//public/../%61dmin/./users/%7Euser")))
    });
    let path = NormalizedPath::parse("/v1/users/12345/orders").expect("path");
    g.bench_function("match_last_route", |b| {
        b.iter(|| table.find(black_box("GET"), black_box(&path)).is_some())
    });
    g.bench_function("normalize_and_match", |b| {
        b.iter(|| {
            NormalizedPath::parse(black_box("/v1/users/12345/orders"))
                .ok()
                .and_then(|p| table.find("GET", &p).map(|r| r.route_index))
        })
    });
    g.finish();
}

fn bench_hash(c: &mut Criterion, key: &str) {
    let mut g = c.benchmark_group("sha256");
    g.bench_function("api_key_kv_key", |b| {
        b.iter(|| record_key(&TokenDigest::of(black_box(key))))
    });
    g.finish();
}

fn bench_apikey(c: &mut Criterion, key: &str) {
    let format = KeyFormat::default();
    let body = &key[..key.len() - 6];
    let mut g = c.benchmark_group("apikey");
    g.bench_function("parse_valid", |b| b.iter(|| format.parse(black_box(key))));
    let mut bad = key.to_string();
    bad.pop();
    bad.push(if key.ends_with('0') { '1' } else { '0' });
    g.bench_function("parse_bad_checksum", |b| {
        b.iter(|| format.parse(black_box(bad.as_str())))
    });
    g.bench_function("checksum", |b| b.iter(|| checksum(black_box(body))));
    let mut fill = filler();
    g.bench_function("generate", |b| {
        b.iter(|| format.generate(KeyKind::ApiKey, &mut fill).ok())
    });
    g.finish();
}

fn bench_key_record(c: &mut Criterion) -> edge_auth::identity::Identity {
    let text = r#"{"id":"key_0123456789abcdef","kind":"api_key","subject":"bench-user","name":"bench key","scopes":["read","write"],"created_at":1899990000,"expires_at":null}"#;
    let now = UnixTime(1_900_000_000);
    let mut g = c.benchmark_group("key_record");
    g.bench_function("parse_and_check", |b| {
        b.iter(|| {
            KeyRecord::parse(black_box(text))
                .ok()
                .and_then(|r| r.check(KeyKind::ApiKey, now, None).ok())
        })
    });
    g.finish();
    KeyRecord::parse(text)
        .expect("record")
        .check(KeyKind::ApiKey, now, None)
        .expect("identity")
}

fn bench_jwt(c: &mut Criterion, tokens: &Value, config: &Value) {
    let raw: Vec<RawIssuer> =
        serde_json::from_value(config["issuers"].clone()).expect("issuers in config.json");
    let secrets = config["secrets"].clone();
    let issuers = Issuers::from_raw(raw, &|name| secrets[name].as_str().map(str::to_string))
        .expect("issuers");
    let now = UnixTime(tokens["now"].as_u64().expect("now"));
    let mut g = c.benchmark_group("jwt");
    for (name, label) in [
        ("valid_rs256", "rs256"),
        ("valid_es256", "es256"),
        ("valid_eddsa", "eddsa"),
        ("valid_scope_and_client_id", "es256_scopes_client_id"),
    ] {
        let token = vector_token(tokens, name);
        g.bench_function(format!("parse/{label}"), |b| {
            b.iter(|| parse(black_box(token.as_str())).is_ok())
        });
        g.bench_function(format!("parse_and_check/{label}"), |b| {
            b.iter(|| {
                parse(black_box(token.as_str()))
                    .ok()
                    .and_then(|p| check(p, &issuers, now).ok().map(|t| t.claims().expires_at))
            })
        });
    }
    g.finish();
}

fn bench_jwks(c: &mut Criterion) {
    let typical = std::fs::read(vectors_dir().join("jwks/rotated.json")).expect("rotated.json");
    let messy = std::fs::read(vectors_dir().join("jwks/main.json")).expect("main.json");
    let mut g = c.benchmark_group("jwks");
    g.bench_function("parse_4_keys", |b| {
        b.iter(|| KeySet::parse(black_box(&typical)).map(|s| s.len()))
    });
    g.bench_function("parse_9_entries_5_skipped", |b| {
        b.iter(|| KeySet::parse(black_box(&messy)).map(|s| s.len()))
    });
    g.finish();
}

fn bench_headers(c: &mut Criterion, identity: &edge_auth::identity::Identity) {
    let incoming: Vec<(String, String)> = [
        ("host", "api.example"),
        ("user-agent", "bench/1.0"),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, br"),
        (
            "authorization",
            "Bearer eak_0123456789abcdefghijABCDEFGHIJ000000",
        ),
        ("content-type", "application/json"),
        ("connection", "keep-alive, x-drop-me"),
        ("x-drop-me", "1"),
        ("X-Auth-Subject", "spoofed"),
        ("x_auth_type", "jwt"),
        ("x-request-id", "0f8e7d6c5b4a"),
        ("cf-connecting-ip", "203.0.113.7"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
    .collect();
    let mut g = c.benchmark_group("headers");
    g.bench_function("identity_headers", |b| {
        b.iter(|| identity_headers(black_box(Some(identity))))
    });
    g.bench_function("forward_headers_12_in", |b| {
        b.iter(|| {
            forward_headers(
                black_box(&incoming),
                &edge_auth::headers::Forwarding::default(),
                identity_headers(Some(identity)),
            )
        })
    });
    g.finish();
}

/// Runs a future that never waits on real I/O (every port below answers at once).
fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// An in-memory KV that counts reads.
#[derive(Default)]
struct MemStore {
    data: RefCell<HashMap<String, String>>,
    reads: RefCell<u64>,
}

impl KeyStore for MemStore {
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        *self.reads.borrow_mut() += 1;
        Ok(self.data.borrow().get(key).cloned())
    }
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.get_cached(key).await
    }
    async fn put(&self, key: &str, value: &str, _: Option<u64>) -> Result<(), StoreError> {
        self.data.borrow_mut().insert(key.into(), value.into());
        Ok(())
    }
    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.put(key, value, None).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.data.borrow_mut().remove(key);
        Ok(())
    }
    async fn list(&self, _: &str, _: Option<&str>, _: u32) -> Result<ListPage, StoreError> {
        Ok(ListPage::default())
    }
}

/// Serves the vectors' JWKS documents by URL.
struct Documents(HashMap<String, Vec<u8>>);

impl DocumentSource for Documents {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        let body = self.0.get(url).cloned().ok_or(FetchError::Network)?;
        Ok(FetchedDocument {
            status: 200,
            cache_control: Some("max-age=3600".into()),
            body,
        })
    }
}

/// The whole core pipeline (`Gateway::decide`) for requests whose credential is already cached
/// in the isolate, or that need none: what the core costs natively, without the runtime.
fn bench_pipeline(c: &mut Criterion, tokens: &Value, config: &Value, key: &str) {
    let mut documents = HashMap::new();
    for (url, file) in config["documents"].as_object().expect("documents") {
        let path = vectors_dir().join(file.as_str().expect("file"));
        documents.insert(url.clone(), std::fs::read(path).expect("jwks document"));
    }
    let documents = Documents(documents);
    let auth_config = serde_json::json!({
        "origin": "https://origin.internal",
        "issuers": config["issuers"],
        "routes": [
            { "path": "/public/**", "auth": "public" },
            { "path": "/v1/**", "accept": ["jwt", "api_key", "pat"] }
        ]
    });
    let secrets = config["secrets"].clone();
    let config = Config::from_json(&auth_config.to_string(), &|name| {
        secrets[name].as_str().map(str::to_string)
    })
    .expect("AUTH_CONFIG");
    let gateway: Gateway<NativeKey> = Gateway::new(config);
    let store = MemStore::default();
    let record = serde_json::json!({
        "id": "key_0123456789abcdef", "kind": "api_key", "subject": "bench-user",
        "name": "bench key", "scopes": ["read", "write"], "created_at": 1_899_990_000u64,
        "expires_at": null
    });
    run_now(store.put(
        &record_key(&TokenDigest::of(key)),
        &record.to_string(),
        None,
    ))
    .expect("seed");
    let now = UnixTime(tokens["now"].as_u64().expect("now"));
    let decide = |path: &str, headers: &[(String, String)]| {
        let req = RequestParts {
            method: "GET",
            path,
            query: None,
            headers,
            origin: "https://edge.example",
            entropy: [7; 16],
            request_id: "rid-1",
        };
        let ports = Ports {
            store: &store,
            documents: &documents,
            verifier: &NativeVerifier,
            authority: None::<&edge_auth::ports::NoAuthority>,
            now_ms: 0,
        };
        matches!(
            run_now(gateway.decide(req, ports, now)).decision,
            Decision::Forward { .. }
        )
    };
    let common = |auth: Option<String>| {
        let mut h: Vec<(String, String)> = [
            ("host", "edge.example"),
            ("user-agent", "bench/1.0"),
            ("accept", "application/json"),
            ("x-auth-subject", "spoofed"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
        .collect();
        if let Some(a) = auth {
            h.push(("authorization".into(), a));
        }
        h
    };
    let public = common(None);
    let hot_key = common(Some(format!("Bearer {key}")));
    let jwt = common(Some(format!(
        "Bearer {}",
        vector_token(tokens, "valid_es256")
    )));
    for (label, path, headers) in [
        ("public", "/public/ping", &public),
        ("api_key_hot", "/v1/items", &hot_key),
        ("jwt_es256_repeated", "/v1/items", &jwt),
    ] {
        // The first request fills the isolate's caches (KV record, JWKS, verified token).
        assert!(
            decide(path, headers),
            "{label}: the request is not forwarded"
        );
    }
    let reads = *store.reads.borrow();
    let mut g = c.benchmark_group("pipeline");
    g.bench_function("decide/public", |b| {
        b.iter(|| decide("/public/ping", &public))
    });
    g.bench_function("decide/api_key_hot", |b| {
        b.iter(|| decide("/v1/items", &hot_key))
    });
    g.bench_function("decide/jwt_es256_repeated", |b| {
        b.iter(|| decide("/v1/items", &jwt))
    });
    g.finish();
    assert_eq!(
        *store.reads.borrow(),
        reads,
        "hot requests must be answered from the isolate's caches"
    );
}

/// Lookup cache capacity and working set for the hit-rate case: the working set is 20% over.
const CACHE_CAP: usize = 100;
const WORKING_SET: usize = 120;

/// One cycled 80/20 round (as in tests/key_lookup.rs): each cold key once, in order, each followed
/// by four requests for the hot 20% in rotation.
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

/// `len` random requests, 80% to the hot 20% of `n` keys (xorshift, fixed seed).
fn random_skewed(n: usize, len: usize, seed: u64) -> Vec<usize> {
    let hot = n / 5;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 10 < 8 {
                (state >> 8) as usize % hot
            } else {
                hot + (state >> 8) as usize % (n - hot)
            }
        })
        .collect()
}

/// The eviction the lookup cache had before SIEVE (oldest insertion first, hits change nothing),
/// as a model: the share of `requests` that would have been hits, after `warm_up`.
fn fifo_hit_rate(warm_up: &[usize], requests: &[usize]) -> f64 {
    let mut cached = HashSet::new();
    let mut order = VecDeque::new();
    let mut hits = 0usize;
    for (n, &k) in warm_up.iter().chain(requests).enumerate() {
        if cached.contains(&k) {
            hits += usize::from(n >= warm_up.len());
            continue;
        }
        if cached.len() >= CACHE_CAP {
            if let Some(old) = order.pop_front() {
                cached.remove(&old);
            }
        }
        cached.insert(k);
        order.push_back(k);
    }
    hits as f64 / requests.len() as f64
}

/// The lookup cache with a working set 20% over its capacity: prints the hit rate per access
/// pattern (SIEVE, and the old oldest-first eviction as a model), and times a skewed round.
fn bench_key_cache_hit_rate(c: &mut Criterion) {
    let settings = KeySettings::from_raw(RawKeySettings {
        cache_ttl_seconds: Some(300),
        cache_max_entries: Some(CACHE_CAP),
        ..RawKeySettings::default()
    })
    .expect("key settings");
    let store = MemStore::default();
    let mut fill = filler();
    let tokens: Vec<String> = (0..WORKING_SET)
        .map(|i| {
            let token = settings
                .format
                .generate(KeyKind::ApiKey, &mut fill)
                .expect("token");
            let record = serde_json::json!({
                "id": format!("key_{i:016}"), "kind": "api_key", "subject": "bench-user",
                "name": "bench key", "scopes": ["read"], "created_at": 1_899_990_000u64,
                "expires_at": null
            });
            run_now(store.put(
                &record_key(&TokenDigest::of(&token)),
                &record.to_string(),
                None,
            ))
            .expect("seed");
            token
        })
        .collect();
    let now = UnixTime(1_900_000_000);
    let lookup = |keys: &KeyAuthenticator, i: usize| {
        let token = tokens.get(i).expect("token");
        run_now(keys.authenticate(
            &store,
            None::<edge_auth::keys::Recent<'_, edge_auth::ports::NoAuthority>>,
            token,
            None,
            None,
            now,
        ))
        .is_ok()
    };
    let round = skewed_round(WORKING_SET);
    let cycle: Vec<usize> = (0..WORKING_SET).collect();
    let patterns = [
        ("cyclic_uniform", cycle.repeat(2), cycle.repeat(20)),
        ("cyclic_80_20", round.repeat(2), round.repeat(20)),
        (
            "random_80_20",
            random_skewed(WORKING_SET, 960, 3),
            random_skewed(WORKING_SET, 20 * 480, 7),
        ),
    ];
    for (label, warm_up, requests) in &patterns {
        let cache = KeyAuthenticator::new(settings.clone());
        for &i in warm_up {
            lookup(&cache, i);
        }
        let before = *store.reads.borrow();
        for &i in requests {
            assert!(lookup(&cache, i), "{label}: a stored key is refused");
        }
        let misses = *store.reads.borrow() - before;
        let sieve = 1.0 - misses as f64 / requests.len() as f64;
        let fifo = fifo_hit_rate(warm_up, requests);
        println!(
            "key_cache hit rate, {WORKING_SET} keys over a {CACHE_CAP}-entry cache, {label}: \
             SIEVE {:.1}%, oldest-first {:.1}%",
            sieve * 100.0,
            fifo * 100.0
        );
    }
    let cache = KeyAuthenticator::new(settings.clone());
    for &i in &round {
        lookup(&cache, i);
    }
    let mut g = c.benchmark_group("key_cache");
    g.bench_function("cyclic_80_20_round_120_over_100", |b| {
        b.iter(|| round.iter().filter(|&&i| lookup(&cache, i)).count())
    });
    g.finish();
}

fn core(c: &mut Criterion) {
    let tokens = load_json("tokens.json");
    let config = load_json("config.json");
    let jwt = vector_token(&tokens, "valid_rs256");
    let key = KeyFormat::default()
        .generate(KeyKind::ApiKey, &mut filler())
        .expect("token");

    bench_extract(c, &jwt, &key);
    bench_route(c);
    bench_hash(c, &key);
    bench_apikey(c, &key);
    let identity = bench_key_record(c);
    bench_jwt(c, &tokens, &config);
    bench_jwks(c);
    bench_headers(c, &identity);
    bench_pipeline(c, &tokens, &config, &key);
    bench_key_cache_hit_rate(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50);
    targets = core
}
criterion_main!(benches);
