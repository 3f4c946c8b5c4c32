//! The appliance: start EAL, set up the pool and ports, launch a worker per worker lcore, run the control
//! loop on the main lcore (stats, signals, reloads, time limits), then stop everything and account for
//! every mbuf.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use dpdk_sys::eal::Eal;
use dpdk_sys::{LcoreId, Mempool, PortConf, PortId, SocketId};
use sluice_control::affinity::{AffinityTable, Move};
use sluice_control::config::{HealthCheck, HealthScope, NodeState};
use sluice_control::health::{Change, HealthChecker};
use sluice_control::{Config, Topology};

use crate::affinity::AffinityReport;
use crate::health::{self, Answer, Probe};
use crate::pipeline::Context;
use crate::report::{interval_line, PortSummary, Summary};
use crate::reset::FanoutEvent;
use crate::stats::{Shared, Snapshot};
use crate::worker::{self, Links, Plan};

mod endpoints;
mod flows;
mod publish;
mod serve;

use serve::register_telemetry;

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

/// The control lcore's ends of one worker's snapshot channel: it sends on the first and, before sending,
/// takes back with the second a snapshot the worker has not picked up yet.
type Mailbox = (Sender<Arc<Context>>, Receiver<Arc<Context>>);

/// One worker's ends of its links to the control lcore.
struct WorkerLink {
    shared: CachePadded<Shared>,
    updates: Receiver<Arc<Context>>,
}

/// SIGINT/SIGTERM (stop) and SIGHUP (reload), handled from before EAL starts: a stop asked for while
/// the appliance is still starting is honoured as soon as it runs, through the same clean shutdown.
struct Signals {
    stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Signals {
    fn register() -> Signals {
        let s = Signals { stop: Arc::new(AtomicBool::new(false)), hup: Arc::new(AtomicBool::new(false)) };
        for (sig, flag) in [
            (signal_hook::consts::SIGINT, &s.stop),
            (signal_hook::consts::SIGTERM, &s.stop),
            (signal_hook::consts::SIGHUP, &s.hup),
        ] {
            if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
                eprintln!("sluice: cannot handle signal {sig}: {e}");
            }
        }
        s
    }
}

