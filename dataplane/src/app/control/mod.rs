//! The control loop on the main lcore: every 5 ms it takes signals and reloads, lets each feature's part
//! take its queue and do its periodic work, refreshes metrics and telemetry, answers the console, and
//! prints the interval line. It never waits for a client: the endpoints' threads do
//! ([`super::endpoints`]).
//!
//! - [`health`]: health-check answers, timeouts and probes, and the tables they change;
//! - [`affinity`]: affinity reports, aging, rebalancing and publication;
//! - [`reset`]: fan-out events for the console, and the history of snapshots moves are judged by;
//! - [`flows`]: flow ids and drain deadlines;
//! - [`standing`]: the appliance's standing in the fabric, and what its BGP speaker announces;
//! - [`portal`]: the iSCSI portal thread's contexts and counters;
//! - [`publish`]: building a context and handing it to every worker and the portal;
//! - [`reload`]: re-reading the configuration, and which changes apply while running;
//! - [`console`], [`metrics`], [`telemetry`]: the answers the endpoints serve.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dpdk_sys::PortId;
use sluice_control::config::{HealthScope, NodeState};
use sluice_control::Config;

use super::channels::Channels;
use super::endpoints::Endpoints;
use super::notify::Notify;
use super::setup::{Ports, Signals};
use super::RunOptions;
use crate::pipeline::Context;
use crate::report::interval_line;
use crate::stats;
use sluice_control::report::WorkerCounters;

/// How often systemd's STATUS= line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);

mod affinity;
mod console;
mod flows;
mod health;
mod metrics;
mod portal;
mod publish;
mod reload;
mod reset;
mod runtime;

pub(super) use runtime::RuntimePart;
mod standing;
mod telemetry;

pub(super) use flows::FlowState;
use standing::{Standing, StandingPart};

/// Affinity moves, health changes and fan-outs the console remembers, each.
const RECENT: usize = 64;

/// Remembers `item` with the time it happened, forgetting the oldest beyond [`RECENT`].
fn remember<T>(q: &mut std::collections::VecDeque<(SystemTime, T)>, item: T) {
    if q.len() == RECENT {
        q.pop_front();
    }
    q.push_back((SystemTime::now(), item));
}

/// The control lcore's state: the configuration in force, the context the workers run on, the channels
/// to them, and a part per feature.
pub(super) struct Control {
    pub(super) cfg: Config,
    pub(super) ctx: Arc<Context>,
    macs: Vec<[u8; 6]>,
    ports: Vec<PortId>,
    channels: Arc<Channels>,
    lcores: Vec<u32>,
    endpoints: Endpoints,
    config_path: Option<PathBuf>,
    start: Instant,
    /// Publication → every worker adopted, in microseconds.
    adoption: hdrhistogram::Histogram<u64>,
    health: health::HealthPart,
    affinity: affinity::AffinityPart,
    resets: reset::ResetPart,
    flows: FlowState,
    standing: StandingPart,
    runtime: runtime::RuntimePart,
    portal: portal::PortalPart,
    last_telemetry: Instant,
}

