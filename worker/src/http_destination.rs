//! Delivering EAI messages to an HTTP destination: the message (or the
//! business lot, as a JSON array) as received, with the method of its
//! Event (see `eai`). A 2xx answer is the
//! ReturnContent (the answer's own ReturnContent when it is an EAI response
//! message); a 4xx, or a redirect fila does not follow (see [`egress`]),
//! refuses the message; a 5xx, a timeout or a connection failure is worth
//! another attempt. Neither reason holds the URL's password.

use fila_shared::eai::keys::field;
use serde_json::Value;

use crate::egress::{self, Answer, Call, Endpoint};

/// Bytes of a refusal's body kept in the message's details.
const MAX_REFUSAL_BODY: usize = 1_000;

#[derive(Debug)]
pub enum DeliveryError {
    Refused { status: u16, body: String },
    Unavailable(String),
}

pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    call: &Call<'_>,
    body: &Value,
) -> Result<Value, DeliveryError> {
    let endpoint = Endpoint::new(url);
    let answer = egress::send(client, &endpoint, call, body)
        .await
        .map_err(DeliveryError::Unavailable)?;
    match answer {
        Answer::Redirect { status, why } => Err(DeliveryError::Refused {
            status: status.as_u16(),
            body: why,
        }),
        Answer::Final { status, body } if status.is_success() => Ok(return_content(&body)),
        Answer::Final { status, body } if status.is_client_error() => Err(DeliveryError::Refused {
            status: status.as_u16(),
            body: body.chars().take(MAX_REFUSAL_BODY).collect(),
        }),
        Answer::Final { status, .. } => Err(DeliveryError::Unavailable(format!("HTTP {status}"))),
    }
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
