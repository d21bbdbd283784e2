//! The narrow interfaces through which the core reaches the outside world. The runtime adapter
//! implements them with Workers KV, `fetch` and WebCrypto; tests implement them with fakes.
//!
//! Futures here are not `Send`: Workers run one isolate on one thread.
#![allow(async_fn_in_trait)]

use crate::reason::Reason;
/// The name of the key store's binding (Workers KV), as the operator configures it.
pub const KV_BINDING: &str = "AUTH_KV";

/// Why a store operation failed. Never carries a key name (it may embed a hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store did not answer in time or answered with an error: the caller should retry.
    Unavailable,
    /// The store's binding (`AUTH_KV`) is absent: a configuration fault, retrying cannot help.
    NotBound,
}

impl StoreError {
    /// The static reason code for logs and problems.
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            StoreError::Unavailable => Reason::KvUnavailable,
            StoreError::NotBound => Reason::KvNotBound,
        }
    }
}

/// The platform CSPRNG could not fill a buffer. Nothing random may then be made: minting a key
/// or PAT refuses (500 `no_entropy`) rather than use bytes nobody drew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoEntropy;

/// The randomness port: fill the whole buffer with cryptographically secure random bytes, or
/// say it cannot ([`NoEntropy`]). The adapter's is `getrandom` (WebCrypto's
/// `getRandomValues`); tests pass closures.
pub type Fill<'a> = dyn FnMut(&mut [u8]) -> Result<(), NoEntropy> + 'a;

/// One name of a prefix listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    /// What [`KeyStore::put_listed`] wrote under the name, handed back by the listing itself (KV:
    /// the key's metadata); `None` for a name written with [`KeyStore::put`].
    pub listed: Option<String>,
}

/// One page of a prefix listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub keys: Vec<Listed>,
    /// Present when more keys follow.
    pub cursor: Option<String>,
}

/// The longest value [`KeyStore::put_listed`] takes, in bytes: Workers KV keeps at most 1,024
/// bytes of metadata per key, counted as serialised JSON (a string's quotes and escapes
/// included).
pub const MAX_LISTED_BYTES: usize = 1_000;

/// The key-value store holding API key and PAT records (Workers KV in production).
pub trait KeyStore {
    /// Read on the hot path: the store may answer from its edge cache (KV `cacheTtl`).
    async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Read for the admin API: as fresh as the store allows.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Write `value`; with `expires_at` the store may drop the entry after that time.
    async fn put(&self, key: &str, value: &str, expires_at: Option<u64>) -> Result<(), StoreError>;
    /// Write `value` (at most [`MAX_LISTED_BYTES`], printable ASCII JSON) under `key` and have
    /// every listing return it with the name ([`Listed::listed`]; KV: as the key's metadata), so
    /// a walk of an index reads no entry one by one.
    async fn put_listed(&self, key: &str, value: &str) -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Keys starting with `prefix`, at most `limit` per page.
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListPage, StoreError>;
}

/// Why a document fetch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// No answer within the configured timeout.
    Timeout,
    /// Connection refused, DNS failure and the like.
    Network,
    /// The body is longer than [`crate::jwks::MAX_DOCUMENT_BYTES`] (counted after content
    /// decoding), or declares so in `Content-Length`: the source stopped reading it. A failed
    /// fetch like the others, never an empty document.
    TooLarge,
}

/// A fetched HTTP document (a JWKS or an OpenID Connect discovery document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedDocument {
    pub status: u16,
    /// The `Cache-Control` response header, if any.
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

/// Fetches JWKS and discovery documents over HTTPS (or loopback HTTP). A body longer than
/// [`crate::jwks::MAX_DOCUMENT_BYTES`] is [`FetchError::TooLarge`]: implementations read at most
/// that many bytes (plus one chunk) and never hand back a truncated or emptied body.
pub trait DocumentSource {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError>;
}

/// The authority (the `AUTH_STATE` Durable Object), as the hot path may reach it: only to read
/// the record of a key created so recently that KV may still cache its absence (the revocation
/// view says which; forged keys never get here).
pub trait Authority {
    /// The authority's record at `kv_key` (`key:<sha256>`), if it holds one.
    async fn record(&self, kv_key: &str) -> Result<Option<AuthorityRecord>, StoreError>;

