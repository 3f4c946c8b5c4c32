//! The appliance: start EAL, set up the pool and ports, launch a worker per worker lcore, run the control
//! loop on the main lcore (stats, signals, reloads, time limits), then stop everything and account for
//! every mbuf.
//!
//! - [`setup`]: signals, ports, endpoint sockets, workers and the portal thread, each behind a guard
//!   that undoes it;
//! - [`channels`]: every channel between the control lcore and the workers;
//! - [`control`]: the control loop, with a part per feature (health, affinity, resets, flows, the
//!   appliance's standing) and its answers to the console, metrics and telemetry;
//! - [`endpoints`]: the console and metrics threads, and the telemetry commands.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dpdk_sys::eal::Eal;
use dpdk_sys::{Mempool, SocketId};
use sluice_control::{Config, Topology};

use crate::pipeline::Context;
use crate::report::{self, PortSummary, Summary};

pub mod channels;
mod control;
mod endpoints;
mod notify;
mod setup;

use channels::Channels;
use control::Control;
use setup::{Ports, Signals, Workers};

/// How long to run and what to print.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once no packet has arrived for this long.
    pub exit_idle: Option<Duration>,
    /// Print a line this often (None: quiet).
    pub stats_interval: Option<Duration>,
    /// Write the final summary here as JSON.
    pub stats_json: Option<PathBuf>,
    /// The file to re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
}

/// A failure that stops the appliance, with the step it happened in.
#[derive(Debug)]
pub struct AppError(pub String);

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, AppError> {
    r.map_err(|e| AppError(format!("{what}: {e}")))
}

/// Runs the appliance for a validated configuration. Returns the summary after a clean stop.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<Summary, AppError> {
    let signals = Signals::register();
    // The changes made at run time, kept over the configuration file (node changes now, pins once the
    // affinity table exists).
    let (runtime, cfg) = control::RuntimePart::load(cfg, opts.config_path.as_deref());
    let cfg = &cfg;
    let eal = step("starting EAL", Eal::init(&cfg.eal_args()))?;
    // dpdk-dumpcap attaches through this; without it the appliance still runs, uncapturable.
    let capture = eal.enable_packet_capture().map_err(|e| tracing::warn!("packet capture unavailable: {e}")).ok();
    let lcores: Vec<u32> = cfg.worker_lcores().to_vec();
    let d = &cfg.dataplane;
    let pool = Arc::new(step(
        "creating the mbuf pool",
        Mempool::new("sluice_pool", d.mbufs, d.mbuf_cache.min(512), cfg.mbuf_data_room(), SocketId::ANY),
    )?);
    let ports = Ports::start(cfg, &pool, lcores.len())?;
    // The endpoints' sockets, before any worker runs: a failure here only has ports to undo.
    let sockets = setup::bind_endpoints(cfg)?;
    let (console, socket_file) = sockets.console.unzip();

    let topology = Topology::build(cfg);
    let mut flows = control::FlowState::default();
    let ctx = Arc::new(flows.apply(cfg, Context::new(cfg, topology.clone(), &ports.macs, 1)));
    let channels =
        Channels::new(lcores.len(), topology.nodes.len(), cfg.affinity.report_queue as usize, ctx.portal.is_some());
    let workers = Workers::launch(&eal, cfg, &ports, &ctx, &channels, &pool)?;
    let portal = setup::PortalThread::start(&ctx, &channels)?;
    let telemetry = endpoints::register_telemetry();
    let mut control = Control::new(
        cfg,
        ctx,
        &ports,
        channels.clone(),
        flows,
        endpoints::Endpoints::start(console, sockets.metrics, telemetry),
        runtime,
    );
    control.replay_pins();
    let notify = notify::Notify::from_env();
    notify.ready(&format!(
        "forwarding: generation {}, {} workers, {} ports, {} nodes",
        control.ctx.generation,
        lcores.len(),
        cfg.ports.len(),
        cfg.nodes.len()
    ));
    let seconds = control.run(opts, &signals, &notify);
    drop(socket_file);
    drop(portal);
    drop(workers);
    let mut summary = report::summary(seconds, &channels.snapshots(), &lcores, &control.ctx.topology);
    drop(control);
    for (p, id) in cfg.ports.iter().zip(&ports.ids) {
        let s = id.stats().unwrap_or_default();
        summary.ports.push(PortSummary {
            name: p.name.clone(),
            ipackets: s.ipackets,
            opackets: s.opackets,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        });
    }
    drop(ports);
    summary.mempool_in_use_at_exit = pool.in_use();
    summary.mempool_size = d.mbufs;
    drop(channels);
    drop(capture);
    drop(pool);
    drop(eal);
    Ok(summary)
}
