//! EAI JSON keys: the published convention writes them in UpperCamelCase
//! (`Header`, `UUID`, `ProcessingInformation`), older clients in
//! lowerCamelCase (`header`, `processingInformation`). fila reads either,
//! ignoring case, and answers a message in the style it was sent in. An
//! acronym keeps its capitals in both styles: TOTVS's lowerCamelCase
//! examples write `"UUID"` (and `receivedMessage.UUID`), and fila does too.

use serde_json::{Map, Value};

/// How a client writes EAI keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    Upper,
    Lower,
}

impl KeyStyle {
    /// The style of a message, from its top-level keys (`Header` or `header`).
    pub fn of(message: &Map<String, Value>) -> Self {
        let upper = message
            .keys()
            .any(|k| k.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
        if upper { Self::Upper } else { Self::Lower }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upper => "upper",
            Self::Lower => "lower",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "lower" {
            Self::Lower
        } else {
            Self::Upper
        }
    }

    /// `name` (given in UpperCamelCase) in this style: `SentBy` → `sentBy`;
    /// an acronym (`UUID`) stays as it is.
    pub fn key(self, name: &str) -> String {
        match self {
            Self::Upper => name.to_string(),
            Self::Lower if name.chars().all(|c| !c.is_ascii_lowercase()) => name.to_string(),
            Self::Lower => {
                let mut chars = name.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
        }
    }

    /// A JSON object from `(UpperCamelCase key, value)` pairs, in this style.
    pub fn object<const N: usize>(self, fields: [(&str, Value); N]) -> Value {
        Value::Object(fields.into_iter().map(|(k, v)| (self.key(k), v)).collect())
    }
}

/// The value of `name` in `map`, whatever the case of its key.
pub fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_follow_the_style() {
        assert_eq!(KeyStyle::Lower.key("UUID"), "UUID");
        assert_eq!(KeyStyle::Lower.key("ListOfInternalId"), "listOfInternalId");
        assert_eq!(KeyStyle::Upper.key("SentBy"), "SentBy");
    }

    #[test]
    fn fields_are_found_whatever_their_case() {
        let map = json!({ "Header": { "uUid": "x" } });
        let map = map.as_object().expect("object");
        let header = field(map, "header")
            .and_then(Value::as_object)
            .expect("header");
        assert_eq!(field(header, "UUID"), Some(&json!("x")));
        assert_eq!(KeyStyle::of(map), KeyStyle::Upper);
    }
}
