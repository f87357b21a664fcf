//! `strXmlParams` of RM wsProcess: the process's parameters, as the .NET
//! DataContractSerializer writes them, read with quick-xml into JSON.
//!
//! - The pairs of `Context/_params` (`KeyValueOfanyTypeanyType`, with their
//!   `i:type`) become top-level parameters (`"$CODCOLIGADA": 1`); the other
//!   children of `Context` stay under `"Context"`.
//! - Every other child of the root becomes a parameter of its name.
//! - Values keep their types: `i:type` (`int`, `short`, `long`, `decimal`,
//!   `double` → number; `boolean` → boolean; `string` → string), or an
//!   array item's element name (`<d2p1:int>6</d2p1:int>`); `i:nil="true"` is
//!   null; untyped text is a boolean when it reads `true`/`false`, a string
//!   otherwise.
//! - Elements whose children are named by type (`ArrayOfanyType`,
//!   `anyType`, `string`, `int`, ...) are arrays (PrimaryKeyList is an
//!   array of arrays); others with children are objects.
//!
//! The text declares `encoding="utf-16"` while it arrives as UTF-8 inside
//! the envelope: the declaration is ignored. It is read with the hardened
//! reader of `crate::xml` (no DOCTYPE, no entity, bounded nesting).

use quick_xml::XmlVersion;
use quick_xml::events::BytesStart;
use serde_json::{Map, Number, Value};

use crate::xml::{HardenedReader, Item, Limits, Refusal, XmlError};

const LIMITS: Limits = Limits { max_depth: 64 };

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("strXmlParams is not well-formed XML at position {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("strXmlParams has no root element")]
    Empty,
}

/// An element read into memory.
#[derive(Debug, Default)]
struct Node {
    name: String,
    xsd_type: Option<String>,
    nil: bool,
    text: String,
    children: Vec<Node>,
}

/// The parameters of a `strXmlParams` document.
pub fn parse(xml: &str) -> Result<Map<String, Value>, ParamsError> {
    let root = read_tree(xml)?;
    let mut params = Map::new();
    for child in &root.children {
        if child.name == "Context" {
            let mut context = Map::new();
            for part in &child.children {
                if part.name == "_params" {
                    for pair in &part.children {
                        if let Some((key, value)) = key_value(pair) {
                            params.insert(key, value);
                        }
                    }
                } else {
                    context.insert(part.name.clone(), value_of(part));
                }
            }
            params.insert("Context".into(), Value::Object(context));
        } else {
            params.insert(child.name.clone(), value_of(child));
        }
    }
    Ok(params)
}

fn key_value(pair: &Node) -> Option<(String, Value)> {
    let key = pair.children.iter().find(|c| c.name == "Key")?;
    let value = pair.children.iter().find(|c| c.name == "Value");
    let key = match value_of(key) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Some((key, value.map_or(Value::Null, value_of)))
}

/// Element names that mean "an item of this type" in serialized arrays.
fn is_type_name(name: &str) -> bool {
    name.starts_with("ArrayOf")
        || name.starts_with("KeyValueOf")
        || matches!(
            name,
            "anyType"
                | "string"
                | "int"
                | "short"
                | "long"
                | "boolean"
                | "decimal"
                | "double"
                | "float"
                | "dateTime"
                | "unsignedByte"
                | "unsignedShort"
                | "unsignedInt"
                | "unsignedLong"
                | "byte"
        )
}

fn value_of(node: &Node) -> Value {
    if node.nil {
        return Value::Null;
    }
    if !node.children.is_empty() {
        if node.children.iter().all(|c| is_type_name(&c.name)) {
            return Value::Array(node.children.iter().map(value_of).collect());
        }
        return Value::Object(
            node.children
                .iter()
                .map(|c| (c.name.clone(), value_of(c)))
                .collect(),
        );
    }
    let kind = node
        .xsd_type
        .as_deref()
        .or_else(|| is_type_name(&node.name).then_some(node.name.as_str()));
    typed(&node.text, kind)
}

