//! EAI messages for the tests.

use serde_json::{Value, json};

/// A CUSTOMERVENDOR upsert in UpperCamelCase, with Content InternalId `id`.
pub fn message(uuid: &str, transaction: &str, id: &str) -> Value {
    json!({
        "Header": {
            "UUID": uuid,
            "Type": "BusinessMessage",
            "SubType": "event",
            "Event": "upsert",
            "Transaction": transaction,
            "Version": "2.000",
            "StandardVersion": "1.000",
            "SourceApplication": "RM",
            "ProductName": "RM",
            "ProductVersion": "12.1.2410",
            "CompanyId": "1",
            "BranchId": "01",
            "GeneratedOn": "2026-11-21T10:00:00-03:00",
            "DeliveryType": "async"
        },
        "Content": {
            "CompanyId": "1",
            "InternalId": id,
            "Code": id,
            "Name": format!("Customer {id}"),
            "Type": "Customer"
        }
    })
}

/// `message` with a change applied to its JSON (e.g. a removed field).
pub fn message_with(
    uuid: &str,
    transaction: &str,
    id: &str,
    change: impl FnOnce(&mut Value),
) -> Value {
    let mut message = message(uuid, transaction, id);
    change(&mut message);
    message
}
