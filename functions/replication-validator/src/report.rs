//! What a validation found, in the JSON shape the command-line binary prints and the Lambda
//! stores.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::schema::SchemaDiff;

/// The verdict on one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Both sides hold the same rows (rows still in flight aside, which are listed).
    Match,
    /// Rows or aggregates differ.
    Mismatch,
    /// The tables' columns or keys differ, so rows were not compared.
    SchemaMismatch,
    /// The table could not be validated; `error` says why.
    Error,
}

/// Count, sum, minimum and maximum of one column in one group on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Rows whose value is not NULL.
    pub count: u64,
    /// The exact sum as the database writes it (DECIMAL stays exact).
    pub sum: Option<String>,
    /// The smallest value.
    pub min: Option<String>,
    /// The largest value.
    pub max: Option<String>,
}

/// One aggregate of one group, on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateReport {
    /// The aggregated column.
    pub column: String,
    /// The grouping values (`NULL` as null), in the order the grouping was asked for.
    pub group: Vec<Option<String>>,
    /// The source's figures; absent when the source has no such group.
    pub source: Option<Stats>,
    /// The target's figures; absent when the target has no such group.
    pub target: Option<Stats>,
    /// Whether both sides agree exactly.
    pub matches: bool,
}

/// The verdict on one table with the keys that differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReport {
    /// The table's name.
    pub table: String,
    /// The verdict.
    pub status: Status,
    /// Rows counted on the source, when it was read.
    pub rows_source: Option<u64>,
    /// Rows counted on the target, when it was read.
    pub rows_target: Option<u64>,
    /// Keys only the source has.
    pub missing_in_target: Vec<Vec<String>>,
    /// Keys only the target has.
    pub missing_in_source: Vec<Vec<String>>,
    /// Keys whose rows differ.
    pub different: Vec<Vec<String>>,
    /// Keys that still differed after the re-check but changed on the source within the lag
    /// window: replication has probably not caught up with them yet.
    pub in_flight: Vec<Vec<String>>,
    /// The key's columns, the order of each key's values.
    pub key: Vec<String>,
    /// The schema differences of a `schema_mismatch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_differences: Option<SchemaDiff>,
    /// Column aggregates, beside the row comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregates: Vec<AggregateReport>,
    /// How the table was compared when that is not row by row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the table could not be validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many chunks were compared.
    pub chunks: u64,
    /// How long the table took, in milliseconds.
    pub elapsed_ms: u64,
}

impl TableReport {
    /// An empty report on `table` with `status`.
    #[must_use]
    pub fn new(table: &str, status: Status) -> Self {
        Self {
            table: table.to_owned(),
            status,
            rows_source: None,
            rows_target: None,
            missing_in_target: Vec::new(),
            missing_in_source: Vec::new(),
            different: Vec::new(),
            in_flight: Vec::new(),
            key: Vec::new(),
            schema_differences: None,
            aggregates: Vec::new(),
            note: None,
            error: None,
            chunks: 0,
            elapsed_ms: 0,
        }
    }

    /// A report saying `table` could not be validated because of `error`.
    #[must_use]
    pub fn failed(table: &str, error: &dyn std::error::Error) -> Self {
        let mut report = Self::new(table, Status::Error);
        report.error = Some(migration_shared::error::chain(error));
        report
    }

    /// Sets the status from what was found: a mismatch when any key or aggregate differs.
    pub fn settle_status(&mut self) {
        if matches!(self.status, Status::Error | Status::SchemaMismatch) {
            return;
        }
        let differs = !self.missing_in_target.is_empty()
            || !self.missing_in_source.is_empty()
            || !self.different.is_empty()
            || self.aggregates.iter().any(|a| !a.matches);
        if differs || self.status == Status::Mismatch {
            self.status = Status::Mismatch;
        }
        for list in [
            &mut self.missing_in_target,
            &mut self.missing_in_source,
            &mut self.different,
            &mut self.in_flight,
        ] {
            list.sort_by(|a, b| natural_key_order(a, b));
        }
    }
}

/// All tables of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// One entry per table, in the order asked.
    pub tables: Vec<TableReport>,
}

impl Report {
    /// The process exit code: 0 when every table matches, 2 when any failed, 1 otherwise.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        if self.tables.iter().any(|t| t.status == Status::Error) {
            2
        } else {
            u8::from(self.tables.iter().any(|t| t.status != Status::Match))
        }
    }
}

/// Orders keys part by part, numbers by value and everything else by bytes, so `9` comes
/// before `10` in a report.
#[must_use]
pub fn natural_key_order(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<i128>(), y.parse::<i128>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            _ => x.as_bytes().cmp(y.as_bytes()),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn numbers_sort_by_value_and_text_by_bytes() {
        let mut keys = vec![key(&["10", "b"]), key(&["9", "z"]), key(&["10", "B"])];
        keys.sort_by(|a, b| natural_key_order(a, b));
        assert_eq!(
            keys,
            [key(&["9", "z"]), key(&["10", "B"]), key(&["10", "b"])]
        );
    }

    #[test]
    fn the_exit_code_follows_the_worst_table() {
        let mut report = Report {
            tables: vec![TableReport::new("a", Status::Match)],
        };
        assert_eq!(report.exit_code(), 0);
        report
            .tables
            .push(TableReport::new("b", Status::SchemaMismatch));
        assert_eq!(report.exit_code(), 1);
        report.tables.push(TableReport::new("c", Status::Error));
        assert_eq!(report.exit_code(), 2);
    }

    #[test]
    fn any_differing_key_or_aggregate_makes_a_mismatch() {
        let mut t = TableReport::new("t", Status::Match);
        t.in_flight.push(key(&["1"]));
        t.settle_status();
        assert_eq!(t.status, Status::Match);
        t.different.push(key(&["2"]));
        t.settle_status();
        assert_eq!(t.status, Status::Mismatch);
    }
}
