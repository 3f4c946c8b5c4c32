//! Every channel between the control lcore and the workers, created once and shared by both sides.
//!
//! | channel | from → to | kind | when full |
//! |---|---|---|---|
//! | `mailboxes[w]` | control → worker `w` | `bounded(1)` of `Arc<Context>` | control takes the stale snapshot back first |
//! | `counters[w].adopted` | worker `w` → control | generation atomic | — |
//! | `counters[w]` | worker `w` → control | counters under a seqlock, published every ms | — |
//! | `fanout_events` | workers → control | `ArrayQueue<FanoutEvent>` | dropped, counted |
//! | `affinity_reports` | workers → control | `ArrayQueue<AffinityReport>` | dropped, counted |
//! | `health_probes` | control → worker 0 | `ArrayQueue<Probe>` | not queued, counted |
//! | `health_answers` | workers → control | `ArrayQueue<Answer>` | dropped, counted |
//! | `shares[w]` | workers → worker `w` | `ArrayQueue<Fanout>` | dropped, counted |
//! | `portal_in` | workers → portal thread | `ArrayQueue<PortalPacket>` | dropped, counted (`portal_queue_full`) |
//! | `portal_out` | portal thread → worker 0 | `ArrayQueue<PortalPacket>` | dropped, counted (`queue_drops`) |
//! | `portal_mailbox` | control → portal thread | `bounded(1)` of `Arc<Context>` | control takes the stale snapshot back first |
//! | `portal_reports` | portal thread → control | `bounded(1)` of `PortalAnswer` | the portal takes the stale report back first |
//! | `stop` | control → workers | `AtomicBool` | — |

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossbeam::channel::{bounded, Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use dpdk_sys::Mempool;

use crate::affinity::AffinityReport;
use crate::health::{Answer, Probe};
use crate::pipeline::Context;
use crate::portal::PortalPacket;
use crate::reset::{Fanout, FanoutEvent};
use crate::stats::Shared;
use crate::worker::Links;
use sluice_control::console::PortalAnswer;
use sluice_control::report::WorkerCounters;

/// Fan-outs another worker started that one worker's inbox holds.
const SHARE_QUEUE: usize = 1024;
/// Fan-out events, health probes and health answers in flight, each.
const EVENT_QUEUE: usize = 1024;

/// One worker's context mailbox: the control lcore sends on `tx` and, before sending, takes back with `rx`
/// a snapshot the worker has not picked up yet; the worker receives on `rx`.
pub struct Mailbox {
    pub tx: Sender<Arc<Context>>,
    pub rx: Receiver<Arc<Context>>,
}

/// The channels of one appliance run.
pub struct Channels {
    pub stop: AtomicBool,
    pub mailboxes: Vec<Mailbox>,
    /// Each worker's published counters and adopted generation.
    pub counters: Vec<CachePadded<Shared>>,
    pub fanout_events: ArrayQueue<FanoutEvent>,
    pub affinity_reports: ArrayQueue<AffinityReport>,
    pub health_probes: ArrayQueue<Probe>,
    pub health_answers: ArrayQueue<Answer>,
    pub shares: Vec<ArrayQueue<Fanout>>,
    /// The iSCSI portal's packets each way (one slot each when there is no portal).
    pub portal_in: Arc<ArrayQueue<PortalPacket>>,
    pub portal_out: Arc<ArrayQueue<PortalPacket>>,
    pub portal_mailbox: Mailbox,
    pub portal_reports: (Sender<PortalAnswer>, Receiver<PortalAnswer>),
}

impl Channels {
    /// The channels for `workers` workers over `nodes` nodes; `report_queue` affinity reports in flight;
    /// the portal's queues when `portal`.
    pub fn new(workers: usize, nodes: usize, report_queue: usize, portal: bool) -> Arc<Channels> {
        let portal_queue = if portal { crate::portal::QUEUE } else { 1 };
        let (tx, rx) = bounded(1);
        Arc::new(Channels {
            portal_in: Arc::new(ArrayQueue::new(portal_queue)),
            portal_out: Arc::new(ArrayQueue::new(portal_queue)),
            portal_mailbox: Mailbox { tx, rx },
            portal_reports: bounded(1),
            stop: AtomicBool::new(false),
            mailboxes: (0..workers)
                .map(|_| {
                    let (tx, rx) = bounded(1);
                    Mailbox { tx, rx }
                })
                .collect(),
            counters: (0..workers).map(|_| Shared::new(nodes)).collect(),
            fanout_events: ArrayQueue::new(EVENT_QUEUE),
            affinity_reports: ArrayQueue::new(report_queue.max(1)),
            health_probes: ArrayQueue::new(EVENT_QUEUE),
            health_answers: ArrayQueue::new(EVENT_QUEUE),
            shares: (0..workers).map(|_| ArrayQueue::new(SHARE_QUEUE)).collect(),
        })
    }

    /// Worker `w`'s ends, with the pool it makes frames from.
    pub fn worker<'a>(&'a self, w: usize, pool: &'a Mempool) -> Links<'a> {
        Links {
            shared: &self.counters[w],
            stop: &self.stop,
            updates: &self.mailboxes[w].rx,
            pool,
            events: &self.fanout_events,
            reports: &self.affinity_reports,
            probes: &self.health_probes,
            answers: &self.health_answers,
            shares: &self.shares,
            portal_in: &self.portal_in,
            portal_out: &self.portal_out,
            index: w as u16,
        }
    }

    pub fn workers(&self) -> usize {
        self.mailboxes.len()
    }

    /// Every worker's counters as last published.
    pub fn snapshots(&self) -> Vec<WorkerCounters> {
        self.counters.iter().map(|c| c.snapshot()).collect()
    }
}