fn typed(text: &str, kind: Option<&str>) -> Value {
    let trimmed = text.trim();
    let number = || {
        trimmed.parse::<i64>().map(Value::from).ok().or_else(|| {
            trimmed
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
        })
    };
    match kind {
        Some(
            "int" | "short" | "long" | "byte" | "unsignedByte" | "unsignedShort" | "unsignedInt"
            | "unsignedLong" | "decimal" | "double" | "float",
        ) => number().unwrap_or_else(|| Value::String(text.to_string())),
        Some("boolean") => match trimmed {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
        Some(_) => Value::String(text.to_string()),
        None => match trimmed {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
    }
}

fn read_tree(xml: &str) -> Result<Node, ParamsError> {
    let mut reader = HardenedReader::new(xml, LIMITS);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    while let Some(item) = reader.next_item().map_err(malformed)? {
        match item {
            Item::Start(start) => stack.push(node(&start)),
            Item::Empty(start) => {
                let element = node(&start);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Item::End => {
                if let Some(element) = stack.pop() {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => root = Some(element),
                    }
                }
            }
            Item::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text);
                }
            }
        }
    }
    root.ok_or(ParamsError::Empty)
}

/// The reader's refusal, worded for a wsProcess fault.
fn malformed(error: XmlError) -> ParamsError {
    let reason = match error.refusal {
        Refusal::Syntax(reason) => reason,
        Refusal::DocType => "DOCTYPE is not allowed".into(),
        Refusal::Reference(name) => format!("reference &{name}; is not allowed here"),
        Refusal::TooDeep => "nesting too deep".into(),
        Refusal::SecondRoot(_) => "a second root element".into(),
        Refusal::TextOutsideRoot => "text outside the root element".into(),
        Refusal::NotClosed(_) => "an element is not closed".into(),
    };
    ParamsError::Malformed {
        position: error.position,
        reason,
    }
}

fn node(start: &BytesStart<'_>) -> Node {
    let mut node = Node {
        name: start.local_name().as_ref().to_string(),
        ..Node::default()
    };
    for attribute in start.attributes().flatten() {
        let key = attribute.key.local_name();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .unwrap_or_default();
        match key.as_ref() {
            "type" => {
                node.xsd_type = Some(value.rsplit(':').next().unwrap_or_default().to_string())
            }
            "nil" => node.nil = value == "true",
            _ => {}
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn reads_context_params_arrays_and_nils() {
        let xml = r#"<?xml version="1.0" encoding="utf-16"?>
<Root xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://www.totvs.com.br/RM/">
  <CanParallelize xmlns="http://www.totvs.com/">true</CanParallelize>
  <Context xmlns:a="http://www.totvs.com.br/RM/">
    <a:_params xmlns:b="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
      <b:KeyValueOfanyTypeanyType>
        <b:Key i:type="c:string" xmlns:c="http://www.w3.org/2001/XMLSchema">$CODCOLIGADA</b:Key>
        <b:Value i:type="c:int" xmlns:c="http://www.w3.org/2001/XMLSchema">1</b:Value>
      </b:KeyValueOfanyTypeanyType>
      <b:KeyValueOfanyTypeanyType>
        <b:Key i:type="c:string" xmlns:c="http://www.w3.org/2001/XMLSchema">$EMPTY</b:Key>
        <b:Value i:type="c:string" xmlns:c="http://www.w3.org/2001/XMLSchema" />
      </b:KeyValueOfanyTypeanyType>
    </a:_params>
    <a:Environment>DotNet</a:Environment>
  </Context>
  <PrimaryKeyList xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
    <a:ArrayOfanyType>
      <a:anyType i:type="b:short" xmlns:b="http://www.w3.org/2001/XMLSchema">1</a:anyType>
      <a:anyType i:type="b:string" xmlns:b="http://www.w3.org/2001/XMLSchema">G</a:anyType>
    </a:ArrayOfanyType>
  </PrimaryKeyList>
  <TargetColigadas xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
    <d2p1:int>6</d2p1:int>
  </TargetColigadas>
  <NewUser><Email i:nil="true" /><Nome>Ana &amp; Bia</Nome></NewUser>
</Root>"#;
        let params = parse(xml).expect("valid");
        assert_eq!(
            Value::Object(params),
            json!({
                "CanParallelize": true,
                "$CODCOLIGADA": 1,
                "$EMPTY": "",
                "Context": { "Environment": "DotNet" },
                "PrimaryKeyList": [[1, "G"]],
                "TargetColigadas": [6],
                "NewUser": { "Email": null, "Nome": "Ana & Bia" }
            })
        );
    }

    #[test]
    fn refuses_broken_and_dangerous_documents() {
        for xml in [
            "",
            "<a><b></a>",
            "<a/><b/>",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            "<a>&x;</a>",
        ] {
            assert!(parse(xml).is_err(), "{xml}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = parse(&s);
        }
    }
}
