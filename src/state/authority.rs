//! What runs inside the authority (the `AUTH_STATE` Durable Object): one call from a Worker,
//! applied to the object's storage as one transaction.
//!
//! Owns: the call protocol ([`AuthorityCall`], JSON between the Worker and the object), and
//! [`run`], which executes a call against the object's key table (a [`KeyStore`]) and its audit
//! and feed tables (a [`StateLog`]) and says whether the transaction may commit. Consistency
//! comes from where this runs: the object handles one call at a time and every store call here
//! is synchronous, so a roll and a revoke of one key can never interleave (issue #14), and a
//! revoked record is never written back active (see `admin::revoke_record`). Never touches:
//! authentication (the Worker decided who the caller is before calling), KV (the shell replicates
//! committed keys), a clock.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admin::{self, AdminCaller, AdminContext, AdminReply, AdminRequest};
use crate::config::Config;
use crate::keys::KeyAuthenticator;
use crate::ports::KeyStore;
use crate::problem::Problem;
use crate::time::UnixTime;

use super::{record_changes, Actor, AuditEvent, AuditFilter, Provenance, StateLog};

/// Audit rows per page unless `limit` says otherwise, and the most `limit` may ask for.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// One call from a Worker to the authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthorityCall {
    /// An admin or self-service request whose caller the Worker has authenticated.
    Admin {
        method: String,
        /// The path after `admin_path` (`/keys/abc/roll`).
        path: String,
        #[serde(default)]
        query: Option<String>,
        /// The request body (admin bodies are JSON text).
        body: String,
        caller: AdminCaller,
        actor: Actor,
        request_id: String,
        #[serde(default)]
        ip: Option<String>,
    },
    /// Failed admin authentications seen by one isolate (`count` of them, the last one's facts).
    AuthFailed {
        request_id: String,
        #[serde(default)]
        ip: Option<String>,
        reason: String,
        count: u32,
    },
}

/// What [`run`] produced: the reply, and whether the object may commit what was written.
#[derive(Debug)]
pub struct Applied {
    pub reply: AdminReply,
    /// False after any failure (a 5xx reply): the shell rolls the transaction back, so nothing is
    /// half-written.
    pub commit: bool,
}

/// Execute `call` at `now` against the object's tables.
pub async fn run<S: KeyStore, L: StateLog>(
    call: AuthorityCall,
    config: &Config,
    keys: &KeyAuthenticator,
    store: &S,
    log: &mut L,
    now: UnixTime,
    fill: &mut crate::ports::Fill<'_>,
) -> Applied {
    match call {
        AuthorityCall::AuthFailed {
            request_id,
            ip,
            reason,
            count,
        } => {
            let event = AuditEvent {
                time: now.0,
                actor: Actor::Anonymous,
                action: "admin.auth_failed".into(),
                key_id: None,
                kind: None,
                subject: None,
                issuer: None,
                detail: Some(json!({ "reason": reason, "count": count })),
                request_id,
                ip,
            };
            match log.append_audit(&event) {
                Ok(()) => Applied {
                    reply: AdminReply::NoContent,
                    commit: true,
                },
                Err(_) => failed(),
            }
        }
        AuthorityCall::Admin {
            method,
            path,
            query,
            body,
            caller,
            actor,
            request_id,
            ip,
        } => {
            if path.trim_end_matches('/') == "/audit" {
                return audit(&method, query.as_deref(), &caller, log);
            }
            let is_issuer = |iss: &str| config.issuers.get(iss).is_some();
            let mut ctx = AdminContext {
                settings: &config.keys,
                sole_issuer: config.sole_issuer(),
                is_issuer: &is_issuer,
                cache: keys.cache(),
                now,
                fill,
                changes: Vec::new(),
                state_tier: true,
            };
            let req = AdminRequest {
                method: &method,
                path: &path,
                query: query.as_deref(),
                body: body.as_bytes(),
            };
            let reply = admin::handle(req, &caller, &mut ctx, store).await;
            if reply_failed(&reply) {
                return Applied {
                    reply,
                    commit: false,
                };
            }
            let by = Provenance {
                actor: &actor,
                request_id: &request_id,
                ip: ip.as_deref(),
                now: now.0,
            };
            match record_changes(&ctx.changes, by, &config.revocation, log) {
                Ok(()) => Applied {
                    reply,
                    commit: true,
                },
                Err(_) => failed(),
            }
        }
    }
}

fn reply_failed(reply: &AdminReply) -> bool {
    match reply {
        AdminReply::Json { status, .. } => *status >= 500,
        AdminReply::NoContent => false,
        AdminReply::Problem(p) => p.status >= 500,
    }
}

fn failed() -> Applied {
    Applied {
        reply: AdminReply::Problem(Problem::state_unavailable()),
        commit: false,
    }
}

/// `GET /audit?cursor=&limit=`: newest first; the admin sees everything, a user the events of
/// their own PATs.
fn audit<L: StateLog>(method: &str, query: Option<&str>, caller: &AdminCaller, log: &L) -> Applied {
    let read = |reply| Applied {
        reply,
        commit: true,
    };
    if method != "GET" {
        return read(AdminReply::Problem(Problem::method_not_allowed()));
    }
    let filter = match caller {
        AdminCaller::Admin => AuditFilter::All,
        AdminCaller::User {
            issuer, subject, ..
        } => AuditFilter::OwnPats {
            issuer: issuer.clone(),
            subject: subject.clone(),
        },
        AdminCaller::Anonymous => return read(AdminReply::Problem(Problem::missing_credential())),
    };
    let param = |name: &str| {
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let bad = |detail: &str| {
        read(AdminReply::Problem(Problem::invalid_admin_request(
            detail.to_string(),
        )))
    };
    let limit = match param("limit") {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return bad("\"limit\" must be a whole number from 1 to 1000."),
        },
    };
    let before = match param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match c.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return bad("\"cursor\" is not a cursor this API returned."),
        },
    };
    match log.audit_page(&filter, before, limit) {
        Ok(mut page) => {
            // A user sees the events of their own PATs, but not where an admin acted from.
            if let AdminCaller::User {
                issuer, subject, ..
            } = caller
            {
                for event in &mut page.events {
                    let own = matches!(&event.actor, Actor::User { issuer: i, subject: s } if i == issuer && s == subject);
                    if !own {
                        event.ip = None;
                    }
                }
            }
            let mut body = serde_json::Map::new();
            body.insert("events".into(), json!(page.events));
            if let Some(c) = page.cursor {
                body.insert("cursor".into(), json!(c.to_string()));
            }
            read(AdminReply::Json {
                status: 200,
                body: serde_json::Value::Object(body),
            })
        }
        Err(_) => Applied {
            reply: AdminReply::Problem(Problem::state_unavailable()),
            commit: false,
        },
    }
}
