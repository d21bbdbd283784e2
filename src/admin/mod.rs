//! The admin API and PAT self-service, as pure request → reply logic over [`KeyStore`].
//! Who the caller is (admin token, admin-scoped JWT, user JWT) is decided before this module
//! runs; here every endpoint checks that the caller may use it. Tokens appear only in the reply
//! that creates them; hashes never appear at all. Records are read and written through
//! [`KeyRepository`] (the one owner of the KV schema); this module never names a KV key.

use crate::reason::Reason;
mod validate;

use serde_json::{json, Value};

use crate::keys::format::random_base62;
use crate::keys::repository::Indexed;
use crate::keys::{
    pat_issuer, KeyCache, KeyKind, KeyRecord, KeyRepository, KeySettings, KeyStatus, Listing,
    TokenDigest,
};
use crate::ports::{Fill, KeyStore, NoEntropy, StoreError, KV_BINDING};
use crate::problem::Problem;
use crate::state::Change;
use crate::time::UnixTime;

pub use validate::{CreateKey, CreatePat, Import, RevokePrincipal, RevokeToken, Roll, UpdateKey};

/// Largest request body the admin API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Keys per listing page unless `limit` says otherwise, and the most `limit` may ask for.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// Who is calling (sent to the authority as JSON: the Worker authenticates, the object trusts
/// the binding).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminCaller {
    /// `ADMIN_TOKEN`, or a JWT with the configured admin scope.
    Admin,
    /// A user with a verified JWT: may manage the PATs of their principal (issuer, subject).
    User {
        issuer: String,
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
    /// The configured issuer when there is exactly one (owner of PATs stored without one).
    pub sole_issuer: Option<&'a str>,
    /// True for a configured issuer.
    pub is_issuer: &'a dyn Fn(&str) -> bool,
    pub cache: &'a KeyCache,
    pub now: UnixTime,
    /// The randomness port (the platform CSPRNG); minting refuses when it fails.
    pub fill: &'a mut Fill<'a>,
    /// The mutations made, for the authority's audit log and revocation feed.
    pub changes: Vec<Change>,
    /// True inside the authority (the `AUTH_STATE` object): the endpoints that need its audit
    /// log and feed (principal and token revocation) work only there.
    pub state_tier: bool,
}

fn bad_request(detail: impl Into<String>) -> AdminReply {
    AdminReply::Problem(Problem::invalid_admin_request(detail))
}

fn not_found() -> AdminReply {
    AdminReply::Problem(Problem::no_such_key())
}

fn unavailable(e: StoreError) -> AdminReply {
    match e {
        StoreError::NotBound => AdminReply::Problem(Problem::kv_not_bound(KV_BINDING)),
        StoreError::Unavailable => AdminReply::Problem(Problem::unavailable(
            Reason::KvUnavailable,
            5,
            "The key store is not answering; try again.",
        )),
    }
}

fn unauthorized() -> AdminReply {
    AdminReply::Problem(Problem::missing_credential())
}

fn forbidden(detail: &'static str) -> AdminReply {
    AdminReply::Problem(Problem::forbidden(detail))
}

fn method_not_allowed() -> AdminReply {
    AdminReply::Problem(Problem::method_not_allowed())
}

