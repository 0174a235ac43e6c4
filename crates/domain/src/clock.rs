//! Time comes in as an argument so tests move a fake clock instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Clone, Debug)]
pub struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    pub fn starting_now() -> Self {
        Self(Arc::new(AtomicI64::new(SystemClock.now())))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 text for a Unix time, for JSON and pages.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A time for a person to read, in a message or on a page: in their time zone (an IANA name, the
/// profile's `zoneinfo`) when it is known, else in UTC, always saying which:
/// `2026-12-05 09:43:51 Europe/Paris`, `2026-12-05 08:43:51 UTC`.
pub fn for_people(unix: i64, zone: Option<&str>) -> String {
    let local = zone.and_then(|name| {
        let tz = jiff::tz::TimeZone::get(name).ok()?;
        let at = jiff::Timestamp::from_second(unix).ok()?.to_zoned(tz);
        Some(format!("{} {name}", at.strftime("%Y-%m-%d %H:%M:%S")))
    });
    local.unwrap_or_else(|| rfc3339(unix).replace('T', " ").replace('Z', " UTC"))
}

/// The Unix time at which a calendar day (`YYYY-MM-DD`, as an HTML date input sends it) begins,
/// in UTC.
pub fn day_start(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    let date = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod people_tests {
    #[test]
    fn people_read_times_in_their_zone_or_in_utc_saying_which() {
        let at = 1_796_169_600 + 8 * 3600 + 43 * 60 + 51; // 2026-12-02 08:43:51 UTC
        assert_eq!(super::for_people(at, None), "2026-12-02 08:43:51 UTC");
        assert_eq!(super::for_people(at, Some("Europe/Paris")), "2026-12-02 09:43:51 Europe/Paris");
        assert_eq!(super::for_people(at, Some("America/Los_Angeles")), "2026-12-02 00:43:51 America/Los_Angeles");
        // Summer time: Paris is two hours ahead in July.
        assert_eq!(super::for_people(1_783_000_000, Some("Europe/Paris")), "2026-07-02 15:46:40 Europe/Paris");
        assert_eq!(super::for_people(at, Some("Mars/Olympus_Mons")), "2026-12-02 08:43:51 UTC", "unknown zone");
    }
}

#[cfg(test)]
mod day_tests {
    #[test]
    fn a_day_begins_at_midnight_utc() {
        assert_eq!(super::day_start("2026-12-02"), Some(1_796_169_600));
        assert_eq!(super::day_start("1970-01-01"), Some(0));
        for bad in ["2026-13-01", "2026-02-30", "yesterday", "", "2026-12"] {
            assert_eq!(super::day_start(bad), None, "{bad}");
        }
    }
}
