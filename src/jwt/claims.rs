//! Phase 2 of verification: a structurally valid token is judged against the policy of the
//! issuer it claims (RFC 7519 §4.1, RFC 8725 §3). Still unverified, but every check here is cheap
//! and local, and all of them run before any key is fetched: a token that is expired, for another
//! audience, or for an unknown issuer never costs a JWKS request.

use crate::reason::Reason;
use serde_json::{Map, Value};

use super::alg::Algorithm;
use super::config::{IssuerPolicy, Issuers};
use super::mapping::{Found, ScopeClaims, TokenType};
use super::token::ParsedToken;
use crate::time::UnixTime;

/// NumericDates at or above 2^53 cannot be represented exactly by every JSON parser.
const MAX_NUMERIC_DATE: f64 = 9_007_199_254_740_992.0;
/// Longest `sub` / `client_id` / scope accepted, in bytes (they become forwarded headers).
const MAX_CLAIM_BYTES: usize = 1024;
/// At most this many scopes are taken from a token.
const MAX_SCOPES: usize = 256;

/// Why a token fails its issuer's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    MissingIss,
    InvalidIss,
    UnknownIssuer,
    AlgNotAllowed,
    /// A fixed-size signature has the wrong length, or an ECDSA `r`/`s` is out of range.
    MalformedSignature,
    MissingExp,
    InvalidExp,
    Expired,
    InvalidNbf,
    NotYetValid,
    InvalidIat,
    IatInFuture,
    MissingAud,
    InvalidAud,
    AudienceMismatch,
    MissingSub,
    InvalidSub,
    /// `jti` present but not a string: such a token could not be revoked by its id.
    InvalidJti,
    InvalidScope,
    InvalidClientId,
    /// The issuer requires RFC 9068 access tokens and `typ` is not `at+jwt`.
    TokenTypeNotAccessToken,
    /// No `aud`, and the client id is not one `accept_without_audience` lists.
    ClientIdNotAllowed,
    RequiredClaimMissing,
    RequiredClaimMismatch,
}

impl PolicyError {
    /// Static reason code for logs.
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            PolicyError::MissingIss => Reason::MissingIss,
            PolicyError::InvalidIss => Reason::InvalidIss,
            PolicyError::UnknownIssuer => Reason::UnknownIssuer,
            PolicyError::AlgNotAllowed => Reason::AlgNotAllowed,
            PolicyError::MalformedSignature => Reason::MalformedSignature,
            PolicyError::MissingExp => Reason::MissingExp,
            PolicyError::InvalidExp => Reason::InvalidExp,
            PolicyError::Expired => Reason::Expired,
            PolicyError::InvalidNbf => Reason::InvalidNbf,
            PolicyError::NotYetValid => Reason::NotYetValid,
            PolicyError::InvalidIat => Reason::InvalidIat,
            PolicyError::IatInFuture => Reason::IatInFuture,
            PolicyError::MissingAud => Reason::MissingAud,
            PolicyError::InvalidAud => Reason::InvalidAud,
            PolicyError::AudienceMismatch => Reason::AudienceMismatch,
            PolicyError::MissingSub => Reason::MissingSub,
            PolicyError::InvalidSub => Reason::InvalidSub,
            PolicyError::InvalidJti => Reason::InvalidJti,
            PolicyError::InvalidScope => Reason::InvalidScope,
            PolicyError::InvalidClientId => Reason::InvalidClientId,
            PolicyError::TokenTypeNotAccessToken => Reason::TokenTypeNotAccessToken,
            PolicyError::ClientIdNotAllowed => Reason::ClientIdNotAllowed,
            PolicyError::RequiredClaimMissing => Reason::RequiredClaimMissing,
            PolicyError::RequiredClaimMismatch => Reason::RequiredClaimMismatch,
        }
    }
}

/// A JSON NumericDate (RFC 7519 §2): a number, integer or fractional, in `[0, 2^53)`.
/// Strings, booleans, negatives and anything else are not dates.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct NumericDate(f64);

