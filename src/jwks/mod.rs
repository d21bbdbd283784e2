//! JSON Web Key Sets: parsing a JWKS document into the keys this verifier can use, and the
//! per-isolate cache that keeps them fresh ([`cache`]). Pure: documents arrive as bytes, fetched
//! by the caller through [`crate::ports::DocumentSource`].
//!
//! Parsing is forgiving per entry and strict per key: an entry this verifier cannot use safely is
//! skipped (and counted) without failing its neighbours, because identity providers publish keys
//! for other consumers (encryption keys, RSA-1024 legacy keys, other curves) in the same set.
//!
//! Each key is bound to exactly the algorithms its type allows ([`PublicKey::allows`]): RSA →
//! RS256/384/512 and PS256/384/512, P-256 → ES256, P-384 → ES384, P-521 → ES512 (RFC 7518
//! §3.4), Ed25519 → EdDSA, narrowed further by the JWK's own `alg`. The curve is part of the key
//! material's type, so a P-384 key can never verify an ES256 or ES512 token. EC coordinates must
//! have exactly the curve's length (32, 48 or 66 bytes, RFC 7518 §6.2.1.2).

use crate::reason::Reason;
pub mod cache;
pub(crate) mod discovery;

use base64ct::{Base64UrlUnpadded, Encoding};
use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::jwt::alg::Algorithm;

/// Largest JWKS (or discovery) document accepted: real sets are a few KiB. The one cap for both
/// documents: the adapter stops reading a body (counted after content decoding) once it is over
/// it, and the parsers check it again.
///
/// It is also what bounds the number of keys in a set: every usable key is kept and selected by
/// `kid`, and the smallest usable JWK (an Ed25519 key, `{"kty":"OKP","crv":"Ed25519","x":"…"}`)
/// is 80 bytes with its separator, so a set holds at most about 3,300 keys. Parsing and
/// selection are linear in the number of keys.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Longest `kid` accepted, in bytes, in a JWKS and in a token header.
pub const MAX_KID_BYTES: usize = 256;
/// RFC 7518 §3.3: RSA keys of at least 2048 bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Larger moduli only cost CPU; no issuer needs them.
pub const MAX_RSA_BITS: usize = 8192;

/// The public part of a verification key, in raw components (what WebCrypto and the native
/// crates import).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyMaterial {
    /// RSA modulus and public exponent, big-endian, without leading zero bytes.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point.
    P256 { x: [u8; 32], y: [u8; 32] },
    /// An uncompressed P-384 point.
    P384 { x: [u8; 48], y: [u8; 48] },
    /// An uncompressed P-521 point (coordinates are 66 bytes, the top 7 bits zero).
    P521 { x: [u8; 66], y: [u8; 66] },
    /// An Ed25519 public key.
    Ed25519 { x: [u8; 32] },
}

/// A usable verification key from a JWKS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey {
    pub kid: Option<String>,
    /// The `alg` the JWK declared: when present, the key verifies that algorithm only.
    pub alg: Option<Algorithm>,
    pub material: KeyMaterial,
}

impl PublicKey {
    /// True when this key may verify `alg`: the key type fixes the family (RSA → RS*/PS*,
    /// P-256 → ES256, P-384 → ES384, P-521 → ES512, Ed25519 → EdDSA), a declared `alg` narrows
    /// it, and HS256 never qualifies.
    #[must_use]
    pub fn allows(&self, alg: Algorithm) -> bool {
        let family = match self.material {
            KeyMaterial::Rsa { .. } => alg.is_rsa(),
            KeyMaterial::P256 { .. } => alg == Algorithm::Es256,
            KeyMaterial::P384 { .. } => alg == Algorithm::Es384,
            KeyMaterial::P521 { .. } => alg == Algorithm::Es512,
            KeyMaterial::Ed25519 { .. } => alg == Algorithm::EdDsa,
        };
        family && self.alg.is_none_or(|declared| declared == alg)
    }

    /// Signature length in bytes that this key produces for RSA (the modulus length).
    #[must_use]
    pub fn rsa_modulus_len(&self) -> Option<usize> {
        match &self.material {
            KeyMaterial::Rsa { n, .. } => Some(n.len()),
            _ => None,
        }
    }

