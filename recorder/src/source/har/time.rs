//! RFC 3339 date-times (HAR `startedDateTime`) to microseconds since the Unix epoch, and the
//! calendar arithmetic under it (shared with the access-log source).

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Microseconds since the epoch of a calendar date-time plus a UTC offset in seconds;
/// `None` if a field is out of range.
pub(crate) fn civil_to_us(
    (y, mo, d): (i64, u32, u32),
    (h, mi, s): (u32, u32, u32),
    micros: u32,
    offset_s: i64,
) -> Option<i64> {
    // Years beyond four digits are no capture's (and would overflow the arithmetic below).
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s) - offset_s;
    secs.checked_mul(1_000_000)?.checked_add(i64::from(micros))
}

/// Parses an RFC 3339 date-time (`2024-05-01T12:34:56.789123Z`, `...+02:00`; `t`/`z` and a
/// space separator accepted) into microseconds since the Unix epoch. Fractions beyond
/// microseconds are truncated.
pub(crate) fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = i64::from(digits(&b[0..4])?);
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let mut rest = &b[19..];
    let mut micros = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |c| u32::from(c - b'0'));
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = i64::from(digits(&[*oh1, *oh2])?);
            let om = i64::from(digits(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    civil_to_us((y, mo, d), (h, mi, sec), micros, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_variants() {
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_us("2026-11-26T20:42:41.753Z"),
            Some(1_795_725_761_753_000)
        );
        // Same instant with an offset and nanosecond digits.
        assert_eq!(
            parse_rfc3339_us("2026-11-26T22:42:41.753000999+02:00"),
            Some(1_795_725_761_753_000)
        );
        assert_eq!(
            parse_rfc3339_us("2024-02-29t00:00:00.5-00:30"),
            Some(1_709_166_600_500_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T24:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_rfc3339_us(bad), None, "{bad}");
        }
    }
}
