//! The appliance: start EAL, set up the pool and ports, launch a worker per worker lcore, run the control
//! loop on the main lcore (stats, signals, time limits), then stop everything and account for every mbuf.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::utils::CachePadded;
use dpdk_sys::eal::Eal;
use dpdk_sys::{LcoreId, Mempool, PortConf, PortId, SocketId};
use sluice_control::{Config, Topology};

use crate::pipeline::Context;
use crate::report::{interval_line, PortSummary, Summary};
use crate::stats::{Shared, Snapshot};
use crate::worker::{self, Plan};

/// How long to run and what to print.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once no packet has arrived for this long (after the first one, or from the start).
    pub exit_idle: Option<Duration>,
    /// Print a line this often (None: quiet).
    pub stats_interval: Option<Duration>,
    /// Write the final summary here as JSON.
    pub stats_json: Option<PathBuf>,
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
    let eal = step("starting EAL", Eal::init(&cfg.eal_args()))?;
    let workers: Vec<u32> = cfg.worker_lcores().to_vec();
    let d = &cfg.dataplane;
    let pool = step(
        "creating the mbuf pool",
        Mempool::new("sluice_pool", d.mbufs, d.mbuf_cache.min(512), d.mbuf_size, SocketId::ANY),
    )?;
    let mut ports = Vec::new();
    let mut macs = Vec::new();
    let mut rx_queues = Vec::new();
    let result = (|| {
        for p in &cfg.ports {
            let id =
                step(&format!("port {:?}: finding device {:?}", p.name, p.dev_name()), PortId::by_name(&p.dev_name()))?;
            let info = step(&format!("port {:?}: device info", p.name), id.info())?;
            let rxq = (workers.len() as u16).min(info.max_rx_queues).max(1);
            let conf = PortConf {
                rx_queues: rxq,
                tx_queues: workers.len() as u16,
                rx_desc: d.rx_desc,
                tx_desc: d.tx_desc,
                rss_key: d.hash_key.bytes.clone(),
                promiscuous: true,
            };
            step(&format!("port {:?} ({})", p.name, info.driver), id.configure_and_start(&conf, &pool))?;
            ports.push(id);
            rx_queues.push(rxq);
            macs.push(match p.mac {
                Some(m) => m.0,
                None => step(&format!("port {:?}: MAC", p.name), id.mac())?,
            });
        }
        Ok::<(), AppError>(())
    })();
    if let Err(e) = result {
        teardown(&ports);
        return Err(e);
    }

    let topology = Topology::build(cfg);
    let ctx = Arc::new(Context::new(cfg, topology.clone(), &macs));
    let shared: Arc<Vec<CachePadded<Shared>>> =
        Arc::new(workers.iter().map(|_| Shared::new(topology.nodes.len())).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut launched = Vec::new();
    for (w, &lcore) in workers.iter().enumerate() {
        let plan = Plan {
            rx: (0..ports.len() as u16)
                .filter(|&p| (w as u16) < rx_queues[p as usize])
                .map(|p| (p, w as u16))
                .collect(),
            tx_queue: w as u16,
            ports: ports.clone(),
            burst: d.burst as usize,
        };
        let (ctx, shared, worker_stop) = (ctx.clone(), shared.clone(), stop.clone());
        let r = eal.launch(LcoreId(lcore), move || {
            worker::run(&plan, ctx, &shared[w], &worker_stop);
            0
        });
        if let Err(e) = r {
            stop.store(true, Relaxed);
            for l in &launched {
                eal.wait(LcoreId(*l));
            }
            teardown(&ports);
            return Err(AppError(format!("launching worker on lcore {lcore}: {e}")));
        }
        launched.push(lcore);
    }
    let seconds = control_loop(opts, &shared, &workers, &topology, &stop);
    stop.store(true, Relaxed);
    for l in &launched {
        eal.wait(LcoreId(*l));
    }
    drop(ctx);

    let per_worker: Vec<Snapshot> = shared.iter().map(|s| s.snapshot()).collect();
    let mut summary = Summary::new(seconds, &per_worker, &workers, &topology);
    for (p, id) in cfg.ports.iter().zip(&ports) {
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
    teardown(&ports);
    summary.mempool_in_use_at_exit = pool.in_use();
    summary.mempool_size = d.mbufs;
    drop(pool);
    drop(eal);
    Ok(summary)
}

fn teardown(ports: &[PortId]) {
    for id in ports {
        if let Err(e) = id.stop() {
            eprintln!("sluice: stopping port {}: {e}", id.0);
        }
        if let Err(e) = id.close() {
            eprintln!("sluice: closing port {}: {e}", id.0);
        }
    }
}

/// Runs on the main lcore until a signal, the duration or idleness says stop. Returns seconds run.
fn control_loop(
    opts: &RunOptions,
    shared: &[CachePadded<Shared>],
    lcores: &[u32],
    topo: &Topology,
    stop: &AtomicBool,
) -> f64 {
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, signalled.clone()) {
            eprintln!("sluice: cannot handle signal {sig}: {e}");
        }
    }
    let start = Instant::now();
    let mut last_print = start;
    let mut printed: Vec<Snapshot> = shared.iter().map(|s| s.snapshot()).collect();
    let mut last_rx = 0u64;
    let mut last_change = start;
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let now = Instant::now();
        if signalled.load(Relaxed) {
            eprintln!("sluice: signal received, stopping");
            break;
        }
        if opts.duration.is_some_and(|d| now - start >= d) {
            break;
        }
        let snaps: Vec<Snapshot> = shared.iter().map(|s| s.snapshot()).collect();
        let rx: u64 = snaps.iter().map(|s| s.rx).sum();
        if rx != last_rx {
            last_rx = rx;
            last_change = now;
        }
        if opts.exit_idle.is_some_and(|d| now - last_change >= d) {
            break;
        }
        if let Some(iv) = opts.stats_interval {
            if now - last_print >= iv {
                let secs = (now - last_print).as_secs_f64();
                let deltas: Vec<Snapshot> = snaps.iter().zip(&printed).map(|(a, b)| a.since(b)).collect();
                println!("{}", interval_line((now - start).as_secs_f64(), secs, &deltas, lcores, topo));
                printed = snaps;
                last_print = now;
            }
        }
    }
    stop.store(true, Relaxed);
    (Instant::now() - start).as_secs_f64()
}
