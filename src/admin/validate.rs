//! Admin request bodies → validated commands. Errors are plain sentences naming the field; they
//! never echo a token or a secret (bodies here carry neither).

use serde::Deserialize;

use crate::limits::{
    validate_credits, validate_limits, CreditsDef, KeyQuota, LimitDef, StoredCredits,
};

use crate::identity::is_scope_token;
use crate::keys::{KeyKind, KeySettings, MAX_SUBJECT_BYTES};
use crate::time::UnixTime;

/// Longest expiry accepted anywhere: ten years.
const MAX_LIFETIME_SECONDS: u64 = 10 * 365 * 86_400;
/// Shortest: a minute (KV cannot expire entries sooner anyway).
const MIN_LIFETIME_SECONDS: u64 = 60;
const MAX_SCOPES: usize = 64;
const MAX_TEXT: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCreateKey {
    kind: String,
    subject: String,
    /// PATs: the issuer of the principal (default: the only configured issuer).
    #[serde(default)]
    issuer: Option<String>,
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expires_in: Option<u64>,
    expires_at: Option<u64>,
    #[serde(default)]
    limits: Option<Vec<LimitDef>>,
    #[serde(default)]
    credits: Option<CreditsDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCreatePat {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expires_in: Option<u64>,
    expires_at: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImportKey {
    hash: String,
    #[serde(default)]
    id: Option<String>,
    kind: String,
    subject: String,
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    expires_at: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImport {
    keys: Vec<RawImportKey>,
}

/// A key's public id as the admin API accepts it: 1-64 letters, digits or `_`.
#[must_use]
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Most keys one `POST /keys/import` takes (the 16 KiB body cap allows about this many).
pub const MAX_IMPORT: usize = 100;

/// One key of `POST /keys/import`: an existing key known only by the SHA-256 of its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportKey {
    /// Lowercase hex SHA-256 of the token.
    pub hash: String,
    pub id: Option<String>,
    pub kind: KeyKind,
    pub subject: String,
    /// PATs: `issuer`, or the only configured issuer (resolved by the handler).
    pub issuer: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<u64>,
}

/// `POST /keys/import`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub keys: Vec<ImportKey>,
}

impl Import {
    /// Every key valid or none: an error names `keys[i].field`.
    pub fn parse(body: &[u8], now: UnixTime, settings: &KeySettings) -> Result<Self, String> {
        let raw: RawImport = json(body)?;
        if raw.keys.is_empty() || raw.keys.len() > MAX_IMPORT {
            return Err(format!("\"keys\" must hold 1 to {MAX_IMPORT} keys."));
        }
        let mut keys: Vec<ImportKey> = Vec::with_capacity(raw.keys.len());
        for (i, k) in raw.keys.into_iter().enumerate() {
            let at = |field: &str| format!("keys[{i}].{field}");
            let hex = k.hash.len() == 64
                && k.hash
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !hex {
                return Err(format!(
                    "\"{}\" must be 64 lowercase hex digits: the SHA-256 of the whole token.",
                    at("hash")
                ));
            }
            if keys.iter().any(|other| other.hash == k.hash) {
                return Err(format!("\"{}\" appears twice in this import.", at("hash")));
            }
            let kind = match k.kind.as_str() {
                "api_key" => KeyKind::ApiKey,
                "pat" => KeyKind::Pat,
                _ => {
                    return Err(format!(
                        "\"{}\" must be \"api_key\" or \"pat\".",
                        at("kind")
                    ))
                }
            };
            if let Some(id) = &k.id {
                if !is_key_id(id) {
                    return Err(format!(
                        "\"{}\" must be 1-64 letters, digits or \"_\".",
                        at("id")
                    ));
                }
                // Two records with one id: `id:<id>` would name only the last, so revoking the
                // id would leave the other active and unlisted. The store's ids are checked by
                // the handler; this batch's own are checked here.
                if keys.iter().any(|other| other.id.as_ref() == Some(id)) {
                    return Err(format!("\"{}\" appears twice in this import.", at("id")));
                }
            }
            subject(&at("subject"), &k.subject)?;
            if kind == KeyKind::ApiKey && k.issuer.is_some() {
                return Err(format!(
                    "\"{}\" is for PATs: API keys have no issuer.",
                    at("issuer")
                ));
            }
            if k.expires_at.is_some_and(|t| t <= now.0) {
                return Err(format!("\"{}\" is in the past.", at("expires_at")));
            }
            // The lifetimes a key made here may have bound an imported one too (a PAT beyond
            // `keys.pat_max_lifetime_seconds` would outlive what the operator allows).
            let max = match kind {
                KeyKind::ApiKey => MAX_LIFETIME_SECONDS,
                KeyKind::Pat => settings.pat_max_lifetime_seconds,
            };
            if k.expires_at.is_some_and(|t| t.saturating_sub(now.0) > max) {
                return Err(format!(
                    "\"{}\" must be at most {max} seconds away.",
                    at("expires_at")
                ));
            }
            if kind == KeyKind::Pat && k.expires_at.is_none() {
                return Err(format!(
                    "\"{}\" is required: PATs always expire.",
                    at("expires_at")
                ));
            }
            keys.push(ImportKey {
                hash: k.hash,
                id: k.id,
                kind,
                subject: k.subject,
                issuer: k.issuer,
                name: text(&at("name"), k.name, true)?,
                scopes: scopes(k.scopes)?,
                expires_at: k.expires_at,
            });
        }
        Ok(Import { keys })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRoll {
    grace_seconds: Option<u64>,
}

/// `POST /keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateKey {
    pub kind: KeyKind,
    pub subject: String,
    pub issuer: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<u64>,
    /// The key's own limits and credits (`set_at` is the creation time).
    pub quota: KeyQuota,
}

/// `POST /pats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePat {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: u64,
}

/// `POST /keys/{id}/roll`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roll {
    pub grace_seconds: u64,
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            "The body must be a JSON object.".to_string()
        } else {
            json_error(&crate::json_path::error_path(body, &e), &e.to_string())
        }
    })
}

