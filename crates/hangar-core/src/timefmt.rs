//! Times as the CLI and the `Display` impls print them: in UTC, marked so.

use jiff::{tz::TimeZone, Timestamp};

/// The instant `time_ns` nanoseconds after the Unix epoch, in UTC (clamped to the
/// range jiff represents, far beyond what an i64 of nanoseconds spans).
fn utc(time_ns: i64) -> jiff::Zoned {
    let ts = Timestamp::from_nanosecond(i128::from(time_ns)).unwrap_or(if time_ns < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    ts.to_zoned(TimeZone::UTC)
}

/// `Sun Mar 31 18:29:48 2019 UTC` (C `asctime`, in UTC, marked so).
pub fn asctime(time_ns: i64) -> String {
    utc(time_ns)
        .strftime("%a %b %e %H:%M:%S %Y UTC")
        .to_string()
}

/// `31Mar2019 18:29:48 UTC` (the log's compact form, in UTC, marked so).
pub fn compact(time_ns: i64) -> String {
    utc(time_ns).strftime("%d%b%Y %H:%M:%S UTC").to_string()
}

/// `2019-03-31T18:29:48Z` (RFC 3339, UTC, whole seconds).
pub fn rfc3339(time_ns: i64) -> String {
    utc(time_ns).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    i64::try_from(Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let t = 1_554_056_988 * 1_000_000_000; // the seed's first commit
        assert_eq!(asctime(t), "Sun Mar 31 18:29:48 2019 UTC");
        assert_eq!(compact(t), "31Mar2019 18:29:48 UTC");
        assert_eq!(rfc3339(t), "2019-03-31T18:29:48Z");
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970 UTC");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-86_400 * 1_000_000_000), "1969-12-31T00:00:00Z");
        assert_eq!(
            compact(5 * 86_400 * 1_000_000_000 + 1),
            "06Jan1970 00:00:00 UTC"
        );
        // The extremes of an i64 of nanoseconds (1677 and 2262) still format.
        assert_eq!(rfc3339(i64::MIN), "1677-09-21T00:12:43Z");
        assert_eq!(rfc3339(i64::MAX), "2262-04-11T23:47:16Z");
    }
}
