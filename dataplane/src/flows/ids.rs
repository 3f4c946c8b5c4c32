//! Stable node ids for flow entries. Node indices follow name order, so adding or removing a node shifts
//! them; a flow entry names its node by an id that stays the node's for as long as the node exists: a
//! slot (the low 12 bits, one per possible node) and the slot's epoch (the high 4 bits), bumped each
//! time the slot is given to another node, so that entries left by a removed node do not follow its
//! slot to a newcomer (until the slot has been reused 16 times, by which time sweeps have long removed
//! them).

use std::collections::HashMap;

use crate::stats::MAX_NODES;

/// Node slots (every node a topology may have).
pub const SLOTS: usize = MAX_NODES;
/// A slot no node holds (in [`crate::pipeline::Context::flow_slots`]).
pub const NO_SLOT: u16 = u16::MAX;

/// The control lcore's record of which node holds which id.
#[derive(Debug, Default)]
pub struct FlowIds {
    by_name: HashMap<String, u16>,
    epochs: Vec<u8>,
    /// Where the search for a free slot starts.
    next: usize,
}

impl FlowIds {
    /// The ids of `names` (the topology's nodes, in index order): a node keeps its id, a new one gets a
    /// free slot at its next epoch, and the slots of nodes no longer present are freed.
    pub fn assign(&mut self, names: &[&str]) -> Vec<u16> {
        if self.epochs.is_empty() {
            self.epochs = vec![0; SLOTS];
        }
        self.by_name.retain(|n, _| names.contains(&n.as_str()));
        let mut used = vec![false; SLOTS];
        for id in self.by_name.values() {
            used[*id as usize % SLOTS] = true;
        }
        // Free slots round-robin from after the last one given, so a removed node's slot (and the entries
        // it left until the sweep removes them) is not the next newcomer's.
        let start = self.next;
        let mut free = (0..SLOTS).map(|i| (start + i) % SLOTS).filter(|s| !used[*s]);
        let next = &mut self.next;
        names
            .iter()
            .map(|n| {
                if let Some(id) = self.by_name.get(*n) {
                    return *id;
                }
                let slot = free.next().expect("validated: at most MAX_NODES nodes");
                *next = (slot + 1) % SLOTS;
                self.epochs[slot] = (self.epochs[slot] + 1) % 16;
                let id = (self.epochs[slot] as u16) << 12 | slot as u16;
                self.by_name.insert(n.to_string(), id);
                id
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_keeps_its_id_across_changes_and_a_newcomer_never_takes_a_live_one() {
        let mut ids = FlowIds::default();
        let a = ids.assign(&["a", "b", "c"]);
        // "aa" sorts between a and b: indices shift, ids do not.
        let b = ids.assign(&["a", "aa", "b", "c"]);
        assert_eq!((b[0], b[2], b[3]), (a[0], a[1], a[2]));
        assert!(!a.contains(&b[1]));
        // b leaves; the next newcomer gets a slot nobody held before.
        let c = ids.assign(&["a", "aa", "c", "d"]);
        assert_eq!((c[0], c[1], c[2]), (b[0], b[1], b[3]));
        assert_ne!(c[3] & 0xfff, a[1] & 0xfff, "a freed slot is not reused at once");
        let mut all = c.clone();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4);
    }
}
