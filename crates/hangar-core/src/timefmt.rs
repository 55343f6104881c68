//! UTC time formatting without a date library.

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    weekday: usize,
    h: i64,
    m: i64,
    s: i64,
}

fn parts(time_ns: i64) -> Parts {
    let secs = time_ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        weekday: days.rem_euclid(7) as usize,
        h: rem / 3600,
        m: rem % 3600 / 60,
        s: rem % 60,
    }
}

/// `Sun Mar 31 18:29:48 2019 UTC` (C `asctime`, in UTC, marked so).
pub fn asctime(time_ns: i64) -> String {
    let p = parts(time_ns);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {} UTC",
        DAYS[p.weekday],
        MONTHS[(p.month - 1) as usize],
        p.day,
        p.h,
        p.m,
        p.s,
        p.year
    )
}

/// `31Mar2019 18:29:48 UTC` (the log's compact form, in UTC, marked so).
pub fn compact(time_ns: i64) -> String {
    let p = parts(time_ns);
    format!(
        "{:02}{}{} {:02}:{:02}:{:02} UTC",
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.h,
        p.m,
        p.s
    )
}

/// `2019-03-31T18:29:48Z` (RFC 3339, UTC).
pub fn rfc3339(time_ns: i64) -> String {
    let p = parts(time_ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        p.year, p.month, p.day, p.h, p.m, p.s
    )
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
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
    }
}
