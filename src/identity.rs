//! The verified identity of a caller, whatever credential proved it. Built only by the verifiers
//! (`jwt`, `keys::record`); turned into headers by the header plan.

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub kind: CredentialKind,
    /// JWT `sub`, or the key record's `subject`.
    pub subject: String,
    /// Granted scopes, deduplicated, in the order the credential listed them.
    pub scopes: Vec<String>,
    /// JWT `iss`.
    pub issuer: Option<String>,
    /// JWT `client_id` (or `azp`).
    pub client_id: Option<String>,
    /// The public id of an API key or PAT (never the secret or its hash).
    pub key_id: Option<String>,
    /// JWT `kid` of the key that verified the token (for logs).
    pub kid: Option<String>,
    /// When the credential stops being valid, if it does.
    pub expires_at: Option<u64>,
    /// The verified JWT payload, for the optional `X-Auth-Claims` forwarding.
    pub claims_json: Option<String>,
}

impl Identity {
    /// True when every scope in `required` is granted.
    #[must_use]
    pub fn has_scopes(&self, required: &[String]) -> bool {
        required.iter().all(|r| self.scopes.iter().any(|s| s == r))
    }
}
