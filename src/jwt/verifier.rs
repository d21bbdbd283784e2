//! The signature port: how the core asks for a signature check without knowing whether WebCrypto
//! (`crypto.subtle`, in the Worker) or pure-Rust crates (natively, [`NativeVerifier`]) do the
//! work. The core validates the signature's encoding first ([`signature_shape_ok`]), so every
//! backend sees only well-formed input, and HS256 never goes through the port at all: its key is
//! the configured secret, checked in constant time by [`verify_hs256`].
#![allow(async_fn_in_trait)]

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};

use super::alg::Algorithm;
use crate::jwks::PublicKey;

/// Why a backend could not import a key or run a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The backend refused the key (bad point, unsupported size, wrong algorithm for the key).
    BadKey,
    /// The backend cannot do this algorithm at all (HS256 never goes through the port).
    Unsupported,
    /// The backend itself failed; nothing is known about the signature.
    Backend,
}

impl VerifyError {
    /// Static reason code for logs.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            VerifyError::BadKey => "key_rejected",
            VerifyError::Unsupported => "verifier_unsupported",
            VerifyError::Backend => "verifier_error",
        }
    }
}

/// Signature verification with public keys from a JWKS.
///
/// `import` is called once per (issuer, key, algorithm) and its handle is kept with the cached
/// key, so a WebCrypto `CryptoKey` is not re-imported on every request. Futures are not `Send`:
/// a Worker isolate is single-threaded.
pub trait SignatureVerifier {
    /// An imported key, ready to verify `alg` signatures.
    type Key: Clone;

    /// Imports `key` for `alg`. The core only asks for algorithms the key allows.
    async fn import(&self, key: &PublicKey, alg: Algorithm) -> Result<Self::Key, VerifyError>;

    /// Verifies `signature` over `signing_input`. For ES256 the signature is raw `r || s`
    /// (64 bytes; WebCrypto's ECDSA format), already checked to have `0 < r, s < n`.
    async fn verify(
        &self,
        key: &Self::Key,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifyError>;
}

/// Order `n` of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// A scalar in `[1, n-1]` (big-endian, 32 bytes).
fn p256_scalar_in_range(scalar: &[u8]) -> bool {
    let nonzero = scalar.iter().any(|b| *b != 0);
    // Big-endian byte strings of equal length compare like the integers they encode.
    nonzero && scalar < P256_ORDER.as_slice()
}

/// Checks a signature's encoding before any backend sees it: the exact length of the algorithm
/// (and, for RSA once the key is known, the modulus length), and for ES256 that `r` and `s` lie
/// in `[1, n-1]`. The last check is what defeats "psychic signatures" (`r = s = 0`,
/// CVE-2022-21449) whatever the backend does. Without a key, RSA lengths are not checked.
#[must_use]
pub fn signature_shape_ok(alg: Algorithm, signature: &[u8], key: Option<&PublicKey>) -> bool {
    match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => match key.and_then(PublicKey::rsa_modulus_len) {
            Some(len) => signature.len() == len,
            None => !signature.is_empty(),
        },
        Algorithm::Es256 => match signature.split_at_checked(32) {
            Some((r, s)) if s.len() == 32 => p256_scalar_in_range(r) && p256_scalar_in_range(s),
            _ => false,
        },
        Algorithm::EdDsa => signature.len() == 64,
        Algorithm::Hs256 => signature.len() == 32,
    }
}

