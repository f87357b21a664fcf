//! The deliveries of one work queue, taken from its lanes (see
//! `fila_shared::amqp::topology`): on quorum queues TAF has a lane per
//! `registryPriority`, and every queue a `given-up` queue.
//!
//! Each lane has a consumer of its own, with `worker_prefetch` deliveries
//! ahead, so that the worker sees what waits in every lane. The next
//! delivery handled is the given-up one if any (they are rare and only
//! recorded), otherwise the most urgent lane's, except that a lane whose
//! deliveries waited while [`PASSES_MAX`] deliveries of more urgent lanes
//! were taken in a row is served next: urgent records overtake a backlog
//! of less urgent ones, and no lane starves (with every lane full, each
//! less urgent lane gets at least one delivery in about `PASSES_MAX` + 6).
//! A classic queue has one lane: RabbitMQ orders it by priority itself.

use std::collections::VecDeque;

use fila_shared::amqp::Lane;
use futures::stream::{self, BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use lapin::Consumer;
use lapin::message::Delivery;

/// Deliveries of more urgent lanes that may pass a waiting lane in a row.
pub const PASSES_MAX: u32 = 10;

/// A delivery to handle.
pub enum Taken {
    /// From a lane: work.
    Work(Lane, Delivery),
    /// From the `given-up` queue: to record as a dead letter.
    GivenUp(Delivery),
}

/// Where a delivery came from: a lane (by index, most urgent first) or the
/// `given-up` queue.
#[derive(Debug, Clone, Copy)]
enum Source {
    Lane(usize),
    GivenUp,
}

/// A consumer's next item; `None` once it ended (cancelled by RabbitMQ).
type Item = (Source, Option<Result<Delivery, lapin::Error>>);

pub struct Incoming {
    streams: SelectAll<BoxStream<'static, Item>>,
    lanes: Vec<Lane>,
    waiting: Vec<VecDeque<Delivery>>,
    given_up: VecDeque<Delivery>,
    picker: Picker,
    tags: Vec<String>,
}

impl Incoming {
    /// The deliveries of `lanes` (most urgent first) and `given_up`.
    pub fn new(lanes: Vec<(Lane, Consumer)>, given_up: Option<Consumer>) -> Self {
        let count = lanes.len();
        let mut tags = Vec::with_capacity(count + 1);
        let mut streams = Vec::with_capacity(count + 1);
        let mut names = Vec::with_capacity(count);
        for (index, (lane, consumer)) in lanes.into_iter().enumerate() {
            tags.push(consumer.tag().to_string());
            streams.push(ended(Source::Lane(index), consumer));
            names.push(lane);
        }
        if let Some(consumer) = given_up {
            tags.push(consumer.tag().to_string());
            streams.push(ended(Source::GivenUp, consumer));
        }
        Self {
            streams: stream::select_all(streams),
            lanes: names,
            waiting: (0..count).map(|_| VecDeque::new()).collect(),
            given_up: VecDeque::new(),
            picker: Picker::new(count),
            tags,
        }
    }

    /// The consumers' tags (to cancel them).
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The next delivery to handle; an error when a consumer failed or was
    /// cancelled.
    pub async fn next(&mut self) -> Result<Taken, lapin::Error> {
        loop {
            while let Some(item) = self.streams.next().now_or_never() {
                self.arrived(item)?;
            }
            if let Some(taken) = self.take() {
                return Ok(taken);
            }
            let item = self.streams.next().await;
            self.arrived(item)?;
        }
    }

    fn arrived(&mut self, item: Option<Item>) -> Result<(), lapin::Error> {
        match item {
            Some((Source::Lane(index), Some(Ok(delivery)))) => {
                self.waiting[index].push_back(delivery);
                Ok(())
            }
            Some((Source::GivenUp, Some(Ok(delivery)))) => {
                self.given_up.push_back(delivery);
                Ok(())
            }
            Some((_, Some(Err(e)))) => Err(e),
            Some((_, None)) | None => {
                Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                    lapin::ChannelState::Closed,
                    "a consumer was cancelled",
                )))
            }
        }
    }

    fn take(&mut self) -> Option<Taken> {
        if let Some(delivery) = self.given_up.pop_front() {
            return Some(Taken::GivenUp(delivery));
        }
        let waiting: Vec<bool> = self.waiting.iter().map(|w| !w.is_empty()).collect();
        let lane = self.picker.pick(&waiting)?;
        let delivery = self.waiting[lane].pop_front()?;
        Some(Taken::Work(self.lanes[lane].clone(), delivery))
    }
}

/// A consumer's deliveries, then `None` when it ends.
fn ended(source: Source, consumer: Consumer) -> BoxStream<'static, Item> {
    consumer
        .map(move |delivery| (source, Some(delivery)))
        .chain(stream::once(async move { (source, None) }))
        .boxed()
}

/// Chooses the lane served next (see the module's documentation).
#[derive(Debug)]
struct Picker {
    /// Per lane: deliveries of more urgent lanes taken while it waited.
    passed: Vec<u32>,
}

impl Picker {
    fn new(lanes: usize) -> Self {
        Self {
            passed: vec![0; lanes],
        }
    }

    /// The lane to serve, among those with a delivery `waiting`.
    fn pick(&mut self, waiting: &[bool]) -> Option<usize> {
        let lanes = || (0..self.passed.len()).filter(|&i| waiting[i]);
        let chosen = lanes()
            .find(|&i| self.passed[i] >= PASSES_MAX)
            .or_else(|| lanes().next())?;
        for (i, passed) in self.passed.iter_mut().enumerate() {
            *passed = match (waiting[i], i > chosen) {
                (true, true) => passed.saturating_add(1),
                (true, false) if i != chosen => *passed,
                _ => 0,
            };
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_urgent_lane_goes_first() {
        let mut picker = Picker::new(3);
        assert_eq!(picker.pick(&[false, false, false]), None);
        assert_eq!(picker.pick(&[false, true, true]), Some(1));
        assert_eq!(picker.pick(&[true, true, true]), Some(0));
        assert_eq!(picker.pick(&[false, false, true]), Some(2));
    }

    #[test]
    fn a_waiting_lane_is_served_after_being_passed_over_passes_max_times() {
        let mut picker = Picker::new(6);
        let all = [true; 6];
        let served: Vec<usize> = (0..200).filter_map(|_| picker.pick(&all)).collect();
        for lane in 1..6 {
            let gaps: Vec<usize> = served
                .iter()
                .enumerate()
                .filter(|(_, l)| **l == lane)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
                .windows(2)
                .map(|w| w[1] - w[0])
                .collect();
            assert!(!gaps.is_empty(), "lane {lane} was served: {served:?}");
            assert!(
                gaps.iter().all(|g| *g <= PASSES_MAX as usize + 6),
                "lane {lane} waited too long: {gaps:?}"
            );
        }
        let urgent = served.iter().filter(|l| **l == 0).count();
        assert!(urgent > served.len() / 2, "urgent got {urgent} of 200");
    }

    #[test]
    fn a_lane_that_stops_waiting_starts_over() {
        let mut picker = Picker::new(2);
        for _ in 0..PASSES_MAX - 1 {
            assert_eq!(picker.pick(&[true, true]), Some(0));
        }
        assert_eq!(picker.pick(&[true, false]), Some(0));
        for _ in 0..PASSES_MAX {
            assert_eq!(picker.pick(&[true, true]), Some(0));
        }
        assert_eq!(picker.pick(&[true, true]), Some(1));
    }
}
