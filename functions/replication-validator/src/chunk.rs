//! Chunk sizing toward a target query time, as pt-table-checksum sizes its chunks, and the
//! key ranges chunks cover.

use std::time::Duration;

use mysql_async::Value;
use serde::{Deserialize, Serialize};

use crate::schema::Column;

/// Sizes the next chunk from how long the previous ones took.
#[derive(Debug, Clone)]
pub struct ChunkSizer {
    target: Duration,
    min_rows: u64,
    max_rows: u64,
    rows: u64,
}

impl ChunkSizer {
    /// A sizer starting at `start` rows a chunk, kept within `min_rows..=max_rows`.
    #[must_use]
    pub fn new(target: Duration, start: u64, min_rows: u64, max_rows: u64) -> Self {
        let min_rows = min_rows.max(1);
        let max_rows = max_rows.max(min_rows);
        Self {
            target,
            min_rows,
            max_rows,
            rows: start.clamp(min_rows, max_rows),
        }
    }

    /// The rows the next chunk should hold.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Learns from a chunk of `rows` rows that took `elapsed`: the next size is what the
    /// observed rate would read in the target time, changed at most twofold at once so a
    /// single slow or fast chunk (a cold cache, a lock) does not swing it.
    pub fn observe(&mut self, rows: u64, elapsed: Duration) {
        if rows == 0 {
            return;
        }
        let seconds = elapsed.as_secs_f64().max(0.000_1);
        #[expect(clippy::cast_precision_loss, reason = "row counts far below 2^52")]
        let ideal = rows as f64 * self.target.as_secs_f64() / seconds;
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to a positive range of row counts first"
        )]
        let next = ideal.clamp(self.rows as f64 / 2.0, self.rows as f64 * 2.0) as u64;
        self.rows = next.clamp(self.min_rows, self.max_rows);
    }
}

/// One value of a key part as a chunk bound, in a form a queue message can carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyValue {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// Bytes: text in utf8mb4 or a binary value, written as hex.
    Hex(String),
    /// A date or time: year, month, day, hour, minute, second, microsecond.
    Date([u32; 7]),
    /// A floating point number.
    Float(f64),
    /// A TIME: negative (1) or not (0), days, hours, minutes, seconds, microseconds.
    Time([u32; 6]),
}

impl KeyValue {
    /// The bound as the driver's value; an error (naming what is wrong) for hex that is
    /// not pairs of hex digits or a date whose parts are out of range.
    pub fn to_value(&self) -> Result<Value, String> {
        Ok(match self {
            Self::Int(i) => Value::Int(*i),
            Self::Uint(u) => Value::UInt(*u),
            Self::Hex(h) => Value::Bytes(from_hex(h)?),
            Self::Date(d) => {
                let narrow = |i: usize, max: u32| {
                    u8::try_from(d[i])
                        .ok()
                        .filter(|v| u32::from(*v) <= max)
                        .ok_or_else(|| format!("date part {i} is out of range: {}", d[i]))
                };
                let year = u16::try_from(d[0])
                    .ok()
                    .filter(|y| *y <= 9999)
                    .ok_or_else(|| format!("date year is out of range: {}", d[0]))?;
                if d[6] > 999_999 {
                    return Err(format!("date microseconds are out of range: {}", d[6]));
                }
                Value::Date(
                    year,
                    narrow(1, 12)?,
                    narrow(2, 31)?,
                    narrow(3, 23)?,
                    narrow(4, 59)?,
                    narrow(5, 59)?,
                    d[6],
                )
            }
            Self::Float(f) if f.is_finite() => Value::Double(*f),
            Self::Float(f) => return Err(format!("float is not finite: {f}")),
            Self::Time(t) => {
                let part = |i: usize, max: u32| {
                    u8::try_from(t[i])
                        .ok()
                        .filter(|v| u32::from(*v) <= max)
                        .ok_or_else(|| format!("time part {i} is out of range: {}", t[i]))
                };
                if t[0] > 1 || t[1] > 34 || t[5] > 999_999 {
                    return Err(format!("time is out of range: {t:?}"));
                }
                Value::Time(
                    t[0] == 1,
                    t[1],
                    part(2, 23)?,
                    part(3, 59)?,
                    part(4, 59)?,
                    t[5],
                )
            }
        })
    }

