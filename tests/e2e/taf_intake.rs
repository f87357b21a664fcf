//! `POST /rest/wstafst2`: the seed's example, every validation code 800-813,
//! the RESTFAULTs of a POST, and the limits.

use fila_tests::taf::{SEED_LOT, b64, codes, item, item_with, items, lot};
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn seed_example_lot_is_accepted_exactly_as_printed() {
    let fila = Fila::start().await;
    let (status, answer) = fila.post_raw(SEED_LOT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({
            "ticketCode": "WIO9753123654789789363655241452363",
            "registryKey": [
                { "key": "KEYIO7878874854545454998598525", "success": true },
                { "key": "KEYYZE7878RE4854545454998598576", "success": true }
            ],
            "keyAmount": 2
        })
    );
    assert!(
        fila.wait_finished("WIO9753123654789789363655241452363", 2, 30)
            .await
    );
    let (_, page) = fila
        .get_status("ticketCode=WIO9753123654789789363655241452363&startRecNo=0")
        .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["proccessed"], true, "{item}");
        assert_eq!(item["description"], "Registro Processado.");
        assert_eq!(item["statusCode"], " ");
        assert_eq!(item["statusDescription"], "Registro Integrado");
        assert_eq!(item["active"], true);
    }
}

#[tokio::test]
async fn each_item_is_checked_on_its_own_and_reports_every_code() {
    let fila = Setup::new().workers(0).start().await;
    let lot = lot(
        "T-CODES",
        vec![
            item("OK-1"),
            item_with("C800", json!({ "messageSequential": null })),
            item_with("C801", json!({ "sourceBranch": "" })),
            item_with("C802-TYPE", json!({ "messageType": "3" })),
            item_with("OK-DATE", json!({ "integrationDate": "2016-12-10" })),
            item_with("OK-TIME", json!({ "integrationTime": "25:00:00" })),
            item_with("C802-BOOL", json!({ "messageSequential": true })),
            item_with("C802-NUL", json!({ "erpowner": "DATA\u{0}SUL" })),
            item_with("C803", json!({ "sourceBranch": "9999" })),
            item_with("C804", json!({ "registryType": "S-9999" })),
            item_with("C805", json!({ "registryPriority": "8" })),
            item_with("C806", json!({ "integrationMessage": "@@not base64@@" })),
            item_with("OK-QUEUE", json!({ "integrationQueue": "7" })),
            item_with("OK-TRANSFER", json!({ "transferBranch": "7777" })),
            item_with("C812", json!({ "sourceBranch": "0300" })),
            item("OK-1"),
            item_with(
                "MULTI",
                json!({ "sourceBranch": "", "registryPriority": "8" }),
            ),
            json!("not an object"),
            item_with(
                "OK-NUMBERS",
                json!({ "messageType": 2, "registryPriority": 0 }),
            ),
            item_with(
                "OK-OWNER",
                json!({ "erpowner": null, "erpOwner": "PROTHEUS" }),
            ),
            item_with(
                "OK-NO-DATE",
                json!({ "integrationDate": null, "integrationTime": null }),
            ),
        ],
    );
    let (status, answer) = fila.post_lot(&lot).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["keyAmount"], 21);
    let expected: Vec<(&str, Vec<u64>)> = vec![
        ("OK-1", vec![]),
        ("C800", vec![800]),
        ("C801", vec![801, 803]),
        ("C802-TYPE", vec![802]),
        ("OK-DATE", vec![]),
        ("OK-TIME", vec![]),
        ("C802-BOOL", vec![802]),
        ("C802-NUL", vec![802]),
        ("C803", vec![803]),
        ("C804", vec![804]),
        ("C805", vec![805]),
        ("C806", vec![806]),
        ("OK-QUEUE", vec![]),
        ("OK-TRANSFER", vec![]),
        ("C812", vec![812]),
        ("OK-1", vec![813]),
        ("MULTI", vec![801, 803, 805]),
        ("", vec![802]),
        ("OK-NUMBERS", vec![]),
        ("OK-OWNER", vec![]),
        ("OK-NO-DATE", vec![]),
    ];
    let got = codes(&answer);
    for (i, (key, want)) in expected.iter().enumerate() {
        assert_eq!(got[i].0, *key, "item {i}: {answer}");
        assert_eq!(
            got[i].1, *want,
            "item {i} ({key}): {}",
            answer["registryKey"][i]
        );
        assert_eq!(answer["registryKey"][i]["success"], want.is_empty());
    }
    let multi = &answer["registryKey"][16]["error"];
    assert_eq!(
        multi[0]["description"],
        "Campo TAFFIL (sourceBranch) e Obrigatorio."
    );
    assert_eq!(
        multi[1]["description"],
        "O valor do campo TAFFIL (sourceBranch) nao esta cadastro no complemento de empresas."
    );
    assert_eq!(
        multi[2]["description"],
        "Codigo de Prioridade invalido! Codigo enviado: '8'. Codigos validos: 0 - Urgente, \
         1 - Prioridade Critica, 2 - Prioridade Alta, 3 - Prioridade Media, 4 - Prioridade \
         Baixa, 5 - Nao Prioritario"
    );
    assert!(answer["registryKey"][0].get("error").is_none());
    let counts = fila.taf_counts("T-CODES").await;
    assert_eq!(
        counts.get("pending"),
        Some(&8),
        "only accepted items are stored"
    );
}

