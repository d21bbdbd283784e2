//! JSON parsing that refuses duplicate member names at any depth. `serde_json` silently keeps the
//! last duplicate, while other parsers keep the first: a token whose `sub` or `alg` means one thing
//! to us and another to the origin is exactly the ambiguity RFC 7515 §5.2 lets us reject.

use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a document was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not valid JSON (or not UTF-8, or nested too deep).
    Syntax,
    /// Some object has the same member name twice.
    DuplicateMember,
    /// Valid JSON, but the top level is not an object.
    NotAnObject,
}

/// Parses `bytes` as a JSON object, rejecting duplicate member names anywhere in it.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    let duplicate = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StrictJsonError::NotAnObject),
        Err(_) if duplicate.get() => Err(StrictJsonError::DuplicateMember),
        Err(_) => Err(StrictJsonError::Syntax),
    }
}

/// Carries the "a duplicate was seen" flag down the recursion so the caller can tell a
/// duplicate from a syntax error without inspecting error texts.
#[derive(Clone, Copy)]
struct StrictSeed<'f> {
    duplicate: &'f Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_objects() {
        let m = parse_object(br#"{"a":1,"b":[1,2,{"c":null}],"d":{"e":1.5,"f":-2}}"#).unwrap();
        assert_eq!(m["b"][2]["c"], Value::Null);
        assert_eq!(m["d"]["e"], 1.5);
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        for doc in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"x":1},{"y":1,"y":1}]}"#,
            // Escapes spell the same name: still a duplicate.
            r#"{"sub":"a","s\u0075b":"b"}"#,
        ] {
            assert_eq!(
                parse_object(doc.as_bytes()),
                Err(StrictJsonError::DuplicateMember),
                "{doc}"
            );
        }
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        assert_eq!(parse_object(b"[1]"), Err(StrictJsonError::NotAnObject));
        assert_eq!(parse_object(b"\"x\""), Err(StrictJsonError::NotAnObject));
        assert_eq!(parse_object(b"{"), Err(StrictJsonError::Syntax));
        assert_eq!(parse_object(b"{} {}"), Err(StrictJsonError::Syntax));
        assert_eq!(parse_object(b"\xff"), Err(StrictJsonError::Syntax));
        let deep = "[".repeat(10_000);
        assert_eq!(parse_object(deep.as_bytes()), Err(StrictJsonError::Syntax));
    }
}
