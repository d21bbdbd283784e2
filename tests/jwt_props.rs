//! Property tests: arbitrary input never panics the parser, never fetches keys, a well-formed
//! token that its claims or header already condemn is refused without a key fetch, and the
//! base64url codec round-trips while refusing every non-canonical spelling.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_jwt;

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_auth::jwt::{token, JwtAuthenticator, NativeKey, NativeVerifier};
use edge_auth::time::UnixTime;
use proptest::prelude::*;
use support_jwt::{issuers, raw_issuer, settings, ScriptedSource, AUD, ISS};

proptest! {
    #[test]
    fn base64url_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = Base64UrlUnpadded::encode_string(&bytes);
        prop_assert_eq!(Base64UrlUnpadded::decode_vec(&text).unwrap(), bytes);
    }

    #[test]
    fn decoding_is_canonical(text in "[A-Za-z0-9_=+/ -]{0,40}") {
        // Whatever decodes must re-encode to exactly the same text.
        if let Ok(bytes) = Base64UrlUnpadded::decode_vec(&text) {
            prop_assert_eq!(Base64UrlUnpadded::encode_string(&bytes), text);
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = token::parse(&text);
    }

    #[test]
    fn dotted_garbage_never_fetches(a in "[A-Za-z0-9_-]{0,60}", b in "[A-Za-z0-9_-]{0,60}", c in "[A-Za-z0-9_-]{0,90}") {
        let t = format!("{a}.{b}.{c}");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let auth = JwtAuthenticator::<NativeKey>::new(issuers(vec![raw_issuer()]), settings());
        let source = ScriptedSource::new();
        let r = rt.block_on(auth.authenticate(&t, &source, &NativeVerifier, UnixTime(1_900_000_000)));
        prop_assert!(r.is_err());
        prop_assert_eq!(source.fetches(), 0);
    }

    /// Dotted garbage rarely gets past the parser; these tokens do, with a header and claims
    /// drawn from what the policy checks before any key is looked up: the algorithm (allowed:
    /// EdDSA, ES256), the issuer, the audience, the expiry, the subject, the signature's length
    /// (64 bytes for both). Whenever one of them is wrong, the
    /// token is refused and no JWKS is fetched; when all are right, a fetch is what follows.
    #[test]
    fn a_well_formed_token_its_claims_condemn_never_fetches(
        alg in prop_oneof![Just("EdDSA"), Just("ES256"), Just("RS256"), Just("none"), Just("HS256")],
        iss_ok in any::<bool>(),
        aud_ok in any::<bool>(),
        exp_ok in any::<bool>(),
        sub in "[a-z]{0,8}",
        signature in prop_oneof![Just(1usize), Just(63), Just(64), Just(65)].prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
    ) {
        const NOW: u64 = 1_900_000_000;
        let header = serde_json::json!({ "alg": alg, "typ": "JWT", "kid": "k" });
        let claims = serde_json::json!({
            "iss": if iss_ok { ISS } else { "https://other.example" },
            "aud": if aud_ok { AUD } else { "https://elsewhere.example" },
            "exp": if exp_ok { NOW + 600 } else { NOW - 600 },
            "iat": NOW - 10,
            "sub": sub,
        });
        let t = format!(
            "{}.{}.{}",
            Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
            Base64UrlUnpadded::encode_string(claims.to_string().as_bytes()),
            Base64UrlUnpadded::encode_string(&signature),
        );
        // Well formed, so the refusals below are the policy's (`none` the parser itself refuses).
        prop_assert_eq!(token::parse(&t).is_ok(), alg != "none", "{}", t);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let auth = JwtAuthenticator::<NativeKey>::new(issuers(vec![raw_issuer()]), settings());
        let source = ScriptedSource::new();
        let r = rt.block_on(auth.authenticate(&t, &source, &NativeVerifier, UnixTime(NOW)));
        prop_assert!(r.is_err(), "no key signed it");
        let condemned = !(iss_ok
            && aud_ok
            && exp_ok
            && !sub.is_empty()
            && signature.len() == 64
            && matches!(alg, "EdDSA" | "ES256"));
        if condemned {
            prop_assert_eq!(source.fetches(), 0, "fetched keys for a condemned token");
        } else {
            prop_assert!(source.fetches() > 0, "a token that passes the policy is checked against the keys");
        }
    }
}
