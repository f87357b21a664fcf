//! Benchmark records: valid eSocial S-1010 events of about 2 KB, sent as
//! TAF lot items in base64.

use fila_tests::taf::{b64, item_with, lot, rubrica_xml};
use serde_json::{Value, json};

/// Size of one record's event, in bytes.
pub const RECORD_BYTES: usize = 2048;

/// An event of about [`RECORD_BYTES`] for `code`.
pub fn event(code: &str) -> String {
    let base = rubrica_xml(code, 0).len();
    let padding_element = rubrica_xml(code, 1).len() - base;
    rubrica_xml(code, RECORD_BYTES.saturating_sub(base) / padding_element)
}

/// A lot of `size` items keyed `<prefix>-<n>`.
pub fn taf_lot(ticket: &str, prefix: &str, size: usize) -> Value {
    let items = (0..size)
        .map(|n| {
            let key = format!("{prefix}-{n:05}");
            item_with(&key, json!({ "integrationMessage": b64(&event(&key)) }))
        })
        .collect();
    lot(ticket, items)
}