/// Handle one admin request.
pub async fn handle<S: KeyStore>(
    req: AdminRequest<'_>,
    caller: &AdminCaller,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    if req.body.len() > MAX_BODY_BYTES {
        return AdminReply::Problem(Problem::body_too_large());
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
            "GET" => match ListQuery::parse(req.query) {
                Ok(q) => list(&q, None, ctx, store).await,
                Err(detail) => bad_request(detail),
            },
            _ => method_not_allowed(),
        },
        // Copying KV's records into the authority is carried out by the object itself (the
        // Worker sends it there); without the state tier there is nothing to copy into.
        (["keys", "adopt"], _) if !ctx.state_tier => AdminReply::Problem(Problem::state_not_bound()),
        (["keys", "import"], _) => match req.method {
            "POST" => import(req.body, ctx, store).await,
            _ => method_not_allowed(),
        },
        (["keys", id], _) => match req.method {
            "GET" => get_one(id, None, ctx, store).await,
            "DELETE" => revoke(id, None, ctx, store).await,
            "PATCH" => update(id, req.body, ctx, store).await,
            _ => method_not_allowed(),
        },
        // Usage is read from the counter objects by the Worker (src/edge/limits.rs); without the
        // state tier there are no counters.
        (["keys", _, "usage"], _) => AdminReply::Problem(Problem::state_not_bound()),
        (["keys", id, "roll"], _) => match req.method {
            "POST" => roll(id, req.body, ctx, store).await,
            _ => method_not_allowed(),
        },
        // The audit log lives in the authority (`state::authority` serves it there).
        (["audit"], AdminCaller::Anonymous) => unauthorized(),
        (["audit"], _) => AdminReply::Problem(Problem::state_not_bound()),
        (["principals", "revoke"] | ["tokens", "revoke"], AdminCaller::Anonymous) => unauthorized(),
        (["principals", "revoke"] | ["tokens", "revoke"], AdminCaller::User { .. }) => {
            forbidden("The admin API needs the admin token or an admin-scoped token.")
        }
        (["principals", "revoke"] | ["tokens", "revoke"], _) if !ctx.state_tier => {
            AdminReply::Problem(Problem::state_not_bound())
        }
        (["principals", "revoke"], _) => match req.method {
            "POST" => revoke_principal(req.body, ctx, store).await,
            _ => method_not_allowed(),
        },
        (["tokens", "revoke"], _) => match req.method {
            "POST" => revoke_token(req.body, ctx),
            _ => method_not_allowed(),
        },
        (
            ["pats"],
            AdminCaller::User {
                issuer,
                subject,
                scopes,
            },
        ) => {
            let owner = Owner { issuer, subject };
            match req.method {
                "POST" => create_pat(req.body, owner, scopes, ctx, store).await,
                // A subject that cannot own PATs (see `validate::subject`) has none to list.
                "GET" if validate::subject("sub", subject).is_err() => AdminReply::Json {
                    status: 200,
                    body: json!({ "subject": subject, "keys": [] }),
                },
                "GET" => match ListQuery::parse(req.query) {
                    Ok(mut q) => {
                        q.subject = Some(subject.clone());
                        q.kind = Some(KeyKind::Pat);
                        list(&q, Some(owner), ctx, store).await
                    }
                    Err(detail) => bad_request(detail),
                },
                _ => method_not_allowed(),
            }
        }
        (["pats", id], AdminCaller::User {
            issuer, subject, ..
        }) => {
            let owner = Owner { issuer, subject };
            match req.method {
                "GET" => get_one(id, Some(owner), ctx, store).await,
                "DELETE" => revoke(id, Some(owner), ctx, store).await,
                _ => method_not_allowed(),
            }
        }
        _ => AdminReply::Problem(Problem::no_such_endpoint()),
    }
}

/// The principal a self-service call acts for.
#[derive(Clone, Copy, Debug)]
struct Owner<'a> {
    issuer: &'a str,
    subject: &'a str,
}

impl Owner<'_> {
    /// True when `index` (and so its key) belongs to this principal: a PAT of the same subject
    /// whose issuer, or for a PAT stored without one the only configured issuer, is this one.
    fn owns(&self, kind: KeyKind, subject: &str, issuer: Option<&str>, sole: Option<&str>) -> bool {
        kind == KeyKind::Pat
            && subject == self.subject
            && pat_issuer(issuer, sole) == Some(self.issuer)
    }
}

/// `GET /keys` and `GET /pats` query: page and filters.
#[derive(Clone, Debug, Default)]
struct ListQuery {
    cursor: Option<String>,
    limit: u32,
    subject: Option<String>,
    issuer: Option<String>,
    kind: Option<KeyKind>,
    status: Option<KeyStatus>,
    /// Keys whose name starts with this.
    name_prefix: Option<String>,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<Self, String> {
        let limit = match query_param(query, "limit") {
            None => DEFAULT_PAGE,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "\"limit\" must be a whole number from 1 to {MAX_PAGE}."
                    ))
                }
            },
        };
        let kind = match query_param(query, "kind").as_deref() {
            None => None,
            Some("api_key") => Some(KeyKind::ApiKey),
            Some("pat") => Some(KeyKind::Pat),
            Some(_) => return Err("\"kind\" must be \"api_key\" or \"pat\".".into()),
        };
        let status = match query_param(query, "status").as_deref() {
            None => None,
            Some("active") => Some(KeyStatus::Active),
            Some("revoked") => Some(KeyStatus::Revoked),
            Some("expired") => Some(KeyStatus::Expired),
            Some(_) => {
                return Err("\"status\" must be \"active\", \"revoked\" or \"expired\".".into())
            }
        };
        let subject = query_param(query, "subject");
        if let Some(s) = &subject {
            validate::subject("subject", s)?;
        }
        let cursor = query_param(query, "cursor").filter(|c| !c.is_empty());
        if cursor.as_ref().is_some_and(|c| c.len() > 1024) {
            return Err("\"cursor\" is not a cursor this API returned.".into());
        }
        Ok(ListQuery {
            cursor,
            limit,
            subject,
            issuer: query_param(query, "issuer"),
            kind,
            status,
            name_prefix: query_param(query, "name_prefix").filter(|p| !p.is_empty()),
        })
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
        "issuer": record.issuer,
        "name": record.name,
        "scopes": record.scopes,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "last_used_at": last_used_at,
        "start": record.start,
        "status": record.status(now).as_str(),
        "limits": record.limits,
        // As stored: `set_at` is Unix milliseconds (it orders the changes of a balance).
        "credits": record.credits,
        // The key whose counters it spends (after a roll, the chain's first); and its successor.
        "meter": record.meter(),
        "rolled_to": record.rolled_to,
    })
}

