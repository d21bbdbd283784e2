//! The JWS algorithms this crate accepts, by their exact registered names. Nothing else (and in
//! particular never `none`) can be represented, so an unknown `alg` fails at parse time.

use core::fmt;

/// A JWS signature algorithm the verifier supports (RFC 7518, RFC 8037).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
    Ps256,
    /// ECDSA on P-256 with SHA-256; signatures are raw `r || s` (64 bytes).
    Es256,
    /// Ed25519 (RFC 8037 `EdDSA` with an `Ed25519` OKP key).
    EdDsa,
    /// HMAC-SHA-256 with the issuer's configured secret (never with a JWKS key).
    Hs256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Hs256,
    ];

    /// The registered `alg` name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
        }
    }

    /// Exact, case-sensitive lookup: `rs256` or `NONE` are not algorithms (RFC 7515 §4.1.1).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Exact length of a signature, when the algorithm fixes one (RSA depends on the key).
    #[must_use]
    pub fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::Es256 | Algorithm::EdDsa => Some(64),
            Algorithm::Hs256 => Some(32),
            Algorithm::Rs256 | Algorithm::Ps256 => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.as_str()), Some(alg));
        }
        for bad in [
            "none", "None", "NONE", "rs256", "EDDSA", "Ed25519", "HS384", "",
        ] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }
}
