//! API key and PAT format: `<prefix><30 random base62><6-char base62 CRC-32 checksum>`.
//! Classification and checking are pure and cheap, so a mistyped or forged key is refused before
//! any KV read. Generation takes its randomness from the caller (the platform CSPRNG).
//! Owns the token's shape only; never touches KV, a digest or a clock.

use crate::reason::Reason;
use serde::{Deserialize, Serialize};

use crate::identity::CredentialKind;
use crate::ports::{Fill, NoEntropy};

/// `0-9A-Za-z`, in the order the checksum's base62 digits use.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters after the prefix: 30 × log2(62) ≈ 178 bits.
pub const RANDOM_LEN: usize = 30;
/// Checksum characters at the end.
pub const CHECKSUM_LEN: usize = 6;
/// Random characters shown in a key's public `start` (e.g. `eak_7Hq2…`).
const START_LEN: usize = 4;

/// The two kinds of key-shaped credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    ApiKey,
    Pat,
}

impl KeyKind {
    #[must_use]
    pub fn credential_kind(self) -> CredentialKind {
        match self {
            KeyKind::ApiKey => CredentialKind::ApiKey,
            KeyKind::Pat => CredentialKind::Pat,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.credential_kind().as_str()
    }
}

/// Why a presented key is not well-formed. Each is a 401 `invalid_token` without a KV read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormatError {
    UnknownPrefix,
    BadLength,
    BadAlphabet,
    BadChecksum,
}

impl KeyFormatError {
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            KeyFormatError::UnknownPrefix => Reason::UnknownKeyPrefix,
            KeyFormatError::BadLength => Reason::BadKeyLength,
            KeyFormatError::BadAlphabet => Reason::BadKeyAlphabet,
            KeyFormatError::BadChecksum => Reason::BadChecksum,
        }
    }
}

/// The configured prefixes. Neither is a prefix of the other, so classification is unambiguous.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFormat {
    api_key_prefix: String,
    pat_prefix: String,
}

impl Default for KeyFormat {
    fn default() -> Self {
        KeyFormat {
            api_key_prefix: "eak_".into(),
            pat_prefix: "eap_".into(),
        }
    }
}

fn valid_prefix(p: &str) -> bool {
    (2..=16).contains(&p.len())
        && p.ends_with('_')
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl KeyFormat {
    /// Validate a pair of prefixes: `[a-z0-9_]`, 2-16 characters, ending in `_`, neither a
    /// prefix of the other.
    pub fn new(api_key_prefix: &str, pat_prefix: &str) -> Result<Self, &'static str> {
        if !valid_prefix(api_key_prefix) || !valid_prefix(pat_prefix) {
            return Err("prefixes must be 2-16 characters of [a-z0-9_] ending in \"_\"");
        }
        if api_key_prefix.starts_with(pat_prefix) || pat_prefix.starts_with(api_key_prefix) {
            return Err("neither prefix may be a prefix of the other");
        }
        Ok(KeyFormat {
            api_key_prefix: api_key_prefix.into(),
            pat_prefix: pat_prefix.into(),
        })
    }

    #[must_use]
    pub fn prefix(&self, kind: KeyKind) -> &str {
        match kind {
            KeyKind::ApiKey => &self.api_key_prefix,
            KeyKind::Pat => &self.pat_prefix,
        }
    }

    /// The kind a token claims by its prefix alone (cheap; tells keys from JWTs).
    #[must_use]
    pub fn classify(&self, token: &str) -> Option<KeyKind> {
        [KeyKind::ApiKey, KeyKind::Pat]
            .into_iter()
            .find(|k| token.starts_with(self.prefix(*k)))
    }

    /// Check prefix, length, alphabet and checksum.
    pub fn parse(&self, token: &str) -> Result<KeyKind, KeyFormatError> {
        let kind = self.classify(token).ok_or(KeyFormatError::UnknownPrefix)?;
        let prefix_len = self.prefix(kind).len();
        if token.len() != prefix_len + RANDOM_LEN + CHECKSUM_LEN {
            return Err(KeyFormatError::BadLength);
        }
        let body = token.get(prefix_len..).ok_or(KeyFormatError::BadLength)?;
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyFormatError::BadAlphabet);
        }
        let split = token.len() - CHECKSUM_LEN;
        let (text, given) = (token.get(..split), token.get(split..));
        match (text, given) {
            (Some(text), Some(given)) if checksum(text).as_slice() == given.as_bytes() => Ok(kind),
            _ => Err(KeyFormatError::BadChecksum),
        }
    }

    /// A new token of `kind` from the randomness port; [`NoEntropy`] when it cannot give any
    /// (no token is made of anything else).
    pub fn generate(&self, kind: KeyKind, fill: &mut Fill<'_>) -> Result<String, NoEntropy> {
        let mut token = String::with_capacity(self.prefix(kind).len() + RANDOM_LEN + CHECKSUM_LEN);
        token.push_str(self.prefix(kind));
        token.push_str(&random_base62(RANDOM_LEN, fill)?);
        let sum = checksum(&token);
        token.extend(sum.iter().map(|b| char::from(*b)));
        Ok(token)
    }

    /// The public beginning of a token, safe to show: prefix and the first random characters.
    #[must_use]
    pub fn start(&self, token: &str) -> String {
        let len = self.classify(token).map_or(0, |k| self.prefix(k).len()) + START_LEN;
        token.get(..len).unwrap_or_default().to_string()
    }
}

