//! Storing an accepted EAI request: one transaction writes the lot, its new
//! messages (one set-based INSERT; a UUID already received is skipped by its
//! primary key and reported as a duplicate pointing at its first lot) and
//! their queue messages: one for a whole businessTransaction lot; for single
//! messages and simpleBatch lots, chunks of up to `eai_chunk_size` messages
//! of entity-store Transactions (each still its own unit of work) and one
//! per message for HTTP destinations, so that a slow destination holds up
//! no other message. A message whose SourceApplication has a callback
//! (`eai_sources`) is marked to have its response message delivered back
//! once processed (see `eai::callback`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde_json::Value;

use super::callback::CALLBACK_AWAITING;
use super::chunking;
use super::lot::{BatchType, TransactionRequest};
use super::message::Message;
use super::problem::Problem;
use super::registry::Registry;
use crate::config::Config;
use crate::db::StoreError;
use crate::envelope::WorkMessage;
use crate::outbox::{self, OutboxMessage, Stored};

/// What became of one message of the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Receipt {
    Accepted {
        uuid: String,
    },
    Refused {
        uuid: Option<String>,
        details: Vec<Value>,
    },
    /// Received before, in lot `batch`: it is processed once.
    Duplicate {
        uuid: String,
        batch: String,
    },
}

impl Receipt {
    pub fn to_json(&self) -> Value {
        match self {
            Receipt::Accepted { uuid } => serde_json::json!({ "uuid": uuid, "status": "accepted" }),
            Receipt::Refused { uuid, details } => {
                serde_json::json!({ "uuid": uuid, "status": "refused", "details": details })
            }
            Receipt::Duplicate { uuid, batch } => serde_json::json!({
                "uuid": uuid,
                "status": "duplicate",
                "batchUUID": batch,
                "message": format!("Message {uuid} was received before, in lot {batch}; it is processed once."),
            }),
        }
    }
}

/// The stored request: its receipts, and the outbox rows to publish.
#[derive(Debug)]
pub struct Intake {
    pub receipts: Vec<Receipt>,
    pub stored: Vec<Stored>,
}

impl Intake {
    pub fn accepted(&self) -> usize {
        self.receipts
            .iter()
            .filter(|r| matches!(r, Receipt::Accepted { .. }))
            .count()
    }
}

