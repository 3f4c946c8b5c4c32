//! Small SVG charts for the reports: grouped bars (Mpps per contender) and lines (a value against x).

use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 50.0;
const TOP: f64 = 40.0;
const COLORS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

fn header(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        W / 2.0,
        esc(title)
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A "nice" axis maximum at or above `v`.
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|&x| x >= v).unwrap_or(10.0 * p)
}

fn y_axis(s: &mut String, max: f64, label: &str) {
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=5 {
        let v = max * i as f64 / 5.0;
        let y = H - BOTTOM - plot_h * i as f64 / 5.0;
        let _ = writeln!(s, "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>", W - 20.0);
        let _ = writeln!(s, "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", LEFT - 6.0, y + 4.0, fmt(v));
    }
    let _ = writeln!(
        s,
        "<text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        esc(label)
    );
}

fn fmt(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Grouped bars: one group per `groups` label, one bar per series.
pub fn grouped(title: &str, y_label: &str, groups: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let mut s = header(title);
    let max = nice(series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max));
    y_axis(&mut s, max, y_label);
    let plot_w = W - LEFT - 20.0;
    let plot_h = H - TOP - BOTTOM;
    let gw = plot_w / groups.len().max(1) as f64;
    let bw = gw * 0.8 / series.len().max(1) as f64;
    for (gi, g) in groups.iter().enumerate() {
        let x0 = LEFT + gi as f64 * gw + gw * 0.1;
        for (si, (_, vals)) in series.iter().enumerate() {
            let v = vals.get(gi).copied().unwrap_or(0.0);
            let h = plot_h * v / max;
            let x = x0 + si as f64 * bw;
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"/>",
                H - BOTTOM - h,
                bw - 2.0,
                COLORS[si % COLORS.len()]
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{v:.2}</text>",
                x + bw / 2.0,
                H - BOTTOM - h - 3.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x0 + gw * 0.4,
            H - BOTTOM + 18.0,
            esc(g)
        );
    }
    legend(&mut s, &series.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    s.push_str("</svg>\n");
    s
}

fn legend(s: &mut String, names: &[&str]) {
    for (i, n) in names.iter().enumerate() {
        let x = LEFT + 10.0 + i as f64 * 150.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>",
            H - 22.0,
            COLORS[i % COLORS.len()]
        );
        let _ = writeln!(s, "<text x=\"{}\" y=\"{}\">{}</text>", x + 14.0, H - 13.0, esc(n));
    }
}

/// Lines: `series` of (x, y) points sharing the x axis.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[(&str, Vec<(f64, f64)>)]) -> String {
    let mut s = header(title);
    let ymax = nice(series.iter().flat_map(|(_, v)| v.iter().map(|p| p.1)).fold(0.0, f64::max));
    let xmax = nice(series.iter().flat_map(|(_, v)| v.iter().map(|p| p.0)).fold(0.0, f64::max));
    y_axis(&mut s, ymax, y_label);
    let plot_w = W - LEFT - 20.0;
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=5 {
        let v = xmax * i as f64 / 5.0;
        let x = LEFT + plot_w * i as f64 / 5.0;
        let _ = writeln!(s, "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", H - BOTTOM + 16.0, fmt(v));
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        H - BOTTOM + 32.0,
        esc(x_label)
    );
    for (si, (_, pts)) in series.iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", LEFT + plot_w * x / xmax, H - BOTTOM - plot_h * y / ymax))
            .collect();
        let c = COLORS[si % COLORS.len()];
        let _ =
            writeln!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>", path.join(" "));
        for p in &path {
            let (x, y) = p.split_once(',').expect("formatted above");
            let _ = writeln!(s, "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{c}\"/>");
        }
    }
    legend(&mut s, &series.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    s.push_str("</svg>\n");
    s
}

/// The comparison as grouped bars per memory mode.
pub fn bars(r: &crate::compare::Report) -> String {
    let groups: Vec<String> = r
        .summary
        .iter()
        .map(|m| if m.hugepages { "hugepages".to_string() } else { "no hugepages".to_string() })
        .collect();
    grouped(
        "Mpps on one forwarding core (median)",
        "Mpps",
        &groups,
        &[
            ("sluice", r.summary.iter().map(|m| m.sluice_mpps).collect()),
            ("testpmd io", r.summary.iter().map(|m| m.testpmd_io_mpps).collect()),
            ("testpmd macswap", r.summary.iter().map(|m| m.testpmd_macswap_mpps).collect()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg() {
        let g = grouped("t <x>", "Mpps", &["a".into(), "b".into()], &[("s", vec![1.0, 2.0]), ("t", vec![3.0, 4.5])]);
        assert!(g.starts_with("<svg") && g.trim_end().ends_with("</svg>") && g.contains("t &lt;x&gt;"));
        assert_eq!(g.matches("<rect").count(), 1 + 4 + 2, "background, bars, legend");
        let l = lines("lat", "load %", "us", &[("p50", vec![(10.0, 1.0), (50.0, 2.0)])]);
        assert!(l.contains("<polyline") && l.matches("<circle").count() == 2);
        assert_eq!(nice(7.3), 10.0);
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(23.0), 25.0);
    }
}
