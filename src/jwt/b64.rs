//! Strict base64url without padding (RFC 7515 §2): the only encoding a compact JWS may use. A
//! lenient decoder would let one token have many spellings, which defeats the token cache and
//! hides tampering, so padding, the standard alphabet, whitespace and non-zero trailing bits are
//! all errors.

/// The input is not canonical unpadded base64url.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Base64Error;

fn sextet(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Decodes canonical unpadded base64url.
pub fn decode(input: &str) -> Result<Vec<u8>, Base64Error> {
    let bytes = input.as_bytes();
    if bytes.len() % 4 == 1 {
        return Err(Base64Error);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    for chunk in bytes.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | sextet(c).ok_or(Base64Error)?;
        }
        match chunk.len() {
            4 => {
                out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            }
            3 => {
                // 18 bits: 16 data bits, 2 bits that must be zero.
                if acc & 0b11 != 0 {
                    return Err(Base64Error);
                }
                out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
            }
            2 => {
                // 12 bits: 8 data bits, 4 bits that must be zero.
                if acc & 0b1111 != 0 {
                    return Err(Base64Error);
                }
                out.push((acc >> 4) as u8);
            }
            _ => return Err(Base64Error),
        }
    }
    Ok(out)
}

/// Encodes as unpadded base64url.
#[must_use]
pub fn encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let symbol = |v: u32| -> char {
        ALPHABET
            .get((v & 63) as usize)
            .map_or('A', |&c| char::from(c))
    };
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let mut acc: u32 = 0;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        out.push(symbol(acc >> 18));
        out.push(symbol(acc >> 12));
        if chunk.len() > 1 {
            out.push(symbol(acc >> 6));
        }
        if chunk.len() > 2 {
            out.push(symbol(acc));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&data)).unwrap(), data);
        }
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(
            decode("eyJhbGciOiJIUzI1NiJ9").unwrap(),
            br#"{"alg":"HS256"}"#
        );
    }

    #[test]
    fn rejects_non_canonical_forms() {
        for bad in [
            "QQ==",
            "QQ=",
            "a+b/",
            "ab c",
            "ab\n",
            "A",
            "QR",
            "QUF",
            "QUJ",
            "QUI\u{e9}",
        ] {
            assert_eq!(decode(bad), Err(Base64Error), "{bad:?}");
        }
        // The canonical spellings of the same bytes decode.
        assert_eq!(decode("QQ").unwrap(), b"A");
        assert_eq!(decode("QUE").unwrap(), b"AA");
    }
}
