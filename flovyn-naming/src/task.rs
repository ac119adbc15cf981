//! Periodic task intervals: `every = "1h"`, `"30s"`, `"1h30m"`, `"250ms"`.
//!
//! A duration is one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`, `d`, largest
//! first, each at most once; the total is at least [`MIN_INTERVAL`]. The macro parses the
//! literal at compile time and the server parses it again at run time, with this function.
//!
//! ```
//! use std::time::Duration;
//! use flovyn_naming::task::parse_interval;
//!
//! assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
//! assert!(parse_interval("often").is_err());
//! ```

use std::time::Duration;

use crate::plugin::NameError;
use crate::text::quoted;

/// The shortest interval a task may have.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The interval `text` spells, or an error quoting it with the accepted form.
pub fn parse_interval(text: &str) -> Result<Duration, NameError> {
    let bad = |why: &str| {
        NameError::new(format!(
            "task interval `{}` {why}: write a duration such as `30s`, `15m`, `1h30m` or `1d` (units `d`, `h`, `m`, `s`, `ms`)",
            quoted(text)
        ))
    };
    if text.is_empty() {
        return Err(bad("is empty"));
    }
    let mut rest = text;
    let mut total: u64 = 0;
    // Index into UNITS of the last unit used: units must get smaller.
    let mut last: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("is not a duration"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad("is too long"))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                bad("has a number without a unit")
            } else {
                bad(&format!("has an unknown unit `{}`", quoted(unit)))
            });
        };
        if last.is_some_and(|l| index <= l) {
            return Err(bad("repeats a unit or puts a smaller one first"));
        }
        last = Some(index);
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| bad("is too long"))?;
    }
    let interval = Duration::from_millis(total);
    if interval < MIN_INTERVAL {
        return Err(bad(&format!(
            "is shorter than {} ms",
            MIN_INTERVAL.as_millis()
        )));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_combinations() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("15m", 900_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("1h30m", 5_400_000),
            ("1d2h3m4s5ms", 93_784_005),
        ] {
            assert_eq!(
                parse_interval(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_other_text_saying_why() {
        for (text, why) in [
            ("", "is empty"),
            ("often", "is not a duration"),
            ("10", "has a number without a unit"),
            ("10w", "has an unknown unit `w`"),
            ("1 h", "has a number without a unit"),
            ("30m1h", "repeats a unit or puts a smaller one first"),
            ("1h1h", "repeats a unit"),
            ("50ms", "is shorter than 100 ms"),
            ("99999999999999999999d", "is too long"),
        ] {
            let m = parse_interval(text).unwrap_err().to_string();
            assert!(m.contains(why), "{text}: {m}");
            assert!(m.contains("write a duration such as `30s`"), "{text}: {m}");
        }
    }
}
