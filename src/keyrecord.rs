//! The KV records behind API keys and PATs, and what makes a record acceptable at `now`.
//!
//! KV layout (the token itself is never stored):
//! - `key:<hex sha256(token)>` → [`KeyRecord`] (the contract's record), read on the hot path;
//! - `id:<id>` → [`IdRecord`] `{"hash","kind","subject"}`, so the admin API finds a key by id;
//! - `sub:<hex(subject)>:<issuer tag>:<id>` → `""`, so keys are listed by subject, or by
//!   principal (issuer, subject), with a KV prefix list. The subject is hex-encoded so no
//!   character of it can break the key's structure; the issuer tag is `0` for no issuer (API
//!   keys) or `i` + 16 hex digits of SHA-256(issuer), so every index key fits KV's 512-byte
//!   limit whatever the issuer (see [`MAX_SUBJECT_BYTES`]). Entries written before principals
//!   were issuer-qualified read `sub:<hex(subject)>:<id>`; listings read both.
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
    /// PATs: the `iss` of the JWT that created it (the principal is (issuer, subject)). API keys
    /// made by the admin have none. PATs stored before this field existed have none either: they
    /// are accepted only while exactly one issuer is configured (see [`KeyRecord::check`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The key's own limits (replacing the route's of the same name; issue #15).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<crate::limits::LimitDef>,
    /// The key's usage credits; the balance lives in the key's counter object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Box<crate::limits::StoredCredits>>,
}

/// Longest subject a key or PAT can be made for, in UTF-8 bytes: the subject index key
/// (`sub:` + 2 × subject + `:i` + 16 + `:` + id) must stay within KV's 512-byte key limit.
pub const MAX_SUBJECT_BYTES: usize = 200;

/// The issuer a PAT belongs to: its own, or for a PAT stored without one, the only configured
/// issuer (`sole_issuer`); `None` when that cannot be decided (refused).
#[must_use]
pub fn pat_issuer<'a>(stored: Option<&'a str>, sole_issuer: Option<&'a str>) -> Option<&'a str> {
    stored.or(sole_issuer)
}

/// Why a record does not authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRejection {
    Revoked,
    Expired,
    /// The record's kind differs from the kind the token's prefix claims.
    KindMismatch,
    /// A PAT stored without an issuer while several issuers are configured: whose it is cannot
    /// be told.
    PatWithoutIssuer,
}

impl KeyRejection {
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            KeyRejection::Revoked => "revoked",
            KeyRejection::Expired => "expired",
            KeyRejection::KindMismatch => "kind_mismatch",
            KeyRejection::PatWithoutIssuer => "pat_without_issuer",
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

