//! The admin API and PAT self-service, as pure request → reply logic over [`KeyStore`].
//! Who the caller is (admin token, admin-scoped JWT, user JWT) is decided before this module
//! runs; here every endpoint checks that the caller may use it. Tokens appear only in the reply
//! that creates them; hashes never appear at all.

mod validate;

use serde_json::{json, Value};

use crate::apikey::{random_base62, KeyKind};
use crate::hash::TokenDigest;
use crate::keycache::{KeyCache, KeySettings};
use crate::keyrecord::{id_key, subject_prefix, used_key, IdRecord, KeyRecord};
use crate::ports::{KeyStore, StoreError};
use crate::problem::Problem;
use crate::time::UnixTime;

pub use validate::{CreateKey, CreatePat, Roll};

/// Largest request body the admin API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most keys one listing returns.
const MAX_LISTED: usize = 1000;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminCaller {
    /// `ADMIN_TOKEN`, or a JWT with the configured admin scope.
    Admin,
    /// A user with a verified JWT: may manage their own PATs.
    User {
        subject: String,
        scopes: Vec<String>,
    },
    /// No usable credential.
    Anonymous,
}

/// An admin request: the path after `admin_path` (`/keys/abc/roll`).
#[derive(Clone, Copy, Debug)]
pub struct AdminRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// The reply.
#[derive(Clone, Debug, PartialEq)]
pub enum AdminReply {
    Json { status: u16, body: Value },
    NoContent,
    Problem(Problem),
}

/// What the handlers need besides the store.
pub struct AdminContext<'a> {
    pub settings: &'a KeySettings,
    pub cache: &'a KeyCache,
    pub now: UnixTime,
    /// Writes cryptographically secure random bytes.
    pub fill: &'a mut dyn FnMut(&mut [u8]),
}

fn bad_request(detail: impl Into<String>) -> AdminReply {
    AdminReply::Problem(Problem::new(
        400,
        "Invalid request",
        "invalid_admin_request",
        detail,
    ))
}

fn not_found() -> AdminReply {
    AdminReply::Problem(Problem::new(404, "Not found", "not_found", "No such key."))
}

fn unavailable(_: StoreError) -> AdminReply {
    AdminReply::Problem(Problem::unavailable(
        "kv_unavailable",
        5,
        "The key store is not answering; try again.",
    ))
}

fn unauthorized() -> AdminReply {
    AdminReply::Problem(Problem::missing_credential())
}

fn forbidden(detail: &'static str) -> AdminReply {
    AdminReply::Problem(Problem::new(403, "Forbidden", "forbidden", detail))
}

fn method_not_allowed() -> AdminReply {
    AdminReply::Problem(Problem::new(
        405,
        "Method not allowed",
        "method_not_allowed",
        "This endpoint does not support this method.",
    ))
}

/// Handle one admin request.
pub async fn handle<S: KeyStore>(
    req: AdminRequest<'_>,
    caller: &AdminCaller,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    if req.body.len() > MAX_BODY_BYTES {
        return AdminReply::Problem(Problem::new(
            413,
            "Payload too large",
            "body_too_large",
            "Request bodies are limited to 16 KiB.",
        ));
    }
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match (segments.as_slice(), caller) {
        (["keys", ..], AdminCaller::Anonymous) | (["pats", ..], AdminCaller::Anonymous) => {
            unauthorized()
        }
        (["keys", ..], AdminCaller::User { .. }) => {
            forbidden("The admin API needs the admin token or an admin-scoped token.")
        }
        (["pats", ..], AdminCaller::Admin) => forbidden(
            "PAT self-service acts for the caller's own subject: use a user token, or /keys as admin.",
        ),
        (["keys"], _) => match req.method {
            "POST" => create_key(req.body, ctx, store).await,
            "GET" => match query_param(req.query, "subject") {
                Some(subject) if !subject.is_empty() => {
                    list(&subject, None, ctx.now, ctx.settings, store).await
                }
                _ => bad_request("GET /keys needs ?subject=…"),
            },
            _ => method_not_allowed(),
        },
        (["keys", id], _) => match req.method {
            "GET" => get_one(id, None, ctx.now, ctx.settings, store).await,
            "DELETE" => revoke(id, None, ctx, store).await,
            _ => method_not_allowed(),
        },
        (["keys", id, "roll"], _) => match req.method {
            "POST" => roll(id, req.body, ctx, store).await,
            _ => method_not_allowed(),
        },
        (["pats"], AdminCaller::User { subject, scopes }) => match req.method {
            "POST" => create_pat(req.body, subject, scopes, ctx, store).await,
            "GET" => list(subject, Some(KeyKind::Pat), ctx.now, ctx.settings, store).await,
            _ => method_not_allowed(),
        },
        (["pats", id], AdminCaller::User { subject, .. }) => match req.method {
            "GET" => get_one(id, Some(subject), ctx.now, ctx.settings, store).await,
            "DELETE" => revoke(id, Some(subject), ctx, store).await,
            _ => method_not_allowed(),
        },
        _ => AdminReply::Problem(Problem::new(404, "Not found", "not_found", "No such endpoint.")),
    }
}

