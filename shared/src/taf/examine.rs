//! What TAF's "Job2" decides for a record, without I/O: an XML message must be
//! a well-formed event whose element matches the registryType; a text
//! message must be non-empty. A record whose registryPredecessor is not yet
//! processed waits. The error codes fila records (errorCode, String(6)):
//!
//! | code | meaning |
//! |---|---|
//! | `000001` | the XML is not well-formed, or holds no event element |
//! | `000002` | the event element does not match the registryType |
//! | `000003` | a text message is empty once decoded |

use std::collections::HashSet;

use super::event_xml;
use super::record::MessageType;
use super::registry_type::RegistryType;

/// A pending record as the worker reads it.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub id: i64,
    pub ticket_code: String,
    pub registry_key: String,
    pub company_group: String,
    pub source_branch: String,
    pub registry_type: String,
    pub message_type: MessageType,
    pub message: Vec<u8>,
    pub predecessor_key: Option<String>,
}

/// What becomes of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// "Registro Processado": integrated.
    Processed,
    /// "Registro Inconsistente".
    Inconsistent {
        code: &'static str,
        description: &'static str,
        detail: String,
    },
    /// Its predecessor is not processed yet.
    Waiting,
}

/// TAF's texts: errorDescription is at most 60 characters, errorDetail 220.
const MAX_DETAIL: usize = 220;

/// Checks a record's content.
pub fn examine(record: &PendingRecord) -> Outcome {
    match record.message_type {
        MessageType::Text if record.message.iter().all(u8::is_ascii_whitespace) => {
            inconsistent("000003", "Mensagem TXT vazia", String::new())
        }
        MessageType::Text => Outcome::Processed,
        MessageType::Xml => examine_xml(record),
    }
}

fn examine_xml(record: &PendingRecord) -> Outcome {
    let Ok(text) = std::str::from_utf8(&record.message) else {
        return inconsistent("000001", "XML invalido", "o XML nao esta em UTF-8".into());
    };
    let document = match event_xml::inspect(text) {
        Ok(document) => document,
        Err(e) => return inconsistent("000001", "XML invalido", e.to_string()),
    };
    let Some(expected) = RegistryType::parse(&record.registry_type) else {
        return inconsistent(
            "000002",
            "Evento do XML difere do registryType",
            format!("registryType {} desconhecido", record.registry_type),
        );
    };
    if expected.accepts(&document.element) {
        Outcome::Processed
    } else {
        inconsistent(
            "000002",
            "Evento do XML difere do registryType",
            format!(
                "O registryType {} espera o evento {}; o XML contem {}.",
                expected.code(),
                expected.element(),
                document.element
            ),
        )
    }
}

/// The detail quotes the message (element names, parser errors): control
/// characters are replaced, since PostgreSQL text cannot hold NUL.
fn inconsistent(code: &'static str, description: &'static str, detail: String) -> Outcome {
    let detail = detail
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_DETAIL)
        .collect();
    Outcome::Inconsistent {
        code,
        description,
        detail,
    }
}

/// Outcomes for records read together, in order. `processed` holds the
/// `(company group, registryKey)` pairs already processed in the store; a
/// record processed earlier in the same batch releases its successors in it.
pub fn plan(records: &[PendingRecord], processed: &HashSet<(String, String)>) -> Vec<Outcome> {
    let mut done: HashSet<(&str, &str)> = processed
        .iter()
        .map(|(g, k)| (g.as_str(), k.as_str()))
        .collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; records.len()];
    loop {
        let mut progressed = false;
        for (record, outcome) in records.iter().zip(outcomes.iter_mut()) {
            if outcome.is_some() {
                continue;
            }
            let ready = record
                .predecessor_key
                .as_deref()
                .is_none_or(|p| done.contains(&(record.company_group.as_str(), p)));
            if !ready {
                continue;
            }
            let decided = examine(record);
            if decided == Outcome::Processed {
                done.insert((&record.company_group, &record.registry_key));
            }
            *outcome = Some(decided);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Waiting))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, key: &str, kind: &str, xml: &str, pred: Option<&str>) -> PendingRecord {
        PendingRecord {
            id,
            ticket_code: "T".into(),
            registry_key: key.into(),
            company_group: "01".into(),
            source_branch: "0100".into(),
            registry_type: kind.into(),
            message_type: MessageType::Xml,
            message: xml.as_bytes().to_vec(),
            predecessor_key: pred.map(str::to_string),
        }
    }

    const RUBRICA: &str = "<eSocial><evtTabRubrica/></eSocial>";

    #[test]
    fn matching_event_is_processed() {
        assert_eq!(
            examine(&record(1, "A", "S-1010", RUBRICA, None)),
            Outcome::Processed
        );
    }

    #[test]
    fn mismatched_event_is_inconsistent() {
        let outcome = examine(&record(1, "A", "S-2200", RUBRICA, None));
        assert!(matches!(
            outcome,
            Outcome::Inconsistent { code: "000002", .. }
        ));
    }

    #[test]
    fn broken_xml_is_inconsistent() {
        let outcome = examine(&record(1, "A", "S-1010", "<eSocial><evt", None));
        assert!(matches!(
            outcome,
            Outcome::Inconsistent { code: "000001", .. }
        ));
    }

    #[test]
    fn details_never_carry_control_characters() {
        let outcome = examine(&record(
            1,
            "A",
            "S-1010",
            "<eSocial><evt\0X/></eSocial>",
            None,
        ));
        let Outcome::Inconsistent { detail, .. } = outcome else {
            panic!("inconsistent expected");
        };
        assert!(!detail.contains('\0'), "{detail}");
    }

    #[test]
    fn successor_waits_for_an_unknown_predecessor() {
        let records = [record(1, "B", "S-1010", RUBRICA, Some("A"))];
        assert_eq!(plan(&records, &HashSet::new()), vec![Outcome::Waiting]);
    }

    #[test]
    fn predecessor_in_the_same_batch_releases_its_successor() {
        let records = [
            record(1, "B", "S-1010", RUBRICA, Some("A")),
            record(2, "A", "S-1010", RUBRICA, None),
        ];
        assert_eq!(
            plan(&records, &HashSet::new()),
            vec![Outcome::Processed, Outcome::Processed]
        );
    }

    #[test]
    fn inconsistent_predecessor_keeps_its_successor_waiting() {
        let records = [
            record(1, "A", "S-2200", RUBRICA, None),
            record(2, "B", "S-1010", RUBRICA, Some("A")),
        ];
        let outcomes = plan(&records, &HashSet::new());
        assert_eq!(outcomes[1], Outcome::Waiting);
    }

    #[test]
    fn predecessor_processed_in_the_store_releases() {
        let records = [record(1, "B", "S-1010", RUBRICA, Some("A"))];
        let processed = HashSet::from([("01".to_string(), "A".to_string())]);
        assert_eq!(plan(&records, &processed), vec![Outcome::Processed]);
    }
}
