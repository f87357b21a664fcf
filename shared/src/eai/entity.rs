//! The entity store: the current version of each entity by Transaction and
//! InternalId, in `eai_entity`. fila gives each entity its own id (the
//! Destination of ListOfInternalId), kept across updates.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::keys::field;
use super::listing::{ListField, Listing};
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
     to_char(e.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

fn from_row(row: &tokio_postgres::Row) -> Entity {
    Entity {
        internal_id: row.get(0),
        destination_id: row.get(1),
        version: row.get(2),
        content: row.get(3),
        updated_at: row.get(4),
    }
}

/// Inserts or replaces an entity; returns its fila id.
pub async fn upsert(
    client: &impl GenericClient,
    transaction: &str,
    internal_id: &str,
    version: &str,
    content: &Value,
    message_uuid: Option<&str>,
) -> Result<i64, StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO eai_entity (transaction, internal_id, version, content, message_uuid)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (transaction, internal_id) DO UPDATE
                 SET version = excluded.version, content = excluded.content,
                     message_uuid = excluded.message_uuid, updated_at = now()
             RETURNING destination_id",
        )
        .await?;
    Ok(client
        .query_one(
            &statement,
            &[&transaction, &internal_id, &version, content, &message_uuid],
        )
        .await?
        .get(0))
}

/// Deletes an entity; returns its fila id, `None` when there was none.
pub async fn delete(
    client: &impl GenericClient,
    transaction: &str,
    internal_id: &str,
) -> Result<Option<i64>, StoreError> {
    let statement = client
        .prepare_cached(
            "DELETE FROM eai_entity WHERE transaction = $1 AND internal_id = $2
             RETURNING destination_id",
        )
        .await?;
    Ok(client
        .query_opt(&statement, &[&transaction, &internal_id])
        .await?
        .map(|row| row.get(0)))
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
            "SELECT {COLUMNS} FROM eai_entity e WHERE e.transaction = $1 AND e.internal_id = $2"
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
    for (name, value) in &listing.extra {
        params.push(name);
        params.push(value);
        conditions.push_str(&format!(
            " AND e.content ->> ${} = ${}",
            params.len() - 1,
            params.len()
        ));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM eai_entity e WHERE e.transaction = $1{conditions} {} {}",
        listing.order_by("e.internal_id"),
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
