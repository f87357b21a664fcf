//! `GET /rest/wstafst2`: the status of records by ticketCode and/or
//! registryKey, in RecNo order from `startRecNo`, in pages of at most
//! `taf_page_max_items` items (500) or `taf_page_max_bytes` (850 KB),
//! whichever comes first. `lastRecNo` is the RecNo of the page's last item
//! and `maxRecNo` the highest RecNo the query matches, so following
//! `startRecNo = lastRecNo + 1` until `lastRecNo == maxRecNo` returns every
//! record once. When nothing matches from `startRecNo` on, the page holds
//! the real server's one "not found" item and `lastRecNo` and `maxRecNo`
//! are 0. As in TAF, a RecNo is given when a record is
//! accepted: a lot still being written while a client pages through the
//! same ticket or key can show up behind that client's `startRecNo`.

use deadpool_postgres::Pool;
use serde::Serialize;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::record::{Priority, QueueCode, RecordStatus};
use super::scope::Scope;
use crate::db::StoreError;

/// `searchMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// Absent: every occurrence.
    All,
    /// 1: only the last occurrence of each registryKey.
    Last,
    /// 2: only the last processed occurrence of each registryKey.
    LastValid,
}

/// A checked status query.
#[derive(Debug, Clone)]
pub struct StatusQuery {
    pub ticket_code: Option<String>,
    pub registry_key: Option<String>,
    pub source_branch: Option<String>,
    /// The company group of `source_branch`: the request is limited to it.
    pub company_group: Option<String>,
    pub start_rec_no: i64,
    pub search_mode: SearchMode,
    /// Most items in the page (`lotQuantity`, capped by configuration).
    pub max_items: usize,
    /// Largest body of the page.
    pub max_bytes: usize,
    /// The caller's scope: records outside it do not exist for the caller.
    pub scope: Scope,
}

impl StatusQuery {
    /// Grouped by registryKey only when it is given without a ticketCode.
    fn by_key(&self) -> bool {
        self.ticket_code.is_none()
    }
}

/// The attributes every item starts with, in the real server's order. Alone,
/// the item the real server answers when nothing matches: it then names
/// the code asked for under the other attribute (`registryKey` holds the
/// ticketCode asked for, and the other way round), as that server does.
#[derive(Serialize)]
struct Head<'a> {
    success: bool,
    proccessed: bool,
    description: &'a str,
    #[serde(rename = "registryKey", skip_serializing_if = "Option::is_none")]
    registry_key: Option<&'a str>,
    #[serde(rename = "ticketCode", skip_serializing_if = "Option::is_none")]
    ticket_code: Option<&'a str>,
}

/// One item of the page, its attributes in the real server's order.
#[derive(Serialize)]
struct Item<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    #[serde(flatten)]
    state: State<'a>,
    /// Errors of the government's answer: fila transmits nothing.
    #[serde(rename = "streamingErrors")]
    streaming_errors: [(); 0],
    #[serde(rename = "xmlRetResponse")]
    xml_ret_response: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum State<'a> {
    Processed {
        #[serde(rename = "statusCode")]
        status_code: &'a str,
        #[serde(rename = "statusDescription")]
        status_description: &'a str,
        active: bool,
        #[serde(rename = "receiptNumber")]
        receipt_number: &'a str,
    },
    Open {
        #[serde(rename = "errorCode")]
        error_code: &'a str,
        #[serde(rename = "errorDescription")]
        error_description: &'a str,
        #[serde(rename = "errorDetail")]
        error_detail: &'a str,
        #[serde(rename = "registryPriority")]
        registry_priority: String,
        #[serde(rename = "integrationQueue")]
        integration_queue: &'a str,
        #[serde(rename = "erpOwner", skip_serializing_if = "Option::is_none")]
        erp_owner: Option<&'a str>,
        #[serde(
            rename = "registryPredecessor",
            skip_serializing_if = "Option::is_none"
        )]
        registry_predecessor: Option<&'a str>,
        #[serde(rename = "transferBranch", skip_serializing_if = "Option::is_none")]
        transfer_branch: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        complement: Option<&'a str>,
    },
}

const NOT_FOUND: &str = "Registro não encontrado na tabela TAFST2.";

#[derive(Serialize)]
struct PageHead<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
}

/// The page as the JSON body of the answer.
pub async fn page(pool: &Pool, query: &StatusQuery) -> Result<Vec<u8>, StoreError> {
    let present = present_filters(query);
    let mut params: Vec<&(dyn ToSql + Sync)> = present.iter().map(|(_, v)| *v as _).collect();
    let scope = &query.scope;
    let filters = conditions(&present, "r") + &scope.condition("r", params.len() + 1);
    let inner = conditions(&present, "r2") + &scope.condition("r2", params.len() + 1);
    params.extend(scope.params());
    let mode = match query.search_mode {
        SearchMode::All => String::new(),
        SearchMode::Last => format!(
            " AND r.id = (SELECT max(r2.id) FROM taf_record r2
                          WHERE r2.registry_key = r.registry_key{inner})"
        ),
        SearchMode::LastValid => format!(
            " AND r.status = 'processed'
              AND r.id = (SELECT max(r2.id) FROM taf_record r2
                          WHERE r2.registry_key = r.registry_key AND r2.status = 'processed'{inner})"
        ),
    };
    let max_filter = match query.search_mode {
        SearchMode::LastValid => " AND r.status = 'processed'",
        _ => "",
    };
    // One snapshot for maxRecNo and the page, so that lastRecNo never passes
    // maxRecNo.
    let mut client = pool.get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let max_sql =
        format!("SELECT coalesce(max(r.id), 0) FROM taf_record r WHERE true{filters}{max_filter}");
    let max_rec_no: i64 = tx
        .query_one(&tx.prepare_cached(&max_sql).await?, &params)
        .await?
        .get(0);

    let limit = i64::try_from(query.max_items).unwrap_or(i64::MAX);
    let start_index = params.len() + 1;
    params.push(&query.start_rec_no);
    params.push(&limit);
    let sql = format!(
        "SELECT r.id, r.ticket_code, r.registry_key, r.status, r.priority, r.integration_queue,
                r.status_code, r.status_description, r.active, r.error_code,
                r.error_description, r.error_detail, r.erp_owner, r.predecessor_key,
                r.transfer_branch, r.complement
         FROM taf_record r
         WHERE r.id >= ${start_index}{filters}{mode}
         ORDER BY r.id LIMIT ${}",
        start_index + 1
    );
    let rows = tx.query(&tx.prepare_cached(&sql).await?, &params).await?;
    tx.commit().await?;
    Ok(render(query, &rows, max_rec_no))
}

