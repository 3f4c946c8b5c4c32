//! sluice's log: `tracing` events, one line each on standard error, `sluice: ` and the level (but for
//! info), the message, then its fields as `key=value` (node, generation, reason, client, ...). When
//! standard error is the systemd journal (`JOURNAL_STREAM` names it, as systemd sets it for a service),
//! each line starts with its syslog priority, `<3>` error, `<4>` warning, `<6>` info, `<7>` debug
//! (sd-daemon(3)), so journald files it under that priority (`journalctl -p warning -u sluice@prod`).
//! Statistics lines and the exit summary are not log events: they go to standard output.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether file descriptor `fd` (1: standard output, 2: standard error) is the systemd journal:
/// `JOURNAL_STREAM` holds the device and inode of the stream systemd connected, and a child inherits both.
pub fn is_journal(fd: u8) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Ok(m) = std::fs::metadata(format!("/proc/self/fd/{fd}")) else { return false };
    stream.to_str() == Some(&format!("{}:{}", m.dev(), m.ino()))
}

/// Sends this process's log events at `level` and above to standard error. Call once, early.
pub fn init(level: LevelFilter) {
    let line = Line { journal: is_journal(2) };
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).event_format(line).try_init();
}

struct Line {
    journal: bool,
}

/// syslog priorities (sd-daemon(3)).
fn priority(l: Level) -> u8 {
    match l {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, ev: &Event<'_>) -> fmt::Result {
        let level = *ev.metadata().level();
        if self.journal {
            write!(w, "<{}>", priority(level))?;
        }
        w.write_str("sluice: ")?;
        match level {
            Level::INFO => {}
            Level::WARN => w.write_str("warning: ")?,
            l => write!(w, "{}: ", l.as_str().to_ascii_lowercase())?,
        }
        ctx.field_format().format_fields(w.by_ref(), ev)?;
        writeln!(w)
    }
}
