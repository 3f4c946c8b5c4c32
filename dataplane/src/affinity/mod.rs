//! The workers' side of controller-VM affinity: the immutable map they read (client → node index, built
//! by the control core and published inside the context) and the per-worker learner that sums what each
//! client sent where and hands it to the control core in reports over a bounded lock-free queue.
//! Neither allocates after construction.
//!
//! Client addresses come from the network, so both tables hash them under a random key (ahash, a fresh
//! key per map and per learner: the key travels inside the map) and never walk more than a fixed number of
//! slots: chosen addresses cannot pile up in one place, and no lookup or insert costs more than the bound
//! whatever the addresses.
//!
//! - [`map`]: the published client → node map;
//! - [`learner`]: the per-worker sums and the reports they become;
//! - [`worker`]: the worker's hand-over of reports between bursts.
//!
//! The control loop's side (observing reports, aging, rebalancing, publishing) is `app::control::affinity`,
//! over the table in `sluice_control::affinity`.

pub mod learner;
pub mod map;
pub(crate) mod worker;

pub use learner::{AffinityReport, Learner, LEARNER_SLOTS};
pub use map::{AffinityMap, BUILD_ATTEMPTS, MAP_PROBES};

/// An empty slot's node.
const EMPTY: u16 = u16::MAX;

#[cfg(test)]
mod tests;