/// The filters the query uses, as `(column, value)`; parameter `$n` is the
/// n-th of them.
fn present_filters(query: &StatusQuery) -> Vec<(&'static str, &String)> {
    [
        ("ticket_code", &query.ticket_code),
        ("registry_key", &query.registry_key),
        ("source_branch", &query.source_branch),
        ("company_group", &query.company_group),
    ]
    .into_iter()
    .filter_map(|(column, value)| Some((column, value.as_ref()?)))
    .collect()
}

/// The filters as SQL conditions on `alias`, each starting with ` AND `.
fn conditions(present: &[(&str, &String)], alias: &str) -> String {
    present
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!(" AND {alias}.{column} = ${}", i + 1))
        .collect()
}

fn render(query: &StatusQuery, rows: &[tokio_postgres::Row], mut max_rec_no: i64) -> Vec<u8> {
    let (kind, code) = if query.by_key() {
        (
            "registryKey",
            query.registry_key.as_deref().unwrap_or_default(),
        )
    } else {
        (
            "ticketCode",
            query.ticket_code.as_deref().unwrap_or_default(),
        )
    };
    let head = serde_json::to_vec(&PageHead { kind, code }).unwrap_or_default();
    // `{"type":..,"code":..` + `,"items":[` .. `],"lastRecNo":N,"maxRecNo":N}`
    let tail_room = 64;
    let mut body = Vec::with_capacity(64 * 1024);
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    let mut last_rec_no = max_rec_no;
    let mut count = 0;
    for row in rows {
        let item = serde_json::to_vec(&item(query, row)).unwrap_or_default();
        if count > 0 && body.len() + item.len() + 1 + tail_room > query.max_bytes {
            break;
        }
        if count > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&item);
        last_rec_no = row.get(0);
        count += 1;
    }
    if count == 0 {
        let (registry_key, ticket_code) = if query.by_key() {
            (None, Some(code))
        } else {
            (Some(code), None)
        };
        let not_found = Head {
            success: false,
            proccessed: false,
            description: NOT_FOUND,
            registry_key,
            ticket_code,
        };
        body.extend_from_slice(&serde_json::to_vec(&not_found).unwrap_or_default());
        last_rec_no = 0;
        max_rec_no = 0;
    }
    body.extend_from_slice(
        format!("],\"lastRecNo\":{last_rec_no},\"maxRecNo\":{max_rec_no}}}").as_bytes(),
    );
    body
}

fn item<'r>(query: &StatusQuery, row: &'r tokio_postgres::Row) -> Item<'r> {
    let status = RecordStatus::from_db(row.get("status"));
    let queued = QueueCode::parse(row.get("integration_queue")) == QueueCode::On;
    let (registry_key, ticket_code) = if query.by_key() {
        (None, Some(row.get("ticket_code")))
    } else {
        (Some(row.get("registry_key")), None)
    };
    let text = |column: &str| row.get::<_, Option<&str>>(column);
    let sent = |column: &str| text(column).filter(|t| !t.is_empty());
    let (description, state) = if status == RecordStatus::Processed {
        (
            "Registro Processado.",
            State::Processed {
                status_code: text("status_code").unwrap_or(" "),
                status_description: text("status_description").unwrap_or_default(),
                active: row.get::<_, Option<bool>>("active").unwrap_or(true),
                receipt_number: "",
            },
        )
    } else {
        let description = match status {
            RecordStatus::Waiting => "Aguardando Processamento do Predecessor.",
            RecordStatus::Error => "Registro Inconsistente.",
            _ => "Aguardando Processamento.",
        };
        // A rejected record is no longer in the queue: "" tells RM to give
        // it up, as the real server answers.
        let integration_queue = if queued && status != RecordStatus::Error {
            "F"
        } else {
            ""
        };
        (
            description,
            State::Open {
                error_code: text("error_code").unwrap_or_default(),
                error_description: text("error_description").unwrap_or_default(),
                error_detail: text("error_detail").unwrap_or_default(),
                registry_priority: Priority::from_i16(row.get("priority")).value().to_string(),
                integration_queue,
                erp_owner: sent("erp_owner"),
                registry_predecessor: sent("predecessor_key"),
                transfer_branch: sent("transfer_branch"),
                complement: sent("complement"),
            },
        )
    };
    Item {
        head: Head {
            success: true,
            proccessed: status == RecordStatus::Processed,
            description,
            registry_key,
            ticket_code,
        },
        state,
        streaming_errors: [],
        xml_ret_response: "",
    }
}
