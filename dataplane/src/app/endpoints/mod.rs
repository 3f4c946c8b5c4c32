//! The console and metrics endpoints (and the telemetry commands, in [`telemetry`]), off the control loop: no client, however slow, silent or unwilling
//! to read, can delay signals, reloads, publications, health checks or affinity.
//!
//! Each endpoint has an accept thread. Every connection gets its own thread (at most [`MAX_CONNECTIONS`]
//! per endpoint at once: beyond, it is told the endpoint is busy and closed) with a deadline for the whole
//! request ([`REQUEST_DEADLINE`]), a size cap, and a write timeout. A console request, once read and
//! parsed, is queued (bounded) for the control loop, which answers a few per turn; the connection's thread
//! waits for the answer and writes it. Metrics are served from a text the control loop renders a few times
//! a second.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use sluice_control::console::{self, Request, Response};

mod telemetry;

pub use telemetry::{register_telemetry, View};

/// Connections one endpoint serves at once.
pub const MAX_CONNECTIONS: usize = 16;
/// A client has this long to send its whole request.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Writing the answer may take this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest console request line.
pub const CONSOLE_REQUEST_MAX: usize = 64 * 1024;
/// The longest HTTP request head on the metrics endpoint.
const METRICS_REQUEST_MAX: usize = 8 * 1024;
/// How long a console connection waits for the control loop's answer (a publication may wait up to 2 s
/// for the workers).
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);
/// Console requests waiting for the control loop, at most.
const QUEUE: usize = 64;

/// A parsed console request and where its answer goes.
pub struct Pending {
    pub request: Request,
    pub reply: Sender<Response>,
}

/// The endpoints' threads, and what the control loop exchanges with them.
pub struct Endpoints {
    /// Console requests for the control loop.
    pub requests: Receiver<Pending>,
    /// What `GET /metrics` answers, as the control loop last rendered it.
    pub metrics_body: Arc<Mutex<String>>,
    /// What the telemetry commands answer, as the control loop last refreshed it.
    pub telemetry: View,
    stop: Arc<AtomicBool>,
}

impl Endpoints {
    /// Starts an accept thread for each endpoint given.
    pub fn start(console: Option<UnixListener>, metrics: Option<TcpListener>, telemetry: View) -> Endpoints {
        let (tx, rx) = bounded(QUEUE);
        let e = Endpoints {
            requests: rx,
            metrics_body: Arc::new(Mutex::new(String::new())),
            telemetry,
            stop: Arc::new(AtomicBool::new(false)),
        };
        if let Some(l) = console {
            let stop = e.stop.clone();
            spawn("sluice-console", move || {
                accept_loop(&stop, || l.accept().map(|(s, _)| s), move |s| console_conn(s, &tx))
            });
        }
        if let Some(l) = metrics {
            let (stop, body) = (e.stop.clone(), e.metrics_body.clone());
            spawn("sluice-metrics", move || {
                accept_loop(&stop, || l.accept().map(|(s, _)| s), move |s| metrics_conn(s, &body))
            });
        }
        e
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!("cannot start the {name} thread: {e}");
    }
}

/// A connected stream of either kind.
trait Conn: Read + Write + Send + 'static {
    fn set_read_deadline(&self, d: Option<Duration>) -> std::io::Result<()>;
    fn set_write_deadline(&self, d: Option<Duration>) -> std::io::Result<()>;
    fn set_blocking(&self) -> std::io::Result<()>;
}

macro_rules! conn_impl {
    ($t:ty) => {
        impl Conn for $t {
            fn set_read_deadline(&self, d: Option<Duration>) -> std::io::Result<()> {
                self.set_read_timeout(d)
            }
            fn set_write_deadline(&self, d: Option<Duration>) -> std::io::Result<()> {
                self.set_write_timeout(d)
            }
            fn set_blocking(&self) -> std::io::Result<()> {
                self.set_nonblocking(false)
            }
        }
    };
}
conn_impl!(UnixStream);
conn_impl!(TcpStream);

