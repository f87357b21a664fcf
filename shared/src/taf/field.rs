//! One attribute of a TAF lot as it arrived: TAF distinguishes an absent
//! attribute (code 800) from an empty one (801) and from a wrong value (802),
//! so attributes are read into `Option<Field>` with [`present`]: `None` when
//! the key is absent, `Some(Field::Text(""))` for `""` or `null`. Numbers are
//! taken as their text (`"registryPriority": 0` means `"0"`); booleans,
//! arrays and objects are kept as `Field::Wrong` and refused with 802.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A string, a number's text, or `""` for null; surrounding blanks trimmed.
    Text(String),
    /// A JSON value of a type no TAF attribute has (named in Portuguese).
    Wrong(&'static str),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

/// `deserialize_with` helper: a present key becomes `Some`, even when null.
pub fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Field>, D::Error> {
    Field::deserialize(deserializer).map(Some)
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a text attribute")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Text(v.trim().to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
        if v.trim().len() == v.len() {
            Ok(Field::Text(v))
        } else {
            self.visit_str(&v)
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Text(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        Ok(Field::Text(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
        Ok(Field::Text(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Wrong("booleano"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Text(String::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Text(String::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Wrong("lista"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Wrong("objeto"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "present")]
        a: Option<Field>,
    }

    fn probe(json: &str) -> Option<Field> {
        serde_json::from_str::<Probe>(json).expect("parses").a
    }

    #[test]
    fn absent_null_empty_and_numbers() {
        assert_eq!(probe("{}"), None);
        assert_eq!(probe(r#"{"a":null}"#), Some(Field::Text(String::new())));
        assert_eq!(probe(r#"{"a":" x "}"#), Some(Field::Text("x".into())));
        assert_eq!(probe(r#"{"a":3}"#), Some(Field::Text("3".into())));
    }

    #[test]
    fn wrong_types_are_kept_for_802() {
        assert_eq!(probe(r#"{"a":true}"#), Some(Field::Wrong("booleano")));
        assert_eq!(probe(r#"{"a":[1,[2]]}"#), Some(Field::Wrong("lista")));
        assert_eq!(probe(r#"{"a":{"b":{}}}"#), Some(Field::Wrong("objeto")));
    }
}
