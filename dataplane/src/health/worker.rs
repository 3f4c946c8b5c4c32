//! Worker 0's part in health checks: between bursts it sends the probes the control core queued.

use crate::pipeline::{KeyCounter, KeyCounters};
use crate::stats::Local;
use crate::worker::{Links, Tx};

/// Sends the health probes the control core queued (a few per call), from the pool.
pub(crate) fn send_queued(links: &Links<'_>, keys: &mut KeyCounters, tx: &mut Tx<'_>, local: &mut Local) {
    for _ in 0..32 {
        let Some(p) = links.probes.pop() else { break };
        let Some(mut m) = links.pool.alloc() else {
            keys[KeyCounter::HealthProbesUnsent] += 1;
            continue;
        };
        let (buf, off, _) = m.buffer_mut();
        let len = p.len as usize;
        buf[off..off + len].copy_from_slice(&p.frame[..len]);
        m.set_data_range(off, len);
        local.generated += 1;
        keys[KeyCounter::HealthProbesSent] += 1;
        tx.push(p.port, m, local);
    }
    tx.flush_all(local);
}
