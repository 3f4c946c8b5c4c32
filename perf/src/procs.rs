//! The processes the harness runs (sluice, testpmd, under valgrind or not) and how a run is interrupted.
//! SIGINT or SIGTERM to the harness raises a stop flag; each wait below checks it, stops its child with
//! SIGINT (so DPDK releases its memory) and returns an error, and the callers' guards then put back
//! hugepages, mounts, files and runtime directories as they unwind. A second signal ends the harness at
//! once. Children are started with a parent-death signal (`setpriv --pdeathsig INT`), so even a harness
//! killed with SIGKILL leaves no sluice or testpmd running.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an interrupted run reports.
pub const INTERRUPTED: &str = "interrupted; hugepages, mounts, processes and runtime files were put back";

/// A flag SIGINT and SIGTERM raise. The first signal only raises it; the second ends the process.
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the shutdown check runs before the flag is raised by this same signal.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone());
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    stop
}

/// `program`, started so that it gets SIGINT if the harness dies first, however it dies.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--pdeathsig", "INT", "--"]).arg(program).stdin(Stdio::null());
    c
}

/// A running child. Dropping it stops it: SIGINT, then SIGKILL after `grace`.
pub struct Guarded {
    child: Child,
    grace: Duration,
}

impl Guarded {
    pub fn spawn(cmd: &mut Command, grace: Duration) -> Result<Guarded, String> {
        let child = cmd.spawn().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
        Ok(Guarded { child, grace })
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits until the child exits by itself; when `stop` is raised first, stops it and says so.
    pub fn wait(&mut self, stop: &AtomicBool) -> Result<ExitStatus, String> {
        loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(st);
            }
            if stop.load(Relaxed) {
                self.interrupt();
                return Err(INTERRUPTED.into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, then SIGKILL if it has not exited within the grace period.
    pub fn interrupt(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
            let t0 = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) && t0.elapsed() < self.grace {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// EAL's runtime directory for a file prefix, as root sees it.
pub fn runtime_dir(prefix: &str) -> PathBuf {
    Path::new("/var/run/dpdk").join(prefix)
}

/// Removes what a DPDK process left in its runtime directory: testpmd always leaves it; sluice removes its
/// own when it exits, but not if it is killed (the grace period ran out).
pub fn remove_runtime_dir(prefix: &str) {
    let _ = std::fs::remove_dir_all(runtime_dir(prefix));
}

/// Runs sluice (behind `wrapper`, e.g. valgrind, when not empty) on `cfg`, whose EAL file prefix is
/// `prefix`, for `seconds` and returns its statistics (`--stats-json`). A run that forwarded nothing, whose counters do not add up or that left
/// mbufs in use is an error, not a result; so is an interrupted one.
pub fn run_sluice(
    sluice: &Path,
    cfg: &Path,
    json: &Path,
    seconds: u32,
    stop: &AtomicBool,
    wrapper: &[String],
    prefix: &str,
) -> Result<serde_json::Value, String> {
    let log_path = json.with_extension("log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = command(w);
            c.args(rest).arg(sluice);
            c
        }
        None => command(sluice),
    };
    cmd.arg("--config")
        .arg(cfg)
        .args(["--duration", &seconds.to_string(), "--stats-interval-ms", "0"])
        .arg("--stats-json")
        .arg(json)
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    let grace = Duration::from_secs(if wrapper.is_empty() { 10 } else { 120 });
    let status = Guarded::spawn(&mut cmd, grace)?.wait(stop);
    // The child is gone, however it ended: nothing of its EAL is left to use the directory.
    remove_runtime_dir(prefix);
    let status = status?;
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(format!("sluice failed ({status}): {text}"));
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let secs = s["seconds"].as_f64().unwrap_or(0.0);
    let rx = s["rx"].as_f64().unwrap_or(0.0);
    if secs <= 0.0 || rx <= 0.0 {
        return Err(format!("sluice forwarded nothing: {s}"));
    }
    // A fast run that loses packets or mbufs is not a result.
    if s["counters_balance"] != serde_json::Value::Bool(true) || s["mempool_in_use_at_exit"].as_u64() != Some(0) {
        return Err(format!("sluice's counters do not add up or mbufs were left in use: {s}"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_flag_stops_the_child_with_sigint() {
        let stop = AtomicBool::new(false);
        // A shell that reports SIGINT through its exit code, started the way the targets are.
        let mut cmd = command("sh");
        cmd.args(["-c", "trap 'exit 42' INT; while :; do sleep 0.05; done"]);
        let mut g = Guarded::spawn(&mut cmd, Duration::from_secs(5)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(g.child().try_wait().unwrap().is_none(), "still running before the stop");
        stop.store(true, Relaxed);
        let t0 = Instant::now();
        assert_eq!(g.wait(&stop).unwrap_err(), INTERRUPTED);
        assert!(t0.elapsed() < Duration::from_secs(4), "stopped by SIGINT, not by the SIGKILL fallback");
        assert_eq!(g.child().try_wait().unwrap().and_then(|s| s.code()), Some(42));
    }

    #[test]
    fn a_child_that_exits_by_itself_is_waited_for() {
        let stop = AtomicBool::new(false);
        let mut cmd = command("sh");
        cmd.args(["-c", "exit 3"]);
        let st = Guarded::spawn(&mut cmd, Duration::from_secs(1)).unwrap().wait(&stop).unwrap();
        assert_eq!(st.code(), Some(3));
    }
}
