//! Key format properties: every generated key parses; every single-character change is refused;
//! known answers computed independently (Python's zlib.crc32).
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use edge_auth::keys::format::{checksum, KeyFormat, KeyFormatError, KeyKind, BASE62};
use proptest::prelude::*;

fn key_from_seed(format: &KeyFormat, kind: KeyKind, seed: Vec<u8>) -> String {
    let mut pos = 0usize;
    format
        .generate(kind, &mut |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = seed[pos % seed.len()].wrapping_add((pos / seed.len()) as u8);
                pos += 1;
            }
            Ok(())
        })
        .unwrap()
}

proptest! {
    #[test]
    fn every_generated_key_parses(seed in proptest::collection::vec(any::<u8>(), 1..64), pat in any::<bool>()) {
        let f = KeyFormat::default();
        let kind = if pat { KeyKind::Pat } else { KeyKind::ApiKey };
        let key = key_from_seed(&f, kind, seed);
        prop_assert_eq!(key.len(), 4 + 30 + 6);
        prop_assert_eq!(f.parse(&key), Ok(kind));
        prop_assert_eq!(f.classify(&key), Some(kind));
    }

    #[test]
    fn every_single_character_substitution_is_refused(
        seed in proptest::collection::vec(any::<u8>(), 1..64),
        pos in 0usize..40,
        sym in 0usize..62,
    ) {
        let f = KeyFormat::default();
        let key = key_from_seed(&f, KeyKind::ApiKey, seed);
        let mut bytes = key.clone().into_bytes();
        let replacement = BASE62[sym];
        prop_assume!(bytes[pos] != replacement);
        bytes[pos] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(f.parse(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn arbitrary_input_never_panics(s in ".{0,80}") {
        let _ = KeyFormat::default().parse(&s);
    }
}

#[test]
fn exhaustive_single_substitutions_of_one_key() {
    let f = KeyFormat::default();
    let key = key_from_seed(&f, KeyKind::Pat, vec![1, 2, 3, 250, 99]);
    for pos in 4..key.len() {
        for &c in BASE62 {
            let mut b = key.clone().into_bytes();
            if b[pos] == c {
                continue;
            }
            b[pos] = c;
            let changed = String::from_utf8(b).unwrap();
            assert!(f.parse(&changed).is_err(), "{changed}");
        }
    }
}

#[test]
fn known_answers_from_an_independent_crc32() {
    // python3: zlib.crc32(b"eak_" + b"A"*30) → base62, zero-padded to 6.
    let known = [
        ("eak_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "1SfyIe"),
        ("eap_0123456789abcdefghijABCDEFGHIJ", "2TQsim"),
    ];
    for (text, sum) in known {
        assert_eq!(std::str::from_utf8(&checksum(text)).unwrap(), sum, "{text}");
        let key = format!("{text}{sum}");
        assert!(KeyFormat::default().parse(&key).is_ok());
    }
}

#[test]
fn each_format_error_is_reported() {
    let f = KeyFormat::default();
    let good = key_from_seed(&f, KeyKind::ApiKey, vec![42]);
    assert_eq!(f.parse("xyz_abc"), Err(KeyFormatError::UnknownPrefix));
    assert_eq!(
        f.parse(&good[..good.len() - 1]),
        Err(KeyFormatError::BadLength)
    );
    let mut bad_alpha = good.clone().into_bytes();
    bad_alpha[10] = b'-';
    assert_eq!(
        f.parse(std::str::from_utf8(&bad_alpha).unwrap()),
        Err(KeyFormatError::BadAlphabet)
    );
    let wrong_sum = format!("{}000000", &good[..good.len() - 6]);
    assert_eq!(f.parse(&wrong_sum), Err(KeyFormatError::BadChecksum));
}

#[test]
fn configured_prefixes_are_used() {
    let f = KeyFormat::new("acme_", "acmep_").unwrap();
    let key = key_from_seed(&f, KeyKind::Pat, vec![5]);
    assert!(key.starts_with("acmep_"));
    assert_eq!(f.parse(&key), Ok(KeyKind::Pat));
    assert_eq!(
        KeyFormat::default().parse(&key),
        Err(KeyFormatError::UnknownPrefix)
    );
}
