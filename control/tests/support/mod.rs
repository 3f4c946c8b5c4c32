//! Test helpers for `sluicectl` against appliances that are not there: a fake appliance (a thread
//! answering console requests on a Unix socket with whatever the test says) and running the binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sluice_control::console::{parse_request, Request, Response};

/// How a fake appliance answers one request: `Some` answer, or `None` to hold the connection without
/// answering (a hung appliance).
pub type Answer = Box<dyn FnMut(&Request) -> Option<Response> + Send>;

/// An appliance's console socket, answered by a thread.
pub struct FakeAppliance {
    pub socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeAppliance {
    /// Listens on `socket` and answers every request with `answer`.
    pub fn start(socket: &Path, mut answer: Answer) -> FakeAppliance {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (st, rq) = (Arc::clone(&stop), Arc::clone(&requests));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let s = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut line = String::new();
                if BufReader::new(&s).read_line(&mut line).is_err() {
                    continue;
                }
                let resp = match parse_request(&line) {
                    Ok(req) => {
                        rq.lock().unwrap().push(req.clone());
                        answer(&req)
                    }
                    Err(e) => Some(Response::err(e)),
                };
                match resp {
                    Some(r) => {
                        let _ = writeln!(&s, "{}", serde_json::to_string(&r).unwrap());
                    }
                    None => {
                        let until = Instant::now() + Duration::from_secs(3);
                        while Instant::now() < until && !st.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            }
        });
        FakeAppliance { socket: socket.to_path_buf(), stop, thread: Some(thread), requests }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Stops answering and removes the socket, as when the appliance dies.
    pub fn vanish(self) {}
}

impl Drop for FakeAppliance {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Runs `sluicectl` with `args` to completion.
pub fn sluicectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluicectl")).args(args).output().unwrap()
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A `status` answer with this digest.
pub fn status(digest: &str, generation: u64) -> Response {
    Response::ok(serde_json::json!({
        "role": "single", "generation": generation, "digest": digest, "appliance": "ready",
        "nodes": 4, "active_nodes": 4, "vips": ["10.10.0.1"],
    }))
}
