//! Which requests submit work, and of which protocol: told by the route's
//! pattern, the method and, for wsProcess, the SOAPAction.

use axum::http::{HeaderMap, Method};
use fila_shared::metrics::{EAI, PROCESS, TAF};

/// The wsProcess route, whose one POST carries every operation.
pub const WSPROCESS: &str = "/wsProcess/IwsProcess";

/// The protocol of a request that submits work; `None` for the others.
/// A wsProcess call counts when its SOAPAction names an Execute operation
/// (a call without SOAPAction is not told apart).
pub fn submission(method: &Method, route: &str, headers: &HeaderMap) -> Option<&'static str> {
    let soap_action = || {
        headers
            .get("SOAPAction")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if route == "/rest/wstafst2" {
        (*method == Method::POST).then_some(TAF)
    } else if route.starts_with("/totvseai/") {
        let writes = *method == Method::POST && !route.ends_with("/batches/{batch}");
        writes.then_some(EAI)
    } else if route.ends_with("/Execute")
        || route.ends_with("/RunProcess")
        || route.ends_with("/process/start")
        || (route == WSPROCESS && soap_action().contains("/ExecuteWith"))
    {
        Some(PROCESS)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn submissions_are_told_by_route_and_method() {
        let none = HeaderMap::new();
        let eai = "/totvseai/standardmessage/v1/transactions";
        assert_eq!(
            submission(&Method::POST, "/rest/wstafst2", &none),
            Some(TAF)
        );
        assert_eq!(submission(&Method::GET, "/rest/wstafst2", &none), None);
        assert_eq!(submission(&Method::POST, eai, &none), Some(EAI));
        assert_eq!(submission(&Method::GET, eai, &none), None);
        assert_eq!(
            submission(
                &Method::POST,
                "/scheduler/connector-api/process/start",
                &none
            ),
            Some(PROCESS)
        );
        let mut soap = HeaderMap::new();
        soap.insert(
            "SOAPAction",
            HeaderValue::from_static(
                "\"http://www.totvs.com/IwsProcess/ExecuteWithXmlParamsAsync\"",
            ),
        );
        assert_eq!(submission(&Method::POST, WSPROCESS, &soap), Some(PROCESS));
        soap.insert(
            "SOAPAction",
            HeaderValue::from_static("\"http://www.totvs.com/IwsProcess/GetProcessStatus\""),
        );
        assert_eq!(submission(&Method::POST, WSPROCESS, &soap), None);
    }
}
