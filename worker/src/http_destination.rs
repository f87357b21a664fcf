//! Delivering EAI messages to an HTTP destination: a POST of the message (or
//! of the business lot, as a JSON array) as received. A 2xx answer is the
//! ReturnContent (the answer's own ReturnContent when it is an EAI response
//! message); a 4xx refuses the message; a 5xx, a timeout or a connection
//! failure is worth another attempt.

use std::time::Duration;

use fila_shared::eai::keys::field;
use serde_json::Value;

/// Bytes of a refusal's body kept in the message's details.
const MAX_REFUSAL_BODY: usize = 1_000;

#[derive(Debug)]
pub enum DeliveryError {
    Refused { status: u16, body: String },
    Unavailable(String),
}

/// An HTTP client for destinations (TLS through rustls and the platform's
/// certificates).
pub fn client() -> reqwest::Client {
    fila_shared::tls::install();
    reqwest::Client::builder()
        .user_agent(concat!("fila/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    body: &Value,
) -> Result<Value, DeliveryError> {
    let response = client
        .post(url)
        .timeout(timeout)
        .json(body)
        .send()
        .await
        .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
    if status.is_success() {
        return Ok(return_content(&text));
    }
    if status.is_client_error() {
        return Err(DeliveryError::Refused {
            status: status.as_u16(),
            body: text.chars().take(MAX_REFUSAL_BODY).collect(),
        });
    }
    Err(DeliveryError::Unavailable(format!("HTTP {status}")))
}

/// The ReturnContent of a destination's answer.
fn return_content(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    let Ok(answer) = serde_json::from_str::<Value>(text) else {
        return Value::String(text.to_string());
    };
    let inner = answer
        .as_object()
        .and_then(|a| field(a, "Content"))
        .and_then(Value::as_object)
        .and_then(|c| field(c, "ReturnContent"));
    inner.cloned().unwrap_or(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_eai_response_gives_its_return_content() {
        let answer = json!({ "Header": {}, "Content": { "ReturnContent": { "id": 1 } } });
        assert_eq!(return_content(&answer.to_string()), json!({ "id": 1 }));
        assert_eq!(return_content("{\"a\":1}"), json!({ "a": 1 }));
        assert_eq!(return_content("plain"), json!("plain"));
        assert_eq!(return_content(" "), Value::Null);
    }
}
