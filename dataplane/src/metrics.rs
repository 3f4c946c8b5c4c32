//! The Prometheus text the metrics endpoint serves, encoded with `prometheus-client` from a point-in-time
//! copy of the counters (the control loop renders it a few times a second; the endpoint's threads serve
//! the latest). Counters are typed counters (`_total`), gauges gauges, snapshot adoption a histogram;
//! label values are escaped; a node's state is a value (`sluice_node_active`), never a label, so a drain
//! does not start a new series.

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelSetEncoder, LabelValueEncoder,
    MetricEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use sluice_control::config::NodeState;
use sluice_control::report::counter;

use crate::report::{Summary, WorkerCounters};

/// A label value, escaped as the text format requires (`\\`, `\"`, `\n`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Escaped(String);

impl EncodeLabelValue for Escaped {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A set of labels: (name, value) pairs.
#[derive(Debug, Clone)]
struct Labels(Vec<(&'static str, Escaped)>);

impl Labels {
    fn of(pairs: &[(&'static str, &str)]) -> Labels {
        Labels(pairs.iter().map(|(k, v)| (*k, Escaped(v.to_string()))).collect())
    }
}

impl EncodeLabelSet for Labels {
    fn encode(&self, encoder: LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// What the control core adds to the workers' counters.
#[derive(Debug, Clone, Default)]
pub struct ControlFigures {
    /// Snapshot adoption: (upper bound in seconds, publications at or under it), sum in seconds, count.
    pub adoption_buckets: Vec<(f64, u64)>,
    pub adoption_sum: f64,
    pub adoption_count: u64,
    /// Affinity table: entries, and its counters by name.
    pub affinity: Option<(u64, Vec<(String, u64)>)>,
    /// Health: node → passes its checks.
    pub health: Vec<(String, bool)>,
    /// The iSCSI portal's counters, when there is one.
    pub portal: Option<sluice_control::console::PortalAnswer>,
}

/// One family of samples: name (without `_total`), help, type, and each labelled value.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, u64)>,
}

/// The registry's one collector: every counter family as the control loop last read them, and its own figures.
#[derive(Debug)]
struct Exposition {
    families: Vec<Family>,
    control: ControlFigures,
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info = Labels::of(&[("version", env!("CARGO_PKG_VERSION"))]);
        let mut m =
            encoder.encode_descriptor("sluice_build", "The build of sluice running.", None, MetricType::Info)?;
        m.encode_info(&info)?;
        for f in &self.families {
            let mut m = encoder.encode_descriptor(f.name, f.help, None, f.kind)?;
            let value = |v: u64, e: MetricEncoder| match f.kind {
                MetricType::Counter => ConstCounter::new(v).encode(e),
                _ => ConstGauge::new(v as i64).encode(e),
            };
            match f.samples.as_slice() {
                // One sample without labels: no `{}` after the name.
                [(Labels(l), v)] if l.is_empty() => value(*v, m)?,
                samples => {
                    for (labels, v) in samples {
                        value(*v, m.encode_family(labels)?)?;
                    }
                }
            }
        }
        let c = &self.control;
        let mut m = encoder.encode_descriptor(
            "sluice_adoption_seconds",
            "Publication of a snapshot until every worker runs on it.",
            None,
            MetricType::Histogram,
        )?;
        m.encode_histogram::<()>(c.adoption_sum, c.adoption_count, &c.adoption_buckets, None)?;
        Ok(())
    }
}

fn per_worker(s: &Summary, get: fn(&WorkerCounters) -> u64) -> Vec<(Labels, u64)> {
    s.workers
        .iter()
        .enumerate()
        .map(|(i, w)| (Labels::of(&[("worker", &i.to_string()), ("lcore", &w.lcore.to_string())]), get(&w.counters)))
        .collect()
}

fn by(label: &'static str, values: impl IntoIterator<Item = (String, u64)>) -> Vec<(Labels, u64)> {
    values.into_iter().map(|(k, v)| (Labels::of(&[(label, &k)]), v)).collect()
}

/// The whole text for `GET /metrics`.
pub fn render(s: &Summary, generation: u64, control: ControlFigures) -> String {
    use MetricType::{Counter, Gauge};
    let fam = |name, help, kind, samples| Family { name, help, kind, samples };
    let mut families = vec![
        fam(
            "sluice_generation",
            "Configuration generation the workers run on.",
            Gauge,
            vec![(Labels(vec![]), generation)],
        ),
        fam("sluice_rx_packets", "Packets received by a worker.", Counter, per_worker(s, |c| c.rx)),
        fam("sluice_tx_packets", "Packets a worker's transmit queues took.", Counter, per_worker(s, |c| c.tx)),
        fam(
            "sluice_generated_packets",
            "Frames a worker made itself (reset probes, fan-out frames, health probes, the portal's packets).",
            Counter,
            per_worker(s, |c| c.generated),
        ),
        fam("sluice_to_nodes_packets", "Client packets sent toward nodes.", Counter, per_worker(s, |c| c.to_nodes)),
        fam(
            "sluice_to_clients_packets",
            "Return packets sent toward clients.",
            Counter,
            per_worker(s, |c| c.to_clients),
        ),
        fam("sluice_replies", "ARP, ND and echo answers.", Counter, per_worker(s, |c| c.replies)),
        fam(
            "sluice_drops",
            "Packets dropped, by reason.",
            Counter,
            by("reason", s.drops.iter().map(|(r, n)| (r.clone(), *n))),
        ),
        fam(
            "sluice_reset_events",
            "Reset fan-out events, by counter.",
            Counter,
            by("counter", s.resets.iter().filter(|(r, _)| *r != "softstate_entries").map(|(r, n)| (r.clone(), *n))),
        ),
        fam(
            "sluice_reset_softstate_entries",
            "Fan-out soft-state entries in use, summed over workers.",
            Gauge,
            vec![(Labels(vec![]), counter(&s.resets, "softstate_entries"))],
        ),
        fam(
            "sluice_keys",
            "How content-keyed requests were keyed.",
            Counter,
            by("key", s.keys.iter().map(|(k, n)| (k.clone(), *n))),
        ),
        fam(
            "sluice_flow_events",
            "Flow table counters.",
            Counter,
            by("counter", s.flows.iter().filter(|(k, _)| *k != "entries").map(|(k, n)| (k.clone(), *n))),
        ),
        fam(
            "sluice_flow_entries",
            "Connections the flow tables track, summed over workers.",
            Gauge,
            vec![(Labels(vec![]), counter(&s.flows, "entries"))],
        ),
        fam(
            "sluice_node_tracked_connections",
            "Connections the flow tables track to a node.",
            Gauge,
            s.nodes.iter().map(|n| (Labels::of(&[("node", &n.name)]), n.tracked)).collect(),
        ),
        fam(
            "sluice_node_selected_packets",
            "Packets selected for a node since the last topology change.",
            Gauge,
            s.nodes.iter().map(|n| (Labels::of(&[("node", &n.name), ("chassis", &n.chassis)]), n.selected)).collect(),
        ),
        fam(
            "sluice_node_active",
            "1 when a node takes new traffic (active, weight above 0, and healthy).",
            Gauge,
            s.nodes.iter().map(|n| (Labels::of(&[("node", &n.name)]), (n.state == NodeState::Active) as u64)).collect(),
        ),
    ];
    if let Some((entries, counters)) = &control.affinity {
        families.push(fam(
            "sluice_affinity_entries",
            "Client VMs with a CVM.",
            Gauge,
            vec![(Labels(vec![]), *entries)],
        ));
        families.push(fam(
            "sluice_affinity_events",
            "Affinity table counters.",
            Counter,
            by("counter", counters.clone()),
        ));
    }
    if !control.health.is_empty() {
        families.push(fam(
            "sluice_node_health",
            "1 when a node passes this appliance's health checks.",
            Gauge,
            control.health.iter().map(|(n, up)| (Labels::of(&[("node", n)]), *up as u64)).collect(),
        ));
    }
    if let Some(p) = &control.portal {
        let mut logins = Vec::new();
        for r in &p.placements {
            logins.push((Labels::of(&[("node", &r.node), ("by", "affinity")]), r.by_affinity));
            logins.push((Labels::of(&[("node", &r.node), ("by", "target")]), r.by_target));
        }
        families.push(fam("sluice_portal_logins", "iSCSI logins the portal sent to a CVM, and why.", Counter, logins));
        families.push(fam(
            "sluice_portal_refused",
            "Portal connections refused or cut, by reason.",
            Counter,
            by("reason", p.refused.iter().map(|(k, v)| (k.clone(), *v))),
        ));
        families.push(fam(
            "sluice_portal_events",
            "Portal counters: connections accepted, discoveries, SendTargets, packets and queue drops.",
            Counter,
            by(
                "counter",
                [
                    ("accepted", p.accepted),
                    ("discoveries", p.discoveries),
                    ("send_targets", p.send_targets),
                    ("packets_in", p.packets_in),
                    ("packets_out", p.packets_out),
                    ("queue_drops", p.queue_drops),
                ]
                .map(|(k, v)| (k.to_string(), v)),
            ),
        ));
        families.push(fam(
            "sluice_portal_connections",
            "Portal connections open now.",
            Gauge,
            vec![(Labels(vec![]), p.connections_open)],
        ));
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition { families, control }));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
        let _ = writeln!(out, "# the metrics could not be encoded");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        let mut registry = Registry::default();
        let families = vec![Family {
            name: "x",
            help: "h",
            kind: MetricType::Gauge,
            samples: vec![(Labels::of(&[("node", "a\"b\\c\nd")]), 1)],
        }];
        registry.register_collector(Box::new(Exposition { families, control: ControlFigures::default() }));
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains(r#"x{node="a\"b\\c\nd"} 1"#), "{out}");
        assert!(out.contains("sluice_build_info{version="), "{out}");
        assert!(out.contains("# TYPE sluice_adoption_seconds histogram") && out.ends_with("# EOF\n"), "{out}");
        let mut out = String::new();
        let mut registry = Registry::default();
        let families =
            vec![Family { name: "g", help: "h", kind: MetricType::Gauge, samples: vec![(Labels(vec![]), 5)] }];
        registry.register_collector(Box::new(Exposition { families, control: ControlFigures::default() }));
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("\ng 5\n"), "{out}");
    }

    #[test]
    fn the_portals_counters_are_exposed_per_cvm_and_reason() {
        use sluice_control::console::{PortalAnswer, PortalPlacement};
        let mut p = PortalAnswer { enabled: true, accepted: 7, connections_open: 2, ..PortalAnswer::default() };
        p.placements.push(PortalPlacement { node: "n2".into(), by_affinity: 3, by_target: 4 });
        p.refused.insert("syn_refused".into(), 9);
        let control = ControlFigures { portal: Some(p), ..ControlFigures::default() };
        let out = render(&Summary::default(), 1, control);
        for line in [
            "sluice_portal_logins_total{node=\"n2\",by=\"affinity\"} 3",
            "sluice_portal_logins_total{node=\"n2\",by=\"target\"} 4",
            "sluice_portal_refused_total{reason=\"syn_refused\"} 9",
            "sluice_portal_events_total{counter=\"accepted\"} 7",
            "sluice_portal_connections 2",
        ] {
            assert!(out.contains(line), "{line} in:\n{out}");
        }
    }
}
