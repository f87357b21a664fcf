//! Where the real WSTAFST2 server (TOTVS's published source) behaves
//! otherwise than seed 001 reads, fila behaves like the server: each test
//! sends what an unchanged TAF producer sends and checks what that server
//! answers.

use fila_tests::fila::send;
use fila_tests::taf::{b64, codes, item, item_with, lot, page_keys};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A TXT item of layout `layout` (messageType 1).
fn txt(key: &str, layout: &str, sequential: &str, text: &str) -> Value {
    item_with(
        key,
        json!({
            "messageType": "1",
            "registryType": layout,
            "messageSequential": sequential,
            "integrationMessage": b64(text),
        }),
    )
}

#[tokio::test]
async fn absent_or_empty_date_and_time_are_the_current_ones() {
    let fila = Setup::new().workers(0).start().await;
    let (_, answer) = fila
        .post_lot(&lot(
            "T-NOW",
            vec![
                item_with(
                    "ABSENT",
                    json!({ "integrationDate": null, "integrationTime": null }),
                ),
                item_with(
                    "EMPTY",
                    json!({ "integrationDate": "", "integrationTime": "" }),
                ),
                item_with(
                    "SENT",
                    json!({ "integrationDate": "10/12/2016", "integrationTime": "1415" }),
                ),
            ],
        ))
        .await;
    assert!(codes(&answer).iter().all(|(_, c)| c.is_empty()), "{answer}");
    let rows = fila
        .db()
        .await
        .query(
            "SELECT registry_key, integration_date, integration_time,
                    to_char(now(), 'YYYYMMDD') AS today
             FROM taf_record WHERE ticket_code = 'T-NOW' ORDER BY id",
            &[],
        )
        .await
        .expect("records");
    for row in &rows[..2] {
        let date: String = row.get("integration_date");
        let time: String = row.get("integration_time");
        let today: String = row.get("today");
        let key: String = row.get("registry_key");
        assert_eq!(date, today, "{key}");
        assert!(
            time.len() == 8 && time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':',
            "{key}: {time}"
        );
    }
    assert_eq!(
        (
            rows[2].get::<_, String>("integration_date"),
            rows[2].get::<_, String>("integration_time")
        ),
        ("10/12/2016".to_string(), "1415".to_string()),
        "kept as sent: the real server checks no format"
    );
}

#[tokio::test]
async fn open_items_show_what_the_producer_sent() {
    let fila = Setup::new().workers(0).start().await;
    let (_, answer) = fila
        .post_lot(&lot(
            "T-OPEN",
            vec![
                item("PRED"),
                item_with(
                    "S-1200-KEY",
                    json!({
                        "registryPredecessor": "PRED",
                        "transferBranch": "9900",
                        "complement": "1",
                        "integrationQueue": "1",
                        "registryPriority": "2",
                    }),
                ),
            ],
        ))
        .await;
    assert!(codes(&answer).iter().all(|(_, c)| c.is_empty()), "{answer}");
    let (_, page) = fila.get_status("ticketCode=T-OPEN&startRecNo=0").await;
    assert_eq!(
        page["items"][1],
        json!({
            "success": true,
            "proccessed": false,
            "description": "Aguardando Processamento.",
            "registryKey": "S-1200-KEY",
            "errorCode": "",
            "errorDescription": "",
            "errorDetail": "",
            "registryPriority": "2",
            "integrationQueue": "F",
            "erpOwner": "DATASUL",
            "registryPredecessor": "PRED",
            "transferBranch": "9900",
            "complement": "1",
            "streamingErrors": [],
            "xmlRetResponse": ""
        })
    );
    assert!(
        page["items"][0].get("complement").is_none()
            && page["items"][0].get("transferBranch").is_none(),
        "only what was sent: {}",
        page["items"][0]
    );
}

