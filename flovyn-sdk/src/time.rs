//! Timestamps as the SDK and the server store them: RFC 3339 UTC text with milliseconds
//! (`2025-01-31T08:15:02.120Z`). Fixed width, so text order is time order — expiry can be
//! compared in SQL on both databases, whose `Any` driver does not decode date/time types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    at(SystemTime::now())
}

/// `time` as RFC 3339 UTC with milliseconds (instants before 1970 clamp to the epoch).
pub fn at(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since_epoch.as_secs(), since_epoch.subsec_millis())
}

/// `delta` from now, as RFC 3339 UTC with milliseconds.
pub fn from_now(delta: Duration) -> String {
    at(SystemTime::now() + delta)
}

/// RFC 3339 UTC for `unix_secs` seconds and `millis` milliseconds after the epoch.
pub fn rfc3339(unix_secs: u64, millis: u32) -> String {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// (year, month, day) of the proleptic Gregorian calendar for days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`, for non-negative days). Saves a date crate for
/// one timestamp format.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(
            rfc3339(1_709_164_800 + 3723, 999),
            "2024-02-29T01:02:03.999Z"
        );
        assert_eq!(rfc3339(1_735_689_599, 0), "2024-12-31T23:59:59.000Z");
        assert_eq!(rfc3339(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn now_is_rfc3339_utc() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.as_str() > "2024-01-01", "{now}");
    }
}
