//! TAF producers copy the seed's example lot, which ends its last item with a
//! trailing comma (`"transferBranch" : "0200", }`). Strict JSON parsers refuse
//! that, so before parsing a TAF body fila drops every comma that is followed
//! (after blanks) by `}` or `]` outside string literals. Bodies without such
//! a comma are returned untouched, without a copy.
//!
//! A lot is mostly long base64 strings, so the scan jumps with `memchr` from
//! one quote, backslash or comma to the next instead of looking at every byte.

use std::borrow::Cow;

use memchr::{memchr2, memchr2_iter};

/// The body with trailing commas removed.
pub fn without_trailing_commas(body: &[u8]) -> Cow<'_, [u8]> {
    let mut commas = TrailingCommas { body, at: 0 }.peekable();
    if commas.peek().is_none() {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut from = 0;
    for comma in commas {
        out.extend_from_slice(&body[from..comma]);
        from = comma + 1;
    }
    out.extend_from_slice(&body[from..]);
    Cow::Owned(out)
}

/// The positions of trailing commas, in order.
struct TrailingCommas<'a> {
    body: &'a [u8],
    /// Where to look next; always outside a string literal.
    at: usize,
}

impl Iterator for TrailingCommas<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let body = self.body;
        while self.at < body.len() {
            let i = self.at + memchr2(b'"', b',', &body[self.at..])?;
            if body[i] == b'"' {
                self.at = end_of_string(body, i + 1)?;
                continue;
            }
            self.at = i + 1;
            let after = body[i + 1..]
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
            if matches!(after, Some(b'}') | Some(b']')) {
                return Some(i);
            }
        }
        None
    }
}

/// The position just after the quote that closes the string starting at
/// `from`; `None` when the string never closes.
fn end_of_string(body: &[u8], from: usize) -> Option<usize> {
    let mut escaped_until = from;
    for i in memchr2_iter(b'"', b'\\', &body[from..]).map(|i| from + i) {
        if i < escaped_until {
            continue;
        }
        if body[i] == b'\\' {
            escaped_until = i + 2;
        } else {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clean(s: &str) -> String {
        String::from_utf8(without_trailing_commas(s.as_bytes()).into_owned()).expect("utf8")
    }

    /// The byte-by-byte definition the fast scan must agree with.
    fn reference(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut in_string, mut escaped) = (false, false);
        for (i, &c) in body.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_string = false;
                }
            } else if c == b'"' {
                in_string = true;
            } else if c == b',' {
                let after = body[i + 1..]
                    .iter()
                    .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
                if matches!(after, Some(b'}') | Some(b']')) {
                    continue;
                }
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn drops_trailing_commas_in_objects_and_arrays() {
        assert_eq!(clean(r#"{"a": 1, }"#), r#"{"a": 1 }"#);
        assert_eq!(clean("[1,2,\n]"), "[1,2\n]");
        assert_eq!(clean(r#"{"l":[{"x":"y",},],}"#), r#"{"l":[{"x":"y"}]}"#);
    }

    #[test]
    fn keeps_commas_inside_strings() {
        let s = r#"{"a": ",}", "b": "\",]", "c": "\\", "d": ","}"#;
        assert!(matches!(
            without_trailing_commas(s.as_bytes()),
            Cow::Borrowed(_)
        ));
        assert_eq!(clean(r#"{"a":"\\",}"#), r#"{"a":"\\"}"#);
    }

    proptest! {
        #[test]
        fn valid_json_is_never_changed(v in any::<Vec<(String, i64)>>()) {
            let map: serde_json::Map<String, serde_json::Value> =
                v.into_iter().map(|(k, n)| (k, n.into())).collect();
            let text = serde_json::to_vec(&map).expect("serializes");
            let cleaned = without_trailing_commas(&text);
            prop_assert_eq!(cleaned.as_ref(), text.as_slice());
        }

        #[test]
        fn agrees_with_the_byte_by_byte_definition(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["\"", "\\", ",", " ", "}", "]", "{", "[", "a", ":"]),
                0..60,
            )
        ) {
            let body = parts.concat();
            prop_assert_eq!(without_trailing_commas(body.as_bytes()).into_owned(), reference(body.as_bytes()));
        }

        #[test]
        fn never_panics(bytes in any::<Vec<u8>>()) {
            let out = without_trailing_commas(&bytes);
            prop_assert!(out.len() <= bytes.len());
        }
    }
}
