//! Hostile and broken input over HTTP: XML bombs, deep nesting, huge
//! attributes, bodies over the limit, wrong content types, invalid UTF-8,
//! NUL characters and absurd numbers, at every protocol. Each gets a clear
//! error in its protocol's format, and nothing is stored.

use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{b64, codes, item, item_with, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

const EAI: &str = "/totvseai/standardmessage/v1/transactions";
const CREATIO_RUN: &str = "/0/ServiceModel/ProcessEngineService.svc/RunProcess";
const ROBUSTA_START: &str = "/scheduler/connector-api/process/start";

/// The classic entity expansion ("billion laughs").
const XML_BOMB: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>"#;

fn deep_json(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

fn deep_xml(depth: usize) -> String {
    "<a>".repeat(depth) + &"</a>".repeat(depth)
}

/// A status and the raw body.
async fn call(request: RequestBuilder) -> (StatusCode, String) {
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// How many rows each protocol stored.
async fn stored(fila: &Fila) -> (i64, i64, i64) {
    let db = fila.db().await;
    let count = |table: &'static str| {
        let db = &db;
        async move {
            db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .expect("count")
                .get::<_, i64>(0)
        }
    };
    (
        count("taf_record").await,
        count("eai_message").await,
        count("process_job").await,
    )
}

fn soap(fila: &Fila, body: impl Into<reqwest::Body>) -> RequestBuilder {
    fila.request(Method::POST, "/wsProcess/IwsProcess")
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
}

fn soap_envelope(inner: &str) -> String {
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:tot=\"http://www.totvs.com/\"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )
}

fn assert_fault(status: StatusCode, body: &str, what: &str) {
    assert!(
        status.is_client_error() || status == StatusCode::INTERNAL_SERVER_ERROR,
        "{what}: {status}"
    );
    assert!(body.contains("Client</faultcode>"), "{what}: {body}");
}

#[tokio::test]
async fn soap_bombs_and_garbage_are_client_faults() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .env("MAX_BODY_BYTES", 1_000_000)
        .start()
        .await;
    let execute = |params: &str| {
        soap_envelope(&format!(
            "<tot:ExecuteWithXmlParamsAsync><tot:ProcessServerName>GlbProcCopyConsSQL\
             </tot:ProcessServerName><tot:strXmlParams>{params}</tot:strXmlParams>\
             </tot:ExecuteWithXmlParamsAsync>"
        ))
    };
    let escaped = |xml: &str| {
        xml.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "entity expansion in the envelope",
            format!("{XML_BOMB}{}", execute("")).into_bytes(),
        ),
        (
            "entity expansion in strXmlParams",
            execute(&escaped(&format!("{XML_BOMB}<Params/>"))).into_bytes(),
        ),
        ("an undefined entity", execute("&lol9;").into_bytes()),
        (
            "elements nested 50,000 deep",
            soap_envelope(&deep_xml(50_000)).into_bytes(),
        ),
        (
            "strXmlParams nested 50,000 deep",
            execute(&escaped(&deep_xml(50_000))).into_bytes(),
        ),
        (
            "an attribute of 500 KB",
            soap_envelope(&format!(
                "<tot:GetProcessStatus x=\"{}\"/>",
                "a".repeat(500_000)
            ))
            .into_bytes(),
        ),
        (
            "invalid UTF-8",
            b"<soapenv:Envelope>\xff\xfe\xfd</soapenv:Envelope>".to_vec(),
        ),
        (
            "JSON",
            br#"{"ProcessServerName": "GlbProcCopyConsSQL"}"#.to_vec(),
        ),
        ("nothing", Vec::new()),
        (
            "an absurd jobId",
            soap_envelope(
                "<tot:GetProcessStatus><tot:jobId>99999999999999999999999</tot:jobId>\
                 <tot:execId>1e308</tot:execId></tot:GetProcessStatus>",
            )
            .into_bytes(),
        ),
    ];
    for (what, body) in cases {
        let (status, answer) = call(soap(&fila, body)).await;
        assert_fault(status, &answer, what);
    }
    let (status, answer) = call(soap(&fila, vec![b' '; 1_000_001])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_fault(status, &answer, "over the limit");
    assert_eq!(stored(&fila).await, (0, 0, 0));
    let (status, _) = fila_tests::fila::send(fila.anonymous(Method::GET, "/healthz")).await;
    assert_eq!(status, StatusCode::OK, "the API is still up");
}

#[tokio::test]
async fn json_endpoints_refuse_bombs_and_garbage_in_their_own_format() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .env("MAX_BODY_BYTES", 1_000_000)
        .start()
        .await;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "arrays nested 100,000 deep",
            deep_json(100_000).into_bytes(),
        ),
        (
            "objects nested 10,000 deep",
            ("{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000)).into_bytes(),
        ),
        ("invalid UTF-8", b"{\"a\": \"\xff\xfe\"}".to_vec()),
        ("truncated", b"{\"Header\": {".to_vec()),
        ("a number past f64", b"{\"a\": 1e400}".to_vec()),
        ("nothing", Vec::new()),
    ];
    for (what, body) in bodies {
        // EAI: a 4xx with its Problem JSON.
        let (status, answer) = call(fila.request(Method::POST, EAI).body(body.clone())).await;
        assert!(status.is_client_error(), "EAI, {what}: {status} {answer}");
        let problem: Value = serde_json::from_str(&answer).expect("EAI answers JSON");
        assert!(
            problem["code"].is_string() || problem["code"].is_number(),
            "EAI, {what}: {answer}"
        );
        // Creatio: a 4xx JSON answer.
        let (status, answer) =
            call(fila.request(Method::POST, CREATIO_RUN).body(body.clone())).await;
        assert!(
            status.is_client_error(),
            "Creatio, {what}: {status} {answer}"
        );
        serde_json::from_str::<Value>(&answer).expect("Creatio answers JSON");
        // Robusta: a 4xx JSON answer.
        let (status, answer) = call(fila.request(Method::POST, ROBUSTA_START).body(body)).await;
        assert!(
            status.is_client_error(),
            "Robusta, {what}: {status} {answer}"
        );
        serde_json::from_str::<Value>(&answer).expect("Robusta answers JSON");
    }
    // The body is read as the endpoint's format whatever its Content-Type
    // says (clients in the field send all sorts); a form is not JSON.
    for path in [EAI, CREATIO_RUN, ROBUSTA_START] {
        let (status, answer) = call(
            fila.request(Method::POST, path)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("Header=1&Content=2"),
        )
        .await;
        assert!(
            status.is_client_error(),
            "{path}, a form: {status} {answer}"
        );
        serde_json::from_str::<Value>(&answer).expect("answered in JSON");
    }
    for path in [EAI, CREATIO_RUN, ROBUSTA_START] {
        let (status, answer) = call(
            fila.request(Method::POST, path)
                .body(format!("[\"{}\"]", "x".repeat(1_000_000))),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {answer}");
        serde_json::from_str::<Value>(&answer).expect("413 in JSON");
    }
    assert_eq!(stored(&fila).await, (0, 0, 0));
}

