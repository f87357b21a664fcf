//! `/totvseai/standardmessage/v1/contents`: the entity store, synchronously.

use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CONTENTS: &str = "/totvseai/standardmessage/v1/contents";

async fn call(fila: &Fila, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = fila.request(method, &format!("{CONTENTS}{path}"));
    send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

#[tokio::test]
async fn contents_are_upserted_read_listed_and_deleted() {
    let fila = Setup::new().workers(0).start().await;
    for (id, description) in [("I1", "Bolt"), ("I2", "Nut"), ("I3", "Bolt")] {
        let (status, answer) = call(
            &fila,
            Method::POST,
            "/ITEM",
            Some(json!({ "InternalId": id, "Description": description })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["Content"]["ProcessingInformation"]["Status"], "OK");
        assert_eq!(
            answer["Content"]["ReturnContent"]["ListOfInternalId"][0]["Origin"],
            id
        );
    }
    let (status, item) = call(&fila, Method::GET, "/ITEM/I2", None).await;
    assert_eq!(
        (status, item["Description"].as_str()),
        (StatusCode::OK, Some("Nut"))
    );

    let (_, page) = call(
        &fila,
        Method::GET,
        "/ITEM?pageSize=2&order=-internalId",
        None,
    )
    .await;
    assert_eq!(page["hasNext"], true);
    assert_eq!(page["items"][0]["InternalId"], "I3");
    let (_, filtered) = call(&fila, Method::GET, "/ITEM?Description=Bolt", None).await;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(filtered["hasNext"], false);
    let (status, _) = call(&fila, Method::GET, "/ITEM?order=-Description", None).await;
    assert_eq!(status, StatusCode::OK, "Content attributes order a list");

    let (status, answer) = call(&fila, Method::DELETE, "/ITEM/I2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Content"]["ReceivedMessage"]["Event"], "delete");
    assert_eq!(
        call(&fila, Method::GET, "/ITEM/I2", None).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = call(
        &fila,
        Method::DELETE,
        "/ITEM",
        Some(json!({ "InternalId": "I1" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        call(&fila, Method::GET, "/ITEM/I1", None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// The TOTVS API guide's list parameters as a Protheus or RM client sends
/// them, under the `/rest` root Protheus serves EAI at.
#[tokio::test]
async fn contents_honor_fields_expand_order_and_case_insensitive_filters() {
    let fila = Setup::new().workers(0).start().await;
    for (id, description, code) in [
        ("I1", "Bolt", "B"),
        ("I2", "Nut", "A"),
        ("I3", "Screw", "C"),
    ] {
        let (status, answer) = call(
            &fila,
            Method::POST,
            "/ITEM",
            Some(json!({ "InternalId": id, "Description": description, "Code": code })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let list = |query: &'static str| {
        let request = fila.request(
            Method::GET,
            &format!("/rest/totvseai/standardmessage/v1/contents/ITEM{query}"),
        );
        async move { send(request).await }
    };
    let (status, page) = list("?fields=internalId,description&order=-code").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["items"],
        json!([
            { "InternalId": "I3", "Description": "Screw" },
            { "InternalId": "I1", "Description": "Bolt" },
            { "InternalId": "I2", "Description": "Nut" }
        ]),
        "fields limits the attributes, order takes a Content attribute"
    );
    let (status, page) = list("?description=Nut&expand=items").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["items"],
        json!([{ "InternalId": "I2", "Description": "Nut", "Code": "A" }]),
        "filters match keys ignoring case; expand is no filter"
    );
    let (status, one) = call(&fila, Method::GET, "/ITEM/I1?fields=Code", None).await;
    assert_eq!((status, one), (StatusCode::OK, json!({ "Code": "B" })));
}

#[tokio::test]
async fn a_message_body_is_accepted_and_validated() {
    let schema =
        std::env::temp_dir().join(format!("fila-contents-schema-{}.json", std::process::id()));
    std::fs::write(&schema, r#"{"type":"object","required":["Name"]}"#).expect("schema");
    let fila = Setup::new()
        .workers(0)
        .toml(&format!(
            "[[eai_transactions]]\ntransaction = \"PRODUCT\"\n[eai_transactions.schemas]\n\"2.000\" = \"{}\"\n",
            schema.display()
        ))
        .start()
        .await;
    let (status, answer) = call(
        &fila,
        Method::POST,
        "/PRODUCT",
        Some(message("C-1", "PRODUCT", "P1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["Content"]["ReceivedMessage"]["UUID"], "C-1");
    let mut unnamed = message("C-2", "PRODUCT", "P2");
    unnamed["Content"]
        .as_object_mut()
        .expect("content")
        .remove("Name");
    let (status, answer) = call(&fila, Method::POST, "/PRODUCT", Some(unnamed)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["Content"]["ProcessingInformation"]["Status"],
        "ERROR"
    );
    assert_eq!(
        answer["Content"]["ProcessingInformation"]["Details"][0]["code"],
        "EAI-201"
    );
    assert_eq!(
        call(&fila, Method::GET, "/PRODUCT/P2", None).await.0,
        StatusCode::NOT_FOUND
    );
    let _ = std::fs::remove_file(schema);
}

#[tokio::test]
async fn contents_refuse_what_they_cannot_do() {
    let fila = Setup::new()
        .workers(0)
        .toml("[[eai_transactions]]\ntransaction = \"ORDER\"\ndestination = \"http\"\nurl = \"http://127.0.0.1:9/\"\n")
        .start()
        .await;
    let (status, body) = call(&fila, Method::GET, "/NOPE", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("EAI-104"))
    );
    let (status, body) = call(&fila, Method::GET, "/ORDER", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("EAI-207"))
    );
    let (status, body) = call(
        &fila,
        Method::POST,
        "/ITEM",
        Some(json!({ "Description": "x" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["Content"]["ProcessingInformation"]["Details"][0]["code"],
        "EAI-202"
    );
    let request = fila
        .request(Method::POST, &format!("{CONTENTS}/ITEM"))
        .header("Content-Type", "application/json")
        .body("{not json");
    let (status, body) = send(request).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("EAI-001"))
    );
}
