//! Timestamps as CloudTrail writes them, parsed without allocation.

use chrono::{DateTime, NaiveDateTime};

/// Microseconds since the Unix epoch for an RFC 3339 timestamp. The common CloudTrail shape
/// `YYYY-MM-DDTHH:MM:SSZ` is parsed by hand; everything else goes through chrono. Timestamps
/// without an offset are taken as UTC (some exports drop the `Z`).
pub fn parse_timestamp_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 20
        && b[19] == b'Z'
        && b[10] == b'T'
        && let Some(v) = fast_utc(b)
    {
        return Some(v);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    None
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn fast_utc(b: &[u8]) -> Option<i64> {
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
pub fn date_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-01T10:00:00.123Z` of milliseconds since the epoch; `None` out of chrono's range.
pub fn rfc3339_millis(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A duration such as `90d`, `12h`, `30m`, `45s` or `500ms` (or combined, `1h 30m`), in
/// microseconds. The one parser of durations: CLI ages, detector windows and the watch's
/// configuration all read theirs here.
pub fn parse_duration(spec: &str) -> Option<i64> {
    let d = humantime::parse_duration(spec.trim()).ok()?;
    i64::try_from(d.as_micros()).ok()
}

/// A time as the CLI takes it (`--since`, `--until`): RFC 3339 (`2026-11-20T10:00:00Z`), a date
/// (`2026-11-20`, its midnight UTC), or an age before `now_micros` (`90d`, `12h`, `30m`, `45s`).
/// Returns microseconds since the Unix epoch, or a message that says what is accepted.
pub fn parse_time_spec(spec: &str, now_micros: i64) -> Result<i64, String> {
    let s = spec.trim();
    let bad = || {
        format!(
            "{spec:?} is not a time: use RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20) \
             or an age (90d, 12h, 30m, 45s)"
        )
    };
    if let Some(age) = parse_duration(s) {
        return Ok(now_micros - age);
    }
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let (y, m, d) = (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]));
        if let (Some(y), Some(m), Some(d)) = (y, m, d)
            && (1..=12).contains(&m)
            && (1..=days_in_month(y, m)).contains(&d)
        {
            return Ok(days_from_civil(y, m, d) * 86_400_000_000);
        }
        return Err(bad());
    }
    parse_timestamp_micros(s).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_chrono() {
        for s in [
            "2024-08-02T09:08:27Z",
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-11-29T02:19:37Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
            assert_eq!(parse_timestamp_micros(s), Some(chrono), "{s}");
        }
    }

    #[test]
    fn other_shapes() {
        assert_eq!(
            parse_timestamp_micros("2024-08-02T09:08:27.123Z"),
            Some(
                DateTime::parse_from_rfc3339("2024-08-02T09:08:27.123Z")
                    .unwrap()
                    .timestamp_micros()
            )
        );
        assert_eq!(
            parse_timestamp_micros("2024-08-02T11:08:27+02:00"),
            parse_timestamp_micros("2024-08-02T09:08:27Z")
        );
        assert_eq!(
            parse_timestamp_micros("2024-08-02T09:08:27"),
            parse_timestamp_micros("2024-08-02T09:08:27Z")
        );
        assert_eq!(parse_timestamp_micros("2024-02-30T09:08:27Z"), None);
        assert_eq!(parse_timestamp_micros("yesterday"), None);
        assert_eq!(parse_timestamp_micros(""), None);
    }

    #[test]
    fn millisecond_text() {
        assert_eq!(
            rfc3339_millis(1_722_592_800_123).as_deref(),
            Some("2024-08-02T10:00:00.123Z")
        );
        assert_eq!(rfc3339_millis(i64::MAX), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(500_000));
        assert_eq!(parse_duration("45s"), Some(45_000_000));
        assert_eq!(parse_duration(" 30m "), Some(1_800_000_000));
        assert_eq!(parse_duration("12h"), Some(43_200_000_000));
        assert_eq!(parse_duration("90d"), Some(90 * 86_400_000_000));
        assert_eq!(parse_duration("1h 30m"), Some(5_400_000_000));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400_000_000));
        for bad in ["", "soon", "12", "-1h", "1 fortnight"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_specs() {
        let now = parse_timestamp_micros("2026-11-29T12:00:00Z").unwrap();
        let at = |s| parse_timestamp_micros(s).unwrap();
        assert_eq!(parse_time_spec("90d", now), Ok(at("2026-08-31T12:00:00Z")));
        assert_eq!(parse_time_spec("12h", now), Ok(at("2026-11-29T00:00:00Z")));
        assert_eq!(parse_time_spec("30m", now), Ok(at("2026-11-29T11:30:00Z")));
        assert_eq!(parse_time_spec("45s", now), Ok(at("2026-11-29T11:59:15Z")));
        assert_eq!(
            parse_time_spec("2026-11-20", now),
            Ok(at("2026-11-20T00:00:00Z"))
        );
        assert_eq!(
            parse_time_spec("2026-11-20T10:00:00+01:00", now),
            Ok(at("2026-11-20T09:00:00Z"))
        );
        for bad in [
            "",
            "d",
            "-3d",
            "3 fortnights",
            "2026-13-01",
            "2026-02-30",
            "yesterday",
        ] {
            let e = parse_time_spec(bad, now).unwrap_err();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for day in [-1000, 0, 1, 19_000, 20_786, 100_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), day);
        }
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(19_937), "2024-08-02");
    }
}
