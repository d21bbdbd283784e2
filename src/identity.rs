//! The verified identity of a caller, whatever credential proved it. Built only by the verifiers
//! (`jwt`, `keys::record`): private fields, crate-private constructors; turned into headers by
//! the header plan. Never parses, fetches or logs anything.

use serde::{Deserialize, Serialize};

/// The longest scope accepted anywhere (a token's claims, a route's `scopes`, a key's scopes).
pub const MAX_SCOPE_BYTES: usize = 1024;

/// A scope as RFC 6749 §3.3 defines a `scope-token` (`%x21 / %x23-5B / %x5D-7E`), at most
/// [`MAX_SCOPE_BYTES`]: the one grammar for scopes in tokens, routes and key records, so a scope
/// a route can require is one a credential can carry.
#[must_use]
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_BYTES
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Which kind of credential the request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Jwt,
    ApiKey,
    Pat,
}

impl CredentialKind {
    /// The name used in config (`accept`), headers (`X-Auth-Type`) and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Pat => "pat",
        }
    }
}

/// A caller whose credential has been verified.
///
/// Its fields are private and its constructors crate-private (`Identity::from_jwt` for
/// `jwt::VerifiedToken`, `Identity::from_key` for a key record that passed its checks): no code
/// outside the verifiers can make one, or change one after it was made, so "this request is
/// authenticated as X" cannot be asserted by anything but a verification. Read it through the
/// accessors. (Integration tests get `Identity::for_tests` from the `test-support` feature,
/// which only the crate's own dev-dependency on itself turns on; no deployed build has it.)
///
/// ```compile_fail,E0451
/// use edge_auth::identity::{CredentialKind, Identity};
/// // Outside the crate an identity cannot be written down: its fields are private.
/// let forged = Identity {
///     kind: CredentialKind::ApiKey,
///     subject: "admin".into(),
///     scopes: vec![],
///     issuer: None,
///     client_id: None,
///     key_id: None,
///     kid: None,
///     expires_at: None,
///     claims_json: None,
/// };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    kind: CredentialKind,
    /// JWT `sub`, or the key record's `subject`.
    subject: String,
    /// Granted scopes, deduplicated, in the order the credential listed them.
    scopes: Vec<String>,
    /// JWT `iss`; a PAT's issuer.
    issuer: Option<String>,
    /// JWT `client_id` (or `azp`).
    client_id: Option<String>,
    /// The public id of an API key or PAT (never the secret or its hash).
    key_id: Option<String>,
    /// JWT `kid` of the key that verified the token (for logs).
    kid: Option<String>,
    /// When the credential stops being valid, if it does.
    expires_at: Option<u64>,
    /// The verified JWT payload, for the optional `X-Auth-Claims` forwarding.
    claims_json: Option<String>,
}

/// What a verified JWT proves (built by `jwt::VerifiedToken::into_identity` only).
pub(crate) struct JwtFacts {
    pub subject: String,
    pub scopes: Vec<String>,
    pub issuer: String,
    pub client_id: Option<String>,
    pub kid: Option<String>,
    pub expires_at: u64,
    pub payload_json: String,
}

/// What an accepted key record proves (built by `KeyRecord::check` only).
pub(crate) struct KeyFacts {
    pub kind: CredentialKind,
    pub subject: String,
    pub scopes: Vec<String>,
    pub issuer: Option<String>,
    pub key_id: String,
    pub expires_at: Option<u64>,
}

impl Identity {
    /// About how many bytes of heap this identity keeps (its strings, each with a small
    /// allowance for its allocation), for caches bounded in bytes.
    #[must_use]
    pub fn retained_bytes(&self) -> usize {
        const PER_STRING: usize = 16;
        let optional = [
            &self.issuer,
            &self.client_id,
            &self.key_id,
            &self.kid,
            &self.claims_json,
        ];
        core::mem::size_of::<Self>()
            + self.subject.len()
            + self
                .scopes
                .iter()
                .map(|s| s.len() + PER_STRING + core::mem::size_of::<String>())
                .sum::<usize>()
            + optional
                .iter()
                .filter_map(|s| s.as_ref())
                .map(|s| s.len() + PER_STRING)
                .sum::<usize>()
            + PER_STRING
    }

    /// The caller a verified token proves.
    pub(crate) fn from_jwt(facts: JwtFacts) -> Self {
        Identity {
            kind: CredentialKind::Jwt,
            subject: facts.subject,
            scopes: facts.scopes,
            issuer: Some(facts.issuer),
            client_id: facts.client_id,
            key_id: None,
            kid: facts.kid,
            expires_at: Some(facts.expires_at),
            claims_json: Some(facts.payload_json),
        }
    }

    /// The caller an accepted API key or PAT record proves.
    pub(crate) fn from_key(facts: KeyFacts) -> Self {
        Identity {
            kind: facts.kind,
            subject: facts.subject,
            scopes: facts.scopes,
            issuer: facts.issuer,
            client_id: None,
            key_id: Some(facts.key_id),
            kid: None,
            expires_at: facts.expires_at,
            claims_json: None,
        }
    }

    /// An identity no verifier checked, for tests that need one as input (the state tier's
    /// revocation views, say). Only with the `test-support` feature.
    #[cfg(any(test, feature = "test-support"))]
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn for_tests(
        kind: CredentialKind,
        subject: &str,
        scopes: &[&str],
        issuer: Option<&str>,
        client_id: Option<&str>,
        key_id: Option<&str>,
        expires_at: Option<u64>,
        claims_json: Option<&str>,
    ) -> Self {
        Identity {
            kind,
            subject: subject.to_string(),
            scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
            issuer: issuer.map(str::to_string),
            client_id: client_id.map(str::to_string),
            key_id: key_id.map(str::to_string),
            kid: None,
            expires_at,
            claims_json: claims_json.map(str::to_string),
        }
    }

    /// Which kind of credential proved it.
    #[must_use]
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// JWT `sub`, or the key record's `subject`.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Granted scopes, deduplicated, in the order the credential listed them.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// JWT `iss`, or a PAT's issuer; `None` for an API key.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// JWT `client_id` (or `azp`).
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The public id of an API key or PAT.
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// JWT `kid` of the key that verified the token.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// When the credential stops being valid, if it does.
    #[must_use]
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// The verified JWT payload (JSON text).
    #[must_use]
    pub fn claims_json(&self) -> Option<&str> {
        self.claims_json.as_deref()
    }

    /// True when every scope in `required` is granted.
    #[must_use]
    pub fn has_scopes(&self, required: &[String]) -> bool {
        required.iter().all(|r| self.scopes.iter().any(|s| s == r))
    }
}