impl NumericDate {
    /// Reads a NumericDate, or `None` when `value` is not one.
    #[must_use]
    pub fn from_json(value: &Value) -> Option<NumericDate> {
        let Value::Number(n) = value else { return None };
        let seconds = if let Some(u) = n.as_u64() {
            // Exact below 2^53; larger values fail the range check below.
            u as f64
        } else {
            n.as_f64()?
        };
        (seconds.is_finite() && (0.0..MAX_NUMERIC_DATE).contains(&seconds))
            .then_some(NumericDate(seconds))
    }

    /// Whole seconds, rounded down: used for `exp` and `iat` (a fractional expiry ends early).
    #[must_use]
    pub fn floor(self) -> u64 {
        self.0.floor() as u64
    }

    /// Whole seconds, rounded up: used for `nbf` (a fractional start begins late).
    #[must_use]
    pub fn ceil(self) -> u64 {
        self.0.ceil() as u64
    }
}

/// The claims the edge forwards, taken from a payload that passed its issuer's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedClaims {
    pub subject: String,
    pub scopes: Vec<String>,
    pub client_id: Option<String>,
    /// `exp`, in whole seconds.
    pub expires_at: u64,
}

/// A token that passed phases 1 and 2: structure and its issuer's policy. Its signature is
/// still unchecked; only the authenticator turns it into an identity, after verification.
#[derive(Debug)]
pub struct CheckedToken<'t, 'p> {
    pub(crate) signing_input: &'t str,
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) signature: Vec<u8>,
    pub(crate) payload_json: String,
    pub(crate) policy: &'p IssuerPolicy,
    pub(crate) claims: CheckedClaims,
}

impl<'t, 'p> CheckedToken<'t, 'p> {
    #[must_use]
    pub fn policy(&self) -> &'p IssuerPolicy {
        self.policy
    }

    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    #[must_use]
    pub fn claims(&self) -> &CheckedClaims {
        &self.claims
    }
}

/// Runs phase 2: issuer (exact), algorithm allow-list, signature shape, then the claims.
pub fn check<'t, 'p>(
    token: ParsedToken<'t>,
    issuers: &'p Issuers,
    now: UnixTime,
) -> Result<CheckedToken<'t, 'p>, PolicyError> {
    let signing_input = token.signing_input();
    let (header, claims, payload_json, signature) = token.into_parts();

    let iss = match claims.get("iss") {
        None => return Err(PolicyError::MissingIss),
        Some(Value::String(s)) => s,
        Some(_) => return Err(PolicyError::InvalidIss),
    };
    let policy = issuers.get(iss).ok_or(PolicyError::UnknownIssuer)?;
    if !policy.allows(header.alg) {
        return Err(PolicyError::AlgNotAllowed);
    }
    // RFC 9068 §4: a resource server that expects access tokens checks `typ`; an ID token
    // (`typ: JWT`) must not be usable as a bearer token.
    if policy.mapping.token_type == TokenType::AccessToken && !header.typ_at_jwt {
        return Err(PolicyError::TokenTypeNotAccessToken);
    }
    if !super::verifier::signature_shape_ok(header.alg, &signature, None) {
        return Err(PolicyError::MalformedSignature);
    }
    let checked = check_claims(&claims, policy, now)?;
    Ok(CheckedToken {
        signing_input,
        alg: header.alg,
        kid: header.kid,
        signature,
        payload_json,
        policy,
        claims: checked,
    })
}

fn date(
    claims: &Map<String, Value>,
    name: &str,
    invalid: PolicyError,
) -> Result<Option<NumericDate>, PolicyError> {
    claims
        .get(name)
        .map(|v| NumericDate::from_json(v).ok_or(invalid))
        .transpose()
}

/// Free of control characters and not too long: these values become forwarded headers.
fn header_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_CLAIM_BYTES && !s.chars().any(char::is_control)
}

