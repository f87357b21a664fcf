//! The result of a finished TAF record, as published to `<prefix>.results`
//! with routing key `taf.processed` or `taf.error`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordResult {
    /// The record's RecNo.
    pub rec_no: i64,
    pub ticket_code: String,
    pub registry_key: String,
    pub registry_type: String,
    pub source_branch: String,
    /// `processed` or `error`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// The worker that processed the record.
    pub worker: String,
}
