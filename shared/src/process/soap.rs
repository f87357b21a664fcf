//! SOAP 1.1 for RM wsProcess (`http://www.totvs.com/`): reading a request
//! envelope into its operation and parameters, and writing responses and
//! faults. Elements are matched by local name, so any prefixes work; the
//! envelope must be SOAP 1.1's; parameter values are their text, whether
//! escaped or in CDATA. It is read with the hardened reader of
//! `crate::xml` (no DOCTYPE, no entity, bounded nesting).

use std::collections::HashMap;

use quick_xml::escape::escape;

use crate::xml::{HardenedReader, Item, Limits, Refusal, XmlError};

pub const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const TOTVS_NS: &str = "http://www.totvs.com/";
const LIMITS: Limits = Limits { max_depth: 32 };

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
    let mut reader = HardenedReader::new(xml, LIMITS);
    let mut operation: Option<String> = None;
    let mut parameter: Option<String> = None;
    let mut parameters = HashMap::new();
    let mut text = String::new();
    while let Some(item) = reader.next_item().map_err(malformed)? {
        let path = reader.path();
        let in_body = path.get(1).is_some_and(|name| name == "Body");
        match item {
            Item::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                match path.len() {
                    1 if name != "Envelope"
                        || reader.root_namespace() != Some(SOAP_ENVELOPE_NS) =>
                    {
                        return Err(EnvelopeError::NotAnEnvelope);
                    }
                    3 if in_body && operation.is_none() => operation = Some(name),
                    4 if in_body => parameter = Some(name),
                    _ => {}
                }
                text.clear();
            }
            Item::Empty(start) => {
                let name = start.local_name().as_ref().to_string();
                match path.len() {
                    0 => return Err(EnvelopeError::NotAnEnvelope),
                    2 if in_body && operation.is_none() => operation = Some(name),
                    3 if in_body => {
                        parameters.insert(name, String::new());
                    }
                    _ => {}
                }
            }
            Item::End => {
                if path.len() == 3
                    && in_body
                    && let Some(name) = parameter.take()
                {
                    parameters.insert(name, std::mem::take(&mut text));
                }
            }
            Item::Text(t) if path.len() == 4 => text.push_str(&t),
            Item::Text(_) => {}
        }
    }
    let operation = operation.ok_or(EnvelopeError::NoOperation)?;
    Ok(Call {
        operation,
        parameters,
    })
}

/// The reader's refusal: an envelope that is not one, or a malformed one.
fn malformed(error: XmlError) -> EnvelopeError {
    let reason = match error.refusal {
        Refusal::Syntax(reason) => reason,
        Refusal::DocType => "DOCTYPE is not allowed".into(),
        Refusal::Reference(name) => format!("unknown entity &{name};"),
        Refusal::TooDeep => "nesting too deep".into(),
        Refusal::SecondRoot(name) => format!("a second root element <{name}>"),
        Refusal::TextOutsideRoot => "text outside the envelope".into(),
        Refusal::NotClosed(_) => "an element is not closed".into(),
    };
    EnvelopeError::Malformed {
        position: error.position,
        reason,
    }
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
