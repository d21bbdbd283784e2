//! OpenID Connect discovery documents: only `issuer` and `jwks_uri` matter here. The document
//! must name exactly the configured issuer (OpenID Connect Discovery 1.0 §4.3), otherwise a
//! compromised or misrouted discovery endpoint could point us at anyone's keys.

use crate::reason::Reason;
use serde_json::Value;

use super::MAX_DOCUMENT_BYTES;
use crate::jwt::config::check_fetch_url;

/// Why a discovery document was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not a JSON object with string `issuer` and `jwks_uri`.
    Malformed,
    /// Over [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// `issuer` differs from the configured issuer (byte for byte).
    IssuerMismatch,
    /// `jwks_uri` is not https (or loopback http).
    BadJwksUri,
}

impl DiscoveryError {
    /// Static reason code for logs and `503` answers.
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            DiscoveryError::Malformed => Reason::DiscoveryInvalid,
            DiscoveryError::TooLarge => Reason::DiscoveryTooLarge,
            DiscoveryError::IssuerMismatch => Reason::DiscoveryIssuerMismatch,
            DiscoveryError::BadJwksUri => Reason::DiscoveryJwksUriInvalid,
        }
    }
}

/// Returns the `jwks_uri` of a discovery document published for `expected_issuer`.
pub fn jwks_uri_from(document: &[u8], expected_issuer: &str) -> Result<String, DiscoveryError> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let value: Value = serde_json::from_slice(document).map_err(|_| DiscoveryError::Malformed)?;
    let issuer = value
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or(DiscoveryError::Malformed)?;
    if issuer != expected_issuer {
        return Err(DiscoveryError::IssuerMismatch);
    }
    let uri = value
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(DiscoveryError::Malformed)?;
    check_fetch_url(uri).map_err(|_| DiscoveryError::BadJwksUri)?;
    Ok(uri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://issuer.example";

    #[test]
    fn takes_jwks_uri_of_the_matching_issuer() {
        let doc = br#"{"issuer":"https://issuer.example","jwks_uri":"https://keys.example/jwks"}"#;
        assert_eq!(
            jwks_uri_from(doc, ISS).unwrap(),
            "https://keys.example/jwks"
        );
    }

    #[test]
    fn refuses_look_alike_issuers_and_bad_uris() {
        for issuer in [
            "https://issuer.example/",
            "https://ISSUER.example",
            "https://issuer.example.evil",
        ] {
            let doc = format!(r#"{{"issuer":"{issuer}","jwks_uri":"https://k.example/j"}}"#);
            assert_eq!(
                jwks_uri_from(doc.as_bytes(), ISS),
                Err(DiscoveryError::IssuerMismatch)
            );
        }
        let http = br#"{"issuer":"https://issuer.example","jwks_uri":"http://k.example/j"}"#;
        assert_eq!(jwks_uri_from(http, ISS), Err(DiscoveryError::BadJwksUri));
        let missing = br#"{"issuer":"https://issuer.example"}"#;
        assert_eq!(jwks_uri_from(missing, ISS), Err(DiscoveryError::Malformed));
        assert_eq!(jwks_uri_from(b"[]", ISS), Err(DiscoveryError::Malformed));
        // An empty body (what a source must never make of an oversized one) is malformed.
        assert_eq!(jwks_uri_from(b"", ISS), Err(DiscoveryError::Malformed));
    }

    #[test]
    fn refuses_documents_over_the_cap() {
        let mut doc =
            br#"{"issuer":"https://issuer.example","jwks_uri":"https://k.example/j"}"#.to_vec();
        doc.resize(MAX_DOCUMENT_BYTES, b' ');
        assert_eq!(jwks_uri_from(&doc, ISS).unwrap(), "https://k.example/j");
        doc.push(b' ');
        assert_eq!(jwks_uri_from(&doc, ISS), Err(DiscoveryError::TooLarge));
    }
}
