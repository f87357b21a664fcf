//! Quartz cron expressions (`sec min hour day-of-month month day-of-week
//! [year]`, with `?`, `L`, `W`, `#`, `0/10` steps, day names, and Quartz's
//! numbering of weekdays, 1 = Sunday), read with croner. Two-letter day
//! names (`FR`, as the Robusta example writes) are read as the three-letter
//! ones. Schedules run in UTC.

use chrono::{DateTime, NaiveDateTime, Utc};
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

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The first fire at `at` or after it.
    pub fn first_from(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&at, true).ok()
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

/// A Robusta date (`yyyy-MM-dd HH:mm:ss`), in UTC.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|naive| naive.and_utc())
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
            fridays.next_after(at(2020, 11, 16, 16, 56, 0)),
            Some(at(2020, 11, 20, 6, 6, 0))
        );
        let quartz_sunday = QuartzCron::parse("0 0 12 ? * 1").expect("valid");
        assert_eq!(
            quartz_sunday.next_after(at(2020, 11, 16, 0, 0, 0)),
            Some(at(2020, 11, 22, 12, 0, 0))
        );
        let last_day = QuartzCron::parse("0 0 0 L * ?").expect("valid");
        assert_eq!(
            last_day.next_after(at(2021, 2, 1, 0, 0, 0)),
            Some(at(2021, 2, 28, 0, 0, 0))
        );
        let second_monday = QuartzCron::parse("0 0 9 ? * MON#2").expect("valid");
        assert_eq!(
            second_monday.next_after(at(2020, 11, 1, 0, 0, 0)),
            Some(at(2020, 11, 9, 9, 0, 0))
        );
        let weekday = QuartzCron::parse("0 0 8 15W * ?").expect("valid");
        // 2020-11-15 was a Sunday: the nearest weekday is Monday the 16th.
        assert_eq!(
            weekday.next_after(at(2020, 11, 1, 0, 0, 0)),
            Some(at(2020, 11, 16, 8, 0, 0))
        );
        let every_ten = QuartzCron::parse("0/10 * * * * ?").expect("valid");
        assert_eq!(
            every_ten.next_after(at(2020, 1, 1, 0, 0, 1)),
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
            parse_date("2020-11-16 16:56:00"),
            Some(at(2020, 11, 16, 16, 56, 0))
        );
        assert_eq!(parse_date("16/11/2020"), None);
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
                if let Some(next) = cron.next_after(from) {
                    prop_assert!(next > from);
                }
                let _ = cron.first_from(from);
            }
        }
    }
}
