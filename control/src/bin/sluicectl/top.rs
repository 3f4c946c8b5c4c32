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
use serde_json::Value;
use sluice_control::console::Request;

use crate::{ask, Target};

/// What one refresh shows: rates over the last interval and the counters behind them.
struct View {
    header: Vec<String>,
    /// name, chassis, state, health, pps, share of the interval's node traffic (%).
    nodes: Vec<[String; 6]>,
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn delta(cur: u64, prev: u64) -> u64 {
    // Per-node counters restart when the topology changes: then the current value is the delta.
    cur.checked_sub(prev).unwrap_or(cur)
}

fn view(prev: &Value, cur: &Value, secs: f64) -> View {
    let rate = |k: &str| delta(u(&cur[k]), u(&prev[k])) as f64 / secs;
    let mut header = vec![format!(
        "role {}  generation {}  uptime {:.0} s  workers {}",
        cur["role"].as_str().unwrap_or("?"),
        u(&cur["generation"]),
        cur["seconds"].as_f64().unwrap_or(0.0),
        cur["workers"].as_array().map_or(0, Vec::len)
    )];
    header.push(format!(
        "rx {:.3} Mpps  tx {:.3} Mpps  to nodes {:.3} Mpps  to clients {:.3} Mpps  dropped {:.0} pps",
        rate("rx") / 1e6,
        rate("tx") / 1e6,
        rate("to_nodes") / 1e6,
        rate("to_clients") / 1e6,
        rate("dropped")
    ));
    let per_worker: Vec<String> = cur["workers"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let before = u(&prev["workers"][i]["counters"]["rx"]);
            format!("lcore {} {:.3}", w["lcore"], delta(u(&w["counters"]["rx"]), before) as f64 / secs / 1e6)
        })
        .collect();
    header.push(format!("per worker Mpps: {}", per_worker.join(", ")));
    let r = |k: &str| delta(u(&cur["resets"][k]), u(&prev["resets"][k]));
    header.push(format!(
        "resets: {} fan-outs, {} probes, {} completions this interval ({} fan-outs in all)",
        r("fanouts_started"),
        r("frames_tier2"),
        r("completions"),
        u(&cur["resets"]["fanouts_started"])
    ));
    let a = &cur["affinity"]["counters"];
    let pa = &prev["affinity"]["counters"];
    let ad = |k: &str| delta(u(&a[k]), u(&pa[k]));
    header.push(match cur["affinity"]["enabled"].as_bool() {
        Some(true) => format!(
            "affinity: {} entries ({} pinned); this interval {} learned, {} aged, {} moved (CVM unavailable), {} moved (overload), {} not learned (table or prefix full)",
            u(&cur["affinity"]["entries"]),
            u(&cur["affinity"]["pinned"]),
            ad("learned"),
            ad("aged"),
            ad("moved_unavailable"),
            ad("moved_overload"),
            ad("table_full") + ad("prefix_full")
        ),
        _ => "affinity: off".to_string(),
    });
    let empty = vec![];
    let nodes = cur["nodes"].as_array().unwrap_or(&empty);
    let deltas: Vec<u64> = nodes
        .iter()
        .map(|n| {
            let before = prev["nodes"]
                .as_array()
                .and_then(|p| p.iter().find(|x| x["name"] == n["name"]))
                .map_or(0, |x| u(&x["selected"]));
            delta(u(&n["selected"]), before)
        })
        .collect();
    let total: u64 = deltas.iter().sum::<u64>().max(1);
    let health = &cur["health"]["nodes"];
    let nodes = nodes
        .iter()
        .zip(&deltas)
        .map(|(n, d)| {
            let h = health
                .as_array()
                .and_then(|l| l.iter().find(|x| x["name"] == n["name"]))
                .and_then(|x| x["health"].as_str())
                .unwrap_or("-");
            [
                n["name"].as_str().unwrap_or("").to_string(),
                n["chassis"].as_str().unwrap_or("").to_string(),
                n["state"].as_str().unwrap_or("").to_string(),
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

fn fetch(target: &Target) -> Result<Value, String> {
    let r = ask(target, &Request::Stats)?;
    match r.ok {
        true => Ok(r.data.unwrap_or_default()),
        false => Err(r.error.unwrap_or_default()),
    }
}

/// Runs the view: `count` refreshes (0: until quit), `interval` seconds apart.
pub fn run(target: &Target, count: u32, interval: f64) -> ExitCode {
    if !(0.1..=3600.0).contains(&interval) {
        eprintln!("sluicectl: --interval {interval} is outside 0.1..=3600 seconds");
        return ExitCode::from(2);
    }
    let every = Duration::from_secs_f64(interval);
    let mut prev = match fetch(target) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return ExitCode::from(2);
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
            ExitCode::from(2)
        }
    }
}