/// Checks the registered claims against `policy` at `now`.
///
/// * `exp` is required; the token is valid while `now < exp + leeway`.
/// * `nbf`, when present: valid once `now + leeway >= nbf`.
/// * `iat`, when present, must be a NumericDate no later than `now + leeway`: a token issued in
///   the future means a skewed or forging issuer.
/// * `aud` (string or array of strings) must contain one configured audience, exactly. A token
///   without `aud` is refused, unless the issuer sets `accept_without_audience` and the token's
///   client id is one it lists.
/// * `sub` is required: a non-empty string.
/// * Every `required_claims` entry must be present and equal its string.
/// * Scopes: by default from `scope` (space-separated) or, when absent, `scp` (array of
///   strings, or a space-separated string as some providers send); with `scope_claims`, the
///   union of every listed claim present (string or array of strings). Each must be an
///   RFC 6749 scope-token; a present claim of another type refuses the token.
/// * The client id is the first present of `client_id_claims` (default `client_id`, `azp`).
pub fn check_claims(
    claims: &Map<String, Value>,
    policy: &IssuerPolicy,
    now: UnixTime,
) -> Result<CheckedClaims, PolicyError> {
    let leeway = policy.leeway_seconds;

    let exp = date(claims, "exp", PolicyError::InvalidExp)?.ok_or(PolicyError::MissingExp)?;
    if now.0 >= exp.floor().saturating_add(leeway) {
        return Err(PolicyError::Expired);
    }
    if let Some(nbf) = date(claims, "nbf", PolicyError::InvalidNbf)? {
        if now.0.saturating_add(leeway) < nbf.ceil() {
            return Err(PolicyError::NotYetValid);
        }
    }
    if let Some(iat) = date(claims, "iat", PolicyError::InvalidIat)? {
        if iat.floor() > now.0.saturating_add(leeway) {
            return Err(PolicyError::IatInFuture);
        }
    }

    let audience_ok = |aud: &str| policy.audiences.iter().any(|a| a == aud);
    let has_aud = match claims.get("aud") {
        None if policy.mapping.without_audience.is_some() => false,
        None => return Err(PolicyError::MissingAud),
        Some(Value::String(aud)) => {
            if !audience_ok(aud) {
                return Err(PolicyError::AudienceMismatch);
            }
            true
        }
        Some(Value::Array(items)) => {
            let mut matched = false;
            for item in items {
                let Value::String(aud) = item else {
                    return Err(PolicyError::InvalidAud);
                };
                matched |= audience_ok(aud);
            }
            if !matched {
                return Err(PolicyError::AudienceMismatch);
            }
            true
        }
        Some(_) => return Err(PolicyError::InvalidAud),
    };

    let subject = match claims.get("sub") {
        None => return Err(PolicyError::MissingSub),
        Some(Value::String(s)) if header_safe(s) => s.clone(),
        Some(_) => return Err(PolicyError::InvalidSub),
    };

    // RFC 7519 §4.1.7: `jti` is a case-sensitive string. Revocation by id (`tokens/revoke`)
    // names a string; a token whose `jti` is a number or an object could never be matched by it,
    // so it is refused rather than made unrevocable.
    if claims.get("jti").is_some_and(|j| !j.is_string()) {
        return Err(PolicyError::InvalidJti);
    }

    for required in &policy.mapping.required {
        match required.path.find(claims) {
            Found::Absent => return Err(PolicyError::RequiredClaimMissing),
            Found::Value(Value::String(s)) if *s == required.value => {}
            Found::Value(_) | Found::NotAnObject => return Err(PolicyError::RequiredClaimMismatch),
        }
    }

    let scopes = match &policy.mapping.scopes {
        ScopeClaims::Default => default_scopes(claims)?,
        ScopeClaims::Paths(paths) => {
            let mut out = Vec::new();
            for path in paths {
                match path.find(claims) {
                    Found::Absent => {}
                    Found::Value(value) => add_scopes(&mut out, value)?,
                    Found::NotAnObject => return Err(PolicyError::InvalidScope),
                }
            }
            out
        }
    };

    // The first configured path that is present decides, whatever it holds.
    let first_present = policy
        .mapping
        .client_id
        .iter()
        .map(|path| path.find(claims))
        .find(|found| !matches!(found, Found::Absent));
    let client_id = match first_present {
        None => None,
        Some(Found::Value(Value::String(s))) if header_safe(s) => Some(s.clone()),
        Some(_) => return Err(PolicyError::InvalidClientId),
    };

    if !has_aud {
        // Reached only with `accept_without_audience`: the client id is the audience check.
        let listed = policy.mapping.without_audience.as_deref().unwrap_or(&[]);
        if !client_id
            .as_deref()
            .is_some_and(|c| listed.iter().any(|l| l == c))
        {
            return Err(PolicyError::ClientIdNotAllowed);
        }
    }

    Ok(CheckedClaims {
        subject,
        scopes,
        client_id,
        expires_at: exp.floor(),
    })
}

