//! Reset durations, as Bifrost writes them: a number and a unit, repeated (`30s`, `5m`, `1h`,
//! `1d`, `1w`, `1M`, `1Q`, `1Y`, `1h30m`). `m` is minutes and `M` months. Anything else is a
//! [`DurationError`] that quotes the text and says what is accepted.
//!
//! Months, quarters and years are calendar lengths (a month from January 31st ends on the last
//! day of February), computed in UTC. A **calendar-aligned** window starts on a UTC boundary
//! instead of at its last reset: midnight (`1d`), Monday midnight (`1w`), the 1st (`1M`), the
//! quarter's first day (`1Q`) or January 1st (`1Y`). Only those five single-unit durations can be
//! calendar-aligned; sub-day and combined durations cannot.
//!
//! ```
//! use keyward_plugin_api::model::governance::duration::ResetDuration;
//!
//! let d: ResetDuration = "1h30m".parse().unwrap();
//! assert_eq!(d.fixed_seconds(), 5_400);
//! assert!("1x".parse::<ResetDuration>().is_err());
//! assert!("1M".parse::<ResetDuration>().unwrap().calendar_unit().is_some());
//! ```

use std::{fmt, str::FromStr};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Nanoseconds per second.
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A unit of a reset duration.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    /// `s`
    Second,
    /// `m`
    Minute,
    /// `h`
    Hour,
    /// `d`
    Day,
    /// `w`
    Week,
    /// `M`
    Month,
    /// `Q`
    Quarter,
    /// `Y`
    Year,
}

impl DurationUnit {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            's' => Self::Second,
            'm' => Self::Minute,
            'h' => Self::Hour,
            'd' => Self::Day,
            'w' => Self::Week,
            'M' => Self::Month,
            'Q' => Self::Quarter,
            'Y' => Self::Year,
            _ => return None,
        })
    }

    /// Seconds per unit for fixed-length units, `None` for calendar units.
    fn seconds(self) -> Option<u64> {
        match self {
            Self::Second => Some(1),
            Self::Minute => Some(60),
            Self::Hour => Some(3_600),
            Self::Day => Some(86_400),
            Self::Week => Some(604_800),
            Self::Month | Self::Quarter | Self::Year => None,
        }
    }

    /// Months per unit for calendar units.
    fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
            _ => 0,
        }
    }
}

/// A reset duration that failed to parse, or cannot be used as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not `<number><unit>` repeated.
    #[error(
        "invalid duration {text:?}: expected a number followed by a unit (s, m, h, d, w, M, Q, Y), repeated, e.g. \"30s\", \"1h30m\", \"1M\""
    )]
    Syntax {
        /// The text given.
        text: String,
    },
    /// Zero length.
    #[error("invalid duration {text:?}: it must be longer than zero")]
    Zero {
        /// The text given.
        text: String,
    },
    /// Too long to represent.
    #[error("invalid duration {text:?}: too long")]
    Overflow {
        /// The text given.
        text: String,
    },
    /// Asked to be calendar-aligned but is not exactly one of `1d`, `1w`, `1M`, `1Q`, `1Y`.
    #[error(
        "duration {text:?} cannot be calendar-aligned: only 1d, 1w, 1M, 1Q and 1Y are (sub-day and combined durations are not)"
    )]
    NotCalendarAlignable {
        /// The text given.
        text: String,
    },
}

/// A parsed reset duration: calendar months plus fixed seconds, with its original text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResetDuration {
    text: String,
    months: u32,
    seconds: u64,
    single: Option<(u64, DurationUnit)>,
}

