//! The comparison of one table: shapes, chunks checksummed inside both databases at once,
//! differing chunks narrowed down to their keys, in-flight rows re-checked, aggregates.
//!
//! # Chunks
//!
//! Chunks are key ranges planned on the source and sized toward a target query time. A
//! table keyed by one integer column is cut by key value (`id > a AND id <= b`), the width
//! following the source's rows per key value. A chunk is first checksummed whole (count
//! and XOR of row fingerprints); a differing one is read again as a count and XOR per small
//! bucket of keys (`id DIV w`, about 128 rows each), and only the rows of differing buckets
//! are read. Once most chunks of a table differ, chunks go straight to the bucketed pass,
//! which costs the server about a third more than a plain checksum but saves the second
//! pass. Any other
//! key is cut at the key that follows a number of rows
//! (`SELECT key … WHERE key > ? ORDER BY key LIMIT 1 OFFSET n`); a differing chunk is
//! split the same way into smaller ranges, checksummed again, until a range is small
//! enough to read.
//!
//! # Keys across collations
//!
//! Range predicates compare keys under each key column's own collation, which the schema
//! check requires to be the same on both sides (a changed key collation is a
//! `schema_mismatch`). With the same collation a range selects, on each side, exactly the
//! keys that sort inside it, so a row is looked for in the same chunk on both sides, and
//! keys that the collation holds equal (`abc` and `ABC` under `utf8mb4_general_ci`) fall in
//! the same chunk. Inside a chunk rows are matched by the exact bytes of their keys in a
//! hash map, never by an ordering, so `abc` against `ABC` is reported as one key missing
//! on each side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use crate::chunk::{ChunkSizer, KeyRange, KeyValue};
use crate::db::{Database, Flavor, Side};
use crate::error::ValidatorError;
use crate::report::{AggregateReport, Stats, Status, TableReport};
use crate::schema::{self, Column, TableShape};
use crate::sql::{self, Hash, TableSql, ident};

/// A progress callback: called with the source rows of each compared chunk.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Rows changed on the source within a lag window are re-checked before being reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The column holding each row's last change time (`updated_at`); a DATETIME or
    /// TIMESTAMP in UTC.
    pub change_column: String,
    /// A row changed on the source less than this long ago may not have reached the
    /// target yet.
    pub lag_window: Duration,
    /// How long to wait before reading a differing recent row again.
    pub recheck_delay: Duration,
}

/// How an aggregate is grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By a column's value.
    Column(String),
    /// By the calendar day (UTC) of a date or time column.
    Day(String),
}

/// Count, sum, minimum and maximum of a column, optionally grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateSpec {
    /// The column aggregated.
    pub column: String,
    /// The grouping, possibly empty.
    pub group_by: Vec<GroupBy>,
}

impl AggregateSpec {
    /// Parses `COLUMN` or `COLUMN:GROUP,GROUP`, a group being a column or `day(COLUMN)`.
    pub fn parse(text: &str) -> Result<Self, ValidatorError> {
        let (column, groups) = text.split_once(':').unwrap_or((text, ""));
        let column = column.trim();
        if column.is_empty() {
            return Err(ValidatorError::Invalid(
                "invalid aggregate: expected COLUMN or COLUMN:GROUP,day(COLUMN)".into(),
            ));
        }
        let group_by = groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| {
                g.strip_prefix("day(")
                    .and_then(|r| r.strip_suffix(')'))
                    .map_or_else(
                        || GroupBy::Column(g.to_owned()),
                        |c| GroupBy::Day(c.to_owned()),
                    )
            })
            .collect();
        Ok(Self {
            column: column.to_owned(),
            group_by,
        })
    }
}

/// How a validation runs.
#[derive(Clone)]
pub struct Options {
    /// The query time each chunk aims at.
    pub chunk_target: Duration,
    /// The rows of the first chunk.
    pub chunk_start_rows: u64,
    /// The fewest rows a chunk holds.
    pub chunk_min_rows: u64,
    /// The most rows a chunk holds.
    pub chunk_max_rows: u64,
    /// Chunks compared at once; each uses one connection on each side.
    pub concurrency: usize,
    /// A differing range with at most this many rows on each side is read row by row.
    pub pull_rows: u64,
    /// Rows per bucket in an integer-keyed chunk.
    pub bucket_rows: u64,
    /// In-flight handling; without it every difference is a mismatch.
    pub in_flight: Option<InFlight>,
    /// Aggregates, computed for tables that have the column.
    pub aggregates: Vec<AggregateSpec>,
    /// The fingerprint; chosen from the servers when absent.
    pub hash: Option<Hash>,
    /// Called as chunks complete.
    pub progress: Option<Progress>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            chunk_target: Duration::from_millis(250),
            chunk_start_rows: 20_000,
            chunk_min_rows: 1_000,
            chunk_max_rows: 400_000,
            concurrency: 2,
            pull_rows: 20_000,
            bucket_rows: 128,
            in_flight: None,
            aggregates: Vec::new(),
            hash: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("chunk_target", &self.chunk_target)
            .field("concurrency", &self.concurrency)
            .field("in_flight", &self.in_flight)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// How a key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    /// Only the source has the key.
    MissingInTarget,
    /// Only the target has the key.
    MissingInSource,
    /// Both have it with different values.
    Different,
}

