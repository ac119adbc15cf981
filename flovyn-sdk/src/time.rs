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

/// The instant of any RFC 3339 date-time (JSON Schema's `date-time`): any fraction, `Z` or
/// an offset (`+02:00`), `t`/`z` in either case, a leap second read as the second before.
/// Instants before 1970 clamp to the epoch; `None` for text that is not a valid date-time.
/// What a query parameter documented as `format: date-time` accepts.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0_i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Fraction: a dot and at least one digit.
    let mut at = 19;
    let mut nanos: u32 = 0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        for (i, d) in b[start..end].iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10_u32.pow(8 - i as u32);
        }
        at = end;
    }
    let offset_secs = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 3600 + m * 60;
            if *sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_secs;
    Some(match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH + Duration::new(secs, nanos),
        Err(_) => UNIX_EPOCH,
    })
}

/// A point in time as a plugin stores it: RFC 3339 UTC text with milliseconds in a `TEXT`
/// column, on SQLite and PostgreSQL alike (decision 0018).
///
/// The database handle's `Any` driver decodes no date/time column type, so a `TIMESTAMP`
/// column cannot be read through it on either database; a `TEXT` column holding this type's
/// fixed-width text can, orders correctly (`ORDER BY`, `<` in SQL), and reads the same on
/// both. It binds and decodes directly (`.bind(Timestamp::now())`, `row.try_get::<Timestamp,
/// _>("created_at")`), serializes as the RFC 3339 string, and documents itself as
/// `format: date-time`. Decoding text that is not in this form is an error naming the text.
///
/// ```
/// use flovyn_sdk::time::Timestamp;
/// use std::time::Duration;
///
/// let t = Timestamp::parse("2025-01-31T08:15:02.120Z").unwrap();
/// assert_eq!(t.to_string(), "2025-01-31T08:15:02.120Z");
/// assert!(t.after(Duration::from_secs(1)) > t);
/// assert_eq!(serde_json::to_value(t).unwrap(), "2025-01-31T08:15:02.120Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// Now (to the millisecond, as stored).
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// `time`, truncated to the millisecond (instants before 1970 clamp to the epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        let since = time
            .max(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let millis =
            Duration::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX / 1_000_000));
        Self(UNIX_EPOCH + millis)
    }

    /// This instant plus `delta`.
    #[must_use]
    pub fn after(self, delta: Duration) -> Self {
        Self::from_system_time(self.0 + delta)
    }

    /// The stored form, `2025-01-31T08:15:02.120Z`, and only that form ([`parse`]).
    pub fn parse(text: &str) -> Option<Self> {
        parse(text).map(Self)
    }

    /// Any RFC 3339 date-time ([`parse_rfc3339`]), e.g. from a query parameter.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        parse_rfc3339(text).map(Self::from_system_time)
    }

    /// The instant.
    pub fn system_time(self) -> SystemTime {
        self.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&at(self.0))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 date-time"))
        })
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl sqlx::Type<sqlx::Any> for Timestamp {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <String as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Any> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'_, sqlx::Any>>::encode(self.to_string(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Timestamp {
    fn decode(
        value: <sqlx::Any as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
        Self::parse(text).ok_or_else(|| {
            format!("`{text}` is not a stored timestamp (RFC 3339 UTC with milliseconds, `2025-01-31T08:15:02.120Z`)").into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rfc3339_reads_every_date_time_form() {
        let t = |secs: u64, nanos: u32| Some(UNIX_EPOCH + Duration::new(secs, nanos));
        assert_eq!(parse_rfc3339("2024-02-29T01:02:03Z"), t(1_709_168_523, 0));
        assert_eq!(
            parse_rfc3339("2024-02-29T01:02:03.5Z"),
            t(1_709_168_523, 500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29t01:02:03.123456789z"),
            t(1_709_168_523, 123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T03:02:03+02:00"),
            t(1_709_168_523, 0)
        );
        assert_eq!(
            parse_rfc3339("2024-02-28T23:02:03-02:00"),
            t(1_709_168_523, 0)
        );
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), t(1_483_228_799, 0));
        assert_eq!(parse_rfc3339("1960-01-01T00:00:00Z"), t(0, 0));
        // What `parse` reads, this reads the same.
        for (secs, millis) in [(0, 0), (951_782_400, 5), (4_107_542_400, 0)] {
            let text = rfc3339(secs, millis);
            assert_eq!(parse_rfc3339(&text), parse(&text), "{text}");
        }
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T01:02:03",
            "2024-02-29 01:02:03Z",
            "2023-02-29T01:02:03Z",
            "2024-13-01T01:02:03Z",
            "2024-04-31T01:02:03Z",
            "2024-02-29T24:02:03Z",
            "2024-02-29T01:02:03.Z",
            "2024-02-29T01:02:03+2:00",
            "2024-02-29T01:02:03+24:00",
            "2024-02-29T01:02:03Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

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