impl ResetDuration {
    /// Parses `text` (see the module docs).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let syntax = || DurationError::Syntax {
            text: text.to_owned(),
        };
        let overflow = || DurationError::Overflow {
            text: text.to_owned(),
        };
        let mut months: u32 = 0;
        let mut seconds: u64 = 0;
        let mut parts = Vec::new();
        let mut rest = text;
        if rest.is_empty() {
            return Err(syntax());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(syntax());
            }
            let count: u64 = rest[..digits].parse().map_err(|_| overflow())?;
            let mut tail = rest[digits..].chars();
            let unit = tail
                .next()
                .and_then(DurationUnit::from_char)
                .ok_or_else(syntax)?;
            match unit.seconds() {
                Some(per_unit) => {
                    let add = count.checked_mul(per_unit).ok_or_else(overflow)?;
                    seconds = seconds.checked_add(add).ok_or_else(overflow)?;
                }
                None => {
                    let count = u32::try_from(count).map_err(|_| overflow())?;
                    let add = count.checked_mul(unit.months()).ok_or_else(overflow)?;
                    months = months.checked_add(add).ok_or_else(overflow)?;
                }
            }
            parts.push((count, unit));
            rest = tail.as_str();
        }
        if months == 0 && seconds == 0 {
            return Err(DurationError::Zero {
                text: text.to_owned(),
            });
        }
        if seconds > u64::MAX / NANOS_PER_SEC / 2 || months > 12 * 10_000 {
            return Err(overflow());
        }
        Ok(Self {
            text: text.to_owned(),
            months,
            seconds,
            single: (parts.len() == 1).then(|| parts[0]),
        })
    }

    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The calendar months in it (`1Q` = 3, `1Y` = 12).
    pub fn months(&self) -> u32 {
        self.months
    }

    /// The fixed-length part, in seconds (`1h30m` = 5400; months not included).
    pub fn fixed_seconds(&self) -> u64 {
        self.seconds
    }

    /// The calendar unit when the duration can be calendar-aligned (exactly `1d`, `1w`, `1M`,
    /// `1Q` or `1Y`).
    pub fn calendar_unit(&self) -> Option<DurationUnit> {
        match self.single {
            Some((
                1,
                unit @ (DurationUnit::Day
                | DurationUnit::Week
                | DurationUnit::Month
                | DurationUnit::Quarter
                | DurationUnit::Year),
            )) => Some(unit),
            _ => None,
        }
    }

    /// Checks that the duration may be calendar-aligned.
    pub fn check_calendar_alignable(&self) -> Result<DurationUnit, DurationError> {
        self.calendar_unit()
            .ok_or_else(|| DurationError::NotCalendarAlignable {
                text: self.text.clone(),
            })
    }

    /// The end of a rolling window that started at `start_nanos` (Unix nanoseconds, UTC).
    pub fn window_end(&self, start_nanos: u64) -> u64 {
        let start = to_datetime(start_nanos);
        let after_months = if self.months == 0 {
            Some(start)
        } else {
            start.checked_add_months(Months::new(self.months))
        };
        let end = after_months.and_then(|t| {
            t.checked_add_signed(Duration::seconds(i64::try_from(self.seconds).ok()?))
        });
        end.map_or(u64::MAX, from_datetime)
    }

    /// For a calendar-aligned window: the UTC boundary that starts the period containing
    /// `now_nanos`, and the one that ends it. `None` when the duration cannot be aligned.
    pub fn calendar_period(&self, now_nanos: u64) -> Option<(u64, u64)> {
        let unit = self.calendar_unit()?;
        let now = to_datetime(now_nanos);
        let date = now.date_naive();
        let start = match unit {
            DurationUnit::Day => date,
            DurationUnit::Week => {
                date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
            }
            DurationUnit::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?,
            DurationUnit::Quarter => {
                let first_month = (date.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(date.year(), first_month, 1)?
            }
            DurationUnit::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1)?,
            _ => return None,
        };
        let start = Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0)?);
        let end = match unit {
            DurationUnit::Day => start.checked_add_signed(Duration::days(1))?,
            DurationUnit::Week => start.checked_add_signed(Duration::days(7))?,
            _ => start.checked_add_months(Months::new(unit.months()))?,
        };
        Some((from_datetime(start), from_datetime(end)))
    }
}

/// Unix nanoseconds as a UTC time (saturating at the representable range).
pub fn to_datetime(nanos: u64) -> DateTime<Utc> {
    let nanos = i64::try_from(nanos).unwrap_or(i64::MAX);
    DateTime::from_timestamp_nanos(nanos)
}

/// A UTC time as Unix nanoseconds (0 before the epoch, saturating after 2262).
pub fn from_datetime(time: DateTime<Utc>) -> u64 {
    time.timestamp_nanos_opt()
        .map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(0))
}

impl FromStr for ResetDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ResetDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ResetDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ResetDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
