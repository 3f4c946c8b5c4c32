//! `sluicectl speaker`: drives a BIRD 2 speaker from one appliance's announcement. Every interval it asks
//! the appliance `announce`; each VIP has a BIRD static protocol named by [`protocol_name`]
//! (`vip_10_10_0_1`), enabled while the appliance announces that VIP and disabled otherwise, and every
//! `--also` protocol (a return route toward the nodes, say) is enabled while the appliance announces
//! anything. When the appliance does not answer within the interval (crashed, hung, gone, or an answer
//! that cannot be read) every protocol is disabled at once: a dead appliance's routes are withdrawn
//! within one interval. BIRD is told through `birdc -s SOCKET enable|disable NAME`, only when the wanted
//! state differs from the last one set (at start, every protocol is set explicitly). On SIGINT or SIGTERM
//! the speaker disables everything and exits: a speaker that stops withdraws.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use sluice_control::console::{Announcement, AnswerError, Request, Response};
use sluice_control::Config;

use crate::client::Asker;
use crate::watch::{timestamp, Stop};

/// How long one `birdc` may take before it is killed (and retried next interval).
const BIRDC_TIMEOUT: Duration = Duration::from_secs(1);

/// The speaker's settings.
#[derive(ClapArgs, Debug)]
pub(crate) struct SpeakerArgs {
    /// The appliance's console socket.
    #[arg(long, conflicts_with = "config")]
    socket: Option<PathBuf>,
    /// The appliance's configuration file (its console socket, and the VIPs to withdraw should the
    /// appliance not answer from the start).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// BIRD's control socket (`birdc -s`).
    #[arg(long, value_name = "SOCKET")]
    bird_socket: PathBuf,
    /// Milliseconds between questions; also the appliance's deadline to answer (capped at 1000).
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// An appliance that accepts the question but answers too late (a busy control loop) is withdrawn
    /// only after this many such misses in a row; one that cannot be reached, at once.
    #[arg(long, default_value_t = 3)]
    misses: u32,
    /// A further BIRD protocol, enabled while the appliance announces any VIP (repeatable).
    #[arg(long = "also", value_name = "PROTO")]
    also: Vec<String>,
}

/// The BIRD protocol of a VIP: `vip_` and the address with `.` and `:` turned into `_`.
pub(crate) fn protocol_name(addr: &IpAddr) -> String {
    format!("vip_{}", addr.to_string().replace(['.', ':'], "_"))
}

/// A BIRD symbol: a letter or `_`, then letters, digits and `_`.
fn is_bird_symbol(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// The announcement in an exchange's result, or why there is none.
pub(crate) fn read_announcement(answer: Result<Response, String>) -> Result<Announcement, String> {
    match answer {
        Err(e) => Err(format!("appliance not answering: {e}")),
        Ok(r) => r.data_as::<Announcement>().map_err(|e| match e {
            AnswerError::Refused(e) => format!("appliance refused: {e}"),
            AnswerError::Unreadable(e) => format!("malformed answer: {e}"),
        }),
    }
}

/// What each protocol should be (enabled or not) and why: every VIP of the announcement and every one
/// in `known` (VIPs seen before), and the `also` protocols. Without an announcement, all disabled.
pub(crate) fn wanted(
    ann: &Result<Announcement, String>,
    known: &BTreeSet<String>,
    also: &[String],
) -> BTreeMap<String, (bool, String)> {
    let mut w: BTreeMap<String, (bool, String)> = BTreeMap::new();
    match ann {
        Err(e) => {
            for p in known.iter().chain(also) {
                w.insert(p.clone(), (false, e.clone()));
            }
        }
        Ok(a) => {
            for p in known {
                w.insert(p.clone(), (false, "no longer a VIP of the appliance".into()));
            }
            for v in &a.vips {
                let why = if v.why.is_empty() { format!("appliance {}", a.state) } else { v.why.clone() };
                w.insert(protocol_name(&v.address), (v.announce, why));
            }
            let why = if a.announce { "the appliance announces" } else { "the appliance announces nothing" };
            for p in also {
                w.insert(p.clone(), (a.announce, why.into()));
            }
        }
    }
    w
}

/// Runs `birdc -s SOCKET enable|disable NAME`, killed after [`BIRDC_TIMEOUT`].
fn birdc(socket: &PathBuf, name: &str, on: bool) -> Result<(), String> {
    let verb = if on { "enable" } else { "disable" };
    let mut child = Command::new("birdc")
        .arg("-s")
        .arg(socket)
        .args([verb, name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run birdc: {e}"))?;
    let deadline = Instant::now() + BIRDC_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("birdc took more than {} ms", BIRDC_TIMEOUT.as_millis()));
            }
            Err(e) => return Err(format!("birdc: {e}")),
        }
    };
    let mut text = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut text);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let refused = ["No protocols match", "syntax error", "Unable to connect", "Permission denied"];
    if !status.success() || refused.iter().any(|r| text.contains(r)) {
        return Err(format!("birdc {verb} {name}: {status}: {text}"));
    }
    Ok(())
}