#[tokio::test]
async fn an_unregistered_first_branch_refuses_the_whole_lot() {
    let fila = Setup::new().workers(0).start().await;
    let lot = lot(
        "T-803",
        vec![item_with("A", json!({ "sourceBranch": "9999" })), item("B")],
    );
    let (status, answer) = fila.post_lot(&lot).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({
            "coderr": 803,
            "description": "O valor do campo sourceBranch (TAFFIL) não está no cadastro no complemento de empresas."
        })
    );
    assert!(fila.taf_counts("T-803").await.is_empty());
}

#[tokio::test]
async fn a_pending_registry_key_is_refused_across_lots_with_813() {
    let fila = Setup::new().workers(0).start().await;
    let (_, first) = fila.post_lot(&lot("T-A", vec![item("KEY-1")])).await;
    assert_eq!(codes(&first), vec![("KEY-1".to_string(), vec![])]);
    let (_, second) = fila
        .post_lot(&lot("T-B", vec![item("KEY-1"), item("KEY-2")]))
        .await;
    assert_eq!(
        codes(&second),
        vec![
            ("KEY-1".to_string(), vec![813]),
            ("KEY-2".to_string(), vec![])
        ]
    );
    assert_eq!(
        second["registryKey"][0]["error"][0]["description"],
        "O TAFKEY KEY-1 ja existe na TAFST2 e encontra-se pendente de processamento ou em \
         processamento."
    );
}

#[tokio::test]
async fn a_processed_registry_key_may_be_sent_again() {
    let fila = Fila::start().await;
    fila.post_lot(&lot("T-1", vec![item("AGAIN")])).await;
    assert!(fila.wait_finished("T-1", 1, 30).await);
    let (_, answer) = fila.post_lot(&lot("T-2", vec![item("AGAIN")])).await;
    assert_eq!(codes(&answer), vec![("AGAIN".to_string(), vec![])]);
}

#[tokio::test]
async fn the_employer_in_the_message_must_be_the_branch_registration_811() {
    let fila = Setup::new()
        .workers(0)
        .branches(&[
            ("0100", "01", Some("53113791000122")),
            ("0400", "01", Some("11111111")),
        ])
        .start()
        .await;
    let (_, answer) = fila
        .post_lot(&lot(
            "T-811",
            vec![
                item("SAME-ROOT"),
                item_with("OTHER", json!({ "sourceBranch": "0400" })),
                item_with(
                    "NO-EMPLOYER",
                    json!({ "integrationMessage": b64("<eSocial><evtTabRubrica/></eSocial>") }),
                ),
            ],
        ))
        .await;
    assert_eq!(
        codes(&answer),
        vec![
            ("SAME-ROOT".to_string(), vec![]),
            ("OTHER".to_string(), vec![811]),
            ("NO-EMPLOYER".to_string(), vec![811]),
        ]
    );
    assert_eq!(
        answer["registryKey"][1]["error"][0]["description"],
        "Nao foi possivel identificar a filial 0400 no corpo da mensagem."
    );
}

#[tokio::test]
async fn an_empty_branch_registry_refuses_lots_with_809() {
    let fila = Setup::new().workers(0).branches(&[]).start().await;
    let (status, answer) = fila.post_lot(&lot("T-809", vec![item("A")])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["coderr"], 809);
}

#[tokio::test]
async fn an_outdated_schema_refuses_lots_with_808() {
    let fila = Setup::new().workers(0).start().await;
    fila.db()
        .await
        .execute(
            "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)",
            &[],
        )
        .await
        .expect("downgrade");
    let (status, answer) = fila.post_lot(&lot("T-808", vec![item("A")])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["coderr"], 808);
    assert_eq!(
        answer["description"],
        "Estrutura da tabela TAFST2 esta desatualizada"
    );
}

