//! SOAP 1.1 for RM wsProcess (`http://www.totvs.com/`): reading a request
//! envelope into its operation and parameters, and writing responses and
//! faults. Elements are matched by local name, so any prefixes work; the
//! envelope must be SOAP 1.1's; parameter values are their text, whether
//! escaped or in CDATA.

use std::collections::HashMap;

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

pub const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const TOTVS_NS: &str = "http://www.totvs.com/";
const MAX_DEPTH: usize = 32;

/// A request that is not a usable SOAP 1.1 envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the request is not well-formed XML at position {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("the request is not a SOAP 1.1 envelope")]
    NotAnEnvelope,
    #[error("the SOAP body holds no operation")]
    NoOperation,
}

/// An operation called, with its parameters by local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub parameters: HashMap<String, String>,
}

impl Call {
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }
}

/// Reads an envelope: `<Envelope><Header/>?<Body><Operation><p>v</p>…`.
pub fn read_call(xml: &str) -> Result<Call, EnvelopeError> {
    let mut reader = NsReader::from_str(xml.strip_prefix('\u{feff}').unwrap_or(xml));
    let mut path: Vec<String> = Vec::new();
    let mut operation: Option<String> = None;
    let mut parameters = HashMap::new();
    let mut text = String::new();
    loop {
        let position = reader.buffer_position();
        let malformed = |reason: String| EnvelopeError::Malformed { position, reason };
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|e| malformed(e.to_string()))?;
        let in_soap =
            matches!(namespace, ResolveResult::Bound(ns) if ns.as_ref() == SOAP_ENVELOPE_NS);
        match event {
            Event::Start(start) if path.is_empty() => {
                if start.local_name().as_ref() != "Envelope" || !in_soap {
                    return Err(EnvelopeError::NotAnEnvelope);
                }
                path.push("Envelope".into());
            }
            Event::Empty(_) if path.is_empty() => return Err(EnvelopeError::NotAnEnvelope),
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                if path.len() == 2 && path[1] == "Body" && operation.is_none() {
                    operation = Some(name.clone());
                }
                path.push(name);
                text.clear();
                if path.len() > MAX_DEPTH {
                    return Err(malformed("nesting too deep".into()));
                }
            }
            Event::Empty(start) => {
                let name = start.local_name().as_ref().to_string();
                if path.len() == 2 && path[1] == "Body" && operation.is_none() {
                    operation = Some(name);
                } else if path.len() == 3 && path[1] == "Body" {
                    parameters.insert(name, String::new());
                }
            }
            Event::End(_) => {
                if path.len() == 4 && path[1] == "Body" {
                    parameters.insert(path[3].clone(), std::mem::take(&mut text));
                }
                path.pop();
            }
            Event::Text(t) if path.len() == 4 => text.push_str(&t.xml10_content()),
            Event::CData(data) if path.len() == 4 => text.push_str(&data.xml10_content()),
            Event::GeneralRef(reference) if path.len() == 4 => {
                let name = reference.xml10_content();
                let resolved = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                } else {
                    resolve_predefined_entity(&name).map(str::to_string)
                };
                match resolved {
                    Some(s) => text.push_str(&s),
                    None => return Err(malformed(format!("unknown entity &{name};"))),
                }
            }
            Event::DocType(_) => return Err(malformed("DOCTYPE is not allowed".into())),
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(EnvelopeError::Malformed {
            position: reader.buffer_position(),
            reason: "an element is not closed".into(),
        });
    }
    let operation = operation.ok_or(EnvelopeError::NoOperation)?;
    Ok(Call {
        operation,
        parameters,
    })
}

/// A response envelope: `<{operation}Response><{operation}Result>…`.
/// `result_xml` is wrapped in CDATA, as wsProcess does for its XML results.
pub fn response(operation: &str, result: &str, as_cdata: bool) -> String {
    let body = if as_cdata {
        format!("<![CDATA[{}]]>", result.replace("]]>", "]]]]><![CDATA[>"))
    } else {
        escape(result).into_owned()
    };
    format!(
        "<s:Envelope xmlns:s=\"{SOAP_ENVELOPE_NS}\"><s:Body>\
         <{operation}Response xmlns=\"{TOTVS_NS}\"><{operation}Result>{body}</{operation}Result>\
         </{operation}Response></s:Body></s:Envelope>"
    )
}

/// Who a fault blames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The request is wrong; sending it again will not help.
    Client,
    /// fila or the process failed.
    Server,
}

pub fn fault(code: FaultCode, reason: &str) -> String {
    let code = match code {
        FaultCode::Client => "s:Client",
        FaultCode::Server => "s:Server",
    };
    format!(
        "<s:Envelope xmlns:s=\"{SOAP_ENVELOPE_NS}\"><s:Body><s:Fault>\
         <faultcode>{code}</faultcode><faultstring xml:lang=\"en-US\">{}</faultstring>\
         </s:Fault></s:Body></s:Envelope>",
        escape(reason)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_escaped_and_cdata_parameters() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tot="http://www.totvs.com/">
   <soapenv:Header/>
   <soapenv:Body>
      <tot:ExecuteWithXmlParams>
         <!--Optional:-->
         <tot:ProcessServerName>Proc</tot:ProcessServerName>
         <tot:strXmlParams>&lt;a x=&quot;1&quot;&gt;&amp;amp;&lt;/a&gt;</tot:strXmlParams>
         <tot:other><![CDATA[<b>]]></tot:other>
         <tot:empty/>
      </tot:ExecuteWithXmlParams>
   </soapenv:Body>
</soapenv:Envelope>"#;
        let call = read_call(xml).expect("valid");
        assert_eq!(call.operation, "ExecuteWithXmlParams");
        assert_eq!(call.parameter("ProcessServerName"), Some("Proc"));
        assert_eq!(
            call.parameter("strXmlParams"),
            Some(r#"<a x="1">&amp;</a>"#)
        );
        assert_eq!(call.parameter("other"), Some("<b>"));
        assert_eq!(call.parameter("empty"), Some(""));
    }

    #[test]
    fn refuses_what_is_not_a_soap_11_envelope() {
        let soap12 = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><X/></e:Body></e:Envelope>"#;
        assert_eq!(read_call(soap12), Err(EnvelopeError::NotAnEnvelope));
        assert_eq!(read_call("<a/>"), Err(EnvelopeError::NotAnEnvelope));
        let empty = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
        assert_eq!(read_call(empty), Err(EnvelopeError::NoOperation));
        assert!(matches!(
            read_call("<s:Envelope"),
            Err(EnvelopeError::Malformed { .. })
        ));
    }

    #[test]
    fn responses_and_faults_escape_their_text() {
        assert!(response("Op", "a<b", false).contains("<OpResult>a&lt;b</OpResult>"));
        assert!(response("Op", "<x/>", true).contains("<![CDATA[<x/>]]>"));
        assert!(fault(FaultCode::Client, "bad <input>").contains("bad &lt;input&gt;"));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = read_call(&s);
        }
    }
}