    /// One lease call to each named counter object (`AUTH_STATE`, `limits/<object>`), sent
    /// together; an answer per call, in order.
    async fn lease(
        &self,
        calls: &crate::limits::lease::Calls,
    ) -> Vec<Result<crate::limits::LeaseReply, StoreError>>;

    /// Unix milliseconds now: a lease is measured from when its call was sent, and spent only
    /// until then plus its validity, so the pipeline reads the time around each call.
    fn now_ms(&self) -> u64;

    /// Resolve after `ms` (a timer of the request's own).
    async fn pause(&self, ms: u32);
}

/// A record as the authority answered it, with the authority's own clock at the read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorityRecord {
    /// The record's JSON, as stored.
    pub text: String,
    /// When the authority read it (its clock, Unix seconds), if it said. The feed's change
    /// times come from the same clock, so "read after the change" is judged on one clock: an
    /// isolate's clock a little ahead of the authority's could otherwise take a read made just
    /// before a change for one made after it.
    pub read_at: Option<crate::time::UnixTime>,
}

/// No state tier: every record comes from the key store alone.
pub struct NoAuthority;

impl Authority for NoAuthority {
    async fn record(&self, _kv_key: &str) -> Result<Option<AuthorityRecord>, StoreError> {
        Ok(None)
    }

    async fn lease(
        &self,
        calls: &crate::limits::lease::Calls,
    ) -> Vec<Result<crate::limits::LeaseReply, StoreError>> {
        calls.iter().map(|_| Err(StoreError::NotBound)).collect()
    }

    fn now_ms(&self) -> u64 {
        0
    }

    async fn pause(&self, _ms: u32) {}
}

/// Every port one request needs, as one bundle: the pipeline (`authn::Gateway::decide`,
/// `admin`) is generic over a `Runtime` alone, so a new port is one associated type here and one
/// field of [`Ports`], not a new type parameter on every function between the entry and the
/// authenticator.
pub trait Runtime {
    /// The verifier's imported key (a WebCrypto `CryptoKey` handle in the Worker).
    type Key: Clone;
    type Store: KeyStore;
    type Documents: DocumentSource;
    type Verifier: crate::jwt::SignatureVerifier<Key = Self::Key>;
    type Authority: Authority;
    /// API keys and PATs (Workers KV).
    fn store(&self) -> &Self::Store;
    /// JWKS and discovery documents.
    fn documents(&self) -> &Self::Documents;
    /// Signature verification (WebCrypto).
    fn verifier(&self) -> &Self::Verifier;
    /// The state tier, when `AUTH_STATE` is bound.
    fn authority(&self) -> Option<&Self::Authority>;
    /// Unix milliseconds (the revocation view's freshness is judged in them).
    fn now_ms(&self) -> u64;
}

/// The ports one request needs: the [`Runtime`] the adapter and the tests build.
pub struct Ports<'a, S, D, V, A = NoAuthority> {
    pub store: &'a S,
    pub documents: &'a D,
    pub verifier: &'a V,
    /// The state tier, when `AUTH_STATE` is bound: every positive verdict is then checked
    /// against the isolate's revocation view, and keys created moments ago are read from it.
    pub authority: Option<&'a A>,
    /// Unix milliseconds (the view's freshness is judged in them).
    pub now_ms: u64,
}

impl<'a, S, D, V> Ports<'a, S, D, V, NoAuthority> {
    /// The ports without a state tier.
    pub fn without_state(store: &'a S, documents: &'a D, verifier: &'a V, now_ms: u64) -> Self {
        Ports {
            store,
            documents,
            verifier,
            authority: None,
            now_ms,
        }
    }
}

impl<S, D, V, A> Runtime for Ports<'_, S, D, V, A>
where
    S: KeyStore,
    D: DocumentSource,
    V: crate::jwt::SignatureVerifier,
    A: Authority,
{
    type Key = V::Key;
    type Store = S;
    type Documents = D;
    type Verifier = V;
    type Authority = A;
    fn store(&self) -> &S {
        self.store
    }
    fn documents(&self) -> &D {
        self.documents
    }
    fn verifier(&self) -> &V {
        self.verifier
    }
    fn authority(&self) -> Option<&A> {
        self.authority
    }
    fn now_ms(&self) -> u64 {
        self.now_ms
    }
}
