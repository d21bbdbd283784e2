//! The records behind API keys and PATs, and what makes a record acceptable at `now`.
//!
//! Owns: the stored value types ([`KeyRecord`] at a key's digest, [`IdRecord`] at its id), their
//! lifecycle ([`KeyStatus`]) and the check a record passes to prove an identity
//! ([`KeyRecord::check`], refused with a [`RecordRejection`]). Never touches: KV or its key names
//! (the layout is [`super::repository`]'s), a clock (`now` is an argument), a token.

use crate::reason::Reason;
use serde::{Deserialize, Serialize};

use super::format::KeyKind;
use crate::identity::Identity;
use crate::time::UnixTime;

/// The value stored at a key's digest (the contract's record; read on the hot path).
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
    /// Set by a roll: the id of the key that replaces this one (which then works only through
    /// its grace, and cannot be rolled again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_to: Option<String>,
    /// Set by a roll: the id of the key whose counters (credits, per-key limit windows) this key
    /// spends, the first key of its roll chain. Without it a key spends its own (`key:<id>`),
    /// so a roll would hand out a fresh balance and fresh windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<String>,
}

/// The issuer a PAT belongs to: its own, or for a PAT stored without one, the only configured
/// issuer (`sole_issuer`); `None` when that cannot be decided (refused).
#[must_use]
pub fn pat_issuer<'a>(stored: Option<&'a str>, sole_issuer: Option<&'a str>) -> Option<&'a str> {
    stored.or(sole_issuer)
}

/// Why a record does not authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRejection {
    Revoked,
    Expired,
    /// The record's kind differs from the kind the token's prefix claims.
    KindMismatch,
    /// A PAT stored without an issuer while several issuers are configured: whose it is cannot
    /// be told.
    PatWithoutIssuer,
}

impl RecordRejection {
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            RecordRejection::Revoked => Reason::Revoked,
            RecordRejection::Expired => Reason::Expired,
            RecordRejection::KindMismatch => Reason::KindMismatch,
            RecordRejection::PatWithoutIssuer => Reason::PatWithoutIssuer,
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

    /// A key's status at `now` from its revocation and expiry times (a revocation wins).
    #[must_use]
    pub fn at(revoked_at: Option<u64>, expires_at: Option<u64>, now: UnixTime) -> Self {
        if revoked_at.is_some_and(|t| t <= now.0) {
            KeyStatus::Revoked
        } else if expires_at.is_some_and(|t| t <= now.0) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

impl KeyRecord {
    /// Parse a stored value; anything malformed is refused (and so fails closed).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The record's own limits and credits, and the counters it spends, if any of them is its
    /// own (a rolled key with neither still spends its chain's per-key windows of the route).
    #[must_use]
    pub fn quota(&self) -> Option<crate::limits::KeyQuota> {
        (!self.limits.is_empty() || self.credits.is_some() || self.meter.is_some()).then(|| {
            crate::limits::KeyQuota {
                limits: self.limits.clone(),
                credits: self.credits.as_deref().cloned(),
                meter: self.meter.clone(),
            }
        })
    }

    /// The id whose counter object (`key:<id>`) this key spends from.
    #[must_use]
    pub fn meter(&self) -> &str {
        self.meter.as_deref().unwrap_or(&self.id)
    }

    #[must_use]
    pub fn status(&self, now: UnixTime) -> KeyStatus {
        KeyStatus::at(self.revoked_at, self.expires_at, now)
    }

    /// The identity this record proves, if it is acceptable at `now` for a `presented` token.
    /// `sole_issuer` is the configured issuer when there is exactly one.
    pub fn check(
        &self,
        presented: KeyKind,
        now: UnixTime,
        sole_issuer: Option<&str>,
    ) -> Result<Identity, RecordRejection> {
        if self.kind != presented {
            return Err(RecordRejection::KindMismatch);
        }
        let issuer = match self.kind {
            KeyKind::ApiKey => None,
            KeyKind::Pat => Some(
                pat_issuer(self.issuer.as_deref(), sole_issuer)
                    .ok_or(RecordRejection::PatWithoutIssuer)?,
            ),
        };
        match self.status(now) {
            KeyStatus::Revoked => Err(RecordRejection::Revoked),
            KeyStatus::Expired => Err(RecordRejection::Expired),
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

/// The value stored at a key's id, so the admin API finds a key by id.
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
            rolled_to: None,
            meter: None,
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
            Err(RecordRejection::Expired)
        );
    }

    #[test]
    fn revoked_and_kind_mismatch_are_refused() {
        let mut r = record();
        assert_eq!(
            r.check(KeyKind::Pat, UnixTime(50), None),
            Err(RecordRejection::KindMismatch)
        );
        r.revoked_at = Some(40);
        assert_eq!(
            r.check(KeyKind::ApiKey, UnixTime(50), None),
            Err(RecordRejection::Revoked)
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
            Err(RecordRejection::PatWithoutIssuer)
        );
        let id = r
            .check(KeyKind::Pat, UnixTime(1), Some("https://only"))
            .unwrap();
        assert_eq!(id.issuer(), Some("https://only"));
    }
}
