//! The JWS algorithms this crate accepts, by their exact registered names (RFC 7518 §3.1,
//! RFC 8037 §3.1): RS256/384/512 (§3.3), PS256/384/512 (§3.5), ES256/384/512 (§3.4), EdDSA and
//! HS256 (§3.2; the only HMAC one). Nothing else (and in particular never `none`) can be
//! represented, so an unknown `alg` fails at parse time.

use core::fmt;

/// A JWS signature algorithm the verifier supports (RFC 7518, RFC 8037).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
    Ps256,
    /// RSASSA-PSS with SHA-384, MGF1 with SHA-384 and a 48-byte salt.
    Ps384,
    /// RSASSA-PSS with SHA-512, MGF1 with SHA-512 and a 64-byte salt.
    Ps512,
    /// ECDSA on P-256 with SHA-256; signatures are raw `r || s` (64 bytes).
    Es256,
    /// ECDSA on P-384 with SHA-384; signatures are raw `r || s` (96 bytes).
    Es384,
    /// ECDSA on P-521 with SHA-512; signatures are raw `r || s` (132 bytes: 2 × 66).
    Es512,
    /// Ed25519 (RFC 8037 `EdDSA` with an `Ed25519` OKP key).
    EdDsa,
    /// HMAC-SHA-256 with the issuer's configured secret (never with a JWKS key).
    Hs256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 11] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Hs256,
    ];

    /// The registered `alg` name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
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
    /// ECDSA signatures are raw `r || s`, each the curve order's byte length (RFC 7518 §3.4).
    #[must_use]
    pub fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::Es256 | Algorithm::EdDsa => Some(64),
            Algorithm::Es384 => Some(96),
            Algorithm::Es512 => Some(132),
            Algorithm::Hs256 => Some(32),
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => None,
        }
    }

    /// True for the RSA algorithms (RSASSA-PKCS1-v1_5 and RSASSA-PSS at every hash size).
    #[must_use]
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::Rs256
                | Algorithm::Rs384
                | Algorithm::Rs512
                | Algorithm::Ps256
                | Algorithm::Ps384
                | Algorithm::Ps512
        )
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
            "none", "None", "NONE", "rs256", "EDDSA", "Ed25519", "HS384", "HS512", "es384",
            "ES521", "PS1024", "ES256K", "",
        ] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn signature_lengths_are_fixed_except_for_rsa() {
        assert_eq!(Algorithm::Es256.signature_len(), Some(64));
        assert_eq!(Algorithm::Es384.signature_len(), Some(96));
        assert_eq!(Algorithm::Es512.signature_len(), Some(132));
        assert_eq!(Algorithm::EdDsa.signature_len(), Some(64));
        assert_eq!(Algorithm::Hs256.signature_len(), Some(32));
        for alg in Algorithm::ALL {
            assert_eq!(alg.signature_len().is_none(), alg.is_rsa(), "{alg}");
        }
        let names: Vec<_> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                "EdDSA", "HS256"
            ]
        );
    }
}