/// Accepts connections (the listener is non-blocking: it looks every 10 ms, and for the stop flag) and
/// serves each on its own thread, at most [`MAX_CONNECTIONS`] at once; the one beyond gets `busy`.
fn accept_loop<S: Conn>(
    stop: &AtomicBool,
    accept: impl Fn() -> std::io::Result<S>,
    serve: impl Fn(S) + Send + Sync + Clone + 'static,
) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Relaxed) {
        let s = match accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if s.set_blocking().is_err() || s.set_write_deadline(Some(WRITE_TIMEOUT)).is_err() {
            continue;
        }
        if open.load(Relaxed) >= MAX_CONNECTIONS {
            busy(s);
            continue;
        }
        open.fetch_add(1, Relaxed);
        let (held, serve) = (open.clone(), serve.clone());
        let spawned = std::thread::Builder::new().name("sluice-conn".into()).spawn(move || {
            serve(s);
            held.fetch_sub(1, Relaxed);
        });
        if spawned.is_err() {
            open.fetch_sub(1, Relaxed);
        }
    }
}

/// Tells a client beyond the cap that the endpoint is busy (briefly: it may not read at all).
fn busy<S: Conn>(mut s: S) {
    let _ = s.set_write_deadline(Some(Duration::from_millis(100)));
    let _ = s.write_all(b"busy: too many connections\n");
}

/// Reads until `end` says the request is complete, within [`REQUEST_DEADLINE`] and `max` bytes. Err says
/// why not.
fn read_request<S: Conn>(s: &mut S, max: usize, end: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, &'static str> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the request did not arrive in time");
        }
        s.set_read_deadline(Some(left)).map_err(|_| "the connection failed")?;
        match s.read(&mut chunk) {
            Ok(0) => return if buf.is_empty() { Err("nothing received") } else { Ok(buf) },
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if end(&buf) {
                    return Ok(buf);
                }
                if buf.len() > max {
                    return Err("the request is too long");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err("the request did not arrive in time"),
        }
    }
}

/// One console connection: a request line, its answer from the control loop, written back.
fn console_conn(mut s: UnixStream, queue: &Sender<Pending>) {
    let resp = match read_request(&mut s, CONSOLE_REQUEST_MAX, |b| b.contains(&b'\n')) {
        Err(why) => Response::err(format!("malformed request: {why}")),
        Ok(buf) => {
            let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
            match std::str::from_utf8(line).map_err(|_| "malformed request: not UTF-8".to_string()) {
                Err(e) => Response::err(e),
                Ok(text) => match console::parse_request(text) {
                    Err(e) => Response::err(e),
                    Ok(request) => ask(queue, request),
                },
            }
        }
    };
    let _ = writeln!(s, "{}", serde_json::to_string(&resp).expect("a response serialises"));
}

/// Queues a request for the control loop and waits for its answer.
fn ask(queue: &Sender<Pending>, request: Request) -> Response {
    let (tx, rx) = bounded(1);
    match queue.try_send(Pending { request, reply: tx }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return Response::err("busy: too many requests waiting"),
        Err(TrySendError::Disconnected(_)) => return Response::err("the appliance is stopping"),
    }
    rx.recv_timeout(ANSWER_DEADLINE).unwrap_or_else(|_| Response::err("no answer from the control loop in time"))
}

/// One metrics connection: `GET /metrics` gets the latest rendering, anything else 404.
fn metrics_conn(mut s: TcpStream, body: &Mutex<String>) {
    let head =
        read_request(&mut s, METRICS_REQUEST_MAX, |b| b.windows(4).any(|w| w == b"\r\n\r\n") || b.ends_with(b"\n\n"));
    let (status, text) = match head {
        Err(why) => ("400 Bad Request", format!("{why}\n")),
        Ok(h) if h.starts_with(b"GET /metrics ") || h.starts_with(b"GET /metrics?") => {
            ("200 OK", body.lock().unwrap_or_else(|e| e.into_inner()).clone())
        }
        Ok(_) => ("404 Not Found", "only /metrics is served here\n".to_string()),
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}
