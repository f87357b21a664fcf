//! `GET /rest/wstafst2`: paging, grouping, search modes and RESTFAULTs.

use std::collections::HashSet;

use fila_tests::proxy::Proxy;
use fila_tests::taf::{admissao_xml, b64, item, item_with, items, lot};
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Pages through a query; returns every item and the number of pages.
async fn all_pages(fila: &Fila, query: &str) -> (Vec<Value>, usize) {
    let mut start = 0;
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = fila
            .get_status(&format!("{query}&startRecNo={start}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        let last = page["lastRecNo"].as_i64().expect("lastRecNo");
        let max = page["maxRecNo"].as_i64().expect("maxRecNo");
        if last == max {
            return (items, pages);
        }
        assert!(pages < 1000, "paging does not end");
        start = last + 1;
    }
}

#[tokio::test]
async fn paging_through_2000_records_returns_each_exactly_once() {
    let fila = Setup::new().workers(0).start().await;
    let (status, _) = fila.post_lot(&lot("T-PAGES", items("P", 2000))).await;
    assert_eq!(status, StatusCode::OK);
    let (items, pages) = all_pages(&fila, "ticketCode=T-PAGES").await;
    assert_eq!(pages, 4, "500 items per page");
    let keys: Vec<&str> = items
        .iter()
        .map(|i| i["registryKey"].as_str().expect("key"))
        .collect();
    let unique: HashSet<&str> = keys.iter().copied().collect();
    assert_eq!(keys.len(), 2000);
    assert_eq!(unique.len(), 2000);
    let first = &items[0];
    assert_eq!(first["success"], true);
    assert_eq!(first["proccessed"], false);
    assert_eq!(first["description"], "Aguardando Processamento.");
    assert_eq!(first["errorCode"], "");
}

#[tokio::test]
async fn pages_are_cut_by_size_too() {
    let fila = Setup::new()
        .workers(0)
        .env("TAF_PAGE_MAX_BYTES", 4096)
        .start()
        .await;
    fila.post_lot(&lot("T-BYTES", items("B", 300))).await;
    let mut start = 0;
    let mut seen = HashSet::new();
    loop {
        let response = fila
            .request(
                reqwest::Method::GET,
                &format!("/rest/wstafst2?ticketCode=T-BYTES&startRecNo={start}"),
            )
            .send()
            .await
            .expect("get");
        let body = response.bytes().await.expect("body");
        assert!(body.len() <= 4096, "page of {} bytes", body.len());
        let page: Value = serde_json::from_slice(&body).expect("json");
        for item in page["items"].as_array().expect("items") {
            assert!(seen.insert(item["registryKey"].as_str().expect("key").to_string()));
        }
        if page["lastRecNo"] == page["maxRecNo"] {
            break;
        }
        start = page["lastRecNo"].as_i64().expect("last") + 1;
    }
    assert_eq!(seen.len(), 300);
}

#[tokio::test]
async fn lot_quantity_limits_the_page() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-QTY", items("Q", 5))).await;
    let (items, pages) = all_pages(&fila, "ticketCode=T-QTY&lotQuantity=2").await;
    assert_eq!((items.len(), pages), (5, 3));
}

