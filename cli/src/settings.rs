//! Where fila is and who is calling: each of url, user and password comes
//! from the command line, else the environment (clap reads both), else
//! the config file, else the default (`http://127.0.0.1:8080`, no user).
//!
//! The variables are `FILACLI_*`, not `FILA_*`: fila-api and fila-worker
//! read every `FILA_<key>` variable as configuration and refuse unknown
//! ones, so a `FILA_URL` exported for the command line would stop a server
//! started from the same shell.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;

use crate::args::ConnectionArgs;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("config file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("the URL {url:?} is not usable: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read the password: {0}")]
    Prompt(std::io::Error),
}

/// The config file's keys, each optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    url: Option<String>,
    user: Option<String>,
    password: Option<SecretString>,
}

/// The resolved connection (its Debug shows no password).
#[derive(Debug)]
pub struct Connection {
    pub url: Url,
    pub user: Option<String>,
    pub password: Option<SecretString>,
}

impl Connection {
    /// Resolves the settings; asks for the password on a terminal when a
    /// user is known but no password.
    pub fn resolve(args: &ConnectionArgs) -> Result<Self, SettingsError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => match default_file() {
                Some(path) if path.exists() => read_file(&path)?,
                _ => FileSettings::default(),
            },
        };
        let text = args
            .url
            .clone()
            .or(file.url)
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let url = parse_url(&text)?;
        let user = args.user.clone().or(file.user);
        let mut password = args
            .password
            .as_deref()
            .map(SecretString::from)
            .or(file.password);
        if let Some(user) = &user
            && password.is_none()
            && std::io::stdin().is_terminal()
        {
            let prompt = format!("password of {user} at {url}: ");
            let typed = rpassword::prompt_password(prompt).map_err(SettingsError::Prompt)?;
            password = Some(SecretString::from(typed));
        }
        Ok(Self {
            url,
            user,
            password,
        })
    }
}

fn parse_url(text: &str) -> Result<Url, SettingsError> {
    let invalid = |reason: String| SettingsError::Url {
        url: text.to_string(),
        reason,
    };
    let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(invalid("it must be an http:// or https:// URL".into()));
    }
    Ok(url)
}

/// `$XDG_CONFIG_HOME/fila/cli.toml`, else `$HOME/.config/fila/cli.toml`.
fn default_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("fila").join("cli.toml"))
}

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let failed = |reason: String| SettingsError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    toml::from_str(&text).map_err(|e| failed(e.to_string().trim_end().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_usable() {
        assert!(parse_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_url("https://fila.example.com/base/").is_ok());
        assert!(parse_url("127.0.0.1:8080").is_err());
        assert!(parse_url("ftp://fila.example.com").is_err());
        assert!(parse_url("mailto:ops@example.com").is_err());
    }

    #[test]
    fn the_file_refuses_unknown_keys() {
        assert!(toml::from_str::<FileSettings>("url = \"http://x\"\nuser = \"u\"").is_ok());
        assert!(toml::from_str::<FileSettings>("server = \"http://x\"").is_err());
    }

    #[test]
    fn debug_shows_no_password() {
        let file: FileSettings = toml::from_str("password = \"s3cret\"").expect("file");
        let connection = Connection {
            url: parse_url(DEFAULT_URL).expect("url"),
            user: Some("erp".into()),
            password: file.password,
        };
        assert!(!format!("{connection:?}").contains("s3cret"));
    }
}
