//! Phase 1 of verification: an untrusted string becomes a structurally valid token, or is refused
//! before any key is looked at. Everything here is cheap and bounded: the size cap comes before
//! any decoding, and nothing in this phase can trigger a fetch.

use crate::reason::Reason;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use super::alg::Algorithm;
use super::json::{parse_object, StrictJsonError};
use crate::jwks::MAX_KID_BYTES;

/// Longest token accepted, in bytes, checked before anything is decoded.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Header parameters that carry or point at keys. Trusting them lets the token choose its own
/// verification key (RFC 8725 §3.10), so a token that carries any of them is refused outright
/// rather than silently ignoring them: a legitimate issuer of ours has no reason to send them.
const EMBEDDED_KEY_PARAMETERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// `typ` values accepted (compared case-insensitively, RFC 7515 §4.1.9). Other explicit types
/// (`dpop+jwt`, `logout+jwt`, `secevent+jwt` …) are tokens for other purposes (RFC 8725 §3.11).
const ACCEPTED_TYPES: [&str; 4] = ["JWT", "at+jwt", "application/jwt", "application/at+jwt"];
/// The RFC 9068 §2.1 access-token types (RFC 9068 §4: a resource server checks for them). A
/// `typ` is compared case-insensitively (RFC 7515 §4.1.9, `application/` may be omitted).
const ACCESS_TOKEN_TYPES: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// Why a token is not a structurally valid compact JWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    TooLarge,
    /// Not three non-empty dot-separated segments.
    Malformed,
    /// Five segments: a JWE, which this verifier does not decrypt.
    Encrypted,
    InvalidBase64,
    MalformedHeader,
    MalformedPayload,
    DuplicateMember,
    /// `alg` is `none` in any spelling.
    AlgNone,
    /// `alg` is a string, but not one of the supported names (exact case).
    AlgUnsupported,
    /// `crit` is present: no extension is understood, so none may be critical.
    Crit,
    /// `jwk`, `jku`, `x5u` or `x5c` is present.
    EmbeddedKey,
    /// `cty` is present: nested tokens are not accepted.
    Nested,
    TypNotAllowed,
    InvalidKid,
}

impl ParseError {
    /// Static reason code for logs.
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            ParseError::TooLarge => Reason::TokenTooLarge,
            ParseError::Malformed => Reason::MalformedToken,
            ParseError::Encrypted => Reason::EncryptedTokenUnsupported,
            ParseError::InvalidBase64 => Reason::InvalidBase64url,
            ParseError::MalformedHeader => Reason::MalformedHeader,
            ParseError::MalformedPayload => Reason::MalformedPayload,
            ParseError::DuplicateMember => Reason::DuplicateMember,
            ParseError::AlgNone => Reason::AlgNone,
            ParseError::AlgUnsupported => Reason::AlgUnsupported,
            ParseError::Crit => Reason::CritUnsupported,
            ParseError::EmbeddedKey => Reason::EmbeddedKeyRejected,
            ParseError::Nested => Reason::NestedTokenUnsupported,
            ParseError::TypNotAllowed => Reason::TypNotAllowed,
            ParseError::InvalidKid => Reason::InvalidKid,
        }
    }
}

/// The JOSE header members this verifier acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    /// `typ` is `at+jwt` or `application/at+jwt` (any case): an RFC 9068 access token. Issuers
    /// with `"token_type": "at+jwt"` require it (phase 2).
    pub typ_at_jwt: bool,
}

/// A structurally valid, still unverified compact JWS with a JSON-object payload.
#[derive(Clone, Debug)]
pub struct ParsedToken<'t> {
    signing_input: &'t str,
    header: Header,
    claims: Map<String, Value>,
    payload_json: String,
    signature: Vec<u8>,
}

impl<'t> ParsedToken<'t> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    #[must_use]
    pub fn signing_input(&self) -> &'t str {
        self.signing_input
    }

    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The unverified claims.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The decoded payload text.
    #[must_use]
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    #[must_use]
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    pub(crate) fn into_parts(self) -> (Header, Map<String, Value>, String, Vec<u8>) {
        (self.header, self.claims, self.payload_json, self.signature)
    }
}

