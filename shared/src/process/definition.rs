//! Process definitions: which named processes fila runs, how (runner), for
//! how long, how often retried, on which worker group, and which parameters
//! they accept. They live in the TOML file named by `processes_file`:
//!
//! ```toml
//! [[process]]
//! name = "FullName"
//! runner = "builtin"            # builtin, http or command
//! timeout_secs = 60             # default 300
//! retry_count = 1               # default 0
//! group = "default"             # the worker group that runs it
//! required = ["surname"]
//! sync_wait_secs = 600          # a synchronous wsProcess call's wait; default: the whole run
//! failure_answer = "result"     # how wsProcess answers a failed run: fault (default) or result
//! [process.parameters]          # when present, the only parameters accepted
//! name = "string"               # string, int, number, bool, array, object, any
//! surname = "string"
//! ```
//!
//! A top-level `groups = ["nfe", "3"]` names further worker groups that
//! requests may pin a run to (the scheduler API's `worker`).
//!
//! Parameters arriving as text (Creatio query strings) are converted to the
//! declared type when they read as one. The file is read again whenever it
//! changes; a file that no longer reads keeps the previous definitions (the
//! error is logged).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::amqp::topology::{DEFAULT_GROUP, valid_group};
use crate::db;
use crate::watched_file::WatchedFile;

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("processes_file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("process {name}: {reason}")]
    Invalid { name: String, reason: String },
}

/// Why a submission's parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    #[error("parameter {0} is required")]
    Missing(String),
    #[error("parameter {name} is unknown; accepted: {accepted}")]
    Unknown { name: String, accepted: String },
    #[error("parameter {name} must be {expected}")]
    WrongType {
        name: String,
        expected: &'static str,
    },
    #[error("parameter {0:?} holds a NUL character, which fila cannot store")]
    Nul(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RunnerKind {
    Builtin,
    Http,
    Command,
}

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Int,
    Number,
    Bool,
    Array,
    Object,
    Any,
}

impl ParamType {
    fn name(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Int => "an integer",
            ParamType::Number => "a number",
            ParamType::Bool => "a boolean",
            ParamType::Array => "an array",
            ParamType::Object => "an object",
            ParamType::Any => "any value",
        }
    }

    /// The value in this type (text converted when it reads as one).
    fn accept(self, value: Value) -> Option<Value> {
        let text = value.as_str().map(str::trim);
        match self {
            ParamType::Any => Some(value),
            ParamType::String => match value {
                Value::String(_) => Some(value),
                Value::Number(n) => Some(Value::String(n.to_string())),
                Value::Bool(b) => Some(Value::String(b.to_string())),
                _ => None,
            },
            ParamType::Int if value.is_i64() || value.is_u64() => Some(value),
            ParamType::Int => text.and_then(|t| t.parse::<i64>().ok()).map(Value::from),
            ParamType::Number if value.is_number() => Some(value),
            ParamType::Number => text
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
            ParamType::Bool if value.is_boolean() => Some(value),
            ParamType::Bool => match text.map(str::to_ascii_lowercase).as_deref() {
                Some("true") => Some(Value::Bool(true)),
                Some("false") => Some(Value::Bool(false)),
                _ => None,
            },
            ParamType::Array if value.is_array() => Some(value),
            ParamType::Object if value.is_object() => Some(value),
            ParamType::Array | ParamType::Object => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    name: String,
    runner: RunnerKind,
    /// For `builtin`: which one (defaults to the process's name).
    #[serde(default)]
    builtin: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    command: Option<PathBuf>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default)]
    retry_count: u32,
    #[serde(default = "default_group")]
    group: String,
    #[serde(default)]
    parameters: Option<BTreeMap<String, ParamType>>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    sync_wait_secs: Option<u64>,
    #[serde(default)]
    failure_answer: FailureAnswer,
}

/// How a synchronous wsProcess call answers a run that failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAnswer {
    /// A SOAP `Server` fault with the run's message (HTTP 500).
    #[default]
    Fault,
    /// The run's message as the operation's result, with HTTP 200, as RM
    /// servers answer.
    Result,
}

