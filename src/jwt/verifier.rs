//! The signature port: how the core asks for a signature check without knowing whether WebCrypto
//! (`crypto.subtle`, in the Worker) or pure-Rust crates (natively, [`NativeVerifier`]) do the
//! work. The core validates the signature's encoding first ([`signature_shape_ok`]: RFC 8725
//! §3.1/§3.4 exact lengths, ECDSA `r`, `s` in `[1, n-1]` for each curve's order `n`, RFC 7518
//! §3.4), so every backend sees only well-formed input, and HS256 never goes through the port at
//! all: its key is the configured secret, checked in constant time by [`verify_hs256`].
#![allow(async_fn_in_trait)]

use crate::reason::Reason;
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
    pub fn reason(self) -> Reason {
        match self {
            VerifyError::BadKey => Reason::KeyRejected,
            VerifyError::Unsupported => Reason::VerifierUnsupported,
            VerifyError::Backend => Reason::VerifierError,
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

    /// Verifies `signature` over `signing_input`. For ECDSA the signature is raw `r || s` (64,
    /// 96 or 132 bytes; WebCrypto's ECDSA format), already checked to have `0 < r, s < n`.
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

/// Order `n` of the P-384 group, big-endian.
const P384_ORDER: [u8; 48] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73,
];

/// Order `n` of the P-521 group, big-endian in 66 bytes (521 bits: the top byte is `0x01`).
const P521_ORDER: [u8; 66] = [
    0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFA, 0x51, 0x86, 0x87, 0x83, 0xBF, 0x2F, 0x96, 0x6B, 0x7F, 0xCC, 0x01, 0x48, 0xF7, 0x09,
    0xA5, 0xD0, 0x3B, 0xB5, 0xC9, 0xB8, 0x89, 0x9C, 0x47, 0xAE, 0xBB, 0x6F, 0xB7, 0x1E, 0x91, 0x38,
    0x64, 0x09,
];

/// A scalar in `[1, n-1]`, both big-endian and of the same length as `order`.
fn scalar_in_range(scalar: &[u8], order: &[u8]) -> bool {
    let nonzero = scalar.iter().any(|b| *b != 0);
    // Big-endian byte strings of equal length compare like the integers they encode.
    scalar.len() == order.len() && nonzero && scalar < order
}

/// A raw ECDSA signature `r || s` (RFC 7518 §3.4): exactly twice the order's length, each half
/// in `[1, n-1]`.
fn ecdsa_shape_ok(signature: &[u8], order: &[u8]) -> bool {
    match signature.split_at_checked(order.len()) {
        Some((r, s)) => scalar_in_range(r, order) && scalar_in_range(s, order),
        None => false,
    }
}

/// Checks a signature's encoding before any backend sees it: the exact length of the algorithm
/// (and, for RSA once the key is known, the modulus length), and for ECDSA on every curve that
/// `r` and `s` lie in `[1, n-1]`. The last check is what defeats "psychic signatures"
/// (`r = s = 0`, CVE-2022-21449) whatever the backend does, and it refuses DER-encoded
/// signatures by their length. Without a key, RSA lengths are not checked.
#[must_use]
pub fn signature_shape_ok(alg: Algorithm, signature: &[u8], key: Option<&PublicKey>) -> bool {
    match alg {
        Algorithm::Rs256
        | Algorithm::Rs384
        | Algorithm::Rs512
        | Algorithm::Ps256
        | Algorithm::Ps384
        | Algorithm::Ps512 => match key.and_then(PublicKey::rsa_modulus_len) {
            Some(len) => signature.len() == len,
            None => !signature.is_empty(),
        },
        Algorithm::Es256 => ecdsa_shape_ok(signature, &P256_ORDER),
        Algorithm::Es384 => ecdsa_shape_ok(signature, &P384_ORDER),
        Algorithm::Es512 => ecdsa_shape_ok(signature, &P521_ORDER),
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

/// The native backend: jwt-compact over the `rsa`, `p256` and `ed25519-compact` crates, and
/// RustCrypto's `p384` / `p521` for ES384 / ES512. It stands in for WebCrypto in tests and
/// native tools; the wasm build does not include those crates.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::borrow::Cow;
    use std::rc::Rc;

    use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPublicKey, RsaSignature};
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
    use p384::ecdsa::signature::Verifier as _;

    use super::{Algorithm, SignatureVerifier, VerifyError};
    use crate::jwks::{KeyMaterial, PublicKey};

    type P256Key = <Es256 as jwt_compact::Algorithm>::VerifyingKey;

    /// A key imported by [`NativeVerifier`].
    #[derive(Clone, Debug)]
    pub enum NativeKey {
        Rsa(Rc<RsaPublicKey>),
        P256(P256Key),
        P384(p384::ecdsa::VerifyingKey),
        P521(P521Key),
        Ed25519(ed25519_compact::PublicKey),
    }

    /// A P-521 verifying key (shared: handles are cloned on every cache hit).
    #[derive(Clone)]
    pub struct P521Key(Rc<p521::ecdsa::VerifyingKey>);

    impl core::fmt::Debug for P521Key {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("P521Key(..)")
        }
    }

    /// `04 || x || y`, the SEC 1 uncompressed point the curve crates import.
    fn sec1_point(x: &[u8], y: &[u8]) -> Vec<u8> {
        let mut sec1 = Vec::with_capacity(1 + x.len() + y.len());
        sec1.push(0x04);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        sec1
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
                    <P256Key as jwt_compact::alg::VerifyingKey<Es256>>::from_slice(&sec1_point(
                        x, y,
                    ))
                    .map(NativeKey::P256)
                    .map_err(|_| VerifyError::BadKey)
                }
                KeyMaterial::P384 { x, y } => {
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1_point(x, y))
                        .map(NativeKey::P384)
                        .map_err(|_| VerifyError::BadKey)
                }
                KeyMaterial::P521 { x, y } => {
                    p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1_point(x, y))
                        .map(|k| NativeKey::P521(P521Key(Rc::new(k))))
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
                (NativeKey::Rsa(k), _) if alg.is_rsa() => {
                    let rsa = match alg {
                        Algorithm::Rs256 => Rsa::rs256(),
                        Algorithm::Rs384 => Rsa::rs384(),
                        Algorithm::Rs512 => Rsa::rs512(),
                        Algorithm::Ps256 => Rsa::ps256(),
                        Algorithm::Ps384 => Rsa::ps384(),
                        // `is_rsa` leaves only PS512.
                        _ => Rsa::ps512(),
                    };
                    RsaSignature::try_from_slice(signature)
                        .is_ok_and(|sig| rsa.verify_signature(&sig, k, signing_input))
                }
                (NativeKey::P384(k), Algorithm::Es384) => {
                    signature.len() == 96
                        && p384::ecdsa::Signature::from_slice(signature)
                            .is_ok_and(|sig| k.verify(signing_input, &sig).is_ok())
                }
                (NativeKey::P521(k), Algorithm::Es512) => {
                    signature.len() == 132
                        && p521::ecdsa::Signature::from_slice(signature)
                            .is_ok_and(|sig| k.0.verify(signing_input, &sig).is_ok())
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

    /// Psychic-signature and length checks for one curve, with its order `n`.
    fn check_curve(alg: Algorithm, order: &[u8]) {
        let len = order.len();
        let name = alg.as_str();
        assert_eq!(alg.signature_len(), Some(2 * len), "{name}");
        let mut sig = vec![0u8; 2 * len];
        assert!(!signature_shape_ok(alg, &sig, None), "{name} r = s = 0");
        sig[len - 1] = 1;
        assert!(!signature_shape_ok(alg, &sig, None), "{name} s = 0");
        sig[2 * len - 1] = 1;
        assert!(signature_shape_ok(alg, &sig, None), "{name} r = s = 1");
        sig[len..].copy_from_slice(order);
        assert!(!signature_shape_ok(alg, &sig, None), "{name} s = n");
        sig[2 * len - 1] -= 1;
        assert!(signature_shape_ok(alg, &sig, None), "{name} s = n - 1");
        sig[..len].copy_from_slice(order);
        assert!(!signature_shape_ok(alg, &sig, None), "{name} r = n");
        sig[..len].fill(0xFF);
        assert!(!signature_shape_ok(alg, &sig, None), "{name} r > n");
        sig[..len].fill(0);
        assert!(!signature_shape_ok(alg, &sig, None), "{name} r = 0");
        let ones = vec![1u8; 2 * len];
        assert!(signature_shape_ok(alg, &ones, None), "{name}");
        assert!(
            !signature_shape_ok(alg, &ones[1..], None),
            "{name} one short"
        );
        assert!(
            !signature_shape_ok(alg, &[1u8; 200][..2 * len + 1], None),
            "{name} one long"
        );
    }

    #[test]
    fn every_curve_checks_its_scalars_against_its_own_order() {
        check_curve(Algorithm::Es256, &P256_ORDER);
        check_curve(Algorithm::Es384, &P384_ORDER);
        check_curve(Algorithm::Es512, &P521_ORDER);
        // Another curve's signature length is refused outright.
        assert!(!signature_shape_ok(Algorithm::Es384, &[1u8; 64], None));
        assert!(!signature_shape_ok(Algorithm::Es512, &[1u8; 96], None));
        assert!(!signature_shape_ok(Algorithm::Es256, &[1u8; 132], None));
        // P-521 scalars have 521 bits: a top byte of 0x02 is over n.
        let mut sig = [1u8; 132];
        sig[0] = 0x02;
        assert!(!signature_shape_ok(Algorithm::Es512, &sig, None));
    }

    #[test]
    fn curve_orders_match_the_curve_crates() {
        use p384::elliptic_curve::bigint::ArrayEncoding as _;
        use p384::elliptic_curve::Curve as _;
        assert_eq!(
            &p256::NistP256::ORDER.to_be_byte_array()[..],
            P256_ORDER.as_slice()
        );
        assert_eq!(
            &p384::NistP384::ORDER.to_be_byte_array()[..],
            P384_ORDER.as_slice()
        );
        // P-521's integer type is 576 bits wide: its top 6 bytes are zero.
        let n = p521::NistP521::ORDER.to_be_byte_array();
        let (pad, n) = n[..].split_at(n.len() - 66);
        assert!(pad.iter().all(|b| *b == 0));
        assert_eq!(n, P521_ORDER.as_slice());
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
        for alg in Algorithm::ALL.into_iter().filter(|a| a.is_rsa()) {
            assert!(signature_shape_ok(alg, &[0u8; 256], Some(&key)), "{alg}");
            assert!(!signature_shape_ok(alg, &[0u8; 257], Some(&key)), "{alg}");
            assert!(!signature_shape_ok(alg, &[], None), "{alg}");
        }
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