    /// The public JWK as JSON text, for WebCrypto `importKey("jwk", …)`. Only the members needed
    /// to import the key are written (no `alg`, `kid` or `use`), so WebCrypto's consistency
    /// checks cannot refuse a key this core already accepted.
    #[must_use]
    pub fn to_jwk_json(&self) -> String {
        let jwk = match &self.material {
            KeyMaterial::Rsa { n, e } => {
                json!({ "kty": "RSA", "n": Base64UrlUnpadded::encode_string(n), "e": Base64UrlUnpadded::encode_string(e) })
            }
            KeyMaterial::P256 { x, y } => ec_jwk("P-256", x, y),
            KeyMaterial::P384 { x, y } => ec_jwk("P-384", x, y),
            KeyMaterial::P521 { x, y } => ec_jwk("P-521", x, y),
            KeyMaterial::Ed25519 { x } => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": Base64UrlUnpadded::encode_string(x) })
            }
        };
        jwk.to_string()
    }
}

fn ec_jwk(crv: &str, x: &[u8], y: &[u8]) -> Value {
    json!({ "kty": "EC", "crv": crv, "x": Base64UrlUnpadded::encode_string(x), "y": Base64UrlUnpadded::encode_string(y) })
}

/// Why a whole JWKS document was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwksError {
    /// Over [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// Not a JSON object with a `keys` array.
    Malformed,
}

impl JwksError {
    /// Static reason code for logs and `503` answers.
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            JwksError::TooLarge => Reason::JwksTooLarge,
            JwksError::Malformed => Reason::JwksInvalid,
        }
    }
}

/// What a key lookup in a [`KeySet`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMatch {
    /// Index of the key to use.
    Found(usize),
    /// The `kid` names a key that may not verify this `alg` (e.g. an RSA key for ES256).
    AlgMismatch,
    /// No `kid` in the token and several keys could verify it: refuse rather than try each.
    Ambiguous,
    /// No key with this `kid` (or, without `kid`, no key for this `alg`).
    Missing,
}

/// The usable keys of one JWKS document, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<PublicKey>,
    skipped: usize,
}

impl KeySet {
    /// Parses a JWKS document, keeping usable signature keys and skipping the rest.
    ///
    /// Every usable entry is kept (the document's size bounds how many: see
    /// [`MAX_DOCUMENT_BYTES`]). Duplicate `kid`s: the first usable entry wins and later ones are
    /// skipped, so a set cannot make one `kid` mean two keys.
    pub fn parse(document: &[u8]) -> Result<KeySet, JwksError> {
        if document.len() > MAX_DOCUMENT_BYTES {
            return Err(JwksError::TooLarge);
        }
        let value: Value = serde_json::from_slice(document).map_err(|_| JwksError::Malformed)?;
        let entries = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::Malformed)?;
        let mut set = KeySet::default();
        let mut kids = HashSet::new();
        for entry in entries {
            let usable = entry
                .as_object()
                .and_then(parse_jwk)
                .filter(|k| k.kid.as_ref().is_none_or(|kid| kids.insert(kid.clone())));
            match usable {
                Some(key) => set.keys.push(key),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// Builds a set from keys already checked (tests, fixed configuration).
    #[must_use]
    pub fn from_keys(keys: Vec<PublicKey>) -> KeySet {
        KeySet { keys, skipped: 0 }
    }

    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// How many entries were ignored as unusable or duplicate.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The algorithms of `configured` that no key in this set allows, in their configured order:
    /// an issuer's allow-list naming algorithms its keys never use is accepted, but reported
    /// (health, logs), since it widens what a token may claim for nothing. HS256 is never
    /// listed: it is keyed by the issuer's configured secret, never by its JWKS.
    #[must_use]
    pub fn unused_algorithms(&self, configured: &[Algorithm]) -> Vec<Algorithm> {
        configured
            .iter()
            .copied()
            .filter(|alg| *alg != Algorithm::Hs256 && !self.keys.iter().any(|k| k.allows(*alg)))
            .collect()
    }

    /// Selects the key for a token. With a `kid`, the lookup is exact and case-sensitive. Without
    /// one, the key is used only when it is the single key in the set that allows `alg`
    /// (issuers with one key often omit `kid`; with several, guessing would multiply
    /// verification work an attacker controls).
    #[must_use]
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> KeyMatch {
        match kid {
            Some(kid) => match self.keys.iter().position(|k| k.kid.as_deref() == Some(kid)) {
                Some(i) if self.keys.get(i).is_some_and(|k| k.allows(alg)) => KeyMatch::Found(i),
                Some(_) => KeyMatch::AlgMismatch,
                None => KeyMatch::Missing,
            },
            None => {
                let mut candidates = self
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.allows(alg))
                    .map(|(i, _)| i);
                match (candidates.next(), candidates.next()) {
                    (Some(i), None) => KeyMatch::Found(i),
                    (Some(_), Some(_)) => KeyMatch::Ambiguous,
                    (None, _) => KeyMatch::Missing,
                }
            }
        }
    }
}

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<Option<&'a str>> {
    match jwk.get(name) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        // Present with the wrong type: the entry is unusable.
        Some(_) => None,
    }
}

