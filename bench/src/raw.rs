//! `raw`: the floor of the work fila does, done directly on the same
//! PostgreSQL and RabbitMQ, with no fila in between. For N records of about
//! 2 KB: a batched INSERT (1,000 rows per statement), one persistent message
//! per record published with pipelined confirms, consumed with manual acks,
//! and a batched status UPDATE of what was consumed. The time runs from the
//! first INSERT to the last UPDATE; a record's latency from its INSERT to its
//! UPDATE.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio_postgres::{Client, NoTls};

use crate::cpu::Meter;
use crate::payload;
use crate::report::Figures;

const INSERT_BATCH: usize = 1_000;
const UPDATE_BATCH: usize = 500;

pub async fn run(records: usize) -> Figures {
    let name = format!("bench_raw_{}", std::process::id());
    let producer_db = connect(&name).await;
    producer_db
        .batch_execute(&format!(
            "CREATE SCHEMA {name};
             CREATE TABLE {name}.record (id bigserial PRIMARY KEY, payload bytea NOT NULL,
                                         status text NOT NULL DEFAULT 'pending');"
        ))
        .await
        .expect("raw schema");
    let consumer_db = connect(&name).await;
    let amqp = Connection::connect(&fila_tests::amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    let publisher = amqp.create_channel().await.expect("channel");
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    publisher
        .queue_declare(
            name.clone().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    let consumer_channel = amqp.create_channel().await.expect("channel");
    consumer_channel
        .basic_qos(UPDATE_BATCH as u16 * 2, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut consumer = consumer_channel
        .basic_consume(
            name.clone().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");

    let payload = payload::event("RAW").into_bytes();
    let meter = Meter::start(Vec::new());
    let start = Instant::now();
    let consume = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(records);
        let mut ids: Vec<i64> = Vec::with_capacity(UPDATE_BATCH);
        let mut sent_at: Vec<Duration> = Vec::with_capacity(UPDATE_BATCH);
        let mut last_tag = 0;
        let update = consumer_db
            .prepare("UPDATE record SET status = 'done' WHERE id = ANY($1)")
            .await
            .expect("prepare");
        while latencies.len() < records {
            let next = tokio::time::timeout(Duration::from_millis(5), consumer.next()).await;
            let idle = next.is_err();
            if let Ok(Some(Ok(delivery))) = next {
                let (id, nanos) = decode(&delivery.data);
                ids.push(id);
                sent_at.push(Duration::from_nanos(nanos));
                last_tag = delivery.delivery_tag;
            }
            if !ids.is_empty()
                && (ids.len() >= UPDATE_BATCH || idle || latencies.len() + ids.len() == records)
            {
                consumer_db.execute(&update, &[&ids]).await.expect("update");
                consumer_channel
                    .basic_ack(last_tag, BasicAckOptions { multiple: true })
                    .await
                    .expect("ack");
                let now = start.elapsed();
                latencies.extend(sent_at.drain(..).map(|t| now.saturating_sub(t)));
                ids.clear();
            }
        }
        latencies
    });

    let insert = producer_db
        .prepare("INSERT INTO record (payload) SELECT * FROM unnest($1::bytea[]) RETURNING id")
        .await
        .expect("prepare");
    let mut produced = 0;
    while produced < records {
        let batch = INSERT_BATCH.min(records - produced);
        let inserted_at = start.elapsed().as_nanos() as u64;
        let payloads: Vec<&[u8]> = vec![payload.as_slice(); batch];
        let rows = producer_db
            .query(&insert, &[&payloads])
            .await
            .expect("insert");
        let mut confirms = Vec::with_capacity(batch);
        for row in &rows {
            let mut body = Vec::with_capacity(16 + payload.len());
            body.extend_from_slice(&row.get::<_, i64>(0).to_le_bytes());
            body.extend_from_slice(&inserted_at.to_le_bytes());
            body.extend_from_slice(&payload);
            confirms.push(
                publisher
                    .basic_publish(
                        "".into(),
                        name.clone().into(),
                        BasicPublishOptions::default(),
                        &body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .expect("publish"),
            );
        }
        for confirm in confirms {
            assert!(confirm.await.expect("confirm").is_ack());
        }
        produced += batch;
    }
    let mut latencies = consume.await.expect("consumer");
    let elapsed = start.elapsed();
    let spent = meter.spent();

    let _ = publisher
        .queue_delete(name.clone().into(), QueueDeleteOptions::default())
        .await;
    let _ = amqp.close(200, "raw done".into()).await;
    let _ = producer_db
        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .await;
    Figures::new("raw", records as u64, elapsed, &mut latencies).with_cpu(spent)
}

async fn connect(schema: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(&fila_tests::database_url(), NoTls)
        .await
        .expect("database");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .expect("search_path");
    client
}

fn decode(body: &[u8]) -> (i64, u64) {
    let mut id = [0u8; 8];
    let mut nanos = [0u8; 8];
    id.copy_from_slice(&body[..8]);
    nanos.copy_from_slice(&body[8..16]);
    (i64::from_le_bytes(id), u64::from_le_bytes(nanos))
}