fn json_error(e: StrictJsonError, malformed: ParseError) -> ParseError {
    match e {
        StrictJsonError::DuplicateMember => ParseError::DuplicateMember,
        StrictJsonError::Syntax | StrictJsonError::NotAnObject => malformed,
    }
}

/// Parses a compact JWS: size, shape, encoding, JSON and the header rules above.
pub fn parse(token: &str) -> Result<ParsedToken<'_>, ParseError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ParseError::TooLarge);
    }
    let segments: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = segments.as_slice() else {
        return Err(if segments.len() == 5 {
            ParseError::Encrypted
        } else {
            ParseError::Malformed
        });
    };
    if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
        return Err(ParseError::Malformed);
    }
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(ParseError::Malformed)?;

    let header_bytes =
        Base64UrlUnpadded::decode_vec(header_b64).map_err(|_| ParseError::InvalidBase64)?;
    let header_map =
        parse_object(&header_bytes).map_err(|e| json_error(e, ParseError::MalformedHeader))?;
    let header = check_header(&header_map)?;

    let payload_bytes =
        Base64UrlUnpadded::decode_vec(payload_b64).map_err(|_| ParseError::InvalidBase64)?;
    let claims =
        parse_object(&payload_bytes).map_err(|e| json_error(e, ParseError::MalformedPayload))?;
    let payload_json =
        String::from_utf8(payload_bytes).map_err(|_| ParseError::MalformedPayload)?;

    let signature =
        Base64UrlUnpadded::decode_vec(signature_b64).map_err(|_| ParseError::InvalidBase64)?;

    Ok(ParsedToken {
        signing_input,
        header,
        claims,
        payload_json,
        signature,
    })
}

