//! The workers' part in the portal: every worker hands the portal the segments addressed to it, and
//! worker 0 sends the portal's packets out of the client port between bursts.

use crossbeam::queue::ArrayQueue;

use super::PortalPacket;
use crate::pipeline::{Context, DropReason, KeyCounter, KeyCounters};
use crate::stats::Local;
use crate::wire::ethernet::{self, ethertype};
use crate::worker::Tx;

/// Hands the IP packet `ip` to the portal; counted as handed over, or as dropped when its queue is full.
#[inline]
pub(crate) fn hand_over(queue: &ArrayQueue<PortalPacket>, ip: &[u8], local: &mut Local) {
    match queue.push(PortalPacket::copy_of(ip)) {
        Ok(()) => local.drop(DropReason::PortalIn, 1),
        Err(_) => local.drop(DropReason::PortalQueueFull, 1),
    }
}

/// Sends up to 64 of the portal's packets out of the client port, from the pool, each behind an
/// Ethernet header toward the client port's gateway.
pub(crate) fn send_queued(
    ctx: &Context,
    queue: &ArrayQueue<PortalPacket>,
    pool: &dpdk_sys::Mempool,
    keys: &mut KeyCounters,
    tx: &mut Tx<'_>,
    local: &mut Local,
) {
    let port = &ctx.ports[ctx.client_port as usize];
    for _ in 0..64 {
        let Some(p) = queue.pop() else { break };
        let Some(mut m) = pool.alloc() else {
            keys[KeyCounter::PortalUnsent] += 1;
            continue;
        };
        let ip = p.bytes();
        let ty = if ip.first().is_some_and(|b| b >> 4 == 6) { ethertype::IPV6 } else { ethertype::IPV4 };
        let (buf, off, _) = m.buffer_mut();
        let len = ethernet::HEADER_LEN + ip.len();
        let Some(out) = buf.get_mut(off..off + len) else {
            keys[KeyCounter::PortalUnsent] += 1;
            continue;
        };
        ethernet::Repr { dst: port.gateway_mac, src: port.mac, ethertype: ty }
            .emit(&mut ethernet::Frame::new_unchecked(&mut out[..]));
        out[ethernet::HEADER_LEN..].copy_from_slice(ip);
        m.set_data_range(off, len);
        local.generated += 1;
        tx.push(ctx.client_port, m, local);
    }
    tx.flush_all(local);
}
