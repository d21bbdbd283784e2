//! `KeySet::parse` on arbitrary bytes never panics; kept keys re-serialise to JWK JSON.
#![no_main]

use edge_auth::jwks::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|document: &[u8]| {
    if let Ok(set) = KeySet::parse(document) {
        for key in set.keys() {
            let _ = key.rsa_modulus_len();
            let _ = key.to_jwk_json();
        }
    }
});
