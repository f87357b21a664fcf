//! Strategies the property tests of the parsers share.

use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, nested a few levels, with short strings and numbers
/// from the whole range (absurd ones included).
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with the given field names (some of them), each holding
/// either a plausible string from `plausible` or any JSON value.
pub fn object_with(
    fields: &'static [&'static str],
    plausible: impl Strategy<Value = String> + Clone + 'static,
) -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        3 => plausible.prop_map(Value::String),
        1 => json_value(),
    ];
    prop::collection::vec((prop::sample::select(fields), value), 0..fields.len() + 2).prop_map(
        |pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
    )
}
