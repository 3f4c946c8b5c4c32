//! `sluicectl top`: a live view of a running appliance, refreshed every interval from its `stats` answer.
//! On a terminal it draws with ratatui (q or Ctrl-C quits); otherwise (a pipe, a test) it prints each
//! refresh as plain text.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use sluice_control::affinity::AffinityCounters;
use sluice_control::console::{Request, StatsAnswer};
use sluice_control::report::{counter, Summary};

use crate::{ask_as, Target};

/// What one refresh shows: rates over the last interval and the counters behind them.
struct View {
    header: Vec<String>,
    /// name, chassis, state, health, pps, share of the interval's node traffic (%).
    nodes: Vec<[String; 6]>,
}

fn delta(cur: u64, prev: u64) -> u64 {
    // Per-node counters restart when the topology changes: then the current value is the delta.
    cur.checked_sub(prev).unwrap_or(cur)
}

fn view(prev: &StatsAnswer, cur: &StatsAnswer, secs: f64) -> View {
    let (p, c) = (&prev.summary, &cur.summary);
    let rate = |k: fn(&Summary) -> u64| delta(k(c), k(p)) as f64 / secs;
    let mut header = vec![format!(
        "role {}  generation {}  uptime {:.0} s  workers {}",
        cur.role.name(),
        cur.generation,
        c.seconds,
        c.workers.len()
    )];
    header.push(format!(
        "rx {:.3} Mpps  tx {:.3} Mpps  to nodes {:.3} Mpps  to clients {:.3} Mpps  dropped {:.0} pps",
        rate(|s| s.rx) / 1e6,
        rate(|s| s.tx) / 1e6,
        rate(|s| s.to_nodes) / 1e6,
        rate(|s| s.to_clients) / 1e6,
        rate(|s| s.dropped)
    ));
    let per_worker: Vec<String> = c
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let before = p.workers.get(i).map_or(0, |x| x.counters.rx);
            format!("lcore {} {:.3}", w.lcore, delta(w.counters.rx, before) as f64 / secs / 1e6)
        })
        .collect();
    header.push(format!("per worker Mpps: {}", per_worker.join(", ")));
    let r = |k: &str| delta(counter(&c.resets, k), counter(&p.resets, k));
    header.push(format!(
        "resets: {} fan-outs, {} probes, {} completions this interval ({} fan-outs in all)",
        r("fanouts_started"),
        r("frames_tier2"),
        r("completions"),
        counter(&c.resets, "fanouts_started")
    ));
    header.push(match &cur.affinity.table {
        Some(t) => {
            let a = &t.counters;
            let pa = prev.affinity.table.as_ref().map(|t| t.counters.clone()).unwrap_or_default();
            let ad = |k: fn(&AffinityCounters) -> u64| delta(k(a), k(&pa));
            format!(
                "affinity: {} entries ({} pinned); this interval {} learned, {} aged, {} moved (CVM unavailable), {} moved (overload), {} not learned (table or prefix full)",
                t.entries,
                t.pinned,
                ad(|c| c.learned),
                ad(|c| c.aged),
                ad(|c| c.moved_unavailable),
                ad(|c| c.moved_overload),
                ad(|c| c.table_full) + ad(|c| c.prefix_full)
            )
        }
        None => "affinity: off".to_string(),
    });
    let deltas: Vec<u64> = c
        .nodes
        .iter()
        .map(|n| {
            let before = p.nodes.iter().find(|x| x.name == n.name).map_or(0, |x| x.selected);
            delta(n.selected, before)
        })
        .collect();
    let total: u64 = deltas.iter().sum::<u64>().max(1);
    let nodes = c
        .nodes
        .iter()
        .zip(&deltas)
        .map(|(n, d)| {
            let h = cur.health.nodes.iter().find(|x| x.name == n.name).map_or("-", |x| x.health.name());
            [
                n.name.clone(),
                n.chassis.clone(),
                n.state.name().to_string(),
                h.to_string(),
                format!("{:.0}", *d as f64 / secs),
                format!("{:.1}", 100.0 * *d as f64 / total as f64),
            ]
        })
        .collect();
    View { header, nodes }
}