#[tokio::test]
async fn lot_level_structure_codes() {
    let fila = Setup::new().workers(0).start().await;
    let cases: Vec<(Value, u64)> = vec![
        (json!({ "lote": [item("A")] }), 800),
        (json!({ "ticketCode": "", "lote": [item("A")] }), 801),
        (json!({ "ticketCode": "T" }), 800),
        (json!({ "ticketCode": "T", "lote": [] }), 801),
        (json!({ "ticketCode": "T", "lote": "x" }), 802),
        (json!({ "ticketCode": ["T"], "lote": [item("A")] }), 802),
        (
            json!({ "ticketCode": "T".repeat(37), "lote": [item("A")] }),
            802,
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = fila.post_lot(&body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(answer["coderr"], code, "{body} -> {answer}");
        assert!(
            answer["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
}

#[tokio::test]
async fn empty_and_malformed_bodies_are_restfaults_704_and_705() {
    let fila = Setup::new().workers(0).start().await;
    let cases: Vec<(&[u8], u64)> = vec![
        (b"", 704),
        (b"  \n ", 704),
        (b"{\"ticketCode\": \"T\", \"lote\": [", 705),
        (b"[]", 705),
        (b"not json", 705),
        (b"{\"ticketCode\": \"\xff\xfe\"}", 705),
    ];
    for (body, code) in cases {
        let (status, answer) = fila.post_raw(body.to_vec()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body:?}");
        assert_eq!(answer["code"], code, "{body:?} -> {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn deep_json_is_refused_not_followed() {
    let fila = Setup::new().workers(0).start().await;
    let deep = |open: &str, close: &str| open.repeat(5000) + "1" + &close.repeat(5000);
    let body = format!("{{\"ticketCode\":{},\"lote\":[]}}", deep("[", "]"));
    let (status, answer) = fila.post_raw(body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["coderr"], 802, "{answer}");
    let body = format!("{{\"ticketCode\":\"T\",\"lote\":{}}}", deep("[", "]"));
    let (status, answer) = fila.post_raw(body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["coderr"], 803,
        "no branch in the first item: {answer}"
    );
    let body = format!(
        "{{\"ticketCode\":\"T\",\"lote\":[{},{}]}}",
        item("OK"),
        deep("{\"a\":[", "]}")
    );
    let (status, answer) = fila.post_raw(body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["registryKey"][0]["success"], true, "{answer}");
    assert_eq!(answer["registryKey"][1]["success"], false, "{answer}");
}

#[tokio::test]
async fn oversized_bodies_and_lots_get_413() {
    let fila = Setup::new()
        .workers(0)
        .env("MAX_BODY_BYTES", 50_000)
        .env("TAF_MAX_LOT_ITEMS", 3)
        .start()
        .await;
    let (status, answer) = fila.post_lot(&lot("T-BIG", items("BIG", 40))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], 413);
    let (status, answer) = fila.post_lot(&lot("T-MANY", items("MANY", 4))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 3"))
    );
    let (status, _) = fila.post_lot(&lot("T-OK", items("OK", 3))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn priority_defaults_to_5_and_queue_code_is_kept() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot(
        "T-PRIO",
        vec![
            item("DEFAULT"),
            item_with("EMPTY", json!({ "registryPriority": "" })),
            item_with(
                "URGENT",
                json!({ "registryPriority": "0", "integrationQueue": "1" }),
            ),
        ],
    ))
    .await;
    let (_, page) = fila.get_status("ticketCode=T-PRIO&startRecNo=0").await;
    let got: Vec<(&str, &str)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["registryPriority"].as_str().unwrap_or_default(),
                i["integrationQueue"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(got, vec![("5", ""), ("5", ""), ("0", "F")]);
}

#[tokio::test]
async fn text_messages_are_accepted_in_any_8_bit_text() {
    let fila = Fila::start().await;
    let latin1 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"S-1010|RUBRICA|PENS\xc3O",
    );
    let (_, answer) = fila
        .post_lot(&lot(
            "T-TXT",
            vec![item_with(
                "TXT-1",
                json!({ "messageType": "1", "integrationMessage": latin1 }),
            )],
        ))
        .await;
    assert_eq!(codes(&answer), vec![("TXT-1".to_string(), vec![])]);
    assert!(fila.wait_finished("T-TXT", 1, 30).await);
    let counts = fila.taf_counts("T-TXT").await;
    assert_eq!(counts.get("processed"), Some(&1));
}
