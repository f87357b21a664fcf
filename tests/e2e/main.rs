//! End-to-end tests: the real binaries against the real services.

mod eai_contents;
mod eai_transactions;
mod service;
mod taf_delete;
mod taf_intake;
mod taf_processing;
mod taf_status;