impl Control {
    pub(super) fn new(
        cfg: &Config,
        ctx: Arc<Context>,
        ports: &Ports,
        channels: Arc<Channels>,
        flows: FlowState,
        endpoints: Endpoints,
        runtime: runtime::RuntimePart,
    ) -> Control {
        let names: Vec<&str> = ctx.topology.nodes.iter().map(|n| n.name.as_str()).collect();
        let config_path = runtime.config_path.clone();
        Control {
            health: health::HealthPart::new(cfg, &names),
            affinity: affinity::AffinityPart::new(cfg),
            resets: reset::ResetPart::default(),
            standing: StandingPart::default(),
            runtime,
            portal: portal::PortalPart::default(),
            flows,
            adoption: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            last_telemetry: Instant::now() - Duration::from_secs(1),
            macs: ports.macs.clone(),
            ports: ports.ids.clone(),
            lcores: cfg.worker_lcores().to_vec(),
            cfg: cfg.clone(),
            ctx,
            channels,
            endpoints,
            config_path,
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn snapshots(&self) -> Vec<WorkerCounters> {
        self.channels.snapshots()
    }

    /// Each feature's periodic work, and the publications it asks for.
    fn tick(&mut self) {
        let now_ms = self.now_ms();
        self.resets.take_events(&self.channels);
        self.portal.tick(&self.channels);
        let tick = self.affinity.tick(&self.ctx, &self.cfg, &self.channels, now_ms);
        if tick.publish {
            self.publish_affinity();
        }
        let changes = self.health.tick(&self.ctx, &self.cfg, &self.channels, now_ms);
        if !changes.is_empty() && self.cfg.health.scope == HealthScope::Appliance {
            let cfg = self.cfg.clone();
            let took = self.rebuild(&cfg);
            tracing::info!(
                generation = self.ctx.generation,
                "health: generation {} adopted by all {} workers in {} us",
                self.ctx.generation,
                self.channels.workers(),
                took.as_micros()
            );
        }
    }

    /// Runs until a signal, the duration or idleness says stop; then tells the workers to stop. Returns
    /// seconds run.
    pub(super) fn run(&mut self, opts: &RunOptions, signals: &Signals, notify: &Notify) -> f64 {
        let (signalled, hup) = (&signals.stop, &signals.hup);
        let start = Instant::now();
        let mut last_print = start;
        let (mut last_status, mut status_rx) = (start, 0u64);
        let mut printed = self.snapshots();
        let mut last_rx = 0u64;
        let mut last_change = start;
        let mut stop_asked: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(5));
            let now = Instant::now();
            if signalled.load(Relaxed) && stop_asked.is_none() {
                if !self.cfg.announce.enabled {
                    tracing::info!("signal received, stopping");
                    break;
                }
                tracing::info!("signal received: withdrawing the VIPs, then stopping");
                notify.stopping("withdrawing the VIPs, then stopping");
                self.standing.standing = Standing::Stopping;
                stop_asked = Some(now);
            }
            if let Some(asked) = stop_asked {
                if self.standing.may_stop(&self.cfg.announce, now, asked) {
                    break;
                }
            }
            if hup.swap(false, Relaxed) {
                match self.reload() {
                    Ok(msg) => {
                        tracing::info!(generation = self.ctx.generation, "{msg}");
                        notify.status(&format!("generation {}: reloaded", self.ctx.generation));
                    }
                    Err(e) => {
                        tracing::warn!(generation = self.ctx.generation, reason = %e, "reload refused, nothing changed: {e}");
                        notify.status(&format!("generation {}: the last reload was refused", self.ctx.generation));
                    }
                }
            }
            self.tick();
            if self.last_telemetry.elapsed() >= Duration::from_millis(250) {
                self.refresh_telemetry();
            }
            self.answer_console();
            if opts.duration.is_some_and(|d| now - start >= d) {
                break;
            }
            let snaps = self.snapshots();
            let rx: u64 = snaps.iter().map(|s| s.rx).sum();
            if rx != last_rx {
                last_rx = rx;
                last_change = now;
            }
            if opts.exit_idle.is_some_and(|d| now - last_change >= d) {
                break;
            }
            if now - last_status >= STATUS_EVERY && stop_asked.is_none() {
                let mpps = (rx - status_rx) as f64 / (now - last_status).as_secs_f64() / 1e6;
                let up = self.ctx.topology.nodes.iter().filter(|n| n.state == NodeState::Active).count();
                notify.status(&format!(
                    "generation {}: {mpps:.3} Mpps received, {up} of {} nodes active",
                    self.ctx.generation,
                    self.ctx.topology.nodes.len()
                ));
                (last_status, status_rx) = (now, rx);
            }
            if let Some(iv) = opts.stats_interval {
                if now - last_print >= iv {
                    let secs = (now - last_print).as_secs_f64();
                    let deltas: Vec<WorkerCounters> =
                        snaps.iter().zip(&printed).map(|(a, b)| stats::since(a, b)).collect();
                    let line =
                        interval_line((now - start).as_secs_f64(), secs, &deltas, &self.lcores, &self.ctx.topology);
                    println!("{line}");
                    printed = snaps;
                    last_print = now;
                }
            }
        }
        if stop_asked.is_none() {
            notify.stopping("stopping");
        }
        self.channels.stop.store(true, Relaxed);
        (Instant::now() - start).as_secs_f64()
    }
}
