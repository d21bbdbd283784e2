//! The KV records behind API keys and PATs, and what makes a record acceptable at `now`.
//!
//! KV layout (the token itself is never stored):
//! - `key:<hex sha256(token)>` → [`KeyRecord`] (the contract's record), read on the hot path;
//! - `id:<id>` → [`IdRecord`] `{"hash","kind","subject"}`, so the admin API finds a key by id;
//! - `sub:<hex(subject)>:<id>` → `""`, so keys are listed by subject with a KV prefix list
//!   (the subject is hex-encoded so no character of it can break the key's structure);
//! - `used:<id>` → Unix seconds of the last use, written after responses at most once a minute
//!   per isolate, in its own key so it can never race with (and undo) a revocation.

use serde::{Deserialize, Serialize};

use crate::apikey::KeyKind;
use crate::identity::Identity;
use crate::time::UnixTime;

/// The value at `key:<hash>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub kind: KeyKind,
    pub subject: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// The token's public beginning (prefix + 4 characters), for listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

/// Why a record does not authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRejection {
    Revoked,
    Expired,
    /// The record's kind differs from the kind the token's prefix claims.
    KindMismatch,
}

impl KeyRejection {
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            KeyRejection::Revoked => "revoked",
            KeyRejection::Expired => "expired",
            KeyRejection::KindMismatch => "kind_mismatch",
        }
    }
}

/// Lifecycle state for listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
}

impl KeyStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
        }
    }
}

impl KeyRecord {
    /// Parse a stored value; anything malformed is refused (and so fails closed).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[must_use]
    pub fn status(&self, now: UnixTime) -> KeyStatus {
        if self.revoked_at.is_some_and(|t| t <= now.0) {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|t| t <= now.0) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The identity this record proves, if it is acceptable at `now` for a `presented` token.
    pub fn check(&self, presented: KeyKind, now: UnixTime) -> Result<Identity, KeyRejection> {
        if self.kind != presented {
            return Err(KeyRejection::KindMismatch);
        }
        match self.status(now) {
            KeyStatus::Revoked => Err(KeyRejection::Revoked),
            KeyStatus::Expired => Err(KeyRejection::Expired),
            KeyStatus::Active => Ok(Identity {
                kind: self.kind.credential_kind(),
                subject: self.subject.clone(),
                scopes: self.scopes.clone(),
                issuer: None,
                client_id: None,
                key_id: Some(self.id.clone()),
                kid: None,
                expires_at: self.expires_at,
                claims_json: None,
            }),
        }
    }
}

/// The value at `id:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRecord {
    /// Lowercase hex SHA-256 of the token: where the [`KeyRecord`] lives.
    pub hash: String,
    pub kind: KeyKind,
    pub subject: String,
}

#[must_use]
pub fn id_key(id: &str) -> String {
    format!("id:{id}")
}

#[must_use]
pub fn subject_prefix(subject: &str) -> String {
    format!("sub:{}:", hex::encode(subject.as_bytes()))
}

#[must_use]
pub fn used_key(id: &str) -> String {
    format!("used:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            kind: KeyKind::ApiKey,
            subject: "svc".into(),
            name: "n".into(),
            scopes: vec!["read".into()],
            created_at: 10,
            expires_at: Some(100),
            revoked_at: None,
            start: None,
        }
    }

    #[test]
    fn contract_json_round_trips() {
        let text = r#"{"id":"key_1","kind":"api_key","subject":"svc","name":"n","scopes":["read"],"created_at":10,"expires_at":100}"#;
        let r = KeyRecord::parse(text).unwrap();
        assert_eq!(r, record());
        assert_eq!(serde_json::to_string(&r).unwrap(), text);
        let pat = r#"{"id":"p","kind":"pat","subject":"s","name":"","scopes":[],"created_at":1,"expires_at":null,"revoked_at":5}"#;
        assert_eq!(KeyRecord::parse(pat).unwrap().revoked_at, Some(5));
        assert!(KeyRecord::parse(r#"{"id":"x","kind":"cookie"}"#).is_err());
    }

    #[test]
    fn expiry_is_exclusive_of_now() {
        let r = record();
        assert!(r.check(KeyKind::ApiKey, UnixTime(99)).is_ok());
        assert_eq!(
            r.check(KeyKind::ApiKey, UnixTime(100)),
            Err(KeyRejection::Expired)
        );
    }

    #[test]
    fn revoked_and_kind_mismatch_are_refused() {
        let mut r = record();
        assert_eq!(
            r.check(KeyKind::Pat, UnixTime(50)),
            Err(KeyRejection::KindMismatch)
        );
        r.revoked_at = Some(40);
        assert_eq!(
            r.check(KeyKind::ApiKey, UnixTime(50)),
            Err(KeyRejection::Revoked)
        );
        assert_eq!(r.status(UnixTime(50)), KeyStatus::Revoked);
    }

    #[test]
    fn identity_carries_the_public_id_only() {
        let id = record().check(KeyKind::ApiKey, UnixTime(1)).unwrap();
        assert_eq!(id.key_id.as_deref(), Some("key_1"));
        assert_eq!(id.expires_at, Some(100));
        assert_eq!(id.kind, crate::identity::CredentialKind::ApiKey);
    }

    #[test]
    fn subject_prefix_cannot_be_confused() {
        assert_ne!(subject_prefix("a:b"), subject_prefix("a"));
        assert!(!subject_prefix("a:").starts_with(&subject_prefix("a")));
        assert!(!subject_prefix("ab").starts_with(&subject_prefix("a")));
    }
}