/// One differing key, before in-flight rows are re-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RowDiff {
    /// The key as text, in key column order (binary parts in hex).
    pub key: Vec<String>,
    /// The key's values as read, to read the row again.
    pub raw: Vec<Value>,
    /// How it differs.
    pub kind: DiffKind,
    /// How many microseconds ago the source row changed, when known.
    pub source_age_us: Option<i64>,
}

/// What comparing a key range found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RangeOutcome {
    /// Source rows in the range.
    pub rows_source: u64,
    /// Target rows in the range.
    pub rows_target: u64,
    /// Differing keys.
    pub diffs: Vec<RowDiff>,
    /// Chunks compared.
    pub chunks: u64,
}

impl RangeOutcome {
    fn absorb(&mut self, other: Self) {
        self.rows_source += other.rows_source;
        self.rows_target += other.rows_target;
        self.diffs.extend(other.diffs);
        self.chunks += other.chunks;
    }
}

/// Differences after the re-check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Keys only the source has.
    pub missing_in_target: Vec<Vec<String>>,
    /// Keys only the target has.
    pub missing_in_source: Vec<Vec<String>>,
    /// Keys whose rows differ.
    pub different: Vec<Vec<String>>,
    /// Keys still differing but changed within the lag window.
    pub in_flight: Vec<Vec<String>>,
}

/// A table ready to compare: both shapes agree and it has a key.
pub struct Table<'a> {
    source: &'a Database,
    target: &'a Database,
    name: String,
    sql: TableSql,
    columns: Vec<Column>,
    /// The bucket width of an integer key, `None` for any other key.
    bucket_width: Option<i128>,
    /// Smallest and largest source key of an integer key.
    int_span: Option<(i128, i128)>,
    /// Source rows per key value of an integer key, estimated.
    int_density: f64,
    /// Chunks compared so far, and how many of them differed.
    chunks_compared: AtomicU64,
    chunks_differing: AtomicU64,
    options: &'a Options,
}

/// What [`prepare`] found.
pub enum Prepared<'a> {
    /// The table can be compared chunk by chunk.
    Ready(Box<Table<'a>>),
    /// The verdict is already known: a schema mismatch, or a table without a key compared
    /// whole.
    Done(Box<TableReport>),
}

/// The fingerprint both servers can compute: CRC32 with CRC32C when both have CRC32C, MD5
/// otherwise.
#[must_use]
pub fn choose_hash(source: Flavor, target: Flavor) -> Hash {
    match (source, target) {
        (Flavor::MariaDb { crc32c: true }, Flavor::MariaDb { crc32c: true }) => Hash::Crc64,
        _ => Hash::Md5,
    }
}

/// The columns as both sides hold them: nullable when either side allows NULL, and marked
/// for conversion to utf8mb4 when either side stores text in another character set.
fn merge_columns(source: &TableShape, target: &TableShape) -> Vec<Column> {
    source
        .columns
        .iter()
        .map(|s| {
            let mut merged = s.clone();
            if let Some(t) = target
                .columns
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&s.name))
            {
                merged.nullable |= t.nullable;
                if s.charset != t.charset && s.charset.is_some() {
                    merged.charset = Some("mixed".into());
                }
            }
            merged
        })
        .collect()
}

fn is_integer(column: &Column) -> bool {
    matches!(
        column.data_type.as_str(),
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
    )
}

