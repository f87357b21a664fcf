//! Quartz cron expressions (`sec min hour day-of-month month day-of-week
//! [year]`, with `?`, `L`, `W`, `#`, `0/10` steps, day names, and Quartz's
//! numbering of weekdays, 1 = Sunday), read with croner. Two-letter day
//! names (`FR`, as the Robusta example writes) are read as the three-letter
//! ones.
//!
//! A schedule runs in a time zone (an IANA name, [`Zone`]): its fields and
//! its dates are wall-clock times there. Daylight saving neither skips nor
//! doubles a fire: a fire whose wall-clock time does not exist (the hour
//! skipped in spring) is made at the first instant after the gap, and one
//! whose time happens twice (the hour repeated in autumn) once, at the
//! first of them (croner's rules for a fixed time); a schedule of
//! intervals (`0 0/30 * * * ?`) goes on by the clock through both, as
//! elapsed time does.

use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed Quartz cron expression.
#[derive(Debug, Clone)]
pub struct QuartzCron {
    text: String,
    cron: Cron,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quartzDef '{text}' is not a Quartz cron expression: {reason}")]
pub struct CronError {
    text: String,
    reason: String,
}

impl QuartzCron {
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let text = text.trim();
        let error = |reason: String| CronError {
            text: text.to_string(),
            reason,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        if !(6..=7).contains(&fields.len()) {
            return Err(error(
                "it needs 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year])"
                    .into(),
            ));
        }
        let normalized: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == 5 {
                    three_letter_days(f)
                } else {
                    f.to_string()
                }
            })
            .collect();
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Optional)
            .alternative_weekdays(true)
            .sloppy_ranges(true)
            .build()
            .parse(&normalized.join(" "))
            .map_err(|e| error(e.to_string()))?;
        Ok(Self {
            text: text.to_string(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first fire strictly after `after`, by the clock of `zone`.
    pub fn next_after(&self, after: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        self.next(after, zone, false)
    }

    /// The first fire at `at` or after it, by the clock of `zone`.
    pub fn first_from(&self, at: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        self.next(at, zone, true)
    }

    fn next(&self, from: DateTime<Utc>, zone: Zone, inclusive: bool) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&from.with_timezone(&zone.0), inclusive)
            .ok()
            .map(|fire| fire.with_timezone(&Utc))
    }
}

/// The time zone a schedule runs in: an IANA name (`America/Sao_Paulo`,
/// `Europe/Berlin`, `UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IANA time zone (such as America/Sao_Paulo or UTC)")]
pub struct ZoneError(String);

impl Zone {
    pub const UTC: Zone = Zone(Tz::UTC);

    pub fn parse(name: &str) -> Result<Self, ZoneError> {
        Tz::from_str(name.trim())
            .map(Zone)
            .map_err(|_| ZoneError(name.trim().to_string()))
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// `at` as a wall-clock time of this zone, `yyyy-MM-dd HH:mm:ss`.
    pub fn format(self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// `at` with this zone's offset then.
    pub fn local(self, at: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
        at.with_timezone(&self.0).fixed_offset()
    }

    /// The instant a wall-clock time of this zone names. A time skipped by
    /// daylight saving is moved later by the length of the gap (as Java's
    /// and so Quartz's calendars do); a repeated one is its first instant.
    fn instant(self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.0.from_local_datetime(&local) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at.with_timezone(&Utc)),
            LocalResult::None => {
                let before = self
                    .0
                    .offset_from_utc_datetime(&(local - TimeDelta::days(1)))
                    .fix();
                Some((local - before).and_utc())
            }
        }
    }
}