/// serde's message about a well-formed body that does not fit (`invalid type: string "x",
/// expected u64`) in JSON's words: the field, the JSON type it must have, and what was sent.
fn json_error(path: &str, message: &str) -> String {
    // serde_json appends " at line L column C"; the field name says where.
    let message = message
        .rfind(" at line ")
        .map_or(message, |i| message.get(..i).unwrap_or(message));
    if path == "." {
        if let Some(field) = backticked(message, "missing field `") {
            return format!("\"{field}\" is required.");
        }
        if let Some(rest) = message.strip_prefix("invalid type: ") {
            let sent = json_type(rest);
            return format!("Invalid body: it must be a JSON object, not {sent}.");
        }
        // serde reads a struct from an array too, and then counts its elements.
        if message.starts_with("invalid length") {
            return "Invalid body: it must be a JSON object, not an array.".into();
        }
        return "Invalid body: it must be a JSON object with the documented fields.".into();
    }
    if let Some(field) = backticked(message, "unknown field `") {
        return format!("Invalid field \"{field}\": this request has no such field.");
    }
    let expected = expected_json(path);
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return format!("\"{path}\" must be {expected}, not {}.", json_type(rest));
    }
    // `invalid value: integer `-1`, expected u64` and the like.
    format!("\"{path}\" must be {expected}.")
}

/// The text between `prefix` and the next backtick.
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// serde's "unexpected" category (the start of `rest`) as a JSON type, with an article.
fn json_type(rest: &str) -> &'static str {
    let kinds = [
        ("string", "a string"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("sequence", "an array"),
        ("map", "an object"),
        ("null", "null"),
        ("unit", "null"),
    ];
    kinds
        .iter()
        .find(|(k, _)| rest.starts_with(k))
        .map_or("another type", |(_, name)| name)
}

/// What a body field must be, in JSON's words.
fn expected_json(path: &str) -> &'static str {
    match path {
        "expires_in" | "grace_seconds" => "a whole number of seconds",
        "expires_at" => "a whole number (Unix seconds)",
        "scopes" => "an array of strings",
        // `kind`, `subject`, `issuer`, `name` and each `scopes[i]`.
        _ => "a string",
    }
}

/// Characters that make text display as something else: bidirectional overrides and isolates
/// (`"\u{202e}nimda"` displays as "admin"), zero-width and invisible formatting characters.
fn is_misleading(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// `value` as a stored name: at most `max` bytes, no control or misleading characters.
fn text_within(
    field: &str,
    value: String,
    allow_empty: bool,
    max: usize,
) -> Result<String, String> {
    if (!allow_empty && value.is_empty()) || value.len() > max {
        let low = usize::from(!allow_empty);
        return Err(format!("\"{field}\" must be {low}-{max} bytes of UTF-8."));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("\"{field}\" must not contain control characters."));
    }
    if value.chars().any(is_misleading) {
        return Err(format!(
            "\"{field}\" must not contain bidirectional overrides or invisible characters."
        ));
    }
    Ok(value)
}

