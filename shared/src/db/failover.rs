//! Connections that found the database read-only are not used again. After
//! a failover, the address fila connects to leads to the new primary, but a
//! connection opened before it may still reach the old one, demoted to a
//! standby: every write on it fails with SQLSTATE 25006. Once any statement
//! of this process meets that refusal, every pooled connection opened
//! before it is discarded when next taken from the pool, so that the next
//! ones are opened anew (to the new primary, once there is one).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use deadpool_postgres::{Hook, HookError};

/// When this process started counting.
static START: LazyLock<Instant> = LazyLock::new(Instant::now);
/// Nanoseconds after [`START`] of the last read-only refusal; 0: never.
static READ_ONLY_AT: AtomicU64 = AtomicU64::new(0);

/// Records that a statement was refused because the database is read-only.
pub(super) fn read_only_seen() {
    let nanos = u64::try_from(START.elapsed().as_nanos()).unwrap_or(u64::MAX);
    READ_ONLY_AT.fetch_max(nanos.max(1), Ordering::Relaxed);
}

/// Whether a connection opened at `created` predates the last read-only
/// refusal.
fn stale(created: Instant) -> bool {
    match READ_ONLY_AT.load(Ordering::Relaxed) {
        0 => false,
        nanos => created < *START + std::time::Duration::from_nanos(nanos),
    }
}

/// The pool's hook that discards such connections when they are taken.
pub(super) fn discard_read_only() -> Hook {
    Hook::sync_fn(|_, metrics| {
        if stale(metrics.created) {
            Err(HookError::message(
                "opened before the database was found read-only",
            ))
        } else {
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connections_older_than_the_refusal_are_stale() {
        let before = Instant::now();
        assert!(!stale(before), "nothing refused yet");
        std::thread::sleep(std::time::Duration::from_millis(2));
        read_only_seen();
        let after = Instant::now();
        assert!(stale(before));
        assert!(!stale(after));
    }
}
