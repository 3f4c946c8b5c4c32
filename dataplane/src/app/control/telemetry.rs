//! The control loop's side of the DPDK telemetry commands: it refreshes the view they answer from.

use sluice_control::console::Request;

use super::Control;

impl Control {
    /// Refreshes what the telemetry commands answer.
    pub(super) fn refresh_telemetry(&mut self) {
        self.last_telemetry = std::time::Instant::now();
        if self.cfg.metrics.prometheus {
            self.render_metrics();
        }
        let mut stats = match self.handle(Request::Stats).data {
            Some(v) => v,
            None => return,
        };
        let workers = stats.as_object_mut().and_then(|m| m.remove("workers")).unwrap_or_default();
        let workers: Vec<_> = workers
            .as_array()
            .unwrap_or(&vec![])
            .iter()
            .enumerate()
            .map(|(i, w)| {
                // Scalars only: the per-reason arrays are in /sluice/stats by name.
                let mut w: serde_json::Map<String, serde_json::Value> = w
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, v)| !v.is_array() && !v.is_object())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                w.insert("name".into(), format!("worker{i}").into());
                serde_json::Value::Object(w)
            })
            .collect();
        if let Some(m) = stats.as_object_mut() {
            for k in ["nodes", "ports", "affinity", "health"] {
                m.remove(k);
            }
        }
        let view = serde_json::json!({
            "stats": stats,
            "workers": workers,
            "nodes": self.handle(Request::Nodes).data,
            "affinity": self.affinity_summary(),
            "health": self.health_summary(),
        });
        *self.endpoints.telemetry.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }
}
