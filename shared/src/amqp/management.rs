//! RabbitMQ's management API, for what AMQP does not tell: the publish and
//! deliver rates of fila's queues. Optional (`amqp_management_url`); it
//! logs in with the user, and reads the virtual host, of `amqp_url`. A
//! redirect is not followed: it is an error, so that the credentials go
//! nowhere but the configured server.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How long one reading may take.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error("amqp_management_url: {0}")]
    Url(String),
    #[error("amqp_url cannot be read: {0}")]
    AmqpUrl(String),
    #[error("RabbitMQ management API: {0}")]
    Http(#[from] reqwest::Error),
    #[error("RabbitMQ management API answered {0}, a redirect, which is not followed")]
    Redirected(reqwest::StatusCode),
}

/// A queue's message rates, per second, as RabbitMQ averages them over its
/// last sampling interval (5 s by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub publish: f64,
    pub deliver: f64,
}

impl Rates {
    /// The rates of several queues together (a work queue's lanes); none
    /// when none is known.
    pub fn sum<'a>(rates: impl Iterator<Item = &'a Rates>) -> Option<Rates> {
        rates.fold(None, |total, r| {
            let total = total.unwrap_or(Rates {
                publish: 0.0,
                deliver: 0.0,
            });
            Some(Rates {
                publish: total.publish + r.publish,
                deliver: total.deliver + r.deliver,
            })
        })
    }
}

pub struct Management {
    client: reqwest::Client,
    queues: Url,
    user: String,
    password: SecretString,
}

impl Management {
    /// The client of `base` (`http://rabbitmq:15672`), with the credentials
    /// and virtual host of `amqp_url`.
    pub fn new(base: &str, amqp_url: &SecretString) -> Result<Self, ManagementError> {
        let amqp = super::connector::parse_url(amqp_url).map_err(ManagementError::AmqpUrl)?;
        let mut queues = Url::parse(base).map_err(|e| ManagementError::Url(e.to_string()))?;
        queues
            .path_segments_mut()
            .map_err(|()| ManagementError::Url(format!("{base} cannot be a base URL")))?
            .pop_if_empty()
            .extend(["api", "queues", amqp.vhost.as_str()]);
        queues.set_query(Some(
            "columns=name,message_stats.publish_details.rate,message_stats.deliver_get_details.rate",
        ));
        crate::tls::install();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            queues,
            user: amqp.authority.userinfo.username,
            password: SecretString::from(amqp.authority.userinfo.password),
        })
    }

    /// The rates of every queue of the virtual host, by queue name. A queue
    /// without traffic yet has rates of 0.
    pub async fn rates(&self) -> Result<HashMap<String, Rates>, ManagementError> {
        let response = self
            .client
            .get(self.queues.clone())
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .send()
            .await?;
        if response.status().is_redirection() {
            return Err(ManagementError::Redirected(response.status()));
        }
        let listed: Vec<Listed> = response.error_for_status()?.json().await?;
        Ok(listed
            .into_iter()
            .map(|queue| {
                let stats = queue.message_stats.unwrap_or_default();
                let rate = |detail: Option<Detail>| detail.map_or(0.0, |d| d.rate);
                let rates = Rates {
                    publish: rate(stats.publish_details),
                    deliver: rate(stats.deliver_get_details),
                };
                (queue.name, rates)
            })
            .collect())
    }
}

#[derive(Deserialize)]
struct Listed {
    name: String,
    message_stats: Option<Stats>,
}

#[derive(Deserialize, Default)]
struct Stats {
    publish_details: Option<Detail>,
    deliver_get_details: Option<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    rate: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queues_url_names_the_virtual_host_of_amqp_url() {
        let amqp = SecretString::from("amqp://fila:s3cret@rabbit:5672/%2f");
        let management = Management::new("http://rabbit:15672/", &amqp).expect("builds");
        assert_eq!(
            management.queues.as_str(),
            "http://rabbit:15672/api/queues/%2F?columns=name,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
        );
        assert_eq!(management.user, "fila");
        let amqp = SecretString::from("amqp://fila:s3cret@rabbit:5672/erp");
        let management = Management::new("https://mq.example/rabbit", &amqp).expect("builds");
        assert!(
            management
                .queues
                .as_str()
                .starts_with("https://mq.example/rabbit/api/queues/erp?")
        );
    }

    /// A server that answers every request with `answer` and counts them.
    async fn server(answer: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut request = vec![0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, requests)
    }

    #[tokio::test]
    async fn a_redirect_is_an_error_and_is_not_followed() {
        use std::sync::atomic::Ordering;
        let (elsewhere, asked) = server(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]".into(),
        )
        .await;
        let (base, _) = server(format!(
            "HTTP/1.1 302 Found\r\nlocation: {elsewhere}/api/queues/%2F\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ))
        .await;
        let amqp = SecretString::from("amqp://fila:s3cret@127.0.0.1:5672/%2f");
        let management = Management::new(&base, &amqp).expect("builds");
        let error = management.rates().await.expect_err("a redirect");
        assert!(
            matches!(error, ManagementError::Redirected(status) if status.as_u16() == 302),
            "{error}"
        );
        assert_eq!(
            asked.load(Ordering::SeqCst),
            0,
            "the redirect was not followed"
        );
    }

    #[test]
    fn a_wrong_url_is_named() {
        let amqp = SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f");
        let error = Management::new("not a url", &amqp).err().expect("refused");
        assert!(
            error.to_string().starts_with("amqp_management_url"),
            "{error}"
        );
    }
}
