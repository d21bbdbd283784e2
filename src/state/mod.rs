//! The state tier's core (issue #14, docs/state.md): what the authority (the `AUTH_STATE` Durable
//! Object) records and publishes, as pure types and logic.
//!
//! Owns: the admin mutations' [`Change`]s, the audit log's [`AuditEvent`] and [`Actor`], the
//! [`StateLog`] port (the authority's audit and feed tables), the mapping from a change to its
//! audit row and feed entries ([`record_changes`]), and (in [`feed`]) the revocation feed and each
//! isolate's view. The command protocol between the Worker and the object is in [`authority`].
//! Never touches: SQL, KV, the network or a clock; the object's storage shell (src/edge) only
//! stores what this module hands it.

pub mod authority;
pub mod feed;

use serde::{Deserialize, Serialize};

use crate::keys::{KeyKind, TokenDigest};
use crate::ports::StoreError;

pub use feed::{FeedDocument, FeedEntry, OnStale, RevocationSettings, RevocationView, ViewPlan};

/// The binding of the authority's Durable Object namespace.
pub const STATE_BINDING: &str = "AUTH_STATE";

/// Failed admin authentications are audited, but not one authority call each: a flood of wrong
/// admin tokens must not become load on the object. Each isolate sends at most one event per
/// [`FailureBudget::WINDOW_SECONDS`], carrying how many failures it stands for.
#[derive(Debug, Default)]
pub struct FailureBudget {
    state: std::cell::Cell<(u64, u32)>,
}

impl FailureBudget {
    pub const WINDOW_SECONDS: u64 = 10;

    /// Count one failure at `now`; `Some(n)` when an event for `n` failures is due now.
    pub fn note(&self, now: u64) -> Option<u32> {
        let (sent_at, pending) = self.state.get();
        let pending = pending.saturating_add(1);
        if sent_at == 0 || now >= sent_at.saturating_add(Self::WINDOW_SECONDS) {
            self.state.set((now.max(1), 0));
            Some(pending)
        } else {
            self.state.set((sent_at, pending));
            None
        }
    }
}

/// Who did something, as the audit log records it. Never a credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Actor {
    /// The bearer of `ADMIN_TOKEN`.
    AdminToken,
    /// A JWT with the configured admin scope, as (issuer, subject).
    AdminJwt { issuer: String, subject: String },
    /// A user acting on their own PATs.
    User { issuer: String, subject: String },
    /// No usable credential (failed admin authentication).
    Anonymous,
}

/// One admin mutation, as the handler that made it describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Created {
        id: String,
        kind: KeyKind,
        subject: String,
        issuer: Option<String>,
        digest: TokenDigest,
    },
    Imported {
        id: String,
        kind: KeyKind,
        subject: String,
        issuer: Option<String>,
        digest: TokenDigest,
    },
    Revoked {
        id: String,
        kind: KeyKind,
        subject: String,
        issuer: Option<String>,
        at: u64,
    },
    /// `id` stops working at `grace_end`; `new_id` replaces it.
    Rolled {
        id: String,
        new_id: String,
        kind: KeyKind,
        subject: String,
        issuer: Option<String>,
        grace_end: u64,
        new_digest: TokenDigest,
    },
    /// `PATCH /keys/{id}`: `fields` changed; a scope change must reach every isolate.
    Updated {
        id: String,
        kind: KeyKind,
        subject: String,
        issuer: Option<String>,
        fields: Vec<&'static str>,
        scopes_changed: bool,
    },
    PrincipalRevoked {
        issuer: Option<String>,
        subject: String,
        before: u64,
        /// The keys and PATs revoked with it.
        keys: Vec<String>,
    },
    TokenRevoked {
        issuer: String,
        jti: String,
        exp: u64,
    },
}

/// One row of the audit log (`GET {admin_path}/audit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    pub time: u64,
    pub actor: Actor,
    /// `key.create`, `key.import`, `key.revoke`, `key.roll`, `key.update`, `pat.create`, `pat.revoke`,
    /// `principal.revoke`, `token.revoke`, `admin.auth_failed`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The key's kind (`api_key`, `pat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KeyKind>,
    /// The principal the action was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `key.roll`: the new key's id; `principal.revoke`: how many keys were revoked; and so on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Which audit rows a page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditFilter {
    /// The admin sees everything.
    All,
    /// A user sees the events of their own PATs.
    OwnPats { issuer: String, subject: String },
}

/// One page of the audit log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// The sequence number to continue below, when more rows follow.
    pub cursor: Option<u64>,
}

/// The authority's audit and feed tables. Synchronous: the object's SQLite calls are, and a
/// mutation with its audit row and feed entries runs as one transaction.
pub trait StateLog {
    fn append_audit(&mut self, event: &AuditEvent) -> Result<(), StoreError>;
    /// A feed entry, kept until `until` (Unix seconds).
    fn append_feed(&mut self, entry: &FeedEntry, until: u64) -> Result<(), StoreError>;
    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<AuditPage, StoreError>;
}

/// Facts of the request that made a change.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    pub actor: &'a Actor,
    pub request_id: &'a str,
    pub ip: Option<&'a str>,
    pub now: u64,
}