/// What BIRD was told, and the failures already logged.
struct Bird {
    socket: PathBuf,
    /// Protocol → the state last set successfully (absent: unknown, set it next time).
    set: BTreeMap<String, bool>,
    /// Protocol → the last failure logged for it (a failure is logged once until it changes).
    failing: BTreeMap<String, String>,
}

impl Bird {
    /// BIRD has taken the withdrawal of every protocol in `names`.
    fn all_withdrawn<'a>(&self, mut names: impl Iterator<Item = &'a String>) -> bool {
        names.all(|p| self.set.get(p) == Some(&false))
    }

    /// Sets every protocol whose wanted state differs from the last one set, withdrawals first; true
    /// when BIRD took every change.
    fn converge(&mut self, want: &BTreeMap<String, (bool, String)>) -> bool {
        let mut all = true;
        let order = want.iter().filter(|(_, (on, _))| !on).chain(want.iter().filter(|(_, (on, _))| *on));
        for (p, (on, why)) in order {
            if self.set.get(p) == Some(on) {
                continue;
            }
            match birdc(&self.socket, p, *on) {
                Ok(()) => {
                    self.set.insert(p.clone(), *on);
                    self.failing.remove(p);
                    eprintln!("{} speaker: {} {p} ({why})", timestamp(), if *on { "announce" } else { "withdraw" });
                }
                Err(e) => {
                    all = false;
                    self.set.remove(p);
                    if self.failing.get(p) != Some(&e) {
                        eprintln!("{} speaker: {e} (retrying every interval)", timestamp());
                        self.failing.insert(p.clone(), e);
                    }
                }
            }
        }
        all
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("sluicectl: {e}");
    crate::exit::USAGE.into()
}

