//! JWT bearer-token verification (RFC 7519, RFC 7515, RFC 8725): pure policy over ports. This
//! module never reads a clock (`now` is an argument), never does I/O itself (JWKS and discovery
//! documents come through [`crate::ports::DocumentSource`], signatures are checked through
//! [`verifier::SignatureVerifier`]) and never builds an error text from token contents.
//!
//! A token moves through three typestates, each with its own small error enum:
//!
//! 1. **untrusted `&str` → [`token::ParsedToken`]** ([`token::ParseError`]): size cap (16 KiB)
//!    before any decoding, exactly three segments, strict base64url, JSON objects without
//!    duplicate members, a supported `alg` (never `none`), no `crit`, no embedded or remote keys
//!    (`jwk`, `jku`, `x5u`, `x5c` are refused, never used), no nesting (`cty`);
//! 2. **→ [`claims::CheckedToken`]** ([`claims::PolicyError`]): the issuer is resolved from the
//!    unverified `iss` (exact match) *before* any key lookup, then the `alg` allow-list, the
//!    signature's encoding, the issuer's token type (`token_type`, RFC 9068), and the claims
//!    (`exp`, `nbf`, `iat`, `aud`, `sub`, required claims, then scopes and client id as the
//!    issuer's [`mapping`] says). All of it is cheap and local: garbage never triggers a JWKS
//!    fetch;
//! 3. **→ [`VerifiedToken`]** ([`KeyFailure`]): the key is chosen (by exact `kid` within the
//!    issuer's JWKS, bound to the algorithm its type allows; HS256 only with the configured
//!    secret) and the signature verified. Only then is an [`Identity`] built.
//!
//! [`JwtAuthenticator`] drives the three phases, the per-isolate JWKS cache
//! ([`crate::jwks::cache`]) and a small verified-token cache ([`token_cache`]).

use crate::reason::Reason;
pub(crate) mod alg;
pub mod claims;
pub(crate) mod config;
pub(crate) mod json;
pub(crate) mod mapping;
pub mod token;
pub(crate) mod token_cache;
pub mod verifier;

pub use alg::Algorithm;
pub use config::{
    is_loopback_url, ConfigError, IssuerPolicy, Issuers, JwksSettings, KeySource, RawIssuer,
    RawJwksSettings,
};
pub use mapping::{ClaimMapping, TokenType};
#[cfg(not(target_arch = "wasm32"))]
pub use verifier::{NativeKey, NativeVerifier};
pub use verifier::{SignatureVerifier, VerifyError};

pub use crate::jwks::cache::JwksRefresh;
pub use crate::jwks::{KeyMaterial, PublicKey};

use crate::identity::Identity;
use crate::jwks::cache::{JwksCache, Lookup};
use crate::ports::DocumentSource;
use crate::time::UnixTime;
use claims::{CheckedClaims, CheckedToken};
use token_cache::TokenCache;

/// At most this many keys are imported ahead of time by one background refresh.
const MAX_PREIMPORTS_PER_REFRESH: usize = 16;

/// Why the key or signature step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFailure {
    /// The token is not acceptable (401 `invalid_token`).
    Invalid(Reason),
    /// No usable keys and none obtainable now (503 with `Retry-After`).
    Unavailable { reason: Reason, retry_after: u64 },
}

/// A token whose signature has been verified with a key its issuer vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    issuer: String,
    kid: Option<String>,
    claims: CheckedClaims,
    payload_json: String,
}

impl VerifiedToken {
    /// The caller this token proves.
    #[must_use]
    pub fn into_identity(self) -> Identity {
        Identity::from_jwt(crate::identity::JwtFacts {
            subject: self.claims.subject,
            scopes: self.claims.scopes,
            issuer: self.issuer,
            client_id: self.claims.client_id,
            kid: self.kid,
            expires_at: self.claims.expires_at,
            payload_json: self.payload_json,
        })
    }
}

/// A verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSuccess {
    pub identity: Identity,
    /// Keys were served stale: run this with [`JwtAuthenticator::refresh`] after answering.
    pub refresh: Option<JwksRefresh>,
}

/// A refused token, or keys that cannot be had right now: the authenticators' one failure type
/// ([`crate::rejection::AuthFailure`]; a JWT is never refused with `NotBound`).
pub type JwtFailure = crate::rejection::AuthFailure;

/// Longest `iss` or `kid` taken from a refused token into a log line (characters).
const MAX_LOGGED_HINT_CHARS: usize = 256;

