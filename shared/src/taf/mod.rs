//! TAF lots (TOTVS Automação Fiscal, WSTAFST2): eSocial and EFD-REINF records
//! (XML) and TAF layouts (TXT)
//! pushed in lots by ERPs, processed one by one by the workers, and followed
//! by ticketCode / registryKey. The wire format is seed 001's.

pub mod branch;
pub mod chunking;
pub mod codes;
pub mod event_xml;
pub mod examine;
pub mod field;
pub mod intake;
pub mod job;
pub mod lenient_json;
pub mod lot;
pub mod record;
pub mod registry_type;
pub mod result;
pub mod retry;
pub mod scope;
pub mod status;
pub mod tickets;
pub mod txt_layout;