/// `name=value` from a query string, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// What a key looks like in listings: never the token or its hash.
fn metadata(record: &KeyRecord, last_used_at: Option<u64>, now: UnixTime) -> Value {
    json!({
        "id": record.id,
        "kind": record.kind.as_str(),
        "subject": record.subject,
        "name": record.name,
        "scopes": record.scopes,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "last_used_at": last_used_at,
        "start": record.start,
        "status": record.status(now).as_str(),
    })
}

struct Issued {
    token: String,
    record: KeyRecord,
}

/// Mint a token and write its three records (id and subject index first, so a key that works is
/// always one the admin API can find and revoke).
async fn issue<S: KeyStore>(
    kind: KeyKind,
    subject: &str,
    name: &str,
    scopes: Vec<String>,
    expires_at: Option<u64>,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> Result<Issued, StoreError> {
    let format = &ctx.settings.format;
    let token = format.generate(kind, ctx.fill);
    let id = format!("key_{}", random_base62(16, ctx.fill));
    let digest = TokenDigest::of(&token);
    let record = KeyRecord {
        id: id.clone(),
        kind,
        subject: subject.to_string(),
        name: name.to_string(),
        scopes,
        created_at: ctx.now.0,
        expires_at,
        revoked_at: None,
        start: Some(format.start(&token)),
    };
    let index = IdRecord {
        hash: digest.to_hex(),
        kind,
        subject: subject.to_string(),
    };
    let index_json = serde_json::to_string(&index).map_err(|_| StoreError::Unavailable)?;
    let record_json = serde_json::to_string(&record).map_err(|_| StoreError::Unavailable)?;
    store.put(&id_key(&id), &index_json, None).await?;
    store
        .put(&format!("{}{id}", subject_prefix(subject)), "", None)
        .await?;
    store.put(&digest.kv_key(), &record_json, None).await?;
    ctx.cache.invalidate(&digest);
    Ok(Issued { token, record })
}

fn issued_reply(issued: &Issued) -> AdminReply {
    let r = &issued.record;
    AdminReply::Json {
        status: 201,
        body: json!({
            "id": r.id,
            "token": issued.token,
            "kind": r.kind.as_str(),
            "subject": r.subject,
            "name": r.name,
            "scopes": r.scopes,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "start": r.start,
        }),
    }
}

async fn create_key<S: KeyStore>(body: &[u8], ctx: &mut AdminContext<'_>, store: &S) -> AdminReply {
    let cmd = match CreateKey::parse(body, ctx.now, ctx.settings) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    match issue(
        cmd.kind,
        &cmd.subject,
        &cmd.name,
        cmd.scopes,
        cmd.expires_at,
        ctx,
        store,
    )
    .await
    {
        Ok(issued) => issued_reply(&issued),
        Err(e) => unavailable(e),
    }
}

async fn create_pat<S: KeyStore>(
    body: &[u8],
    subject: &str,
    caller_scopes: &[String],
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let cmd = match CreatePat::parse(body, ctx.now, ctx.settings) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    if let Some(extra) = cmd.scopes.iter().find(|s| !caller_scopes.contains(s)) {
        return AdminReply::Problem(Problem::new(
            403,
            "Scope not held",
            "scope_not_held",
            format!(
                "A PAT can only carry scopes its creator holds; \"{extra}\" is not one of them."
            ),
        ));
    }
    match issue(
        KeyKind::Pat,
        subject,
        &cmd.name,
        cmd.scopes,
        Some(cmd.expires_at),
        ctx,
        store,
    )
    .await
    {
        Ok(issued) => issued_reply(&issued),
        Err(e) => unavailable(e),
    }
}

/// The id record and key record for `id`, if `owner` (when given) owns it.
async fn load<S: KeyStore>(
    id: &str,
    owner: Option<&str>,
    store: &S,
) -> Result<Option<(TokenDigest, KeyRecord)>, StoreError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Ok(None);
    }
    let Some(text) = store.get(&id_key(id)).await? else {
        return Ok(None);
    };
    let Ok(index) = serde_json::from_str::<IdRecord>(&text) else {
        return Ok(None);
    };
    if owner.is_some_and(|o| o != index.subject) {
        return Ok(None);
    }
    let Some(digest) = TokenDigest::from_hex(&index.hash) else {
        return Ok(None);
    };
    let Some(text) = store.get(&digest.kv_key()).await? else {
        return Ok(None);
    };
    Ok(KeyRecord::parse(&text).ok().map(|r| (digest, r)))
}

