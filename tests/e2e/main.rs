//! End-to-end tests: the real binaries against the real services.

mod service;
mod taf_delete;
mod taf_intake;
mod taf_processing;
mod taf_status;
