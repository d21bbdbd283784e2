//! The header plan: which request headers reach the origin and which identity headers are added.
//! Every client-sent `x-auth-*` header (any case, `_` read as `-`) is removed on every path,
//! before anything else looks at the request.

use crate::identity::Identity;

/// Header names compared lowercase. Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// True for a header the edge owns: its name, lowercased with `_` read as `-`, starts with
/// `x-auth-`.
#[must_use]
pub fn is_reserved_auth_header(name: &str) -> bool {
    let mut normalised = name.bytes().map(|b| match b {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    });
    b"x-auth-"
        .iter()
        .all(|expected| normalised.next() == Some(*expected))
}

/// The credential headers, stripped unless the route asks to forward them.
fn is_credential_header(lower: &str) -> bool {
    lower == "authorization" || lower == "x-api-key"
}

/// The headers to send to the origin: `incoming` minus reserved, hop-by-hop (including any named
/// by `Connection`), `host` and, unless `forward_credentials`, credential headers; plus `set`.
#[must_use]
pub fn forward_headers(
    incoming: &[(String, String)],
    forward_credentials: bool,
    set: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let connection_named: Vec<String> = incoming
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out: Vec<(String, String)> = incoming
        .iter()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !(is_reserved_auth_header(&lower)
                || HOP_BY_HOP.contains(&lower.as_str())
                || connection_named.contains(&lower)
                || lower == "host"
                || (!forward_credentials && is_credential_header(&lower)))
        })
        .cloned()
        .collect();
    out.extend(set);
    out
}

/// Make a value safe for a header and unambiguous: bytes outside printable ASCII, and `%`
/// itself, are percent-encoded (an injective mapping, so two subjects never collide).
#[must_use]
pub fn header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The identity headers for a forwarded request (the assertion is added separately).
#[must_use]
pub fn identity_headers(identity: Option<&Identity>) -> Vec<(String, String)> {
    let Some(id) = identity else {
        return vec![("X-Auth-Type".to_string(), "anonymous".to_string())];
    };
    let mut out = vec![
        ("X-Auth-Type".to_string(), id.kind.as_str().to_string()),
        ("X-Auth-Subject".to_string(), header_value(&id.subject)),
        (
            "X-Auth-Scopes".to_string(),
            header_value(&id.scopes.join(" ")),
        ),
    ];
    let optional = [
        ("X-Auth-Issuer", id.issuer.as_deref()),
        ("X-Auth-Client-Id", id.client_id.as_deref()),
        ("X-Auth-Key-Id", id.key_id.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            out.push((name.to_string(), header_value(v)));
        }
    }
    if let Some(exp) = id.expires_at {
        out.push(("X-Auth-Expires-At".to_string(), exp.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialKind;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn reserved_names_in_every_spelling() {
        for n in [
            "x-auth-subject",
            "X-Auth-Subject",
            "X-AUTH-SCOPES",
            "x_auth_type",
            "X_Auth-Key-Id",
            "x-auth-",
        ] {
            assert!(is_reserved_auth_header(n), "{n}");
        }
        for n in [
            "x-authorization",
            "x-auth",
            "authorization",
            "xauth-subject",
            "x-api-key",
        ] {
            assert!(!is_reserved_auth_header(n), "{n}");
        }
    }

    #[test]
    fn forwarding_strips_spoofed_hop_by_hop_and_credentials() {
        let incoming = h(&[
            ("X-Auth-Subject", "admin"),
            ("x_auth_type", "jwt"),
            ("X-AUTH-SCOPES", "root"),
            ("Authorization", "Bearer secret"),
            ("X-API-Key", "eak_secret"),
            ("Connection", "close, X-Custom-Hop"),
            ("X-Custom-Hop", "1"),
            ("Keep-Alive", "5"),
            ("Host", "edge.example"),
            ("Accept", "application/json"),
            ("X-Request-Thing", "kept"),
        ]);
        let out = forward_headers(
            &incoming,
            false,
            vec![("X-Auth-Type".into(), "anonymous".into())],
        );
        assert_eq!(
            out,
            h(&[
                ("Accept", "application/json"),
                ("X-Request-Thing", "kept"),
                ("X-Auth-Type", "anonymous")
            ])
        );
    }

    #[test]
    fn credentials_forwarded_only_when_asked() {
        let incoming = h(&[("Authorization", "Bearer t"), ("x-auth-subject", "spoof")]);
        assert_eq!(
            forward_headers(&incoming, true, vec![]),
            h(&[("Authorization", "Bearer t")])
        );
    }

    #[test]
    fn header_values_are_injective_and_safe() {
        assert_eq!(header_value("user@example.com"), "user@example.com");
        assert_eq!(header_value("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
        assert_eq!(header_value("50%"), "50%25");
        assert_eq!(header_value("é"), "%C3%A9");
        assert_ne!(header_value("%41"), header_value("A"));
    }

    #[test]
    fn identity_headers_per_kind() {
        let id = Identity {
            kind: CredentialKind::ApiKey,
            subject: "svc".into(),
            scopes: vec!["read".into(), "write".into()],
            issuer: None,
            client_id: None,
            key_id: Some("key_1".into()),
            kid: None,
            expires_at: Some(99),
            claims_json: None,
        };
        assert_eq!(
            identity_headers(Some(&id)),
            h(&[
                ("X-Auth-Type", "api_key"),
                ("X-Auth-Subject", "svc"),
                ("X-Auth-Scopes", "read write"),
                ("X-Auth-Key-Id", "key_1"),
                ("X-Auth-Expires-At", "99"),
            ])
        );
        assert_eq!(identity_headers(None), h(&[("X-Auth-Type", "anonymous")]));
    }
}
