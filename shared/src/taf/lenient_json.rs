//! TAF producers copy the seed's example lot, which ends its last item with a
//! trailing comma (`"transferBranch" : "0200", }`). Strict JSON parsers refuse
//! that, so before parsing a TAF body fila drops every comma that is followed
//! (after blanks) by `}` or `]` outside string literals. Bodies without such
//! a comma are returned untouched, without a copy.

use std::borrow::Cow;

/// The body with trailing commas removed.
pub fn without_trailing_commas(body: &[u8]) -> Cow<'_, [u8]> {
    match first_trailing_comma(body, 0) {
        None => Cow::Borrowed(body),
        Some(first) => {
            let mut out = Vec::with_capacity(body.len());
            let mut from = 0;
            let mut next = Some(first);
            while let Some(comma) = next {
                out.extend_from_slice(&body[from..comma]);
                from = comma + 1;
                next = first_trailing_comma(body, from);
            }
            out.extend_from_slice(&body[from..]);
            Cow::Owned(out)
        }
    }
}

/// Position of the next comma at or after `from` that closes nothing but
/// blanks before a `}` or `]`. `from` is always outside a string literal.
fn first_trailing_comma(body: &[u8], from: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = from;
    while i < body.len() {
        let c = body[i];
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
                return Some(i);
            }
        }
        i += 1;
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

    #[test]
    fn drops_trailing_commas_in_objects_and_arrays() {
        assert_eq!(clean(r#"{"a": 1, }"#), r#"{"a": 1 }"#);
        assert_eq!(clean("[1,2,\n]"), "[1,2\n]");
        assert_eq!(clean(r#"{"l":[{"x":"y",},],}"#), r#"{"l":[{"x":"y"}]}"#);
    }

    #[test]
    fn keeps_commas_inside_strings() {
        let s = r#"{"a": ",}", "b": "\",]"}"#;
        assert!(matches!(
            without_trailing_commas(s.as_bytes()),
            Cow::Borrowed(_)
        ));
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
        fn never_panics(bytes in any::<Vec<u8>>()) {
            let out = without_trailing_commas(&bytes);
            prop_assert!(out.len() <= bytes.len());
        }
    }
}