/// `MO`..`SU` as `MON`..`SUN`, leaving the rest of a day-of-week field.
fn three_letter_days(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let upper = word.to_ascii_uppercase();
        let day = match upper.as_str() {
            "MO" => "MON",
            "TU" => "TUE",
            "WE" => "WED",
            "TH" => "THU",
            "FR" => "FRI",
            "SA" => "SAT",
            "SU" => "SUN",
            _ => word.as_str(),
        };
        out.push_str(day);
        word.clear();
    };
    for c in field.chars() {
        if c.is_ascii_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A Robusta date (`yyyy-MM-dd HH:mm:ss`), a wall-clock time of `zone`.
pub fn parse_date(text: &str, zone: Zone) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|naive| zone.instant(naive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("date")
    }

    #[test]
    fn reads_the_robusta_example_and_quartz_specials() {
        let fridays = QuartzCron::parse("0 6 6 ? * FR").expect("valid");
        // 2020-11-16 was a Monday; the next Friday 06:06:00 is the 20th.
        assert_eq!(
            fridays.next_after(at(2020, 11, 16, 16, 56, 0), Zone::UTC),
            Some(at(2020, 11, 20, 6, 6, 0))
        );
        let quartz_sunday = QuartzCron::parse("0 0 12 ? * 1").expect("valid");
        assert_eq!(
            quartz_sunday.next_after(at(2020, 11, 16, 0, 0, 0), Zone::UTC),
            Some(at(2020, 11, 22, 12, 0, 0))
        );
        let last_day = QuartzCron::parse("0 0 0 L * ?").expect("valid");
        assert_eq!(
            last_day.next_after(at(2021, 2, 1, 0, 0, 0), Zone::UTC),
            Some(at(2021, 2, 28, 0, 0, 0))
        );
        let second_monday = QuartzCron::parse("0 0 9 ? * MON#2").expect("valid");
        assert_eq!(
            second_monday.next_after(at(2020, 11, 1, 0, 0, 0), Zone::UTC),
            Some(at(2020, 11, 9, 9, 0, 0))
        );
        let weekday = QuartzCron::parse("0 0 8 15W * ?").expect("valid");
        // 2020-11-15 was a Sunday: the nearest weekday is Monday the 16th.
        assert_eq!(
            weekday.next_after(at(2020, 11, 1, 0, 0, 0), Zone::UTC),
            Some(at(2020, 11, 16, 8, 0, 0))
        );
        let every_ten = QuartzCron::parse("0/10 * * * * ?").expect("valid");
        assert_eq!(
            every_ten.next_after(at(2020, 1, 1, 0, 0, 1), Zone::UTC),
            Some(at(2020, 1, 1, 0, 0, 10))
        );
    }

    #[test]
    fn refuses_what_is_not_quartz() {
        for text in [
            "* * * * *",
            "",
            "0 0 25 * * ?",
            "a b c d e f",
            "0 0 0 ? * XY",
        ] {
            assert!(QuartzCron::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn reads_robusta_dates() {
        assert_eq!(
            parse_date("2020-11-16 16:56:00", Zone::UTC),
            Some(at(2020, 11, 16, 16, 56, 0))
        );
        assert_eq!(parse_date("16/11/2020", Zone::UTC), None);
    }

    /// The fires of `cron` in `zone` after `from`, as wall-clock times
    /// with their offsets.
    fn fires(cron: &str, zone: &str, from: DateTime<Utc>, count: usize) -> Vec<String> {
        let cron = QuartzCron::parse(cron).expect("valid");
        let zone = Zone::parse(zone).expect("zone");
        let mut at = from;
        let mut out = Vec::new();
        for _ in 0..count {
            let Some(next) = cron.next_after(at, zone) else {
                break;
            };
            out.push(zone.local(next).to_rfc3339());
            at = next;
        }
        out
    }

    #[test]
    fn daylight_saving_neither_skips_nor_doubles_a_fire() {
        // Berlin springs forward on 2027-03-28 at 02:00 (to 03:00): 02:30
        // does not exist that day, and the fire is made at 03:00.
        assert_eq!(
            fires(
                "0 30 2 * * ?",
                "Europe/Berlin",
                at(2027, 3, 26, 12, 0, 0),
                3
            ),
            [
                "2027-03-27T02:30:00+01:00",
                "2027-03-28T03:00:00+02:00",
                "2027-03-29T02:30:00+02:00",
            ]
        );
        // It falls back on 2027-10-31 at 03:00 (to 02:00): 02:30 happens
        // twice, and fires once.
        assert_eq!(
            fires(
                "0 30 2 * * ?",
                "Europe/Berlin",
                at(2027, 10, 29, 12, 0, 0),
                3
            ),
            [
                "2027-10-30T02:30:00+02:00",
                "2027-10-31T02:30:00+02:00",
                "2027-11-01T02:30:00+01:00",
            ]
        );
        // São Paulo had daylight saving until 2019: on 2018-11-04 midnight
        // became 01:00, and on 2019-02-17 midnight came back to 23:00.
        assert_eq!(
            fires(
                "0 0 0 * * ?",
                "America/Sao_Paulo",
                at(2018, 11, 2, 12, 0, 0),
                3
            ),
            [
                "2018-11-03T00:00:00-03:00",
                "2018-11-04T01:00:00-02:00",
                "2018-11-05T00:00:00-02:00",
            ]
        );
        assert_eq!(
            fires(
                "0 30 23 * * ?",
                "America/Sao_Paulo",
                at(2019, 2, 15, 12, 0, 0),
                3
            ),
            [
                "2019-02-15T23:30:00-02:00",
                "2019-02-16T23:30:00-02:00",
                "2019-02-17T23:30:00-03:00",
            ]
        );
        // Every hour of the spring-forward night: no hour fires twice, and
        // only the skipped one is missing.
        assert_eq!(
            fires("0 0 * * * ?", "Europe/Berlin", at(2027, 3, 28, 0, 30, 0), 3),
            [
                "2027-03-28T03:00:00+02:00",
                "2027-03-28T04:00:00+02:00",
                "2027-03-28T05:00:00+02:00",
            ]
        );
    }

    #[test]
    fn dates_are_read_in_the_zone() {
        let berlin = Zone::parse("Europe/Berlin").expect("zone");
        assert_eq!(
            parse_date("2027-01-10 08:00:00", berlin),
            Some(at(2027, 1, 10, 7, 0, 0))
        );
        assert_eq!(
            parse_date("2027-07-10 08:00:00", berlin),
            Some(at(2027, 7, 10, 6, 0, 0))
        );
        // In the gap: moved later by its length (02:30 CET is 03:30 CEST).
        assert_eq!(
            parse_date("2027-03-28 02:30:00", berlin),
            Some(at(2027, 3, 28, 1, 30, 0))
        );
        // Repeated: the first of the two.
        assert_eq!(
            parse_date("2027-10-31 02:30:00", berlin),
            Some(at(2027, 10, 31, 0, 30, 0))
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert_eq!(Zone::parse(" UTC ").map(Zone::name), Ok("UTC"));
    }

    fn cron_field() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "*", "?", "L", "W", "LW", "L-3", "15W", "MON#2", "6#5", "FR", "MO-FR", "JAN",
                "1-5", "0/10", "5/0", "*/7", "1,2,3", "0", "59", "60", "31", "32", "12", "13",
                "1970", "2099", "2100", "", "-1", "#", "L#L",
            ])
            .prop_map(String::from),
            "[0-9]{1,4}",
            "[0-9*?LW#/,-]{1,6}",
        ]
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panic(text in ".{0,60}") {
            let _ = QuartzCron::parse(&text);
        }

        #[test]
        fn parsed_expressions_give_their_next_fire(
            fields in prop::collection::vec(cron_field(), 6..=7),
        ) {
            if let Ok(cron) = QuartzCron::parse(&fields.join(" ")) {
                let from = at(2026, 1, 1, 0, 0, 0);
                if let Some(next) = cron.next_after(from, Zone::UTC) {
                    prop_assert!(next > from);
                }
                let _ = cron.first_from(from, Zone::UTC);
            }
        }
    }
}
