//! The replication validator: proves that the target database holds exactly what the source
//! holds while replication runs, table by table, down to the keys that differ.
//!
//! The engine ([`engine`]) is shared by the Lambda function (SQS-driven, [`lambda`], whose
//! docs give its message, result and metric formats; configuration in [`config`]) and the
//! `validate` command-line binary.
//!
//! # Report
//!
//! One JSON object per run, `{"tables": [...]}`, one entry per table ([`TableReport`]):
//!
//! ```json
//! {"table": "payments", "status": "mismatch", "rows_source": 999970,
//!  "rows_target": 999960, "missing_in_target": [["17"]], "missing_in_source": [["1000001"]],
//!  "different": [["42"]], "in_flight": [], "key": ["id"], "chunks": 9, "elapsed_ms": 812}
//! ```
//!
//! `status` is `match`, `mismatch`, `schema_mismatch` (with `schema_differences`) or
//! `error` (with `error`). Each key is an array of its column values as strings in key
//! column order; binary key parts are upper-case hex, dates and times their text in UTC
//! (`2026-12-04 15:20:01.123456`). `in_flight` keys still differed after the re-check but
//! changed on the source within the lag window. `aggregates` (when asked) lists per column
//! and group the `count`, `sum`, `min` and `max` on each side with a `matches` flag.
//!
//! # Known limits
//!
//! - A table without a primary key or unique NOT NULL key is compared by count and
//!   whole-table checksum only; its differing rows are not named.
//! - The 64-bit fingerprint (CRC32 and CRC32C) needs MariaDB 10.8 or later on both sides;
//!   otherwise MD5 is used, about twice as slow. It builds each row's string twice; the
//!   `crc32` choice builds it once and is about a third faster, but a changed row then
//!   keeps its fingerprint with a chance of one in 2^32 (pt-table-checksum's default).
//! - FLOAT and DOUBLE are hashed as the server prints them; a MySQL source against a
//!   MariaDB target may print the same value differently and report it as different.
//! - A differing key range whose source side holds fewer than 16 rows is read whole on
//!   both sides, however many rows the target holds there.
//! - Rows in flight are recognised by the source row's change time only: a row deleted on
//!   the source has none, so a delete not yet replicated is reported as `missing_in_source`.
//! - Change times are compared with the source server's clock (`NOW(6)` in UTC); a
//!   DATETIME change column must hold UTC.

pub mod chunk;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod lambda;
pub mod report;
pub mod schema;
pub mod sql;

pub use db::{Database, Endpoint, Limits, Side};
pub use engine::{Options, validate_table};
pub use error::ValidatorError;
pub use report::{Report, Status, TableReport};