/// HMAC-SHA-256 verification with the configured secret, compared in constant time.
#[must_use]
pub fn verify_hs256(secret: &[u8], signing_input: &[u8], signature: &[u8]) -> bool {
    if signature.len() != 32 {
        return false;
    }
    // The length is checked above, so this conversion cannot fail.
    let Ok(signature) = <Hs256 as jwt_compact::Algorithm>::Signature::try_from_slice(signature)
    else {
        return false;
    };
    Hs256.verify_signature(&signature, &Hs256Key::new(secret), signing_input)
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{NativeKey, NativeVerifier};

/// The native backend: jwt-compact over the `rsa`, `p256` and `ed25519-compact` crates. It stands
/// in for WebCrypto in tests and native tools; the wasm build does not include those crates.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::borrow::Cow;
    use std::rc::Rc;

    use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPublicKey, RsaSignature};
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm as _, AlgorithmSignature as _};

    use super::{Algorithm, SignatureVerifier, VerifyError};
    use crate::jwks::{KeyMaterial, PublicKey};

    type P256Key = <Es256 as jwt_compact::Algorithm>::VerifyingKey;

    /// A key imported by [`NativeVerifier`].
    #[derive(Clone, Debug)]
    pub enum NativeKey {
        Rsa(Rc<RsaPublicKey>),
        P256(P256Key),
        Ed25519(ed25519_compact::PublicKey),
    }

    /// [`SignatureVerifier`] with pure-Rust crates.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct NativeVerifier;

    impl SignatureVerifier for NativeVerifier {
        type Key = NativeKey;

        async fn import(&self, key: &PublicKey, alg: Algorithm) -> Result<NativeKey, VerifyError> {
            if !key.allows(alg) {
                return Err(VerifyError::BadKey);
            }
            match &key.material {
                KeyMaterial::Rsa { n, e } => {
                    let jwk = JsonWebKey::Rsa {
                        modulus: Cow::Borrowed(n),
                        public_exponent: Cow::Borrowed(e),
                        private_parts: None,
                    };
                    RsaPublicKey::try_from(&jwk)
                        .map(|k| NativeKey::Rsa(Rc::new(k)))
                        .map_err(|_| VerifyError::BadKey)
                }
                KeyMaterial::P256 { x, y } => {
                    let mut sec1 = Vec::with_capacity(65);
                    sec1.push(0x04);
                    sec1.extend_from_slice(x);
                    sec1.extend_from_slice(y);
                    <P256Key as jwt_compact::alg::VerifyingKey<Es256>>::from_slice(&sec1)
                        .map(NativeKey::P256)
                        .map_err(|_| VerifyError::BadKey)
                }
                KeyMaterial::Ed25519 { x } => ed25519_compact::PublicKey::from_slice(x)
                    .map(NativeKey::Ed25519)
                    .map_err(|_| VerifyError::BadKey),
            }
        }

        async fn verify(
            &self,
            key: &NativeKey,
            alg: Algorithm,
            signing_input: &[u8],
            signature: &[u8],
        ) -> Result<bool, VerifyError> {
            let ok = match (key, alg) {
                (NativeKey::Rsa(k), Algorithm::Rs256 | Algorithm::Ps256) => {
                    let rsa = if alg == Algorithm::Rs256 {
                        Rsa::rs256()
                    } else {
                        Rsa::ps256()
                    };
                    RsaSignature::try_from_slice(signature)
                        .is_ok_and(|sig| rsa.verify_signature(&sig, k, signing_input))
                }
                (NativeKey::P256(k), Algorithm::Es256) => {
                    signature.len() == 64
                        && <Es256 as jwt_compact::Algorithm>::Signature::try_from_slice(signature)
                            .is_ok_and(|sig| Es256.verify_signature(&sig, k, signing_input))
                }
                (NativeKey::Ed25519(k), Algorithm::EdDsa) => {
                    signature.len() == 64
                        && <Ed25519 as jwt_compact::Algorithm>::Signature::try_from_slice(signature)
                            .is_ok_and(|sig| Ed25519.verify_signature(&sig, k, signing_input))
                }
                _ => return Err(VerifyError::BadKey),
            };
            Ok(ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_scalars_must_be_in_range() {
        let mut sig = [0u8; 64];
        assert!(
            !signature_shape_ok(Algorithm::Es256, &sig, None),
            "r = s = 0"
        );
        sig[31] = 1;
        assert!(!signature_shape_ok(Algorithm::Es256, &sig, None), "s = 0");
        sig[63] = 1;
        assert!(
            signature_shape_ok(Algorithm::Es256, &sig, None),
            "r = s = 1"
        );
        sig[32..].copy_from_slice(&P256_ORDER);
        assert!(!signature_shape_ok(Algorithm::Es256, &sig, None), "s = n");
        sig[63] -= 1;
        assert!(
            signature_shape_ok(Algorithm::Es256, &sig, None),
            "s = n - 1"
        );
        sig[32..].copy_from_slice(&[0xFF; 32]);
        assert!(!signature_shape_ok(Algorithm::Es256, &sig, None), "s > n");
        assert!(!signature_shape_ok(Algorithm::Es256, &sig[..63], None));
        assert!(!signature_shape_ok(Algorithm::Es256, &[1u8; 65], None));
    }

    #[test]
    fn fixed_lengths() {
        assert!(signature_shape_ok(Algorithm::EdDsa, &[0u8; 64], None));
        assert!(!signature_shape_ok(Algorithm::EdDsa, &[0u8; 63], None));
        assert!(signature_shape_ok(Algorithm::Hs256, &[0u8; 32], None));
        assert!(!signature_shape_ok(Algorithm::Hs256, &[0u8; 33], None));
        assert!(signature_shape_ok(Algorithm::Rs256, &[0u8; 10], None));
        let key = PublicKey {
            kid: None,
            alg: None,
            material: crate::jwks::KeyMaterial::Rsa {
                n: vec![0xC0; 256],
                e: vec![1, 0, 1],
            },
        };
        assert!(signature_shape_ok(
            Algorithm::Rs256,
            &[0u8; 256],
            Some(&key)
        ));
        assert!(!signature_shape_ok(
            Algorithm::Ps256,
            &[0u8; 255],
            Some(&key)
        ));
    }

    #[test]
    fn hs256_checks_the_mac() {
        use hmac::{Hmac, Mac};
        let key = [7u8; 32];
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"a.b");
        let tag = mac.finalize().into_bytes();
        assert!(verify_hs256(&key, b"a.b", &tag));
        assert!(!verify_hs256(&key, b"a.c", &tag));
        assert!(!verify_hs256(&[8u8; 32], b"a.b", &tag));
        assert!(!verify_hs256(&key, b"a.b", &tag[..31]));
    }
}
