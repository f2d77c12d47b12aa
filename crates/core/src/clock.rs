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
}
