//! Wall-clock timestamps in the one format the gateway stores and serves: RFC 3339, UTC.

use time::format_description::well_known::Rfc3339;
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

/// `t` as RFC 3339 in UTC, truncated to microseconds so that text order is time order.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.microsecond();
    let t = t.replace_nanosecond(micros * 1000).unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_a_z() {
        let s = format_rfc3339(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(s, "1970-01-01T00:00:00Z");
        assert!(now_rfc3339().ends_with('Z'));
    }
}
