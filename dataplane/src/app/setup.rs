//! Bringing the appliance up and down: signals, the ports, the endpoints' sockets and the workers. Each
//! resource that must be undone is held by a guard, so an error at any step (or a panic) undoes exactly
//! what was done, in reverse order: workers are stopped and waited for before the ports close, and the
//! console socket's file goes with its guard.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use dpdk_sys::eal::Eal;
use dpdk_sys::{LcoreId, Mempool, PortConf, PortId};
use sluice_control::Config;

use super::channels::Channels;
use super::{step, AppError};
use crate::pipeline::Context;
use crate::worker::{self, Plan};

/// SIGINT/SIGTERM (stop) and SIGHUP (reload), handled from before EAL starts: a stop asked for while
/// the appliance is still starting is honoured as soon as it runs, through the same clean shutdown.
pub(super) struct Signals {
    pub stop: Arc<AtomicBool>,
    pub hup: Arc<AtomicBool>,
}

impl Signals {
    pub fn register() -> Signals {
        let s = Signals { stop: Arc::new(AtomicBool::new(false)), hup: Arc::new(AtomicBool::new(false)) };
        for (sig, flag) in [
            (signal_hook::consts::SIGINT, &s.stop),
            (signal_hook::consts::SIGTERM, &s.stop),
            (signal_hook::consts::SIGHUP, &s.hup),
        ] {
            if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
                tracing::error!("cannot handle signal {sig}: {e}");
            }
        }
        s
    }
}

/// The configured ports, started; stopped and closed when dropped.
pub(super) struct Ports {
    /// DPDK port ids, by configuration index.
    pub ids: Vec<PortId>,
    pub macs: Vec<[u8; 6]>,
    /// Rx queues per port (at most one per worker, as many as the device has).
    pub rx_queues: Vec<u16>,
}

impl Ports {
    /// Configures and starts every port of `cfg` with a tx queue per worker; on an error, the ports
    /// started so far are closed again.
    pub fn start(cfg: &Config, pool: &Mempool, workers: usize) -> Result<Ports, AppError> {
        let d = &cfg.dataplane;
        let mut ports = Ports { ids: Vec::new(), macs: Vec::new(), rx_queues: Vec::new() };
        for p in &cfg.ports {
            let id =
                step(&format!("port {:?}: finding device {:?}", p.name, p.dev_name()), PortId::by_name(&p.dev_name()))?;
            let info = step(&format!("port {:?}: device info", p.name), id.info())?;
            let rxq = (workers as u16).min(info.max_rx_queues).max(1);
            let conf = PortConf {
                rx_queues: rxq,
                tx_queues: workers as u16,
                rx_desc: d.rx_desc,
                tx_desc: d.tx_desc,
                rss_key: d.hash_key.bytes.clone(),
                promiscuous: true,
                mtu: p.mtu,
            };
            if dpdk_sys::port::carries_mtu_unconfigured(&info, p.mtu) {
                tracing::warn!(
                    "port {:?} ({}): the driver reports a {}-byte frame limit; mtu {} is carried as far as its \
                     ring frames (framesz) and its kernel interface's MTU allow",
                    p.name,
                    info.driver,
                    info.max_rx_pktlen,
                    p.mtu
                );
            }
            step(&format!("port {:?} ({})", p.name, info.driver), id.configure_and_start(&conf, pool))?;
            ports.ids.push(id);
            ports.rx_queues.push(rxq);
            ports.macs.push(match p.mac {
                Some(m) => m.0,
                None => step(&format!("port {:?}: MAC", p.name), id.mac())?,
            });
        }
        Ok(ports)
    }
}

impl Drop for Ports {
    fn drop(&mut self) {
        for id in &self.ids {
            if let Err(e) = id.stop() {
                tracing::warn!("stopping port {}: {e}", id.0);
            }
            if let Err(e) = id.close() {
                tracing::warn!("closing port {}: {e}", id.0);
            }
        }
    }
}