/// Runs the appliance for a validated configuration. Returns the summary after a clean stop.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<Summary, AppError> {
    let signals = Signals::register();
    let eal = step("starting EAL", Eal::init(&cfg.eal_args()))?;
    // dpdk-dumpcap attaches through this; without it the appliance still runs, uncapturable.
    let capture = eal.enable_packet_capture().map_err(|e| eprintln!("sluice: packet capture unavailable: {e}")).ok();
    let workers: Vec<u32> = cfg.worker_lcores().to_vec();
    let d = &cfg.dataplane;
    let pool = Arc::new(step(
        "creating the mbuf pool",
        Mempool::new("sluice_pool", d.mbufs, d.mbuf_cache.min(512), cfg.mbuf_data_room(), SocketId::ANY),
    )?);
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
                mtu: p.mtu,
            };
            if dpdk_sys::port::carries_mtu_unconfigured(&info, p.mtu) {
                eprintln!(
                    "sluice: warning: port {:?} ({}): the driver reports a {}-byte frame limit; mtu {} is carried as far as its \
                     ring frames (framesz) and its kernel interface's MTU allow",
                    p.name, info.driver, info.max_rx_pktlen, p.mtu
                );
            }
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
    // The console and metrics endpoints, before any worker runs: a failure here only has ports to undo.
    let endpoints = (|| {
        let console = match cfg.console.enabled {
            true => Some(step(
                &format!("console socket {}", cfg.console_socket().display()),
                bind_console(&cfg.console_socket(), cfg.console.mode),
            )?),
            false => None,
        };
        if cfg.metrics.prometheus && !cfg.metrics.listen.ip().is_loopback() {
            eprintln!(
                "sluice: warning: the metrics endpoint listens on {}, not a loopback address: whoever reaches it reads every counter",
                cfg.metrics.listen
            );
        }
        let metrics = match cfg.metrics.prometheus {
            true => Some(step(
                &format!("metrics endpoint {}", cfg.metrics.listen),
                TcpListener::bind(cfg.metrics.listen).and_then(|l| l.set_nonblocking(true).map(|_| l)),
            )?),
            false => None,
        };
        Ok::<_, AppError>((console, metrics))
    })();
    let (console, metrics) = match endpoints {
        Ok(e) => e,
        Err(e) => {
            teardown(&ports);
            return Err(e);
        }
    };

    let topology = Topology::build(cfg);
    let mut flow_state = flows::FlowState::default();
    let ctx = Arc::new(flow_state.apply(cfg, Context::new(cfg, topology.clone(), &macs, 1)));
    let mut senders: Vec<Mailbox> = Vec::new();
    let links: Arc<Vec<WorkerLink>> = Arc::new(
        workers
            .iter()
            .map(|_| {
                let (tx, rx) = bounded(1);
                senders.push((tx, rx.clone()));
                WorkerLink { shared: Shared::new(topology.nodes.len()), updates: rx }
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(ArrayQueue::new(1024));
    let reports = Arc::new(ArrayQueue::new(cfg.affinity.report_queue as usize));
    let probes = Arc::new(ArrayQueue::new(1024));
    let answers = Arc::new(ArrayQueue::new(1024));
    let shares: Arc<Vec<ArrayQueue<crate::reset::Fanout>>> =
        Arc::new(workers.iter().map(|_| ArrayQueue::new(SHARE_QUEUE)).collect());
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
            resets: cfg.resets.clone(),
            flows: cfg.flows.clone(),
            too_big_per_sec: d.too_big_per_sec,
            idle_sleep: (d.idle_sleep_us > 0).then(|| Duration::from_micros(d.idle_sleep_us as u64)),
        };
        let (ctx, links, worker_stop, pool, ev) =
            (ctx.clone(), links.clone(), stop.clone(), pool.clone(), events.clone());
        let (rep, prb, ans, shr) = (reports.clone(), probes.clone(), answers.clone(), shares.clone());
        let r = eal.launch(LcoreId(lcore), move || {
            let l = &links[w];
            let links = Links {
                shared: &l.shared,
                stop: &worker_stop,
                updates: &l.updates,
                pool: &pool,
                events: &ev,
                reports: &rep,
                probes: &prb,
                answers: &ans,
                shares: &shr,
                index: w as u16,
            };
            worker::run(&plan, ctx, links);
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
    let telemetry_view = Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
    register_telemetry(&telemetry_view);
    let now_ms = 0;
    let mut control = Control {
        telemetry_view,
        last_telemetry: Instant::now() - Duration::from_secs(1),
        affinity: cfg.affinity.enabled.then(|| AffinityTable::new(&cfg.affinity, now_ms)),
        health: cfg.health.enabled.then(|| {
            let names: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
            HealthChecker::new(&cfg.health, &names, now_ms)
        }),
        reports,
        probes,
        answers,
        moves: std::collections::VecDeque::with_capacity(RECENT_MOVES),
        health_events: std::collections::VecDeque::with_capacity(RECENT_MOVES),
        adoption: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        last_affinity_publish: Instant::now(),
        last_aging: Instant::now(),
        probes_unqueued: 0,
        events,
        recent: std::collections::VecDeque::with_capacity(RECENT_RESETS),
        history: Default::default(),
        endpoints: endpoints::Endpoints::start(console, metrics),
        standing: Standing::Ready,
        flows: flow_state,
        withdrawn_told: None,
        fleet_down: Default::default(),
        ports: ports.clone(),
        cfg: cfg.clone(),
        ctx,
        macs,
        senders,
        links: links.clone(),
        lcores: workers.clone(),
        config_path: opts.config_path.clone(),
        start: Instant::now(),
    };
    let seconds = control.run(opts, &stop, &signals);
    if cfg.console.enabled {
        let _ = std::fs::remove_file(cfg.console_socket());
    }
    stop.store(true, Relaxed);
    for l in &launched {
        eal.wait(LcoreId(*l));
    }
    let per_worker: Vec<Snapshot> = links.iter().map(|l| l.shared.snapshot()).collect();
    let mut summary = Summary::new(seconds, &per_worker, &workers, &control.ctx.topology);
    drop(control);
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
    drop(links);
    drop(capture);
    drop(pool);
    drop(eal);
    Ok(summary)
}

/// Binds the console socket (replacing a stale one) with `mode` permissions, non-blocking.
fn bind_console(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "another appliance answers on it"));
    }
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    l.set_nonblocking(true)?;
    Ok(l)
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

/// Fan-outs another worker started that one worker's inbox holds.
const SHARE_QUEUE: usize = 1024;
/// Fan-outs the console remembers.
const RECENT_RESETS: usize = 64;
/// Affinity moves and health changes the console remembers.
const RECENT_MOVES: usize = 64;

/// The appliance's standing in the fabric: what its BGP speaker is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Announce the VIPs it can serve.
    Ready,
    /// An operator took it out (`sluicectl appliance drain`): announce nothing, keep forwarding.
    Draining,
    /// Stopping: announce nothing, forward until the speaker has withdrawn and the routers settled.
    Stopping,
}

