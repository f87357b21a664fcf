//! The WSDL of `IwsProcess` (`GET /wsProcess/IwsProcess?wsdl`, or
//! `/wsProcess/MEX?wsdl`): document/literal over SOAP 1.1, the three
//! operations with string parameters and results, as RM serves them, so
//! that SOAP tooling generates a working client. The service's address is
//! the one the client reached (its `Host`, and `X-Forwarded-Proto` behind a
//! proxy).

use axum::http::HeaderMap;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;

use super::wsprocess::OPERATIONS;

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
    let location = format!("{scheme}://{host}/wsProcess/IwsProcess");
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], wsdl(&location)).into_response()
}

fn wsdl(location: &str) -> String {
    let string_element = |name: &str| {
        format!(
            "<xs:element minOccurs=\"0\" name=\"{name}\" nillable=\"true\" type=\"xs:string\"/>"
        )
    };
    let mut elements = String::new();
    let mut messages = String::new();
    let mut port_operations = String::new();
    let mut binding_operations = String::new();
    for (operation, parameters) in OPERATIONS {
        let inputs: String = parameters.iter().map(|p| string_element(p)).collect();
        let result = string_element(&format!("{operation}Result"));
        elements.push_str(&format!(
            "<xs:element name=\"{operation}\"><xs:complexType><xs:sequence>{inputs}</xs:sequence></xs:complexType></xs:element>\
             <xs:element name=\"{operation}Response\"><xs:complexType><xs:sequence>{result}</xs:sequence></xs:complexType></xs:element>"
        ));
        messages.push_str(&format!(
            "<wsdl:message name=\"IwsProcess_{operation}_InputMessage\"><wsdl:part name=\"parameters\" element=\"tns:{operation}\"/></wsdl:message>\
             <wsdl:message name=\"IwsProcess_{operation}_OutputMessage\"><wsdl:part name=\"parameters\" element=\"tns:{operation}Response\"/></wsdl:message>"
        ));
        port_operations.push_str(&format!(
            "<wsdl:operation name=\"{operation}\">\
             <wsdl:input message=\"tns:IwsProcess_{operation}_InputMessage\"/>\
             <wsdl:output message=\"tns:IwsProcess_{operation}_OutputMessage\"/></wsdl:operation>"
        ));
        binding_operations.push_str(&format!(
            "<wsdl:operation name=\"{operation}\">\
             <soap:operation soapAction=\"http://www.totvs.com/IwsProcess/{operation}\" style=\"document\"/>\
             <wsdl:input><soap:body use=\"literal\"/></wsdl:input>\
             <wsdl:output><soap:body use=\"literal\"/></wsdl:output></wsdl:operation>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <wsdl:definitions name=\"wsProcess\" targetNamespace=\"http://www.totvs.com/\" \
         xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\" \
         xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" \
         xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:tns=\"http://www.totvs.com/\">\
         <wsdl:types><xs:schema elementFormDefault=\"qualified\" targetNamespace=\"http://www.totvs.com/\">{elements}</xs:schema></wsdl:types>\
         {messages}\
         <wsdl:portType name=\"IwsProcess\">{port_operations}</wsdl:portType>\
         <wsdl:binding name=\"BasicHttpBinding_IwsProcess\" type=\"tns:IwsProcess\">\
         <soap:binding transport=\"http://schemas.xmlsoap.org/soap/http\"/>{binding_operations}</wsdl:binding>\
         <wsdl:service name=\"wsProcess\"><wsdl:port name=\"BasicHttpBinding_IwsProcess\" binding=\"tns:BasicHttpBinding_IwsProcess\">\
         <soap:address location=\"{}\"/></wsdl:port></wsdl:service>\
         </wsdl:definitions>\n",
        escape(location)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_well_formed_and_names_every_operation() {
        let text = wsdl("http://h:1/wsProcess/IwsProcess?a=1&b=\"2\"");
        let mut reader = quick_xml::Reader::from_str(&text);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}"),
            }
        }
        for (operation, _) in OPERATIONS {
            assert!(text.contains(&format!(
                "soapAction=\"http://www.totvs.com/IwsProcess/{operation}\""
            )));
        }
        assert!(
            text.contains("location=\"http://h:1/wsProcess/IwsProcess?a=1&amp;b=&quot;2&quot;\"")
        );
    }
}
