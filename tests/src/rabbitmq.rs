//! The local RabbitMQ node's own command-line tool, for the faults only the
//! broker can make: policies that refuse messages, memory alarms.

use std::process::Command;

/// Runs `rabbitmqctl` with `args`; panics with its output on failure.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// A policy on the queues whose names match a pattern, removed when
/// dropped.
pub struct Policy {
    name: String,
}

impl Policy {
    /// Applies `definition` (JSON) to the queues named exactly `queue`, and
    /// waits until RabbitMQ shows it on that queue.
    pub async fn on_queue(queue: &str, definition: &str) -> Self {
        let name = format!("{queue}-test-policy");
        let pattern = format!("^{}$", queue.replace('.', "\\."));
        rabbitmqctl(&[
            "set_policy",
            "--apply-to",
            "queues",
            "--priority",
            "100",
            &name,
            &pattern,
            definition,
        ]);
        let applied = crate::eventually(30, || async {
            rabbitmqctl(&["list_queues", "-q", "name", "policy"])
                .lines()
                .any(|line| line.split_whitespace().eq([queue, name.as_str()]))
        })
        .await;
        assert!(applied, "policy {name} is not on {queue}");
        Self { name }
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["clear_policy", &self.name])
            .output();
    }
}

/// A channel on the broker of `amqp_url`, with its connection.
pub async fn channel(amqp_url: &str) -> (lapin::Connection, lapin::Channel) {
    let connection = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    (connection, channel)
}

/// Purges a queue of the broker of `amqp_url`, as an operator would; how
/// many messages it dropped.
pub async fn purge(amqp_url: &str, queue: &str) -> u32 {
    let (connection, channel) = channel(amqp_url).await;
    let purged = channel
        .queue_purge(queue.into(), lapin::options::QueuePurgeOptions::default())
        .await
        .expect("purge");
    let _ = connection.close(200, "purged".into()).await;
    purged
}

/// A queue's ready messages and consumers, on the local RabbitMQ.
pub async fn queue_counts(queue: &str) -> (u32, u32) {
    let (connection, channel) = channel(&crate::amqp_url()).await;
    let declared = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("the queue exists");
    let _ = connection.close(200, "counted".into()).await;
    (declared.message_count(), declared.consumer_count())
}

/// Deletes `queue` on the broker node of `amqp_url` and declares it again
/// there as a plain durable classic queue (no arguments), bound to
/// `binding` (exchange, routing key) when given: a queue that differs from
/// what fila declares, or that lives on another node.
pub async fn replace_with_classic(amqp_url: &str, queue: &str, binding: Option<(&str, &str)>) {
    let (connection, channel) = channel(amqp_url).await;
    channel
        .queue_delete(queue.into(), lapin::options::QueueDeleteOptions::default())
        .await
        .expect("delete");
    let durable = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), durable, lapin::types::FieldTable::default())
        .await
        .expect("a classic queue");
    if let Some((exchange, key)) = binding {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("bound");
    }
    let _ = connection.close(200, "replaced".into()).await;
}
