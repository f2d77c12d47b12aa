//! Wall-clock timestamps in the one format the gateway stores and serves: RFC 3339, UTC.

use time::OffsetDateTime;

/// Now, as RFC 3339 in UTC with microseconds (`2026-11-26T06:00:00.123456Z`).
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// `t` in UTC, if that falls in years 1 to 9999 (what RFC 3339 can write): an offset can move
/// a time written as 9999-12-31 past them.
pub fn utc_in_range(t: OffsetDateTime) -> Option<OffsetDateTime> {
    t.checked_to_offset(time::UtcOffset::UTC)
        .filter(|u| (1..=9999).contains(&u.year()))
}

/// `t` as RFC 3339 in UTC with exactly six fractional digits (microseconds, truncated), so
/// that text order is time order: a fraction with its trailing zeros trimmed would sort
/// `:05Z` after `:05.5Z`. Years outside 1–9999 fall back to the epoch.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let Some(t) = utc_in_range(t) else {
        return String::from("1970-01-01T00:00:00.000000Z");
    };
    // Written digit by digit into a fixed buffer (every record's `created_at` goes through
    // here; `format!` with its padding costs some twenty times as much).
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    // In range, the year is 1 to 9999.
    put(0, 4, t.year().unsigned_abs());
    put(5, 2, u32::from(u8::from(t.month())));
    put(8, 2, u32::from(t.day()));
    put(11, 2, u32::from(t.hour()));
    put(14, 2, u32::from(t.minute()));
    put(17, 2, u32::from(t.second()));
    put(20, 6, t.microsecond());
    // Only ASCII digits and punctuation were written.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn formats_utc_with_a_z_and_six_fractional_digits() {
        let s = format_rfc3339(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(s, "1970-01-01T00:00:00.000000Z");
        assert!(now_rfc3339().ends_with('Z'));
        let at = |nanos: i128| {
            format_rfc3339(OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("in range"))
        };
        assert_eq!(at(1_500_000_123), "1970-01-01T00:00:01.500000Z");
        // Text order is time order, also within one second.
        let times = [
            1_000_000_000,
            1_400_000_000,
            1_450_000_000,
            1_500_000_000,
            2_000_000_000,
        ];
        let texts: Vec<String> = times.iter().map(|&n| at(n)).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        // Parsed back, the same instant (to the microsecond).
        let back = OffsetDateTime::parse(&at(1_450_000_000), &Rfc3339).expect("RFC 3339");
        assert_eq!(back.unix_timestamp_nanos(), 1_450_000_000);
    }

    #[test]
    fn every_field_is_written_in_place() {
        let reference = |t: OffsetDateTime| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            )
        };
        // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
        let first = OffsetDateTime::from_unix_timestamp(-62_135_596_800).expect("in range");
        let last = OffsetDateTime::from_unix_timestamp_nanos(253_402_300_799_999_999_000)
            .expect("in range");
        let step = time::Duration::new(86_400 * 397 + 3_723, 123_456_789);
        let mut t = first;
        let mut seen = 0;
        while let Some(next) = t.checked_add(step).filter(|n| *n < last) {
            assert_eq!(format_rfc3339(t), reference(t));
            t = next;
            seen += 1;
        }
        assert!(seen > 9_000, "{seen}");
        assert_eq!(format_rfc3339(last), "9999-12-31T23:59:59.999999Z");
        assert_eq!(format_rfc3339(first), "0001-01-01T00:00:00.000000Z");
    }
}
