//! Chunk sizing toward a target query time, as pt-table-checksum sizes its chunks, and the
//! key ranges chunks cover.

use std::time::Duration;

use mysql_async::Value;
use serde::{Deserialize, Serialize};

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
}

impl KeyValue {
    /// The bound as the driver's value.
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Self::Int(i) => Value::Int(*i),
            Self::Uint(u) => Value::UInt(*u),
            Self::Hex(h) => Value::Bytes(from_hex(h)),
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the parts came from the driver's own narrower types"
            )]
            Self::Date(d) => Value::Date(
                d[0] as u16,
                d[1] as u8,
                d[2] as u8,
                d[3] as u8,
                d[4] as u8,
                d[5] as u8,
                d[6],
            ),
            Self::Float(f) => Value::Double(*f),
        }
    }

    /// The driver's value as a bound; `None` for NULL and TIME, which keys do not use.
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
            Value::NULL | Value::Time(..) => return None,
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

fn from_hex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .filter_map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
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
        ];
        for v in values {
            let bound = KeyValue::from_value(&v).unwrap();
            let json = serde_json::to_string(&bound).unwrap();
            let back: KeyValue = serde_json::from_str(&json).unwrap();
            assert_eq!(back.to_value(), v, "{json}");
        }
        assert_eq!(KeyValue::from_value(&Value::NULL), None);
    }
}
