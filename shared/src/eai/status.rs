//! Reading EAI messages and lots back:
//!
//! - a message's response message once processed (`GET /transactions/{uuid}`);
//! - a lot's counts and its messages' states, listed with the TOTVS API
//!   guide's paging, ordering and filters (`GET /batches/{batchUUID}`).

use deadpool_postgres::Pool;
use serde_json::{Value, json};
use tokio_postgres::types::ToSql;

use super::keys::KeyStyle;
use super::listing::{ListField, Listing};
use super::lot::BatchType;
use super::message::Event;
use super::response::{Answered, Outcome, Status, response_message};
use crate::db::StoreError;

/// Where a message is.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageState {
    Unknown,
    Pending {
        batch: String,
    },
    /// Its response message.
    Processed(Value),
}

pub async fn message(pool: &Pool, uuid: &str) -> Result<MessageState, StoreError> {
    if uuid.contains('\0') {
        return Ok(MessageState::Unknown);
    }
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT batch_id, status, details, return_content, response_uuid,
                    to_char(processed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                    key_style, transaction, version, source_application, event, company_id,
                    branch_id
             FROM eai_message WHERE uuid = $1",
            &[&uuid],
        )
        .await?;
    let Some(row) = row else {
        return Ok(MessageState::Unknown);
    };
    let status: &str = row.get(1);
    if status == "pending" {
        return Ok(MessageState::Pending { batch: row.get(0) });
    }
    let details: Option<Value> = row.get(2);
    let outcome = Outcome {
        status: if status == "ok" {
            Status::Ok
        } else {
            Status::Error
        },
        details: details
            .and_then(|d| d.as_array().cloned())
            .unwrap_or_default(),
        return_content: row.get(3),
    };
    let response_uuid: String = row.get::<_, Option<String>>(4).unwrap_or_default();
    let processed_on: String = row.get::<_, Option<String>>(5).unwrap_or_default();
    let event = Event::from_db(row.get(10));
    let answered = Answered {
        uuid,
        transaction: row.get(7),
        version: row.get(8),
        source_application: row.get(9),
        event: event.as_str(),
        company_id: row.get(11),
        branch_id: row.get(12),
        style: KeyStyle::from_db(row.get(6)),
    };
    Ok(MessageState::Processed(response_message(
        &answered,
        &response_uuid,
        &processed_on,
        &outcome,
    )))
}

/// The fields a lot's messages can be ordered and filtered by.
pub const MESSAGE_FIELDS: &[ListField] = &[
    ListField {
        name: "uuid",
        sql: "m.uuid",
    },
    ListField {
        name: "transaction",
        sql: "m.transaction",
    },
    ListField {
        name: "version",
        sql: "m.version",
    },
    ListField {
        name: "event",
        sql: "m.event",
    },
    ListField {
        name: "status",
        sql: "m.status",
    },
    ListField {
        name: "processedOn",
        sql: "m.processed_on",
    },
    ListField {
        name: "seq",
        sql: "m.seq",
    },
];

/// A lot's status and one page of its messages; `None` for an unknown lot.
pub async fn batch(pool: &Pool, id: &str, listing: &Listing) -> Result<Option<Value>, StoreError> {
    if id.contains('\0') {
        return Ok(None);
    }
    let client = pool.get().await?;
    let Some(lot) = client
        .query_opt(
            "SELECT batch_type, event,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
             FROM eai_batch WHERE id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let counts = client
        .query(
            "SELECT status, count(*) FROM eai_message WHERE batch_id = $1 GROUP BY status",
            &[&id],
        )
        .await?;
    let count = |status: &str| -> i64 {
        counts
            .iter()
            .find(|r| r.get::<_, &str>(0) == status)
            .map_or(0, |r| r.get(1))
    };
    let (pending, ok, error) = (count("pending"), count("ok"), count("error"));
    let batch_type = BatchType::from_db(lot.get(0));
    let status = if pending > 0 {
        "processing"
    } else if batch_type == BatchType::Business && error > 0 {
        "error"
    } else {
        "processed"
    };

    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id];
    let filters: Vec<(&str, String)> = listing
        .filters
        .iter()
        .map(|(sql, value)| {
            let value = if *sql == "m.status" {
                value.to_ascii_lowercase()
            } else {
                value.clone()
            };
            (*sql, value)
        })
        .collect();
    let mut conditions = String::new();
    for (sql, value) in &filters {
        params.push(value);
        conditions.push_str(&format!(" AND {sql}::text = ${}", params.len()));
    }
    let sql = format!(
        "SELECT m.uuid, m.transaction, m.version, m.event, m.status, m.details,
                to_char(m.processed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
         FROM eai_message m WHERE m.batch_id = $1{conditions} {} {}",
        listing.order_by("m.seq"),
        listing.limit_offset()
    );
    let rows = client.query(&sql, &params).await?;
    let has_next = rows.len() as i64 > listing.page_size;
    let items: Vec<Value> = rows
        .iter()
        .take(usize::try_from(listing.page_size).unwrap_or(usize::MAX))
        .map(|row| {
            let status = match row.get::<_, &str>(4) {
                "ok" => "OK",
                "error" => "ERROR",
                _ => "pending",
            };
            json!({
                "uuid": row.get::<_, String>(0),
                "transaction": row.get::<_, String>(1),
                "version": row.get::<_, String>(2),
                "event": row.get::<_, String>(3),
                "status": status,
                "processedOn": row.get::<_, Option<String>>(6),
                "details": row.get::<_, Option<Value>>(5).unwrap_or_else(|| json!([])),
            })
        })
        .collect();
    Ok(Some(json!({
        "batchUUID": id,
        "batchType": batch_type.as_str(),
        "event": lot.get::<_, String>(1),
        "receivedOn": lot.get::<_, String>(2),
        "status": status,
        "total": pending + ok + error,
        "pending": pending,
        "ok": ok,
        "error": error,
        "hasNext": has_next,
        "items": items,
    })))
}