fn default_timeout() -> u64 {
    300
}

fn default_group() -> String {
    DEFAULT_GROUP.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// Worker groups requests may name besides the definitions' own.
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    process: Vec<RawDefinition>,
}

/// A process fila's own code runs (for demos and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Joins `name` (or `username`) and `surname` into `fullName`.
    FullName,
    /// Answers its parameters as its outputs.
    Echo,
    /// Waits `seconds` (default 1), reporting progress.
    Sleep,
    /// Fails with `message`.
    Fail,
}

impl Builtin {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "fullname" => Some(Builtin::FullName),
            "echo" => Some(Builtin::Echo),
            "sleep" => Some(Builtin::Sleep),
            "fail" => Some(Builtin::Fail),
            _ => None,
        }
    }
}

/// How a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    Builtin(Builtin),
    /// POST the parameters as JSON; the JSON object answered is the outputs.
    Http {
        url: String,
    },
    /// Run `program` with `args` (never through a shell), the parameters as
    /// JSON on stdin; a JSON object on stdout is the outputs.
    Command {
        program: PathBuf,
        args: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    pub runner: Runner,
    pub timeout: Duration,
    pub retry_count: u32,
    pub group: String,
    /// How long a synchronous call (wsProcess `ExecuteWithXmlParams`)
    /// waits for the run; `None`: as long as it runs.
    pub sync_wait: Option<Duration>,
    pub failure_answer: FailureAnswer,
    parameters: Option<BTreeMap<String, ParamType>>,
    required: Vec<String>,
}

impl Definition {
    fn from_raw(raw: RawDefinition) -> Result<Self, DefinitionError> {
        let invalid = |reason: &str| DefinitionError::Invalid {
            name: raw.name.clone(),
            reason: reason.to_string(),
        };
        if raw.name.trim().is_empty() || raw.name.chars().any(char::is_control) {
            return Err(invalid("a name is required"));
        }
        if !valid_group(&raw.group) {
            return Err(invalid("group must be letters, digits, '_' or '-'"));
        }
        if raw.timeout_secs == 0 {
            return Err(invalid("timeout_secs must be at least 1"));
        }
        if raw.sync_wait_secs == Some(0) {
            return Err(invalid("sync_wait_secs must be at least 1"));
        }
        let runner = match raw.runner {
            RunnerKind::Builtin => {
                let which = raw.builtin.as_deref().unwrap_or(&raw.name);
                Runner::Builtin(
                    Builtin::parse(which)
                        .ok_or_else(|| invalid("builtin must be FullName, Echo, Sleep or Fail"))?,
                )
            }
            RunnerKind::Http => match raw.url.as_deref() {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    Runner::Http {
                        url: url.to_string(),
                    }
                }
                _ => return Err(invalid("an http runner needs an http:// or https:// url")),
            },
            RunnerKind::Command => match &raw.command {
                Some(program) if program.is_absolute() => Runner::Command {
                    program: program.clone(),
                    args: raw.args.clone(),
                },
                _ => return Err(invalid("a command runner needs an absolute command path")),
            },
        };
        if let Some(parameters) = &raw.parameters
            && let Some(missing) = raw.required.iter().find(|r| !parameters.contains_key(*r))
        {
            return Err(invalid(&format!(
                "required parameter {missing} is not among its parameters"
            )));
        }
        Ok(Definition {
            name: raw.name.trim().to_string(),
            runner,
            timeout: Duration::from_secs(raw.timeout_secs),
            retry_count: raw.retry_count,
            group: raw.group,
            sync_wait: raw.sync_wait_secs.map(Duration::from_secs),
            failure_answer: raw.failure_answer,
            parameters: raw.parameters,
            required: raw.required,
        })
    }

    /// The parameters it accepts with their types, when it declares them.
    pub fn declared_parameters(&self) -> Option<&BTreeMap<String, ParamType>> {
        self.parameters.as_ref()
    }

    /// Whether `name` must be present and not empty.
    pub fn requires(&self, name: &str) -> bool {
        self.required.iter().any(|r| r == name)
    }

    /// The parameters as the process takes them, or why they are refused.
    pub fn prepare(
        &self,
        parameters: Map<String, Value>,
    ) -> Result<Map<String, Value>, ParameterError> {
        if let Some((name, _)) = parameters
            .iter()
            .find(|(name, value)| name.contains('\0') || db::holds_nul(value))
        {
            return Err(ParameterError::Nul(name.clone()));
        }
        if let Some(missing) = self.required.iter().find(|r| {
            parameters
                .get(*r)
                .is_none_or(|v| v.is_null() || v.as_str().is_some_and(str::is_empty))
        }) {
            return Err(ParameterError::Missing(missing.clone()));
        }
        let Some(declared) = &self.parameters else {
            return Ok(parameters);
        };
        parameters
            .into_iter()
            .map(|(name, value)| {
                let Some(kind) = declared.get(&name) else {
                    return Err(ParameterError::Unknown {
                        accepted: declared.keys().cloned().collect::<Vec<_>>().join(", "),
                        name,
                    });
                };
                if value.is_null() {
                    return Ok((name, value));
                }
                match kind.accept(value) {
                    Some(value) => Ok((name, value)),
                    None => Err(ParameterError::WrongType {
                        name,
                        expected: kind.name(),
                    }),
                }
            })
            .collect()
    }
}

