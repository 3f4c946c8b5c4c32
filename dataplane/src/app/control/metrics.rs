//! The control loop's side of the metrics endpoint: it renders the text `GET /metrics` answers a few times
//! a second, from the workers' counters and its own figures.

use super::Control;
use crate::report;

impl Control {
    /// The control core's own figures for the metrics: snapshot adoption, affinity and health.
    fn control_figures(&self) -> crate::metrics::ControlFigures {
        let h = &self.adoption;
        let mut last = 0u64;
        let mut buckets = Vec::new();
        // Per bucket (not cumulative: the encoder sums), bounds in seconds; the last is +Inf.
        for bound_us in [100u64, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 500_000, 2_000_000, u64::MAX] {
            let upto = if bound_us == u64::MAX { h.len() } else { h.count_between(0, bound_us) };
            let upper = if bound_us == u64::MAX { f64::MAX } else { bound_us as f64 / 1e6 };
            buckets.push((upper, upto.saturating_sub(last)));
            last = upto;
        }
        let sum: f64 = h.iter_recorded().map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64).sum();
        crate::metrics::ControlFigures {
            adoption_buckets: buckets,
            adoption_sum: sum / 1e6,
            adoption_count: h.len(),
            affinity: self.affinity.table.as_ref().map(|a| {
                let counters = match serde_json::to_value(&a.counters) {
                    Ok(serde_json::Value::Object(m)) => {
                        m.into_iter().map(|(k, v)| (k, v.as_u64().unwrap_or(0))).collect()
                    }
                    _ => Vec::new(),
                };
                (a.len() as u64, counters)
            }),
            health: self
                .health
                .checker
                .as_ref()
                .map_or_else(Vec::new, |hc| hc.nodes().map(|(n, x)| (n.to_string(), x.up)).collect()),
            portal: self.ctx.portal.is_some().then(|| self.portal.answer(&self.ctx)),
        }
    }

    /// Renders what the metrics endpoint serves (the endpoint's threads answer from it).
    pub(super) fn render_metrics(&self) {
        let s =
            report::summary(self.start.elapsed().as_secs_f64(), &self.snapshots(), &self.lcores, &self.ctx.topology);
        let text = crate::metrics::render(&s, self.ctx.generation, self.control_figures());
        *self.endpoints.metrics_body.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }
}