struct Issued {
    token: String,
    record: KeyRecord,
    digest: TokenDigest,
}

impl Issued {
    fn created(&self) -> Change {
        Change::Created {
            id: self.record.id.clone(),
            kind: self.record.kind,
            subject: self.record.subject.clone(),
            issuer: self.record.issuer.clone(),
            digest: self.digest,
        }
    }
}

/// Mint a token and write its three records (id and subject index first, so a key that works is
/// always one the admin API can find and revoke).
#[allow(clippy::too_many_arguments)]
async fn issue<S: KeyStore>(
    kind: KeyKind,
    subject: &str,
    issuer: Option<&str>,
    name: &str,
    scopes: Vec<String>,
    expires_at: Option<u64>,
    quota: crate::limits::KeyQuota,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> Result<Issued, AdminReply> {
    let format = &ctx.settings.format;
    let (Ok(token), Ok(id)) = (
        format.generate(kind, ctx.fill),
        random_base62(16, ctx.fill).map(|r| format!("key_{r}")),
    ) else {
        return Err(AdminReply::Problem(Problem::no_entropy()));
    };
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
        issuer: issuer.map(str::to_string),
        limits: quota.limits,
        credits: quota.credits.map(Box::new),
        rolled_to: None,
        meter: quota.meter,
    };
    KeyRepository::new(store)
        .write_key(&digest, &record)
        .await
        .map_err(unavailable)?;
    ctx.cache.invalidate(&digest);
    Ok(Issued {
        token,
        record,
        digest,
    })
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
            "issuer": r.issuer,
            "name": r.name,
            "scopes": r.scopes,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "start": r.start,
            "limits": r.limits,
            "credits": r.credits,
        }),
    }
}

async fn create_key<S: KeyStore>(body: &[u8], ctx: &mut AdminContext<'_>, store: &S) -> AdminReply {
    let cmd = match CreateKey::parse(body, ctx.now, ctx.settings) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    // A PAT belongs to a principal (issuer, subject): named, or the only configured issuer.
    let issuer = match pat_issuer_of(cmd.kind, cmd.issuer.as_deref(), ctx, "issuer") {
        Ok(i) => i,
        Err(detail) => return bad_request(detail),
    };
    if let Some(iss) = issuer.as_deref() {
        if let Some(reply) = pat_cap_reached(
            Owner {
                issuer: iss,
                subject: &cmd.subject,
            },
            ctx,
            store,
        )
        .await
        {
            return reply;
        }
    }
    match issue(
        cmd.kind,
        &cmd.subject,
        issuer.as_deref(),
        &cmd.name,
        cmd.scopes,
        cmd.expires_at,
        cmd.quota,
        ctx,
        store,
    )
    .await
    {
        Ok(issued) => {
            ctx.changes.push(issued.created());
            issued_reply(&issued)
        }
        Err(reply) => reply,
    }
}

async fn create_pat<S: KeyStore>(
    body: &[u8],
    owner: Owner<'_>,
    caller_scopes: &[String],
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let cmd = match CreatePat::parse(body, ctx.now, ctx.settings) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    if validate::subject("sub", owner.subject).is_err() {
        return bad_request(
            "Your token's \"sub\" cannot own PATs: it must be at most 200 bytes, without control, bidirectional or invisible characters.",
        );
    }
    if let Some(extra) = cmd.scopes.iter().find(|s| !caller_scopes.contains(s)) {
        return AdminReply::Problem(Problem::scope_not_held(extra));
    }
    if let Some(reply) = pat_cap_reached(owner, ctx, store).await {
        return reply;
    }
    match issue(
        KeyKind::Pat,
        owner.subject,
        Some(owner.issuer),
        &cmd.name,
        cmd.scopes,
        Some(cmd.expires_at),
        crate::limits::KeyQuota::default(),
        ctx,
        store,
    )
    .await
    {
        Ok(issued) => {
            ctx.changes.push(issued.created());
            issued_reply(&issued)
        }
        Err(reply) => reply,
    }
}

