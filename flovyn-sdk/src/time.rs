//! Timestamps as the SDK and the server store them: RFC 3339 UTC text with milliseconds
//! (`2025-01-31T08:15:02.120Z`). Fixed width, so text order is time order — expiry can be
//! compared in SQL on both databases, whose `Any` driver does not decode date/time types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

// Formatting and parsing are humantime's; this module fixes the one format (UTC, millisecond
// precision, fixed width) that stored timestamps use.

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    at(SystemTime::now())
}

/// `time` as RFC 3339 UTC with milliseconds (instants before 1970 clamp to the epoch).
pub fn at(time: SystemTime) -> String {
    let time = time.max(UNIX_EPOCH);
    humantime::format_rfc3339_millis(time).to_string()
}

/// `delta` from now, as RFC 3339 UTC with milliseconds.
pub fn from_now(delta: Duration) -> String {
    at(SystemTime::now() + delta)
}

/// RFC 3339 UTC for `unix_secs` seconds and `millis` milliseconds after the epoch.
pub fn rfc3339(unix_secs: u64, millis: u32) -> String {
    at(UNIX_EPOCH + Duration::from_secs(unix_secs) + Duration::from_millis(millis.into()))
}

/// The instant of a timestamp in exactly the format above (`2025-01-31T08:15:02.120Z`);
/// `None` for any other text (another precision, an offset, a space for `T`), or a date
/// before 1970.
pub fn parse(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 24 || [b[4], b[7], b[10], b[13], b[16], b[19], b[23]] != *b"--T::.Z" {
        return None;
    }
    humantime::parse_rfc3339(text).ok()
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
