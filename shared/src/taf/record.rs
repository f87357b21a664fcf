//! The values a TAF record carries, parsed once: message type, priority,
//! queue code and the record's status in fila.

use super::codes::Refusal;

/// `messageType`: 1 a text (TXT layout) message, 2 an XML event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Text,
    Xml,
}

impl MessageType {
    pub fn parse(value: &str) -> Result<Self, Refusal> {
        match value {
            "1" => Ok(Self::Text),
            "2" => Ok(Self::Xml),
            other => Err(Refusal::Invalid {
                field: "messageType",
                reason: format!("'{other}' nao e 1 (TXT) nem 2 (XML)."),
            }),
        }
    }

    pub fn as_i16(self) -> i16 {
        match self {
            Self::Text => 1,
            Self::Xml => 2,
        }
    }

    pub fn from_i16(value: i16) -> Self {
        if value == 1 { Self::Text } else { Self::Xml }
    }
}

/// `registryPriority`: 0 urgent .. 5 not prioritary (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    pub const LOWEST: Priority = Priority(5);

    /// An empty value means 5; anything but 0-5 is refused with 805.
    pub fn parse(value: &str) -> Result<Self, Refusal> {
        match value {
            "" => Ok(Self::LOWEST),
            v if v.len() == 1 && (b'0'..=b'5').contains(&v.as_bytes()[0]) => {
                Ok(Self(v.as_bytes()[0] - b'0'))
            }
            other => Err(Refusal::Priority(other.to_string())),
        }
    }

    /// Values read back from the store are trusted; out-of-range clamps to 5.
    pub fn from_i16(value: i16) -> Self {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= 5)
            .map_or(Self::LOWEST, Self)
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// The AMQP priority of the queue message: RabbitMQ serves higher first.
    pub fn amqp(self) -> u8 {
        5 - self.0
    }
}

/// `integrationQueue`: whether the producer asked for the processing queue.
/// As on the real server, "1" asks for it and any other value (or none)
/// does not: nothing is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCode {
    Off,
    /// `1`: through the processing queue; GET then reports `F`.
    On,
}

impl QueueCode {
    pub fn parse(value: &str) -> Self {
        if value == "1" { Self::On } else { Self::Off }
    }

    /// What is stored: "1" or "".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "",
            Self::On => "1",
        }
    }
}

/// Where a record is in fila. A record being processed stays `pending`
/// under the row lock of the worker's transaction, which is its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// Accepted, waiting in the queue or being processed.
    Pending,
    /// Waiting for its registryPredecessor to be processed.
    Waiting,
    /// Processed ("Registro Processado").
    Processed,
    /// Inconsistent ("Registro Inconsistente").
    Error,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waiting => "waiting",
            Self::Processed => "processed",
            Self::Error => "error",
        }
    }

    pub fn from_db(value: &str) -> Self {
        match value {
            "waiting" => Self::Waiting,
            "processed" => Self::Processed,
            "error" => Self::Error,
            _ => Self::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_defaults_to_5_and_maps_to_amqp() {
        assert_eq!(Priority::parse(""), Ok(Priority::LOWEST));
        assert_eq!(Priority::parse("0").map(Priority::amqp), Ok(5));
        assert_eq!(Priority::parse("5").map(Priority::amqp), Ok(0));
        for bad in ["8", "-1", "00", "a", "05"] {
            assert_eq!(
                Priority::parse(bad).map_err(|r| r.code()),
                Err(805),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_1_asks_for_the_queue() {
        assert_eq!(QueueCode::parse("1"), QueueCode::On);
        for other in ["", "0", "2", "F", "01"] {
            assert_eq!(QueueCode::parse(other), QueueCode::Off, "{other}");
        }
    }
}
