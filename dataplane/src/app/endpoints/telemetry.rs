//! The `/sluice/...` DPDK telemetry commands. DPDK's telemetry thread runs their handlers; each answers
//! one part of a view the control loop refreshes a few times a second, so a telemetry client never
//! reaches the control loop's state.

use std::sync::{Arc, Mutex};

/// What the telemetry commands answer from.
pub type View = Arc<Mutex<serde_json::Value>>;

/// Registers the commands; returns the view they answer from.
pub fn register_telemetry() -> View {
    let view: View = Arc::new(Mutex::new(serde_json::Value::Null));
    for (cmd, part, help) in [
        ("/sluice/stats", "stats", "sluice totals, drops by reason, reset and key counters, snapshot adoption"),
        ("/sluice/workers", "workers", "sluice per-worker counters"),
        ("/sluice/nodes", "nodes", "sluice nodes: state, health, weight, packets selected"),
        ("/sluice/affinity", "affinity", "sluice controller-VM affinity table counters"),
        ("/sluice/health", "health", "sluice health checks per node"),
    ] {
        let view = view.clone();
        let handler = Box::new(move |_params: &str| {
            let v = view.lock().unwrap_or_else(|e| e.into_inner());
            crate::report::telemetry_entries(&v[part])
        });
        if let Err(e) = dpdk_sys::telemetry::register(cmd, help, handler) {
            tracing::warn!("telemetry command {cmd} not registered: {e}");
        }
    }
    view
}
