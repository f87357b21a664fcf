//! Following work until it is done: poll, then wait twice as long as the
//! poll took (between half a second and five seconds, so that following
//! a large ticket does not keep the API busy), until the work is done or
//! `--timeout` passes.

use std::time::{Duration, Instant};

use crate::error::CliError;

const MIN_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Calls `poll` until it answers `Some`; `what` names the work in the
/// timeout's message.
pub fn until<T>(
    timeout: Option<u64>,
    what: &str,
    mut poll: impl FnMut() -> Result<Option<T>, CliError>,
) -> Result<T, CliError> {
    let started = Instant::now();
    let limit = timeout.map(Duration::from_secs);
    loop {
        let polled = Instant::now();
        if let Some(done) = poll()? {
            return Ok(done);
        }
        let mut pause = (polled.elapsed() * 2).clamp(MIN_PAUSE, MAX_PAUSE);
        if let Some(limit) = limit {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(CliError::TimedOut {
                    seconds: limit.as_secs(),
                    what: what.to_string(),
                });
            }
            pause = pause.min(left);
        }
        std::thread::sleep(pause);
    }
}
