//! The producer's order of the messages that change an entity. Messages of
//! one entity may be processed in any order (retries, several workers, lots
//! side by side); the entity store applies them in the order their producer
//! made them, so that an older message processed late changes nothing.
//!
//! A message's place is its Header's `GeneratedOn` (the standard message's
//! generation time, an xs:dateTime such as `2026-11-21T10:00:00-03:00`);
//! without one (or with one that does not read as a date-time) it is the
//! time fila accepted the message, a time the producer's own clock can only
//! have passed before sending. Ties are broken by the number fila gave the
//! message when it accepted it (acceptance order), so that the order is
//! total and every worker comes to the same result.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// A message's place in its producer's order; later places win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey {
    /// GeneratedOn, or the acceptance time.
    pub time: DateTime<Utc>,
    /// The acceptance number: the tie-break.
    pub arrival: i64,
}

impl OrderKey {
    /// Whether a message at this place replaces the version the store
    /// holds, whose place is `held` (`None`: written before fila kept
    /// places, so any message replaces it). The entity store's conditional
    /// write (`eai::entity::write`) states the same rule in SQL.
    pub fn supersedes(&self, held: Option<&OrderKey>) -> bool {
        held.is_none_or(|held| self > held)
    }
}

/// `GeneratedOn` as an instant: RFC 3339 / xs:dateTime with an offset (`Z`
/// or `±hh:mm`), or without one, read as UTC; fractions of a second are
/// kept. `None` when it does not read as a date-time.
pub fn generated_on(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

/// A message that came after a newer one for the same entity: it was
/// received and is correct, but the entity already holds a later version
/// (or was deleted by a later message), so it changes nothing. Its outcome
/// is OK, with this notice in its Details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    /// The message whose version the store holds (none for a `/contents`
    /// change or a row written before fila kept places).
    pub by: Option<String>,
    /// Its place's time.
    pub time: Option<DateTime<Utc>>,
    /// Whether that message deleted the entity.
    pub deleted: bool,
}

impl Superseded {
    /// The notice's stable code.
    pub const CODE: &'static str = "EAI-301";

    /// The notice as a TOTVS API guide detail.
    pub fn detail(&self) -> Value {
        let newer = if self.deleted {
            "was deleted by a newer message"
        } else {
            "holds a newer version"
        };
        let by = self
            .by
            .as_deref()
            .map(|uuid| format!(" ({uuid})"))
            .unwrap_or_default();
        let detailed = self
            .time
            .map(|t| {
                format!(
                    "The entity's version is ordered at {}.",
                    t.to_rfc3339_opts(SecondsFormat::Millis, true)
                )
            })
            .unwrap_or_default();
        json!({
            "code": Self::CODE,
            "message": format!(
                "The entity {newer}{by}: this message is older in its producer's order and changed nothing."
            ),
            "detailedMessage": detailed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(text: &str, arrival: i64) -> OrderKey {
        OrderKey {
            time: generated_on(text).expect("date-time"),
            arrival,
        }
    }

    #[test]
    fn generated_on_reads_offsets_fractions_and_local_times() {
        let utc = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 21, h, m, s).single();
        assert_eq!(generated_on("2026-11-21T10:00:00-03:00"), utc(13, 0, 0));
        assert_eq!(generated_on("2026-11-21T13:00:00Z"), utc(13, 0, 0));
        assert_eq!(generated_on(" 2026-11-21T13:00:00+00:00 "), utc(13, 0, 0));
        assert_eq!(generated_on("2026-11-21T13:00:00"), utc(13, 0, 0));
        assert_eq!(generated_on("2026-11-21 13:00:00"), utc(13, 0, 0));
        let fraction = generated_on("2026-11-21T13:00:00.250-00:00").expect("fraction");
        assert_eq!(fraction.timestamp_subsec_millis(), 250);
        assert!(generated_on("2026-11-21T13:00:00.1").is_some());
        for unreadable in [
            "",
            "yesterday",
            "2026-13-01T00:00:00",
            "2026-11-21",
            "1732194000",
        ] {
            assert_eq!(generated_on(unreadable), None, "{unreadable:?}");
        }
    }

    #[test]
    fn the_later_place_wins_and_acceptance_breaks_ties() {
        let held = at("2026-11-21T10:00:00-03:00", 5);
        assert!(at("2026-11-21T10:00:01-03:00", 1).supersedes(Some(&held)));
        assert!(!at("2026-11-21T09:59:59-03:00", 9).supersedes(Some(&held)));
        assert!(
            at("2026-11-21T09:00:01-04:00", 1).supersedes(Some(&held)),
            "offsets are compared as instants"
        );
        assert!(at("2026-11-21T10:00:00-03:00", 6).supersedes(Some(&held)));
        assert!(!at("2026-11-21T10:00:00-03:00", 4).supersedes(Some(&held)));
        assert!(
            !held.supersedes(Some(&held)),
            "the same message again changes nothing"
        );
        assert!(
            at("2000-01-01T00:00:00Z", 0).supersedes(None),
            "a version written before fila kept places is replaced"
        );
    }

    #[test]
    fn shuffled_messages_leave_the_newest_whatever_their_order() {
        let keys: Vec<OrderKey> = [3, 0, 4, 1, 2]
            .iter()
            .map(|minute| at(&format!("2026-11-21T10:0{minute}:00Z"), 10 - minute))
            .collect();
        let mut held: Option<OrderKey> = None;
        for key in &keys {
            if key.supersedes(held.as_ref()) {
                held = Some(*key);
            }
        }
        assert_eq!(held, keys.iter().max().copied());
        assert_eq!(held, Some(at("2026-11-21T10:04:00Z", 6)));
    }

    #[test]
    fn a_superseded_message_names_what_overtook_it() {
        let detail = Superseded {
            by: Some("M-9".into()),
            time: generated_on("2026-11-21T10:00:00-03:00"),
            deleted: true,
        }
        .detail();
        assert_eq!(detail["code"], "EAI-301");
        let message = detail["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("deleted") && message.contains("M-9"),
            "{message}"
        );
        assert_eq!(
            detail["detailedMessage"],
            "The entity's version is ordered at 2026-11-21T13:00:00.000Z."
        );
    }
}