/// One reading of the definitions file.
#[derive(Debug, Default)]
pub struct Processes {
    by_name: HashMap<String, Arc<Definition>>,
    groups: Vec<String>,
}

impl Processes {
    fn read(path: &Path) -> Result<Self, DefinitionError> {
        let file_error = |reason: String| DefinitionError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let raw: RawFile = toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
        if let Some(bad) = raw.groups.iter().find(|g| !valid_group(g)) {
            return Err(file_error(format!(
                "group {bad:?} must be letters, digits, '_' or '-'"
            )));
        }
        let mut by_name = HashMap::new();
        for definition in raw.process {
            let definition = Definition::from_raw(definition)?;
            let key = definition.name.to_ascii_lowercase();
            if by_name.insert(key, Arc::new(definition)).is_some() {
                return Err(file_error("a process name is defined twice".into()));
            }
        }
        Ok(Self {
            by_name,
            groups: raw.groups,
        })
    }

    /// A definition by name, ignoring case.
    pub fn get(&self, name: &str) -> Option<Arc<Definition>> {
        self.by_name.get(&name.trim().to_ascii_lowercase()).cloned()
    }

    /// Whether requests may name this worker group: the default one, a
    /// definition's, or one the file lists in `groups`.
    pub fn knows_group(&self, group: &str) -> bool {
        group == DEFAULT_GROUP
            || self.groups.iter().any(|g| g == group)
            || self.by_name.values().any(|d| d.group == group)
    }
}

/// The definitions in force, read again when their file changes.
pub struct Catalog {
    file: Arc<WatchedFile<Processes, DefinitionError>>,
}

impl Catalog {
    /// Reads the file (none: no process is defined); a bad file stops the
    /// start.
    pub fn load(path: Option<&Path>) -> Result<Arc<Self>, DefinitionError> {
        let file = WatchedFile::load("process definitions", path, |path| match path {
            Some(path) => Processes::read(path),
            None => Ok(Processes::default()),
        })?;
        Ok(Arc::new(Self { file }))
    }

    pub fn current(&self) -> Arc<Processes> {
        self.file.current()
    }

    /// A definition by name; when it is unknown, the file is looked at again
    /// first (it may have just gained it).
    pub fn lookup(&self, name: &str) -> Option<Arc<Definition>> {
        self.current().get(name).or_else(|| {
            self.file.reload_if_changed();
            self.current().get(name)
        })
    }