    /// Whether this kind of value can bound a key column of `column`'s type: integers
    /// for integer and YEAR columns, dates for DATE, DATETIME and TIMESTAMP, times for
    /// TIME, floats for FLOAT and DOUBLE, hex bytes for every other (text, binary, decimal,
    /// BIT, ENUM, SET).
    pub fn fits(&self, column: &Column) -> Result<(), String> {
        let expected = match column.data_type.as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                matches!(self, Self::Int(_) | Self::Uint(_))
            }
            "float" | "double" | "real" => matches!(self, Self::Float(_)),
            "date" | "datetime" | "timestamp" => matches!(self, Self::Date(_)),
            "time" => matches!(self, Self::Time(_)),
            _ => matches!(self, Self::Hex(_)),
        };
        if expected {
            Ok(())
        } else {
            Err(format!(
                "a {} value cannot bound key column {} of type {}",
                self.kind(),
                column.name,
                column.column_type
            ))
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Int(_) => "int",
            Self::Uint(_) => "uint",
            Self::Hex(_) => "hex",
            Self::Date(_) => "date",
            Self::Float(_) => "float",
            Self::Time(_) => "time",
        }
    }

    /// The driver's value as a bound; `None` for NULL, which keys do not hold.
    #[must_use]
    pub fn from_value(value: &Value) -> Option<Self> {
        Some(match value {
            Value::Int(i) => Self::Int(*i),
            Value::UInt(u) => Self::Uint(*u),
            Value::Bytes(b) => Self::Hex(to_hex(b)),
            Value::Date(y, mo, d, h, mi, s, us) => Self::Date([
                u32::from(*y),
                u32::from(*mo),
                u32::from(*d),
                u32::from(*h),
                u32::from(*mi),
                u32::from(*s),
                *us,
            ]),
            Value::Float(f) => Self::Float(f64::from(*f)),
            Value::Double(f) => Self::Float(*f),
            Value::Time(negative, days, h, mi, s, us) => Self::Time([
                u32::from(*negative),
                *days,
                u32::from(*h),
                u32::from(*mi),
                u32::from(*s),
                *us,
            ]),
            Value::NULL => return None,
        })
    }
}

/// Upper-case hex of `bytes`.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// The bytes `text` spells as pairs of hex digits (either case); an error for anything
/// else, so a bad bound is refused rather than shortened.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("hex has an odd number of digits: {}", text.len()));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| "hex holds a character that is not a hex digit".to_owned())
        })
        .collect()
}

/// A chunk: the keys after `lower` up to and including `upper`; an absent bound is open.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KeyRange {
    /// Keys strictly greater than this one; from the table's start when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<Vec<KeyValue>>,
    /// Keys up to and including this one; to the table's end when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Vec<KeyValue>>,
}

