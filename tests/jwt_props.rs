//! Property tests: arbitrary input never panics the parser, never fetches keys, and the
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
use support_jwt::{issuers, raw_issuer, settings, ScriptedSource};

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
}
