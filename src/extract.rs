//! Credential extraction: request headers → at most one presented credential. It only reads
//! syntax; it does not know what a valid token is. Never from the query string.

use crate::reason::Reason;
/// Where a credential was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Authorization: Bearer …`
    Authorization,
    /// `X-API-Key: …`
    ApiKeyHeader,
}

/// A credential as presented, still unverified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    pub token: &'a str,
    pub source: CredentialSource,
}

/// The result of extraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extracted<'a> {
    /// No credential at all.
    None,
    /// An `Authorization` header with a scheme other than Bearer (RFC 6750 §3.1: answered like a
    /// missing credential, without an error code).
    UnsupportedScheme,
    /// Exactly one credential.
    One(Presented<'a>),
}

/// A request that is malformed as far as credentials go (400 `invalid_request`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// More than one credential: two headers, or a repeated header joined by the runtime.
    MultipleCredentials,
    /// `Bearer` without a token, extra spaces, or characters outside RFC 6750's `b64token`.
    BadBearerSyntax,
    /// `X-API-Key` that is empty or holds characters no key can contain.
    BadApiKeyHeader,
}

impl Malformed {
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            Malformed::MultipleCredentials => Reason::MultipleCredentials,
            Malformed::BadBearerSyntax => Reason::BadBearerSyntax,
            Malformed::BadApiKeyHeader => Reason::BadApiKeyHeader,
        }
    }

    #[must_use]
    pub fn detail(self) -> &'static str {
        match self {
            Malformed::MultipleCredentials => "Send exactly one credential per request.",
            Malformed::BadBearerSyntax => {
                "The Authorization header must be \"Bearer <token>\" with a single token."
            }
            Malformed::BadApiKeyHeader => "The X-API-Key header does not hold a well-formed key.",
        }
    }
}

/// Longest credential we look at; JWTs are capped at 16 KiB again by the JWT policy.
pub const MAX_CREDENTIAL_LEN: usize = 16 * 1024;

/// Extract the credential from the `Authorization` and `X-API-Key` header values (as the runtime
/// presents them: a repeated header arrives joined with `", "`).
///
/// Trailing whitespace is not part of a field value (RFC 9110 §5.5), so it is dropped. A
/// credential over [`MAX_CREDENTIAL_LEN`] is still extracted: it is an invalid token (401),
/// not a malformed request, and the verifiers refuse it before looking at it.
pub fn extract<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
) -> Result<Extracted<'a>, Malformed> {
    let ows = |v: &'a str| v.trim_end_matches([' ', '\t']);
    let authorization = authorization.map(ows);
    let api_key = api_key.map(ows);
    let bearer = match authorization {
        None => None,
        Some(value) => match parse_authorization(value)? {
            Some(token) => Some(token),
            None => {
                // Another scheme. With an X-API-Key as well, that is two credentials.
                if api_key.is_some() {
                    return Err(Malformed::MultipleCredentials);
                }
                return Ok(Extracted::UnsupportedScheme);
            }
        },
    };
    let header_key = match api_key {
        None => None,
        Some(value) => {
            if value.contains(',') {
                return Err(Malformed::MultipleCredentials);
            }
            if !is_b64token(value) {
                return Err(Malformed::BadApiKeyHeader);
            }
            Some(value)
        }
    };
    Ok(match (bearer, header_key) {
        (Some(_), Some(_)) => return Err(Malformed::MultipleCredentials),
        (Some(token), None) => Extracted::One(Presented {
            token,
            source: CredentialSource::Authorization,
        }),
        (None, Some(token)) => Extracted::One(Presented {
            token,
            source: CredentialSource::ApiKeyHeader,
        }),
        (None, None) => Extracted::None,
    })
}

