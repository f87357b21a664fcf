//! The one hardened XML reader of fila's wire codecs (TAF event documents,
//! wsProcess envelopes and their `strXmlParams`), over quick-xml. It hands
//! its caller elements and text, and refuses, wherever they are:
//!
//! - a DOCTYPE (documents on these wires never carry one, and it is the door
//!   to entity-expansion bombs);
//! - a reference to anything but the five predefined entities and valid
//!   character references (no entity is ever expanded);
//! - nesting deeper than the caller's limit;
//! - a second root element, or text (other than blanks) outside the root;
//! - an element not closed at the end, and whatever quick-xml finds
//!   malformed.
//!
//! A leading byte order mark is skipped. Each caller words the refusals
//! (see [`Refusal`]) in its own protocol's errors.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// What a caller allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Elements open at once at most.
    pub max_depth: usize,
}

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// quick-xml's reason.
    Syntax(String),
    DocType,
    /// A reference that is not predefined or not a valid character.
    Reference(String),
    TooDeep,
    /// The local name of a second root element.
    SecondRoot(String),
    TextOutsideRoot,
    /// The local name of the innermost element left open.
    NotClosed(String),
}

/// A refusal, at a byte position of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub position: u64,
    pub refusal: Refusal,
}

/// What the reader hands on.
#[derive(Debug)]
pub enum Item<'a> {
    /// An element opened; it is now the innermost one.
    Start(BytesStart<'a>),
    /// An element without content (`<a/>`).
    Empty(BytesStart<'a>),
    /// The innermost element closed.
    End,
    /// Text of the innermost element: a run of text, a CDATA section's
    /// content, or a resolved reference (so one element's text may come
    /// in several pieces).
    Text(Cow<'a, str>),
}

pub struct HardenedReader<'a> {
    reader: NsReader<&'a [u8]>,
    limits: Limits,
    /// Local names of the open elements, outermost first.
    open: Vec<String>,
    root_seen: bool,
    root_namespace: Option<String>,
}

impl<'a> HardenedReader<'a> {
    pub fn new(xml: &'a str, limits: Limits) -> Self {
        Self {
            reader: NsReader::from_str(xml.strip_prefix('\u{feff}').unwrap_or(xml)),
            limits,
            open: Vec::new(),
            root_seen: false,
            root_namespace: None,
        }
    }

    /// The local names of the elements open now, outermost first.
    pub fn path(&self) -> &[String] {
        &self.open
    }

    /// The namespace the root element is bound to, once read.
    pub fn root_namespace(&self) -> Option<&str> {
        self.root_namespace.as_deref()
    }

    /// The next item; `None` at the end of a well-formed document.
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>, XmlError> {
        loop {
            let position = self.reader.buffer_position();
            let refuse = |refusal| XmlError { position, refusal };
            let (namespace, event) = self
                .reader
                .read_resolved_event()
                .map_err(|e| refuse(Refusal::Syntax(e.to_string())))?;
            let at_root = self.open.is_empty();
            let namespace = match namespace {
                ResolveResult::Bound(ns) if at_root => Some(ns.as_ref().to_string()),
                _ => None,
            };
            match event {
                Event::Start(start) | Event::Empty(start) if at_root && self.root_seen => {
                    let name = start.local_name().as_ref().to_string();
                    return Err(refuse(Refusal::SecondRoot(name)));
                }
                Event::Start(start) => {
                    if at_root {
                        self.root_seen = true;
                        self.root_namespace = namespace;
                    }
                    let name = start.local_name().as_ref().to_string();
                    self.open.push(name);
                    if self.open.len() > self.limits.max_depth {
                        return Err(refuse(Refusal::TooDeep));
                    }
                    return Ok(Some(Item::Start(start)));
                }
                Event::Empty(start) => {
                    if at_root {
                        self.root_seen = true;
                        self.root_namespace = namespace;
                    }
                    return Ok(Some(Item::Empty(start)));
                }
                Event::End(_) => {
                    self.open.pop();
                    return Ok(Some(Item::End));
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    if !at_root {
                        return Ok(Some(Item::Text(content)));
                    }
                    if !content.trim().is_empty() {
                        return Err(refuse(Refusal::TextOutsideRoot));
                    }
                }
                Event::CData(_) if at_root => {
                    return Err(refuse(Refusal::TextOutsideRoot));
                }
                Event::CData(data) => return Ok(Some(Item::Text(data.xml10_content()))),
                Event::GeneralRef(reference) => {
                    return match resolve(&reference) {
                        Some(text) if !at_root => Ok(Some(Item::Text(Cow::Owned(text)))),
                        _ => Err(refuse(Refusal::Reference(
                            reference.xml10_content().into_owned(),
                        ))),
                    };
                }
                Event::DocType(_) => return Err(refuse(Refusal::DocType)),
                Event::Eof => {
                    return match self.open.last() {
                        Some(name) => Err(refuse(Refusal::NotClosed(name.clone()))),
                        None => Ok(None),
                    };
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }
}

/// A predefined entity's or a character reference's text.
fn resolve(reference: &BytesRef<'_>) -> Option<String> {
    if reference.is_char_ref() {
        reference
            .resolve_char_ref()
            .ok()
            .flatten()
            .map(String::from)
    } else {
        resolve_predefined_entity(&reference.xml10_content()).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits { max_depth: 4 };

    /// The document's items as text, or its refusal.
    fn read(xml: &str) -> Result<Vec<String>, Refusal> {
        let mut reader = HardenedReader::new(xml, LIMITS);
        let mut items = Vec::new();
        loop {
            match reader.next_item() {
                Ok(None) => return Ok(items),
                Ok(Some(Item::Start(s))) => items.push(format!("<{}>", s.local_name().as_ref())),
                Ok(Some(Item::Empty(s))) => items.push(format!("<{}/>", s.local_name().as_ref())),
                Ok(Some(Item::End)) => items.push("</>".into()),
                Ok(Some(Item::Text(t))) => items.push(t.into_owned()),
                Err(e) => return Err(e.refusal),
            }
        }
    }

    #[test]
    fn reads_elements_text_cdata_and_references() {
        let xml = "\u{feff}<?xml version='1.0'?><!--c--><p:a xmlns:p='u'>x&amp;&#65;<![CDATA[<y>]]><b/></p:a>\n";
        assert_eq!(
            read(xml),
            Ok(vec![
                "<a>".into(),
                "x".into(),
                "&".into(),
                "A".into(),
                "<y>".into(),
                "<b/>".into(),
                "</>".into()
            ])
        );
        let mut reader = HardenedReader::new(xml, LIMITS);
        while let Ok(Some(_)) = reader.next_item() {}
        assert_eq!(reader.root_namespace(), Some("u"));
    }

    #[test]
    fn refuses_a_doctype() {
        assert_eq!(
            read("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>"),
            Err(Refusal::DocType)
        );
    }

    #[test]
    fn refuses_entities_and_invalid_characters() {
        assert_eq!(read("<a>&x;</a>"), Err(Refusal::Reference("x".into())));
        assert_eq!(read("<a>&#0;</a>"), Err(Refusal::Reference("#0".into())));
        assert_eq!(read("&amp;<a/>"), Err(Refusal::Reference("amp".into())));
    }

    #[test]
    fn refuses_nesting_past_the_limit() {
        assert!(read("<a><a><a><a></a></a></a></a>").is_ok());
        assert_eq!(
            read("<a><a><a><a><a></a></a></a></a></a>"),
            Err(Refusal::TooDeep)
        );
    }

    #[test]
    fn refuses_a_second_root_and_text_outside_the_root() {
        assert_eq!(read("<a/><b/>"), Err(Refusal::SecondRoot("b".into())));
        assert_eq!(read("<a></a><b>"), Err(Refusal::SecondRoot("b".into())));
        assert_eq!(read("texto"), Err(Refusal::TextOutsideRoot));
        assert_eq!(read("<a/><![CDATA[x]]>"), Err(Refusal::TextOutsideRoot));
    }

    #[test]
    fn refuses_unclosed_and_mismatched_elements() {
        assert_eq!(read("<a><b>"), Err(Refusal::NotClosed("b".into())));
        assert!(matches!(read("<a><b></a>"), Err(Refusal::Syntax(_))));
        assert!(matches!(read("<a"), Err(Refusal::Syntax(_))));
        assert_eq!(read(""), Ok(vec![]));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = read(&s);
        }
    }
}
