//! `Config::from_json` on arbitrary text (no secret bindings) never panics.
#![no_main]

use edge_auth::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = Config::from_json(text, &|_| None);
});