/// The console socket's file, removed when dropped.
pub(super) struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The endpoints' sockets: the console's (with the guard of its file) and the metrics listener, each
/// when enabled.
pub(super) struct Sockets {
    pub console: Option<(UnixListener, SocketFile)>,
    pub metrics: Option<TcpListener>,
}

/// Binds the console socket and the metrics listener that `cfg` enables.
pub(super) fn bind_endpoints(cfg: &Config) -> Result<Sockets, AppError> {
    let console = match cfg.console.enabled {
        true => {
            let path = cfg.console_socket();
            let l = step(&format!("console socket {}", path.display()), bind_console(&path, cfg.console.mode))?;
            Some((l, SocketFile(path)))
        }
        false => None,
    };
    if cfg.metrics.prometheus && !cfg.metrics.listen.ip().is_loopback() {
        tracing::warn!(
            "the metrics endpoint listens on {}, not a loopback address: whoever reaches it reads every counter",
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
    Ok(Sockets { console, metrics })
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

/// The workers running on their lcores; told to stop and waited for when dropped.
pub(super) struct Workers<'e> {
    eal: &'e Eal,
    channels: Arc<Channels>,
    lcores: Vec<u32>,
}

impl<'e> Workers<'e> {
    /// Launches a worker on each worker lcore of `cfg`, polling its share of `ports`' rx queues, on
    /// context `ctx`, with its ends of `channels`.
    pub fn launch(
        eal: &'e Eal,
        cfg: &Config,
        ports: &Ports,
        ctx: &Arc<Context>,
        channels: &Arc<Channels>,
        pool: &Arc<Mempool>,
    ) -> Result<Workers<'e>, AppError> {
        let d = &cfg.dataplane;
        let mut launched = Workers { eal, channels: channels.clone(), lcores: Vec::new() };
        for (w, &lcore) in cfg.worker_lcores().iter().enumerate() {
            let plan = Plan {
                rx: (0..ports.ids.len() as u16)
                    .filter(|&p| (w as u16) < ports.rx_queues[p as usize])
                    .map(|p| (p, w as u16))
                    .collect(),
                tx_queue: w as u16,
                ports: ports.ids.clone(),
                burst: d.burst as usize,
                resets: cfg.resets.clone(),
                flows: cfg.flows.clone(),
                too_big_per_sec: d.too_big_per_sec,
                idle_sleep: (d.idle_sleep_us > 0).then(|| Duration::from_micros(d.idle_sleep_us as u64)),
            };
            let (ctx, channels, pool) = (ctx.clone(), channels.clone(), pool.clone());
            let r = eal.launch(LcoreId(lcore), move || {
                worker::run(&plan, ctx, channels.worker(w, &pool));
                0
            });
            step(&format!("launching worker on lcore {lcore}"), r)?;
            launched.lcores.push(lcore);
        }
        Ok(launched)
    }
}

impl Drop for Workers<'_> {
    fn drop(&mut self) {
        self.channels.stop.store(true, Relaxed);
        for l in &self.lcores {
            self.eal.wait(LcoreId(*l));
        }
    }
}

/// The iSCSI portal's thread: stopped and joined when dropped.
pub(super) struct PortalThread {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PortalThread {
    /// Starts the portal thread when `ctx` has a portal.
    pub(super) fn start(ctx: &Arc<Context>, channels: &Arc<Channels>) -> Result<Option<PortalThread>, AppError> {
        if ctx.portal.is_none() {
            return Ok(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let links = crate::portal::stack::PortalLinks {
            stop: stop.clone(),
            from_workers: channels.portal_in.clone(),
            to_workers: channels.portal_out.clone(),
            updates: channels.portal_mailbox.rx.clone(),
            reports: channels.portal_reports.clone(),
        };
        let ctx = ctx.clone();
        let handle = std::thread::Builder::new()
            .name("sluice-portal".into())
            .spawn(move || crate::portal::stack::run(ctx, links))
            .map_err(|e| AppError(format!("starting the iSCSI portal thread: {e}")))?;
        Ok(Some(PortalThread { stop, handle: Some(handle) }))
    }
}

impl Drop for PortalThread {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
