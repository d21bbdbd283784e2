//! The `RateLimit-Policy` and `RateLimit` response header values, as
//! draft-ietf-httpapi-ratelimit-headers-10 defines them on top of Structured Field Values
//! (RFC 9651, which the draft cites as \[SF\]; the syntax used here is unchanged from RFC 8941).
//! This file owns only the text of the two values: which limits apply, their counters and the
//! clock live elsewhere, and it never reads or writes a header, a request or any state.
//!
//! Both fields are an sf-list (draft §3, §4; RFC 9651 §3.1) of items (RFC 9651 §3.3) whose bare
//! item is an sf-string naming the policy (draft §3 requires a String for the policy item; §4.1
//! only says the item identifies the policy, and every example there is a String, so the same
//! spelling is written), each with parameters (RFC 9651 §3.1.2):
//!
//! * `RateLimit-Policy` (draft §3.1): `q`, the quota, a non-negative Integer, required (§3.1.1);
//!   `w`, the window in seconds, optional, a non-zero Integer (§3.1.3). The optional `qu` (quota
//!   unit, §3.1.2: a String, `"requests"` when absent) and `pk` (partition key, §3.1.4: a Byte
//!   Sequence) are never written: the items carry neither, so the default unit applies.
//! * `RateLimit` (draft §4.1): `r`, the remaining quota, a non-negative Integer, required
//!   (§4.1.1); `t`, the seconds until more quota is made available, a non-negative Integer,
//!   optional (§4.1.2) and always written. `pk` (§4.1.3) is never written, as above.
//!
//! Serialisation follows RFC 9651 §4.1.1 (list members joined by `, `), §4.1.1.2 (`;key=value`
//! parameters), §4.1.4 (integers) and §4.1.6 (strings). Where RFC 9651 would make serialisation
//! fail, these functions still return a valid value instead:
//!
//! * a name byte outside 0x20-0x7E (control characters, DEL, every byte of a non-ASCII
//!   character) is dropped; `"` and `\` are escaped with `\`. Configured limit names are
//!   `[A-Za-z0-9_.-]{1,64}`, so this only matters for input that bypassed the config check;
//! * an sf-integer has at most 15 digits (RFC 9651 §3.3.1): a larger count is written as
//!   999,999,999,999,999;
//! * a zero window is not a valid `w` (draft §3.1.3), so the parameter is left out for it.
//!
//! Each function makes one allocation, the returned `String`, sized exactly beforehand.

use std::fmt::Write as _;

/// One policy as advertised in `RateLimit-Policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyItem<'a> {
    pub name: &'a str,
    pub quota: u64,
    pub window_seconds: u64,
}

/// The current state of one policy, for `RateLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateItem<'a> {
    pub name: &'a str,
    pub remaining: u64,
    pub reset_seconds: u64,
}

/// The largest sf-integer (RFC 9651 §3.3.1: at most 15 decimal digits).
const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// Between list members (RFC 9651 §4.1.1: `,` followed by one space).
const MEMBER_SEPARATOR: &str = ", ";

/// `RateLimit-Policy` value for these policies, in order; None for an empty slice.
#[must_use]
pub fn policy_field(items: &[PolicyItem<'_>]) -> Option<String> {
    let params = |item: &PolicyItem<'_>| {
        let window = (item.window_seconds != 0).then_some(("w", item.window_seconds));
        [Some(("q", item.quota)), window]
    };
    list(items, |item| item.name, params)
}

/// `RateLimit` value; None for an empty slice.
#[must_use]
pub fn state_field(items: &[StateItem<'_>]) -> Option<String> {
    let params =
        |item: &StateItem<'_>| [Some(("r", item.remaining)), Some(("t", item.reset_seconds))];
    list(items, |item| item.name, params)
}

/// An sf-list of sf-string items, each with integer parameters (`None` entries are skipped), in
/// one exactly sized `String`.
fn list<T, const N: usize>(
    items: &[T],
    name: impl Fn(&T) -> &str,
    params: impl Fn(&T) -> [Option<(&'static str, u64)>; N],
) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let member_len = |item: &T| {
        string_len(name(item))
            + params(item)
                .iter()
                .flatten()
                .map(|(key, value)| 2 + key.len() + integer_len(*value))
                .sum::<usize>()
    };
    let separators = MEMBER_SEPARATOR.len() * (items.len() - 1);
    let capacity = items.iter().map(member_len).sum::<usize>() + separators;

    let mut out = String::with_capacity(capacity);
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(MEMBER_SEPARATOR);
        }
        push_string(&mut out, name(item));
        for (key, value) in params(item).iter().flatten() {
            out.push(';');
            out.push_str(key);
            out.push('=');
            push_integer(&mut out, *value);
        }
    }
    Some(out)
}

