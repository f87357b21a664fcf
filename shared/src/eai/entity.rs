//! The entity store: the current version of each entity by Transaction and
//! InternalId, in `eai_entity`, written in its producers' order (see
//! `eai::order`). A deleted entity stays as a tombstone that no read
//! returns, holding the place of its delete. fila gives each entity its own
//! id (the Destination of ListOfInternalId), kept across updates and
//! deletes.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::keys::field;
use super::listing::{ListField, Listing};
use super::order::{OrderKey, Superseded};
use crate::db::StoreError;

/// An entity as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub internal_id: String,
    pub destination_id: i64,
    pub version: String,
    pub content: Value,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// The fields entity lists can be ordered and filtered by; other filters
/// apply to the Content's top-level fields.
pub const ENTITY_FIELDS: &[ListField] = &[
    ListField {
        name: "internalId",
        sql: "e.internal_id",
    },
    ListField {
        name: "version",
        sql: "e.version",
    },
    ListField {
        name: "updatedAt",
        sql: "e.updated_at",
    },
];

/// The entity's InternalId, from the Content (text or number).
pub fn internal_id(content: &Value) -> Option<String> {
    let map = content.as_object()?;
    match field(map, "InternalId")? {
        Value::String(s) if !s.trim().is_empty() && !s.contains('\0') => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

const COLUMNS: &str = "e.internal_id, e.destination_id, e.version, e.content,
     to_char(e.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at";

fn from_row(row: &tokio_postgres::Row) -> Entity {
    Entity {
        internal_id: row.get("internal_id"),
        destination_id: row.get("destination_id"),
        version: row.get("version"),
        content: row.get("content"),
        updated_at: row.get("updated_at"),
    }
}

/// A change of an entity: an upsert, or a delete (which leaves a
/// tombstone), at its place in the producer's order.
pub struct Change<'a> {
    pub transaction: &'a str,
    pub internal_id: &'a str,
    pub version: &'a str,
    pub content: &'a Value,
    pub message_uuid: Option<&'a str>,
    pub order: OrderKey,
    pub delete: bool,
}

/// What a change came to, with fila's id of the entity: the same for the
/// InternalId's whole history, deletes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The store now holds the change.
    Applied { destination_id: i64 },
    /// The store holds a later change: nothing changed.
    Superseded { destination_id: i64, by: Superseded },
}

/// Applies a change unless the store holds a later one, in one statement:
/// the conflicting row is locked before its place is compared, so that
/// writers of one entity on several connections wait for each other and
/// the latest place wins whatever the order of their commits (the rule of
/// `OrderKey::supersedes`).
pub async fn write(
    client: &impl GenericClient,
    change: &Change<'_>,
) -> Result<Written, StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO eai_entity AS e (transaction, internal_id, version, content,
                 message_uuid, order_time, order_arrival, deleted)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (transaction, internal_id) DO UPDATE
                 SET version = excluded.version, content = excluded.content,
                     message_uuid = excluded.message_uuid, order_time = excluded.order_time,
                     order_arrival = excluded.order_arrival, deleted = excluded.deleted,
                     updated_at = now()
                 WHERE e.order_time IS NULL
                    OR (e.order_time, e.order_arrival) < (excluded.order_time, excluded.order_arrival)
             RETURNING destination_id",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 8] = [
        &change.transaction,
        &change.internal_id,
        &change.version,
        change.content,
        &change.message_uuid,
        &change.order.time,
        &change.order.arrival,
        &change.delete,
    ];
    if let Some(row) = client.query_opt(&statement, &params).await? {
        return Ok(Written::Applied {
            destination_id: row.get("destination_id"),
        });
    }
    // The row this statement locked holds a later change.
    let held = client
        .prepare_cached(
            "SELECT destination_id, message_uuid, order_time, deleted FROM eai_entity
             WHERE transaction = $1 AND internal_id = $2",
        )
        .await?;
    let row = client
        .query_one(&held, &[&change.transaction, &change.internal_id])
        .await?;
    Ok(Written::Superseded {
        destination_id: row.get("destination_id"),
        by: Superseded {
            by: row.get("message_uuid"),
            time: row.get("order_time"),
            deleted: row.get("deleted"),
        },
    })
}

/// The place of a change made now (a `/contents` write): `time` (a
/// message's GeneratedOn) or the store's clock, and the next acceptance
/// number.
pub async fn place_now(
    client: &impl GenericClient,
    time: Option<DateTime<Utc>>,
) -> Result<OrderKey, StoreError> {
    let statement = client
        .prepare_cached("SELECT coalesce($1, now()) AS time, nextval('eai_arrival') AS arrival")
        .await?;
    let row = client.query_one(&statement, &[&time]).await?;
    Ok(OrderKey {
        time: row.get("time"),
        arrival: row.get("arrival"),
    })
}

pub async fn get(
    client: &impl GenericClient,
    transaction: &str,
    internal_id: &str,
) -> Result<Option<Entity>, StoreError> {
    if internal_id.contains('\0') {
        return Ok(None);
    }
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM eai_entity e
             WHERE e.transaction = $1 AND e.internal_id = $2 AND NOT e.deleted"
        ))
        .await?;
    Ok(client
        .query_opt(&statement, &[&transaction, &internal_id])
        .await?
        .as_ref()
        .map(from_row))
}

/// One page of a Transaction's entities; and whether more follow.
pub async fn list(
    client: &impl GenericClient,
    transaction: &str,
    listing: &Listing,
) -> Result<(Vec<Entity>, bool), StoreError> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&transaction];
    let mut conditions = String::new();
    for (sql, value) in &listing.filters {
        params.push(value);
        conditions.push_str(&format!(" AND {sql}::text = ${}", params.len()));
    }
    // The Content's attributes are matched by name ignoring case, as EAI
    // keys are everywhere.
    for (name, value) in &listing.extra {
        params.push(name);
        params.push(value);
        conditions.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM jsonb_each_text(e.content) a
                          WHERE lower(a.key) = lower(${}) AND a.value = ${})",
            params.len() - 1,
            params.len()
        ));
    }
    let order = listing.order_by_with("e.internal_id", |name| {
        params.push(name);
        Some(format!(
            "(SELECT a.value FROM jsonb_each(e.content) a WHERE lower(a.key) = lower(${}) \
             ORDER BY a.key LIMIT 1)",
            params.len()
        ))
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM eai_entity e WHERE e.transaction = $1 AND NOT e.deleted{conditions} {order} {}",
        listing.limit_offset()
    );
    let mut rows: Vec<Entity> = client
        .query(&sql, &params)
        .await?
        .iter()
        .map(from_row)
        .collect();
    let has_next = rows.len() as i64 > listing.page_size;
    rows.truncate(usize::try_from(listing.page_size).unwrap_or(usize::MAX));
    Ok((rows, has_next))
}