fn value_i128(value: &Value) -> Option<i128> {
    match value {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn value_u64(value: &Value) -> u64 {
    value_i128(value)
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        other => Some(other.as_sql(true)),
    }
}

/// An integer bound as the driver's value, clamped to the range of BIGINT and BIGINT
/// UNSIGNED together (a bucket's edge may lie just outside the column's range).
fn int_value(v: i128) -> Value {
    if let Ok(i) = i64::try_from(v) {
        Value::Int(i)
    } else if v < 0 {
        Value::Int(i64::MIN)
    } else {
        Value::UInt(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// Reads both shapes and decides how to compare `table`.
pub async fn prepare<'a>(
    source: &'a Database,
    target: &'a Database,
    table: &str,
    options: &'a Options,
) -> Result<Prepared<'a>, ValidatorError> {
    let (s, t) = futures::try_join!(
        schema::discover(source, table),
        schema::discover(target, table)
    )?;
    let diff = schema::compare(&s, &t);
    if !diff.is_empty() {
        let mut report = TableReport::new(table, Status::SchemaMismatch);
        report.key = s.key.iter().map(|c| c.name.clone()).collect();
        report.schema_differences = Some(diff);
        return Ok(Prepared::Done(Box::new(report)));
    }
    let hash = options
        .hash
        .unwrap_or_else(|| choose_hash(source.flavor(), target.flavor()));
    let columns = merge_columns(&s, &t);
    let sql = TableSql::new(table, &columns, &s.key, hash);
    let mut ready = Table {
        source,
        target,
        name: table.to_owned(),
        sql,
        columns,
        bucket_width: None,
        int_span: None,
        int_density: 1.0,
        chunks_compared: AtomicU64::new(0),
        chunks_differing: AtomicU64::new(0),
        options,
    };
    if s.key.is_empty() {
        return ready
            .whole_table()
            .await
            .map(|r| Prepared::Done(Box::new(r)));
    }
    if s.key.len() == 1 && is_integer(&s.key[0]) {
        ready.plan_integer_key().await?;
    }
    Ok(Prepared::Ready(Box::new(ready)))
}

impl Table<'_> {
    /// The table's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's column names.
    #[must_use]
    pub fn key_names(&self) -> Vec<String> {
        self.sql.key.iter().map(|c| c.name.clone()).collect()
    }

    fn db(&self, side: Side) -> &Database {
        match side {
            Side::Source => self.source,
            Side::Target => self.target,
        }
    }

    async fn conn(&self, side: Side) -> Result<mysql_async::Conn, ValidatorError> {
        self.db(side).conn(&self.name).await
    }

    fn query_error(
        &self,
        side: Side,
        action: &'static str,
    ) -> impl Fn(mysql_async::Error) -> ValidatorError {
        let name = self.name.clone();
        move |e| ValidatorError::query(side, &name, action, &e)
    }

    /// A table without a key: row count and whole-table checksum on both sides.
    async fn whole_table(&self) -> Result<TableReport, ValidatorError> {
        let started = Instant::now();
        let query = |side: Side| async move {
            let mut conn = self.conn(side).await?;
            let row: Option<(u64, u64, Option<String>)> = conn
                .query_first(self.sql.whole_table_checksum())
                .await
                .map_err(self.query_error(side, "checksum"))?;
            Ok::<_, ValidatorError>(row.unwrap_or((0, 0, None)))
        };
        let (s, t) = futures::try_join!(query(Side::Source), query(Side::Target))?;
        let mut report = TableReport::new(
            &self.name,
            if s == t {
                Status::Match
            } else {
                Status::Mismatch
            },
        );
        report.rows_source = Some(s.0);
        report.rows_target = Some(t.0);
        report.chunks = 1;
        report.note = Some(
            "no primary key and no unique key on NOT NULL columns: compared by row count and \
             whole-table checksum only, no differing rows can be named"
                .to_owned(),
        );
        report.aggregates = self.aggregates().await?;
        report.elapsed_ms = elapsed_ms(started);
        report.settle_status();
        Ok(report)
    }

    /// Reads the source's key span and picks a bucket width of about `bucket_rows` rows.
    async fn plan_integer_key(&mut self) -> Result<(), ValidatorError> {
        let key = ident(&self.sql.key[0].name);
        let mut conn = self.conn(Side::Source).await?;
        let span: Option<(Value, Value)> = conn
            .query_first(format!(
                "SELECT MIN({key}), MAX({key}) FROM {}",
                self.sql.table
            ))
            .await
            .map_err(self.query_error(Side::Source, "read the key span of"))?;
        let estimate: Option<Option<u64>> = conn
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (self.source.schema(), &self.name),
            )
            .await
            .map_err(self.query_error(Side::Source, "estimate the rows of"))?;
        drop(conn);
        let span = span.and_then(|(lo, hi)| Some((value_i128(&lo)?, value_i128(&hi)?)));
        let rows = i128::from(estimate.flatten().unwrap_or(0).max(1));
        let bucket_rows = i128::from(self.options.bucket_rows.max(1));
        let width = span.map_or(bucket_rows, |(lo, hi)| {
            ((hi - lo + 1) * bucket_rows / rows).max(1)
        });
        self.bucket_width = Some(width);
        self.int_span = span;
        if let Some((lo, hi)) = span {
            #[expect(clippy::cast_precision_loss, reason = "an estimate")]
            let density = rows as f64 / (hi - lo + 1) as f64;
            self.int_density = density;
        }
        Ok(())
    }

    /// Compares the whole table chunk by chunk, `concurrency` chunks at once, sizing each
    /// new chunk from the time the finished ones took.
    pub async fn run(&self) -> Result<RangeOutcome, ValidatorError> {
        let o = self.options;
        let sizer = Arc::new(Mutex::new(ChunkSizer::new(
            o.chunk_target,
            o.chunk_start_rows,
            o.chunk_min_rows,
            o.chunk_max_rows,
        )));
        let planner = Planner::default();
        let ranges = futures::stream::try_unfold(planner, |mut p| {
            let sizer = sizer.clone();
            async move {
                let rows = sizer.lock().map_or(o.chunk_start_rows, |s| s.rows());
                let next = p.next(self, rows).await?;
                Ok::<_, ValidatorError>(next.map(|r| (r, p)))
            }
        });
        let mut total = RangeOutcome::default();
        let results = ranges
            .map_ok(|range| {
                let sizer = sizer.clone();
                async move {
                    let (outcome, timing) = self.compare_range_timed(&range).await?;
                    if let Ok(mut s) = sizer.lock() {
                        s.observe(outcome.rows_source.max(outcome.rows_target), timing);
                    }
                    if let Some(progress) = &o.progress {
                        progress(outcome.rows_source);
                    }
                    Ok::<_, ValidatorError>(outcome)
                }
            })
            .try_buffer_unordered(o.concurrency.max(1));
        let mut results = std::pin::pin!(results);
        while let Some(outcome) = results.try_next().await? {
            total.absorb(outcome);
        }
        Ok(total)
    }

    /// The chunks of the whole table at a size read from one timed sample chunk, for work
    /// spread over many workers (each chunk compared by [`Table::compare_range`]).
    pub async fn plan(&self) -> Result<Vec<KeyRange>, ValidatorError> {
        let o = self.options;
        let mut sizer = ChunkSizer::new(
            o.chunk_target,
            o.chunk_start_rows,
            o.chunk_min_rows,
            o.chunk_max_rows,
        );
        let mut planner = Planner::default();
        let mut ranges = Vec::new();
        if let Some(sample) = planner.next(self, sizer.rows()).await? {
            let started = Instant::now();
            let (count, _) = self.checksum(Side::Source, &sample).await?;
            for _ in 0..4 {
                sizer.observe(count, started.elapsed());
            }
            ranges.push(sample);
        }
        while let Some(range) = planner.next(self, sizer.rows()).await? {
            ranges.push(range);
        }
        Ok(ranges)
    }

    async fn compare_range_timed(
        &self,
        range: &KeyRange,
    ) -> Result<(RangeOutcome, Duration), ValidatorError> {
        let Some(width) = self.bucket_width else {
            return self.compare_plain(range).await;
        };
        // While most chunks match, a plain checksum is the cheaper first pass (grouping
        // costs the server about a third more); once most differ, bucket them at once.
        let compared = self.chunks_compared.load(Ordering::Relaxed);
        let differing = self.chunks_differing.load(Ordering::Relaxed);
        self.chunks_compared.fetch_add(1, Ordering::Relaxed);
        if compared >= 2 && differing * 2 > compared {
            self.chunks_differing.fetch_add(1, Ordering::Relaxed);
            return self.compare_buckets(range, width).await;
        }
        let started = Instant::now();
        let ((s_rows, s_sum), (t_rows, t_sum)) = futures::try_join!(
            self.checksum(Side::Source, range),
            self.checksum(Side::Target, range)
        )?;
        let timing = started.elapsed();
        if (s_rows, s_sum) == (t_rows, t_sum) {
            let outcome = RangeOutcome {
                rows_source: s_rows,
                rows_target: t_rows,
                diffs: Vec::new(),
                chunks: 1,
            };
            return Ok((outcome, timing));
        }
        self.chunks_differing.fetch_add(1, Ordering::Relaxed);
        let (outcome, more) = self.compare_buckets(range, width).await?;
        Ok((outcome, timing + more))
    }

    /// A chunk of a table not keyed by one integer: checksums, then narrowing.
    async fn compare_plain(
        &self,
        range: &KeyRange,
    ) -> Result<(RangeOutcome, Duration), ValidatorError> {
        {
            let started = Instant::now();
            let ((s_rows, s_sum), (t_rows, t_sum)) = futures::try_join!(
                self.checksum(Side::Source, range),
                self.checksum(Side::Target, range)
            )?;
            let timing = started.elapsed();
            let mut outcome = RangeOutcome {
                rows_source: s_rows,
                rows_target: t_rows,
                diffs: Vec::new(),
                chunks: 1,
            };
            if (s_rows, s_sum) != (t_rows, t_sum) {
                outcome.diffs = self.narrow(range.clone(), s_rows, t_rows).await?;
            }
            Ok((outcome, timing))
        }
    }

    /// Compares one key range and names its differing keys (before any re-check).
    pub async fn compare_range(&self, range: &KeyRange) -> Result<RangeOutcome, ValidatorError> {
        Ok(self.compare_range_timed(range).await?.0)
    }

    /// The predicate selecting `range` and its parameters. Each present bound must have
    /// one value per key column, of a kind fitting that column (see
    /// [`KeyRange::bound_values`]): a bad bound is an error, never a NULL parameter.
    fn range_sql(&self, range: &KeyRange) -> Result<(String, Vec<Value>), ValidatorError> {
        let decode = |bound: Option<&Vec<KeyValue>>, which: &str| {
            bound
                .map(|b| KeyRange::bound_values(b, &self.sql.key))
                .transpose()
                .map_err(|reason| {
                    ValidatorError::Invalid(format!(
                        "invalid {which} bound of a chunk of table {}: {reason}",
                        self.name
                    ))
                })
        };
        let lower = decode(range.lower.as_ref(), "lower")?;
        let upper = decode(range.upper.as_ref(), "upper")?;
        if let (Some([l]), Some([u])) = (lower.as_deref(), upper.as_deref())
            && self.sql.key.first().is_some_and(is_integer)
            && let (Some(l), Some(u)) = (value_i128(l), value_i128(u))
            && l >= u
        {
            return Err(ValidatorError::Invalid(format!(
                "invalid chunk of table {}: lower bound {l} is not below upper bound {u}",
                self.name
            )));
        }
        let (predicate, slots) =
            sql::range_predicate(&self.sql.key, lower.is_some(), upper.is_some());
        let mut params = Vec::with_capacity(slots.len());
        for (is_upper, i) in slots {
            let bound = if is_upper { &upper } else { &lower };
            let value = bound.as_ref().and_then(|b| b.get(i)).ok_or_else(|| {
                ValidatorError::Invalid(format!(
                    "chunk predicate of table {} asks for key part {i} a bound lacks",
                    self.name
                ))
            })?;
            params.push(value.clone());
        }
        Ok((predicate, params))
    }

    async fn checksum(&self, side: Side, range: &KeyRange) -> Result<(u64, u64), ValidatorError> {
        let (predicate, params) = self.range_sql(range)?;
        let mut conn = self.conn(side).await?;
        let row: Option<(Value, Value)> = conn
            .exec_first(self.sql.checksum(&predicate), params)
            .await
            .map_err(self.query_error(side, "checksum"))?;
        Ok(row.map_or((0, 0), |(c, x)| (value_u64(&c), value_u64(&x))))
    }

    /// Per bucket of `width` key values: count and XOR of fingerprints.
    async fn buckets(
        &self,
        side: Side,
        range: &KeyRange,
        width: i128,
    ) -> Result<HashMap<i128, (u64, u64)>, ValidatorError> {
        let (predicate, params) = self.range_sql(range)?;
        let key = ident(&self.sql.key[0].name);
        let statement = format!(
            "SELECT {key} DIV {width}, COUNT(*), BIT_XOR({}) FROM {} WHERE {predicate} \
             GROUP BY 1",
            self.sql.fingerprint, self.sql.table
        );
        let mut conn = self.conn(side).await?;
        let rows: Vec<(Value, Value, Value)> = conn
            .exec(statement, params)
            .await
            .map_err(self.query_error(side, "checksum"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(b, c, x)| Some((value_i128(&b)?, (value_u64(&c), value_u64(&x)))))
            .collect())
    }

    async fn compare_buckets(
        &self,
        range: &KeyRange,
        width: i128,
    ) -> Result<(RangeOutcome, Duration), ValidatorError> {
        let started = Instant::now();
        let (s, t) = futures::try_join!(
            self.buckets(Side::Source, range, width),
            self.buckets(Side::Target, range, width)
        )?;
        let timing = started.elapsed();
        let mut outcome = RangeOutcome {
            rows_source: s.values().map(|v| v.0).sum(),
            rows_target: t.values().map(|v| v.0).sum(),
            diffs: Vec::new(),
            chunks: 1,
        };
        let mut differing: Vec<i128> = s
            .iter()
            .filter(|(b, v)| t.get(b) != Some(v))
            .map(|(b, _)| *b)
            .chain(t.keys().filter(|b| !s.contains_key(b)).copied())
            .collect();
        differing.sort_unstable();
        let key = ident(&self.sql.key[0].name);
        let (predicate, params) = self.range_sql(range)?;
        for group in differing.chunks(64) {
            let mut spans = Vec::with_capacity(group.len());
            let mut span_params = params.clone();
            for b in group {
                // `DIV` truncates toward zero: bucket 0 holds -(w-1)..=(w-1).
                let (lo, hi) = match b.signum() {
                    1 => (b * width, b * width + width - 1),
                    0 => (-(width - 1), width - 1),
                    _ => (b * width - (width - 1), b * width),
                };
                spans.push(format!("{key} BETWEEN ? AND ?"));
                span_params.push(int_value(lo));
                span_params.push(int_value(hi));
            }
            let predicate = format!("({predicate}) AND ({})", spans.join(" OR "));
            outcome
                .diffs
                .extend(self.pull(&predicate, span_params).await?);
        }
        Ok((outcome, timing))
    }

    /// Narrows a differing range: reads it row by row when small, else splits it on the
    /// source into up to eight ranges and recurses into those whose checksums differ.
    fn narrow(
        &self,
        range: KeyRange,
        rows_source: u64,
        rows_target: u64,
    ) -> futures::future::BoxFuture<'_, Result<Vec<RowDiff>, ValidatorError>> {
        Box::pin(async move {
            if rows_source.max(rows_target) <= self.options.pull_rows || rows_source < 16 {
                let (predicate, params) = self.range_sql(&range)?;
                return self.pull(&predicate, params).await;
            }
            let step = rows_source.div_ceil(8);
            let mut parts = Vec::new();
            let mut lower = range.lower.clone();
            loop {
                let sub = KeyRange {
                    lower: lower.clone(),
                    upper: range.upper.clone(),
                };
                let Some(upper) = self.boundary(&sub, step).await? else {
                    parts.push(sub);
                    break;
                };
                parts.push(KeyRange {
                    lower: lower.clone(),
                    upper: Some(upper.clone()),
                });
                lower = Some(upper);
            }
            let mut diffs = Vec::new();
            for part in parts {
                let ((s_rows, s_sum), (t_rows, t_sum)) = futures::try_join!(
                    self.checksum(Side::Source, &part),
                    self.checksum(Side::Target, &part)
                )?;
                if (s_rows, s_sum) != (t_rows, t_sum) {
                    diffs.extend(self.narrow(part, s_rows, t_rows).await?);
                }
            }
            Ok(diffs)
        })
    }

    /// The source key `rows` rows into `range` (its last row when the range ends sooner:
    /// `None` then).
    async fn boundary(
        &self,
        range: &KeyRange,
        rows: u64,
    ) -> Result<Option<Vec<KeyValue>>, ValidatorError> {
        let (predicate, mut params) = self.range_sql(range)?;
        params.push(Value::UInt(rows.saturating_sub(1)));
        let mut conn = self.conn(Side::Source).await?;
        let row: Option<Row> = conn
            .exec_first(self.sql.boundary(&predicate), params)
            .await
            .map_err(self.query_error(Side::Source, "find a chunk boundary in"))?;
        Ok(row.map(|r| r.unwrap().iter().filter_map(KeyValue::from_value).collect()))
    }

    async fn read_rows(
        &self,
        side: Side,
        statement: &str,
        params: Vec<Value>,
    ) -> Result<HashMap<Vec<String>, PulledRow>, ValidatorError> {
        let n = self.sql.key.len();
        let mut conn = self.conn(side).await?;
        let mut stream = conn
            .exec_stream::<Row, _, _>(statement, params)
            .await
            .map_err(self.query_error(side, "read the rows of"))?;
        let mut rows = HashMap::new();
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(self.query_error(side, "read the rows of"))?
        {
            let mut values = row.unwrap();
            let age = values
                .pop()
                .and_then(|v| value_i128(&v))
                .and_then(|a| i64::try_from(a).ok());
            let fingerprint = values.pop().map_or(0, |v| value_u64(&v));
            let raw = values.split_off(n);
            let key: Vec<String> = values
                .iter()
                .map(|v| value_text(v).unwrap_or_default())
                .collect();
            rows.insert(
                key,
                PulledRow {
                    raw,
                    fingerprint,
                    age_us: age,
                },
            );
        }
        Ok(rows)
    }

    /// Reads key and fingerprint of every row matching `predicate` on both sides and
    /// matches them by the exact key text.
    async fn pull(
        &self,
        predicate: &str,
        params: Vec<Value>,
    ) -> Result<Vec<RowDiff>, ValidatorError> {
        let change = self
            .options
            .in_flight
            .as_ref()
            .map(|f| f.change_column.as_str());
        let statement = self.sql.rows(predicate, change);
        let (s, t) = futures::try_join!(
            self.read_rows(Side::Source, &statement, params.clone()),
            self.read_rows(Side::Target, &statement, params)
        )?;
        Ok(diff_rows(s, &t))
    }

    /// Re-reads the rows of `diffs` that changed on the source within the lag window, after
    /// the re-check delay, and sorts every difference into its final list.
    pub async fn settle(&self, diffs: Vec<RowDiff>) -> Result<Settled, ValidatorError> {
        let mut settled = Settled::default();
        let in_flight = self.options.in_flight.as_ref();
        let window_us = in_flight.map_or(0, |f| {
            i64::try_from(f.lag_window.as_micros()).unwrap_or(i64::MAX)
        });
        let (recent, old): (Vec<RowDiff>, Vec<RowDiff>) = diffs.into_iter().partition(|d| {
            in_flight.is_some() && d.source_age_us.is_some_and(|age| age <= window_us)
        });
        for d in old {
            settled.push(d.kind, d.key);
        }
        let Some(in_flight) = in_flight.filter(|_| !recent.is_empty()) else {
            return Ok(settled);
        };
        tokio::time::sleep(in_flight.recheck_delay).await;
        for group in recent.chunks(100) {
            let statement = self
                .sql
                .rows_by_keys(group.len(), Some(&in_flight.change_column));
            let params: Vec<Value> = group.iter().flat_map(|d| d.raw.clone()).collect();
            let (s, t) = futures::try_join!(
                self.read_rows(Side::Source, &statement, params.clone()),
                self.read_rows(Side::Target, &statement, params)
            )?;
            for d in group {
                let (now_s, now_t) = (s.get(&d.key), t.get(&d.key));
                match (now_s, now_t) {
                    (None, None) => {}
                    (Some(a), Some(b)) if a.fingerprint == b.fingerprint => {}
                    (Some(a), _) if a.age_us.is_some_and(|age| age <= window_us) => {
                        settled.in_flight.push(d.key.clone());
                    }
                    (Some(_), None) => settled.push(DiffKind::MissingInTarget, d.key.clone()),
                    (None, Some(_)) => settled.push(DiffKind::MissingInSource, d.key.clone()),
                    (Some(_), Some(_)) => settled.push(DiffKind::Different, d.key.clone()),
                }
            }
        }
        Ok(settled)
    }

    /// Count, sum, minimum and maximum of each asked column on both sides, per group.
    pub async fn aggregates(&self) -> Result<Vec<AggregateReport>, ValidatorError> {
        let mut reports = Vec::new();
        for spec in &self.options.aggregates {
            let has = |name: &str| {
                self.columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(name))
            };
            let grouped_on = spec.group_by.iter().all(|g| match g {
                GroupBy::Column(c) | GroupBy::Day(c) => has(c),
            });
            if !has(&spec.column) || !grouped_on {
                continue;
            }
            let (s, t) = futures::try_join!(
                self.aggregate(Side::Source, spec),
                self.aggregate(Side::Target, spec)
            )?;
            let mut groups: Vec<&Vec<Option<String>>> = s.keys().chain(t.keys()).collect();
            groups.sort();
            groups.dedup();
            for group in groups {
                let (a, b) = (s.get(group).cloned(), t.get(group).cloned());
                reports.push(AggregateReport {
                    column: spec.column.clone(),
                    group: group.clone(),
                    matches: a == b,
                    source: a,
                    target: b,
                });
            }
        }
        Ok(reports)
    }

    async fn aggregate(
        &self,
        side: Side,
        spec: &AggregateSpec,
    ) -> Result<HashMap<Vec<Option<String>>, Stats>, ValidatorError> {
        let groups: Vec<String> = spec
            .group_by
            .iter()
            .map(|g| match g {
                GroupBy::Column(c) => format!("CAST({} AS CHAR)", ident(c)),
                GroupBy::Day(c) => format!("CAST(DATE({}) AS CHAR)", ident(c)),
            })
            .collect();
        let column = ident(&spec.column);
        let mut select = groups.clone();
        select.extend([
            format!("COUNT({column})"),
            format!("CAST(SUM({column}) AS CHAR)"),
            format!("CAST(MIN({column}) AS CHAR)"),
            format!("CAST(MAX({column}) AS CHAR)"),
        ]);
        let mut statement = format!("SELECT {} FROM {}", select.join(", "), self.sql.table);
        if !groups.is_empty() {
            let positions: Vec<String> = (1..=groups.len()).map(|i| i.to_string()).collect();
            statement = format!("{statement} GROUP BY {}", positions.join(", "));
        }
        let mut conn = self.conn(side).await?;
        let rows: Vec<Row> = conn
            .query(statement)
            .await
            .map_err(self.query_error(side, "aggregate"))?;
        let n = groups.len();
        Ok(rows
            .into_iter()
            .map(|row| {
                let values = row.unwrap();
                let group = values[..n].iter().map(value_text).collect();
                let stats = Stats {
                    count: value_u64(&values[n]),
                    sum: value_text(&values[n + 1]),
                    min: value_text(&values[n + 2]),
                    max: value_text(&values[n + 3]),
                };
                (group, stats)
            })
            .collect())
    }
}

