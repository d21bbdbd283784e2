//! `NormalizedPath::parse` on arbitrary text: never panics, and the canonical path the origin
//! receives is a fixed point: parsing it again gives the same canonical path and the same
//! segments the routes matched (so the edge and the origin read one path).
#![no_main]

use edge_auth::route::NormalizedPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(path) = NormalizedPath::parse(raw) {
        let canonical = path.canonical();
        let again = NormalizedPath::parse(canonical);
        assert_eq!(again.as_ref(), Ok(&path), "not a fixed point: {raw:?} -> {canonical:?}");
        // No decoded `%` survives (`%25` is refused), so the decoded form parses back too.
        assert!(!path.as_string().contains('%'), "{raw:?}");
    }
});
