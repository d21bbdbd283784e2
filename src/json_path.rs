//! Which field of a JSON text a `serde_json` error is about: the path (`routes[0].auth`) of the
//! value the deserializer was reading when it stopped, found by one scan of the text up to the
//! error's position (RFC 8259 §2-§7: objects, arrays, strings, literals and numbers).
//!
//! The config and the admin API's bodies name the field at fault in their errors. The crate
//! `serde_path_to_error` does this by wrapping every `Deserialize` impl it meets: 94 KB of the
//! 1.27 MB wasm (2026-12-02: 1,269,497 → 1,175,043 bytes, 488 → 460 KiB gzip without it), all of
//! it code that runs only when a config or a body is wrong. serde_json already says where it
//! stopped (line and column, in bytes); this scan turns that into the path, so the happy path is
//! plain `serde_json`. The path is the one `serde_path_to_error` gives, in its notation (`.` for
//! the whole text, `?` for a member whose key could not be read): `tests/json_path.rs` (the
//! config) and `admin::validate`'s tests (every body) hold the two against each other on every
//! one-place break of a valid document, on every cut of the config's text and twelve stray
//! sequences put in at every byte (over 37,000 refused texts), and on named cases, with
//! `serde_path_to_error` kept as a dev-dependency for that comparison only.
//!
//! Where serde_json stops (serde_json 1.0, `Deserializer::fix_position` and `peek_error`): right
//! after a scalar it rejected (`invalid type: integer 5`) or a key it rejected (`unknown field`,
//! named by that key); inside a string or number it cannot read (a bad escape, `1e400`); right
//! after the `}` or `]` of a container whose visitor failed (`missing field`, a custom error, a
//! length), which names that container; at the `{` or `[` of a value of the wrong type; one byte
//! past a bracket it only peeked at (an enum's `[…]` form, or a bracket where a separator
//! belongs); at a byte where no separator, bracket or value may stand. The scan follows the text
//! as serde_json reads it (a comma moves on only after a whole value, a bracket closes only a
//! container it may close) and keeps, per open container, whether its current member or element
//! is entered; [`error_path`] settles by the error's kind the cases where one offset means
//! different things. Each rule names its case. One case cannot be told by position: an untagged
//! enum that is the last member of a nested object is named by that object (the config's one
//! untagged enum, `admin_scope`, is at the top level, where it is named).
//!
//! Never touches: what the error means (callers word it), the text's validity (only positions
//! serde_json reported are looked up; a text that is not JSON yields some path, never a panic).
//! Runs only on an error: its cost is one pass over the text.

/// One step of a path: a member of an object or an element of an array.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Where the scan is inside one open container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// After `{` or `,` in an object: a key is expected (a failure here has no key yet: `?`).
    ExpectKey,
    /// A key is read (`unknown field` is raised here), the value not begun.
    AfterKey,
    /// The member's or element's value is expected or being read.
    InValue,
    /// The value ended exactly at the offset: the one at fault for a data error (serde_json
    /// stops right after a value it rejects); a syntax error there is about what follows it.
    Ended,
    /// The value ended before the offset: it is not the one at fault.
    Done,
}

#[derive(Clone, Debug)]
struct Frame {
    is_object: bool,
    /// Where the container's opening bracket was.
    opened_at: usize,
    /// The member's key or the element's index, once known.
    segment: Option<Segment>,
    state: State,
    /// Elements started so far (arrays).
    elements: usize,
    /// Nothing read since the opening bracket (or, in an array, the last `,`).
    fresh: bool,
}