/// One row read for matching.
#[derive(Debug, Clone)]
struct PulledRow {
    raw: Vec<Value>,
    fingerprint: u64,
    age_us: Option<i64>,
}

impl Settled {
    fn push(&mut self, kind: DiffKind, key: Vec<String>) {
        match kind {
            DiffKind::MissingInTarget => self.missing_in_target.push(key),
            DiffKind::MissingInSource => self.missing_in_source.push(key),
            DiffKind::Different => self.different.push(key),
        }
    }
}

/// The differences between the rows of the source and of the target, matched by exact key
/// text.
fn diff_rows(
    mut source: HashMap<Vec<String>, PulledRow>,
    target: &HashMap<Vec<String>, PulledRow>,
) -> Vec<RowDiff> {
    let mut diffs = Vec::new();
    for (key, t) in target {
        match source.remove(key) {
            Some(s) if s.fingerprint == t.fingerprint => {}
            Some(s) => diffs.push(RowDiff {
                key: key.clone(),
                raw: s.raw,
                kind: DiffKind::Different,
                source_age_us: s.age_us,
            }),
            None => diffs.push(RowDiff {
                key: key.clone(),
                raw: t.raw.clone(),
                kind: DiffKind::MissingInSource,
                source_age_us: None,
            }),
        }
    }
    for (key, s) in source {
        diffs.push(RowDiff {
            key,
            raw: s.raw,
            kind: DiffKind::MissingInTarget,
            source_age_us: s.age_us,
        });
    }
    diffs
}