/// Stores the request's valid messages under lot `batch`. `Ok(Err(_))` is a
/// refusal found only against what is stored (a reused batchUUID, a business
/// transaction that repeats messages).
pub async fn store(
    pool: &Pool,
    request: &TransactionRequest,
    batch: &str,
    registry: &Registry,
    config: &Config,
) -> Result<Result<Intake, Problem>, StoreError> {
    let chunk_size = config.eai_chunk_size;
    let messages: Vec<(i32, &Message)> = request
        .items
        .iter()
        .enumerate()
        .filter_map(|(seq, item)| Some((i32::try_from(seq).ok()?, item.as_ref().ok()?)))
        .collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let batch_created = tx
        .execute(
            "INSERT INTO eai_batch (id, batch_type, event, whole) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
            &[
                &batch,
                &request.batch_type.as_str(),
                &request.event.as_str(),
                &request.processed_whole(),
            ],
        )
        .await?
        == 1;
    let inserted = insert_messages(&tx, batch, request, &messages, config).await?;
    let repeated: Vec<&str> = messages
        .iter()
        .map(|(_, m)| m.header.uuid.as_str())
        .filter(|u| !inserted.contains(*u))
        .collect();
    let first_batches: HashMap<String, String> = tx
        .query(
            "SELECT uuid, batch_id FROM eai_message WHERE uuid = ANY($1)",
            &[&repeated],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    if !inserted.is_empty() && !batch_created {
        return Ok(Err(Problem::BatchTaken(batch.to_string())));
    }
    if !inserted.is_empty() && !repeated.is_empty() && request.batch_type == BatchType::Business {
        let repeated = repeated.iter().map(|u| u.to_string()).collect();
        return Ok(Err(Problem::RepeatedInBusinessLot(repeated)));
    }
    let work: Vec<WorkMessage> = if inserted.is_empty() {
        Vec::new()
    } else if request.processed_whole() {
        vec![WorkMessage::EaiBatch {
            batch: batch.to_string(),
        }]
    } else {
        let new = messages
            .iter()
            .map(|(_, m)| &m.header)
            .filter(|h| inserted.contains(&h.uuid))
            .map(|h| (h.uuid.as_str(), h.transaction.as_str()));
        chunking::work_messages(new, registry, chunk_size)
    };
    let stored = outbox::insert(
        &tx,
        work.iter().map(|w| OutboxMessage::work(w, 0)).collect(),
    )
    .await?;
    if inserted.is_empty() {
        // Nothing new: the lot row is not kept either.
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    let receipts = request
        .items
        .iter()
        .map(|item| match item {
            Err(refused) => Receipt::Refused {
                uuid: refused.uuid.clone(),
                details: vec![super::lot::refused_detail(refused)],
            },
            Ok(m) if inserted.contains(&m.header.uuid) => Receipt::Accepted {
                uuid: m.header.uuid.clone(),
            },
            Ok(m) => Receipt::Duplicate {
                uuid: m.header.uuid.clone(),
                batch: first_batches
                    .get(&m.header.uuid)
                    .cloned()
                    .unwrap_or_default(),
            },
        })
        .collect();
    Ok(Ok(Intake {
        receipts,
        stored: if inserted.is_empty() {
            Vec::new()
        } else {
            stored
        },
    }))
}

/// Inserts the messages not received before; returns the inserted UUIDs.
async fn insert_messages(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &str,
    request: &TransactionRequest,
    messages: &[(i32, &Message)],
    config: &Config,
) -> Result<HashSet<String>, StoreError> {
    if messages.is_empty() {
        return Ok(HashSet::new());
    }
    let column = |f: fn(&Message) -> Option<&str>| -> Vec<Option<&str>> {
        messages.iter().map(|(_, m)| f(m)).collect()
    };
    let seqs: Vec<i32> = messages.iter().map(|(s, _)| *s).collect();
    let uuids = column(|m| Some(&m.header.uuid));
    let transactions = column(|m| Some(&m.header.transaction));
    let versions = column(|m| Some(&m.header.version));
    let sub_types = column(|m| Some(m.header.sub_type.as_str()));
    let events: Vec<&str> = messages
        .iter()
        .map(|(_, m)| m.event(request.event).as_str())
        .collect();
    let callbacks: Vec<Option<&str>> = messages
        .iter()
        .map(|(_, m)| {
            config
                .eai_source(&m.header.source_application)
                .map(|_| CALLBACK_AWAITING)
        })
        .collect();
    let sources = column(|m| Some(&m.header.source_application));
    let companies = column(|m| m.header.company_id.as_deref());
    let branches = column(|m| m.header.branch_id.as_deref());
    let syncs: Vec<bool> = messages.iter().map(|(_, m)| m.header.sync).collect();
    let styles = column(|m| Some(m.style.as_str()));
    let headers: Vec<&Value> = messages.iter().map(|(_, m)| &m.raw_header).collect();
    let contents: Vec<&Value> = messages.iter().map(|(_, m)| &m.content).collect();
    let generated: Vec<Option<DateTime<Utc>>> = messages
        .iter()
        .map(|(_, m)| m.header.generated_on)
        .collect();
    // `arrival` (the acceptance order) is given by its sequence as the rows
    // come, in the lot's order.
    let statement = tx
        .prepare_cached(
            "INSERT INTO eai_message (batch_id, event, uuid, seq, transaction, version, sub_type,
                 source_application, company_id, branch_id, sync, key_style, header, content,
                 generated_on, callback)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int4[], $5::text[], $6::text[],
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[],
                 $13::jsonb[], $14::jsonb[], $15::timestamptz[], $16::text[])
             ON CONFLICT (uuid) DO NOTHING
             RETURNING uuid",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[
                &batch,
                &events,
                &uuids,
                &seqs,
                &transactions,
                &versions,
                &sub_types,
                &sources,
                &companies,
                &branches,
                &syncs,
                &styles,
                &headers,
                &contents,
                &generated,
                &callbacks,
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
