//! The worker's part in affinity between bursts: the learner's sums go to the control core.

use crate::pipeline::{Context, KeyCounter, WorkerState};
use crate::worker::Links;

/// Hands the learner's sums to the control core; what the queue has no room for is counted.
pub(crate) fn flush_reports(st: &mut WorkerState, ctx: &Context, links: &Links<'_>) {
    if st.learn.is_empty() {
        return;
    }
    let refused = st.learn.flush(ctx.topology_id, |r| links.reports.push(r).is_ok());
    st.keys[KeyCounter::AffinityReportsDropped] += refused;
}