/// The bytes an sf-string may hold unescaped or escaped (RFC 9651 §3.3.3: VCHAR or SP).
fn is_string_byte(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// The serialised length of `name` as written by [`push_string`].
fn string_len(name: &str) -> usize {
    let body: usize = name
        .bytes()
        .filter(|b| is_string_byte(*b))
        .map(|b| if b == b'"' || b == b'\\' { 2 } else { 1 })
        .sum();
    body + 2
}

/// `name` as an sf-string (RFC 9651 §4.1.6), bytes outside 0x20-0x7E dropped.
fn push_string(out: &mut String, name: &str) {
    out.push('"');
    for b in name.bytes().filter(|b| is_string_byte(*b)) {
        if b == b'"' || b == b'\\' {
            out.push('\\');
        }
        out.push(char::from(b));
    }
    out.push('"');
}

/// The number of decimal digits of `value` once clamped.
fn integer_len(value: u64) -> usize {
    let mut value = value.min(SF_INTEGER_MAX);
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

/// `value` as an sf-integer (RFC 9651 §4.1.4), clamped to 15 digits.
fn push_integer(out: &mut String, value: u64) {
    // Writing to a `String` cannot fail.
    let _ = write!(out, "{}", value.min(SF_INTEGER_MAX));
}

#[cfg(test)]
mod tests {
    use super::*;
    use sfv::{BareItem, ListEntry, Parser};

    fn policy(name: &str, quota: u64, window_seconds: u64) -> PolicyItem<'_> {
        PolicyItem {
            name,
            quota,
            window_seconds,
        }
    }

    fn state(name: &str, remaining: u64, reset_seconds: u64) -> StateItem<'_> {
        StateItem {
            name,
            remaining,
            reset_seconds,
        }
    }

    /// The value parsed as an RFC 9651 List, each member as (string, [(key, integer)]), failing
    /// the test on an inner list, a non-string item or a non-integer parameter.
    fn parse(value: &str) -> Vec<(String, Vec<(String, i64)>)> {
        let list: sfv::List = Parser::new(value).parse().expect("an sf-list");
        list.into_iter()
            .map(|entry| {
                let ListEntry::Item(item) = entry else {
                    panic!("inner list in {value}");
                };
                let BareItem::String(name) = item.bare_item else {
                    panic!("bare item is not a String in {value}");
                };
                let params = item
                    .params
                    .into_iter()
                    .map(|(key, bare)| {
                        let BareItem::Integer(n) = bare else {
                            panic!("parameter {key} is not an Integer in {value}");
                        };
                        (key.as_str().to_owned(), i64::from(n))
                    })
                    .collect();
                (name.as_str().to_owned(), params)
            })
            .collect()
    }

    fn owned(members: &[(&str, &[(&str, i64)])]) -> Vec<(String, Vec<(String, i64)>)> {
        members
            .iter()
            .map(|(name, params)| {
                let params = params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
                ((*name).to_owned(), params)
            })
            .collect()
    }

    #[test]
    fn empty_slices_have_no_field() {
        assert_eq!(policy_field(&[]), None);
        assert_eq!(state_field(&[]), None);
    }

    #[test]
    fn the_drafts_example_shapes() {
        // Draft §3.2 and §4.2 (without `pk`, which is never written).
        assert_eq!(
            policy_field(&[policy("default", 100, 10)]).as_deref(),
            Some(r#""default";q=100;w=10"#)
        );
        assert_eq!(
            policy_field(&[policy("permin", 50, 60), policy("perhr", 1000, 3600)]).as_deref(),
            Some(r#""permin";q=50;w=60, "perhr";q=1000;w=3600"#)
        );
        assert_eq!(
            state_field(&[state("default", 50, 30)]).as_deref(),
            Some(r#""default";r=50;t=30"#)
        );
        // Appendix B.1.4: nothing left.
        assert_eq!(
            state_field(&[state("default", 0, 5)]).as_deref(),
            Some(r#""default";r=0;t=5"#)
        );
    }

    #[test]
    fn sfv_reads_the_policy_field_back() {
        let value = policy_field(&[
            policy("burst", 100, 60),
            policy("daily", 1000, 86_400),
            policy("key.minute-1_a", 7, 1),
        ])
        .unwrap();
        assert_eq!(
            parse(&value),
            owned(&[
                ("burst", &[("q", 100), ("w", 60)]),
                ("daily", &[("q", 1000), ("w", 86_400)]),
                ("key.minute-1_a", &[("q", 7), ("w", 1)]),
            ])
        );
    }

    #[test]
    fn sfv_reads_the_state_field_back() {
        let value = state_field(&[state("hour", 999, 0), state("day", 100, 36_000)]).unwrap();
        assert_eq!(
            parse(&value),
            owned(&[
                ("hour", &[("r", 999), ("t", 0)]),
                ("day", &[("r", 100), ("t", 36_000)]),
            ])
        );
    }

    #[test]
    fn a_zero_window_is_left_out() {
        let value = policy_field(&[policy("once", 0, 0)]).unwrap();
        assert_eq!(value, r#""once";q=0"#);
        assert_eq!(parse(&value), owned(&[("once", &[("q", 0)])]));
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let value = policy_field(&[policy(r#"a"b\c"#, 1, 2)]).unwrap();
        assert_eq!(value, r#""a\"b\\c";q=1;w=2"#);
        assert_eq!(parse(&value), owned(&[(r#"a"b\c"#, &[("q", 1), ("w", 2)])]));
    }

    #[test]
    fn bytes_outside_printable_ascii_are_dropped() {
        let value = state_field(&[state("a\u{0}b\tc\r\nd\u{7f}é€ f", 1, 2)]).unwrap();
        assert_eq!(value, r#""abcd f";r=1;t=2"#);
        assert_eq!(parse(&value), owned(&[("abcd f", &[("r", 1), ("t", 2)])]));
        // A name with nothing printable is still a valid (empty) sf-string.
        let value = state_field(&[state("\u{1}ü", 3, 4)]).unwrap();
        assert_eq!(value, r#""";r=3;t=4"#);
        assert_eq!(parse(&value), owned(&[("", &[("r", 3), ("t", 4)])]));
    }

    #[test]
    fn integers_are_clamped_to_fifteen_digits() {
        let max = 999_999_999_999_999_i64;
        let value = policy_field(&[
            policy("huge", u64::MAX, 1_000_000_000_000_000),
            policy("edge", 999_999_999_999_999, 999_999_999_999_998),
        ])
        .unwrap();
        assert_eq!(
            value,
            r#""huge";q=999999999999999;w=999999999999999, "edge";q=999999999999999;w=999999999999998"#
        );
        assert_eq!(
            parse(&value),
            owned(&[
                ("huge", &[("q", max), ("w", max)]),
                ("edge", &[("q", max), ("w", max - 1)]),
            ])
        );
        let value = state_field(&[state("huge", u64::MAX, u64::MAX)]).unwrap();
        assert_eq!(parse(&value), owned(&[("huge", &[("r", max), ("t", max)])]));
    }

    #[test]
    fn the_capacity_is_exact() {
        for value in [
            policy_field(&[policy(r#"x"\"#, u64::MAX, 0), policy("ab", 9, 10)]).unwrap(),
            state_field(&[state("é\u{0}n", 10, 99), state("", 0, 100)]).unwrap(),
        ] {
            assert_eq!(value.len(), value.capacity(), "{value}");
        }
    }

    #[test]
    fn integer_len_counts_digits() {
        for n in [
            0,
            9,
            10,
            99,
            100,
            12_345,
            SF_INTEGER_MAX,
            SF_INTEGER_MAX + 1,
            u64::MAX,
        ] {
            assert_eq!(
                integer_len(n),
                n.min(SF_INTEGER_MAX).to_string().len(),
                "{n}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_parses_as_a_list_of_as_many_members(
            raw in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::prelude::any::<String>(),
                        "[\\x00-\\x7f]{0,16}",
                        "[A-Za-z0-9_.-]{1,64}",
                    ],
                    proptest::prelude::any::<u64>(),
                    proptest::prelude::any::<u64>(),
                ),
                1..6,
            ),
        ) {
            let policies: Vec<_> = raw.iter().map(|(n, a, b)| policy(n, *a, *b)).collect();
            let states: Vec<_> = raw.iter().map(|(n, a, b)| state(n, *a, *b)).collect();
            let clamp = |n: u64| i64::try_from(n.min(SF_INTEGER_MAX)).unwrap();
            let printable = |n: &str| -> String {
                n.bytes().filter(|b| is_string_byte(*b)).map(char::from).collect()
            };

            let value = policy_field(&policies).unwrap();
            let parsed = parse(&value);
            proptest::prop_assert_eq!(parsed.len(), raw.len());
            for ((name, params), (n, q, w)) in parsed.iter().zip(&raw) {
                proptest::prop_assert_eq!(name, &printable(n));
                let mut expected = vec![("q".to_owned(), clamp(*q))];
                if *w != 0 {
                    expected.push(("w".to_owned(), clamp(*w)));
                }
                proptest::prop_assert_eq!(params, &expected);
            }

            let value = state_field(&states).unwrap();
            let parsed = parse(&value);
            proptest::prop_assert_eq!(parsed.len(), raw.len());
            for ((name, params), (n, r, t)) in parsed.iter().zip(&raw) {
                proptest::prop_assert_eq!(name, &printable(n));
                let expected = vec![("r".to_owned(), clamp(*r)), ("t".to_owned(), clamp(*t))];
                proptest::prop_assert_eq!(params, &expected);
            }
        }
    }
}
