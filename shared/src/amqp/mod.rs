//! The RabbitMQ side: topology names and declaration, the broker's
//! connections (opened with heartbeats, bounded waits and TLS) that publish
//! with confirms and consume, and the management API's rates.

pub mod broker;
pub mod connector;
pub mod management;
pub mod queue_type;
pub mod tls;
pub mod topology;

pub use broker::{Broker, BrokerError, Feeds, Outgoing};
pub use connector::ConnectorError;
pub use queue_type::QueueType;
pub use topology::{Lane, Topology, WorkQueue};