fn check_header(header: &Map<String, Value>) -> Result<Header, ParseError> {
    let alg = match header.get("alg") {
        Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
            return Err(ParseError::AlgNone)
        }
        Some(Value::String(name)) => {
            Algorithm::from_name(name).ok_or(ParseError::AlgUnsupported)?
        }
        _ => return Err(ParseError::MalformedHeader),
    };
    if header.contains_key("crit") {
        return Err(ParseError::Crit);
    }
    if EMBEDDED_KEY_PARAMETERS
        .iter()
        .any(|p| header.contains_key(*p))
    {
        return Err(ParseError::EmbeddedKey);
    }
    if header.contains_key("cty") {
        return Err(ParseError::Nested);
    }
    let typ_at_jwt = match header.get("typ") {
        None => false,
        Some(Value::String(t)) if ACCEPTED_TYPES.iter().any(|a| a.eq_ignore_ascii_case(t)) => {
            ACCESS_TOKEN_TYPES.iter().any(|a| a.eq_ignore_ascii_case(t))
        }
        Some(_) => return Err(ParseError::TypNotAllowed),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_BYTES => Some(k.clone()),
        Some(_) => return Err(ParseError::InvalidKid),
    };
    Ok(Header {
        alg,
        kid,
        typ_at_jwt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        Base64UrlUnpadded::encode_string(json.as_bytes())
    }

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            seg(header),
            seg(payload),
            Base64UrlUnpadded::encode_string(&[1u8; 64])
        )
    }

    fn err(header: &str) -> ParseError {
        parse(&token(header, r#"{"sub":"a"}"#)).unwrap_err()
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a"}"#,
        );
        let p = parse(&t).unwrap();
        assert_eq!(
            p.header(),
            &Header {
                alg: Algorithm::Es256,
                kid: Some("k1".into()),
                typ_at_jwt: false,
            }
        );
        assert_eq!(p.payload_json(), r#"{"sub":"a"}"#);
        assert_eq!(p.signature(), &[1u8; 64]);
        assert_eq!(t.strip_prefix(p.signing_input()).unwrap().len(), 1 + 86);
    }

    #[test]
    fn shape_and_size_rules() {
        assert_eq!(parse("a.b").unwrap_err(), ParseError::Malformed);
        assert_eq!(parse("a.b.c.d").unwrap_err(), ParseError::Malformed);
        assert_eq!(parse("a.b.c.d.e").unwrap_err(), ParseError::Encrypted);
        assert_eq!(parse("..").unwrap_err(), ParseError::Malformed);
        let unsigned = format!("{}.{}.", seg(r#"{"alg":"ES256"}"#), seg("{}"));
        assert_eq!(parse(&unsigned).unwrap_err(), ParseError::Malformed);
        let big = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(parse(&big).unwrap_err(), ParseError::TooLarge);
        let padded = format!("{}=.{}.AAAA", seg(r#"{"alg":"ES256"}"#), seg("{}"));
        assert_eq!(parse(&padded).unwrap_err(), ParseError::InvalidBase64);
    }

    #[test]
    fn header_rules() {
        for none in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(err(&format!(r#"{{"alg":"{none}"}}"#)), ParseError::AlgNone);
        }
        assert_eq!(err(r#"{"alg":"HS512"}"#), ParseError::AlgUnsupported);
        assert_eq!(err(r#"{"alg":"rs256"}"#), ParseError::AlgUnsupported);
        assert_eq!(err(r#"{"alg":null}"#), ParseError::MalformedHeader);
        assert_eq!(err(r#"{"kid":"a"}"#), ParseError::MalformedHeader);
        assert_eq!(err(r#"["alg"]"#), ParseError::MalformedHeader);
        assert_eq!(
            err(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#),
            ParseError::Crit
        );
        for p in EMBEDDED_KEY_PARAMETERS {
            assert_eq!(
                err(&format!(r#"{{"alg":"RS256","{p}":"x"}}"#)),
                ParseError::EmbeddedKey
            );
        }
        assert_eq!(err(r#"{"alg":"RS256","cty":"JWT"}"#), ParseError::Nested);
        assert_eq!(
            err(r#"{"alg":"RS256","typ":"dpop+jwt"}"#),
            ParseError::TypNotAllowed
        );
        assert_eq!(err(r#"{"alg":"RS256","typ":1}"#), ParseError::TypNotAllowed);
        for (typ, at) in [
            ("AT+JWT", true),
            ("at+jwt", true),
            ("Application/AT+JWT", true),
            ("JWT", false),
            ("application/jwt", false),
        ] {
            let header = format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#);
            assert_eq!(
                parse(&token(&header, "{}")).unwrap().header().typ_at_jwt,
                at,
                "{typ}"
            );
        }
        assert!(
            !parse(&token(r#"{"alg":"RS256"}"#, "{}"))
                .unwrap()
                .header()
                .typ_at_jwt
        );
        assert_eq!(err(r#"{"alg":"RS256","kid":""}"#), ParseError::InvalidKid);
        assert_eq!(err(r#"{"alg":"RS256","kid":7}"#), ParseError::InvalidKid);
        let long = format!(
            r#"{{"alg":"RS256","kid":"{}"}}"#,
            "k".repeat(MAX_KID_BYTES + 1)
        );
        assert_eq!(err(&long), ParseError::InvalidKid);
        assert_eq!(
            err(r#"{"alg":"RS256","alg":"RS256"}"#),
            ParseError::DuplicateMember
        );
    }

    #[test]
    fn payload_must_be_a_unique_member_object() {
        let h = r#"{"alg":"RS256"}"#;
        assert_eq!(
            parse(&token(h, "[]")).unwrap_err(),
            ParseError::MalformedPayload
        );
        assert_eq!(
            parse(&token(h, "not json")).unwrap_err(),
            ParseError::MalformedPayload
        );
        assert_eq!(
            parse(&token(h, r#"{"sub":"a","sub":"b"}"#)).unwrap_err(),
            ParseError::DuplicateMember
        );
    }
}
