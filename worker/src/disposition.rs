//! A queue message's fate, decided apart from carrying it out: a pure
//! function from what its handling came to, the attempt it was on and the
//! limits, to a [`Disposition`] that the consumer then applies
//! (acknowledge, return, send to a retry queue, record a dead letter).

use crate::handling::HandleError;

/// The `outcome` label of a message whose work is durable.
pub const DONE: &str = "done";
/// The `outcome` label of a message returned to its queue as it came.
pub const RETURNED: &str = "returned";

/// The retry tier of a message whose work another transaction holds: the
/// 10 s queue.
pub const BUSY_TIER: u32 = 2;

/// Why a message could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Its work is held elsewhere: try again later, without counting.
    Busy(String),
    /// The database is unreachable: back to the queue, without counting.
    DatabaseUnavailable(String),
    /// Worth another attempt.
    Retry(String),
    /// Never worth another attempt (it cannot be decoded).
    Poison(String),
}

impl Failure {
    /// The failure a handler's error stands for.
    pub fn of(error: HandleError) -> Self {
        match error {
            HandleError::Busy(_) => Failure::Busy(error.to_string()),
            HandleError::Store(e) if e.is_unavailable() => {
                Failure::DatabaseUnavailable(e.to_string())
            }
            other => Failure::Retry(other.to_string()),
        }
    }

    /// A handler that panicked failed its attempt.
    pub fn panicked(text: &str) -> Self {
        Failure::Retry(format!("handler panicked: {text}"))
    }

    fn reason(&self) -> &str {
        match self {
            Failure::Busy(r)
            | Failure::DatabaseUnavailable(r)
            | Failure::Retry(r)
            | Failure::Poison(r) => r,
        }
    }
}

/// What to do with a handled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Its work is durable: acknowledge it.
    Ack,
    /// It was acknowledged early (a process run, once claimed): the work's
    /// lease stands for it, and the sweeper takes over what did not finish.
    Leased { failure: Option<Failure> },
    /// The database is unreachable: back to its queue as it came, and the
    /// worker stops taking messages until the database answers.
    Return { reason: String },
    /// To the retry queue of `tier`, to come back as attempt `attempt`;
    /// `counted` when this attempt failed (rather than waited), so that it
    /// joins the message's history.
    Retry {
        tier: u32,
        attempt: u32,
        reason: String,
        counted: bool,
    },
    /// Recorded as a dead letter after `attempts` attempts.
    DeadLetter { attempts: u32, reason: String },
}

impl Disposition {
    /// Whether the database was found unreachable (the consumers pause).
    pub fn database_unavailable(&self) -> bool {
        matches!(
            self,
            Disposition::Return { .. }
                | Disposition::Leased {
                    failure: Some(Failure::DatabaseUnavailable(_))
                }
        )
    }

    /// The `outcome` label of the message's metric.
    pub fn label(&self) -> &'static str {
        match self {
            Disposition::Ack | Disposition::Leased { failure: None } => DONE,
            Disposition::Leased { failure: Some(_) } => "leased",
            Disposition::Return { .. } => RETURNED,
            Disposition::Retry { counted: false, .. } => "busy",
            Disposition::Retry { counted: true, .. } => "retried",
            Disposition::DeadLetter { .. } => "dead_lettered",
        }
    }
}

/// Whether a redelivered message whose handling started `starts` times,
/// this one included, is handled: not once `max_attempts` starts ended
/// without an outcome (each killed its worker); it is dead-lettered.
pub fn admit(starts: u32, attempt: u32, max_attempts: u32) -> Option<Disposition> {
    let stopped = starts.saturating_sub(1);
    (stopped >= max_attempts).then(|| Disposition::DeadLetter {
        attempts: attempt,
        reason: format!(
            "its handling started {stopped} times without ending: each time, the worker \
             handling it stopped (killed, out of memory or aborted)"
        ),
    })
}