const COLUMNS: [&str; 6] = ["node", "chassis", "state", "health", "pps", "share%"];

fn plain(v: &View) -> String {
    let mut s = String::new();
    for h in &v.header {
        s.push_str(h);
        s.push('\n');
    }
    s.push_str(&format!(
        "{:<14} {:<14} {:<9} {:<7} {:>12} {:>7}\n",
        COLUMNS[0], COLUMNS[1], COLUMNS[2], COLUMNS[3], COLUMNS[4], COLUMNS[5]
    ));
    for n in &v.nodes {
        s.push_str(&format!("{:<14} {:<14} {:<9} {:<7} {:>12} {:>7}\n", n[0], n[1], n[2], n[3], n[4], n[5]));
    }
    s
}

fn fetch(target: &Target) -> Result<StatsAnswer, String> {
    ask_as(target, &Request::Stats)
}

/// Runs the view: `count` refreshes (0: until quit), `interval` seconds apart.
pub fn run(target: &Target, count: u32, interval: f64) -> ExitCode {
    if !(0.1..=3600.0).contains(&interval) {
        eprintln!("sluicectl: --interval {interval} is outside 0.1..=3600 seconds");
        return crate::exit::USAGE.into();
    }
    let every = Duration::from_secs_f64(interval);
    // A configuration that cannot be read is a usage error, not an unreachable appliance.
    if let Err(e) = crate::socket_path(target.socket.as_ref(), target.config.as_ref()) {
        eprintln!("sluicectl: {e}");
        return crate::exit::USAGE.into();
    }
    let mut prev = match fetch(target) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return crate::exit::UNREACHABLE.into();
        }
    };
    let mut t_prev = Instant::now();
    let tty = std::io::stdout().is_terminal() && !target.json;
    let mut term = if tty { Some(ratatui::init()) } else { None };
    let mut shown = 0u32;
    let result = loop {
        // Wait for the interval, or a key on a terminal.
        let deadline = t_prev + every;
        if term.is_some() {
            let mut quit = false;
            while Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if event::poll(left).unwrap_or(false) {
                    if let Ok(Event::Key(k)) = event::read() {
                        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                        quit |= k.code == KeyCode::Char('q') || k.code == KeyCode::Esc || ctrl_c;
                    }
                    if quit {
                        break;
                    }
                }
            }
            if quit {
                break Ok(());
            }
        } else {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        }
        let cur = match fetch(target) {
            Ok(v) => v,
            Err(e) => break Err(e),
        };
        let now = Instant::now();
        let v = view(&prev, &cur, (now - t_prev).as_secs_f64().max(1e-3));
        match &mut term {
            Some(t) => {
                let _ = t.draw(|f| {
                    let [top, bottom] =
                        Layout::vertical([Constraint::Length(v.header.len() as u16 + 2), Constraint::Min(3)])
                            .areas(f.area());
                    f.render_widget(
                        Paragraph::new(v.header.join("\n"))
                            .block(Block::default().borders(Borders::ALL).title(" sluice top (q quits) ")),
                        top,
                    );
                    let rows = v.nodes.iter().map(|n| Row::new(n.iter().cloned()));
                    let widths = [14, 14, 9, 7, 12, 7].map(Constraint::Length);
                    f.render_widget(
                        Table::new(rows, widths)
                            .header(Row::new(COLUMNS).style(Style::default().add_modifier(Modifier::BOLD)))
                            .block(Block::default().borders(Borders::ALL).title(" nodes ")),
                        bottom,
                    );
                });
            }
            None if target.json => {
                let line = serde_json::json!({ "header": v.header, "nodes": v.nodes });
                if writeln!(std::io::stdout(), "{line}").is_err() {
                    break Ok(());
                }
            }
            None => {
                if writeln!(std::io::stdout(), "{}", plain(&v)).is_err() {
                    break Ok(());
                }
            }
        }
        prev = cur;
        t_prev = now;
        shown += 1;
        if count > 0 && shown >= count {
            break Ok(());
        }
    };
    if term.is_some() {
        ratatui::restore();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            crate::exit::UNREACHABLE.into()
        }
    }
}