fn bytes_member(jwk: &Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(|s| Base64UrlUnpadded::decode_vec(s).ok())
}

/// A fixed-length member: exactly `N` bytes once decoded (no leading zeros stripped or added).
fn coordinate<const N: usize>(jwk: &Map<String, Value>, name: &str) -> Option<[u8; N]> {
    bytes_member(jwk, name).and_then(|b| <[u8; N]>::try_from(b.as_slice()).ok())
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// One JWK → a usable key, or `None` to skip it.
fn parse_jwk(jwk: &Map<String, Value>) -> Option<PublicKey> {
    // `use`, when present, must say signatures (RFC 7517 §4.2).
    if str_member(jwk, "use")?.is_some_and(|u| u != "sig") {
        return None;
    }
    // `key_ops`, when present, must allow verification (RFC 7517 §4.3).
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array()?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return None;
        }
    }
    let kid = str_member(jwk, "kid")?;
    if kid.is_some_and(|k| k.is_empty() || k.len() > MAX_KID_BYTES) {
        return None;
    }
    // A declared algorithm must be one we support; it then binds the key (checked below).
    let alg = match str_member(jwk, "alg")? {
        Some(name) => Some(Algorithm::from_name(name)?),
        None => None,
    };
    let material = match str_member(jwk, "kty")?? {
        "RSA" => {
            let n = strip_leading_zeros(bytes_member(jwk, "n")?);
            let e = strip_leading_zeros(bytes_member(jwk, "e")?);
            let bits = n
                .first()
                .map(|top| n.len() * 8 - top.leading_zeros() as usize)?;
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || e.is_empty() || e.len() > 8 {
                return None;
            }
            // RFC 8017 §3.1: an odd exponent of at least 3. With e = 1 a "signature" is its own
            // message, so anyone could forge one; an even e is no RSA key. Only a broken issuer
            // publishes either, and its key is skipped rather than trusted.
            let odd = e.last().is_some_and(|low| low & 1 == 1);
            if !odd || (e.len() == 1 && e.first().is_some_and(|v| *v < 3)) {
                return None;
            }
            KeyMaterial::Rsa { n, e }
        }
        // The curve decides the coordinate length and, through the variant, the one algorithm
        // the key can verify: other curves (secp256k1, Brainpool) are skipped.
        "EC" => match str_member(jwk, "crv")?? {
            "P-256" => KeyMaterial::P256 {
                x: coordinate(jwk, "x")?,
                y: coordinate(jwk, "y")?,
            },
            "P-384" => KeyMaterial::P384 {
                x: coordinate(jwk, "x")?,
                y: coordinate(jwk, "y")?,
            },
            "P-521" => KeyMaterial::P521 {
                x: coordinate(jwk, "x")?,
                y: coordinate(jwk, "y")?,
            },
            _ => return None,
        },
        "OKP" => {
            if str_member(jwk, "crv")?? != "Ed25519" {
                return None;
            }
            let x: [u8; 32] = coordinate(jwk, "x")?;
            // A non-canonical encoding or a point of small order (the identity, say) verifies
            // forged signatures: WebCrypto's Ed25519 accepts R = identity, S = 0 for any message
            // under the identity key (seen in workerd and Node). As with RSA e = 1, such a key
            // is skipped, not trusted (ed25519-compact's check, the native verifier's own).
            ed25519_compact::PublicKey::new(x).validate().ok()?;
            KeyMaterial::Ed25519 { x }
        }
        // `oct` keys never come from a JWKS (HS256 uses the configured secret only), and
        // unknown key types are not ours to guess at.
        _ => return None,
    };
    let key = PublicKey {
        kid: kid.map(str::to_owned),
        alg,
        material,
    };
    // A declared `alg` that contradicts the key type (e.g. `ES256` on an RSA key) makes the
    // entry unusable rather than silently unbound.
    if let Some(declared) = alg {
        if !key.allows(declared) {
            return None;
        }
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real Ed25519 public key (a JWKS's `x`) from a seed: arbitrary bytes are mostly not a
    /// point, and are skipped.
    fn ed_x(seed: u64) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_be_bytes());
        bytes[31] = 1; // an all-zero seed is refused
        *ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(bytes)).pk
    }

    fn ed_b64(seed: u64) -> String {
        Base64UrlUnpadded::encode_string(&ed_x(seed))
    }

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xC5u8; bits / 8];
        if let Some(last) = n.last_mut() {
            *last = 0x01;
        }
        Base64UrlUnpadded::encode_string(&n)
    }

    fn parse(doc: &serde_json::Value) -> KeySet {
        KeySet::parse(doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn keeps_usable_keys_and_skips_the_rest() {
        let x = Base64UrlUnpadded::encode_string(&[7u8; 32]);
        let doc = json!({ "keys": [
            { "kty": "RSA", "kid": "rsa", "n": rsa_n(2048), "e": "AQAB", "use": "sig", "alg": "RS256" },
            { "kty": "RSA", "kid": "rsa1024", "n": rsa_n(1024), "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "n": rsa_n(2048), "e": "AQAB", "use": "enc" },
            { "kty": "RSA", "kid": "ops", "n": rsa_n(2048), "e": "AQAB", "key_ops": ["encrypt"] },
            { "kty": "RSA", "kid": "alg-es", "n": rsa_n(2048), "e": "AQAB", "alg": "ES256" },
            { "kty": "RSA", "kid": "alg-hs384", "n": rsa_n(2048), "e": "AQAB", "alg": "HS384" },
            { "kty": "RSA", "kid": "e1", "n": rsa_n(2048), "e": "AQ" },
            { "kty": "RSA", "kid": "e-even", "n": rsa_n(2048), "e": "AQAA" },
            { "kty": "RSA", "kid": "e3", "n": rsa_n(2048), "e": "Aw" },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": x, "y": x },
            { "kty": "EC", "kid": "ec384", "crv": "P-384", "x": x, "y": x },
            { "kty": "EC", "kid": "ec-short", "crv": "P-256", "x": Base64UrlUnpadded::encode_string(&[7u8; 31]), "y": x },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": ed_b64(7) },
            { "kty": "OKP", "kid": "x25519", "crv": "X25519", "x": x },
            // Small order (the identity) and not a point: either would let WebCrypto accept
            // forgeries, or fail at import.
            { "kty": "OKP", "kid": "ed-identity", "crv": "Ed25519", "x": Base64UrlUnpadded::encode_string(&{ let mut p = [0u8; 32]; p[0] = 1; p }) },
            { "kty": "OKP", "kid": "ed-order-4", "crv": "Ed25519", "x": Base64UrlUnpadded::encode_string(&[0u8; 32]) },
            { "kty": "oct", "kid": "hmac", "k": x },
            { "kty": "XYZ", "kid": "unknown" },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": Base64UrlUnpadded::encode_string(&[9u8; 32]), "y": x },
            "not an object",
            { "kty": "OKP", "kid": 5, "crv": "Ed25519", "x": x },
            { "kty": "OKP", "crv": "Ed25519", "x": "padded==" },
        ]});
        let set = parse(&doc);
        let kids: Vec<_> = set
            .keys()
            .iter()
            .map(|k| k.kid.as_deref().unwrap())
            .collect();
        assert_eq!(kids, ["rsa", "e3", "ec", "ed"]);
        assert_eq!(set.skipped(), 18);
        // The duplicate `ec` kept the first key.
        assert_eq!(
            set.keys()[2].material,
            KeyMaterial::P256 {
                x: [7; 32],
                y: [7; 32]
            }
        );
    }

    #[test]
    fn refuses_whole_documents_that_are_not_sets() {
        assert_eq!(KeySet::parse(b"[]"), Err(JwksError::Malformed));
        assert_eq!(KeySet::parse(b"{\"keys\":{}}"), Err(JwksError::Malformed));
        assert_eq!(KeySet::parse(b"nope"), Err(JwksError::Malformed));
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(KeySet::parse(&big), Err(JwksError::TooLarge));
        assert_eq!(KeySet::parse(b"{\"keys\":[]}").unwrap().len(), 0);
        // An empty body is not an empty set: it is refused like any other non-document.
        assert_eq!(KeySet::parse(b""), Err(JwksError::Malformed));
    }

    fn ed_jwk(kid: &str, i: usize) -> Value {
        json!({ "kty": "OKP", "kid": kid, "crv": "Ed25519", "x": ed_b64(i as u64) })
    }

    #[test]
    fn keeps_every_usable_key_and_selects_by_kid() {
        // No count cut-off: the 100th key of a 100-key set is kept and selected.
        let keys: Vec<_> = (0..100).map(|i| ed_jwk(&format!("k{i}"), i)).collect();
        let set = parse(&json!({ "keys": keys }));
        assert_eq!(set.len(), 100);
        assert_eq!(set.skipped(), 0);
        assert_eq!(
            set.select(Some("k99"), Algorithm::EdDsa),
            KeyMatch::Found(99)
        );
        assert_eq!(
            set.keys()[99].material,
            KeyMaterial::Ed25519 { x: ed_x(99) }
        );
        assert_eq!(
            set.select(Some("k100"), Algorithm::EdDsa),
            KeyMatch::Missing
        );
        // Unusable entries and duplicates among them are still skipped, wherever they are.
        let mut keys: Vec<_> = (0..100).map(|i| ed_jwk(&format!("k{i}"), i)).collect();
        keys.push(ed_jwk("k3", 1000));
        keys.push(json!({ "kty": "oct", "kid": "hmac", "k": "AAAA" }));
        keys.push(ed_jwk("last", 1001));
        let set = parse(&json!({ "keys": keys }));
        assert_eq!((set.len(), set.skipped()), (101, 2));
        assert_eq!(
            set.select(Some("last"), Algorithm::EdDsa),
            KeyMatch::Found(100)
        );
    }

    #[test]
    fn the_byte_cap_bounds_the_number_of_keys() {
        // As many distinct keys as fit in a document at the cap: all kept, the last one found.
        let mut doc = String::from("{\"keys\":[");
        let mut count = 0;
        loop {
            let jwk = ed_jwk(&format!("{count}"), count).to_string();
            if doc.len() + jwk.len() + 3 > MAX_DOCUMENT_BYTES {
                break;
            }
            if count > 0 {
                doc.push(',');
            }
            doc.push_str(&jwk);
            count += 1;
        }
        doc.push_str("]}");
        assert!(doc.len() <= MAX_DOCUMENT_BYTES);
        let set = KeySet::parse(doc.as_bytes()).unwrap();
        assert!(count > 2_500, "{count} keys fit");
        assert_eq!(set.len(), count);
        let last = format!("{}", count - 1);
        assert_eq!(
            set.select(Some(&last), Algorithm::EdDsa),
            KeyMatch::Found(count - 1)
        );
        // One byte more and the whole document is refused, never cut to its first keys.
        let mut over = doc.into_bytes();
        over.resize(MAX_DOCUMENT_BYTES + 1, b' ');
        assert_eq!(KeySet::parse(&over), Err(JwksError::TooLarge));
    }

    #[test]
    fn binds_algorithms_to_key_types() {
        let x = Base64UrlUnpadded::encode_string(&[7u8; 32]);
        let set = parse(&json!({ "keys": [
            { "kty": "RSA", "kid": "rsa", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "pss", "n": rsa_n(2048), "e": "AQAB", "alg": "PS256" },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": x, "y": x },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": ed_b64(7) },
        ]}));
        assert_eq!(
            set.select(Some("rsa"), Algorithm::Rs256),
            KeyMatch::Found(0)
        );
        assert_eq!(
            set.select(Some("rsa"), Algorithm::Ps256),
            KeyMatch::Found(0)
        );
        assert_eq!(
            set.select(Some("pss"), Algorithm::Rs256),
            KeyMatch::AlgMismatch
        );
        assert_eq!(
            set.select(Some("rsa"), Algorithm::Hs256),
            KeyMatch::AlgMismatch
        );
        assert_eq!(
            set.select(Some("rsa"), Algorithm::Es256),
            KeyMatch::AlgMismatch
        );
        assert_eq!(set.select(Some("ec"), Algorithm::Es256), KeyMatch::Found(2));
        assert_eq!(set.select(Some("ed"), Algorithm::EdDsa), KeyMatch::Found(3));
        assert_eq!(set.select(Some("ED"), Algorithm::EdDsa), KeyMatch::Missing);
        assert_eq!(
            set.select(Some("../ed"), Algorithm::EdDsa),
            KeyMatch::Missing
        );
        // Without kid: one candidate is used, several are ambiguous, none is missing.
        assert_eq!(set.select(None, Algorithm::Es256), KeyMatch::Found(2));
        assert_eq!(set.select(None, Algorithm::Rs256), KeyMatch::Found(0));
        assert_eq!(set.select(None, Algorithm::Ps256), KeyMatch::Ambiguous);
        assert_eq!(set.select(None, Algorithm::Hs256), KeyMatch::Missing);
    }

    #[test]
    fn jwk_json_round_trips_through_the_parser() {
        let x = Base64UrlUnpadded::encode_string(&[7u8; 32]);
        let set = parse(&json!({ "keys": [
            { "kty": "RSA", "kid": "rsa", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "EC", "crv": "P-256", "x": x, "y": x },
        ]}));
        for key in set.keys() {
            let jwk: Value = serde_json::from_str(&key.to_jwk_json()).unwrap();
            let again = parse_jwk(jwk.as_object().unwrap()).unwrap();
            assert_eq!(again.material, key.material);
            assert!(jwk.get("kid").is_none());
        }
    }

    fn b64(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }

    #[test]
    fn ec_keys_by_curve_with_exact_coordinate_lengths() {
        let doc = json!({ "keys": [
            { "kty": "EC", "kid": "p256", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 32]) },
            { "kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(&[2; 48]), "y": b64(&[2; 48]) },
            { "kty": "EC", "kid": "p521", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66]) },
            // Wrong lengths for the named curve (including another curve's length): skipped.
            { "kty": "EC", "kid": "p384-as-256", "crv": "P-256", "x": b64(&[2; 48]), "y": b64(&[2; 48]) },
            { "kty": "EC", "kid": "p256-as-384", "crv": "P-384", "x": b64(&[1; 32]), "y": b64(&[1; 32]) },
            { "kty": "EC", "kid": "p521-short", "crv": "P-521", "x": b64(&[1; 65]), "y": b64(&[1; 66]) },
            { "kty": "EC", "kid": "p521-long", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 67]) },
            { "kty": "EC", "kid": "p384-y-short", "crv": "P-384", "x": b64(&[2; 48]), "y": b64(&[2; 47]) },
            { "kty": "EC", "kid": "k1", "crv": "secp256k1", "x": b64(&[1; 32]), "y": b64(&[1; 32]) },
            { "kty": "EC", "kid": "p512", "crv": "P-512", "x": b64(&[1; 64]), "y": b64(&[1; 64]) },
            // A declared alg of another curve contradicts the key: skipped.
            { "kty": "EC", "kid": "p384-es256", "crv": "P-384", "x": b64(&[2; 48]), "y": b64(&[2; 48]), "alg": "ES256" },
            { "kty": "EC", "kid": "p521-es384", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66]), "alg": "ES384" },
            { "kty": "EC", "kid": "p256-es512", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 32]), "alg": "ES512" },
        ]});
        let set = parse(&doc);
        let kids: Vec<_> = set
            .keys()
            .iter()
            .map(|k| k.kid.as_deref().unwrap())
            .collect();
        assert_eq!(kids, ["p256", "p384", "p521"]);
        assert_eq!(set.skipped(), 10);
        assert_eq!(
            set.keys()[1].material,
            KeyMaterial::P384 {
                x: [2; 48],
                y: [2; 48]
            }
        );
        assert_eq!(
            set.keys()[2].material,
            KeyMaterial::P521 {
                x: [1; 66],
                y: [1; 66]
            }
        );
    }

    #[test]
    fn each_curve_verifies_exactly_its_algorithm() {
        let doc = json!({ "keys": [
            { "kty": "EC", "kid": "p256", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 32]) },
            { "kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(&[2; 48]), "y": b64(&[2; 48]) },
            { "kty": "EC", "kid": "p521", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66]) },
            { "kty": "RSA", "kid": "rsa", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "ps384", "n": rsa_n(3072), "e": "AQAB", "alg": "PS384" },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": ed_b64(7) },
        ]});
        let set = parse(&doc);
        let ecdsa = [Algorithm::Es256, Algorithm::Es384, Algorithm::Es512];
        for (i, kid) in ["p256", "p384", "p521"].iter().enumerate() {
            for (j, alg) in ecdsa.iter().enumerate() {
                let want = if i == j {
                    KeyMatch::Found(i)
                } else {
                    KeyMatch::AlgMismatch
                };
                assert_eq!(set.select(Some(kid), *alg), want, "{kid} with {alg}");
            }
            for alg in Algorithm::ALL.iter().filter(|a| !ecdsa.contains(a)) {
                assert_eq!(
                    set.select(Some(kid), *alg),
                    KeyMatch::AlgMismatch,
                    "{kid} {alg}"
                );
            }
        }
        for alg in Algorithm::ALL {
            let want = if alg.is_rsa() {
                KeyMatch::Found(3)
            } else {
                KeyMatch::AlgMismatch
            };
            assert_eq!(set.select(Some("rsa"), alg), want, "rsa with {alg}");
            let want = if alg == Algorithm::Ps384 {
                KeyMatch::Found(4)
            } else {
                KeyMatch::AlgMismatch
            };
            assert_eq!(set.select(Some("ps384"), alg), want, "ps384 with {alg}");
        }
        // Without kid, the one key of the curve is used.
        assert_eq!(set.select(None, Algorithm::Es384), KeyMatch::Found(1));
        assert_eq!(set.select(None, Algorithm::Es512), KeyMatch::Found(2));
        assert_eq!(set.select(None, Algorithm::Rs512), KeyMatch::Found(3));
        assert_eq!(set.select(None, Algorithm::Ps384), KeyMatch::Ambiguous);
    }

    #[test]
    fn unused_algorithms_are_the_configured_ones_no_key_allows() {
        let doc = json!({ "keys": [
            { "kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(&[2; 48]), "y": b64(&[2; 48]) },
            { "kty": "RSA", "kid": "ps512", "n": rsa_n(2048), "e": "AQAB", "alg": "PS512" },
        ]});
        let set = parse(&doc);
        let configured = [
            Algorithm::Rs256,
            Algorithm::Es384,
            Algorithm::Es256,
            Algorithm::Ps512,
            Algorithm::Hs256,
            Algorithm::EdDsa,
        ];
        assert_eq!(
            set.unused_algorithms(&configured),
            [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa]
        );
        assert_eq!(
            set.unused_algorithms(&[Algorithm::Es384, Algorithm::Ps512]),
            []
        );
        assert_eq!(set.unused_algorithms(&[]), []);
        // An empty set uses nothing (HS256 is keyed by the secret, never reported).
        assert_eq!(
            KeySet::default().unused_algorithms(&[Algorithm::Es512, Algorithm::Hs256]),
            [Algorithm::Es512]
        );
    }

    #[test]
    fn new_curve_jwk_json_round_trips() {
        let doc = json!({ "keys": [
            { "kty": "EC", "crv": "P-384", "x": b64(&[2; 48]), "y": b64(&[3; 48]) },
            { "kty": "EC", "crv": "P-521", "x": b64(&[0; 66]), "y": b64(&[1; 66]) },
        ]});
        let set = parse(&doc);
        assert_eq!(set.len(), 2);
        for (key, crv) in set.keys().iter().zip(["P-384", "P-521"]) {
            let jwk: Value = serde_json::from_str(&key.to_jwk_json()).unwrap();
            assert_eq!(jwk["crv"], crv);
            let again = parse_jwk(jwk.as_object().unwrap()).unwrap();
            assert_eq!(again.material, key.material);
        }
    }
}