impl Standing {
    fn name(self) -> &'static str {
        match self {
            Standing::Ready => "ready",
            Standing::Draining => "draining",
            Standing::Stopping => "stopping",
        }
    }
}

/// The control lcore's state: the configuration in force, the context the workers run on, and the ends
/// of the channels that carry new contexts to them.
struct Control {
    cfg: Config,
    ctx: Arc<Context>,
    macs: Vec<[u8; 6]>,
    senders: Vec<Mailbox>,
    links: Arc<Vec<WorkerLink>>,
    lcores: Vec<u32>,
    /// The console and metrics endpoints' threads and queues.
    endpoints: endpoints::Endpoints,
    events: Arc<ArrayQueue<FanoutEvent>>,
    /// Recent snapshots that decided differently from the current one, newest last: table changes, and
    /// affinity-only changes (each bounded, and none older than the moved window).
    history: (std::collections::VecDeque<crate::reset::Prior>, std::collections::VecDeque<crate::reset::Prior>),
    standing: Standing,
    /// Flow ids and drain deadlines.
    flows: flows::FlowState,
    /// When the speaker first confirmed that BIRD withdrew everything while nothing was to be announced.
    withdrawn_told: Option<Instant>,
    /// Nodes the fleet's health verdict (`health.scope = "fleet"`) takes out of the tables.
    fleet_down: std::collections::BTreeSet<String>,
    ports: Vec<PortId>,
    /// The latest fan-outs with when the control lcore saw them (newest last).
    recent: std::collections::VecDeque<(std::time::SystemTime, FanoutEvent)>,
    config_path: Option<PathBuf>,
    start: Instant,
    /// The controller-VM affinity table (when enabled).
    affinity: Option<AffinityTable>,
    /// Health checks (when enabled).
    health: Option<HealthChecker>,
    reports: Arc<ArrayQueue<AffinityReport>>,
    probes: Arc<ArrayQueue<Probe>>,
    answers: Arc<ArrayQueue<Answer>>,
    moves: std::collections::VecDeque<(std::time::SystemTime, Move)>,
    health_events: std::collections::VecDeque<(std::time::SystemTime, Change)>,
    /// Publication → every worker adopted, in microseconds.
    adoption: hdrhistogram::Histogram<u64>,
    last_affinity_publish: Instant,
    last_aging: Instant,
    /// Health probes the workers' queue had no room for.
    probes_unqueued: u64,
    /// What the telemetry commands answer from (refreshed by the control loop).
    telemetry_view: Arc<std::sync::Mutex<serde_json::Value>>,
    last_telemetry: Instant,
}

