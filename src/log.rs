//! The decision log's text rules. Log lines are JSON, one per line; this module owns what makes
//! a serialised line safe to ship as one line. It never sees a credential: callers pass facts
//! already free of them (see [`crate::authn::LogFacts`]).

/// JSON allows U+2028 and U+2029 raw inside strings, but JavaScript consumers and many line
/// splitters treat them as line breaks: a subject or path holding one would split a log line, or
/// forge a second. Escape them as `\u2028` / `\u2029` (still the same JSON value).
#[must_use]
pub fn escape_line_separators(line: String) -> String {
    if !line.contains(['\u{2028}', '\u{2029}']) {
        return line;
    }
    line.replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_separators_are_escaped_and_the_json_is_unchanged() {
        let value = serde_json::json!({ "subject": "a\u{2028}b\u{2029}c", "path": "/x" });
        let line = escape_line_separators(value.to_string());
        assert!(!line.contains('\u{2028}') && !line.contains('\u{2029}'));
        assert!(line.contains("\\u2028") && line.contains("\\u2029"));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
        assert_eq!(escape_line_separators("{}".into()), "{}");
    }
}
