//! What the commands that run until stopped share: the stop request (SIGINT or SIGTERM), sleeping in
//! slices that notice it, and UTC timestamps for their logs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set once SIGINT or SIGTERM arrives.
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Registers the handlers.
    pub(crate) fn on_signals() -> Result<Stop, String> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&flag))
                .map_err(|e| format!("cannot handle signal {sig}: {e}"))?;
        }
        Ok(Stop(flag))
    }

    pub(crate) fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sleeps until `until`, waking early when a stop is requested; true when it was.
    pub(crate) fn sleep_until(&self, until: Instant) -> bool {
        loop {
            if self.requested() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }
}

/// Now, as `2024-05-01T12:00:00.123Z`.
pub(crate) fn timestamp() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    utc(t.as_secs(), t.subsec_millis())
}

/// `secs` since the Unix epoch as an ISO 8601 UTC time with milliseconds.
fn utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let s = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(utc(1_714_564_800 + 3661, 123), "2024-05-01T13:01:01.123Z");
    }
}
