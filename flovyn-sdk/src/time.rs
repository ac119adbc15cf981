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

/// The instant of a timestamp in exactly the format above (`2025-01-31T08:15:02.120Z`);
/// `None` for any other text, or a date before 1970.
pub fn parse(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 24 || [b[4], b[7], b[10], b[13], b[16], b[19], b[23]] != *b"--T::.Z" {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        b[range].iter().try_fold(0u64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second, millis) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date from 1970 on (the inverse of [`civil_from_days`]).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn parses_what_it_formats() {
        for (secs, millis) in [
            (0, 0),
            (951_782_400, 5),
            (1_709_164_800 + 3723, 999),
            (1_735_689_599, 0),
            (4_107_542_400, 0),
            (1_798_761_600 - 1, 1),
        ] {
            let text = rfc3339(secs, millis);
            let expected =
                UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis.into());
            assert_eq!(parse(&text), Some(expected), "{text}");
        }
        // Every day of four years, leap day included.
        for day in 0..4 * 366 {
            let secs = 1_704_067_200 + day * 86_400;
            assert_eq!(
                parse(&rfc3339(secs, 0)),
                Some(UNIX_EPOCH + Duration::from_secs(secs))
            );
        }
    }

    #[test]
    fn refuses_other_text() {
        for text in [
            "",
            "2024-02-29T01:02:03Z",
            "2024-02-29 01:02:03.999Z",
            "2024-02-29T01:02:03.999+00:00",
            "2023-02-29T01:02:03.999Z",
            "2024-13-01T01:02:03.999Z",
            "2024-00-01T01:02:03.999Z",
            "2024-04-31T01:02:03.999Z",
            "2024-02-29T24:02:03.999Z",
            "2024-02-29T01:60:03.999Z",
            "1969-12-31T23:59:59.999Z",
            "20a4-02-29T01:02:03.999Z",
            "+024-02-29T01:02:03.999Z",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn now_is_rfc3339_utc() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.as_str() > "2024-01-01", "{now}");
    }
}
