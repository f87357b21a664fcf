//! The RabbitMQ side: topology names and declaration, and the broker
//! connection that publishes with confirms, and the management API's
//! rates.

pub mod broker;
pub mod management;
pub mod topology;

pub use broker::{Broker, BrokerError, Outgoing};
pub use topology::{Topology, WorkQueue};