/// The path of the value being read when `error` was raised while deserializing `text`, in
/// `serde_path_to_error`'s notation: `.` for the whole text, else `a.b[2].c`, with `?` for a
/// member whose key could not be read.
#[must_use]
pub fn error_path(text: &[u8], error: &serde_json::Error) -> String {
    let offset = offset_of(text, error.line(), error.column());
    let (mut stack, closed) = scan(text, offset);
    let message = error.to_string();
    // A syntax error one byte past a `{` or `[`: serde_json only peeked at the bracket (an enum's
    // `[…]` or `{…}` form, or a bracket where a separator belongs), so the container was never
    // entered.
    if let Some(f) = stack.last() {
        if error.is_syntax()
            && f.opened_at + 1 == offset
            && matches!(f.state, State::InValue | State::ExpectKey)
        {
            stack.pop();
        }
    }
    // A missing separator, a trailing comma, a key that is not a string, or the end of the text,
    // after a complete value, is about what comes next: the object's next key (`?`), or the
    // array itself. Other syntax errors at a value's end are about the value (`1e400` is out of
    // range; `expected value` is raised one byte into a value serde_json peeked at for an enum,
    // `5`, which may end there).
    let about_what_follows = error.is_eof()
        || ["expected `,`", "trailing comma", "key must be a string"]
            .iter()
            .any(|m| message.starts_with(m));
    if about_what_follows {
        if let Some(f) = stack.last_mut() {
            if matches!(f.state, State::Ended | State::Done) {
                if f.is_object {
                    f.segment = None;
                    f.state = State::ExpectKey;
                } else {
                    // No element has begun: serde_path_to_error names the array.
                    f.state = State::Done;
                }
            }
        }
    }
    // A key read, then no `:` (a syntax error or the end of the text): serde_path_to_error has
    // not entered the member yet, and names the object.
    if let Some(f) = stack.last_mut() {
        if f.is_object && f.state == State::AfterKey && (error.is_syntax() || error.is_eof()) {
            f.state = State::Done;
        }
    }
    // The text ends, or a trailing comma stands, where an element could begin: serde_json fails
    // before it asks for the element, and serde_path_to_error names the array.
    if error.is_eof() || message.starts_with("trailing comma") {
        if let Some(f) = stack.last_mut() {
            if !f.is_object && f.fresh && f.state == State::InValue {
                f.state = State::Done;
            }
        }
    }
    // A key seen twice: serde_path_to_error names the object that holds it.
    if message.starts_with("duplicate field") {
        if let Some(f) = stack.last_mut() {
            if f.is_object && f.state == State::AfterKey {
                f.state = State::Done;
            }
        }
    }
    // An untagged enum is read from a buffered copy of its value, so its error has no position
    // of its own: serde_json gives it the position where the enclosing object's reader stopped,
    // which is past that object's `}` when the enum was its last member. When that object is the
    // whole text, its last member is named. (Deeper down the offset cannot tell an untagged
    // object from the object holding it; the config's one untagged enum, `admin_scope`, is a
    // member of the top level.)
    if message.contains("did not match any variant of untagged enum") {
        match stack.last_mut() {
            None => {
                if let Some(mut f) = closed {
                    f.state = State::Ended;
                    stack.push(f);
                }
            }
            // Stopped after whitespace that follows the member (a byte that is no separator
            // comes next): still that member.
            Some(f) if f.is_object && f.state == State::Done => f.state = State::Ended,
            Some(_) => {}
        }
    }
    if message.starts_with("unknown variant") {
        if let Some(f) = stack.last_mut() {
            if f.is_object && f.state == State::AfterKey {
                stack.pop();
            }
        }
    }
    render(&stack)
}

/// The byte offset of serde_json's (1-based line, column counted in bytes since the line's start).
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0usize;
    let mut seen = 1usize;
    if line > 1 {
        for (i, b) in text.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == line {
                    start = i + 1;
                    break;
                }
            }
        }
    }
    start.saturating_add(column).min(text.len())
}

