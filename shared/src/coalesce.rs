//! Concurrent calls gathered into one unit of work (what databases call a
//! group commit): each caller hands its request over and awaits its own
//! answer; a task takes whatever accumulated while the units before it ran,
//! at most `max` requests, and runs them together, with up to `parallel`
//! units under way at once. A lone call runs at once: nothing waits for
//! company, calls are only put together when they arrive while the store
//! is busy with others — which is when it pays.
//!
//! The unit's function answers every request of the unit, in order; with
//! [`Coalescer::spawn_writes`], a unit that fails is run again request by
//! request, so that one request's failure is its own.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Requests handed over but not yet taken, before callers wait.
const BACKLOG: usize = 4_096;
/// Most requests of one write made by [`Coalescer::spawn_writes`].
const WRITE_MAX: usize = 500;
/// Writes of one [`Coalescer::spawn_writes`] under way at once.
const WRITES_AT_ONCE: usize = 2;

/// Hands requests to the gathering task; cloned freely.
pub struct Coalescer<Req, Resp> {
    handover: mpsc::Sender<(Req, oneshot::Sender<Resp>)>,
}

impl<Req, Resp> Clone for Coalescer<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            handover: self.handover.clone(),
        }
    }
}

/// The gathering task has stopped: its runtime is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the task gathering these calls has stopped")]
pub struct Stopped;

impl<Req, Resp> Coalescer<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// Starts the gathering task; it ends once every clone is dropped and
    /// the units under way have answered. `unit` must return one answer per
    /// request, in the requests' order.
    pub fn spawn<F, Fut>(max: usize, parallel: usize, unit: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Resp>> + Send + 'static,
    {
        let (handover, mut requests) = mpsc::channel::<(Req, oneshot::Sender<Resp>)>(BACKLOG);
        let slots = Arc::new(Semaphore::new(parallel.max(1)));
        let max = max.max(1);
        tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let Some(first) = requests.recv().await else {
                    return;
                };
                let mut gathered = vec![first];
                while gathered.len() < max {
                    match requests.try_recv() {
                        Ok(more) => gathered.push(more),
                        Err(_) => break,
                    }
                }
                let (batch, replies): (Vec<Req>, Vec<_>) = gathered.into_iter().unzip();
                let answers = unit(batch);
                tokio::spawn(async move {
                    for (reply, answer) in replies.into_iter().zip(answers.await) {
                        let _ = reply.send(answer);
                    }
                    drop(slot);
                });
            }
        });
        Self { handover }
    }

    /// Hands `request` over and waits for its answer.
    pub async fn call(&self, request: Req) -> Result<Resp, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.handover
            .send((request, reply))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

impl<Req, T, E> Coalescer<Req, Result<T, E>>
where
    Req: Clone + Send + Sync + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    /// Starts a gathering task for writes to the store: up to
    /// [`WRITE_MAX`] requests in one write, [`WRITES_AT_ONCE`] writes at
    /// once; `write` answers each request of a unit, and a unit it fails is
    /// written again request by request.
    pub fn spawn_writes<F, Fut>(write: F) -> Self
    where
        F: Fn(Arc<[Req]>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<T>, E>> + Send + 'static,
    {
        let write = Arc::new(write);
        Self::spawn(WRITE_MAX, WRITES_AT_ONCE, move |batch: Vec<Req>| {
            let write = write.clone();
            async move { alone_on_failure(batch, |requests| write(requests)).await }
        })
    }
}

/// Runs `run` over a unit's requests; when the unit fails, over each
/// request alone again (a unit of one answers its error as it is).
async fn alone_on_failure<Req, T, E, F, Fut>(batch: Vec<Req>, run: F) -> Vec<Result<T, E>>
where
    Req: Clone,
    E: std::fmt::Display,
    F: Fn(Arc<[Req]>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>>,
{
    let batch: Arc<[Req]> = batch.into();
    match run(batch.clone()).await {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) if batch.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::debug!(error = %e, requests = batch.len(), "a gathered unit failed: each request runs alone");
            let mut answers = Vec::with_capacity(batch.len());
            for request in batch.iter() {
                match run(Arc::from([request.clone()])).await {
                    Ok(answer) => answers.extend(answer.into_iter().map(Ok)),
                    Err(e) => answers.push(Err(e)),
                }
            }
            answers
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_lone_call_runs_at_once_and_gets_its_answer() {
        let coalescer = Coalescer::spawn(10, 1, |batch: Vec<u32>| async move {
            batch.into_iter().map(|n| n * 2).collect::<Vec<_>>()
        });
        let answer = tokio::time::timeout(Duration::from_secs(5), coalescer.call(21)).await;
        assert_eq!(answer.expect("answered").expect("running"), 42);
    }

    #[tokio::test]
    async fn calls_made_while_a_unit_runs_are_gathered_into_the_next() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let coalescer = Coalescer::spawn(100, 1, move |batch: Vec<u32>| {
            seen.lock().expect("sizes").push(batch.len());
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                batch.into_iter().map(|n| n + 1).collect::<Vec<_>>()
            }
        });
        let calls: Vec<_> = (0..30u32)
            .map(|n| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { (n, coalescer.call(n).await.expect("running")) })
            })
            .collect();
        for call in calls {
            let (n, answer) = call.await.expect("call");
            assert_eq!(answer, n + 1, "each caller gets its own answer");
        }
        let sizes = sizes.lock().expect("sizes").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 30);
        assert!(
            sizes.len() < 30,
            "calls waiting behind a unit run together: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_unit_takes_at_most_max_requests() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let coalescer = Coalescer::spawn(4, 1, move |batch: Vec<u32>| {
            seen.lock().expect("sizes").push(batch.len());
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                batch
            }
        });
        let calls: Vec<_> = (0..20u32)
            .map(|n| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.call(n).await.expect("running") })
            })
            .collect();
        for call in calls {
            call.await.expect("call");
        }
        let sizes = sizes.lock().expect("sizes").clone();
        assert!(sizes.iter().all(|s| *s <= 4), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 20);
    }

    #[tokio::test]
    async fn a_failed_unit_runs_each_request_alone() {
        let runs = Arc::new(Mutex::new(Vec::new()));
        let seen = runs.clone();
        let answers = alone_on_failure(vec![1u32, 2, 3], move |batch: Arc<[u32]>| {
            seen.lock().expect("runs").push(batch.len());
            async move {
                if batch.len() > 1 || batch[0] == 2 {
                    Err(format!("unit of {}", batch.len()))
                } else {
                    Ok(batch.iter().map(|n| n * 10).collect::<Vec<_>>())
                }
            }
        })
        .await;
        assert_eq!(
            answers,
            vec![Ok(10), Err("unit of 1".to_string()), Ok(30)],
            "the failing request alone fails"
        );
        assert_eq!(*runs.lock().expect("runs"), vec![3, 1, 1, 1]);
    }

    #[tokio::test]
    async fn a_unit_that_answers_too_few_leaves_the_rest_with_an_error() {
        let coalescer = Coalescer::spawn(10, 1, |_: Vec<u32>| async { Vec::<u32>::new() });
        assert!(coalescer.call(1).await.is_err());
    }
}