#[tokio::test]
async fn processed_items_carry_the_real_servers_attributes() {
    let fila = Fila::start().await;
    fila.post_lot(&lot(
        "T-DONE",
        vec![item_with("DONE", json!({ "complement": "2" }))],
    ))
    .await;
    assert!(fila.wait_finished("T-DONE", 1, 30).await);
    let (_, page) = fila.get_status("registryKey=DONE&startRecNo=0").await;
    assert_eq!(
        page["items"][0],
        json!({
            "success": true,
            "proccessed": true,
            "description": "Registro Processado.",
            "ticketCode": "T-DONE",
            "statusCode": " ",
            "statusDescription": "Registro Integrado",
            "active": true,
            "receiptNumber": "",
            "streamingErrors": [],
            "xmlRetResponse": ""
        })
    );
}

#[tokio::test]
async fn an_unknown_ticket_or_key_answers_the_not_found_item() {
    let fila = Setup::new().workers(0).start().await;
    let (status, by_key) = fila.get_status("registryKey=NO-KEY&startRecNo=0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        by_key,
        json!({
            "type": "registryKey",
            "code": "NO-KEY",
            "items": [{
                "success": false,
                "proccessed": false,
                "description": "Registro não encontrado na tabela TAFST2.",
                "ticketCode": "NO-KEY"
            }],
            "lastRecNo": 0,
            "maxRecNo": 0
        })
    );
    let (_, by_ticket) = fila
        .get_status("ticketCode=NO-TICKET&registryKey=NO-KEY&startRecNo=0")
        .await;
    assert_eq!(by_ticket["items"][0]["success"], false);
    assert_eq!(by_ticket["items"][0]["registryKey"], "NO-TICKET");
}

#[tokio::test]
async fn taf_txt_layouts_are_accepted_and_split_messages_joined_in_order() {
    let fila = Fila::start().await;
    let (_, answer) = fila
        .post_lot(&lot(
            "T-TXT",
            vec![
                txt("EMP-1", "T001AB", "003", "|T001AB|PART3|\r\n"),
                txt("EMP-1", "T001AB", "001", "|T001|PART1|\r\n"),
                txt("EMP-1", "T001AB", "002", "|T001AA|PART2|\r\n"),
                txt("CAD-1", "T013", "001", "|T013|ONLY|\r\n"),
                txt("BAD-1", "X013", "001", "|X013|"),
            ],
        ))
        .await;
    assert_eq!(
        codes(&answer),
        vec![
            ("EMP-1".to_string(), vec![]),
            ("EMP-1".to_string(), vec![]),
            ("EMP-1".to_string(), vec![]),
            ("CAD-1".to_string(), vec![]),
            ("BAD-1".to_string(), vec![804]),
        ],
        "{answer}"
    );
    assert!(fila.wait_finished("T-TXT", 2, 30).await);
    let rows = fila
        .db()
        .await
        .query(
            "SELECT registry_key, registry_type, message, status FROM taf_record
             WHERE ticket_code = 'T-TXT' ORDER BY id",
            &[],
        )
        .await
        .expect("records");
    let records: Vec<(String, String, Vec<u8>, String)> = rows
        .iter()
        .map(|r| {
            (
                r.get("registry_key"),
                r.get("registry_type"),
                r.get("message"),
                r.get("status"),
            )
        })
        .collect();
    assert_eq!(
        records,
        vec![
            (
                "EMP-1".to_string(),
                "T001AB".to_string(),
                b"|T001|PART1|\r\n|T001AA|PART2|\r\n|T001AB|PART3|\r\n".to_vec(),
                "processed".to_string()
            ),
            (
                "CAD-1".to_string(),
                "T013".to_string(),
                b"|T013|ONLY|\r\n".to_vec(),
                "processed".to_string()
            ),
        ],
        "one record per message, its parts in messageSequential order"
    );
    let (_, page) = fila.get_status("registryKey=EMP-1&startRecNo=0").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["items"][0]["proccessed"], true);
}