    /// The record's own limits and credits, if it has any.
    #[must_use]
    pub fn quota(&self) -> Option<crate::limits::KeyQuota> {
        (!self.limits.is_empty() || self.credits.is_some()).then(|| crate::limits::KeyQuota {
            limits: self.limits.clone(),
            credits: self.credits.as_deref().cloned(),
        })
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
    /// `sole_issuer` is the configured issuer when there is exactly one.
    pub fn check(
        &self,
        presented: KeyKind,
        now: UnixTime,
        sole_issuer: Option<&str>,
    ) -> Result<Identity, KeyRejection> {
        if self.kind != presented {
            return Err(KeyRejection::KindMismatch);
        }
        let issuer = match self.kind {
            KeyKind::ApiKey => None,
            KeyKind::Pat => Some(
                pat_issuer(self.issuer.as_deref(), sole_issuer)
                    .ok_or(KeyRejection::PatWithoutIssuer)?,
            ),
        };
        match self.status(now) {
            KeyStatus::Revoked => Err(KeyRejection::Revoked),
            KeyStatus::Expired => Err(KeyRejection::Expired),
            KeyStatus::Active => Ok(Identity::from_key(crate::identity::KeyFacts {
                kind: self.kind.credential_kind(),
                subject: self.subject.clone(),
                scopes: self.scopes.clone(),
                issuer: issuer.map(str::to_string),
                key_id: self.id.clone(),
                expires_at: self.expires_at,
            })),
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
    /// As in the [`KeyRecord`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

#[must_use]
pub fn id_key(id: &str) -> String {
    format!("id:{id}")
}

/// The prefix of every index entry of `subject`, whatever the issuer (and of the entries
/// written before principals were issuer-qualified).
#[must_use]
pub fn subject_prefix(subject: &str) -> String {
    format!("sub:{}:", hex::encode(subject.as_bytes()))
}

/// The issuer's part of an index key: `0` for none, else `i` + 16 hex of SHA-256(issuer).
#[must_use]
pub fn issuer_tag(issuer: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match issuer {
        None => "0".to_string(),
        Some(iss) => {
            let digest = Sha256::digest(iss.as_bytes());
            let mut tag = String::from("i");
            tag.push_str(&hex::encode(digest.get(..8).unwrap_or(&[])));
            tag
        }
    }
}

/// The prefix of the index entries of the principal (issuer, subject).
#[must_use]
pub fn principal_prefix(issuer: Option<&str>, subject: &str) -> String {
    format!("{}{}:", subject_prefix(subject), issuer_tag(issuer))
}

/// The id in an index entry name after `subject_prefix`: `<tag>:<id>`, or `<id>` for an entry
/// written before principals were issuer-qualified.
#[must_use]
pub fn index_entry_id(rest: &str) -> &str {
    rest.split_once(':').map_or(rest, |(_, id)| id)
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
            issuer: None,
            limits: Vec::new(),
            credits: None,
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
        assert!(r.check(KeyKind::ApiKey, UnixTime(99), None).is_ok());
        assert_eq!(
            r.check(KeyKind::ApiKey, UnixTime(100), None),
            Err(KeyRejection::Expired)
        );
    }

    #[test]
    fn revoked_and_kind_mismatch_are_refused() {
        let mut r = record();
        assert_eq!(
            r.check(KeyKind::Pat, UnixTime(50), None),
            Err(KeyRejection::KindMismatch)
        );
        r.revoked_at = Some(40);
        assert_eq!(
            r.check(KeyKind::ApiKey, UnixTime(50), None),
            Err(KeyRejection::Revoked)
        );
        assert_eq!(r.status(UnixTime(50)), KeyStatus::Revoked);
    }

    #[test]
    fn identity_carries_the_public_id_only() {
        let id = record().check(KeyKind::ApiKey, UnixTime(1), None).unwrap();
        assert_eq!(id.key_id(), Some("key_1"));
        assert_eq!(id.expires_at(), Some(100));
        assert_eq!(id.kind(), crate::identity::CredentialKind::ApiKey);
    }

    #[test]
    fn a_pat_carries_its_issuer_and_a_legacy_one_needs_a_sole_issuer() {
        let mut r = record();
        r.kind = KeyKind::Pat;
        r.issuer = Some("https://a".into());
        let id = r.check(KeyKind::Pat, UnixTime(1), None).unwrap();
        assert_eq!(id.issuer(), Some("https://a"));
        r.issuer = None;
        assert_eq!(
            r.check(KeyKind::Pat, UnixTime(1), None),
            Err(KeyRejection::PatWithoutIssuer)
        );
        let id = r
            .check(KeyKind::Pat, UnixTime(1), Some("https://only"))
            .unwrap();
        assert_eq!(id.issuer(), Some("https://only"));
    }

    #[test]
    fn principal_index_keys_separate_issuers_and_fit_kv() {
        let a = principal_prefix(Some("https://a"), "alice");
        let b = principal_prefix(Some("https://b"), "alice");
        assert_ne!(a, b);
        assert!(a.starts_with(&subject_prefix("alice")));
        assert_ne!(principal_prefix(None, "alice"), a);
        let long_issuer = "https://".to_string() + &"x".repeat(400);
        let subject = "s".repeat(MAX_SUBJECT_BYTES);
        let key = format!(
            "{}key_{}",
            principal_prefix(Some(&long_issuer), &subject),
            "A".repeat(16)
        );
        assert!(key.len() <= 512, "{}", key.len());
        assert_eq!(index_entry_id("i0011223344556677:key_1"), "key_1");
        assert_eq!(index_entry_id("key_1"), "key_1");
    }

    #[test]
    fn subject_prefix_cannot_be_confused() {
        assert_ne!(subject_prefix("a:b"), subject_prefix("a"));
        assert!(!subject_prefix("a:").starts_with(&subject_prefix("a")));
        assert!(!subject_prefix("ab").starts_with(&subject_prefix("a")));
    }
}