impl KeyRange {
    /// The whole table.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// The driver's values of `bound` for a key of `key`'s columns: one value per column,
    /// each of a kind that fits its column and decoding cleanly. Anything else is an
    /// error, so a bound is never shortened, padded with NULL or stretched.
    pub fn bound_values(bound: &[KeyValue], key: &[Column]) -> Result<Vec<Value>, String> {
        if bound.len() != key.len() {
            return Err(format!(
                "it has {} parts and the key has {} columns",
                bound.len(),
                key.len()
            ));
        }
        bound
            .iter()
            .zip(key)
            .map(|(value, column)| {
                value.fits(column)?;
                value
                    .to_value()
                    .map_err(|e| format!("key column {}: {e}", column.name))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_grow_toward_the_target_time_at_most_twofold() {
        let mut s = ChunkSizer::new(Duration::from_millis(250), 1_000, 100, 50_000);
        s.observe(1_000, Duration::from_millis(10));
        assert_eq!(s.rows(), 2_000);
        s.observe(2_000, Duration::from_millis(200));
        assert_eq!(s.rows(), 2_500);
        s.observe(2_500, Duration::from_secs(10));
        assert_eq!(s.rows(), 1_250);
        for _ in 0..20 {
            s.observe(s.rows(), Duration::from_millis(1));
        }
        assert_eq!(s.rows(), 50_000);
        s.observe(0, Duration::ZERO);
        assert_eq!(s.rows(), 50_000);
    }

    #[test]
    fn bounds_survive_a_queue_message() {
        let values = [
            Value::Int(-4),
            Value::UInt(u64::MAX),
            Value::Bytes(b"caf\xc3\xa9 \x00".to_vec()),
            Value::Date(2026, 12, 4, 15, 20, 1, 123_456),
            Value::Time(true, 2, 3, 4, 5, 6),
        ];
        for v in values {
            let bound = KeyValue::from_value(&v).unwrap();
            let json = serde_json::to_string(&bound).unwrap();
            let back: KeyValue = serde_json::from_str(&json).unwrap();
            assert_eq!(back.to_value().unwrap(), v, "{json}");
        }
        assert_eq!(KeyValue::from_value(&Value::NULL), None);
    }

    fn column(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            charset: None,
            collation: None,
            nullable: false,
            precision: None,
            scale: None,
        }
    }

    #[test]
    fn hex_must_be_whole_pairs_of_hex_digits() {
        assert_eq!(from_hex("41ff00").unwrap(), vec![0x41, 0xff, 0x00]);
        assert_eq!(from_hex("aBcD").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(from_hex("").unwrap(), Vec::<u8>::new());
        assert_eq!(
            from_hex("zz").unwrap_err(),
            "hex holds a character that is not a hex digit"
        );
        assert_eq!(
            from_hex("414").unwrap_err(),
            "hex has an odd number of digits: 3"
        );
        // `from_str_radix` alone would take a sign: "+1" is not two hex digits.
        assert!(from_hex("+1").is_err());
        assert!(from_hex("é").is_err());
        assert!(KeyValue::Hex("4z".into()).to_value().is_err());
    }

    #[test]
    fn out_of_range_dates_and_non_finite_floats_are_refused() {
        assert_eq!(
            KeyValue::Date([2026, 13, 1, 0, 0, 0, 0]).to_value(),
            Err("date part 1 is out of range: 13".to_owned())
        );
        assert!(
            KeyValue::Date([70_000, 1, 1, 0, 0, 0, 0])
                .to_value()
                .is_err()
        );
        assert!(
            KeyValue::Date([2026, 1, 1, 0, 0, 0, 1_000_000])
                .to_value()
                .is_err()
        );
        assert!(KeyValue::Float(f64::NAN).to_value().is_err());
        assert_eq!(
            KeyValue::Time([1, 0, 0, 49, 53, 0]).to_value(),
            Ok(Value::Time(true, 0, 0, 49, 53, 0))
        );
        assert!(KeyValue::Time([2, 0, 0, 0, 0, 0]).to_value().is_err());
        assert_eq!(
            KeyValue::Time([0, 0, 0, 60, 0, 0]).to_value(),
            Err("time part 3 is out of range: 60".to_owned())
        );
        assert_eq!(KeyValue::Float(1.5).to_value(), Ok(Value::Double(1.5)));
    }

    #[test]
    fn a_bound_needs_one_fitting_value_per_key_column() {
        let id = [column("id", "bigint")];
        assert_eq!(
            KeyRange::bound_values(&[KeyValue::Int(5)], &id),
            Ok(vec![Value::Int(5)])
        );
        assert_eq!(
            KeyRange::bound_values(&[KeyValue::Uint(5)], &id),
            Ok(vec![Value::UInt(5)])
        );
        assert_eq!(
            KeyRange::bound_values(&[], &id).unwrap_err(),
            "it has 0 parts and the key has 1 columns"
        );
        assert_eq!(
            KeyRange::bound_values(&[KeyValue::Int(1), KeyValue::Int(2)], &id).unwrap_err(),
            "it has 2 parts and the key has 1 columns"
        );
        assert_eq!(
            KeyRange::bound_values(&[KeyValue::Hex("41".into())], &id).unwrap_err(),
            "a hex value cannot bound key column id of type bigint"
        );
        let composite = [
            column("merchant", "varchar"),
            column("day", "date"),
            column("score", "double"),
        ];
        let good = [
            KeyValue::Hex("6163".into()),
            KeyValue::Date([2026, 12, 4, 0, 0, 0, 0]),
            KeyValue::Float(0.25),
        ];
        assert_eq!(
            KeyRange::bound_values(&good, &composite),
            Ok(vec![
                Value::Bytes(b"ac".to_vec()),
                Value::Date(2026, 12, 4, 0, 0, 0, 0),
                Value::Double(0.25)
            ])
        );
        let mut text_as_int = good.clone();
        text_as_int[0] = KeyValue::Int(1);
        assert_eq!(
            KeyRange::bound_values(&text_as_int, &composite).unwrap_err(),
            "a int value cannot bound key column merchant of type varchar"
        );
        let mut bad_hex = good.clone();
        bad_hex[0] = KeyValue::Hex("zz".into());
        assert_eq!(
            KeyRange::bound_values(&bad_hex, &composite).unwrap_err(),
            "key column merchant: hex holds a character that is not a hex digit"
        );
        let mut int_as_date = good;
        int_as_date[1] = KeyValue::Int(20_261_204);
        assert!(KeyRange::bound_values(&int_as_date, &composite).is_err());
    }
}
