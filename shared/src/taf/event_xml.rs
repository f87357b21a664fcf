//! Reads an eSocial / EFD-REINF event document with quick-xml: checks that it
//! is well-formed and finds the event element (the child of the `eSocial` or
//! `Reinf` root, or the root itself when a producer sends the bare event) and
//! the employer's registration (`ideEmpregador/nrInsc`, `ideContri/nrInsc`),
//! with the hardened reader of `crate::xml` (no DOCTYPE, no entity, bounded
//! nesting).

use crate::xml::{HardenedReader, Item, Limits, Refusal, XmlError};

/// Nesting deeper than any eSocial layout is refused rather than followed.
const LIMITS: Limits = Limits { max_depth: 64 };

/// What the worker and intake need to know of an event document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDocument {
    /// Local name of the event element, e.g. `evtTabRubrica`.
    pub element: String,
    /// Text of the employer's `nrInsc`, when present.
    pub employer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventXmlError {
    #[error("XML mal formado na posicao {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("XML sem elemento de evento")]
    NoEvent,
}

/// Reads the whole document.
pub fn inspect(xml: &str) -> Result<EventDocument, EventXmlError> {
    let mut reader = HardenedReader::new(xml, LIMITS);
    let mut element: Option<String> = None;
    let mut employer: Option<String> = None;
    while let Some(item) = reader.next_item().map_err(malformed)? {
        match item {
            Item::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                let parents = reader.path().split_last().map_or(&[][..], |(_, p)| p);
                note_element(parents, &name, &mut element);
            }
            Item::Empty(start) => {
                let name = start.local_name().as_ref().to_string();
                note_element(reader.path(), &name, &mut element);
            }
            Item::Text(text) if employer.is_none() && is_employer_registration(reader.path()) => {
                let value = text.trim();
                if !value.is_empty() {
                    employer = Some(value.to_string());
                }
            }
            Item::Text(_) | Item::End => {}
        }
    }
    match element {
        Some(element) => Ok(EventDocument { element, employer }),
        None => Err(EventXmlError::NoEvent),
    }
}

/// The reader's refusal, worded for TAF's answers.
fn malformed(error: XmlError) -> EventXmlError {
    let reason = match error.refusal {
        Refusal::Syntax(reason) => reason,
        Refusal::DocType => "DOCTYPE nao e permitido".into(),
        Refusal::Reference(name) => format!("referencia &{name}; invalida"),
        Refusal::TooDeep => "aninhamento excessivo".into(),
        Refusal::SecondRoot(name) => format!("segundo elemento raiz <{name}>"),
        Refusal::TextOutsideRoot => "texto fora do elemento raiz".into(),
        Refusal::NotClosed(name) => format!("elemento <{name}> nao foi fechado"),
    };
    EventXmlError::Malformed {
        position: error.position,
        reason,
    }
}

/// Records the event element: the root's child under an envelope root, or
/// the root itself otherwise.
fn note_element(path: &[String], name: &str, element: &mut Option<String>) {
    if element.is_some() {
        return;
    }
    match path {
        [] if !is_envelope(name) => *element = Some(name.to_string()),
        [root] if is_envelope(root) => *element = Some(name.to_string()),
        _ => {}
    }
}

fn is_envelope(name: &str) -> bool {
    name.eq_ignore_ascii_case("eSocial") || name.eq_ignore_ascii_case("Reinf")
}

fn is_employer_registration(path: &[String]) -> bool {
    match path {
        [.., parent, leaf] => {
            leaf == "nrInsc" && (parent == "ideEmpregador" || parent == "ideContri")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_event_and_employer_under_the_envelope() {
        let xml = "<eSocial xmlns='http://www.esocial.gov.br/schema/evt/evtTabRubrica/v1'>\
                   <evtTabRubrica id='x'><ideEmpregador><tpInsc>1</tpInsc>\
                   <nrInsc>53113791000122</nrInsc></ideEmpregador></evtTabRubrica></eSocial>";
        let doc = inspect(xml).expect("valid");
        assert_eq!(doc.element, "evtTabRubrica");
        assert_eq!(doc.employer.as_deref(), Some("53113791000122"));
    }

    #[test]
    fn accepts_a_bare_event_and_prefixed_names() {
        let doc = inspect("<?xml version='1.0'?><e:evtAdmissao xmlns:e='u'/>").expect("valid");
        assert_eq!(doc.element, "evtAdmissao");
        assert_eq!(doc.employer, None);
    }

    #[test]
    fn refuses_broken_documents() {
        for xml in [
            "<eSocial><evtRemun></eSocial>",
            "<eSocial><evtRemun>",
            "<a/><b/>",
            "texto",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            "&amp;<a/>",
            "<a/>&x;",
            "<a>&x;</a>",
            "<a>&#0;</a>",
        ] {
            assert!(
                matches!(inspect(xml), Err(EventXmlError::Malformed { .. })),
                "{xml}"
            );
        }
        assert_eq!(inspect("<eSocial/>"), Err(EventXmlError::NoEvent));
        assert_eq!(inspect(""), Err(EventXmlError::NoEvent));
    }

    #[test]
    fn accepts_predefined_and_character_references() {
        let doc = inspect("<evtRemun a='&lt;'>&amp;&#65;&#x42;</evtRemun>").expect("valid");
        assert_eq!(doc.element, "evtRemun");
    }

    #[test]
    fn refuses_deep_nesting() {
        let xml = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(
            inspect(&xml),
            Err(EventXmlError::Malformed { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = inspect(&s);
        }

        #[test]
        fn never_panics_on_tag_soup(parts in proptest::collection::vec(
            prop_oneof!["<a>", "</a>", "<eSocial>", "</eSocial>", "<b/>", "<nrInsc>", "</nrInsc>", "1", "&amp;", "<!--c-->"], 0..40)) {
            let _ = inspect(&parts.concat());
        }
    }
}
