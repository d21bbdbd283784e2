//! `X-Auth-Assertion`: a short-lived EdDSA JWT the edge signs for the origin, so an origin can
//! tell a request that came through the edge from one that bypassed it. Key parsing, claims and
//! signing are pure: the adapter passes in `now`, a random `jti` and the request's origins.
//!
//! `ASSERTION_KEY` holds an Ed25519 private JWK (`{"kty":"OKP","crv":"Ed25519","d","x","kid"}`),
//! or a JSON array of them: the first signs, all are published in `{admin_path}/jwks.json`, so a
//! new key can be published before it signs and an old one kept while origins catch up.

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_compact::{KeyPair, Seed};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::identity::Identity;
use crate::time::UnixTime;

/// The JOSE `typ` of assertions (RFC 8725 §3.11 explicit typing): origins should require it.
pub const ASSERTION_TYP: &str = "edge-auth-assertion+jwt";

/// Why `ASSERTION_KEY` was refused. Never carries key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionKeyError(pub &'static str);

#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    crv: String,
    d: String,
    x: Option<String>,
    kid: Option<String>,
}

/// One Ed25519 signing key with its public JWK.
struct SigningKey {
    kid: String,
    pair: KeyPair,
}

impl SigningKey {
    fn public_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": Base64UrlUnpadded::encode_string(self.pair.pk.as_ref()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }
}

/// The edge's assertion keys: the first signs, all are published.
pub struct AssertionSigner {
    keys: Vec<SigningKey>,
    /// Public JWKs of retired keys from the config, still published.
    previous: Vec<Value>,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSigner")
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn parse_key(jwk: PrivateJwk) -> Result<SigningKey, AssertionKeyError> {
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(AssertionKeyError(
            "ASSERTION_KEY must be an Ed25519 OKP JWK",
        ));
    }
    let d = Base64UrlUnpadded::decode_vec(&jwk.d)
        .map_err(|_| AssertionKeyError("ASSERTION_KEY \"d\" is not base64url"))?;
    let seed = Seed::from_slice(&d)
        .map_err(|_| AssertionKeyError("ASSERTION_KEY \"d\" must be 32 bytes"))?;
    let pair = KeyPair::from_seed(seed);
    if let Some(x) = jwk.x {
        let given = Base64UrlUnpadded::decode_vec(&x)
            .map_err(|_| AssertionKeyError("ASSERTION_KEY \"x\" is not base64url"))?;
        if given.as_slice() != pair.pk.as_ref() {
            return Err(AssertionKeyError(
                "ASSERTION_KEY \"x\" does not match \"d\"",
            ));
        }
    }
    let kid = match jwk.kid {
        Some(k) if !k.is_empty() && k.len() <= 128 => k,
        Some(_) => {
            return Err(AssertionKeyError(
                "ASSERTION_KEY \"kid\" must be 1-128 characters",
            ))
        }
        // Without a kid, derive a stable one from the public key (RFC 7638 style thumbprint).
        None => thumbprint(pair.pk.as_ref()),
    };
    Ok(SigningKey { kid, pair })
}

fn thumbprint(public: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let canonical = format!(
        "{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{}\"}}",
        Base64UrlUnpadded::encode_string(public)
    );
    Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
}

impl AssertionSigner {
    /// Parse `ASSERTION_KEY` (one private JWK, or an array with the signing key first) and the
    /// config's `assertion.previous_keys` (public JWKs, published only).
    pub fn from_secret(secret: &str, previous: &[Value]) -> Result<Self, AssertionKeyError> {
        let value: Value = serde_json::from_str(secret.trim())
            .map_err(|_| AssertionKeyError("ASSERTION_KEY is not JSON"))?;
        let jwks: Vec<PrivateJwk> = match value {
            Value::Array(items) => items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<_, _>>()
                .map_err(|_| AssertionKeyError("ASSERTION_KEY entries must be private JWKs"))?,
            single => vec![serde_json::from_value(single)
                .map_err(|_| AssertionKeyError("ASSERTION_KEY must be a private JWK"))?],
        };
        if jwks.is_empty() || jwks.len() > 8 {
            return Err(AssertionKeyError("ASSERTION_KEY must hold 1 to 8 keys"));
        }
        let keys = jwks
            .into_iter()
            .map(parse_key)
            .collect::<Result<Vec<_>, _>>()?;
        for p in previous {
            let ok = p.get("kty") == Some(&json!("OKP"))
                && p.get("crv") == Some(&json!("Ed25519"))
                && p.get("x").is_some_and(Value::is_string)
                && p.get("d").is_none();
            if !ok {
                return Err(AssertionKeyError(
                    "assertion.previous_keys must be public Ed25519 JWKs (no \"d\")",
                ));
            }
        }
        Ok(AssertionSigner {
            keys,
            previous: previous.to_vec(),
        })
    }