/// The containers open at byte `offset` of `text`, each with where it is, and the container
/// whose closing bracket ends exactly there, if one does.
fn scan(text: &[u8], offset: usize) -> (Vec<Frame>, Option<Frame>) {
    let mut stack: Vec<Frame> = Vec::new();
    let mut closed = None;
    let mut i = 0usize;
    while i < offset {
        let Some(&b) = text.get(i) else { break };
        if !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}') {
            if let Some(f) = stack.last_mut() {
                f.fresh = false;
            }
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'[' => {
                let is_object = b == b'{';
                stack.push(Frame {
                    is_object,
                    opened_at: i,
                    segment: (!is_object).then_some(Segment::Index(0)),
                    state: if is_object {
                        State::ExpectKey
                    } else {
                        State::InValue
                    },
                    elements: 0,
                    fresh: true,
                });
                i += 1;
            }
            b'}' | b']' if stack.last().is_some_and(|f| closes(f, b)) => {
                let frame = stack.pop();
                i += 1;
                closed = frame.filter(|_| i == offset);
                value_ended(&mut stack, i, offset, true);
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    if f.is_object {
                        // Only after a whole value does a comma move on; anywhere else
                        // serde_json stops at it, and nothing changes.
                        if matches!(f.state, State::Done | State::Ended) {
                            f.segment = None;
                            f.state = State::ExpectKey;
                        }
                    } else if matches!(f.state, State::Done | State::Ended) {
                        f.elements += 1;
                        f.segment = Some(Segment::Index(f.elements));
                        f.state = State::InValue;
                        f.fresh = true;
                    }
                }
                i += 1;
            }
            b':' => {
                if let Some(f) = stack.last_mut() {
                    if f.state == State::AfterKey {
                        f.state = State::InValue;
                    }
                }
                i += 1;
            }
            b'"' => {
                let (end, closed) = match string_end(text, i) {
                    Some(end) => (end, true),
                    None => (text.len(), false),
                };
                let expecting_key = stack
                    .last()
                    .is_some_and(|f| f.is_object && f.state == State::ExpectKey);
                if expecting_key {
                    if closed && end <= offset {
                        // A key rejected as it is read (`unknown field`) is named itself, as
                        // serde_path_to_error names it: `routes[0].bogus`.
                        // A key serde_json cannot decode (a bad escape) was never read: `?`.
                        let key = text
                            .get(i..end)
                            .and_then(|raw| serde_json::from_slice::<String>(raw).ok());
                        if let (Some(f), Some(key)) = (stack.last_mut(), key) {
                            f.segment = Some(Segment::Key(key));
                            f.state = State::AfterKey;
                        }
                    }
                    // A key cut off by the offset was never read: the member stays `?`.
                    i = end;
                } else {
                    i = end;
                    value_ended(&mut stack, i, offset, closed);
                }
            }
            b'-' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => {
                // A number or a literal, as far as serde_json would read one.
                let number = b == b'-' || b.is_ascii_digit();
                let mut j = i + 1;
                while let Some(&c) = text.get(j) {
                    let more = if number {
                        c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')
                    } else {
                        c.is_ascii_alphabetic()
                    };
                    if !more {
                        break;
                    }
                    j += 1;
                }
                let token = text.get(i..j).unwrap_or(&[]);
                let complete = if number {
                    token.last().is_some_and(u8::is_ascii_digit)
                } else {
                    matches!(token, b"true" | b"false" | b"null")
                };
                if !complete {
                    // serde_json failed inside it (`f#alse`, `1e`): the value is the one at fault.
                    break;
                }
                i = j;
                value_ended(&mut stack, i, offset, complete);
            }
            // A byte no JSON value starts with: serde_json stops at it.
            _ => i += 1,
        }
    }
    (stack, closed)
}

/// Whether `bracket` ends `f` as serde_json reads it: the matching bracket, after a whole value
/// or in a container still empty. Anywhere else (`{"a":}`, `[1,]`) serde_json stops at it.
fn closes(f: &Frame, bracket: u8) -> bool {
    let empty = f.fresh
        && if f.is_object {
            f.state == State::ExpectKey
        } else {
            f.state == State::InValue && f.elements == 0
        };
    f.is_object == (bracket == b'}') && (empty || matches!(f.state, State::Done | State::Ended))
}

/// A value of the innermost open container ended at byte `end` (`complete`: a whole value, not
/// one the text cuts off): its segment stays in the path only if that is at or past the offset
/// asked about (the value was the one being rejected, or serde_json stopped inside it).
fn value_ended(stack: &mut [Frame], end: usize, offset: usize, complete: bool) {
    if let Some(f) = stack.last_mut() {
        if f.state == State::InValue {
            if end < offset {
                f.state = State::Done;
            } else if end == offset && complete {
                f.state = State::Ended;
            }
            // Past the offset: serde_json stopped inside it (a bad escape, a number out of
            // range), so it is still the value being read.
        }
    }
}

/// The byte after the string that starts with the quote at `start`, or None if it never ends.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut j = start + 1;
    while let Some(&c) = text.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// serde_path_to_error's notation: keys joined by `.`, indexes as `[i]`, `?` for an unread key,
/// `.` for no segment at all (an empty key is written as nothing, as it writes it).
fn render(stack: &[Frame]) -> String {
    let mut out = String::new();
    let mut segments = 0usize;
    for f in stack {
        let part = match (&f.segment, f.state) {
            (_, State::Done) => break,
            (None, State::ExpectKey) | (None, State::AfterKey) => "?".to_string(),
            (Some(Segment::Key(k)), _) => k.clone(),
            (Some(Segment::Index(n)), _) => format!("[{n}]"),
            (None, State::InValue | State::Ended) => break,
        };
        if segments > 0 && !matches!(f.segment, Some(Segment::Index(_))) {
            out.push('.');
        }
        segments += 1;
        out.push_str(&part);
        if part == "?" {
            break;
        }
    }
    if segments == 0 {
        ".".to_string()
    } else {
        out
    }
}