fn text(field: &str, value: String, allow_empty: bool) -> Result<String, String> {
    text_within(field, value, allow_empty, MAX_TEXT)
}

/// A subject keys can be stored for (see [`MAX_SUBJECT_BYTES`]): also what a user's JWT `sub`
/// must be to own PATs.
///
/// # Errors
/// A sentence naming `field` and the rule.
pub fn subject(field: &str, value: &str) -> Result<(), String> {
    text_within(field, value.to_string(), false, MAX_SUBJECT_BYTES).map(|_| ())
}

fn scopes(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.len() > MAX_SCOPES {
        return Err(format!("At most {MAX_SCOPES} scopes."));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !is_scope_token(&s) {
            return Err("Each scope must be a non-empty token without spaces or quotes.".into());
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Resolve `expires_in` / `expires_at` into an absolute time, within `max_lifetime`.
fn expiry(
    expires_in: Option<u64>,
    expires_at: Option<u64>,
    now: UnixTime,
    max_lifetime: u64,
) -> Result<Option<u64>, String> {
    let at = match (expires_in, expires_at) {
        (Some(_), Some(_)) => {
            return Err("Give either \"expires_in\" or \"expires_at\", not both.".into())
        }
        (None, None) => return Ok(None),
        (Some(seconds), None) => now
            .0
            .checked_add(seconds)
            .ok_or("\"expires_in\" is too large.")?,
        (None, Some(at)) => at,
    };
    let lifetime = at.saturating_sub(now.0);
    if at <= now.0 || lifetime < MIN_LIFETIME_SECONDS {
        return Err(format!(
            "The expiry must be at least {MIN_LIFETIME_SECONDS} seconds in the future."
        ));
    }
    if lifetime > max_lifetime {
        return Err(format!(
            "The expiry must be at most {max_lifetime} seconds away."
        ));
    }
    Ok(Some(at))
}

impl CreateKey {
    pub fn parse(body: &[u8], now: UnixTime, settings: &KeySettings) -> Result<Self, String> {
        let raw: RawCreateKey = json(body)?;
        let kind = match raw.kind.as_str() {
            "api_key" => KeyKind::ApiKey,
            "pat" => KeyKind::Pat,
            _ => return Err("\"kind\" must be \"api_key\" or \"pat\".".into()),
        };
        let max = match kind {
            KeyKind::ApiKey => MAX_LIFETIME_SECONDS,
            KeyKind::Pat => settings.pat_max_lifetime_seconds,
        };
        let expires_at = expiry(raw.expires_in, raw.expires_at, now, max)?;
        if kind == KeyKind::Pat && expires_at.is_none() {
            return Err("A PAT needs \"expires_in\" or \"expires_at\".".into());
        }
        subject("subject", &raw.subject)?;
        if kind == KeyKind::ApiKey && raw.issuer.is_some() {
            return Err(
                "\"issuer\" is for PATs: API keys made by the admin have no issuer.".into(),
            );
        }
        let limits = limits(raw.limits.unwrap_or_default())?;
        let credits = raw.credits.map(|c| credits(c, now)).transpose()?;
        Ok(CreateKey {
            kind,
            subject: raw.subject,
            issuer: raw.issuer,
            name: text("name", raw.name, true)?,
            scopes: scopes(raw.scopes)?,
            expires_at,
            quota: KeyQuota {
                limits,
                credits,
                meter: None,
            },
        })
    }
}

impl CreatePat {
    pub fn parse(body: &[u8], now: UnixTime, settings: &KeySettings) -> Result<Self, String> {
        let raw: RawCreatePat = json(body)?;
        let expires_at = expiry(
            raw.expires_in,
            raw.expires_at,
            now,
            settings.pat_max_lifetime_seconds,
        )?
        .ok_or("A PAT needs \"expires_in\" or \"expires_at\".")?;
        Ok(CreatePat {
            name: text("name", raw.name, true)?,
            scopes: scopes(raw.scopes)?,
            expires_at,
        })
    }
}

impl Roll {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: RawRoll = if body.iter().all(u8::is_ascii_whitespace) {
            RawRoll::default()
        } else {
            json(body)?
        };
        let grace_seconds = raw.grace_seconds.unwrap_or(0);
        if grace_seconds > 30 * 86_400 {
            return Err("\"grace_seconds\" must be at most 30 days.".into());
        }
        Ok(Roll { grace_seconds })
    }
}

/// A key's own limits, checked (the field names the entry: `limits[1].period_seconds`).
fn limits(list: Vec<LimitDef>) -> Result<Vec<LimitDef>, String> {
    validate_limits(&list, 1).map_err(|e| format!("\"limits{}\" {}.", e.field, e.reason))?;
    Ok(list)
}

fn credits(def: CreditsDef, now: UnixTime) -> Result<StoredCredits, String> {
    validate_credits(&def).map_err(|e| format!("\"credits{}\" {}.", e.field, e.reason))?;
    Ok(StoredCredits::new(def, now.0.saturating_mul(1000)))
}

/// A field that may be sent as `null` (to clear it): absent → `None`, `null` → `Some(None)`.
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// `PATCH /keys/{id}`: `{"name"?, "scopes"?, "limits"?, "credits"?}` (at least one; `limits`
/// `[]` or `null` and `credits` `null` remove them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateKey {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub limits: Option<Vec<LimitDef>>,
    /// `Some(None)`: remove the key's credits.
    pub credits: Option<Option<StoredCredits>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdateKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    limits: Option<Option<Vec<LimitDef>>>,
    #[serde(default, deserialize_with = "nullable")]
    credits: Option<Option<CreditsDef>>,
}

impl UpdateKey {
    pub fn parse(body: &[u8], now: UnixTime) -> Result<Self, String> {
        let raw: RawUpdateKey = json(body)?;
        let name = raw.name.map(|n| text("name", n, false)).transpose()?;
        let scopes = raw.scopes.map(scopes).transpose()?;
        let limits = raw
            .limits
            .map(|l| limits(l.unwrap_or_default()))
            .transpose()?;
        let credits = raw
            .credits
            .map(|c| c.map(|c| credits(c, now)).transpose())
            .transpose()?;
        if name.is_none() && scopes.is_none() && limits.is_none() && credits.is_none() {
            return Err(
                "Send at least one of \"name\", \"scopes\", \"limits\", \"credits\".".into(),
            );
        }
        Ok(UpdateKey {
            name,
            scopes,
            limits,
            credits,
        })
    }
}

/// `POST /principals/revoke`: `{"issuer"?, "subject", "before"?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokePrincipal {
    /// Absent: the principal of admin-made API keys (they carry no issuer).
    pub issuer: Option<String>,
    pub subject: String,
    /// Unix seconds; credentials issued before it are revoked. Default: now.
    pub before: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevokePrincipal {
    #[serde(default)]
    issuer: Option<String>,
    subject: String,
    #[serde(default)]
    before: Option<u64>,
}

impl RevokePrincipal {
    pub fn parse(body: &[u8], now: UnixTime) -> Result<Self, String> {
        let raw: RawRevokePrincipal = json(body)?;
        subject("subject", &raw.subject)?;
        let issuer = match raw.issuer {
            Some(i) => Some(text_within("issuer", i, false, MAX_TEXT)?),
            None => None,
        };
        let before = raw.before.unwrap_or(now.0);
        if before > now.0 {
            return Err(
                "\"before\" must not be in the future: it revokes what was issued before it."
                    .into(),
            );
        }
        Ok(RevokePrincipal {
            issuer,
            subject: raw.subject,
            before,
        })
    }
}

/// Longest `jti` accepted for revocation.
pub const MAX_JTI_BYTES: usize = 256;
/// Latest `exp` accepted for a token revocation: a year from now (the feed keeps the entry
/// until `exp`).
const MAX_TOKEN_REVOCATION_SECONDS: u64 = 366 * 86_400;

/// `POST /tokens/revoke`: `{"issuer", "jti", "exp"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeToken {
    pub issuer: String,
    pub jti: String,
    pub exp: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevokeToken {
    issuer: String,
    jti: String,
    exp: u64,
}

impl RevokeToken {
    pub fn parse(body: &[u8], now: UnixTime) -> Result<Self, String> {
        let raw: RawRevokeToken = json(body)?;
        let issuer = text_within("issuer", raw.issuer, false, MAX_TEXT)?;
        let jti = text_within("jti", raw.jti, false, MAX_JTI_BYTES)?;
        if raw.exp > now.0.saturating_add(MAX_TOKEN_REVOCATION_SECONDS) {
            return Err("\"exp\" must be within a year from now (the token's own exp).".into());
        }
        Ok(RevokeToken {
            issuer,
            jti,
            exp: raw.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::RawKeySettings;

    /// `json`'s field (src/json_path.rs) is the one `serde_path_to_error` names, for every
    /// one-place break of a valid body of type `T`, compact and pretty-printed. The number of
    /// breaks refused.
    fn paths_agree<T: serde::de::DeserializeOwned>(valid: serde_json::Value) -> usize {
        let mut refused = 0;
        for doc in crate::json_path::breaks::broken(&valid) {
            for text in [
                doc.to_string(),
                serde_json::to_string_pretty(&doc).unwrap_or_default(),
            ] {
                let de = &mut serde_json::Deserializer::from_str(&text);
                let want = serde_path_to_error::deserialize::<_, T>(de)
                    .err()
                    .map(|e| e.path().to_string());
                let got = serde_json::from_str::<T>(&text)
                    .err()
                    .map(|e| crate::json_path::error_path(text.as_bytes(), &e));
                assert_eq!(want, got, "{text}");
                refused += usize::from(want.is_some());
            }
        }
        refused
    }

    #[test]
    fn every_body_names_the_field_serde_path_to_error_names() {
        use serde_json::json;
        let limits = json!([{ "name": "per-minute", "limit": 600, "period_seconds": 60, "by": "key",
            "cost": 2, "window": "sliding", "strict": false, "on_unavailable": "local" }]);
        let credits = json!({ "remaining": 100, "refill": { "amount": 10, "every_seconds": 60 } });
        let refused = paths_agree::<RawCreateKey>(json!({ "kind": "pat", "subject": "alice",
                "issuer": "https://issuer.example", "name": "ci", "scopes": ["read", "write"],
                "expires_in": 3600, "expires_at": null, "limits": limits, "credits": credits }))
            + paths_agree::<RawCreatePat>(
                json!({ "name": "ci", "scopes": ["read"], "expires_in": 60, "expires_at": 100 }),
            )
            + paths_agree::<RawImport>(
                json!({ "keys": [{ "hash": "ab", "id": "key_1", "kind": "api_key",
                "subject": "svc", "name": "n", "scopes": ["a"], "issuer": null, "expires_at": 5 }] }),
            )
            + paths_agree::<RawUpdateKey>(
                json!({ "name": "n", "scopes": ["a"], "limits": limits, "credits": credits }),
            )
            + paths_agree::<RawRevokePrincipal>(
                json!({ "issuer": "https://issuer.example", "subject": "alice", "before": 5 }),
            )
            + paths_agree::<RawRevokeToken>(
                json!({ "issuer": "https://issuer.example", "jti": "j", "exp": 5 }),
            );
        assert!(refused > 300, "only {refused} breaks were refused");
    }

    #[test]
    fn a_body_is_one_json_object_with_each_field_once() {
        let now = UnixTime(1_000);
        // Text after the object (a second object, say) is refused, not ignored.
        for body in [
            &br#"{"subject":"alice"} x"#[..],
            br#"{"subject":"alice"}{"subject":"bob"}"#,
        ] {
            assert_eq!(
                RevokePrincipal::parse(body, now).unwrap_err(),
                "The body must be a JSON object."
            );
        }
        // A field given twice names no field of its own: the body is what is wrong.
        let twice =
            RevokePrincipal::parse(br#"{"subject":"alice","subject":"bob"}"#, now).unwrap_err();
        assert!(!twice.contains("\"subject\""), "{twice}");
        assert!(twice.contains("JSON object"), "{twice}");
    }

    #[test]
    fn revocation_bodies_name_the_field() {
        let now = UnixTime(1_000);
        assert_eq!(
            RevokePrincipal::parse(br#"{"subject":"alice"}"#, now).unwrap(),
            RevokePrincipal {
                issuer: None,
                subject: "alice".into(),
                before: 1_000
            }
        );
        assert!(
            RevokePrincipal::parse(br#"{"subject":"a","before":1001}"#, now)
                .unwrap_err()
                .contains("\"before\"")
        );
        assert!(RevokePrincipal::parse(br#"{"issuer":"x"}"#, now)
            .unwrap_err()
            .contains("\"subject\""));
        assert!(RevokePrincipal::parse(br#"{"subject":""}"#, now)
            .unwrap_err()
            .contains("\"subject\""));
        assert!(
            RevokeToken::parse(br#"{"issuer":"i","jti":"","exp":5}"#, now)
                .unwrap_err()
                .contains("\"jti\"")
        );
        assert!(RevokeToken::parse(br#"{"issuer":"i","jti":"j"}"#, now)
            .unwrap_err()
            .contains("\"exp\""));
        assert!(
            RevokeToken::parse(br#"{"issuer":"i","jti":"j","exp":99999999999}"#, now)
                .unwrap_err()
                .contains("\"exp\"")
        );
        assert!(RevokeToken::parse(br#"{"issuer":"i","jti":"j","exp":5000}"#, now).is_ok());
    }

    fn settings() -> KeySettings {
        KeySettings::from_raw(RawKeySettings::default()).unwrap()
    }

    const NOW: UnixTime = UnixTime(1_000_000);

    fn create(body: &str) -> Result<CreateKey, String> {
        CreateKey::parse(body.as_bytes(), NOW, &settings())
    }

    #[test]
    fn a_valid_key_request() {
        let c = create(r#"{"kind":"api_key","subject":"svc","name":"ci","scopes":["read","read","write"],"expires_in":3600}"#).unwrap();
        assert_eq!(c.scopes, ["read", "write"]);
        assert_eq!(c.expires_at, Some(1_003_600));
        assert_eq!(
            create(r#"{"kind":"api_key","subject":"s","name":""}"#)
                .unwrap()
                .expires_at,
            None
        );
    }

    #[test]
    fn every_rule_has_a_clear_error() {
        let cases = [
            (r#"{"kind":"cookie","subject":"s","name":"n"}"#, "kind"),
            (r#"{"kind":"api_key","subject":"","name":"n"}"#, "subject"),
            (
                r#"{"kind":"api_key","subject":"a\u0000b","name":"n"}"#,
                "subject",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","scopes":"read"}"#,
                "scopes",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","scopes":[1]}"#,
                "scopes",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","scopes":["a b"]}"#,
                "scope",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","expires_in":10,"expires_at":2000000}"#,
                "either",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","expires_at":999999}"#,
                "future",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","expires_in":999999999999}"#,
                "at most",
            ),
            (
                r#"{"kind":"api_key","subject":"s","name":"n","admin":true}"#,
                "admin",
            ),
            (r#"{"kind":"pat","subject":"s","name":"n"}"#, "PAT needs"),
            (
                r#"{"kind":"pat","subject":"s","name":"n","expires_in":9999999}"#,
                "at most",
            ),
            ("not json", "JSON object"),
            ("[]", "Invalid"),
        ];
        for (body, needle) in cases {
            let err = create(body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn pats_and_rolls() {
        let p = CreatePat::parse(
            br#"{"name":"laptop","scopes":["read"],"expires_in":86400}"#,
            NOW,
            &settings(),
        )
        .unwrap();
        assert_eq!(p.expires_at, 1_086_400);
        assert!(CreatePat::parse(br#"{"name":"x","scopes":[]}"#, NOW, &settings()).is_err());
        assert!(CreatePat::parse(
            br#"{"name":"x","subject":"other","expires_in":100}"#,
            NOW,
            &settings()
        )
        .is_err());
        assert_eq!(Roll::parse(b"").unwrap().grace_seconds, 0);
        assert_eq!(
            Roll::parse(br#"{"grace_seconds":600}"#)
                .unwrap()
                .grace_seconds,
            600
        );
        assert!(Roll::parse(br#"{"grace_seconds":-1}"#).is_err());
        assert!(Roll::parse(br#"{"grace_seconds":99999999}"#).is_err());
    }

    #[test]
    fn subjects_and_names_that_mislead_or_cannot_be_stored_are_refused() {
        assert!(subject("subject", "alice@example.com").is_ok());
        assert!(subject("subject", "\u{202e}nimda").is_err());
        assert!(subject("subject", "ad\u{200b}min").is_err());
        assert!(subject("subject", "a\u{2066}b").is_err());
        assert!(subject("subject", "").is_err());
        assert!(subject("subject", &"s".repeat(MAX_SUBJECT_BYTES)).is_ok());
        let err = subject("subject", &"s".repeat(MAX_SUBJECT_BYTES + 1)).unwrap_err();
        assert!(err.contains("\"subject\""), "{err}");
        assert!(text("name", "caf\u{e9} \u{1f600}".into(), true).is_ok());
        assert!(text("name", "x\u{feff}".into(), true).is_err());
    }
}
