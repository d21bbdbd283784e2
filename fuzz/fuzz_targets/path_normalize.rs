//! `NormalizedPath::parse` on arbitrary text: never panics, and normalising is idempotent.
#![no_main]

use edge_auth::route::NormalizedPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(path) = NormalizedPath::parse(raw) {
        // `as_string()` is the *decoded* form, so a segment may hold a literal `%`; re-encoding
        // it as `%25` makes the text a path again, and parsing that must give the same value.
        let text = path.as_string();
        let again = NormalizedPath::parse(&text.replace('%', "%25"));
        assert_eq!(
            again.as_ref(),
            Ok(&path),
            "not idempotent: {raw:?} -> {text:?}"
        );
        // Without a `%` the decoded form is itself a path: plain re-parsing is a fixed point.
        if !text.contains('%') {
            assert_eq!(
                NormalizedPath::parse(&text),
                Ok(path),
                "not idempotent: {raw:?}"
            );
        }
    }
});