#[tokio::test]
async fn the_txt_layouts_are_a_setting() {
    let fila = Setup::new()
        .workers(0)
        .env("TAF_TXT_LAYOUTS", r#"["T001", "T154@@"]"#)
        .start()
        .await;
    let (_, answer) = fila
        .post_lot(&lot(
            "T-SET",
            vec![
                txt("A", "T001", "1", "|T001|"),
                txt("B", "T154AA", "1", "|T154AA|"),
                txt("C", "T013", "1", "|T013|"),
            ],
        ))
        .await;
    assert_eq!(
        codes(&answer),
        vec![
            ("A".to_string(), vec![]),
            ("B".to_string(), vec![]),
            ("C".to_string(), vec![804]),
        ]
    );
}

#[tokio::test]
async fn only_a_pending_xml_record_of_the_same_branch_and_layout_refuses_813() {
    let fila = Setup::new().workers(0).start().await;
    let (_, first) = fila
        .post_lot(&lot(
            "T-1",
            vec![item("XML-KEY"), txt("TXT-KEY", "T001", "1", "|T001|")],
        ))
        .await;
    assert!(codes(&first).iter().all(|(_, c)| c.is_empty()), "{first}");
    let (_, second) = fila
        .post_lot(&lot(
            "T-2",
            vec![
                item("XML-KEY"),
                txt("XML-KEY", "S-1010", "1", "S-1010|TXT"),
                item_with("XML-KEY", json!({ "sourceBranch": "0200" })),
                txt("TXT-KEY", "T001", "1", "|T001|AGAIN|"),
            ],
        ))
        .await;
    assert_eq!(
        codes(&second),
        vec![
            ("XML-KEY".to_string(), vec![813]),
            ("XML-KEY".to_string(), vec![813]),
            ("XML-KEY".to_string(), vec![]),
            ("TXT-KEY".to_string(), vec![]),
        ],
        "another branch, and a TXT key sent again, are accepted: {second}"
    );
}

#[tokio::test]
async fn a_source_branch_is_checked_and_limits_the_query_to_its_group() {
    let fila = Setup::new().workers(0).start().await;
    // A lot belongs to one company group: one lot per group, one ticket.
    fila.post_lot(&lot("T-BR", vec![item("IN-01")])).await;
    fila.post_lot(&lot(
        "T-BR",
        vec![item_with("IN-02", json!({ "sourceBranch": "0300" }))],
    ))
    .await;
    let (status, answer) = fila
        .get_status("ticketCode=T-BR&sourceBranch=9999&startRecNo=0")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({
            "coderr": 803,
            "description": "O valor do campo sourceBranch (TAFFIL) não está no cadastro no complemento de empresas."
        })
    );
    let (_, page) = fila
        .get_status("ticketCode=T-BR&sourceBranch=0300&startRecNo=0")
        .await;
    let keys = page_keys(&page);
    assert_eq!(keys, ["IN-02"]);
}

#[tokio::test]
async fn the_route_is_matched_whatever_its_case_and_trailing_slash() {
    let fila = Setup::new().workers(0).start().await;
    let (status, answer) = send(
        fila.request(Method::POST, "/rest/WSTAFST2/")
            .json(&lot("T-CASE", vec![item("CASE-1")])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(codes(&answer), vec![("CASE-1".to_string(), vec![])]);
    let (status, page) =
        send(fila.request(Method::GET, "/REST/WsTafSt2?ticketCode=T-CASE&startRecNo=0")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["registryKey"], "CASE-1");
    let (status, _) =
        send(fila.anonymous(Method::GET, "/rest/WSTAFST2?ticketCode=T-CASE&startRecNo=0")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the route's policy applies"
    );
    let (status, answer) = send(
        fila.request(Method::DELETE, "/rest/wstafst2/")
            .body(r#"{"deleteTicket":[{"ticketCode":"T-CASE"}]}"#),
    )
    .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({ "success": true }))
    );
    assert!(fila.taf_counts("T-CASE").await.is_empty());
}
