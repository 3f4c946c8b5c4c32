//! systemd's service notifications (sd_notify): READY=1 once the appliance forwards, STATUS= lines,
//! STOPPING=1. Outside a `Type=notify` unit (no `NOTIFY_SOCKET`) every call does nothing.

use std::cell::Cell;

use sd_notify::NotifyState;

pub(super) struct Notify {
    on: bool,
    /// A failed notification is reported once, not every few seconds.
    warned: Cell<bool>,
}

impl Notify {
    pub fn from_env() -> Notify {
        Notify { on: std::env::var_os("NOTIFY_SOCKET").is_some(), warned: Cell::new(false) }
    }

    /// The ports are up, the tables built, the workers running.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    pub fn stopping(&self, status: &str) {
        self.send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.on {
            return;
        }
        if let Err(e) = sd_notify::notify(false, states) {
            if !self.warned.replace(true) {
                tracing::warn!("cannot notify systemd: {e}");
            }
        }
    }
}
