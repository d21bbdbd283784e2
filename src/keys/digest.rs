//! SHA-256 of a whole token: the only form in which a key's token is kept or looked up (the
//! token itself is never stored). Owns the digest type and its hex form; never names a KV key
//! (the schema built from a digest is [`super::repository`]'s).

use sha2::{Digest, Sha256};

/// The SHA-256 digest of a presented token. Its `Debug` does not print it: a hash of a
/// credential is as sensitive as a log line can get.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    #[must_use]
    pub fn of(token: &str) -> Self {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// Rebuild from lowercase hex (as kept in secondary records).
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(TokenDigest(out))
    }

    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_sha256_and_debug_hides_it() {
        assert_eq!(
            TokenDigest::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = TokenDigest::of("x");
        assert_eq!(TokenDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(format!("{d:?}"), "TokenDigest(..)");
    }
}
