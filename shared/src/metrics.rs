//! CloudWatch metrics written as embedded metric format (EMF) records on stdout.
//!
//! Lambda sends stdout to CloudWatch Logs, which turns each EMF record into metric data, so
//! alarms can gate the cutover on what the functions measure without a `PutMetricData`
//! call on the request path. A record follows the specification's shape:
//!
//! ```json
//! {"_aws":{"Timestamp":1733300000000,"CloudWatchMetrics":[{"Namespace":"PaymentMigration",
//!   "Dimensions":[["MigrationId","Function"]],"Metrics":[{"Name":"Mismatches","Unit":"Count"}]}]},
//!  "MigrationId":"cutover-1","Function":"replication-validator","Mismatches":3}
//! ```

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The specification's limit of metrics in one record.
const MAX_METRICS_PER_RECORD: usize = 100;

/// The unit of a metric value, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count of things.
    Count,
    /// A number of seconds.
    Seconds,
    /// A number of milliseconds.
    Milliseconds,
    /// A percentage, 0 to 100.
    Percent,
    /// A number of bytes.
    Bytes,
    /// No unit.
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Seconds => "Seconds",
            Self::Milliseconds => "Milliseconds",
            Self::Percent => "Percent",
            Self::Bytes => "Bytes",
            Self::None => "None",
        }
    }
}

/// One value to record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    /// The metric's name.
    pub name: &'a str,
    /// Its value; values that are not finite are left out, as CloudWatch rejects them.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
}

impl<'a> Metric<'a> {
    /// A count.
    #[must_use]
    pub fn count(name: &'a str, value: u64) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
        let value = value as f64;
        Self {
            name,
            value,
            unit: Unit::Count,
        }
    }
}

/// Writes EMF records for one function of one migration.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    dimensions: Vec<(String, String)>,
}

impl Metrics {
    /// Records under `namespace`, with the dimensions `MigrationId` and `Function`.
    #[must_use]
    pub fn new(namespace: &str, function: &str, migration_id: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            dimensions: vec![
                ("MigrationId".to_owned(), migration_id.to_owned()),
                ("Function".to_owned(), function.to_owned()),
            ],
        }
    }

    /// The same writer with one more dimension, `name` = `value`, on every record; for a
    /// metric split by a category, such as a count by outcome.
    #[must_use]
    pub fn with_dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The EMF records for `metrics` at `timestamp_ms`: one record per hundred metrics.
    #[must_use]
    pub fn records(&self, timestamp_ms: u64, metrics: &[Metric<'_>]) -> Vec<Value> {
        let finite: Vec<&Metric<'_>> = metrics.iter().filter(|m| m.value.is_finite()).collect();
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        finite
            .chunks(MAX_METRICS_PER_RECORD)
            .map(|part| {
                let definitions: Vec<Value> = part
                    .iter()
                    .map(|m| json!({ "Name": m.name, "Unit": m.unit.as_str() }))
                    .collect();
                let mut record = Map::new();
                record.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": timestamp_ms,
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": [dimension_names],
                            "Metrics": definitions,
                        }],
                    }),
                );
                for (name, value) in &self.dimensions {
                    record.insert(name.clone(), Value::String(value.clone()));
                }
                for m in part {
                    record.insert(m.name.to_owned(), json!(m.value));
                }
                Value::Object(record)
            })
            .collect()
    }

    /// Writes the records for `metrics`, stamped now, to stdout, one JSON object a line.
    pub fn emit(&self, metrics: &[Metric<'_>]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let mut out = std::io::stdout().lock();
        for record in self.records(ms, metrics) {
            if let Err(e) = writeln!(out, "{record}") {
                tracing::warn!(error = %e, "failed to write metric record");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_follows_the_embedded_metric_format() {
        let m = Metrics::new("PaymentMigration", "replication-validator", "cutover-1");
        let records = m.records(
            1_733_300_000_000,
            &[
                Metric::count("Mismatches", 3),
                Metric {
                    name: "Lag",
                    value: 1.5,
                    unit: Unit::Seconds,
                },
            ],
        );
        assert_eq!(records.len(), 1);
        let expected = json!({
            "_aws": {
                "Timestamp": 1_733_300_000_000_u64,
                "CloudWatchMetrics": [{
                    "Namespace": "PaymentMigration",
                    "Dimensions": [["MigrationId", "Function"]],
                    "Metrics": [
                        {"Name": "Mismatches", "Unit": "Count"},
                        {"Name": "Lag", "Unit": "Seconds"}
                    ]
                }]
            },
            "MigrationId": "cutover-1",
            "Function": "replication-validator",
            "Mismatches": 3.0,
            "Lag": 1.5
        });
        assert_eq!(records[0], expected);
    }

    #[test]
    fn an_added_dimension_is_declared_and_valued() {
        let m = Metrics::new("Ns", "f", "m").with_dimension("Outcome", "remediated");
        let record = &m.records(0, &[Metric::count("Remediations", 1)])[0];
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["MigrationId", "Function", "Outcome"]])
        );
        assert_eq!(record["Outcome"], "remediated");
        assert_eq!(record["Remediations"], json!(1.0));
    }

    #[test]
    fn more_than_a_hundred_metrics_split_into_records_and_non_finite_values_are_dropped() {
        let names: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
        let mut metrics: Vec<Metric<'_>> = names.iter().map(|n| Metric::count(n, 1)).collect();
        metrics.push(Metric {
            name: "bad",
            value: f64::NAN,
            unit: Unit::None,
        });
        let records = Metrics::new("Ns", "f", "m").records(0, &metrics);
        let sizes: Vec<usize> = records
            .iter()
            .map(|r| {
                r["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [100, 50]);
        assert!(records.iter().all(|r| r.get("bad").is_none()));
        assert_eq!(records[1]["m149"], json!(1.0));
    }
}
