//! wsProcess `GetSchema(ProcessServerName)`: the parameters a process
//! takes, as an XML Schema of the `strXmlParams` document (root element
//! named for the process, its characters that no XML name may hold read as
//! `_`). A definition that declares its parameters gives
//! each with its type (`minOccurs="1"` when required); one that does not
//! takes any element (`xs:any`).

use std::fmt::Write;

use fila_shared::process::definition::{Definition, ParamType};
use quick_xml::escape::escape;

pub fn schema(definition: &Definition) -> String {
    let mut elements = String::new();
    match definition.declared_parameters() {
        Some(declared) => {
            for (name, kind) in declared {
                let min = u8::from(definition.requires(name));
                let _ = write!(
                    elements,
                    "<xs:element name=\"{}\" type=\"{}\" minOccurs=\"{min}\" nillable=\"true\"/>",
                    escape(name.as_str()),
                    xsd_type(*kind)
                );
            }
        }
        None => elements
            .push_str("<xs:any processContents=\"lax\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>"),
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n\
         <xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
         targetNamespace=\"http://www.totvs.com.br/RM/\" elementFormDefault=\"qualified\">\
         <xs:element name=\"{}\"><xs:complexType><xs:sequence>{elements}</xs:sequence>\
         </xs:complexType></xs:element></xs:schema>",
        element_name(&definition.name)
    )
}

fn element_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.chars().next() {
        Some(first) if first.is_alphabetic() || first == '_' => name,
        _ => format!("_{name}"),
    }
}

fn xsd_type(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "xs:string",
        ParamType::Int => "xs:long",
        ParamType::Number => "xs:decimal",
        ParamType::Bool => "xs:boolean",
        ParamType::Array | ParamType::Object | ParamType::Any => "xs:anyType",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_names_are_xml_names() {
        assert_eq!(element_name("GlbProcCopyConsSQL"), "GlbProcCopyConsSQL");
        assert_eq!(element_name("Copy <all> now"), "Copy__all__now");
        assert_eq!(element_name("3d"), "_3d");
    }
}
