//! Paging through `GET /rest/wstafst2` as the TAF documentation says: from
//! `startRecNo=0`, then `lastRecNo + 1`, until `lastRecNo == maxRecNo`.
//! The "not found" item of a query that matches nothing is no record and is
//! left out.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Client, ClientError};

/// What to list: a ticket, a registryKey, or both.
pub struct Query<'a> {
    pub ticket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub search_mode: Option<&'a str>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(rename = "type")]
    kind: String,
    code: String,
    items: Vec<Value>,
    #[serde(rename = "lastRecNo")]
    last_rec_no: i64,
    #[serde(rename = "maxRecNo")]
    max_rec_no: i64,
}

/// Every item of a query, from all its pages.
pub struct Listing {
    pub kind: String,
    pub code: String,
    pub items: Vec<Value>,
    pub last_rec_no: i64,
    pub max_rec_no: i64,
}

impl Listing {
    /// One document in the shape of a page, holding every item.
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.kind,
            "code": self.code,
            "items": self.items,
            "lastRecNo": self.last_rec_no,
            "maxRecNo": self.max_rec_no,
        })
    }
}

pub fn fetch_all(client: &Client, query: &Query) -> Result<Listing, ClientError> {
    let first = fetch_page(client, query, 0)?;
    let mut listing = Listing {
        kind: first.kind,
        code: first.code,
        items: first.items,
        last_rec_no: first.last_rec_no,
        max_rec_no: first.max_rec_no,
    };
    while listing.last_rec_no < listing.max_rec_no {
        let page = fetch_page(client, query, listing.last_rec_no + 1)?;
        listing.items.extend(page.items);
        listing.last_rec_no = page.last_rec_no;
        listing.max_rec_no = page.max_rec_no;
    }
    Ok(listing)
}

/// The page from `start`; one that is not the last must move forward.
fn fetch_page(client: &Client, query: &Query, start: i64) -> Result<Page, ClientError> {
    let start_text = start.to_string();
    let mut pairs = vec![("startRecNo", start_text.as_str())];
    pairs.extend(query.ticket.map(|t| ("ticketCode", t)));
    pairs.extend(query.key.map(|k| ("registryKey", k)));
    pairs.extend(query.search_mode.map(|m| ("searchMode", m)));
    let answer = client
        .get(client.url(&["rest", "wstafst2"], &pairs))?
        .ok()?;
    let mut page: Page = serde_json::from_value(answer.body.clone())
        .map_err(|e| answer.unexpected(format!("not a TAF status page: {e}")))?;
    // When nothing matches, the page holds one item with `success` false
    // (the real server's "Registro não encontrado"): it names no record.
    page.items
        .retain(|item| item["success"] != Value::Bool(false));
    if page.last_rec_no < page.max_rec_no && (page.items.is_empty() || page.last_rec_no < start) {
        return Err(answer.unexpected(format!(
            "the page from RecNo {start} does not advance (lastRecNo {}, maxRecNo {})",
            page.last_rec_no, page.max_rec_no
        )));
    }
    Ok(page)
}