    /// The JWKS origins verify assertions against.
    #[must_use]
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<Value> = self.keys.iter().map(SigningKey::public_jwk).collect();
        keys.extend(self.previous.iter().cloned());
        json!({ "keys": keys })
    }

    /// The kid that signs now.
    #[must_use]
    pub fn active_kid(&self) -> Option<&str> {
        self.keys.first().map(|k| k.kid.as_str())
    }

    /// `header.payload` of an assertion (base64url), ready to sign with the active key. The
    /// adapter signs it through WebCrypto (about 15x faster than Ed25519 in wasm), appending
    /// `.signature`. `None` only if there is no key (cannot happen after `from_secret`).
    #[must_use]
    pub fn signing_input(&self, claims: &AssertionClaims<'_>) -> Option<String> {
        let key = self.keys.first()?;
        let header = json!({ "alg": "EdDSA", "kid": key.kid, "typ": ASSERTION_TYP });
        let header = Base64UrlUnpadded::encode_string(header.to_string().as_bytes());
        let payload = serde_json::to_vec(claims).ok()?;
        let mut input = header;
        input.push('.');
        input.push_str(&Base64UrlUnpadded::encode_string(&payload));
        Some(input)
    }

    /// The complete assertion for `signing_input`, signed here in Rust: the reference the
    /// WebCrypto signature is tested against, and what native code uses.
    #[must_use]
    pub fn sign_input(&self, input: &str) -> Option<String> {
        let key = self.keys.first()?;
        let signature = key.pair.sk.sign(input.as_bytes(), None);
        Some(format!(
            "{input}.{}",
            Base64UrlUnpadded::encode_string(signature.as_ref())
        ))
    }

    /// Sign an assertion in Rust (see [`Self::sign_input`]).
    #[must_use]
    pub fn sign(&self, claims: &AssertionClaims<'_>) -> Option<String> {
        self.sign_input(&self.signing_input(claims)?)
    }

    /// The active private key as a JWK (`kty`, `crv`, `d`, `x`), for importing into WebCrypto
    /// once per isolate. It holds the secret: it must never be logged or sent anywhere.
    #[must_use]
    pub fn active_private_jwk(&self) -> Option<String> {
        let key = self.keys.first()?;
        let jwk = json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "d": Base64UrlUnpadded::encode_string(key.pair.sk.seed().as_ref()),
            "x": Base64UrlUnpadded::encode_string(key.pair.pk.as_ref()),
        });
        Some(jwk.to_string())
    }
}

/// The assertion's claims.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AssertionClaims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    pub auth_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss_upstream: Option<&'a str>,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    /// The forwarded method (RFC 9449 §4.2 `htm`).
    pub htm: &'a str,
    /// The forwarded URL without query and fragment (RFC 9449 §4.2 `htu`).
    pub htu: &'a str,
    /// The edge's request id.
    pub rid: &'a str,
    /// The declared length of the forwarded body, when the client declared one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
}