/// Decides the fate of a message handled on `attempt` (from 1), given
/// `max_attempts` and whether the handler acknowledged it already.
pub fn decide(
    outcome: Result<(), Failure>,
    attempt: u32,
    max_attempts: u32,
    acknowledged: bool,
) -> Disposition {
    let failure = match outcome {
        Ok(()) if acknowledged => return Disposition::Leased { failure: None },
        Ok(()) => return Disposition::Ack,
        Err(failure) if acknowledged => {
            return Disposition::Leased {
                failure: Some(failure),
            };
        }
        Err(failure) => failure,
    };
    let reason = failure.reason().to_string();
    match failure {
        Failure::DatabaseUnavailable(_) => Disposition::Return { reason },
        Failure::Busy(_) => Disposition::Retry {
            tier: BUSY_TIER,
            attempt,
            reason,
            counted: false,
        },
        Failure::Retry(_) if attempt < max_attempts => Disposition::Retry {
            tier: attempt,
            attempt: attempt + 1,
            reason,
            counted: true,
        },
        Failure::Retry(_) | Failure::Poison(_) => Disposition::DeadLetter {
            attempts: attempt,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(tier: u32, attempt: u32, counted: bool) -> Disposition {
        Disposition::Retry {
            tier,
            attempt,
            reason: "r".into(),
            counted,
        }
    }

    #[test]
    fn every_outcome_attempt_and_acknowledgement_has_its_fate() {
        let busy = || Err(Failure::Busy("r".into()));
        let down = || Err(Failure::DatabaseUnavailable("r".into()));
        let failed = || Err(Failure::Retry("r".into()));
        let poison = || Err(Failure::Poison("r".into()));
        let dead = |attempts| Disposition::DeadLetter {
            attempts,
            reason: "r".into(),
        };
        let table: Vec<(Result<(), Failure>, u32, bool, Disposition)> = vec![
            (Ok(()), 1, false, Disposition::Ack),
            (Ok(()), 5, false, Disposition::Ack),
            (Ok(()), 1, true, Disposition::Leased { failure: None }),
            (
                failed(),
                1,
                true,
                Disposition::Leased {
                    failure: Some(Failure::Retry("r".into())),
                },
            ),
            (
                down(),
                3,
                true,
                Disposition::Leased {
                    failure: Some(Failure::DatabaseUnavailable("r".into())),
                },
            ),
            (down(), 1, false, Disposition::Return { reason: "r".into() }),
            (down(), 3, false, Disposition::Return { reason: "r".into() }),
            (busy(), 1, false, retry(BUSY_TIER, 1, false)),
            (busy(), 3, false, retry(BUSY_TIER, 3, false)),
            (failed(), 1, false, retry(1, 2, true)),
            (failed(), 2, false, retry(2, 3, true)),
            (failed(), 3, false, dead(3)),
            (failed(), 4, false, dead(4)),
            (poison(), 1, false, dead(1)),
        ];
        for (outcome, attempt, acknowledged, expected) in table {
            let case = format!("{outcome:?} on attempt {attempt}, acknowledged {acknowledged}");
            assert_eq!(
                decide(outcome, attempt, 3, acknowledged),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn work_a_replica_does_not_know_yet_is_a_counted_retry() {
        assert_eq!(
            Failure::of(HandleError::UnknownTransaction("ORDER".into())),
            Failure::Retry("EAI Transaction ORDER is not known to this worker".into())
        );
        assert_eq!(
            Failure::of(HandleError::UndefinedProcess("P".into())),
            Failure::Retry("process P is not defined on this worker".into())
        );
        let unknown = || Err(Failure::of(HandleError::UnknownTransaction("ORDER".into())));
        assert!(matches!(
            decide(unknown(), 1, 3, false),
            Disposition::Retry {
                tier: 1,
                attempt: 2,
                counted: true,
                ..
            }
        ));
    }

    #[test]
    fn a_message_whose_handling_keeps_stopping_is_buried_unhandled() {
        for (starts, admitted) in [(1, true), (2, true), (3, true), (4, false), (9, false)] {
            let fate = admit(starts, 2, 3);
            assert_eq!(fate.is_none(), admitted, "{starts} starts");
            if let Some(Disposition::DeadLetter { attempts, reason }) = fate {
                assert_eq!(attempts, 2);
                assert!(
                    reason.contains(&format!("{} times", starts - 1)),
                    "{reason}"
                );
            }
        }
    }

    #[test]
    fn only_an_unreachable_database_pauses_the_consumers() {
        assert!(Disposition::Return { reason: "r".into() }.database_unavailable());
        assert!(
            Disposition::Leased {
                failure: Some(Failure::DatabaseUnavailable("r".into()))
            }
            .database_unavailable()
        );
        assert!(!retry(BUSY_TIER, 1, false).database_unavailable());
        assert!(!Disposition::Ack.database_unavailable());
    }

    #[test]
    fn labels_name_what_became_of_the_message() {
        assert_eq!(Disposition::Ack.label(), "done");
        assert_eq!(retry(BUSY_TIER, 1, false).label(), "busy");
        assert_eq!(retry(1, 2, true).label(), "retried");
    }
}