    /// Watches the file for the life of the process.
    pub fn watch(&self) {
        self.file.watch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(toml: &str) -> Result<Definition, DefinitionError> {
        let raw: RawFile = toml::from_str(toml).expect("toml");
        Definition::from_raw(raw.process.into_iter().next().expect("one"))
    }

    #[test]
    fn parameters_are_checked_and_converted() {
        let d = definition(
            "[[process]]\nname = \"P\"\nrunner = \"builtin\"\nbuiltin = \"Echo\"\nrequired = [\"n\"]\n\
             [process.parameters]\nn = \"int\"\nok = \"bool\"\nname = \"string\"\n",
        )
        .expect("valid");
        let params = |v: Value| v.as_object().cloned().expect("object");
        assert_eq!(
            d.prepare(params(json!({ "n": "42", "ok": "TRUE", "name": 7 }))),
            Ok(params(json!({ "n": 42, "ok": true, "name": "7" })))
        );
        assert_eq!(
            d.prepare(params(json!({ "ok": true }))),
            Err(ParameterError::Missing("n".into()))
        );
        assert!(matches!(
            d.prepare(params(json!({ "n": 1, "other": 1 }))),
            Err(ParameterError::Unknown { .. })
        ));
        assert!(matches!(
            d.prepare(params(json!({ "n": "x" }))),
            Err(ParameterError::WrongType { .. })
        ));
        for nul in [
            json!({ "n": 1, "name": "a\u{0}" }),
            json!({ "n": 1, "na\u{0}me": "a" }),
        ] {
            assert!(matches!(
                d.prepare(params(nul)),
                Err(ParameterError::Nul(_))
            ));
        }
        let free =
            definition("[[process]]\nname = \"E\"\nrunner = \"builtin\"\nbuiltin = \"Echo\"\n")
                .expect("valid");
        assert!(matches!(
            free.prepare(params(json!({ "deep": [{ "x": "\u{0}" }] }))),
            Err(ParameterError::Nul(_))
        ));
    }

    #[test]
    fn definitions_are_checked() {
        assert!(definition("[[process]]\nname = \"P\"\nrunner = \"builtin\"\n").is_err());
        assert!(
            definition("[[process]]\nname = \"P\"\nrunner = \"http\"\nurl = \"ftp://x\"\n")
                .is_err()
        );
        assert!(
            definition("[[process]]\nname = \"P\"\nrunner = \"command\"\ncommand = \"rel/path\"\n")
                .is_err()
        );
        assert!(definition("[[process]]\nname = \"P\"\nrunner = \"builtin\"\nbuiltin = \"Sleep\"\ngroup = \"a b\"\n").is_err());
        let d = definition("[[process]]\nname = \"Sleep\"\nrunner = \"builtin\"\n").expect("valid");
        assert_eq!(d.runner, Runner::Builtin(Builtin::Sleep));
        assert_eq!(
            (d.timeout, d.retry_count, d.group.as_str()),
            (Duration::from_secs(300), 0, "default")
        );
        assert_eq!(
            (d.sync_wait, d.failure_answer),
            (None, FailureAnswer::Fault)
        );
        let d = definition(
            "[[process]]\nname = \"Sleep\"\nrunner = \"builtin\"\nsync_wait_secs = 5\nfailure_answer = \"result\"\n",
        )
        .expect("valid");
        assert_eq!(
            (d.sync_wait, d.failure_answer),
            (Some(Duration::from_secs(5)), FailureAnswer::Result)
        );
        for bad in ["sync_wait_secs = 0", "failure_answer = \"text\""] {
            let toml = format!("[[process]]\nname = \"Sleep\"\nrunner = \"builtin\"\n{bad}\n");
            let raw: Result<RawFile, _> = toml::from_str(&toml);
            assert!(
                raw.map_err(|e| e.to_string())
                    .and_then(|raw| Definition::from_raw(
                        raw.process.into_iter().next().expect("one")
                    )
                    .map_err(|e| e.to_string()))
                    .is_err(),
                "{bad}"
            );
        }
    }
}
