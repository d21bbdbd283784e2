//! `extract(authorization, api_key)` never panics. The input is split at the first NUL into the
//! two header values (no NUL: no `X-API-Key`). A leading byte 0x00-0x03 is a flag, not text: bit 0
//! drops `Authorization`, bit 1 drops `X-API-Key`, so every `None`/`Some` combination is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let (flags, rest) = match data.as_bytes().first() {
        Some(b) if *b < 4 => (*b, data.get(1..).unwrap_or_default()),
        _ => (0, data),
    };
    let (authorization, api_key) = match rest.split_once('\0') {
        Some((a, k)) => (Some(a), Some(k)),
        None => (Some(rest), None),
    };
    let authorization = authorization.filter(|_| flags & 1 == 0);
    let api_key = api_key.filter(|_| flags & 2 == 0);
    let _ = edge_auth::extract::extract(authorization, api_key);
});
