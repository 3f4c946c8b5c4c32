//! The control loop's part in keeping runtime changes (see [`sluice_control::runtime`]): loading the
//! state file at start and replaying it over the configuration, recording each change the console makes,
//! and reload's three forms (keep the changes, discard them, or only show the difference).

use std::path::{Path, PathBuf};

use sluice_control::affinity::ClientId;
use sluice_control::console::{ReloadPlan, Request};
use sluice_control::runtime::{self, RuntimeState};
use sluice_control::Config;

use super::Control;

pub(in crate::app) struct RuntimePart {
    pub state: RuntimeState,
    path: Option<PathBuf>,
    /// The configuration file reloads re-read.
    pub config_path: Option<PathBuf>,
}

impl RuntimePart {
    /// The state for `cfg` (read from `console.state_file`, or beside `config_path`), and `cfg` with its
    /// node changes applied. An unreadable state file is reported and left alone until the next change
    /// replaces it.
    pub fn load(cfg: &Config, config_path: Option<&Path>) -> (RuntimePart, Config) {
        // A relative state_file is taken from the configuration's directory, not the working directory.
        let dir = config_path.and_then(Path::parent).unwrap_or(Path::new(""));
        let path = match &cfg.console.state_file {
            Some(p) => Some(dir.join(p)),
            None => config_path.map(runtime::default_path),
        };
        let state = match &path {
            Some(p) => RuntimeState::load(p).unwrap_or_else(|e| {
                tracing::warn!(reason = %e, "runtime changes not restored: {e}");
                RuntimeState::default()
            }),
            None => RuntimeState::default(),
        };
        let mut part = RuntimePart { state, path, config_path: config_path.map(Path::to_path_buf) };
        let before = part.state.clone();
        let r = part.state.replay(cfg);
        for k in &r.kept {
            tracing::info!(change = %k, "runtime change restored over the configuration file: {k}");
        }
        for d in &r.dropped {
            tracing::info!(change = %d, "runtime change dropped: {d}");
        }
        if part.state != before {
            part.save();
        }
        (part, r.config.expect("replay gives a configuration"))
    }

    /// Records a change the console applied, and saves the state.
    pub fn record(&mut self, req: &Request) {
        if RuntimeState::keeps(req) {
            self.state.record(req);
            self.save();
        }
    }

    fn save(&self) {
        let Some(p) = &self.path else { return };
        if let Err(e) = self.state.save(p) {
            tracing::warn!(reason = %e, "runtime changes not saved (they hold until a restart): {e}");
        }
    }
}

impl Control {
    /// Puts the kept pins back (after a start), as they were: a pin to a node that is draining now stays.
    /// One whose node is gone, or that the table cannot hold, is dropped from the state. One publication.
    pub(in crate::app) fn replay_pins(&mut self) {
        let now = self.now_ms();
        let topo = self.ctx.topology.clone();
        let Some(a) = self.affinity.table.as_mut() else { return };
        let mut dropped = Vec::new();
        let mut restored = 0;
        for r in self.runtime.state.changes() {
            let Request::AffinityPin { client, node } = r else { continue };
            match ClientId::parse(a.kind(), client).and_then(|c| a.restore_pin(c, node, &topo, now)) {
                Ok(()) => restored += 1,
                Err(e) => dropped.push((r.clone(), e)),
            }
        }
        for (r, e) in &dropped {
            tracing::warn!(reason = %e, "runtime change dropped: {}: {e}", runtime::describe(r));
            self.runtime.state.forget(r);
        }
        if !dropped.is_empty() {
            self.runtime.save();
        }
        if restored > 0 {
            self.publish_affinity();
        }
    }

    /// Unpins the pins of `gone` (runtime changes being discarded) in the running table.
    fn unpin_all(&mut self, gone: &RuntimeState) {
        let now = self.now_ms();
        let Some(a) = self.affinity.table.as_mut() else { return };
        let mut any = false;
        for r in gone.changes() {
            if let Request::AffinityPin { client, .. } = r {
                any |= ClientId::parse(a.kind(), client).and_then(|c| a.unpin(c, now)).is_ok();
            }
        }
        if any {
            self.publish_affinity();
        }
    }

    /// Re-reads the configuration file and applies it with the runtime changes kept over it; says which
    /// it kept (where the file says otherwise) and which it dropped. `discard`: the file alone, and the
    /// runtime changes are forgotten.
    pub(super) fn reload_with(&mut self, discard: bool) -> Result<String, String> {
        let path = self.config_path.clone().ok_or("no configuration file to re-read")?;
        let file = Config::load(&path).map_err(|e| e.to_string())?;
        let mut state = if discard { RuntimeState::default() } else { self.runtime.state.clone() };
        let r = state.replay(&file);
        let msg = self.apply(r.config.expect("replay gives a configuration"), &path.display().to_string())?;
        let mut out = format!("reloaded: {msg}");
        if discard && !self.runtime.state.is_empty() {
            let gone = self.runtime.state.clone();
            self.unpin_all(&gone);
            let gone: Vec<String> = gone.changes().iter().map(runtime::describe).collect();
            out += &format!("; runtime changes discarded: {}", gone.join(", "));
        }
        if !r.kept.is_empty() {
            out += &format!("; runtime changes kept over the file: {}", r.kept.join(", "));
        }
        if !r.dropped.is_empty() {
            out += &format!("; runtime changes dropped: {}", r.dropped.join("; "));
        }
        if state != self.runtime.state {
            self.runtime.state = state;
            self.runtime.save();
        }
        Ok(out)
    }

    /// What [`Control::reload_with`] would do, without doing it.
    pub(super) fn reload_plan(&self) -> Result<ReloadPlan, String> {
        let path = self.config_path.clone().ok_or("no configuration file to re-read")?;
        let file = Config::load(&path).map_err(|e| e.to_string())?;
        let r = self.runtime.state.clone().replay(&file);
        let new = r.config.expect("replay gives a configuration");
        Ok(ReloadPlan {
            refused: self.unchangeable(&new),
            changes: runtime::diff(&self.cfg, &new),
            kept: r.kept,
            dropped: r.dropped,
        })
    }
}
