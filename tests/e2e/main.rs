//! End-to-end tests: the real binaries against the real services.

mod abuse;
mod access;
mod backpressure;
mod dead_letters;
mod eai_contents;
mod eai_transactions;
mod faults;
mod metrics;
mod openapi;
mod ops;
mod process_creatio;
mod process_runners;
mod process_scheduler;
mod process_wsprocess;
mod queues;
mod service;
mod shutdown;
mod soak;
mod taf_delete;
mod taf_intake;
mod taf_processing;
mod taf_retry;
mod taf_scope;
mod taf_status;
mod traces;
mod ui;