/// 409 when `owner` already holds `keys.pat_max_active` active PATs; 429 when it created
/// `keys.pat_max_created_per_hour` PATs (revoked ones included) in the last hour. Counts from the
/// subject's index listing (`KeyRepository::list_index`: each entry's summary), one list call per
/// 1,000 keys of the subject's history. A summary can overstate (a creation whose record write
/// failed after its index entry, a revocation whose summary rewrite failed), never understate,
/// so the keys behind active summaries are read only before refusing: at most two reads per
/// active PAT, on the refusal path alone. An entry that cannot tell (written by an older
/// version) is read when met. KV is eventually consistent, so two creations racing in two
/// locations can both pass; the state tier makes this exact.
async fn pat_cap_reached<S: KeyStore>(
    owner: Owner<'_>,
    ctx: &AdminContext<'_>,
    store: &S,
) -> Option<AdminReply> {
    let cap = ctx.settings.pat_max_active;
    let per_hour = ctx.settings.pat_max_created_per_hour;
    let hour_ago = ctx.now.0.saturating_sub(3_600);
    // PATs created within the hour, and the oldest of them (the cap frees a slot an hour after).
    let mut recent = 0usize;
    let mut oldest_recent = ctx.now.0;
    let mut cursor: Option<String> = None;
    // Active PATs whose record was read, and those active by their summary alone.
    let mut active = 0usize;
    let mut unconfirmed: Vec<String> = Vec::new();
    let repo = KeyRepository::new(store);
    loop {
        let page = match repo
            .list_index(owner.subject, cursor.as_deref(), MAX_PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => return Some(unavailable(e)),
        };
        for entry in &page.entries {
            let (created_at, status, read) = match entry.for_pat_owner(owner.issuer) {
                Indexed::Pat(summary) => (summary.created_at, summary.status(ctx.now), false),
                Indexed::NotOwned => continue,
                Indexed::Unknown => match active_record(&entry.id, owner, ctx, store).await {
                    Ok(Some(record)) => (record.created_at, record.status(ctx.now), true),
                    Ok(None) => continue,
                    Err(e) => return Some(unavailable(e)),
                },
            };
            if created_at > hour_ago {
                recent += 1;
                oldest_recent = oldest_recent.min(created_at);
            }
            if status == KeyStatus::Active {
                if read {
                    active += 1;
                } else {
                    unconfirmed.push(entry.id.clone());
                }
            }
            if active + unconfirmed.len() >= cap {
                for id in unconfirmed.drain(..) {
                    match active_record(&id, owner, ctx, store).await {
                        Ok(Some(record)) if record.status(ctx.now) == KeyStatus::Active => {
                            active += 1;
                        }
                        Ok(_) => {}
                        Err(e) => return Some(unavailable(e)),
                    }
                }
                if active >= cap {
                    return Some(AdminReply::Problem(Problem::pat_limit_reached(cap)));
                }
            }
            if recent >= per_hour {
                let retry_after = oldest_recent
                    .saturating_add(3_600)
                    .saturating_sub(ctx.now.0)
                    .max(1);
                return Some(AdminReply::Problem(Problem::pat_creation_rate(
                    per_hour,
                    retry_after,
                )));
            }
        }
        cursor = page.cursor;
        cursor.as_ref()?;
    }
}

/// The record of `owner`'s key `id`, if it has one.
async fn active_record<S: KeyStore>(
    id: &str,
    owner: Owner<'_>,
    ctx: &AdminContext<'_>,
    store: &S,
) -> Result<Option<KeyRecord>, StoreError> {
    Ok(load(id, Some(owner), ctx.sole_issuer, store)
        .await?
        .map(|(_, record)| record))
}

/// The issuer of the principal a record belongs to, for its audit rows: its own, or for a PAT
/// stored without one, the only configured issuer (whose user owns it, and whose audit view
/// filters on it).
fn owner_issuer(record: &KeyRecord, ctx: &AdminContext<'_>) -> Option<String> {
    match record.kind {
        KeyKind::ApiKey => record.issuer.clone(),
        KeyKind::Pat => pat_issuer(record.issuer.as_deref(), ctx.sole_issuer).map(str::to_string),
    }
}

/// The issuer a key made by the admin belongs to: none for an API key; for a PAT the `given`
/// one (a configured issuer), or the only configured issuer. `field` names it in the error.
fn pat_issuer_of(
    kind: KeyKind,
    given: Option<&str>,
    ctx: &AdminContext<'_>,
    field: &str,
) -> Result<Option<String>, String> {
    match (kind, given, ctx.sole_issuer) {
        (KeyKind::ApiKey, _, _) => Ok(None),
        (KeyKind::Pat, Some(iss), _) if (ctx.is_issuer)(iss) => Ok(Some(iss.to_string())),
        (KeyKind::Pat, Some(_), _) => Err(format!(
            "\"{field}\" must be one of the configured issuers."
        )),
        (KeyKind::Pat, None, Some(only)) => Ok(Some(only.to_string())),
        (KeyKind::Pat, None, None) => Err(format!(
            "\"{field}\" is required: a PAT belongs to (issuer, subject) and several issuers are configured."
        )),
    }
}

