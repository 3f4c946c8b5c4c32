//! The control loop's side of the DPDK telemetry commands: it refreshes the view they answer from.

use serde_json::Value;

use super::Control;

impl Control {
    /// Refreshes what the telemetry commands answer: the `stats` answer without its lists (`stats`), each
    /// worker's scalar counters (`workers`), the `nodes` answer, and the affinity and health figures.
    pub(super) fn refresh_telemetry(&mut self) {
        self.last_telemetry = std::time::Instant::now();
        if self.cfg.metrics.prometheus {
            self.render_metrics();
        }
        let stats = self.stats();
        let workers: Vec<Value> = stats
            .summary
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                // Scalars only: the per-reason arrays are in /sluice/stats by name.
                let mut w: serde_json::Map<String, Value> = match serde_json::to_value(w) {
                    Ok(Value::Object(m)) => m.into_iter().filter(|(_, v)| !v.is_array() && !v.is_object()).collect(),
                    _ => serde_json::Map::new(),
                };
                w.insert("name".into(), format!("worker{i}").into());
                Value::Object(w)
            })
            .collect();
        let mut totals = serde_json::to_value(&stats).unwrap_or_default();
        if let Some(m) = totals.as_object_mut() {
            for k in ["workers", "nodes", "ports", "affinity", "health"] {
                m.remove(k);
            }
        }
        let view = serde_json::json!({
            "stats": totals,
            "workers": workers,
            "nodes": self.node_rows(),
            "affinity": stats.affinity,
            "health": stats.health,
        });
        *self.endpoints.telemetry.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }
}
