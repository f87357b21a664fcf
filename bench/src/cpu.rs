//! The CPU time a scenario costs, read from /proc: fila's own processes (the
//! deployment's API and workers), PostgreSQL (every `postgres` process, plus
//! what its backends that exited meanwhile spent) and RabbitMQ (`beam.smp`).
//! Given per 10,000 items, it is steadier than throughput on a shared
//! machine and says where a change moved the work. The benchmark's own
//! producers are not counted.

use std::ops::Sub;

use fila_tests::Fila;
use serde::Serialize;

/// The unit of /proc's times (USER_HZ), 100 on Linux's architectures.
const TICKS_PER_S: f64 = 100.0;

/// CPU seconds, by whom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spent {
    pub fila: f64,
    pub postgres: f64,
    pub rabbitmq: f64,
}

impl Sub for Spent {
    type Output = Spent;

    fn sub(self, earlier: Spent) -> Spent {
        Spent {
            fila: self.fila - earlier.fila,
            postgres: self.postgres - earlier.postgres,
            rabbitmq: self.rabbitmq - earlier.rabbitmq,
        }
    }
}

impl Spent {
    /// Seconds per 10,000 of `items`.
    pub fn per_10k(self, items: u64) -> Spent {
        let scale = 10_000.0 / (items.max(1) as f64);
        Spent {
            fila: self.fila * scale,
            postgres: self.postgres * scale,
            rabbitmq: self.rabbitmq * scale,
        }
    }
}

/// Counts from its start the CPU time of fila's processes `pids`, of
/// PostgreSQL and of RabbitMQ.
pub struct Meter {
    pids: Vec<u32>,
    start: Spent,
}

impl Meter {
    /// A meter of the fila processes `pids` (none: PostgreSQL and RabbitMQ only).
    pub fn start(pids: Vec<u32>) -> Self {
        let start = now(&pids);
        Self { pids, start }
    }

    /// The CPU time spent since the start.
    pub fn spent(&self) -> Spent {
        now(&self.pids) - self.start
    }
}

/// The running API and workers of a deployment.
pub fn processes(fila: &Fila) -> Vec<u32> {
    fila.api_process()
        .into_iter()
        .chain(fila.running_workers())
        .map(|p| p.pid())
        .collect()
}

/// The CPU seconds spent so far by the processes `fila`, by PostgreSQL and
/// by RabbitMQ.
fn now(fila: &[u32]) -> Spent {
    let mut spent = Spent::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return spent;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(stat) = Stat::read(pid) else {
            continue;
        };
        if fila.contains(&pid) {
            spent.fila += stat.own;
        } else if stat.command == "postgres" {
            // The postmaster's children's times hold the backends that exited.
            spent.postgres += stat.own + stat.children;
        } else if stat.command == "beam.smp" {
            spent.rabbitmq += stat.own;
        }
    }
    spent
}

/// What /proc/<pid>/stat says of a process's CPU time, in seconds.
struct Stat {
    command: String,
    /// User and system time of the process itself.
    own: f64,
    /// User and system time of its children that exited and were waited for.
    children: f64,
}

impl Stat {
    fn read(pid: u32) -> Option<Stat> {
        Self::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// `pid (comm) state ppid … utime stime cutime cstime …`; comm may hold
    /// spaces and parentheses, so the fields are counted after the last `)`.
    fn parse(stat: &str) -> Option<Stat> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let command = stat.get(open + 1..close)?.to_string();
        let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
        let ticks =
            |i: usize| -> Option<f64> { fields.get(i)?.parse::<u64>().ok().map(|t| t as f64) };
        // Fields 14 to 17 of proc(5), counted from field 3 (state).
        Some(Stat {
            command,
            own: (ticks(11)? + ticks(12)?) / TICKS_PER_S,
            children: (ticks(13)? + ticks(14)?) / TICKS_PER_S,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command() {
        let line = "4242 (postgres: a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 700 300 20 0 1 0 \
                    123 456 789";
        let stat = Stat::parse(line).expect("parsed");
        assert_eq!(stat.command, "postgres: a) b");
        assert_eq!(stat.own, 3.0);
        assert_eq!(stat.children, 10.0);
        assert!(Stat::parse("4242 (short) S 1").is_none());
    }

    #[test]
    fn per_10k_scales_by_items() {
        let spent = Spent {
            fila: 2.0,
            postgres: 4.0,
            rabbitmq: 1.0,
        };
        assert_eq!(
            spent.per_10k(20_000),
            Spent {
                fila: 1.0,
                postgres: 2.0,
                rabbitmq: 0.5
            }
        );
    }
}