/// The unverified `iss` and header `kid` of a token that parses (phase 1), for the log line of
/// a rejection; each cut to 256 characters. Never used for a decision.
#[must_use]
pub fn unverified_hints(token: &str) -> (Option<String>, Option<String>) {
    let Ok(parsed) = token::parse(token) else {
        return (None, None);
    };
    let cut = |s: &str| s.chars().take(MAX_LOGGED_HINT_CHARS).collect::<String>();
    let iss = parsed
        .claims()
        .get("iss")
        .and_then(serde_json::Value::as_str)
        .map(cut);
    let kid = parsed.header().kid.as_deref().map(cut);
    (iss, kid)
}

fn invalid(reason: Reason) -> JwtFailure {
    JwtFailure::Invalid { reason }
}

impl From<KeyFailure> for JwtFailure {
    fn from(f: KeyFailure) -> Self {
        match f {
            KeyFailure::Invalid(reason) => JwtFailure::Invalid { reason },
            KeyFailure::Unavailable {
                reason,
                retry_after,
            } => JwtFailure::Unavailable {
                reason,
                retry_after,
            },
        }
    }
}

fn verify_error(e: VerifyError) -> KeyFailure {
    match e {
        // A key the backend refuses, or an algorithm it lacks, cannot verify this token: the
        // token is refused (the reason code tells operators which it was).
        VerifyError::BadKey | VerifyError::Unsupported => KeyFailure::Invalid(e.reason()),
        VerifyError::Backend => KeyFailure::Unavailable {
            reason: e.reason(),
            retry_after: 1,
        },
    }
}

/// Per-isolate JWT verification: issuers, their JWKS cache (holding imported key handles `K`)
/// and a verified-token cache. Methods take `&self`; state lives in `RefCell`s whose borrows
/// never span an `.await`.
pub struct JwtAuthenticator<K> {
    issuers: Issuers,
    jwks: JwksCache<K>,
    tokens: TokenCache,
}

impl<K: Clone> JwtAuthenticator<K> {
    #[must_use]
    pub fn new(issuers: Issuers, settings: JwksSettings) -> Self {
        let tokens = TokenCache::new(settings.verified_token_cache_entries);
        JwtAuthenticator {
            jwks: JwksCache::new(settings, &issuers),
            issuers,
            tokens,
        }
    }

    #[must_use]
    pub fn issuers(&self) -> &Issuers {
        &self.issuers
    }

    /// Every configured issuer's key state in this isolate, in configuration order: read-only,
    /// no I/O (the health endpoint).
    #[must_use]
    pub fn health(&self, now: UnixTime) -> Vec<crate::jwks::cache::IssuerHealth> {
        self.issuers
            .iter()
            .map(|policy| {
                let mut health = if policy.key_source.is_none() {
                    crate::jwks::cache::IssuerHealth {
                        issuer: policy.issuer.clone(),
                        state: "secret",
                        keys: 0,
                        last_fetch_at: None,
                        last_error: None,
                        unused_algorithms: Vec::new(),
                        warnings: Vec::new(),
                    }
                } else {
                    self.jwks.snapshot(&policy.issuer, &policy.algorithms, now)
                };
                health.warnings = policy.mapping.warnings();
                health
            })
            .collect()
    }

    /// Fetched key sets that left some configured algorithms without a key, since the last
    /// call: one note per fetch, for the adapter's log.
    pub fn take_unused_algorithms(&self) -> Vec<crate::jwks::cache::UnusedAlgorithms> {
        self.jwks.take_unused_algorithms()
    }

    /// The JWKS cache, for diagnostics and tests.
    #[must_use]
    pub fn jwks_cache(&self) -> &JwksCache<K> {
        &self.jwks
    }

    /// Verifies a bearer token (already known to look like a JWT) at `now`.
    pub async fn authenticate<S: DocumentSource, V: SignatureVerifier<Key = K>>(
        &self,
        token: &str,
        source: &S,
        verifier: &V,
        now: UnixTime,
    ) -> Result<JwtSuccess, JwtFailure> {
        if token.len() > token::MAX_TOKEN_BYTES {
            return Err(invalid(token::ParseError::TooLarge.reason()));
        }
        let digest = token_cache::digest(token);
        if let Some(identity) = self.tokens.get(&digest, now) {
            return Ok(JwtSuccess {
                identity,
                refresh: None,
            });
        }
        let parsed = token::parse(token).map_err(|e| invalid(e.reason()))?;
        let checked = claims::check(parsed, &self.issuers, now).map_err(|e| invalid(e.reason()))?;
        let (verified, refresh) = self
            .verify_signature(checked, source, verifier, now)
            .await?;
        let identity = verified.into_identity();
        self.tokens.insert(digest, identity.clone(), now);
        Ok(JwtSuccess { identity, refresh })
    }

