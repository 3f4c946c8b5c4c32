//! Talking to appliances with a deadline: one exchange (connect, one request line, one answer line) runs
//! on its own thread so that a caller waits at most its timeout, whatever the appliance does. An
//! [`Asker`] keeps at most one such thread per appliance: while an exchange it gave up on is still stuck
//! (an appliance that no longer accepts), it refuses to start another, so a command that asks every
//! interval never piles up threads.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use sluice_control::console::{Request, Response};

/// One request and its answer over the console socket at `path`; reads and writes time out after
/// `timeout` (the connect itself is bounded by the caller, see [`Asker`]).
pub(crate) fn exchange(path: &Path, req: &Request, timeout: Duration) -> Result<Response, String> {
    let s = UnixStream::connect(path).map_err(|e| format!("cannot reach the appliance at {}: {e}", path.display()))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut w = &s;
    writeln!(w, "{}", serde_json::to_string(req).expect("request serialises"))
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).map_err(|e| format!("no answer: {e}"))?;
    if line.is_empty() {
        return Err("no answer: the appliance closed the connection".into());
    }
    serde_json::from_str(&line).map_err(|e| format!("unreadable answer: {e}"))
}

/// What one exchange gave, and how long it took.
pub(crate) struct Outcome {
    pub(crate) answer: Result<Response, String>,
    pub(crate) took: Duration,
}

impl Outcome {
    /// The answer as `T` when the appliance said `ok`; its error (or the exchange's) otherwise.
    pub(crate) fn answer_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        match &self.answer {
            Ok(r) => r.data_as().map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }
    }

    /// Milliseconds the exchange took.
    pub(crate) fn ms(&self) -> u64 {
        self.took.as_millis() as u64
    }
}

/// Asks one appliance, one exchange at a time, each bounded by `timeout` from its start.
pub(crate) struct Asker {
    pub(crate) path: PathBuf,
    pub(crate) timeout: Duration,
    /// The exchange in flight (started by [`Asker::start`], not yet collected or given up on).
    current: Option<(Receiver<Result<Response, String>>, Instant)>,
    /// An exchange given up on whose thread has not finished yet.
    stuck: Option<Receiver<Result<Response, String>>>,
}

impl Asker {
    pub(crate) fn new(path: PathBuf, timeout: Duration) -> Asker {
        Asker { path, timeout, current: None, stuck: None }
    }

    /// Starts sending `req` (on its own thread); false when an earlier exchange is still stuck.
    pub(crate) fn start(&mut self, req: &Request) -> bool {
        if let Some(rx) = &self.stuck {
            if matches!(rx.try_recv(), Err(TryRecvError::Empty)) {
                self.current = None;
                return false;
            }
            self.stuck = None;
        }
        let (tx, rx) = mpsc::channel();
        let (path, req, timeout) = (self.path.clone(), req.clone(), self.timeout);
        thread::spawn(move || {
            let _ = tx.send(exchange(&path, &req, timeout));
        });
        self.current = Some((rx, Instant::now()));
        true
    }

    /// Waits for the exchange [`Asker::start`] began, at most until its timeout runs out.
    pub(crate) fn finish(&mut self) -> Outcome {
        let Some((rx, started)) = self.current.take() else {
            return Outcome {
                answer: Err("no answer: an earlier request is still unanswered".into()),
                took: Duration::ZERO,
            };
        };
        let left = self.timeout.saturating_sub(started.elapsed());
        let answer = match rx.recv_timeout(left) {
            Ok(a) => a,
            Err(RecvTimeoutError::Timeout) => {
                self.stuck = Some(rx);
                Err(format!("no answer within {} ms", self.timeout.as_millis()))
            }
            Err(RecvTimeoutError::Disconnected) => Err("no answer: the exchange ended without one".into()),
        };
        Outcome { answer, took: started.elapsed() }
    }

    /// One exchange, start to finish.
    pub(crate) fn ask(&mut self, req: &Request) -> Outcome {
        self.start(req);
        self.finish()
    }
}

/// Sends each appliance its request (None: nothing for it) at the same time and collects every outcome
/// (None where nothing was sent); the whole takes at most the longest timeout.
pub(crate) fn ask_all(askers: &mut [Asker], reqs: &[Option<Request>]) -> Vec<Option<Outcome>> {
    let sent: Vec<bool> = askers
        .iter_mut()
        .zip(reqs)
        .map(|(a, r)| match r {
            Some(r) => {
                a.start(r);
                true
            }
            None => false,
        })
        .collect();
    askers.iter_mut().zip(sent).map(|(a, sent)| sent.then(|| a.finish())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_silent_appliance_costs_one_timeout_and_no_more_threads() {
        let dir = std::env::temp_dir().join(format!("sluicectl-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("silent.sock");
        let _ = std::fs::remove_file(&path);
        // Accepts connections but never answers.
        let listener = UnixListener::bind(&path).unwrap();
        let held = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            thread::sleep(Duration::from_millis(600));
            drop(s);
        });
        let mut a = Asker::new(path.clone(), Duration::from_millis(150));
        let t = Instant::now();
        let o = a.ask(&Request::Status);
        assert!(o.answer.unwrap_err().contains("within 150 ms"));
        assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
        // The first exchange's thread still waits for its answer: no second one starts.
        assert!(!a.start(&Request::Status));
        assert!(a.finish().answer.unwrap_err().contains("still unanswered"));
        held.join().unwrap();
        thread::sleep(Duration::from_millis(50));
        assert!(a.start(&Request::Status));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_socket_is_named() {
        let mut a = Asker::new("/nonexistent/sluice.sock".into(), Duration::from_millis(500));
        let e = a.ask(&Request::Status).answer.unwrap_err();
        assert!(e.contains("cannot reach the appliance at /nonexistent/sluice.sock"), "{e}");
    }
}
