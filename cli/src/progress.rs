//! The progress of `--wait` on stderr. On a terminal, indicatif bars (a
//! spinner for a process run, which has no count). Elsewhere indicatif
//! draws nothing, so plain lines are printed instead — for logs of CI jobs
//! and scripts — when the figures change, at most once a second, and at
//! least every ten seconds while nothing changes:
//!
//! ```text
//! ticket T-1: 30/60 finished, 2 errors
//! ```

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Plain lines of one task are this far apart at least…
const MIN_GAP: Duration = Duration::from_secs(1);
/// …and at most, while the task is not finished.
const HEARTBEAT: Duration = Duration::from_secs(10);
const SPINNER_TICK: Duration = Duration::from_millis(120);

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Bars (drawn only on a terminal).
    Bar,
    /// A line when the figures change, at most one a second per task.
    Plain,
    /// Nothing.
    None,
}

#[derive(Clone, Copy)]
enum Kind {
    Bar,
    Plain,
    Silent,
}

pub struct Progress {
    kind: Kind,
    bars: MultiProgress,
}

/// Figures of a task that counts items.
pub struct Counts {
    pub finished: u64,
    pub total: u64,
    pub errors: u64,
    /// Appended to the figures, e.g. ", 3 waiting for a predecessor".
    pub note: String,
}

/// One thing being followed: a ticket, an EAI lot, a process run.
pub struct Task {
    label: String,
    /// The latest figures or state, as a plain line would show them.
    current: String,
    view: View,
}

enum View {
    Bar {
        bar: ProgressBar,
        bars: MultiProgress,
    },
    Plain {
        printed: Option<(String, Instant)>,
    },
    Silent,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        let kind = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => Kind::Bar,
            ProgressMode::Auto | ProgressMode::Plain => Kind::Plain,
            ProgressMode::Bar => Kind::Bar,
            ProgressMode::None => Kind::Silent,
        };
        Self {
            kind,
            bars: MultiProgress::new(),
        }
    }

    /// A task with a count of items (a bar).
    pub fn counted(&self, label: &str) -> Task {
        self.task(label, || {
            let bar = ProgressBar::new(0).with_prefix(label.to_string());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{bar:32.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        })
    }

    /// A task with a state but no count (a spinner).
    pub fn spinner(&self, label: &str) -> Task {
        self.task(label, || {
            let bar = ProgressBar::new_spinner().with_prefix(label.to_string());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(SPINNER_TICK);
            bar
        })
    }

    fn task(&self, label: &str, bar: impl FnOnce() -> ProgressBar) -> Task {
        let view = match self.kind {
            Kind::Bar => View::Bar {
                bar: self.bars.add(bar()),
                bars: self.bars.clone(),
            },
            Kind::Plain => View::Plain { printed: None },
            Kind::Silent => View::Silent,
        };
        Task {
            label: label.to_string(),
            current: String::new(),
            view,
        }
    }
}

impl Counts {
    fn line(&self) -> String {
        format!(
            "{}/{} finished, {} errors{}",
            self.finished, self.total, self.errors, self.note
        )
    }
}

impl Task {
    pub fn counts(&mut self, counts: &Counts) {
        if let View::Bar { bar, .. } = &self.view {
            bar.set_length(counts.total);
            bar.set_position(counts.finished);
            bar.set_message(format!("{} errors{}", counts.errors, counts.note));
        }
        self.update(counts.line());
    }

    pub fn state(&mut self, text: &str) {
        if let View::Bar { bar, .. } = &self.view {
            bar.set_message(text.to_string());
        }
        self.update(text.to_string());
    }

    /// Replaces the bar by a line of its final figures (above the bars
    /// still running), or prints that line if it was held back.
    pub fn finish(&mut self) {
        let line = format!("{}: {}", self.label, self.current);
        match &mut self.view {
            View::Bar { bar, bars } => {
                bar.finish_and_clear();
                bars.suspend(|| eprintln!("{line}"));
            }
            View::Plain { printed } => {
                if printed
                    .as_ref()
                    .is_none_or(|(last, _)| *last != self.current)
                {
                    eprintln!("{line}");
                    *printed = Some((self.current.clone(), Instant::now()));
                }
            }
            View::Silent => {}
        }
    }

    /// Records the latest line; prints it in plain mode when it is due.
    fn update(&mut self, line: String) {
        if let View::Plain { printed } = &mut self.view {
            let due = match printed {
                None => true,
                Some((last, at)) => {
                    let since = at.elapsed();
                    (*last != line && since >= MIN_GAP) || since >= HEARTBEAT
                }
            };
            if due {
                eprintln!("{}: {line}", self.label);
                *printed = Some((line.clone(), Instant::now()));
            }
        }
        self.current = line;
    }
}
