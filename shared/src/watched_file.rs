//! A settings file that API and workers read again whenever it changes (its
//! modification time), so that what it defines reaches running processes
//! without a restart: the process definitions (`processes_file`) and the EAI
//! Transactions (`eai_transactions_file`). A reading replaces the previous
//! one whole; a file that no longer reads keeps the previous reading, and
//! the error is logged.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// How often a watched file is looked at for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Reads the file (`None`: none is configured) into what it defines.
type Reader<T, E> = Box<dyn Fn(Option<&Path>) -> Result<T, E> + Send + Sync>;

/// The reading in force of one file.
pub struct WatchedFile<T, E> {
    /// What the file holds, for the logs ("process definitions").
    what: &'static str,
    path: Option<PathBuf>,
    read: Reader<T, E>,
    current: RwLock<(Arc<T>, Option<SystemTime>)>,
}

impl<T, E> WatchedFile<T, E>
where
    T: Send + Sync + 'static,
    E: Display + 'static,
{
    /// Reads the file a first time; an error stops the start.
    pub fn load(
        what: &'static str,
        path: Option<&Path>,
        read: impl Fn(Option<&Path>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, E> {
        let modified = path.and_then(modified);
        let first = read(path)?;
        Ok(Arc::new(Self {
            what,
            path: path.map(Path::to_path_buf),
            read: Box::new(read),
            current: RwLock::new((Arc::new(first), modified)),
        }))
    }

    /// The reading in force.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Reads the file again if it changed since it was last read; whether
    /// a new reading is now in force.
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = self.path.as_deref() else {
            return false;
        };
        let seen = self.current.read().unwrap_or_else(|e| e.into_inner()).1;
        let now = modified(path);
        if now == seen {
            return false;
        }
        match (self.read)(Some(path)) {
            Ok(reading) => {
                tracing::info!(file = %path.display(), "{} reloaded", self.what);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (Arc::new(reading), now);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "{} not reloaded; the previous ones stay", self.what);
                self.current.write().unwrap_or_else(|e| e.into_inner()).1 = now;
                false
            }
        }
    }

    /// Looks at the file every [`RELOAD_EVERY`] for the life of the
    /// process (nothing to do without a file).
    pub fn watch(self: &Arc<Self>) {
        if self.path.is_none() {
            return;
        }
        let file = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(RELOAD_EVERY);
            loop {
                ticker.tick().await;
                file.reload_if_changed();
            }
        });
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(path: Option<&Path>) -> Result<Vec<u32>, String> {
        let Some(path) = path else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        text.split_whitespace()
            .map(|n| n.parse().map_err(|_| format!("{n:?} is not a number")))
            .collect()
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_last_reading() {
        let path = std::env::temp_dir().join(format!("fila-watched-{}.txt", std::process::id()));
        std::fs::write(&path, "1 2").expect("write");
        let file = WatchedFile::load("numbers", Some(&path), numbers).expect("reads");
        assert_eq!(*file.current(), vec![1, 2]);
        assert!(!file.reload_if_changed(), "unchanged: not read again");

        let later = |file: &std::fs::File, secs| {
            file.set_modified(SystemTime::now() + Duration::from_secs(secs))
                .expect("mtime");
        };
        std::fs::write(&path, "1 2 3").expect("write");
        later(
            &std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open"),
            10,
        );
        assert!(file.reload_if_changed());
        assert_eq!(*file.current(), vec![1, 2, 3]);

        std::fs::write(&path, "1 two").expect("write");
        later(
            &std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open"),
            20,
        );
        assert!(!file.reload_if_changed());
        assert_eq!(
            *file.current(),
            vec![1, 2, 3],
            "the last good reading stays"
        );
        std::fs::remove_file(&path).expect("remove");

        let none = WatchedFile::load("numbers", None, numbers).expect("reads");
        assert!(none.current().is_empty());
        assert!(!none.reload_if_changed());
        assert!(WatchedFile::load("numbers", Some(&path), numbers).is_err());
    }
}