/// `POST /keys/import`: existing keys, known by the SHA-256 of their tokens (migrating from
/// another system without reissuing keys; the token is never sent). Every record is validated
/// before anything is written; a hash already stored is skipped (so an import can be re-run), an
/// `id` already taken by another key is a 409 before anything is written (one `id` twice in the
/// batch is a 400 from [`Import::parse`]). The reply lists the ids
/// in input order, never the hashes.
async fn import<S: KeyStore>(body: &[u8], ctx: &mut AdminContext<'_>, store: &S) -> AdminReply {
    let repo = KeyRepository::new(store);
    let cmd = match Import::parse(body, ctx.now, ctx.settings) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    // Resolve each PAT's issuer and check every id before the first write.
    let mut plan = Vec::with_capacity(cmd.keys.len());
    for (i, key) in cmd.keys.into_iter().enumerate() {
        let field = format!("keys[{i}].issuer");
        let issuer = match pat_issuer_of(key.kind, key.issuer.as_deref(), ctx, &field) {
            Ok(i) => i,
            Err(detail) => return bad_request(detail),
        };
        let Some(digest) = TokenDigest::from_hex(&key.hash) else {
            return bad_request(format!("\"keys[{i}].hash\" is not a SHA-256."));
        };
        let existing = match repo.record(&digest).await {
            Ok(found) => found,
            Err(e) => return unavailable(e),
        };
        if let Some(record) = existing {
            plan.push((None, record.id));
            continue;
        }
        if let Some(id) = &key.id {
            match repo.id_taken(id).await {
                Ok(true) => return AdminReply::Problem(Problem::id_taken(i)),
                Ok(false) => {}
                Err(e) => return unavailable(e),
            }
        }
        let id = match &key.id {
            Some(id) => id.clone(),
            None => match random_base62(16, ctx.fill) {
                Ok(r) => format!("key_{r}"),
                Err(NoEntropy) => return AdminReply::Problem(Problem::no_entropy()),
            },
        };
        plan.push((Some((digest, key, issuer)), id));
    }
    let mut imported = 0usize;
    let mut ids = Vec::with_capacity(plan.len());
    for (write, id) in plan {
        if let Some((digest, key, issuer)) = write {
            let record = KeyRecord {
                id: id.clone(),
                kind: key.kind,
                subject: key.subject.clone(),
                name: key.name,
                scopes: key.scopes,
                created_at: ctx.now.0,
                expires_at: key.expires_at,
                revoked_at: None,
                start: None,
                issuer: issuer.clone(),
                limits: Vec::new(),
                credits: None,
                rolled_to: None,
                meter: None,
            };
            if let Err(e) = repo.write_key(&digest, &record).await {
                return unavailable(e);
            }
            ctx.cache.invalidate(&digest);
            ctx.changes.push(Change::Imported {
                id: record.id.clone(),
                kind: record.kind,
                subject: record.subject.clone(),
                issuer: record.issuer.clone(),
                digest,
            });
            imported += 1;
        }
        ids.push(id);
    }
    let skipped = ids.len() - imported;
    AdminReply::Json {
        status: 200,
        body: json!({ "imported": imported, "skipped": skipped, "ids": ids }),
    }
}

/// The id record and key record for `id`, if `owner` (when given) owns it.
async fn load<S: KeyStore>(
    id: &str,
    owner: Option<Owner<'_>>,
    sole_issuer: Option<&str>,
    store: &S,
) -> Result<Option<(TokenDigest, KeyRecord)>, StoreError> {
    if !validate::is_key_id(id) {
        return Ok(None);
    }
    let repo = KeyRepository::new(store);
    let Some(index) = repo.id_record(id).await? else {
        return Ok(None);
    };
    if owner.is_some_and(|o| {
        !o.owns(
            index.kind,
            &index.subject,
            index.issuer.as_deref(),
            sole_issuer,
        )
    }) {
        return Ok(None);
    }
    let Some(digest) = TokenDigest::from_hex(&index.hash) else {
        return Ok(None);
    };
    let Some(record) = repo.record(&digest).await? else {
        return Ok(None);
    };
    // The record itself must agree with its index: a PAT is owned only by its own principal.
    if owner.is_some_and(|o| {
        !o.owns(
            record.kind,
            &record.subject,
            record.issuer.as_deref(),
            sole_issuer,
        )
    }) {
        return Ok(None);
    }
    Ok(Some((digest, record)))
}

async fn last_used<S: KeyStore>(id: &str, store: &S) -> Option<u64> {
    KeyRepository::new(store).last_used(id).await
}