/// Adds one scope, refusing a non-scope-token and more than [`MAX_SCOPES`].
fn add_scope(out: &mut Vec<String>, s: &str) -> Result<(), PolicyError> {
    if !crate::identity::is_scope_token(s) || out.len() >= MAX_SCOPES {
        return Err(PolicyError::InvalidScope);
    }
    if !out.iter().any(|o| o == s) {
        out.push(s.to_owned());
    }
    Ok(())
}

/// A configured scope claim's value: a space-separated string or an array of strings; any
/// other type (number, boolean, null, object, an array holding a non-string) is refused.
fn add_scopes(out: &mut Vec<String>, value: &Value) -> Result<(), PolicyError> {
    match value {
        Value::String(s) => {
            for part in s.split(' ').filter(|p| !p.is_empty()) {
                add_scope(out, part)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                add_scope(out, item.as_str().ok_or(PolicyError::InvalidScope)?)?;
            }
        }
        _ => return Err(PolicyError::InvalidScope),
    }
    Ok(())
}

/// The default rule: `scope` (a string), or when absent `scp` (string or array).
fn default_scopes(claims: &Map<String, Value>) -> Result<Vec<String>, PolicyError> {
    let mut out: Vec<String> = Vec::new();
    match (claims.get("scope"), claims.get("scp")) {
        (None, None) => {}
        // `scope` is a space-separated string (RFC 8693 §4.2, RFC 9068 §2.2.3).
        (Some(v @ Value::String(_)), _)
        | (None, Some(v @ (Value::String(_) | Value::Array(_)))) => {
            add_scopes(&mut out, v)?;
        }
        _ => return Err(PolicyError::InvalidScope),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::config::RawIssuer;
    use serde_json::json;

    fn policy() -> IssuerPolicy {
        IssuerPolicy::from_raw(
            RawIssuer {
                issuer: "https://issuer.example".into(),
                jwks_uri: Some("https://issuer.example/jwks".into()),
                discovery: None,
                audiences: Some(vec!["https://api.example".into(), "api2".into()]),
                algorithms: vec!["ES256".into()],
                leeway_seconds: Some(60),
                hs256_secret: None,
                ..RawIssuer::default()
            },
            0,
            &|_| None,
        )
        .unwrap()
    }

    const NOW: UnixTime = UnixTime(1_000_000);

    fn base() -> Map<String, Value> {
        json!({
            "iss": "https://issuer.example",
            "aud": "https://api.example",
            "sub": "user-1",
            "exp": 1_000_100,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn with(member: &str, value: Value) -> Map<String, Value> {
        let mut c = base();
        c.insert(member.into(), value);
        c
    }

    fn without(member: &str) -> Map<String, Value> {
        let mut c = base();
        c.remove(member);
        c
    }

    fn err(c: Map<String, Value>) -> PolicyError {
        check_claims(&c, &policy(), NOW).unwrap_err()
    }

    #[test]
    fn accepts_a_minimal_token() {
        let c = check_claims(&base(), &policy(), NOW).unwrap();
        assert_eq!(c.subject, "user-1");
        assert_eq!(c.expires_at, 1_000_100);
        assert!(c.scopes.is_empty());
        assert_eq!(c.client_id, None);
    }

    #[test]
    fn numeric_dates_are_typed_strictly() {
        assert_eq!(NumericDate::from_json(&json!(5)).unwrap().floor(), 5);
        assert_eq!(NumericDate::from_json(&json!(5.5)).unwrap().floor(), 5);
        assert_eq!(NumericDate::from_json(&json!(5.5)).unwrap().ceil(), 6);
        assert_eq!(NumericDate::from_json(&json!(0)).unwrap().floor(), 0);
        for bad in [
            json!("1000200"),
            json!(true),
            json!(null),
            json!(-1),
            json!(-0.5),
            json!(9_007_199_254_740_992u64),
            json!(1e300),
            json!([1]),
        ] {
            assert_eq!(NumericDate::from_json(&bad), None, "{bad}");
        }
        assert!(NumericDate::from_json(&json!(9_007_199_254_740_991u64)).is_some());
        assert_eq!(err(with("exp", json!("1000200"))), PolicyError::InvalidExp);
        assert_eq!(err(with("nbf", json!(false))), PolicyError::InvalidNbf);
        assert_eq!(err(with("iat", json!(-5))), PolicyError::InvalidIat);
    }

    #[test]
    fn expiry_and_not_before_with_leeway() {
        // exp = now + 100; leeway 60.
        let at = |t: u64, c: Map<String, Value>| check_claims(&c, &policy(), UnixTime(t));
        assert!(at(1_000_159, base()).is_ok());
        assert_eq!(at(1_000_160, base()).unwrap_err(), PolicyError::Expired);
        assert_eq!(err(without("exp")), PolicyError::MissingExp);
        let frac = with("exp", json!(1_000_100.9));
        assert_eq!(at(1_000_160, frac).unwrap_err(), PolicyError::Expired);

        let nbf = with("nbf", json!(1_000_060));
        assert!(at(1_000_000, nbf.clone()).is_ok());
        assert_eq!(at(999_999, nbf).unwrap_err(), PolicyError::NotYetValid);
        let nbf_frac = with("nbf", json!(1_000_059.5));
        assert!(at(1_000_000, nbf_frac.clone()).is_ok());
        assert_eq!(at(999_999, nbf_frac).unwrap_err(), PolicyError::NotYetValid);

        assert!(at(1_000_000, with("iat", json!(1_000_060))).is_ok());
        assert_eq!(
            at(1_000_000, with("iat", json!(1_000_061))).unwrap_err(),
            PolicyError::IatInFuture
        );
    }

    #[test]
    fn audience_rules() {
        assert!(check_claims(&with("aud", json!(["x", "api2"])), &policy(), NOW).is_ok());
        assert_eq!(err(without("aud")), PolicyError::MissingAud);
        assert_eq!(err(with("aud", json!([]))), PolicyError::AudienceMismatch);
        assert_eq!(
            err(with("aud", json!(["api2", 5]))),
            PolicyError::InvalidAud
        );
        assert_eq!(err(with("aud", json!(5))), PolicyError::InvalidAud);
        for near in [
            "https://api.example/",
            "https://API.example",
            "https://api.example.evil",
            "https://api.exampl",
            " https://api.example",
        ] {
            assert_eq!(
                err(with("aud", json!(near))),
                PolicyError::AudienceMismatch,
                "{near}"
            );
        }
    }

    #[test]
    fn subject_scopes_and_client_id() {
        assert_eq!(err(without("sub")), PolicyError::MissingSub);
        assert_eq!(err(with("sub", json!(""))), PolicyError::InvalidSub);
        assert_eq!(err(with("sub", json!(12))), PolicyError::InvalidSub);
        assert_eq!(err(with("jti", json!(12))), PolicyError::InvalidJti);
        assert_eq!(
            err(with("jti", json!({"id": "x"}))),
            PolicyError::InvalidJti
        );
        assert_eq!(
            err(with("sub", json!("a\r\nX-Auth-Admin: 1"))),
            PolicyError::InvalidSub
        );

        let c = check_claims(&with("scope", json!("read  write read")), &policy(), NOW).unwrap();
        assert_eq!(c.scopes, ["read", "write"]);
        let c = check_claims(&with("scp", json!(["a", "b"])), &policy(), NOW).unwrap();
        assert_eq!(c.scopes, ["a", "b"]);
        let c = check_claims(&with("scp", json!("a b")), &policy(), NOW).unwrap();
        assert_eq!(c.scopes, ["a", "b"]);
        assert_eq!(err(with("scp", json!(["a b"]))), PolicyError::InvalidScope);
        assert_eq!(err(with("scp", json!([1]))), PolicyError::InvalidScope);
        assert_eq!(err(with("scope", json!(["a"]))), PolicyError::InvalidScope);
        assert_eq!(err(with("scope", json!("a\"b"))), PolicyError::InvalidScope);
        assert_eq!(err(with("scope", json!(true))), PolicyError::InvalidScope);

        let mut c = with("azp", json!("spa"));
        assert_eq!(
            check_claims(&c, &policy(), NOW)
                .unwrap()
                .client_id
                .as_deref(),
            Some("spa")
        );
        c.insert("client_id".into(), json!("svc"));
        assert_eq!(
            check_claims(&c, &policy(), NOW)
                .unwrap()
                .client_id
                .as_deref(),
            Some("svc")
        );
        assert_eq!(
            err(with("client_id", json!(1))),
            PolicyError::InvalidClientId
        );
    }

    fn mapped(extra: serde_json::Value) -> IssuerPolicy {
        let mut doc = json!({
            "issuer": "https://issuer.example",
            "jwks_uri": "https://issuer.example/jwks",
            "audiences": ["https://api.example"],
            "algorithms": ["RS256"],
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                doc.as_object_mut().unwrap().remove(k);
            } else {
                doc[k] = v.clone();
            }
        }
        let raw: RawIssuer = serde_json::from_value(doc).unwrap();
        IssuerPolicy::from_raw(raw, 0, &|_| None).unwrap()
    }

    fn run(p: &IssuerPolicy, extra: Value) -> Result<CheckedClaims, PolicyError> {
        let mut c = base();
        for (k, v) in extra.as_object().unwrap() {
            if v == "-" {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        check_claims(&c, p, NOW)
    }

    #[test]
    fn default_mapping_keeps_the_first_present_rule() {
        // `scope` wins over `scp` without looking at it.
        let c = run(&policy(), json!({"scope": "a", "scp": 5})).unwrap();
        assert_eq!(c.scopes, ["a"]);
        assert_eq!(
            run(&policy(), json!({"scope": "-", "scp": 5})).unwrap_err(),
            PolicyError::InvalidScope
        );
        assert_eq!(
            run(&policy(), json!({"scope": null})).unwrap_err(),
            PolicyError::InvalidScope
        );
    }

    #[test]
    fn scope_claims_union_in_order_without_duplicates() {
        let p = mapped(
            json!({"scope_claims": ["scope", "permissions", "realm_access.roles", ["resource_access", "my-api", "roles"]]}),
        );
        let c = run(
            &p,
            json!({
                "scope": "read write",
                "permissions": ["write", "delete"],
                "realm_access": {"roles": ["admin"]},
                "resource_access": {"my-api": {"roles": ["read", "ops"]}, "other": {"roles": ["x"]}},
            }),
        )
        .unwrap();
        assert_eq!(c.scopes, ["read", "write", "delete", "admin", "ops"]);
        // Absent paths are fine, so is an absent parent.
        assert_eq!(
            run(&p, json!({"permissions": ["p"]})).unwrap().scopes,
            ["p"]
        );
        assert!(run(&p, json!({})).unwrap().scopes.is_empty());
        // `scp` is not listed, so it is not read (even with a bad type).
        assert!(run(&p, json!({"scp": 1})).unwrap().scopes.is_empty());
        for bad in [
            json!({"permissions": 5}),
            json!({"permissions": {"a": 1}}),
            json!({"permissions": ["a", 1]}),
            json!({"permissions": [["a"]]}),
            json!({"permissions": null}),
            json!({"permissions": true}),
            json!({"scope": "a\u{7}b"}),
            json!({"scope": "a\nb"}),
            json!({"permissions": ["a b"]}),
            json!({"realm_access": "admin"}),
            json!({"realm_access": {"roles": "a\tb"}}),
            json!({"resource_access": {"my-api": []}}),
        ] {
            assert_eq!(
                run(&p, bad.clone()).unwrap_err(),
                PolicyError::InvalidScope,
                "{bad}"
            );
        }
    }

    #[test]
    fn client_id_claims_first_present_wins() {
        let p = mapped(json!({"client_id_claims": ["cid", "appid", "azp"]}));
        assert_eq!(
            run(&p, json!({"azp": "a", "appid": "b"}))
                .unwrap()
                .client_id
                .as_deref(),
            Some("b")
        );
        assert_eq!(run(&p, json!({"client_id": "x"})).unwrap().client_id, None);
        assert_eq!(
            run(&p, json!({"cid": 3, "azp": "a"})).unwrap_err(),
            PolicyError::InvalidClientId
        );
        assert_eq!(
            run(&p, json!({"cid": "a\r\nb"})).unwrap_err(),
            PolicyError::InvalidClientId
        );
    }

    #[test]
    fn tokens_without_aud_need_a_listed_client_id() {
        let p = mapped(json!({
            "audiences": null,
            "accept_without_audience": {"client_ids": ["app-1"]},
            "required_claims": {"token_use": "access"},
        }));
        let ok = json!({"aud": "-", "client_id": "app-1", "token_use": "access"});
        assert_eq!(run(&p, ok).unwrap().client_id.as_deref(), Some("app-1"));
        assert_eq!(
            run(
                &p,
                json!({"aud": "-", "client_id": "app-2", "token_use": "access"})
            )
            .unwrap_err(),
            PolicyError::ClientIdNotAllowed
        );
        assert_eq!(
            run(&p, json!({"aud": "-", "token_use": "access"})).unwrap_err(),
            PolicyError::ClientIdNotAllowed
        );
        // With aud and no audiences configured, nothing matches (a Cognito ID token).
        assert_eq!(
            run(&p, json!({"aud": "app-1", "token_use": "access"})).unwrap_err(),
            PolicyError::AudienceMismatch
        );
        assert_eq!(
            run(
                &p,
                json!({"aud": "-", "client_id": "app-1", "token_use": "id"})
            )
            .unwrap_err(),
            PolicyError::RequiredClaimMismatch
        );
        assert_eq!(
            run(&p, json!({"aud": "-", "client_id": "app-1"})).unwrap_err(),
            PolicyError::RequiredClaimMissing
        );
        assert_eq!(
            run(
                &p,
                json!({"aud": "-", "client_id": "app-1", "token_use": ["access"]})
            )
            .unwrap_err(),
            PolicyError::RequiredClaimMismatch
        );
        // With audiences as well, a token with aud must match them.
        let both = mapped(json!({"accept_without_audience": {"client_ids": ["app-1"]}}));
        assert!(run(&both, json!({})).is_ok());
        assert_eq!(
            run(&both, json!({"aud": "other"})).unwrap_err(),
            PolicyError::AudienceMismatch
        );
        assert!(run(&both, json!({"aud": "-", "client_id": "app-1"})).is_ok());
        // Without the option, a missing aud stays missing_aud.
        assert_eq!(
            run(&policy(), json!({"aud": "-", "client_id": "app-1"})).unwrap_err(),
            PolicyError::MissingAud
        );
    }
}
