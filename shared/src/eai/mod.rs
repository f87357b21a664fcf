//! TOTVS EAI standard messages (seed 002): business messages pushed one at a
//! time or in lots to `/totvseai/standardmessage/v1/transactions`, processed
//! by the workers with the lot's batch semantics, and read back as response
//! messages; entity contents served synchronously by `/contents`.

pub mod answer;
pub mod batches;
pub mod callback;
pub mod chunking;
pub mod entity;
pub mod intake;
pub mod job;
pub mod keys;
pub mod listing;
pub mod lot;
pub mod message;
pub mod order;
pub mod problem;
pub mod registry;
pub mod response;
pub mod status;
pub mod store_destination;
