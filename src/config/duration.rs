//! Go `time.Duration` strings (`24h0m0s`, `4m`, `1h30m`, `1.5s`, `0`), as kubeadm's
//! `metav1.Duration` fields read and write them.

use std::time::Duration;

const NANOS_PER: [(&str, u128); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 0), // not a Go unit: listed only to give a helpful error
];

/// Parses a non-negative Go duration, as Go's `time.ParseDuration` does.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("{s:?} is not a duration like 24h0m0s, 90s or 1h30m: {why}");
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(bad("it must not be negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(bad("expected a number"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per = NANOS_PER
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .filter(|n| *n != 0)
            .ok_or_else(|| {
                if unit.is_empty() {
                    bad("a unit (ns, us, ms, s, m, h) must follow each number")
                } else {
                    bad(&format!(
                        "unknown unit {unit:?} (use ns, us, ms, s, m or h)"
                    ))
                }
            })?;
        total = total
            .checked_add(scaled(number, per).ok_or_else(|| bad("bad number"))?)
            .ok_or_else(|| bad("too large"))?;
        rest = after;
    }
    // Go durations are int64 nanoseconds.
    if total > i64::MAX as u128 {
        return Err(bad("too large"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// `number` (digits, optionally with one fraction) times `per` nanoseconds, truncated as Go does.
fn scaled(number: &str, per: u128) -> Option<u128> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(per)?;
    let mut scale = per;
    for digit in frac.bytes() {
        scale /= 10;
        value += u128::from(digit - b'0') * scale;
    }
    Some(value)
}

/// Formats as Go's `Duration.String()`: `24h0m0s`, `4m0s`, `1.5s`, `500ms`, `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, per) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, per));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / per` with the fraction's trailing zeros removed (`1500, 1000` → `1.5`).
fn fraction(value: u128, per: u128) -> String {
    let whole = value / per;
    let frac = value % per;
    if frac == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A Go duration string field (`metav1.Duration`) of a versioned document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl<'de> serde::Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = GoDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string like 24h0m0s")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<GoDuration, E> {
                parse_go_duration(s).map(GoDuration).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_the_forms_kubeadm_writes_and_users_type() {
        assert_eq!(parse_go_duration("24h0m0s").unwrap(), secs(86_400));
        assert_eq!(parse_go_duration("4m").unwrap(), secs(240));
        assert_eq!(parse_go_duration("1h30m").unwrap(), secs(5_400));
        assert_eq!(parse_go_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1_500)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(parse_go_duration("2µs").unwrap(), Duration::from_micros(2));
        assert_eq!(parse_go_duration("87600h").unwrap(), secs(87_600 * 3_600));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "10",
            "5 m",
            "1d",
            "-1s",
            "1.2.3s",
            "h",
            "1hh",
            "abc",
            "9999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_as_go_does() {
        assert_eq!(format_go_duration(secs(8_760 * 3_600)), "8760h0m0s");
        assert_eq!(format_go_duration(secs(87_600 * 3_600)), "87600h0m0s");
        assert_eq!(format_go_duration(secs(240)), "4m0s");
        assert_eq!(format_go_duration(secs(5_400)), "1h30m0s");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(format_go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_go_duration(secs(3_600)), "1h0m0s");
        assert_eq!(format_go_duration(secs(3_723)), "1h2m3s");
        for s in ["24h0m0s", "1m30.5s", "2h0m1s"] {
            assert_eq!(format_go_duration(parse_go_duration(s).unwrap()), s);
        }
    }
}
