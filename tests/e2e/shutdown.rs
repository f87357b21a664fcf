//! Graceful shutdown under load: SIGTERM to the API while producers post,
//! and to a worker in the middle of a lot. Every lot answered is stored
//! whole, every stored record is processed once, and each result is
//! published once.

use fila_tests::Setup;
use fila_tests::results::Results;
use fila_tests::taf::{items, lot};
use futures::future::join_all;
use reqwest::{Method, StatusCode};

const LOTS: usize = 24;
const PER_LOT: usize = 250;

#[tokio::test]
async fn sigterm_under_load_loses_and_repeats_nothing() {
    let mut fila = Setup::new()
        .workers(0)
        .env("TAF_CHUNK_SIZE", 10)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;

    // Producers post lots side by side; the API is told to stop as the
    // first answer comes, while the others are in flight.
    let (answered, mut first) = tokio::sync::mpsc::unbounded_channel();
    let posts: Vec<_> = (0..LOTS)
        .map(|n| {
            let request = fila.request(Method::POST, "/rest/wstafst2").json(&lot(
                &format!("T-STOP-{n:02}"),
                items(&format!("L{n:02}-"), PER_LOT),
            ));
            let answered = answered.clone();
            tokio::spawn(async move {
                let answer = request.send().await.map(|r| r.status());
                let _ = answered.send(());
                answer
            })
        })
        .collect();
    first.recv().await;
    fila.api().terminate();
    let answers: Vec<_> = join_all(posts)
        .await
        .into_iter()
        .map(|joined| joined.expect("producer"))
        .collect();
    let status = fila.api().wait_exit(30).await.expect("the API exits");
    assert!(status.success(), "api: {status:?}");

    let client = fila.db().await;
    let mut accepted = 0;
    for (n, answer) in answers.iter().enumerate() {
        let stored: i64 = client
            .query_one(
                "SELECT count(*) FROM taf_record WHERE ticket_code = $1",
                &[&format!("T-STOP-{n:02}")],
            )
            .await
            .expect("count")
            .get(0);
        match answer {
            Ok(StatusCode::OK) => {
                assert_eq!(stored, PER_LOT as i64, "lot {n} answered, stored whole");
                accepted += PER_LOT;
            }
            Ok(other) => panic!("lot {n}: HTTP {other} while stopping"),
            Err(e) => assert_eq!(stored, 0, "lot {n} refused ({e}) but stored"),
        }
    }
    assert!(accepted > 0, "some lots were answered before the stop");

    // A worker stopped mid-lot hands back what it did not finish.
    let first = fila
        .start_worker_with(&[("WORKER_CONCURRENCY", "1"), ("WORKER_PREFETCH", "4")])
        .await;
    let started = fila_tests::eventually(60, || async {
        fila.processed().await >= (accepted / 5) as i64
    })
    .await;
    assert!(started);
    fila.worker(first).terminate();
    let status = fila
        .worker(first)
        .wait_exit(30)
        .await
        .expect("the worker exits");
    assert!(status.success(), "worker: {status:?}");
    let at_stop = fila.processed().await;

    fila.start_worker().await;
    let total: i64 = client
        .query_one("SELECT count(*) FROM taf_record", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        total, accepted as i64,
        "nothing stored that was not answered"
    );
    let finished = fila_tests::eventually(120, || async { fila.processed().await == total }).await;
    assert!(finished, "every accepted record is processed");
    let published = results.collect_taf(accepted, 60).await;
    let duplicated = results.taf_records().values().filter(|r| !r.once()).count();
    println!(
        "graceful shutdown: lots answered {} of {LOTS}, records accepted {accepted}, \
         processed before the worker's stop {at_stop}, processed {total}, \
         results {published}, lost {}, duplicated {duplicated}",
        accepted / PER_LOT,
        accepted.saturating_sub(published),
    );
    assert_eq!(published, accepted);
    assert_eq!(duplicated, 0);
    results.close().await;
}
