//! HTTP calls to fila: URLs built from path segments and query pairs (so
//! ticket codes and ids are escaped), HTTP Basic credentials, and the
//! answer read as JSON. A refusal keeps the server's own code and message,
//! whichever protocol's shape it has: fila's and TAF's RESTFAULT
//! `{"code", "message"}`, EAI's `{"code": "EAI-…", "message"}`, the
//! scheduler API's `{"message"}`.

use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::settings::Connection;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take (a TAF lot of 5,000 items is stored in
/// well under a second; this only bounds a server that stopped answering).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Characters of a body that is not JSON kept in a message.
const MAX_QUOTED: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach fila at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{method} {url}: HTTP {status}: {message}{}", hint(*status))]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("{method} {url}: unexpected answer (HTTP {status}): {reason}")]
    Answer {
        method: Method,
        url: String,
        status: StatusCode,
        reason: String,
    },
}

fn hint(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => {
            " (check the user and password: --user/--password, FILACLI_USER/FILACLI_PASSWORD or the config file)"
        }
        StatusCode::FORBIDDEN => " (the user's roles do not allow this call)",
        _ => "",
    }
}

/// fila's base URL, the credentials, and one HTTP client.
pub struct Client {
    http: reqwest::blocking::Client,
    connection: Connection,
}

/// An answer of any status.
pub struct Answer {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    /// The body as JSON; `Null` when empty or not JSON.
    pub body: Value,
    text: String,
}

impl Client {
    pub fn new(connection: Connection) -> Result<Self, ClientError> {
        fila_shared::tls::install();
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("fila-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: connection.url.to_string(),
                reason: format!("cannot set up the HTTP client: {}", root_cause(&e)),
            })?;
        Ok(Self { http, connection })
    }

    /// The URL of `segments` under the base URL, with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.connection.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub fn get(&self, url: Url) -> Result<Answer, ClientError> {
        self.send(Method::GET, url, None)
    }

    pub fn post_json(&self, url: Url, body: &Value) -> Result<Answer, ClientError> {
        self.send(Method::POST, url, Some(body.to_string().into_bytes()))
    }

    /// Sends a request; the answer whatever its status (see [`Answer::ok`]).
    pub fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let shown = url.to_string();
        let mut request: RequestBuilder = self.http.request(method.clone(), url);
        if let Some(user) = &self.connection.user {
            let password = self.connection.password.as_ref().map(|p| p.expose_secret());
            request = request.basic_auth(user, password);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(body);
        }
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: self.connection.url.to_string(),
            reason: root_cause(&e),
        };
        let response = request.send().map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().map_err(unreachable)?;
        Ok(Answer {
            method,
            url: shown,
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// The innermost cause of a transport error ("Connection refused (os error
/// 111)"), which says more than reqwest's outer "error sending request".
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if error.is_timeout() {
        format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
    } else {
        cause.to_string()
    }
}

impl Answer {
    /// The answer when its status is 2xx, else the server's refusal.
    pub fn ok(self) -> Result<Self, ClientError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.refusal())
        }
    }

    /// The answer as the error it stands for, with the server's code and
    /// message when it gave them.
    pub fn refusal(self) -> ClientError {
        let code = match &self.body["code"] {
            Value::String(code) => Some(code.clone()),
            Value::Number(code) if code.as_u64() != Some(u64::from(self.status.as_u16())) => {
                Some(code.to_string())
            }
            _ => None,
        };
        let message = match self.body["message"].as_str() {
            Some(message) => message.to_string(),
            None if self.text.trim().is_empty() => "(empty body)".to_string(),
            None => quoted(&self.text),
        };
        ClientError::Status {
            method: self.method,
            url: self.url,
            status: self.status,
            message: code.map_or(message.clone(), |code| format!("{code} {message}")),
        }
    }

    /// The 2xx body as `T`.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        let answer = self.ok()?;
        serde_json::from_value(answer.body.clone()).map_err(|e| answer.unexpected(e.to_string()))
    }

    /// An answer that is not what the protocol promises.
    pub fn unexpected(&self, reason: String) -> ClientError {
        let reason = if self.body.is_null() {
            format!("{reason}: {}", quoted(&self.text))
        } else {
            reason
        };
        ClientError::Answer {
            method: self.method.clone(),
            url: self.url.clone(),
            status: self.status,
            reason,
        }
    }
}

/// The start of a body, for a message.
fn quoted(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            method: Method::GET,
            url: "http://127.0.0.1:8080/x".into(),
            status: StatusCode::from_u16(status).expect("status"),
            text: body.to_string(),
            body,
        }
    }

    #[test]
    fn a_refusal_keeps_the_servers_code_and_message() {
        let message = |status, body| answer(status, body).refusal().to_string();
        assert_eq!(
            message(
                404,
                json!({"code": 404, "message": "no schedule has uid x"})
            ),
            "GET http://127.0.0.1:8080/x: HTTP 404 Not Found: no schedule has uid x"
        );
        assert_eq!(
            message(500, json!({"code": 701, "message": "Informe startRecNo."})),
            "GET http://127.0.0.1:8080/x: HTTP 500 Internal Server Error: 701 Informe startRecNo."
        );
        assert!(
            message(400, json!({"code": "EAI-001", "message": "not JSON"}))
                .ends_with("HTTP 400 Bad Request: EAI-001 not JSON")
        );
        assert!(
            message(
                401,
                json!({"code": 401, "message": "authentication required"})
            )
            .contains("authentication required (check the user and password")
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_quoted() {
        let mut bad = answer(502, Value::Null);
        bad.text = "<html>Bad Gateway</html>".into();
        assert!(
            bad.refusal()
                .to_string()
                .ends_with("HTTP 502 Bad Gateway: \"<html>Bad Gateway</html>\"")
        );
    }
}
