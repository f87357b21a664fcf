//! The one place where every failure of a command becomes a message on
//! stderr and an exit code; `fila --help` documents the codes.

use std::process::ExitCode;

use crate::client::ClientError;
use crate::input::InputError;
use crate::settings::SettingsError;

/// The exit codes, from the least to the most unexpected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    WorkFailed = 1,
    Usage = 2,
    Input = 3,
    Unreachable = 4,
    Credentials = 5,
    Refused = 6,
    Server = 7,
    TimedOut = 8,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// fila refused a TAF lot whole (`{"coderr", "description"}`).
    #[error("{path}: lot refused: {code} {description}")]
    LotRefused {
        path: String,
        code: i64,
        description: String,
    },
    /// The work was taken but did not all succeed; the details are printed.
    #[error("{0}")]
    WorkFailed(String),
    #[error("gave up after {seconds} s: {what}")]
    TimedOut { seconds: u64, what: String },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Settings(_) => Exit::Usage,
            CliError::Input(_) => Exit::Input,
            CliError::Client(e) => match e {
                ClientError::Unreachable { .. } => Exit::Unreachable,
                ClientError::Status { status, .. } => match status.as_u16() {
                    401 | 403 => Exit::Credentials,
                    400..=499 => Exit::Refused,
                    _ => Exit::Server,
                },
                ClientError::Answer { .. } => Exit::Server,
            },
            CliError::LotRefused { .. } => Exit::Refused,
            CliError::WorkFailed(_) => Exit::WorkFailed,
            CliError::TimedOut { .. } => Exit::TimedOut,
            CliError::Output(_) => Exit::Input,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