#[tokio::test]
async fn absurd_values_in_taf_items_are_refused_item_by_item() {
    let fila = Fila::start().await;
    let (status, answer) = fila
        .post_lot(&lot(
            "T-ABSURD",
            vec![
                item_with(
                    "BOMB",
                    json!({ "integrationMessage": b64(&format!("{XML_BOMB}<eSocial/>")) }),
                ),
                item_with(
                    "DEEP",
                    json!({ "integrationMessage": b64(&deep_xml(50_000)) }),
                ),
                item_with(
                    "PRIO",
                    json!({ "registryPriority": "99999999999999999999" }),
                ),
                item_with("DATE", json!({ "integrationDate": "99999-99-99" })),
                item_with("TYPE", json!({ "messageType": 1e300 })),
                item_with("KEY", json!({ "registryKey": "K".repeat(100_000) })),
            ],
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = answer["registryKey"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 6);
    // As in TAF, intake checks the structure and Job2 the event: the bomb
    // and the deep XML are accepted, then found inconsistent (000001). The
    // real server checks no date format: the absurd date is kept as sent.
    for item in &items[..2] {
        assert_eq!(item["success"], true, "{item}");
    }
    assert_eq!(items[3]["success"], true, "{}", items[3]);
    for item in items[2..].iter().filter(|i| i["key"] != "DATE") {
        assert_eq!(item["success"], false);
        assert!(
            item["error"].as_array().is_some_and(|e| !e.is_empty()),
            "every refusal has a code: {}",
            item["key"]
        );
    }
    assert_eq!(stored(&fila).await.0, 3);
    assert!(fila.wait_finished("T-ABSURD", 3, 30).await);
    let (_, page) = fila.get_status("ticketCode=T-ABSURD&startRecNo=0").await;
    let records = page["items"].as_array().expect("items");
    assert_eq!(records[2]["proccessed"], true, "{}", records[2]);
    for record in &records[..2] {
        assert_eq!(record["proccessed"], false, "{record}");
        assert_eq!(record["errorCode"], "000001", "{record}");
    }
}

#[tokio::test]
async fn nul_characters_are_refused_or_name_nothing_at_every_json_endpoint() {
    let fila = Setup::new().processes(DEFINITIONS).workers(0).start().await;
    let nul = "a\u{0}";
    // TAF: a branch code with a NUL is refused with its item (802), not
    // looked up (which answered RESTFAULT 702).
    let (status, answer) = fila
        .post_lot(&lot(
            "T-NUL",
            vec![
                item("K-OK"),
                item_with("K-SOURCE", json!({ "sourceBranch": nul })),
                item_with("K-TRANSFER", json!({ "transferBranch": nul })),
            ],
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let codes = codes(&answer);
    assert_eq!(codes[0], ("K-OK".to_string(), vec![]));
    for (key, item_codes) in &codes[1..] {
        assert!(item_codes.contains(&802), "{key}: {answer}");
    }
    // EAI: a message or Content holding a NUL is refused (EAI-108); list
    // filters with one are bad parameters (EAI-020).
    let message = json!({
        "Header": { "UUID": "u-nul", "Transaction": "ITEM", "Version": "1", "SourceApplication": "RM" },
        "Content": { "InternalId": "1", "Name": nul },
    });
    let eai_code = |request: RequestBuilder| async move {
        let (status, answer) = fila_tests::fila::send(request).await;
        (
            status,
            answer["code"].as_str().unwrap_or_default().to_string(),
        )
    };
    let contents = "/totvseai/standardmessage/v1/contents/ITEM";
    for (request, code) in [
        (fila.request(Method::POST, EAI).json(&message), "EAI-108"),
        (
            fila.request(Method::POST, contents)
                .json(&json!({ "InternalId": "1", "Name": nul })),
            "EAI-108",
        ),
        (
            fila.request(Method::POST, &format!("{contents}?version=%00"))
                .json(&json!({ "InternalId": "1" })),
            "EAI-108",
        ),
        (
            fila.request(Method::GET, &format!("{contents}?Name=%00")),
            "EAI-020",
        ),
    ] {
        assert_eq!(
            eai_code(request).await,
            (StatusCode::BAD_REQUEST, code.to_string())
        );
    }
    // Processes: a parameter holding a NUL is refused.
    let (status, answer) = fila_tests::fila::send(
        fila.request(Method::POST, ROBUSTA_START)
            .json(&json!({ "name": "GlbProcCopyConsSQL", "values": { "list": nul } })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = fila_tests::fila::send(
        fila.request(Method::POST, CREATIO_RUN)
            .json(&json!({ "schemaName": "GlbProcCopyConsSQL",
                 "parameterValues": [{ "name": "list", "value": [nul] }] })),
    )
    .await;
    assert_eq!(
        (status, &answer["success"]),
        (StatusCode::BAD_REQUEST, &json!(false)),
        "{answer}"
    );
    let (status, answer) = call(fila.request(
        Method::GET,
        "/0/ServiceModel/ProcessEngineService.svc/GlbProcCopyConsSQL/Execute?list%00=x",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Ids holding a NUL name nothing.
    for (method, path) in [
        (Method::GET, "/totvseai/standardmessage/v1/transactions/%00"),
        (Method::GET, "/totvseai/standardmessage/v1/batches/%00"),
        (
            Method::GET,
            "/totvseai/standardmessage/v1/contents/ITEM/%00",
        ),
        (Method::GET, "/scheduler/connector-api/process/status/%00"),
    ] {
        let (status, answer) = call(fila.request(method, path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    for (method, path) in [
        (Method::POST, "/admin/schedules/%00/pause"),
        (Method::POST, "/admin/schedules/%00/resume"),
        (Method::DELETE, "/admin/schedules/%00"),
    ] {
        let (status, answer) = call(fila.admin(method, path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    assert_eq!(stored(&fila).await, (1, 0, 0));
}
