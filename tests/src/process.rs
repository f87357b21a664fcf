//! A fila binary running as a child process, its output in a log file.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

/// Where the binaries are: `E2E_BIN_DIR`, or the target directory the
/// running program was built in (`target/<profile>/` for a binary,
/// `target/<profile>/deps/` for a test).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("E2E_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("program path");
    let dir = exe.parent().expect("program directory");
    if dir.join("fila-api").exists() {
        return dir.to_path_buf();
    }
    dir.parent().unwrap_or(dir).to_path_buf()
}

impl Process {
    /// Starts `binary` with exactly fila's variables from `env` (inherited
    /// `FILA_*` variables are removed).
    pub fn spawn(binary: &str, args: &[&str], env: &[(String, String)], log: PathBuf) -> Self {
        let path = bin_dir().join(binary);
        assert!(
            path.exists(),
            "{} is missing: build the binaries first (cargo build --bins)",
            path.display()
        );
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut command = Command::new(&path);
        command
            .args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("FILA_")) {
            command.env_remove(key);
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let child = command.spawn().expect("spawn");
        Self {
            name: binary.to_string(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident memory (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first log line containing `needle`, waiting up to `seconds`.
    pub async fn wait_for_line(&mut self, needle: &str, seconds: u64) -> Option<String> {
        let found = crate::eventually(seconds, || {
            let text = self.log_text();
            async move { text.contains(needle) }
        })
        .await;
        if !found {
            return None;
        }
        self.log_text()
            .lines()
            .find(|l| l.contains(needle))
            .map(str::to_string)
    }

    /// The exit status, if the process ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process's data segment (VmData: its heap and other private
    /// writable memory), in KiB.
    pub fn data_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmData:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .expect("VmData")
    }

    /// Limits the process's data segment (RLIMIT_DATA) to `limit` bytes, as
    /// a container's memory limit would: an allocation past it fails, and a
    /// Rust process aborts.
    pub fn limit_memory(&self, limit: u64) {
        let set = Command::new("prlimit")
            .args([
                "--pid",
                &self.pid().to_string(),
                &format!("--data={limit}:{limit}"),
            ])
            .status()
            .expect("prlimit runs");
        assert!(set.success(), "prlimit failed");
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as Kubernetes stops a pod.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// The exit status, waiting up to `seconds`.
    pub async fn wait_exit(&mut self, seconds: u64) -> Option<ExitStatus> {
        for _ in 0..seconds * 20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