impl<'a> AssertionClaims<'a> {
    /// Claims for a forwarded request: `identity` is `None` for anonymous optional-route requests.
    /// `jti_random` should be 16 bytes from the CSPRNG.
    #[must_use]
    pub fn new(
        identity: Option<&'a Identity>,
        iss: &'a str,
        aud: &'a str,
        now: UnixTime,
        ttl_seconds: u64,
        jti_random: &[u8],
    ) -> Self {
        AssertionClaims {
            iss,
            aud,
            sub: identity.map(|i| i.subject()),
            auth_type: identity.map_or("anonymous", |i| i.kind().as_str()),
            scope: identity.map(|i| i.scopes().join(" ")),
            key_id: identity.and_then(|i| i.key_id()),
            client_id: identity.and_then(|i| i.client_id()),
            iss_upstream: identity.and_then(|i| i.issuer()),
            iat: now.0,
            exp: now.plus(ttl_seconds).0,
            jti: Base64UrlUnpadded::encode_string(jti_random),
            htm: "",
            htu: "",
            rid: "",
            content_length: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialKind;

    fn secret(seed_byte: u8, kid: &str) -> String {
        let d = Base64UrlUnpadded::encode_string(&[seed_byte; 32]);
        format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","kid":"{kid}"}}"#)
    }

    fn identity(kind: CredentialKind) -> Identity {
        Identity::for_tests(
            kind,
            "alice",
            &["read", "write"],
            (kind == CredentialKind::Jwt).then_some("https://idp"),
            (kind == CredentialKind::Jwt).then_some("cli"),
            (kind != CredentialKind::Jwt).then_some("key_1"),
            None,
            None,
        )
    }

    #[test]
    fn signs_a_verifiable_token_with_typed_header() {
        let signer = AssertionSigner::from_secret(&secret(7, "k1"), &[]).unwrap();
        let id = identity(CredentialKind::Jwt);
        let claims = AssertionClaims::new(
            Some(&id),
            "https://edge",
            "https://origin",
            UnixTime(1000),
            60,
            &[1; 16],
        );
        let token = signer.sign(&claims).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg":"EdDSA","kid":"k1","typ":ASSERTION_TYP})
        );
        let payload: Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["sub"], "alice");
        assert_eq!(payload["auth_type"], "jwt");
        assert_eq!(payload["scope"], "read write");
        assert_eq!(payload["client_id"], "cli");
        assert_eq!(payload["iss_upstream"], "https://idp");
        assert_eq!(payload["exp"], 1060);
        assert!(payload.get("key_id").is_none());
        let jwks = signer.jwks();
        let x = Base64UrlUnpadded::decode_vec(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
        let pk = ed25519_compact::PublicKey::from_slice(&x).unwrap();
        let sig = ed25519_compact::Signature::from_slice(
            &Base64UrlUnpadded::decode_vec(parts[2]).unwrap(),
        )
        .unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(pk.verify(signed.as_bytes(), &sig).is_ok());
        assert!(pk.verify(b"tampered", &sig).is_err());
    }

    #[test]
    fn claims_per_credential_kind() {
        let key = identity(CredentialKind::ApiKey);
        let c = AssertionClaims::new(Some(&key), "e", "o", UnixTime(5), 60, &[0; 16]);
        assert_eq!(
            (c.auth_type, c.key_id, c.client_id, c.iss_upstream),
            ("api_key", Some("key_1"), None, None)
        );
        let pat = identity(CredentialKind::Pat);
        assert_eq!(
            AssertionClaims::new(Some(&pat), "e", "o", UnixTime(5), 60, &[0; 16]).auth_type,
            "pat"
        );
        let anon = AssertionClaims::new(None, "e", "o", UnixTime(5), 60, &[0; 16]);
        assert_eq!(
            (anon.auth_type, anon.sub, anon.scope),
            ("anonymous", None, None)
        );
    }

    #[test]
    fn rotation_publishes_every_key_and_signs_with_the_first() {
        let both = format!("[{},{}]", secret(2, "new"), secret(1, "old"));
        let previous = vec![json!({"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"older"})];
        let signer = AssertionSigner::from_secret(&both, &previous).unwrap();
        assert_eq!(signer.active_kid(), Some("new"));
        let kids: Vec<String> = signer.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kids, ["new", "old", "older"]);
        assert!(!signer.jwks().to_string().contains("\"d\""));
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in [
            "not json",
            r#"{"kty":"RSA","crv":"Ed25519","d":"AA"}"#,
            r#"{"kty":"OKP","crv":"Ed25519","d":"AAAA"}"#,
            "[]",
        ] {
            let err = AssertionSigner::from_secret(bad, &[]).unwrap_err();
            assert!(!err.0.contains("AAAA"));
        }
        let mismatched = r#"{"kty":"OKP","crv":"Ed25519","d":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert!(AssertionSigner::from_secret(mismatched, &[]).is_err());
        let private_previous = vec![json!({"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"})];
        assert!(AssertionSigner::from_secret(&secret(1, "k"), &private_previous).is_err());
    }

    #[test]
    fn missing_kid_gets_a_stable_thumbprint() {
        let d = Base64UrlUnpadded::encode_string(&[9; 32]);
        let s = format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}"}}"#);
        let a = AssertionSigner::from_secret(&s, &[]).unwrap();
        let b = AssertionSigner::from_secret(&s, &[]).unwrap();
        assert_eq!(a.active_kid(), b.active_kid());
        assert_eq!(a.active_kid().unwrap().len(), 43);
    }
}