/// `len` base62 characters without modulo bias: bytes ≥ 248 (= 4 × 62) are discarded.
/// [`NoEntropy`] as soon as the port fails: nothing drawn before is used.
pub fn random_base62(len: usize, fill: &mut Fill<'_>) -> Result<String, NoEntropy> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf)?;
        for b in buf {
            if out.len() == len {
                break;
            }
            if b < 248 {
                if let Some(c) = BASE62.get(usize::from(b % 62)) {
                    out.push(char::from(*c));
                }
            }
        }
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3, as zlib and PNG compute it) with a 256-entry table: a key's 34 bytes
/// are 34 lookups.
const CRC32: crc::Crc<u32, crc::Table<1>> =
    crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (IEEE) of `text` as a big-endian number in base62, left-padded with `0` to 6 chars.
#[must_use]
pub fn checksum(text: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = CRC32.checksum(text.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    // 62^6 > 2^32, so six digits always suffice.
    for slot in out.iter_mut().rev() {
        if let Some(c) = BASE62.get((n % 62) as usize) {
            *slot = *c;
        }
        n /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_known_answers() {
        // CRC-32("") = 0; CRC-32("123456789") = 0xCBF43926, "3jZRME" in base62 (zlib.crc32).
        assert_eq!(&checksum(""), b"000000");
        assert_eq!(&checksum("123456789"), b"3jZRME");
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(KeyFormat::new("eak_", "eap_").is_ok());
        assert!(KeyFormat::new("eak", "eap_").is_err());
        assert!(KeyFormat::new("EAK_", "eap_").is_err());
        assert!(KeyFormat::new("ea_", "ea_x_").is_err());
        assert!(KeyFormat::new("k_", "k_").is_err());
    }

    #[test]
    fn generation_uses_every_symbol_and_rejects_biased_bytes() {
        let mut n = 0u8;
        let s = random_base62(300, &mut |buf: &mut [u8]| {
            for b in buf {
                *b = n;
                n = n.wrapping_add(1);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(s.len(), 300);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let all_high = random_base62(5, &mut |buf: &mut [u8]| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if i % 2 == 0 { 250 } else { 1 };
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(all_high, "11111");
    }

    #[test]
    fn start_is_prefix_and_four_chars() {
        let f = KeyFormat::default();
        let t = f
            .generate(KeyKind::Pat, &mut |b: &mut [u8]| {
                b.fill(7);
                Ok(())
            })
            .unwrap();
        assert_eq!(f.start(&t), "eap_7777");
    }

    #[test]
    fn a_failing_randomness_port_makes_no_token() {
        let mut calls = 0;
        let mut failing = |_: &mut [u8]| {
            calls += 1;
            Err(NoEntropy)
        };
        assert_eq!(
            KeyFormat::default().generate(KeyKind::ApiKey, &mut failing),
            Err(NoEntropy)
        );
        // A port that works once and then fails: what it gave first is not used.
        let mut first = true;
        let mut flaky = |buf: &mut [u8]| {
            if std::mem::take(&mut first) {
                buf.fill(1);
                return Ok(());
            }
            Err(NoEntropy)
        };
        assert_eq!(random_base62(100, &mut flaky), Err(NoEntropy));
        assert_eq!(calls, 1);
    }
}