    /// Phase 3: choose the key and verify the signature.
    async fn verify_signature<S: DocumentSource, V: SignatureVerifier<Key = K>>(
        &self,
        checked: CheckedToken<'_, '_>,
        source: &S,
        verifier: &V,
        now: UnixTime,
    ) -> Result<(VerifiedToken, Option<JwksRefresh>), KeyFailure> {
        let policy = checked.policy;
        let alg = checked.alg;
        let input = checked.signing_input.as_bytes();

        let refresh = if alg == Algorithm::Hs256 {
            // HS256 uses the configured secret only, never a JWKS key; `kid` is not consulted.
            let secret = policy
                .hs256_secret
                .as_ref()
                .ok_or(KeyFailure::Invalid(Reason::AlgNotAllowed))?;
            if !verifier::verify_hs256(secret.bytes(), input, &checked.signature) {
                return Err(KeyFailure::Invalid(Reason::BadSignature));
            }
            None
        } else {
            let issuer = policy.issuer.as_str();
            let lookup = match self.jwks.lookup(issuer, checked.kid(), alg, now) {
                Lookup::Fetch | Lookup::Discover => {
                    // The outcome is recorded in the cache; the second look reads it.
                    let _ = self.jwks.fetch(policy, source, now).await;
                    self.jwks
                        .lookup_after_fetch(issuer, checked.kid(), alg, now)
                }
                other => other,
            };
            let selected = match lookup {
                Lookup::Serve(selected) => selected,
                Lookup::Unavailable {
                    reason,
                    retry_after,
                } => {
                    return Err(KeyFailure::Unavailable {
                        reason,
                        retry_after,
                    })
                }
                Lookup::Rejected(r) => return Err(KeyFailure::Invalid(r.reason())),
                // `lookup_after_fetch` never asks for another fetch; fail closed if it did.
                Lookup::Fetch | Lookup::Discover => {
                    return Err(KeyFailure::Unavailable {
                        reason: Reason::JwksUnavailable,
                        retry_after: 1,
                    })
                }
            };
            if !verifier::signature_shape_ok(alg, &checked.signature, Some(&selected.key)) {
                return Err(KeyFailure::Invalid(Reason::MalformedSignature));
            }
            let handle = match selected.handle {
                Some(handle) => handle,
                None => {
                    let handle = verifier
                        .import(&selected.key, alg)
                        .await
                        .map_err(verify_error)?;
                    self.jwks
                        .store_handle(&policy.issuer, &selected.key, alg, handle.clone());
                    handle
                }
            };
            let ok = verifier
                .verify(&handle, alg, input, &checked.signature)
                .await
                .map_err(verify_error)?;
            if !ok {
                return Err(KeyFailure::Invalid(Reason::BadSignature));
            }
            selected.refresh
        };

        let verified = VerifiedToken {
            issuer: policy.issuer.clone(),
            kid: checked.kid,
            claims: checked.claims,
            payload_json: checked.payload_json,
        };
        Ok((verified, refresh))
    }

    /// Runs a background refresh asked for by an earlier `authenticate`, then imports a few of
    /// the new keys so the next request does not pay for it. Returns the failure's reason code,
    /// if it failed, for logs (the outcome is recorded in the cache either way).
    ///
    /// When a request that asked for a refresh fails verification anyway, its refresh is lost;
    /// the in-flight mark then lapses after the fetch timeout and a later request asks again.
    pub async fn refresh<S: DocumentSource, V: SignatureVerifier<Key = K>>(
        &self,
        refresh: &JwksRefresh,
        source: &S,
        verifier: &V,
        now: UnixTime,
    ) -> Option<Reason> {
        let Some(policy) = self.issuers.get(refresh.issuer()) else {
            return Some(Reason::UnknownIssuer);
        };
        if let Err(reason) = self.jwks.fetch(policy, source, now).await {
            return Some(reason);
        }
        let pending = self.jwks.unimported(policy);
        for (key, alg) in pending.into_iter().take(MAX_PREIMPORTS_PER_REFRESH) {
            if let Ok(handle) = verifier.import(&key, alg).await {
                self.jwks.store_handle(&policy.issuer, &key, alg, handle);
            }
        }
        None
    }
}