/// Produces the chunks of a table one at a time.
#[derive(Default)]
struct Planner {
    next_lower: Option<Vec<KeyValue>>,
    done: bool,
}

impl Planner {
    async fn next(
        &mut self,
        table: &Table<'_>,
        rows: u64,
    ) -> Result<Option<KeyRange>, ValidatorError> {
        if self.done {
            return Ok(None);
        }
        let lower = self.next_lower.clone();
        let upper = if table.bucket_width.is_some() {
            Self::next_integer(table, lower.as_ref(), rows)
        } else {
            table
                .boundary(
                    &KeyRange {
                        lower: lower.clone(),
                        upper: None,
                    },
                    rows,
                )
                .await?
        };
        match &upper {
            Some(u) => self.next_lower = Some(u.clone()),
            None => self.done = true,
        }
        Ok(Some(KeyRange { lower, upper }))
    }

    /// The upper bound of the next integer chunk: `rows` rows at the density seen so far
    /// (the source's overall density to begin with); `None` past the source's largest key.
    fn next_integer(
        table: &Table<'_>,
        lower: Option<&Vec<KeyValue>>,
        rows: u64,
    ) -> Option<Vec<KeyValue>> {
        let (min, max) = table.int_span?;
        let start = match lower.and_then(|l| l.first()) {
            Some(v) => value_i128(&v.to_value().ok()?)?,
            None => min - 1,
        };
        let density = table.int_density.max(1e-9);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            reason = "a chunk width, rounded; any positive width is correct"
        )]
        let width = ((rows as f64 / density).round() as i128).max(1);
        let upper = start.saturating_add(width);
        if upper >= max {
            return None;
        }
        let value = KeyValue::from_value(&int_value(upper))?;
        Some(vec![value])
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Validates one table completely: shapes, chunks, re-check of rows in flight, aggregates.
/// Never fails: a failure becomes a report with status `error` naming side, table and cause.
pub async fn validate_table(
    source: &Database,
    target: &Database,
    table: &str,
    options: &Options,
) -> TableReport {
    let started = Instant::now();
    let result = async {
        let ready = match prepare(source, target, table, options).await? {
            Prepared::Done(report) => return Ok(*report),
            Prepared::Ready(ready) => ready,
        };
        let outcome = ready.run().await?;
        let settled = ready.settle(outcome.diffs).await?;
        let mut report = TableReport::new(table, Status::Match);
        report.key = ready.key_names();
        report.rows_source = Some(outcome.rows_source);
        report.rows_target = Some(outcome.rows_target);
        report.chunks = outcome.chunks;
        report.missing_in_target = settled.missing_in_target;
        report.missing_in_source = settled.missing_in_source;
        report.different = settled.different;
        report.in_flight = settled.in_flight;
        report.aggregates = ready.aggregates().await?;
        Ok::<_, ValidatorError>(report)
    }
    .await;
    let mut report = result.unwrap_or_else(|e| TableReport::failed(table, &e));
    report.elapsed_ms = elapsed_ms(started);
    report.settle_status();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulled(fingerprint: u64) -> PulledRow {
        PulledRow {
            raw: vec![Value::Int(1)],
            fingerprint,
            age_us: Some(5),
        }
    }

    fn key(k: &str) -> Vec<String> {
        vec![k.to_owned()]
    }

    #[test]
    fn rows_are_matched_by_exact_key_bytes() {
        let source = HashMap::from([
            (key("abc"), pulled(1)),
            (key("x"), pulled(2)),
            (key("y"), pulled(3)),
        ]);
        let target = HashMap::from([
            (key("ABC"), pulled(1)),
            (key("x"), pulled(2)),
            (key("y"), pulled(4)),
        ]);
        let mut diffs: Vec<(Vec<String>, DiffKind)> = diff_rows(source, &target)
            .into_iter()
            .map(|d| (d.key, d.kind))
            .collect();
        diffs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            diffs,
            [
                (key("ABC"), DiffKind::MissingInSource),
                (key("abc"), DiffKind::MissingInTarget),
                (key("y"), DiffKind::Different),
            ]
        );
    }

    #[test]
    fn aggregates_parse_columns_and_days() {
        let spec = AggregateSpec::parse("amount:currency, day(created_at)").unwrap();
        assert_eq!(spec.column, "amount");
        assert_eq!(
            spec.group_by,
            [
                GroupBy::Column("currency".into()),
                GroupBy::Day("created_at".into())
            ]
        );
        assert!(AggregateSpec::parse(":x").is_err());
        assert!(AggregateSpec::parse("amount").unwrap().group_by.is_empty());
    }

    #[test]
    fn integer_bounds_are_clamped_to_what_a_bigint_column_can_hold() {
        assert_eq!(int_value(-5), Value::Int(-5));
        assert_eq!(int_value(i128::from(i64::MIN) - 7), Value::Int(i64::MIN));
        assert_eq!(
            int_value(i128::from(u64::MAX) - 1),
            Value::UInt(u64::MAX - 1)
        );
        assert_eq!(int_value(i128::from(u64::MAX) + 9), Value::UInt(u64::MAX));
    }

    #[test]
    fn crc_is_used_only_when_both_servers_have_crc32c() {
        let new = Flavor::MariaDb { crc32c: true };
        assert_eq!(choose_hash(new, new), Hash::Crc64);
        assert_eq!(choose_hash(new, Flavor::MySql), Hash::Md5);
    }
}
