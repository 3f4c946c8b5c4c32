//! The control loop's side of the iSCSI portal: it hands the portal thread every context it publishes and
//! keeps the portal's latest counters for the console. It never waits on the portal.

use std::sync::Arc;

use super::super::channels::Channels;
use crate::pipeline::Context;
use sluice_control::console::PortalAnswer;

#[derive(Default)]
pub(super) struct PortalPart {
    /// The portal's last report (None until the first, or without a portal).
    last: Option<PortalAnswer>,
}

impl PortalPart {
    /// Gives the portal thread `ctx`, replacing a snapshot it has not taken yet.
    pub(super) fn publish(channels: &Channels, ctx: &Arc<Context>) {
        if ctx.portal.is_none() {
            return;
        }
        let m = &channels.portal_mailbox;
        while m.rx.try_recv().is_ok() {}
        let _ = m.tx.try_send(ctx.clone());
    }

    /// Takes the portal's latest report, if it sent one.
    pub(super) fn tick(&mut self, channels: &Channels) {
        if let Ok(r) = channels.portal_reports.1.try_recv() {
            self.last = Some(r);
        }
    }

    /// The console's answer.
    pub(super) fn answer(&self, ctx: &Context) -> PortalAnswer {
        match (&self.last, &ctx.portal) {
            (Some(r), Some(_)) => r.clone(),
            (None, Some(p)) => {
                PortalAnswer { enabled: true, connections_max: p.config.connections as u64, ..PortalAnswer::default() }
            }
            _ => PortalAnswer::default(),
        }
    }
}
