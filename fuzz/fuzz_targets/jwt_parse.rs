//! The JWT parse phase (size, shape, base64url, strict JSON, header rules) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|token: &str| {
    if let Ok(parsed) = edge_auth::jwt::token::parse(token) {
        // The signing input is a prefix of the token (`header.payload`).
        assert!(token.starts_with(parsed.signing_input()));
        let _ = (
            parsed.header(),
            parsed.claims(),
            parsed.payload_json(),
            parsed.signature(),
        );
    }
});
