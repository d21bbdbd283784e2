//! Per-issuer claim mapping: where an issuer's tokens keep their scopes and client id
//! (`scope_claims`, `client_id_claims`), which token type it issues (`token_type`, RFC 9068),
//! which extra claims must hold fixed values (`required_claims`), and the explicit opt-in for
//! tokens without `aud` (`accept_without_audience`). Paths are validated and split into segments
//! at config time, so a request only walks maps: no parsing or allocation per path.
//!
//! Claim paths: a string is split on `.` (`realm_access.roles`); an array of strings gives the
//! segments literally, for claim names that contain dots (`["https://example.com/roles"]`). A
//! path has 1 to [`MAX_PATH_SEGMENTS`] non-empty segments and at most [`MAX_PATH_BYTES`] bytes,
//! without control characters. A path that the tokens never carry is accepted (it is absent).

use serde_json::{Map, Value};

/// Most segments a claim path may have (`resource_access.<client>.roles` has three).
pub const MAX_PATH_SEGMENTS: usize = 8;
/// Longest claim path, in bytes, counting one separator between segments.
pub const MAX_PATH_BYTES: usize = 256;
/// Most entries in `scope_claims`, `client_id_claims` or `required_claims`.
pub const MAX_PATHS: usize = 16;
/// Most client ids in `accept_without_audience.client_ids`.
pub const MAX_CLIENT_IDS: usize = 64;

/// Registered claims whose value is never an object (RFC 7519 §4.1): no path can go below them.
const SCALAR_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
/// Registered claims that are NumericDates: never scopes, never a client id.
const DATE_CLAIMS: [&str; 3] = ["exp", "nbf", "iat"];

/// A claim path as written: `"a.b"` or `["a", "b"]`. (Config fields stay `serde_json::Value`
/// and are read here: a dedicated serde shape per field costs wasm size for no better errors.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawClaimPath {
    Dotted(String),
    Segments(Vec<String>),
}

impl RawClaimPath {
    /// Reads a path from its JSON form.
    pub fn from_json(value: &Value) -> Result<RawClaimPath, &'static str> {
        match value {
            Value::String(s) => Ok(RawClaimPath::Dotted(s.clone())),
            Value::Array(items) if items.len() <= MAX_PATH_SEGMENTS => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(RawClaimPath::Segments)
                .ok_or("must be a dotted string or an array of segment strings"),
            Value::Array(_) => Err("a claim path has at most 8 segments"),
            _ => Err("must be a dotted string or an array of segment strings"),
        }
    }
}

/// A validated claim path, split into segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Vec<String>,
}

/// What a claim path finds in a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found<'c> {
    Absent,
    Value(&'c Value),
    /// A segment above the last is present but not an object: the claim has the wrong shape.
    NotAnObject,
}

impl ClaimPath {
    /// One top-level claim (no validation: for built-in defaults).
    fn top(name: &str) -> ClaimPath {
        ClaimPath {
            segments: vec![name.to_owned()],
        }
    }

    /// Validates a path as written.
    pub fn from_raw(raw: &RawClaimPath) -> Result<ClaimPath, &'static str> {
        let segments: Vec<String> = match raw {
            RawClaimPath::Dotted(s) => {
                if s.len() > MAX_PATH_BYTES {
                    return Err("a claim path is at most 256 bytes");
                }
                s.split('.').map(str::to_owned).collect()
            }
            RawClaimPath::Segments(v) => v.clone(),
        };
        if segments.is_empty() {
            return Err("a claim path needs at least one segment");
        }
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err("a claim path has at most 8 segments");
        }
        if segments.iter().any(String::is_empty) {
            return Err("a claim path has no empty segments (no leading, trailing or double dots)");
        }
        let bytes =
            segments.iter().map(String::len).sum::<usize>() + segments.len().saturating_sub(1);
        if bytes > MAX_PATH_BYTES {
            return Err("a claim path is at most 256 bytes");
        }
        if segments.iter().any(|s| s.chars().any(char::is_control)) {
            return Err("a claim path has no control characters");
        }
        if let (Some(first), true) = (segments.first(), segments.len() > 1) {
            if SCALAR_CLAIMS.contains(&first.as_str()) {
                return Err("a registered claim (iss, sub, aud, exp, nbf, iat, jti) is never an object, so no path goes below it");
            }
        }
        Ok(ClaimPath { segments })
    }

    /// True for `exp`, `nbf` or `iat` alone: a NumericDate.
    fn is_date(&self) -> bool {
        matches!(self.segments.as_slice(), [one] if DATE_CLAIMS.contains(&one.as_str()))
    }

    /// The path as written, dotted (for reports).
    #[must_use]
    pub fn display(&self) -> String {
        self.segments.join(".")
    }

    /// Walks `claims` along the path.
    #[must_use]
    pub fn find<'c>(&self, claims: &'c Map<String, Value>) -> Found<'c> {
        let mut map = claims;
        let mut rest = self.segments.iter().peekable();
        while let Some(segment) = rest.next() {
            let Some(value) = map.get(segment) else {
                return Found::Absent;
            };
            if rest.peek().is_none() {
                return Found::Value(value);
            }
            match value {
                Value::Object(inner) => map = inner,
                _ => return Found::NotAnObject,
            }
        }
        Found::Absent
    }
}