async fn get_one<S: KeyStore>(
    id: &str,
    owner: Option<Owner<'_>>,
    ctx: &AdminContext<'_>,
    store: &S,
) -> AdminReply {
    match load(id, owner, ctx.sole_issuer, store).await {
        Ok(Some((_, record))) => {
            let used = last_used(id, store).await;
            AdminReply::Json {
                status: 200,
                body: metadata(&record, used, ctx.now),
            }
        }
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

/// Index or id names one listing call reads at most, whatever its `limit`: each costs up to
/// three reads (id record, key record, last use), and a Worker may make 1,000 KV operations per
/// request (Cloudflare's limit, paid plans included), so 300 names and the list call stay under
/// it. The page is then shorter than `limit`, with a `cursor`, as a filtered page already is.
const MAX_NAMES_PER_LISTING: u32 = 300;

/// One page of keys: by subject (its index), or every key (the id records); filters apply to
/// the page, so a page may hold fewer than `limit` keys while a `cursor` follows.
async fn list<S: KeyStore>(
    q: &ListQuery,
    owner: Option<Owner<'_>>,
    ctx: &AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let listing = match &q.subject {
        Some(subject) => Listing::Subject(subject),
        None => Listing::All,
    };
    let names = q.limit.min(MAX_NAMES_PER_LISTING);
    let page = match KeyRepository::new(store)
        .list(listing, q.cursor.as_deref(), names)
        .await
    {
        Ok(p) => p,
        Err(e) => return unavailable(e),
    };
    let mut items = Vec::new();
    for id in &page.ids {
        let record = match load(id, owner, ctx.sole_issuer, store).await {
            Ok(Some((_, record))) => record,
            Ok(None) => continue,
            Err(e) => return unavailable(e),
        };
        let wanted = q.kind.is_none_or(|k| k == record.kind)
            && q.status.is_none_or(|s| s == record.status(ctx.now))
            && q.issuer
                .as_deref()
                .is_none_or(|i| record.issuer.as_deref() == Some(i))
            && q.name_prefix
                .as_deref()
                .is_none_or(|p| record.name.starts_with(p));
        if wanted {
            let used = last_used(id, store).await;
            items.push(metadata(&record, used, ctx.now));
        }
    }
    let mut body = serde_json::Map::new();
    if let Some(subject) = &q.subject {
        body.insert("subject".into(), json!(subject));
    }
    body.insert("keys".into(), Value::Array(items));
    if let Some(cursor) = page.cursor {
        body.insert("cursor".into(), json!(cursor));
    }
    AdminReply::Json {
        status: 200,
        body: Value::Object(body),
    }
}

async fn revoke<S: KeyStore>(
    id: &str,
    owner: Option<Owner<'_>>,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let (digest, mut record) = match load(id, owner, ctx.sole_issuer, store).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    if let Err(e) = revoke_record(&digest, &mut record, ctx, store).await {
        return unavailable(e);
    }
    AdminReply::NoContent
}

/// Revoke one loaded record (sticky: a revoked record is never written back active; revoking it
/// again changes nothing and records nothing).
async fn revoke_record<S: KeyStore>(
    digest: &TokenDigest,
    record: &mut KeyRecord,
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> Result<(), StoreError> {
    if record.revoked_at.is_some() {
        // Revoked already: its summary may still say active (a rewrite that failed, or an
        // existence check KV answered stale). Saying so again is one read and one write.
        KeyRepository::new(store).refresh_index(record).await?;
    } else {
        record.revoked_at = Some(ctx.now.0);
        KeyRepository::new(store)
            .put_record_and_index(digest, record)
            .await?;
        ctx.changes.push(Change::Revoked {
            id: record.id.clone(),
            kind: record.kind,
            subject: record.subject.clone(),
            issuer: owner_issuer(record, ctx),
            at: ctx.now.0,
        });
    }
    ctx.cache.invalidate(digest);
    Ok(())
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
    let (digest, mut old) = match load(id, None, ctx.sole_issuer, store).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    if old.status(ctx.now) != KeyStatus::Active {
        return AdminReply::Problem(Problem::not_active());
    }
    // Rolled already, it is on its way out: a second roll (a retry, say) would leave one more
    // live successor, whose token nobody may hold. Roll the successor instead.
    if let Some(successor) = &old.rolled_to {
        return AdminReply::Problem(Problem::already_rolled(successor));
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
    let issuer = match old.kind {
        KeyKind::ApiKey => None,
        KeyKind::Pat => pat_issuer(old.issuer.as_deref(), ctx.sole_issuer).map(str::to_string),
    };
    // Through a grace both keys are live: a PAT roll with one is a creation for the PAT caps
    // (else a chain of rolls would hold any number of live PATs). Without one it replaces.
    if let (Some(iss), true) = (issuer.as_deref(), cmd.grace_seconds > 0) {
        let owner = Owner {
            issuer: iss,
            subject: &old.subject,
        };
        if let Some(reply) = pat_cap_reached(owner, ctx, store).await {
            return reply;
        }
    }
    let issued = match issue(
        old.kind,
        &old.subject.clone(),
        issuer.as_deref(),
        &old.name.clone(),
        old.scopes.clone(),
        expires_at,
        // The new key keeps the limits, the credits definition as set (its `set_at` too, so the
        // counter object does not start the balance over) and the counters: it spends from the
        // chain's first key's object, whatever the old key left there.
        crate::limits::KeyQuota {
            limits: old.limits.clone(),
            credits: old.credits.as_deref().cloned(),
            meter: Some(old.meter().to_string()),
        },
        ctx,
        store,
    )
    .await
    {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    let grace_end = ctx.now.plus(cmd.grace_seconds).0;
    old.expires_at = Some(old.expires_at.map_or(grace_end, |e| e.min(grace_end)));
    old.rolled_to = Some(issued.record.id.clone());
    if let Err(e) = KeyRepository::new(store)
        .put_record_and_index(&digest, &old)
        .await
    {
        return unavailable(e);
    }
    ctx.cache.invalidate(&digest);
    ctx.changes.push(Change::Rolled {
        id: old.id.clone(),
        new_id: issued.record.id.clone(),
        kind: old.kind,
        subject: old.subject.clone(),
        issuer: owner_issuer(&old, ctx),
        grace_end: old.expires_at.unwrap_or(grace_end),
        new_digest: issued.digest,
    });
    issued_reply(&issued)
}

/// `PATCH /keys/{id}`: change a key's name and scopes (its token, subject, issuer and times stay).
/// A scope change reaches every isolate within the revocation bound through the feed (each
/// re-reads the record from the authority); without the state tier it takes KV's latency.
async fn update<S: KeyStore>(
    id: &str,
    body: &[u8],
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let cmd = match UpdateKey::parse(body, ctx.now) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    let (digest, mut record) = match load(id, None, ctx.sole_issuer, store).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(e),
    };
    let mut fields = Vec::new();
    if let Some(name) = cmd.name.filter(|n| *n != record.name) {
        record.name = name;
        fields.push("name");
    }
    let scopes_changed = cmd.scopes.as_ref().is_some_and(|s| *s != record.scopes);
    if let Some(scopes) = cmd.scopes.filter(|_| scopes_changed) {
        record.scopes = scopes;
        fields.push("scopes");
    }
    if let Some(limits) = cmd.limits.filter(|l| *l != record.limits) {
        record.limits = limits;
        fields.push("limits");
    }
    // Credits sent are always a change: they set the balance anew (`set_at` is now).
    if let Some(credits) = cmd.credits {
        // Each change is later than the last, even within one millisecond of it: the counter
        // object starts over only from a later `set_at`.
        let previous = record.credits.as_ref().map_or(0, |c| c.set_at);
        record.credits = credits.map(|c| {
            Box::new(crate::limits::StoredCredits {
                set_at: c.set_at.max(previous.saturating_add(1)),
                ..c
            })
        });
        fields.push("credits");
    }
    // What decides admission must reach every isolate within the bound, not KV's latency.
    let scopes_changed =
        scopes_changed || fields.contains(&"limits") || fields.contains(&"credits");
    if !fields.is_empty() {
        if let Err(e) = KeyRepository::new(store).put_record(&digest, &record).await {
            return unavailable(e);
        }
        ctx.cache.invalidate(&digest);
        ctx.changes.push(Change::Updated {
            id: record.id.clone(),
            kind: record.kind,
            subject: record.subject.clone(),
            issuer: owner_issuer(&record, ctx),
            fields,
            scopes_changed,
        });
    }
    let used = last_used(id, store).await;
    AdminReply::Json {
        status: 200,
        body: metadata(&record, used, ctx.now),
    }
}

/// `POST /principals/revoke` (authority only): revoke every key and PAT of (issuer, subject)
/// made at or before `before` (default now), and publish the cut-off so every JWT of the principal
/// issued before it is refused too ("sign out everywhere").
async fn revoke_principal<S: KeyStore>(
    body: &[u8],
    ctx: &mut AdminContext<'_>,
    store: &S,
) -> AdminReply {
    let cmd = match validate::RevokePrincipal::parse(body, ctx.now) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    if let Some(iss) = cmd.issuer.as_deref() {
        if !(ctx.is_issuer)(iss) {
            return bad_request("\"issuer\" must be one of the configured issuers.");
        }
    }
    // The principal's index, and for PATs stored before principals were issuer-qualified, the
    // subject's untagged entries (their records say which issuer they belong to).
    // Entries whose summary rules them out are not read (`spared_by_principal_revocation`), so a
    // call that stops at a store error (in KV alone, the Workers limit of 1,000 KV operations
    // per request) is finished by calling again: what it revoked is skipped without reads.
    let mut cursor: Option<String> = None;
    let mut revoked = Vec::new();
    loop {
        let page = match KeyRepository::new(store)
            .list_index(&cmd.subject, cursor.as_deref(), MAX_PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => return unavailable(e),
        };
        for entry in &page.entries {
            if entry.spared_by_principal_revocation(cmd.issuer.as_deref(), cmd.before) {
                continue;
            }
            let (digest, mut record) = match load(&entry.id, None, None, store).await {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(e) => return unavailable(e),
            };
            let issuer = match record.kind {
                KeyKind::ApiKey => None,
                KeyKind::Pat => pat_issuer(record.issuer.as_deref(), ctx.sole_issuer),
            };
            if record.subject != cmd.subject
                || issuer != cmd.issuer.as_deref()
                || record.created_at > cmd.before
                || record.revoked_at.is_some()
            {
                continue;
            }
            if let Err(e) = revoke_record(&digest, &mut record, ctx, store).await {
                return unavailable(e);
            }
            revoked.push(record.id.clone());
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    // The per-key changes are summed up in the principal's one audit row.
    ctx.changes.retain(|c| !matches!(c, Change::Revoked { .. }));
    ctx.changes.push(Change::PrincipalRevoked {
        issuer: cmd.issuer.clone(),
        subject: cmd.subject.clone(),
        before: cmd.before,
        keys: revoked.clone(),
    });
    AdminReply::Json {
        status: 200,
        body: json!({
            "issuer": cmd.issuer,
            "subject": cmd.subject,
            "before": cmd.before,
            "revoked_keys": revoked,
        }),
    }
}

/// `POST /tokens/revoke` (authority only): one JWT, by (issuer, jti), until its `exp` plus the
/// largest clock leeway (the token verifies that long past `exp`).
fn revoke_token(body: &[u8], ctx: &mut AdminContext<'_>) -> AdminReply {
    let cmd = match validate::RevokeToken::parse(body, ctx.now) {
        Ok(c) => c,
        Err(detail) => return bad_request(detail),
    };
    if !(ctx.is_issuer)(&cmd.issuer) {
        return bad_request("\"issuer\" must be one of the configured issuers.");
    }
    // "Already expired" only once no leeway could accept the token: until then it is recorded.
    let expired = crate::state::feed::token_revocation_until(cmd.exp) <= ctx.now.0;
    if !expired {
        ctx.changes.push(Change::TokenRevoked {
            issuer: cmd.issuer.clone(),
            jti: cmd.jti.clone(),
            exp: cmd.exp,
        });
    }
    AdminReply::Json {
        status: 200,
        body: json!({
            "issuer": cmd.issuer,
            "jti": cmd.jti,
            "exp": cmd.exp,
            "already_expired": expired,
        }),
    }
}

/// `POST /keys/adopt` (state tier): who may ask, and the cursor to continue from. The copy itself
/// is the authority's storage work (the shell copies KV's records verbatim).
pub fn adopt_request(
    caller: &AdminCaller,
    method: &str,
    query: Option<&str>,
) -> Result<Option<String>, AdminReply> {
    match caller {
        AdminCaller::Anonymous => Err(unauthorized()),
        AdminCaller::User { .. } => Err(forbidden(
            "The admin API needs the admin token or an admin-scoped token.",
        )),
        AdminCaller::Admin if method != "POST" => Err(method_not_allowed()),
        AdminCaller::Admin => Ok(query_param(query, "cursor").filter(|c| !c.is_empty())),
    }
}

/// `GET {admin_path}/keys/{id}/usage` through the state tier: `Ok(Some(id))` when `path` asks
/// for it and the caller may; `Ok(None)` for every other path.
pub fn usage_request(
    caller: &AdminCaller,
    method: &str,
    path: &str,
) -> Result<Option<String>, AdminReply> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["keys", id, "usage"] = segments.as_slice() else {
        return Ok(None);
    };
    match caller {
        AdminCaller::Anonymous => Err(unauthorized()),
        AdminCaller::User { .. } => Err(forbidden(
            "The admin API needs the admin token or an admin-scoped token.",
        )),
        AdminCaller::Admin if method != "GET" => Err(method_not_allowed()),
        AdminCaller::Admin if !validate::is_key_id(id) => Err(not_found()),
        AdminCaller::Admin => Ok(Some((*id).to_string())),
    }
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
