//! The WSDL of wsProcess (`GET /wsProcess/<Port>?wsdl`, or
//! `/wsProcess/MEX?wsdl`): document/literal over SOAP 1.1, one port type,
//! binding and port per interface RM serves (`IwsProcess`, `IwsBase`,
//! `IRMSServer`; see `wsoperations`), each at its own address, so that SOAP
//! tooling generates a client that calls every operation. The addresses
//! are those of the host the client reached (its `Host`, and
//! `X-Forwarded-Proto` behind a proxy).

use axum::http::HeaderMap;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;

use super::wsoperations::{OPERATIONS, Port, ResultType};

pub async fn document(headers: HeaderMap) -> Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host = header(HOST.as_str()).unwrap_or("localhost");
    let scheme = match header("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    let base = format!("{scheme}://{host}");
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], wsdl(&base)).into_response()
}

/// The document, its ports at `base` (`scheme://host`).
fn wsdl(base: &str) -> String {
    let element = |name: &str, kind: &str| {
        format!("<xs:element minOccurs=\"0\" name=\"{name}\" nillable=\"true\" type=\"{kind}\"/>")
    };
    let mut elements = String::new();
    let mut messages = String::new();
    for operation in &OPERATIONS {
        let name = operation.name;
        let port = operation.port.name();
        let inputs: String = operation
            .parameters
            .iter()
            .map(|p| element(p, "xs:string"))
            .collect();
        let kind = match operation.result {
            ResultType::String => "xs:string",
            ResultType::Boolean => "xs:boolean",
        };
        let result = element(&format!("{name}Result"), kind);
        elements.push_str(&format!(
            "<xs:element name=\"{name}\"><xs:complexType><xs:sequence>{inputs}</xs:sequence></xs:complexType></xs:element>\
             <xs:element name=\"{name}Response\"><xs:complexType><xs:sequence>{result}</xs:sequence></xs:complexType></xs:element>"
        ));
        messages.push_str(&format!(
            "<wsdl:message name=\"{port}_{name}_InputMessage\"><wsdl:part name=\"parameters\" element=\"tns:{name}\"/></wsdl:message>\
             <wsdl:message name=\"{port}_{name}_OutputMessage\"><wsdl:part name=\"parameters\" element=\"tns:{name}Response\"/></wsdl:message>"
        ));
    }
    let mut port_types = String::new();
    let mut bindings = String::new();
    let mut ports = String::new();
    for port in Port::ALL {
        let interface = port.name();
        let mut port_operations = String::new();
        let mut binding_operations = String::new();
        for operation in OPERATIONS.iter().filter(|op| op.port == port) {
            let name = operation.name;
            port_operations.push_str(&format!(
                "<wsdl:operation name=\"{name}\">\
                 <wsdl:input wsaw:Action=\"http://www.totvs.com/{interface}/{name}\" message=\"tns:{interface}_{name}_InputMessage\"/>\
                 <wsdl:output wsaw:Action=\"http://www.totvs.com/{interface}/{name}Response\" message=\"tns:{interface}_{name}_OutputMessage\"/></wsdl:operation>"
            ));
            binding_operations.push_str(&format!(
                "<wsdl:operation name=\"{name}\">\
                 <soap:operation soapAction=\"http://www.totvs.com/{interface}/{name}\" style=\"document\"/>\
                 <wsdl:input><soap:body use=\"literal\"/></wsdl:input>\
                 <wsdl:output><soap:body use=\"literal\"/></wsdl:output></wsdl:operation>"
            ));
        }
        port_types.push_str(&format!(
            "<wsdl:portType name=\"{interface}\">{port_operations}</wsdl:portType>"
        ));
        bindings.push_str(&format!(
            "<wsdl:binding name=\"RM_{interface}\" type=\"tns:{interface}\">\
             <soap:binding transport=\"http://schemas.xmlsoap.org/soap/http\"/>{binding_operations}</wsdl:binding>"
        ));
        ports.push_str(&format!(
            "<wsdl:port name=\"RM_{interface}\" binding=\"tns:RM_{interface}\">\
             <soap:address location=\"{}\"/></wsdl:port>",
            escape(format!("{base}{}", port.path()).as_str())
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <wsdl:definitions name=\"wsProcess\" targetNamespace=\"http://www.totvs.com/\" \
         xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\" \
         xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" \
         xmlns:wsaw=\"http://www.w3.org/2006/05/addressing/wsdl\" \
         xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:tns=\"http://www.totvs.com/\">\
         <wsdl:types><xs:schema elementFormDefault=\"qualified\" targetNamespace=\"http://www.totvs.com/\">{elements}</xs:schema></wsdl:types>\
         {messages}{port_types}{bindings}\
         <wsdl:service name=\"wsProcess\">{ports}</wsdl:service>\
         </wsdl:definitions>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_well_formed_and_names_every_operation() {
        let text = wsdl("http://h:1/x?a=1&b=\"2\"");
        let mut reader = quick_xml::Reader::from_str(&text);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}"),
            }
        }
        for operation in &OPERATIONS {
            assert!(text.contains(&format!(
                "soapAction=\"http://www.totvs.com/{}/{}\"",
                operation.port.name(),
                operation.name
            )));
        }
        for port in Port::ALL {
            assert!(text.contains(&format!(
                "location=\"http://h:1/x?a=1&amp;b=&quot;2&quot;/wsProcess/{}\"",
                port.name()
            )));
        }
    }
}