/// Where scopes come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ScopeClaims {
    /// `scope_claims` omitted: `scope` (a space-separated string), or when it is absent `scp`
    /// (a string or an array of strings). The rule from before `scope_claims` existed.
    #[default]
    Default,
    /// The union, in order and without duplicates, of every listed claim that is present;
    /// each is a space-separated string or an array of strings.
    Paths(Vec<ClaimPath>),
}

/// Which `typ` header values a token of this issuer may carry (`token_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenType {
    /// `"any"`: `typ` absent or a JWT type (`JWT`, `at+jwt`, `application/jwt`,
    /// `application/at+jwt`).
    #[default]
    Any,
    /// `"at+jwt"`: RFC 9068 §2.1 / §4: `typ` must be `at+jwt` or `application/at+jwt`
    /// (case-insensitive, RFC 7515 §4.1.9), so an ID token is never accepted as a bearer token.
    AccessToken,
}

/// A claim that must hold exactly this string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredClaim {
    pub path: ClaimPath,
    pub value: String,
}

/// The validated mapping of one issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    pub scopes: ScopeClaims,
    /// First present wins.
    pub client_id: Vec<ClaimPath>,
    pub token_type: TokenType,
    pub required: Vec<RequiredClaim>,
    /// `Some` when tokens without `aud` are acceptable, iff their client id is listed.
    pub without_audience: Option<Vec<String>>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            scopes: ScopeClaims::Default,
            client_id: default_client_id_claims(),
            token_type: TokenType::Any,
            required: Vec::new(),
            without_audience: None,
        }
    }
}

/// `client_id`, then `azp` (RFC 9068 §2.2 names `client_id`; OpenID Connect ID tokens and
/// several providers' access tokens carry `azp`).
fn default_client_id_claims() -> Vec<ClaimPath> {
    vec![ClaimPath::top("client_id"), ClaimPath::top("azp")]
}

/// A validation failure: the field below the issuer (`scope_claims[1]`) and the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingError {
    pub field: String,
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> MappingError {
    MappingError {
        field: field.into(),
        reason: reason.into(),
    }
}

fn paths(raw: &[Value], name: &str, what: &str) -> Result<Vec<ClaimPath>, MappingError> {
    if raw.is_empty() {
        return Err(err(
            name,
            format!("must not be empty (omit it for the default {what})"),
        ));
    }
    if raw.len() > MAX_PATHS {
        return Err(err(name, "at most 16 claim paths"));
    }
    let mut out: Vec<ClaimPath> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let field = format!("{name}[{i}]");
        let path = RawClaimPath::from_json(r)
            .and_then(|r| ClaimPath::from_raw(&r))
            .map_err(|reason| err(&field, reason))?;
        if path.is_date() {
            return Err(err(
                field,
                "exp, nbf and iat are NumericDates: every token would be refused",
            ));
        }
        if out.contains(&path) {
            return Err(err(field, "duplicate claim path"));
        }
        out.push(path);
    }
    Ok(out)
}

/// A non-empty string without control characters.
fn plain(value: &Value) -> Option<&str> {
    value
        .as_str()
        .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
}

/// `accept_without_audience`: exactly `{"client_ids": [...]}`, non-empty, unique strings.
fn client_ids(raw: &Value) -> Result<Vec<String>, MappingError> {
    let base = "accept_without_audience";
    let Some(map) = raw.as_object() else {
        return Err(err(base, "must be an object: {\"client_ids\": [...]}"));
    };
    if let Some(unknown) = map.keys().find(|k| *k != "client_ids") {
        return Err(err(format!("{base}.{unknown}"), "unknown field"));
    }
    let field = "accept_without_audience.client_ids";
    let Some(items) = map.get("client_ids").and_then(Value::as_array) else {
        return Err(err(field, "is required: an array of client ids"));
    };
    if items.is_empty() {
        return Err(err(
            field,
            "must list the client ids whose tokens may lack aud",
        ));
    }
    if items.len() > MAX_CLIENT_IDS {
        return Err(err(field, "at most 64 client ids"));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(id) = plain(item) else {
            return Err(err(
                format!("{field}[{i}]"),
                "must be a non-empty string without control characters",
            ));
        };
        if out.iter().any(|o| o == id) {
            return Err(err(format!("{field}[{i}]"), "duplicate client id"));
        }
        out.push(id.to_owned());
    }
    Ok(out)
}