#[tokio::test]
async fn grouping_follows_the_parameters() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-G1", vec![item("K-1"), item("K-2")]))
        .await;
    let (_, by_key) = fila.get_status("RegistryKey=K-1&startRecNo=0").await;
    assert_eq!(by_key["type"], "registryKey");
    assert_eq!(by_key["code"], "K-1");
    assert_eq!(by_key["items"][0]["ticketCode"], "T-G1");
    assert!(by_key["items"][0].get("registryKey").is_none());

    let (_, both) = fila
        .get_status("ticketCode=T-G1&registryKey=K-2&startRecNo=0")
        .await;
    assert_eq!(both["type"], "ticketCode");
    assert_eq!(both["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(both["items"][0]["registryKey"], "K-2");
    assert_eq!(both["lastRecNo"], both["maxRecNo"]);

    let (_, none) = fila.get_status("ticketCode=T-NONE&startRecNo=0").await;
    assert_eq!(
        none,
        json!({
            "type": "ticketCode",
            "code": "T-NONE",
            "items": [{
                "success": false,
                "proccessed": false,
                "description": "Registro não encontrado na tabela TAFST2.",
                "registryKey": "T-NONE"
            }],
            "lastRecNo": 0,
            "maxRecNo": 0
        }),
        "the real server's item for nothing found, naming the code asked for"
    );
}

#[tokio::test]
async fn source_branch_filters_the_records() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot(
        "T-BR",
        vec![item("A"), item_with("B", json!({ "sourceBranch": "0200" }))],
    ))
    .await;
    let (_, page) = fila
        .get_status("ticketCode=T-BR&sourceBranch=0200&startRecNo=0")
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["registryKey"], "B");
}

#[tokio::test]
async fn search_modes_pick_the_last_and_the_last_valid_occurrence() {
    let mut fila = Fila::start().await;
    fila.post_lot(&lot("T-S1", vec![item("K")])).await;
    assert!(fila.wait_finished("T-S1", 1, 30).await);
    fila.post_lot(&lot(
        "T-S2",
        vec![item_with(
            "K",
            json!({ "integrationMessage": b64(&admissao_xml()) }),
        )],
    ))
    .await;
    assert!(fila.wait_finished("T-S2", 1, 30).await);
    fila.kill_worker(0);
    fila.post_lot(&lot("T-S3", vec![item("K")])).await;

    let tickets = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["ticketCode"].as_str().expect("ticket").to_string())
            .collect()
    };
    let (_, all) = fila.get_status("registryKey=K&startRecNo=0").await;
    assert_eq!(tickets(&all), vec!["T-S1", "T-S2", "T-S3"]);
    let (_, last) = fila
        .get_status("registryKey=K&startRecNo=0&searchMode=1")
        .await;
    assert_eq!(tickets(&last), vec!["T-S3"]);
    assert_eq!(last["lastRecNo"], last["maxRecNo"]);
    let (_, valid) = fila
        .get_status("registryKey=K&startRecNo=0&searchMode=2")
        .await;
    assert_eq!(tickets(&valid), vec!["T-S1"]);
    assert_eq!(valid["items"][0]["proccessed"], true);
    assert_eq!(valid["lastRecNo"], valid["maxRecNo"]);
}

#[tokio::test]
async fn restfaults_701_and_703() {
    let fila = Setup::new().workers(0).start().await;
    for (query, code) in [
        ("startRecNo=0", 701),
        ("ticketCode=&registryKey=&startRecNo=0", 701),
        ("ticketCode=T", 701),
        ("ticketCode=T&startRecNo=abc", 701),
        ("ticketCode=T&startRecNo=-1", 701),
        ("ticketCode=T&startRecNo=0&lotQuantity=0", 701),
        ("ticketCode=T&startRecNo=0&searchMode=3", 703),
        ("registryKey=K&startRecNo=0&searchMode=x", 703),
    ] {
        let (status, answer) = fila.get_status(query).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{query}");
        assert_eq!(answer["code"], code, "{query}: {answer}");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_restfault_702() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("addr")).await;
    let fila = Setup::new()
        .workers(0)
        .database_url(format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            proxy.port
        ))
        .start()
        .await;
    let (status, _) = fila.get_status("ticketCode=T&startRecNo=0").await;
    assert_eq!(status, StatusCode::OK);
    proxy.cut();
    let (status, answer) = fila.get_status("ticketCode=T&startRecNo=0").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer["code"], 702);
    assert_eq!(
        answer["message"],
        "Erro na criacao/abertura da tabela TAFST2 ou TAFXERP."
    );
    let (status, answer) = fila.post_lot(&lot("T", vec![item("A")])).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer["code"], 702);
}
