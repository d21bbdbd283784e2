//! Fakes and builders shared by the `jwt_*` and `jwks_*` behaviour tests: a scripted document
//! source that counts fetches, a verifier wrapper that counts imports, Ed25519 token minting and
//! the vector files.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use base64ct::{Base64UrlUnpadded, Encoding};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;

use edge_auth::jwks::PublicKey;
use edge_auth::jwt::{
    Algorithm, Issuers, JwksSettings, NativeKey, NativeVerifier, RawIssuer, RawJwksSettings,
    SignatureVerifier, VerifyError,
};
use edge_auth::ports::{DocumentSource, FetchError, FetchedDocument};
use serde_json::{json, Value};

/// What the scripted source answers for a URL.
#[derive(Clone, Debug)]
pub enum Reply {
    Doc(FetchedDocument),
    Fail(FetchError),
}

/// A [`DocumentSource`] answering from a script and recording every fetch.
#[derive(Default)]
pub struct ScriptedSource {
    replies: RefCell<HashMap<String, Reply>>,
    log: RefCell<Vec<String>>,
}

impl ScriptedSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `url` with status 200, `cache_control` and `body` until told otherwise.
    pub fn serve(&self, url: &str, cache_control: Option<&str>, body: impl Into<Vec<u8>>) {
        self.serve_status(url, 200, cache_control, body);
    }

    pub fn serve_status(
        &self,
        url: &str,
        status: u16,
        cache_control: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) {
        self.replies.borrow_mut().insert(
            url.to_owned(),
            Reply::Doc(FetchedDocument {
                status,
                cache_control: cache_control.map(str::to_owned),
                body: body.into(),
            }),
        );
    }

    /// Fails every fetch of `url` with `error`.
    pub fn fail(&self, url: &str, error: FetchError) {
        self.replies
            .borrow_mut()
            .insert(url.to_owned(), Reply::Fail(error));
    }

    pub fn fetches(&self) -> usize {
        self.log.borrow().len()
    }

    pub fn fetches_of(&self, url: &str) -> usize {
        self.log.borrow().iter().filter(|u| *u == url).count()
    }
}

impl DocumentSource for ScriptedSource {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        self.log.borrow_mut().push(url.to_owned());
        // Let other requests run meanwhile, as a real fetch would.
        tokio::task::yield_now().await;
        match self.replies.borrow().get(url) {
            Some(Reply::Doc(d)) => Ok(d.clone()),
            Some(Reply::Fail(e)) => Err(*e),
            None => Ok(FetchedDocument {
                status: 404,
                cache_control: None,
                body: Vec::new(),
            }),
        }
    }
}

/// [`NativeVerifier`] that counts imports and verifications.
#[derive(Default)]
pub struct CountingVerifier {
    pub imports: Cell<usize>,
    pub verifies: Cell<usize>,
}

impl SignatureVerifier for CountingVerifier {
    type Key = NativeKey;

    async fn import(&self, key: &PublicKey, alg: Algorithm) -> Result<NativeKey, VerifyError> {
        self.imports.set(self.imports.get() + 1);
        NativeVerifier.import(key, alg).await
    }

    async fn verify(
        &self,
        key: &NativeKey,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifyError> {
        self.verifies.set(self.verifies.get() + 1);
        NativeVerifier
            .verify(key, alg, signing_input, signature)
            .await
    }
}

pub const ISS: &str = "https://issuer.example";
pub const JWKS_URL: &str = "https://issuer.example/jwks.json";
pub const AUD: &str = "https://api.example";

/// A deterministic Ed25519 key pair named by a seed byte.
pub struct EdKey {
    pub kid: String,
    pair: ed25519_compact::KeyPair,
}

impl EdKey {
    pub fn new(kid: &str, seed: u8) -> Self {
        EdKey {
            kid: kid.to_owned(),
            pair: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32])),
        }
    }

    pub fn jwk(&self) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": self.kid, "x": Base64UrlUnpadded::encode_string(self.pair.pk.as_ref()) })
    }

    /// An EdDSA token with this key's kid and `claims`.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with_kid(&self.kid, claims)
    }

    pub fn token_with_kid(&self, kid: &str, claims: &Value) -> String {
        self.token_with_header(&json!({ "alg": "EdDSA", "kid": kid }), claims)
    }

    /// A token signed by this key under any `header`.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
            Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
        );
        let sig = self.pair.sk.sign(input.as_bytes(), None);
        format!("{input}.{}", Base64UrlUnpadded::encode_string(sig.as_ref()))
    }
}

/// A JWKS document holding `keys`.
pub fn jwks(keys: &[&EdKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// Claims valid at `now` for an hour.
pub fn claims(now: u64) -> Value {
    json!({ "iss": ISS, "aud": AUD, "sub": "user-1", "exp": now + 3600, "iat": now })
}

/// The default test issuer: EdDSA and ES256 with a fixed JWKS URL.
pub fn raw_issuer() -> RawIssuer {
    RawIssuer {
        issuer: ISS.into(),
        jwks_uri: Some(JWKS_URL.into()),
        discovery: None,
        audiences: Some(vec![AUD.into()]),
        algorithms: vec!["EdDSA".into(), "ES256".into()],
        leeway_seconds: Some(0),
        hs256_secret: None,
        ..RawIssuer::default()
    }
}

pub fn issuers(raw: Vec<RawIssuer>) -> Issuers {
    Issuers::from_raw(raw, &|_| None).unwrap()
}

/// Settings with the defaults except the verified-token cache (off, so every call verifies).
pub fn settings() -> JwksSettings {
    JwksSettings::from_raw(RawJwksSettings {
        verified_token_cache_entries: 0,
        ..RawJwksSettings::default()
    })
    .unwrap()
}

/// Path of a file under `tests/vectors/jwt/`.
pub fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/jwt")
        .join(name)
}

pub fn load_vector(name: &str) -> Value {
    let text = std::fs::read_to_string(vector_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A decision with the request headers it was made for, so a test can see what the origin gets:
/// the core returns a header plan (edits), and the list is that plan applied to these headers
/// as the runtime applies it ([`edge_auth::headers::ForwardPlan::apply`]). Derefs to the outcome.
pub struct Decided {
    pub outcome: edge_auth::authn::Outcome,
    pub incoming: Vec<(String, String)>,
}

impl std::ops::Deref for Decided {
    type Target = edge_auth::authn::Outcome;
    fn deref(&self) -> &Self::Target {
        &self.outcome
    }
}

impl Decided {
    /// The headers the origin receives; `None` unless the decision is a forward.
    pub fn forwarded(&self) -> Option<Vec<(String, String)>> {
        match &self.outcome.decision {
            edge_auth::authn::Decision::Forward { plan, .. } => Some(plan.apply(&self.incoming)),
            _ => None,
        }
    }
}
