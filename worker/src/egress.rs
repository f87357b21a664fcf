//! What the worker sends out over HTTP (EAI destinations, `http` process
//! runners), and how it speaks of where it sends it.
//!
//! - Redirects: a redirect that keeps the POST whole (307 or 308) to the
//!   same origin (scheme, host and port) is followed, at most
//!   [`MAX_REDIRECTS`] times. No other is: not to another origin, not a
//!   301, 302 or 303 (which would turn the POST into a GET without its
//!   body), not one past the limit. The 3xx is then the destination's
//!   answer, and nothing is sent where it points.
//! - Credentials: a URL may carry them (`https://user:password@host/…`,
//!   sent as HTTP Basic). Whatever the worker says of a destination (its
//!   log, retry reasons, EAI details, process messages, results, hence the
//!   answers to producers) is written through [`Endpoint`], which shows the
//!   URL with `***` for its password and removes the password from the
//!   errors and answers it quotes.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::redirect::{Action, Attempt, Policy};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;

/// Same-origin redirects followed for one request, at most.
pub const MAX_REDIRECTS: usize = 3;

/// What stands for a password wherever a URL is shown.
const HIDDEN: &str = "***";

/// The HTTP client of destinations and runners (TLS through rustls and the
/// platform's certificates), with the redirect policy above.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    fila_shared::tls::install();
    reqwest::Client::builder()
        .user_agent(concat!("fila/", env!("CARGO_PKG_VERSION")))
        .redirect(Policy::custom(follow_same_origin))
        .build()
}

fn follow_same_origin(attempt: Attempt) -> Action {
    let keeps_the_post = matches!(
        attempt.status(),
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
    );
    // The first URL is the one requested; one more per redirect followed.
    let previous = attempt.previous();
    let same_origin = previous
        .first()
        .is_some_and(|first| first.origin() == attempt.url().origin());
    if keeps_the_post && same_origin && previous.len() <= MAX_REDIRECTS {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// A configured URL, and how it may be shown.
pub struct Endpoint<'a> {
    url: &'a str,
    shown: String,
    /// The password as written in the URL and percent-decoded (or the
    /// user part, when it has no password: a token).
    secrets: Vec<String>,
}

impl<'a> Endpoint<'a> {
    pub fn new(url: &'a str) -> Self {
        let Some((start, at)) = userinfo(url) else {
            return Self {
                url,
                shown: url.to_string(),
                secrets: Vec::new(),
            };
        };
        let (shown_info, secret) = match url[start..at].split_once(':') {
            Some((user, password)) => (format!("{user}:{HIDDEN}"), password),
            None => (HIDDEN.to_string(), &url[start..at]),
        };
        let mut secrets = vec![secret.to_string()];
        secrets.extend(percent_decoded(secret).filter(|decoded| decoded != secret));
        secrets.retain(|s| !s.is_empty());
        Self {
            url,
            shown: format!("{}{shown_info}{}", &url[..start], &url[at..]),
            secrets,
        }
    }

    /// The URL to request, credentials included.
    pub fn url(&self) -> &str {
        self.url
    }

    /// `text` without the URL's password.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret, HIDDEN)
        })
    }

    /// An error of a request, without its URL and the password: the error
    /// and its causes, `: `-separated.
    pub fn describe(&self, error: reqwest::Error) -> String {
        let error = error.without_url();
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(inner) = cause {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            cause = inner.source();
        }
        self.redact(&text)
    }
}

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The span of a URL's user information (`user:password`), before its `@`.
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |end| start + end);
    let at = url[start..authority_end].rfind('@')? + start;
    Some((start, at))
}

fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// What a destination answered.
pub enum Answer {
    /// Its status and body (the body without the URL's password).
    Final { status: StatusCode, body: String },
    /// A redirect fila did not follow, and why.
    Redirect { status: StatusCode, why: String },
}

/// How a request is made: its method, the parameters added to the URL's
/// query, and how long the answer may take.
pub struct Call<'a> {
    pub method: Method,
    pub query: &'a [(&'a str, &'a str)],
    pub timeout: Duration,
}

impl Call<'_> {
    /// A POST within `timeout`, with the URL as configured.
    pub fn post(timeout: Duration) -> Self {
        Self {
            method: Method::POST,
            query: &[],
            timeout,
        }
    }
}

/// Sends `body` as JSON to `endpoint` as `call` says: the answer, or why
/// there was none (without the URL's password).
pub async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint<'_>,
    call: &Call<'_>,
    body: &impl Serialize,
) -> Result<Answer, String> {
    let mut url = Url::parse(endpoint.url()).map_err(|e| endpoint.redact(&e.to_string()))?;
    if !call.query.is_empty() {
        url.query_pairs_mut().extend_pairs(call.query);
    }
    let response = client
        .request(call.method.clone(), url)
        .timeout(call.timeout)
        .json(body)
        .send()
        .await
        .map_err(|e| endpoint.describe(e))?;
    let status = response.status();
    if status.is_redirection() {
        let why = not_followed(endpoint, &response);
        return Ok(Answer::Redirect { status, why });
    }
    let text = response.text().await.map_err(|e| endpoint.describe(e))?;
    Ok(Answer::Final {
        status,
        body: endpoint.redact(&text),
    })
}

/// Why a redirect answered by `response` was not followed.
fn not_followed(endpoint: &Endpoint<'_>, response: &reqwest::Response) -> String {
    let target = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| response.url().join(location).ok());
    let Some(target) = target else {
        return "a redirect without a usable Location, which fila does not follow".into();
    };
    let requested = Url::parse(endpoint.url()).ok();
    let why = if requested.is_some_and(|r| r.origin() != target.origin()) {
        format!(
            "a redirect to another origin ({}), which fila does not follow",
            target.origin().ascii_serialization()
        )
    } else if !matches!(
        response.status(),
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
    ) {
        format!(
            "a redirect to {} that would turn the POST into a GET without its body, which fila \
             does not follow (a 307 or 308 keeps it)",
            target.path()
        )
    } else {
        format!(
            "a redirect to {} past the {MAX_REDIRECTS} redirects fila follows",
            target.path()
        )
    };
    endpoint.redact(&why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        let endpoint = Endpoint::new("https://erp:s3cr%40t@erp.example.com:8443/hooks?x=1");
        assert_eq!(
            endpoint.to_string(),
            "https://erp:***@erp.example.com:8443/hooks?x=1"
        );
        assert_eq!(
            endpoint.redact("refused s3cr%40t, then s3cr@t"),
            "refused ***, then ***"
        );
        let token = Endpoint::new("http://tok3n@host/a@b");
        assert_eq!(token.to_string(), "http://***@host/a@b");
        assert_eq!(token.redact("tok3n"), "***");
        let plain = Endpoint::new("http://host:80/path?user=a@b");
        assert_eq!(plain.to_string(), "http://host:80/path?user=a@b");
        assert_eq!(plain.redact("as is"), "as is");
        let odd = Endpoint::new("not a url");
        assert_eq!(odd.to_string(), "not a url");
    }

    #[test]
    fn percent_escapes_decode_and_stray_percents_stay() {
        assert_eq!(percent_decoded("a%40b%2"), Some("a@b%2".into()));
        assert_eq!(percent_decoded("%zz"), Some("%zz".into()));
        assert_eq!(percent_decoded("%ff"), None);
    }
}