/// Runs the speaker until SIGINT or SIGTERM.
pub(crate) fn run(args: SpeakerArgs) -> ExitCode {
    if let Some(bad) = args.also.iter().find(|p| !is_bird_symbol(p)) {
        return fail(format!("--also {bad:?}: not a BIRD protocol name"));
    }
    if !(10..=60_000).contains(&args.interval_ms) {
        return fail("--interval-ms: 10 to 60000");
    }
    if !(1..=100).contains(&args.misses) {
        return fail("--misses: 1 to 100");
    }
    let mut known = BTreeSet::new();
    let path = match (&args.socket, &args.config) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => match Config::load(c) {
            Ok(cfg) => {
                known.extend(cfg.vips.iter().map(|v| protocol_name(&v.address)));
                cfg.console_socket()
            }
            Err(e) => return fail(format!("{}: {e}", c.display())),
        },
        (None, None) => return fail("say where the appliance is: --socket PATH or --config FILE"),
    };
    let stop = match Stop::on_signals() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let interval = Duration::from_millis(args.interval_ms);
    let mut asker = Asker::new(path.clone(), interval.min(Duration::from_secs(1)));
    let mut bird = Bird { socket: args.bird_socket.clone(), set: BTreeMap::new(), failing: BTreeMap::new() };
    eprintln!(
        "{} speaker: appliance {}, BIRD {}, every {} ms",
        timestamp(),
        path.display(),
        args.bird_socket.display(),
        args.interval_ms
    );
    let mut answering: Option<bool> = None;
    let mut misses = 0u32;
    while !stop.requested() {
        let start = Instant::now();
        let withdrawn = bird.all_withdrawn(known.iter().chain(&args.also));
        let ann = read_announcement(asker.ask(&Request::Announce { withdrawn }).answer);
        // Too late, not gone: the appliance took the question (or still holds the last one).
        let late = matches!(&ann, Err(e) if e.starts_with("no answer within") || e.contains("still unanswered"));
        misses = if late { misses + 1 } else { 0 };
        if late && misses < args.misses {
            if stop.sleep_until(start + interval) {
                break;
            }
            continue;
        }
        if answering != Some(ann.is_ok()) {
            match &ann {
                Ok(a) => eprintln!("{} speaker: appliance answering ({})", timestamp(), a.state),
                Err(e) => eprintln!("{} speaker: {e}", timestamp()),
            }
            answering = Some(ann.is_ok());
        }
        if let Ok(a) = &ann {
            known.extend(a.vips.iter().map(|v| protocol_name(&v.address)));
        }
        bird.converge(&wanted(&ann, &known, &args.also));
        if stop.sleep_until(start + interval) {
            break;
        }
    }
    // Stopping: withdraw everything, explicitly.
    let all: BTreeMap<String, (bool, String)> =
        known.iter().chain(&args.also).map(|p| (p.clone(), (false, "the speaker is stopping".into()))).collect();
    bird.set.clear();
    match bird.converge(&all) {
        true => {
            eprintln!("{} speaker: stopped, everything withdrawn", timestamp());
            ExitCode::SUCCESS
        }
        false => {
            eprintln!("{} speaker: stopped, but BIRD did not take every withdrawal", timestamp());
            crate::exit::REFUSED.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(announce: bool, vips: &[(&str, bool)]) -> Result<Announcement, String> {
        let vips = vips
            .iter()
            .map(|(a, on)| serde_json::json!({ "address": a, "announce": on, "why": if *on { "ports up" } else { "no active node" } }))
            .collect::<Vec<_>>();
        read_announcement(Ok(Response::ok(serde_json::json!({ "state": "ready", "announce": announce, "vips": vips }))))
    }

    #[test]
    fn protocols_are_named_from_the_address() {
        assert_eq!(protocol_name(&"10.10.0.1".parse().unwrap()), "vip_10_10_0_1");
        assert_eq!(protocol_name(&"2001:db8::1".parse().unwrap()), "vip_2001_db8__1");
        assert!(is_bird_symbol(&protocol_name(&"fd00::a:1".parse().unwrap())));
        assert!(is_bird_symbol("ret") && is_bird_symbol("_r2"));
        assert!(!is_bird_symbol("") && !is_bird_symbol("2x") && !is_bird_symbol("a b") && !is_bird_symbol("a;b"));
    }

    #[test]
    fn an_announcement_sets_each_vip_and_the_also_protocols() {
        let known: BTreeSet<String> = ["vip_10_10_0_9".to_string()].into();
        let also = vec!["ret".to_string()];
        let w = wanted(&ann(true, &[("10.10.0.1", true), ("10.10.0.2", false)]), &known, &also);
        assert_eq!(w["vip_10_10_0_1"], (true, "ports up".into()));
        assert_eq!(w["vip_10_10_0_2"], (false, "no active node".into()));
        assert!(!w["vip_10_10_0_9"].0, "a VIP the appliance no longer has is withdrawn");
        assert!(w["ret"].0);
        let w = wanted(&ann(false, &[("10.10.0.1", false)]), &known, &also);
        assert!(w.values().all(|(on, _)| !on));
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn no_answer_withdraws_everything_known() {
        let known: BTreeSet<String> = ["vip_10_10_0_1".to_string(), "vip_10_10_0_2".to_string()].into();
        let also = vec!["ret".to_string()];
        for e in [
            read_announcement(Err("cannot reach the appliance at /x: No such file".into())),
            read_announcement(Ok(Response::err("stopping"))),
            read_announcement(Ok(Response::ok(serde_json::json!({ "announce": true })))),
            read_announcement(Ok(Response::ok(
                serde_json::json!({ "announce": true, "vips": [{ "address": "x; restart", "announce": true }] }),
            ))),
        ] {
            let reason = e.clone().unwrap_err();
            let w = wanted(&e, &known, &also);
            assert_eq!(w.len(), 3);
            assert!(w.values().all(|(on, why)| !on && *why == reason), "{w:?}");
        }
        assert!(read_announcement(Err("x".into())).unwrap_err().starts_with("appliance not answering: "));
        assert!(read_announcement(Ok(Response::ok(serde_json::json!({}))))
            .unwrap_err()
            .starts_with("malformed answer"));
    }
}