impl ClaimMapping {
    /// Validates the mapping fields of one `issuers[]` entry, as JSON. Field names in errors are
    /// relative to the issuer (`scope_claims[0]`).
    pub fn from_raw(
        scope_claims: Option<&[Value]>,
        client_id_claims: Option<&[Value]>,
        token_type: Option<&str>,
        required_claims: Option<&Value>,
        without_audience: Option<&Value>,
    ) -> Result<ClaimMapping, MappingError> {
        let scopes = match scope_claims {
            None => ScopeClaims::Default,
            Some(raw) => ScopeClaims::Paths(paths(raw, "scope_claims", "scope, else scp")?),
        };
        let client_id = match client_id_claims {
            None => default_client_id_claims(),
            Some(raw) => paths(raw, "client_id_claims", "client_id, else azp")?,
        };
        let token_type = match token_type {
            None | Some("any") => TokenType::Any,
            Some("at+jwt") => TokenType::AccessToken,
            Some(_) => return Err(err("token_type", "must be \"any\" or \"at+jwt\"")),
        };
        let mut required = Vec::new();
        if let Some(raw) = required_claims {
            let Some(map) = raw.as_object() else {
                return Err(err(
                    "required_claims",
                    "must be an object of claim paths to strings",
                ));
            };
            if map.len() > MAX_PATHS {
                return Err(err("required_claims", "at most 16 claims"));
            }
            for (name, value) in map {
                let field = format!("required_claims.{name}");
                let path = ClaimPath::from_raw(&RawClaimPath::Dotted(name.clone()))
                    .map_err(|reason| err(&field, reason))?;
                let Some(value) = plain(value) else {
                    return Err(err(
                        field,
                        "must be a non-empty string without control characters",
                    ));
                };
                required.push(RequiredClaim {
                    path,
                    value: value.to_owned(),
                });
            }
        }
        let without_audience = match without_audience {
            None => None,
            Some(raw) => Some(client_ids(raw)?),
        };
        Ok(ClaimMapping {
            scopes,
            client_id,
            token_type,
            required,
            without_audience,
        })
    }