/// `Ok(Some(token))` for a well-formed Bearer credential, `Ok(None)` for another scheme.
fn parse_authorization(value: &str) -> Result<Option<&str>, Malformed> {
    // A header repeated by the client reaches us joined with ", ": a comma can never be part of
    // a single Bearer credential, so it means two of them.
    let (scheme, rest) = match value.split_once(' ') {
        Some((s, r)) => (s, Some(r)),
        None => (value, None),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme first, and a Bearer credential after a comma (in any case, as schemes
        // are compared everywhere else: `Basic …, BEARER eak_…`).
        if value.split(',').skip(1).any(is_bearer_element) {
            return Err(Malformed::MultipleCredentials);
        }
        return Ok(None);
    }
    let token = rest.ok_or(Malformed::BadBearerSyntax)?;
    if token.contains(',') {
        return Err(Malformed::MultipleCredentials);
    }
    if !is_b64token(token) {
        return Err(Malformed::BadBearerSyntax);
    }
    Ok(Some(token))
}

/// An element of a comma-joined `Authorization` value that is a Bearer credential: the scheme,
/// any case, then whitespace or nothing.
fn is_bearer_element(element: &str) -> bool {
    let element = element.trim_start_matches([' ', '\t']);
    element
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
        && element
            .get(6..)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(token: &str, source: CredentialSource) -> Result<Extracted<'_>, Malformed> {
        Ok(Extracted::One(Presented { token, source }))
    }

    #[test]
    fn bearer_and_api_key_header() {
        assert_eq!(
            extract(Some("Bearer abc.def.ghi"), None),
            one("abc.def.ghi", CredentialSource::Authorization)
        );
        assert_eq!(
            extract(Some("bearer eak_x"), None),
            one("eak_x", CredentialSource::Authorization)
        );
        assert_eq!(
            extract(Some("BEARER eak_x"), None),
            one("eak_x", CredentialSource::Authorization)
        );
        assert_eq!(
            extract(None, Some("eak_x")),
            one("eak_x", CredentialSource::ApiKeyHeader)
        );
        assert_eq!(extract(None, None), Ok(Extracted::None));
    }

    #[test]
    fn two_credentials_are_malformed() {
        assert_eq!(
            extract(Some("Bearer a"), Some("b")),
            Err(Malformed::MultipleCredentials)
        );
        assert_eq!(
            extract(Some("Bearer a, Bearer b"), None),
            Err(Malformed::MultipleCredentials)
        );
        for joined in [
            "Basic x, Bearer b",
            "Basic dXNlcjpwYXNz, BEARER eak_x",
            "Basic x,bearer\tb",
            "Digest realm=\"a\", bearer",
        ] {
            assert_eq!(
                extract(Some(joined), None),
                Err(Malformed::MultipleCredentials),
                "{joined}"
            );
        }
        // A parameter that only starts like the scheme is no second credential.
        assert_eq!(
            extract(Some("Digest realm=\"a\", bearerish=1"), None),
            Ok(Extracted::UnsupportedScheme)
        );
        assert_eq!(
            extract(None, Some("a, b")),
            Err(Malformed::MultipleCredentials)
        );
        assert_eq!(
            extract(Some("Basic dXNlcjpwYXNz"), Some("b")),
            Err(Malformed::MultipleCredentials)
        );
    }

    #[test]
    fn bad_bearer_syntax() {
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer  abc",
            "Bearer a b",
            "Bearer a\tb",
            "Bearer ===",
            "Bearer a=b",
            "Bearer é",
        ] {
            assert_eq!(
                extract(Some(v), None),
                Err(Malformed::BadBearerSyntax),
                "{v:?}"
            );
        }
    }

    #[test]
    fn an_oversized_credential_is_extracted_for_the_verifier_to_refuse() {
        let token = "a".repeat(MAX_CREDENTIAL_LEN + 1);
        let huge = format!("Bearer {token}");
        assert_eq!(
            extract(Some(&huge), None),
            one(&token, CredentialSource::Authorization)
        );
    }

    #[test]
    fn trailing_whitespace_is_not_part_of_the_credential() {
        assert_eq!(
            extract(Some("Bearer abc.def.ghi \t "), None),
            one("abc.def.ghi", CredentialSource::Authorization)
        );
        assert_eq!(
            extract(None, Some("eak_x  ")),
            one("eak_x", CredentialSource::ApiKeyHeader)
        );
    }

    #[test]
    fn padding_is_allowed_only_at_the_end() {
        assert_eq!(
            extract(Some("Bearer abc=="), None),
            one("abc==", CredentialSource::Authorization)
        );
    }

    #[test]
    fn other_schemes_are_unsupported_not_credentials() {
        assert_eq!(
            extract(Some("Basic dXNlcjpwYXNz"), None),
            Ok(Extracted::UnsupportedScheme)
        );
        assert_eq!(
            extract(Some("Token abc"), None),
            Ok(Extracted::UnsupportedScheme)
        );
        assert_eq!(
            extract(Some("Bearerabc"), None),
            Ok(Extracted::UnsupportedScheme)
        );
    }

    #[test]
    fn bad_api_key_header() {
        assert_eq!(extract(None, Some("")), Err(Malformed::BadApiKeyHeader));
        assert_eq!(extract(None, Some("a b")), Err(Malformed::BadApiKeyHeader));
    }
}
