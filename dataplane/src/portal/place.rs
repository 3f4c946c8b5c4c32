//! Where a login goes: a pure function of the published context, so every appliance of a fleet that
//! shares the configuration, the node states and the affinity table answers the same.
//!
//! 1. The initiator's affinity entry (by its address): the CVM that served it before, or its pin, while
//!    that CVM is active.
//! 2. Otherwise the hash of the target's group (or its name when it has none) over the active CVMs, by
//!    their weights: the same tables the balancer uses.

use sluice_control::config::{ClientIdKind, NodeState};

use crate::pipeline::{ip_client_id, Context};
use crate::wire::parse::Addr;

/// Why a login went to its CVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The initiator's affinity entry.
    Affinity(u16),
    /// The hash of the target's group or name.
    Target(u16),
}

impl Placement {
    pub fn node(self) -> u16 {
        match self {
            Placement::Affinity(n) | Placement::Target(n) => n,
        }
    }
}

/// The CVM for a login from `initiator` to `target` (whose group is `group`); None when no CVM is active.
pub fn place(ctx: &Context, initiator: &Addr, target: &str, group: Option<&str>) -> Option<Placement> {
    let active = |n: u16| ctx.topology.nodes.get(n as usize).is_some_and(|x| x.state == NodeState::Active);
    if ctx.client_id == ClientIdKind::Ip {
        if let Some(n) = ctx.affinity.get(ip_client_id(initiator)).filter(|n| active(*n)) {
            return Some(Placement::Affinity(n));
        }
    }
    let key = group.unwrap_or(target);
    let n = ctx.topology.lookup(ctx.content.hash(key.as_bytes()))?;
    active(n).then_some(Placement::Target(n))
}