    /// Config paths worth an operator's look although they are valid: a segment that looks like
    /// an unreplaced documentation placeholder (`<client>`, `{client}`), e.g.
    /// `resource_access.<client>.roles` copied as is. Reported in health, never refused.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        let placeholder = |s: &str| {
            (s.starts_with('<') && s.ends_with('>')) || (s.starts_with('{') && s.ends_with('}'))
        };
        let mut out = Vec::new();
        let mut check = |field: String, path: &ClaimPath| {
            if path.segments.iter().any(|s| placeholder(s)) {
                out.push(format!(
                    "{field}: \"{}\" has a segment that looks like a placeholder",
                    path.display()
                ));
            }
        };
        if let ScopeClaims::Paths(paths) = &self.scopes {
            for (i, p) in paths.iter().enumerate() {
                check(format!("scope_claims[{i}]"), p);
            }
        }
        for (i, p) in self.client_id.iter().enumerate() {
            check(format!("client_id_claims[{i}]"), p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dotted(s: &str) -> Result<ClaimPath, &'static str> {
        ClaimPath::from_raw(&RawClaimPath::Dotted(s.into()))
    }

    #[test]
    fn paths_are_bounded_and_well_formed() {
        assert!(dotted("scope").is_ok());
        assert!(dotted("resource_access.my-api.roles").is_ok());
        assert!(dotted("a.b.c.d.e.f.g.h").is_ok());
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a.b.c.d.e.f.g.h.i",
            "a\nb",
            "exp.x",
            "iss.a",
        ] {
            assert!(dotted(bad).is_err(), "{bad:?}");
        }
        assert!(dotted(&"a".repeat(256)).is_ok());
        assert!(dotted(&"a".repeat(257)).is_err());
        let url = ClaimPath::from_raw(&RawClaimPath::Segments(vec![
            "https://example.com/roles".into()
        ]))
        .unwrap();
        let claims = json!({"https://example.com/roles": ["a"]});
        assert_eq!(
            url.find(claims.as_object().unwrap()),
            Found::Value(&json!(["a"]))
        );
        assert!(ClaimPath::from_raw(&RawClaimPath::Segments(vec![])).is_err());
        assert!(ClaimPath::from_raw(&RawClaimPath::Segments(vec![String::new()])).is_err());
    }

    #[test]
    fn find_walks_objects_and_reports_wrong_shapes() {
        let c = json!({"realm_access": {"roles": ["r"]}, "flat": "x"});
        let c = c.as_object().unwrap();
        assert_eq!(
            dotted("realm_access.roles").unwrap().find(c),
            Found::Value(&json!(["r"]))
        );
        assert_eq!(dotted("realm_access.other").unwrap().find(c), Found::Absent);
        assert_eq!(dotted("missing.roles").unwrap().find(c), Found::Absent);
        assert_eq!(dotted("flat.roles").unwrap().find(c), Found::NotAnObject);
    }

    #[test]
    fn raw_paths_read_strings_or_arrays() {
        assert_eq!(
            RawClaimPath::from_json(&json!("a.b")),
            Ok(RawClaimPath::Dotted("a.b".into()))
        );
        assert_eq!(
            RawClaimPath::from_json(&json!(["c.d", "e"])),
            Ok(RawClaimPath::Segments(vec!["c.d".into(), "e".into()]))
        );
        assert!(RawClaimPath::from_json(&json!(5)).is_err());
        assert!(RawClaimPath::from_json(&json!([1])).is_err());
        assert!(
            RawClaimPath::from_json(&json!(["a", "b", "c", "d", "e", "f", "g", "h", "i"])).is_err()
        );
    }

    #[test]
    fn mapping_rules_name_the_field() {
        let p = |s: &[&str]| -> Vec<Value> { s.iter().map(|x| json!(x)).collect() };
        let e = |r: Result<ClaimMapping, MappingError>| r.unwrap_err().field;
        assert_eq!(
            e(ClaimMapping::from_raw(Some(&[]), None, None, None, None)),
            "scope_claims"
        );
        for (paths, field) in [
            (p(&["scope", "a..b"]), "scope_claims[1]"),
            (vec![json!("scope"), json!(3)], "scope_claims[1]"),
            (p(&["scp", "scp"]), "scope_claims[1]"),
            (p(&["exp"]), "scope_claims[0]"),
        ] {
            assert_eq!(
                e(ClaimMapping::from_raw(Some(&paths), None, None, None, None)),
                field
            );
        }
        assert_eq!(
            e(ClaimMapping::from_raw(
                None,
                Some(&p(&["iat"])),
                None,
                None,
                None
            )),
            "client_id_claims[0]"
        );
        let many = vec![json!("a"); MAX_PATHS + 1];
        assert_eq!(
            e(ClaimMapping::from_raw(None, Some(&many), None, None, None)),
            "client_id_claims"
        );
        for bad in ["AT+JWT", "jwt", ""] {
            assert_eq!(
                e(ClaimMapping::from_raw(None, None, Some(bad), None, None)),
                "token_type"
            );
        }
        assert_eq!(
            ClaimMapping::from_raw(None, None, Some("at+jwt"), None, None)
                .unwrap()
                .token_type,
            TokenType::AccessToken
        );
        for (raw, field) in [
            (json!({"token_use": ""}), "required_claims.token_use"),
            (json!({"token_use": 1}), "required_claims.token_use"),
            (json!({"a..b": "x"}), "required_claims.a..b"),
            (json!(["x"]), "required_claims"),
        ] {
            assert_eq!(
                e(ClaimMapping::from_raw(None, None, None, Some(&raw), None)),
                field
            );
        }
        for (raw, field) in [
            (
                json!({"client_ids": []}),
                "accept_without_audience.client_ids",
            ),
            (json!({}), "accept_without_audience.client_ids"),
            (
                json!({"client_ids": ["a"], "x": 1}),
                "accept_without_audience.x",
            ),
            (json!(["a"]), "accept_without_audience"),
            (
                json!({"client_ids": ["a", "a"]}),
                "accept_without_audience.client_ids[1]",
            ),
            (
                json!({"client_ids": ["a", 2]}),
                "accept_without_audience.client_ids[1]",
            ),
        ] {
            assert_eq!(
                e(ClaimMapping::from_raw(None, None, None, None, Some(&raw))),
                field,
                "{raw}"
            );
        }
        let d = ClaimMapping::from_raw(None, None, None, None, None).unwrap();
        assert_eq!(d, ClaimMapping::default());
    }

    #[test]
    fn placeholder_segments_are_reported_not_refused() {
        let raw = vec![json!("scope"), json!("resource_access.<client>.roles")];
        let m = ClaimMapping::from_raw(Some(&raw), None, None, None, None).unwrap();
        let w = m.warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("scope_claims[1]: "), "{w:?}");
        assert!(ClaimMapping::default().warnings().is_empty());
    }
}