impl Provenance<'_> {
    fn event(&self, action: &str) -> AuditEvent {
        AuditEvent {
            time: self.now,
            actor: self.actor.clone(),
            action: action.to_string(),
            key_id: None,
            kind: None,
            subject: None,
            issuer: None,
            detail: None,
            request_id: self.request_id.to_string(),
            ip: self.ip.map(str::to_string),
        }
    }
}

fn key_action(kind: KeyKind, verb: &str) -> String {
    let noun = match kind {
        KeyKind::ApiKey => "key",
        KeyKind::Pat => "pat",
    };
    format!("{noun}.{verb}")
}

/// Write each change's audit row and feed entries.
pub fn record_changes<L: StateLog>(
    changes: &[Change],
    by: Provenance<'_>,
    settings: &RevocationSettings,
    log: &mut L,
) -> Result<(), StoreError> {
    let window = by.now.saturating_add(feed::WINDOW_SECONDS);
    for change in changes {
        match change {
            Change::Created {
                id,
                kind,
                subject,
                issuer,
                digest,
            }
            | Change::Imported {
                id,
                kind,
                subject,
                issuer,
                digest,
            } => {
                let verb = if matches!(change, Change::Created { .. }) {
                    "create"
                } else {
                    "import"
                };
                let mut e = by.event(&key_action(*kind, verb));
                e.key_id = Some(id.clone());
                e.kind = Some(*kind);
                e.subject = Some(subject.clone());
                e.issuer.clone_from(issuer);
                log.append_audit(&e)?;
                log.append_feed(&FeedEntry::created(digest), window)?;
            }
            Change::Revoked {
                id,
                kind,
                subject,
                issuer,
                at,
            } => {
                let mut e = by.event(&key_action(*kind, "revoke"));
                e.key_id = Some(id.clone());
                e.kind = Some(*kind);
                e.subject = Some(subject.clone());
                e.issuer.clone_from(issuer);
                log.append_audit(&e)?;
                let entry = FeedEntry::Key {
                    id: id.clone(),
                    at: *at,
                };
                log.append_feed(&entry, window)?;
            }
            Change::Rolled {
                id,
                new_id,
                kind,
                subject,
                issuer,
                grace_end,
                new_digest,
            } => {
                let mut e = by.event(&key_action(*kind, "roll"));
                e.key_id = Some(id.clone());
                e.kind = Some(*kind);
                e.subject = Some(subject.clone());
                e.issuer.clone_from(issuer);
                e.detail =
                    Some(serde_json::json!({ "new_key_id": new_id, "grace_ends_at": grace_end }));
                log.append_audit(&e)?;
                let entry = FeedEntry::Key {
                    id: id.clone(),
                    at: *grace_end,
                };
                log.append_feed(&entry, grace_end.saturating_add(feed::WINDOW_SECONDS))?;
                log.append_feed(&FeedEntry::created(new_digest), window)?;
            }
            Change::Updated {
                id,
                kind,
                subject,
                issuer,
                fields,
                scopes_changed,
            } => {
                let mut e = by.event(&key_action(*kind, "update"));
                e.key_id = Some(id.clone());
                e.kind = Some(*kind);
                e.subject = Some(subject.clone());
                e.issuer.clone_from(issuer);
                e.detail = Some(serde_json::json!({ "fields": fields }));
                log.append_audit(&e)?;
                if *scopes_changed {
                    let entry = FeedEntry::Changed {
                        id: id.clone(),
                        at: by.now,
                    };
                    log.append_feed(&entry, window)?;
                }
            }
            Change::PrincipalRevoked {
                issuer,
                subject,
                before,
                keys,
            } => {
                let mut e = by.event("principal.revoke");
                e.subject = Some(subject.clone());
                e.issuer.clone_from(issuer);
                e.detail = Some(serde_json::json!({ "before": before, "revoked_keys": keys }));
                log.append_audit(&e)?;
                let entry = FeedEntry::Principal {
                    iss: issuer.clone(),
                    sub: subject.clone(),
                    before: *before,
                };
                let until = before.saturating_add(settings.principal_retention_seconds);
                log.append_feed(&entry, until.max(window))?;
                for id in keys {
                    let entry = FeedEntry::Key {
                        id: id.clone(),
                        at: by.now,
                    };
                    log.append_feed(&entry, window)?;
                }
            }
            Change::TokenRevoked { issuer, jti, exp } => {
                let mut e = by.event("token.revoke");
                e.issuer = Some(issuer.clone());
                e.detail = Some(serde_json::json!({ "jti": jti, "exp": exp }));
                log.append_audit(&e)?;
                let entry = FeedEntry::Token {
                    iss: issuer.clone(),
                    jti: jti.clone(),
                    exp: *exp,
                };
                // Past `exp` the token still verifies within its issuer's leeway.
                log.append_feed(&entry, feed::token_revocation_until(*exp))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_authentications_are_sent_at_most_once_per_window() {
        let b = FailureBudget::default();
        assert_eq!(b.note(100), Some(1));
        assert_eq!(b.note(101), None);
        assert_eq!(b.note(109), None);
        assert_eq!(b.note(110), Some(3), "the event counts what it stands for");
        assert_eq!(b.note(111), None);
    }
}