fn remember<T>(q: &mut std::collections::VecDeque<(std::time::SystemTime, T)>, item: T) {
    if q.len() == RECENT_MOVES {
        q.pop_front();
    }
    q.push_back((std::time::SystemTime::now(), item));
}

impl Control {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The control core's periodic work: affinity reports, aging, rebalancing and publication; health
    /// answers, timeouts, probes and the state changes they cause.
    fn tick(&mut self) {
        let now_ms = self.now_ms();
        if let Some(a) = &mut self.affinity {
            while let Some(r) = self.reports.pop() {
                if r.topology != self.ctx.topology_id {
                    a.counters.reports_stale += 1;
                    continue;
                }
                match self.ctx.topology.nodes.get(r.node as usize) {
                    Some(n) => a.observe(r.client, &n.name, r.packets as u64, r.bytes, now_ms),
                    None => a.counters.reports_stale += 1,
                }
            }
            let mut moves = Vec::new();
            if self.last_aging.elapsed() >= Duration::from_millis(100) {
                self.last_aging = Instant::now();
                a.age(now_ms);
                moves = a.rebalance(&self.ctx.topology, now_ms);
            }
            let due =
                self.last_affinity_publish.elapsed() >= Duration::from_millis(self.cfg.affinity.publish_interval_ms);
            let dirty = a.is_dirty();
            self.note_moves(moves);
            if dirty && due {
                self.publish_affinity();
            }
        }
        let mut changes = Vec::new();
        if let Some(h) = &mut self.health {
            while let Some(ans) = self.answers.pop() {
                let Some(i) = self.ctx.node_by_ip(&ans.from) else { continue };
                let name = &self.ctx.topology.nodes[i as usize].name;
                let what = match (ans.kind, ans.ok) {
                    (health::Kind::Tcp, true) => "SYN-ACK",
                    (health::Kind::Tcp, false) => "RST: nothing listens",
                    (health::Kind::Icmp, _) => "echo reply",
                    (health::Kind::Arp, _) => "ARP reply",
                };
                changes.extend(h.answer(name, ans.token, ans.ok, what.to_string()));
            }
            let cfg_nodes = &self.cfg.nodes;
            let (send, timeouts) =
                h.tick(now_ms, |n| cfg_nodes.iter().any(|c| c.name == n && c.state != NodeState::Down));
            changes.extend(timeouts);
            let kind = match h.config().check {
                HealthCheck::Tcp => health::Kind::Tcp,
                HealthCheck::Icmp => health::Kind::Icmp,
                HealthCheck::Arp => health::Kind::Arp,
            };
            let port = h.config().port;
            for (name, token) in send {
                let Some(i) = self.ctx.topology.node_index(&name) else { continue };
                if let Some(p) = health::write_probe(&self.ctx, i as u16, kind, port, token) {
                    if self.probes.push(p).is_err() {
                        self.probes_unqueued += 1;
                    }
                }
            }
        }
        if !changes.is_empty() {
            let fleet = self.cfg.health.scope == HealthScope::Fleet;
            for c in &changes {
                let state = if c.up { "up" } else { "down" };
                match fleet {
                    false => eprintln!("sluice: health: node {} is {state} after {}", c.node, c.why),
                    true => eprintln!(
                        "sluice: health: node {} checks {state} from here after {} (the fleet decides)",
                        c.node, c.why
                    ),
                }
            }
            for c in changes {
                remember(&mut self.health_events, c);
            }
            if fleet {
                return;
            }
            let cfg = self.cfg.clone();
            let took = self.rebuild(&cfg);
            eprintln!(
                "sluice: health: generation {} adopted by all {} workers in {} us",
                self.ctx.generation,
                self.links.len(),
                took.as_micros()
            );
        }
    }
    /// Runs until a signal, the duration or idleness says stop. Returns seconds run.
    fn run(&mut self, opts: &RunOptions, stop: &AtomicBool, signals: &Signals) -> f64 {
        let (signalled, hup) = (&signals.stop, &signals.hup);
        let start = Instant::now();
        let mut last_print = start;
        let mut printed = self.snapshots();
        let mut last_rx = 0u64;
        let mut last_change = start;
        let mut stop_asked: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(5));
            let now = Instant::now();
            if signalled.load(Relaxed) && stop_asked.is_none() {
                if !self.cfg.announce.enabled {
                    eprintln!("sluice: signal received, stopping");
                    break;
                }
                eprintln!("sluice: signal received: withdrawing the VIPs, then stopping");
                self.standing = Standing::Stopping;
                stop_asked = Some(now);
            }
            if let Some(asked) = stop_asked {
                let a = &self.cfg.announce;
                let settled = self.withdrawn_told.is_some_and(|t| now - t >= Duration::from_millis(a.settle_ms));
                if settled || now - asked >= Duration::from_millis(a.stop_wait_ms) {
                    match settled {
                        true => eprintln!("sluice: the speaker withdrew the VIPs {} ms ago: stopping", a.settle_ms),
                        false => {
                            eprintln!("sluice: no speaker withdrew the VIPs within {} ms: stopping", a.stop_wait_ms)
                        }
                    }
                    break;
                }
            }
            if hup.swap(false, Relaxed) {
                match self.reload() {
                    Ok(msg) => eprintln!("sluice: {msg}"),
                    Err(e) => eprintln!("sluice: reload refused, nothing changed: {e}"),
                }
            }
            while let Some(e) = self.events.pop() {
                if self.recent.len() == RECENT_RESETS {
                    self.recent.pop_front();
                }
                self.recent.push_back((std::time::SystemTime::now(), e));
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
            if let Some(iv) = opts.stats_interval {
                if now - last_print >= iv {
                    let secs = (now - last_print).as_secs_f64();
                    let deltas: Vec<Snapshot> = snaps.iter().zip(&printed).map(|(a, b)| a.since(b)).collect();
                    let line =
                        interval_line((now - start).as_secs_f64(), secs, &deltas, &self.lcores, &self.ctx.topology);
                    println!("{line}");
                    printed = snaps;
                    last_print = now;
                }
            }
        }
        stop.store(true, Relaxed);
        (Instant::now() - start).as_secs_f64()
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.links.iter().map(|l| l.shared.snapshot()).collect()
    }

    /// Re-reads the configuration file and applies it (see [`Control::apply`]).
    fn reload(&mut self) -> Result<String, String> {
        let path = self.config_path.clone().ok_or("no configuration file to re-read")?;
        let new = Config::load(&path).map_err(|e| e.to_string())?;
        self.apply(new, &path.display().to_string()).map(|m| format!("reloaded: {m}"))
    }

    /// Publishes a validated configuration that changes only VIPs, chassis and nodes: every worker gets
    /// the new context. Anything else is refused and nothing changes.
    fn apply(&mut self, new: Config, source: &str) -> Result<String, String> {
        for (what, same) in [
            ("eal", new.eal == self.cfg.eal),
            ("dataplane", new.dataplane == self.cfg.dataplane),
            ("ports", new.ports == self.cfg.ports),
            ("resets", new.resets == self.cfg.resets),
            ("console", new.console == self.cfg.console),
            ("metrics", new.metrics == self.cfg.metrics),
            ("affinity", new.affinity == self.cfg.affinity),
            ("health", new.health == self.cfg.health),
            ("announce", new.announce == self.cfg.announce),
            ("peers", new.peers == self.cfg.peers),
            ("role", new.role == self.cfg.role && new.this_chassis == self.cfg.this_chassis),
        ] {
            if !same {
                return Err(format!("[{what}] cannot change while running (restart)"));
            }
        }
        let took = self.rebuild(&new);
        let generation = self.ctx.generation;
        let n = &new.nodes;
        let msg = format!(
            "applied {source}: generation {generation}, {} nodes ({} active), adopted by all {} workers in {} us",
            n.len(),
            n.iter().filter(|x| x.state == sluice_control::config::NodeState::Active).count(),
            self.links.len(),
            took.as_micros()
        );
        self.cfg = new;
        Ok(msg)
    }
}