async fn last_used<S: KeyStore>(id: &str, store: &S) -> Option<u64> {
    store.get(&used_key(id)).await.ok().flatten()?.parse().ok()
}

async fn get_one<S: KeyStore>(
    id: &str,
    owner: Option<&str>,
    now: UnixTime,
    _settings: &KeySettings,
    store: &S,
) -> AdminReply {
    match load(id, owner, store).await {
        Ok(Some((_, record))) => {
            if owner.is_some() && record.kind != KeyKind::Pat {
                return not_found();
            }
            let used = last_used(id, store).await;
            AdminReply::Json {
                status: 200,
                body: metadata(&record, used, now),
            }
        }
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

async fn list<S: KeyStore>(
    subject: &str,
    only: Option<KeyKind>,
    now: UnixTime,
    _settings: &KeySettings,
    store: &S,
) -> AdminReply {
    let prefix = subject_prefix(subject);
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match store.list(&prefix, cursor.as_deref(), 1000).await {
            Ok(p) => p,
            Err(e) => return unavailable(e),
        };
        ids.extend(
            page.keys
                .iter()
                .filter_map(|k| k.strip_prefix(&prefix))
                .map(str::to_string),
        );
        cursor = page.cursor;
        if cursor.is_none() || ids.len() >= MAX_LISTED {
            break;
        }
    }
    let mut items = Vec::new();
    for id in ids.iter().take(MAX_LISTED) {
        match load(id, Some(subject), store).await {
            Ok(Some((_, record))) if only.is_none_or(|k| k == record.kind) => {
                let used = last_used(id, store).await;
                items.push(metadata(&record, used, now));
            }
            Ok(_) => {}
            Err(e) => return unavailable(e),
        }
    }
    AdminReply::Json {
        status: 200,
        body: json!({ "subject": subject, "keys": items }),
    }
}

async fn revoke<S: KeyStore>(
    id: &str,
    owner: Option<&str>,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let (digest, mut record) = match load(id, owner, store).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    if owner.is_some() && record.kind != KeyKind::Pat {
        return not_found();
    }
    if record.revoked_at.is_none() {
        record.revoked_at = Some(ctx.now.0);
        let Ok(text) = serde_json::to_string(&record) else {
            return unavailable(StoreError::Unavailable);
        };
        if let Err(e) = store.put(&digest.kv_key(), &text, None).await {
            return unavailable(e);
        }
    }
    ctx.cache.invalidate(&digest);
    AdminReply::NoContent
}

async fn roll<S: KeyStore>(
    id: &str,
    body: &[u8],
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let cmd = match Roll::parse(body) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    let (digest, mut old) = match load(id, None, store).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    if old.status(ctx.now) != crate::keyrecord::KeyStatus::Active {
        return AdminReply::Problem(Problem::new(
            409,
            "Conflict",
            "not_active",
            "Only an active key can be rolled.",
        ));
    }
    // The new key keeps the old one's lifetime, counted from now (PATs stay within the maximum).
    let expires_at = old.expires_at.map(|exp| {
        let lifetime = exp.saturating_sub(old.created_at);
        let lifetime = if old.kind == KeyKind::Pat {
            lifetime.min(ctx.settings.pat_max_lifetime_seconds)
        } else {
            lifetime
        };
        ctx.now.plus(lifetime).0
    });
    let issued = match issue(
        old.kind,
        &old.subject.clone(),
        &old.name.clone(),
        old.scopes.clone(),
        expires_at,
        ctx,
        store,
    )
    .await
    {
        Ok(i) => i,
        Err(e) => return unavailable(e),
    };
    let grace_end = ctx.now.plus(cmd.grace_seconds).0;
    old.expires_at = Some(old.expires_at.map_or(grace_end, |e| e.min(grace_end)));
    let Ok(text) = serde_json::to_string(&old) else {
        return unavailable(StoreError::Unavailable);
    };
    if let Err(e) = store.put(&digest.kv_key(), &text, None).await {
        return unavailable(e);
    }
    ctx.cache.invalidate(&digest);
    issued_reply(&issued)
}

/// Compare a presented admin token with the configured one in constant time: both are hashed
/// first, so neither the content nor the length leaks through timing.
#[must_use]
pub fn admin_token_matches(presented: &str, configured: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    if configured.is_empty() {
        return false;
    }
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(configured.as_bytes());
    bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_comparison() {
        assert!(admin_token_matches("s3cret-token", "s3cret-token"));
        assert!(!admin_token_matches("s3cret-tokeN", "s3cret-token"));
        assert!(!admin_token_matches("s3cret", "s3cret-token"));
        assert!(!admin_token_matches("", "s3cret-token"));
        assert!(
            !admin_token_matches("", ""),
            "an empty configured token never matches"
        );
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param(Some("subject=a%40b.c&x=1"), "subject").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(query_param(Some("x=1"), "subject"), None);
        assert_eq!(query_param(None, "subject"), None);
    }
}
