//! Time in the world: microseconds since the Unix epoch (UTC) in an `i64`, and the exact
//! timestamp shapes each product writes. Civil dates come from Howard Hinnant's `civil_from_days`
//! (integer arithmetic only), so formatting is fast and identical everywhere. Never reads the
//! system clock or time zone database: the world's time is data.

use std::io::Write;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Ts = i64;

pub const SECOND: Ts = 1_000_000;
pub const MINUTE: Ts = 60 * SECOND;
pub const HOUR: Ts = 60 * MINUTE;
pub const DAY: Ts = 24 * HOUR;

/// The world's local time (Elmaria keeps Central European Time; no DST in January–February).
pub const LOCAL_OFFSET: Ts = HOUR;

/// Days since the epoch of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of days since the epoch.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day of week of days since the epoch, 0 = Monday.
pub fn weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    (days + 3).rem_euclid(7) as u32
}

/// The broken-down parts of a timestamp shifted by `offset`.
pub struct Parts {
    pub y: i64,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
    pub us: u32,
}

pub fn parts(ts: Ts, offset: Ts) -> Parts {
    let t = ts + offset;
    let days = t.div_euclid(DAY);
    let rem = t.rem_euclid(DAY);
    let (y, mo, d) = civil_from_days(days);
    let secs = (rem / SECOND) as u32;
    Parts {
        y,
        mo,
        d,
        h: secs / 3600,
        mi: secs / 60 % 60,
        s: secs % 60,
        us: (rem % SECOND) as u32,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// rsyslog `RSYSLOG_FileFormat`: `2021-01-14T09:12:03.123456+01:00` (local time).
pub fn rfc3339_local(out: &mut Vec<u8>, ts: Ts) {
    let p = parts(ts, LOCAL_OFFSET);
    let off = LOCAL_OFFSET / MINUTE;
    let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02}",
        p.y,
        p.mo,
        p.d,
        p.h,
        p.mi,
        p.s,
        p.us,
        sign,
        off / 60,
        off % 60
    );
}

/// Squid native `%ts.%03tu`: `1610615523.123`.
pub fn squid_epoch(out: &mut Vec<u8>, ts: Ts) {
    let _ = write!(out, "{}.{:03}", ts.div_euclid(SECOND), ts.rem_euclid(SECOND) / 1000);
}

/// Exchange message tracking: `2021-01-14T09:12:03.123Z` (UTC).
pub fn iso_utc_ms(out: &mut Vec<u8>, ts: Ts) {
    let p = parts(ts, 0);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y,
        p.mo,
        p.d,
        p.h,
        p.mi,
        p.s,
        p.us / 1000
    );
}

/// W3C extended `date time` (UTC): `2021-01-14 09:12:03`.
pub fn w3c_date_time(out: &mut Vec<u8>, ts: Ts) {
    let p = parts(ts, 0);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    );
}

/// Postfix anvil's `at` time (ctime without the weekday and year, local): `Jan 14 09:12:03`.
pub fn anvil_time(out: &mut Vec<u8>, ts: Ts) {
    let p = parts(ts, LOCAL_OFFSET);
    let _ = write!(
        out,
        "{} {:02} {:02}:{:02}:{:02}",
        MONTHS[(p.mo - 1) as usize],
        p.d,
        p.h,
        p.mi,
        p.s
    );
}

/// `yyyymmdd` of the UTC date (log file names).
pub fn ymd_utc(ts: Ts) -> String {
    let p = parts(ts, 0);
    format!("{:04}{:02}{:02}", p.y, p.mo, p.d)
}

/// Hour of day (UTC).
pub fn hour_utc(ts: Ts) -> u32 {
    parts(ts, 0).h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip_and_weekday() {
        let d = days_from_civil(2021, 1, 14);
        assert_eq!(d, 18_641);
        assert_eq!(civil_from_days(d), (2021, 1, 14));
        assert_eq!(weekday(d), 3, "2021-01-14 was a Thursday");
        assert_eq!(civil_from_days(days_from_civil(2021, 2, 28) + 1), (2021, 3, 1));
        assert_eq!(civil_from_days(days_from_civil(2020, 2, 29)), (2020, 2, 29));
    }

    #[test]
    fn formats() {
        // 2021-01-14T09:12:03.123456Z
        let ts = 1_610_615_523_123_456;
        let mut b = Vec::new();
        rfc3339_local(&mut b, ts);
        assert_eq!(b, b"2021-01-14T10:12:03.123456+01:00");
        b.clear();
        squid_epoch(&mut b, ts);
        assert_eq!(b, b"1610615523.123");
        b.clear();
        iso_utc_ms(&mut b, ts);
        assert_eq!(b, b"2021-01-14T09:12:03.123Z");
        b.clear();
        w3c_date_time(&mut b, ts);
        assert_eq!(b, b"2021-01-14 09:12:03");
        b.clear();
        anvil_time(&mut b, ts);
        assert_eq!(b, b"Jan 14 10:12:03");
        assert_eq!(ymd_utc(ts), "20210114");
        assert_eq!(hour_utc(ts), 9);
    }
}