/// One-place breaks of a valid JSON document, for the tests that hold this scan against
/// `serde_path_to_error` (tests/json_path.rs for the config, `admin::validate`'s for the bodies).
#[cfg(any(test, feature = "test-support"))]
pub mod breaks {
    use serde_json::{json, Value};

    /// Every place in `v` (as a pointer), and whether it is an object.
    fn places(v: &Value, at: String, out: &mut Vec<(String, bool)>) {
        out.push((at.clone(), v.is_object()));
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    places(child, format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    places(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Each one-place break of `base`.
    pub fn broken(base: &Value) -> Vec<Value> {
        let mut at = Vec::new();
        places(base, String::new(), &mut at);
        let replacements = [
            json!(5),
            json!(-1),
            json!(1.5),
            json!(1e20),
            json!("x"),
            json!(""),
            json!(true),
            json!(null),
            json!([]),
            json!([1]),
            json!({}),
            json!({ "zz": 1 }),
        ];
        let mut out = Vec::new();
        for (pointer, is_object) in &at {
            for r in &replacements {
                let mut v = base.clone();
                if let Some(slot) = v.pointer_mut(pointer) {
                    *slot = r.clone();
                    out.push(v);
                }
            }
            if *is_object {
                let mut v = base.clone();
                if let Some(Value::Object(m)) = v.pointer_mut(pointer) {
                    m.insert("zz_unknown".into(), json!(1));
                    out.push(v.clone());
                }
                let keys: Vec<String> = base
                    .pointer(pointer)
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                for k in keys {
                    let mut v = base.clone();
                    if let Some(Value::Object(m)) = v.pointer_mut(pointer) {
                        m.remove(&k);
                        out.push(v);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, offset: usize) -> String {
        render(&scan(text.as_bytes(), offset).0)
    }

    #[test]
    fn offsets_come_from_lines_and_byte_columns() {
        let text = b"{\n  \"a\": 1,\n  \"b\": x\n}";
        assert_eq!(offset_of(text, 1, 0), 0);
        assert_eq!(offset_of(text, 2, 3), 5);
        assert_eq!(offset_of(text, 3, 8), 20);
        // A line past the end (serde_json never reports one) reads as the first.
        assert_eq!(offset_of(text, 9, 1), 1);
    }

    #[test]
    fn a_rejected_value_is_named_by_its_key_and_index() {
        let text = r#"{"routes":[{"path":"/a"},{"path":5}]}"#;
        let after_five = text.find('5').unwrap_or(0) + 1;
        assert_eq!(at(text, after_five), "routes[1].path");
        // At the `{` of a value of the wrong type.
        let text = r#"{"realm":{"x":1}}"#;
        assert_eq!(at(text, 9), "realm");
        assert_eq!(at(r#"{"keys":[1,2,[3]]}"#, 13), "keys[2]");
    }

    #[test]
    fn a_container_that_failed_as_a_whole_is_named() {
        // After the `}` of routes[0] (a missing field).
        let text = r#"{"routes":[{"auth":"public"}]}"#;
        let end = text.find('}').unwrap_or(0) + 1;
        assert_eq!(at(text, end), "routes[0]");
        assert_eq!(at(r#"{"a":1}"#, 7), ".");
    }

    #[test]
    fn a_key_rejected_as_read_is_named() {
        let text = r#"{"routes":[{"bogus":1}]}"#;
        let after_key = text.find("\":1").unwrap_or(0) + 1;
        assert_eq!(at(text, after_key), "routes[0].bogus");
    }

    #[test]
    fn escaped_keys_and_strings_do_not_confuse_the_scan() {
        let text = r#"{"a\"b":{"c":"x}\"],{","d":7}}"#;
        let after_seven = text.find('7').unwrap_or(0) + 1;
        assert_eq!(at(text, after_seven), "a\"b.d");
    }

    #[test]
    fn text_that_is_not_json_never_panics() {
        for text in ["", "{", "[[[", "\"", "{\"a", "}}]]", "{\"a\":[1,", "\\"] {
            for offset in 0..=text.len() + 2 {
                let _ = at(text, offset);
            }
        }
    }
}
