//! The SQS-driven Lambda function: a table message plans a table's chunks and fans them
//! out as chunk messages; a chunk message compares one key range and stores its result.
//!
//! # Messages (the SQS body, JSON)
//!
//! ```json
//! {"kind": "table", "run_id": "cutover-1-r7", "table": "payments"}
//! {"kind": "chunk", "run_id": "cutover-1-r7", "table": "payments",
//!  "chunk": {"index": 3, "count": 9, "lower": [{"int": 300000}], "upper": [{"int": 400000}]}}
//! ```
//!
//! `run_id` and `table` may hold letters, digits, `_`, `-` and `.` (up to 128 and 64
//! characters): they become part of S3 keys. A bound is a list with exactly one value per
//! key column, each `{"int": n}`, `{"uint": n}` (integer columns), `{"hex": "…"}` (pairs
//! of hex digits: text, binary or decimal bytes), `{"date": [y, mo, d, h, mi, s, µs]}`
//! (DATE, DATETIME, TIMESTAMP), `{"time": [negative 0/1, days, h, mi, s, µs]}` (TIME) or
//! `{"float": x}` (FLOAT, DOUBLE); an absent `lower` starts at the table's beginning, an
//! absent `upper` runs to its end.
//!
//! Chunk messages come only from the table message's plan. A chunk message is compared
//! only if it is exactly one chunk of `runs/<run_id>/<table>/plan.json`: the same `index`,
//! the same `count` and the same `lower` and `upper`. Otherwise (no plan for that run and
//! table, `index` not below `count`, a count or a bound differing from the plan) the
//! message fails permanently, naming the field, the run and the table, and nothing is
//! written, so it reaches the dead-letter queue and no result is created or overwritten.
//! The engine also refuses a bound of the wrong length, of a kind that does not fit its
//! key column, or with invalid hex, rather than reading it as NULL.
//!
//! # Results (S3, `RESULTS_BUCKET`)
//!
//! - `runs/<run_id>/<table>/plan.json`: `{"run_id", "table", "chunks": [KeyRange…]}`,
//!   written before any chunk message is sent; a redelivered table message sends the
//!   same chunks again from it instead of planning anew.
//! - `runs/<run_id>/<table>/chunk-<index>.json`: the chunk message's `run_id` and `chunk`
//!   beside the fields of a table report (see the crate docs) for that range. Rewritten
//!   whole on redelivery.
//! - `runs/<run_id>/<table>/table.json`: the whole verdict of a table that is not
//!   chunked: a `schema_mismatch`, or a table without a key compared whole.
//!
//! A run is complete when `chunk-0` … `chunk-<count - 1>` exist.
//!
//! # Metrics (EMF, dimensions `MigrationId`, `Function`)
//!
//! `RowsCompared` (source rows of the chunk), `Mismatches` (differing keys, or 1 for a
//! schema mismatch or a differing table compared whole), `InFlight` (keys still in flight)
//! and `Errors` (1 per failed message).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use migration_shared::error::{Transience, sdk_message, sdk_transience};
use migration_shared::metrics::{Metric, Metrics};
use migration_shared::params::Parameters;
use migration_shared::sqs_batch::{self, Order};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::chunk::KeyRange;
use crate::config::{Config, DbSettings};
use crate::db::{Database, Endpoint, Limits, Side};
use crate::engine::{InFlight, Options, Prepared, prepare};
use crate::error::ValidatorError;
use crate::report::{Status, TableReport};

/// The function's name, a metric dimension.
pub const FUNCTION_NAME: &str = "replication-validator";

/// Chunk messages sent in one `SendMessageBatch` call, the API's limit.
const BATCH_SIZE: usize = 10;
/// Calls made for the entries of one batch before giving up on those still failing.
const SEND_ATTEMPTS: u32 = 4;

/// A queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Plan a table's chunks and send one chunk message for each.
    Table {
        /// The validation run.
        run_id: String,
        /// The table.
        table: String,
    },
    /// Compare one chunk of a table.
    Chunk {
        /// The validation run.
        run_id: String,
        /// The table.
        table: String,
        /// The key range.
        chunk: Chunk,
    },
}

/// One planned chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Its position in the plan, from 0.
    pub index: u64,
    /// How many chunks the plan has.
    pub count: u64,
    /// Its key range.
    #[serde(flatten)]
    pub range: KeyRange,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The validation run.
    pub run_id: String,
    /// The table.
    pub table: String,
    /// The chunks, in key order.
    pub chunks: Vec<KeyRange>,
}

/// A stored chunk result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkResult {
    /// The validation run.
    pub run_id: String,
    /// The chunk compared.
    pub chunk: Chunk,
    /// What it found.
    #[serde(flatten)]
    pub report: TableReport,
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// The settings.
    pub config: Config,
    /// Secrets through Parameter Store.
    pub params: Parameters,
    /// The queue client.
    pub sqs: aws_sdk_sqs::Client,
    /// The results client.
    pub s3: aws_sdk_s3::Client,
    /// The metrics writer.
    pub metrics: Metrics,
    /// How tables are compared.
    pub options: Options,
    databases: OnceCell<(Database, Database)>,
}

impl Deps {
    /// Dependencies from `config` and one SDK configuration.
    #[must_use]
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let options = Options {
            chunk_target: config.chunk_target,
            chunk_max_rows: config.chunk_max_rows,
            chunk_start_rows: config
                .chunk_max_rows
                .min(Options::default().chunk_start_rows),
            chunk_min_rows: config.chunk_max_rows.min(Options::default().chunk_min_rows),
            in_flight: config.change_column.as_ref().map(|c| InFlight {
                change_column: c.clone(),
                lag_window: config.lag_window,
                recheck_delay: config.recheck_delay,
            }),
            concurrency: 1,
            ..Options::default()
        };
        Self {
            metrics: Metrics::new(
                &config.metrics_namespace,
                FUNCTION_NAME,
                &config.migration_id,
            ),
            params: Parameters::new(
                aws_sdk_ssm::Client::new(sdk),
                migration_shared::params::DEFAULT_MAX_AGE,
            ),
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: aws_sdk_s3::Client::new(sdk),
            options,
            config,
            databases: OnceCell::new(),
        }
    }

    /// Both databases, connected on first use and kept for the life of the environment.
    async fn databases(&self) -> Result<&(Database, Database), ValidatorError> {
        self.databases
            .get_or_try_init(|| async {
                let limits = Limits {
                    max_connections: 2,
                    ..Limits::default()
                };
                let source = self.endpoint(Side::Source, &self.config.source).await?;
                let target = self.endpoint(Side::Target, &self.config.target).await?;
                futures::try_join!(
                    Database::connect(Side::Source, &source, limits),
                    Database::connect(Side::Target, &target, limits)
                )
            })
            .await
    }

    async fn endpoint(&self, side: Side, db: &DbSettings) -> Result<Endpoint, ValidatorError> {
        let secret = self.params.secret(&db.secret_id).await?;
        endpoint_from_secret(side, &db.secret_id, secret.expose(), db)
    }
}

/// The endpoint a secret (RDS shape) describes, completed or overridden by `db`.
pub fn endpoint_from_secret(
    side: Side,
    secret_id: &str,
    secret: &str,
    db: &DbSettings,
) -> Result<Endpoint, ValidatorError> {
    let invalid = |reason: &str| ValidatorError::Secret {
        secret_id: secret_id.to_owned(),
        reason: reason.to_owned(),
    };
    let value: serde_json::Value =
        serde_json::from_str(secret).map_err(|_| invalid("not a JSON object"))?;
    let text = |field: &str| match value.get(field) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let user = text("username").ok_or_else(|| invalid("no username"))?;
    let password = match value.get("password") {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => return Err(invalid("no password")),
    };
    let host = db
        .host
        .clone()
        .or_else(|| text("host"))
        .ok_or_else(|| invalid(&format!("no host, and {side} host not configured")))?;
    let port = match db.port {
        Some(p) => p,
        None => text("port")
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| invalid("port is not a port number"))
            })
            .transpose()?
            .unwrap_or(3306),
    };
    let database = db
        .name
        .clone()
        .or_else(|| text("dbname"))
        .ok_or_else(|| invalid(&format!("no dbname, and {side} database not configured")))?;
    Ok(Endpoint {
        host,
        port,
        user,
        password: migration_shared::Secret::new(password),
        database,
        tls: db.tls.clone(),
    })
}

/// Checks that `value` can be part of an S3 key.
fn safe_name(what: &str, value: &str, max: usize) -> Result<(), ValidatorError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ValidatorError::Invalid(format!(
            "invalid {what}: expected 1 to {max} letters, digits, '_', '-' or '.'"
        )))
    }
}

fn prefix(run_id: &str, table: &str) -> String {
    format!("runs/{run_id}/{table}")
}

/// The SQS batch in `event`, or why it is not one, naming the field and never its value.
pub fn read_batch(event: &serde_json::Value) -> Result<SqsEvent, String> {
    migration_shared::json::from_value(event).map_err(|e| e.describe("the SQS batch"))
}

/// Handles one batch of queue messages; only the failed ones are returned to the queue.
pub async fn handle(event: SqsEvent, deps: &Deps) -> SqsBatchResponse {
    sqs_batch::process(event, Order::Concurrent(2), |message| async move {
        let result = handle_job(&message.body, deps).await;
        if result.is_err() {
            deps.metrics.emit(&[Metric::count("Errors", 1)]);
        }
        result
    })
    .await
    .response
}

/// Handles one message.
#[tracing::instrument(skip_all, fields(kind, run_id, table))]
pub async fn handle_job(job: &Job, deps: &Deps) -> Result<(), ValidatorError> {
    let span = tracing::Span::current();
    match job {
        Job::Table { run_id, table } => {
            span.record("kind", "table");
            span.record("run_id", run_id.as_str());
            span.record("table", table.as_str());
            safe_name("run_id", run_id, 128)?;
            safe_name("table", table, 64)?;
            fan_out(run_id, table, deps).await
        }
        Job::Chunk {
            run_id,
            table,
            chunk,
        } => {
            span.record("kind", "chunk");
            span.record("run_id", run_id.as_str());
            span.record("table", table.as_str());
            safe_name("run_id", run_id, 128)?;
            safe_name("table", table, 64)?;
            compare_chunk(run_id, table, chunk, deps).await
        }
    }
}

async fn fan_out(run_id: &str, table: &str, deps: &Deps) -> Result<(), ValidatorError> {
    let plan_key = format!("{}/plan.json", prefix(run_id, table));
    let plan = if let Some(plan) = get_json::<Plan>(deps, &plan_key).await? {
        tracing::info!(
            chunks = plan.chunks.len(),
            "plan found, sending its chunks again"
        );
        plan
    } else {
        let (source, target) = deps.databases().await?;
        let ready = match prepare(source, target, table, &deps.options).await? {
            Prepared::Done(report) => {
                let key = format!("{}/table.json", prefix(run_id, table));
                put_json(deps, &key, &report).await?;
                emit(deps, &report);
                return Ok(());
            }
            Prepared::Ready(ready) => ready,
        };
        let plan = Plan {
            run_id: run_id.to_owned(),
            table: table.to_owned(),
            chunks: ready.plan().await?,
        };
        put_json(deps, &plan_key, &plan).await?;
        plan
    };
    let count = plan.chunks.len() as u64;
    let jobs: Vec<Job> = plan
        .chunks
        .into_iter()
        .zip(0..)
        .map(|(range, index)| Job::Chunk {
            run_id: run_id.to_owned(),
            table: table.to_owned(),
            chunk: Chunk {
                index,
                count,
                range,
            },
        })
        .collect();
    send_all(deps, &jobs).await?;
    tracing::info!(chunks = count, "chunk messages sent");
    Ok(())
}

/// Sends `jobs` ten to a call, sending again only the entries a call reports failed.
async fn send_all(deps: &Deps, jobs: &[Job]) -> Result<(), ValidatorError> {
    for batch in jobs.chunks(BATCH_SIZE) {
        let mut pending: Vec<(String, String)> = batch
            .iter()
            .enumerate()
            .map(|(i, job)| {
                serde_json::to_string(job)
                    .map(|body| (i.to_string(), body))
                    .map_err(|e| {
                        ValidatorError::Invalid(format!("failed to encode a chunk message: {e}"))
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let mut request = deps
                .sqs
                .send_message_batch()
                .queue_url(&deps.config.queue_url);
            for (id, body) in &pending {
                let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| {
                        ValidatorError::Invalid(format!("failed to build a chunk message: {e}"))
                    })?;
                request = request.entries(entry);
            }
            let out = request.send().await.map_err(|e| ValidatorError::Aws {
                action: format!("send chunk messages to {}", deps.config.queue_url),
                cause: sdk_message(&e),
                transience: sdk_transience(&e),
            })?;
            let failed: Vec<&aws_sdk_sqs::types::BatchResultErrorEntry> =
                out.failed().iter().collect();
            if failed.is_empty() {
                break;
            }
            if attempt >= SEND_ATTEMPTS {
                return Err(ValidatorError::Aws {
                    action: format!("send chunk messages to {}", deps.config.queue_url),
                    cause: format!(
                        "{} entries still failing after {attempt} calls: {}",
                        failed.len(),
                        failed[0].code()
                    ),
                    transience: Transience::Transient,
                });
            }
            let ids: Vec<&str> = failed.iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| ids.contains(&id.as_str()));
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }
    Ok(())
}

async fn compare_chunk(
    run_id: &str,
    table: &str,
    chunk: &Chunk,
    deps: &Deps,
) -> Result<(), ValidatorError> {
    let plan_key = format!("{}/plan.json", prefix(run_id, table));
    let plan = get_json::<Plan>(deps, &plan_key).await?;
    check_against_plan(run_id, table, chunk, plan.as_ref())?;
    let (source, target) = deps.databases().await?;
    let started = std::time::Instant::now();
    let mut report = match prepare(source, target, table, &deps.options).await? {
        Prepared::Done(report) => *report,
        Prepared::Ready(ready) => {
            let outcome = ready.compare_range(&chunk.range).await?;
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
            report
        }
    };
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report.settle_status();
    let key = format!("{}/chunk-{}.json", prefix(run_id, table), chunk.index);
    let result = ChunkResult {
        run_id: run_id.to_owned(),
        chunk: chunk.clone(),
        report,
    };
    put_json(deps, &key, &result).await?;
    emit(deps, &result.report);
    tracing::info!(
        index = chunk.index,
        status = ?result.report.status,
        rows = result.report.rows_source.unwrap_or(0),
        "chunk compared"
    );
    Ok(())
}

/// Refuses a chunk message that is not exactly one chunk of the stored `plan` of `run_id`
/// and `table`: same index, same count, same lower and upper bounds. Only the table
/// message writes plans, so a message that differs (hand-written, edited, from another
/// plan) would compare a range nobody planned and could overwrite a real chunk's result.
pub fn check_against_plan(
    run_id: &str,
    table: &str,
    chunk: &Chunk,
    plan: Option<&Plan>,
) -> Result<(), ValidatorError> {
    let refuse = |field: &str, reason: String| {
        Err(ValidatorError::Invalid(format!(
            "chunk message for run {run_id} table {table} refused: {field} {reason}"
        )))
    };
    let Some(plan) = plan else {
        return refuse(
            "run_id",
            format!("has no plan at {}/plan.json", prefix(run_id, table)),
        );
    };
    if plan.run_id != run_id || plan.table != table {
        return refuse(
            "run_id",
            format!(
                "names a plan stored for run {} table {}",
                plan.run_id, plan.table
            ),
        );
    }
    let planned = plan.chunks.len() as u64;
    if chunk.count != planned {
        return refuse(
            "count",
            format!(
                "is {} but the plan has {planned} chunks",
                migration_shared::json::shown_number(chunk.count)
            ),
        );
    }
    let Some(range) = usize::try_from(chunk.index)
        .ok()
        .and_then(|i| plan.chunks.get(i))
    else {
        return refuse(
            "index",
            format!(
                "{} is not below the count {planned}",
                migration_shared::json::shown_number(chunk.index)
            ),
        );
    };
    if chunk.range.lower != range.lower {
        return refuse(
            "lower",
            format!("differs from chunk {} of the plan", chunk.index),
        );
    }
    if chunk.range.upper != range.upper {
        return refuse(
            "upper",
            format!("differs from chunk {} of the plan", chunk.index),
        );
    }
    Ok(())
}

/// The metrics of one result.
#[must_use]
pub fn result_metrics(report: &TableReport) -> [(&'static str, u64); 3] {
    let keys =
        report.missing_in_target.len() + report.missing_in_source.len() + report.different.len();
    let whole = usize::from(
        keys == 0 && matches!(report.status, Status::Mismatch | Status::SchemaMismatch),
    );
    [
        ("RowsCompared", report.rows_source.unwrap_or(0)),
        ("Mismatches", (keys + whole) as u64),
        ("InFlight", report.in_flight.len() as u64),
    ]
}

fn emit(deps: &Deps, report: &TableReport) {
    let metrics: Vec<Metric<'_>> = result_metrics(report)
        .iter()
        .map(|(name, value)| Metric::count(name, *value))
        .collect();
    deps.metrics.emit(&metrics);
}

async fn put_json<T: Serialize>(deps: &Deps, key: &str, value: &T) -> Result<(), ValidatorError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| ValidatorError::Invalid(format!("failed to encode {key}: {e}")))?;
    deps.s3
        .put_object()
        .bucket(&deps.config.results_bucket)
        .key(key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| ValidatorError::Aws {
            action: format!("write s3://{}/{key}", deps.config.results_bucket),
            cause: sdk_message(&e),
            transience: sdk_transience(&e),
        })?;
    Ok(())
}

async fn get_json<T: serde::de::DeserializeOwned>(
    deps: &Deps,
    key: &str,
) -> Result<Option<T>, ValidatorError> {
    let bucket = &deps.config.results_bucket;
    let failed = |cause: String, transience| ValidatorError::Aws {
        action: format!("read s3://{bucket}/{key}"),
        cause,
        transience,
    };
    let out = match deps.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(failed(sdk_message(&e), sdk_transience(&e))),
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| failed(e.to_string(), Transience::Transient))?
        .into_bytes();
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| failed("the stored plan is not UTF-8".into(), Transience::Permanent))?;
    migration_shared::json::from_str(text)
        .map(Some)
        .map_err(|e| failed(e.describe("the stored plan"), Transience::Permanent))
}

/// Shares dependencies with the runtime's handler closure.
pub type SharedDeps = Arc<Deps>;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};

    fn ok_entry(id: &str) -> SendMessageBatchResultEntry {
        SendMessageBatchResultEntry::builder()
            .id(id)
            .message_id(format!("m-{id}"))
            .md5_of_message_body("0")
            .build()
            .unwrap()
    }

    /// SQS answers a batch with one entry failed; only that entry is sent again. Moto never
    /// fails single entries, so `aws-smithy-mocks` stands in for SQS here.
    #[tokio::test]
    async fn only_the_entries_sqs_reports_failed_are_sent_again() {
        let first = mock!(aws_sdk_sqs::Client::send_message_batch)
            .match_requests(|r| r.entries().len() == 10)
            .then_output(|| {
                let failed = BatchResultErrorEntry::builder()
                    .id("3")
                    .code("InternalError")
                    .sender_fault(false)
                    .build()
                    .unwrap();
                SendMessageBatchOutput::builder()
                    .set_successful(Some(
                        (0..10)
                            .filter(|i| *i != 3)
                            .map(|i| ok_entry(&i.to_string()))
                            .collect(),
                    ))
                    .failed(failed)
                    .build()
                    .unwrap()
            });
        let retry = mock!(aws_sdk_sqs::Client::send_message_batch)
            .match_requests(|r| {
                r.entries().len() == 1
                    && r.entries()[0].id() == "3"
                    && r.entries()[0].message_body().contains(r#""index":3"#)
            })
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .successful(ok_entry("3"))
                    .set_failed(Some(vec![]))
                    .build()
                    .unwrap()
            });
        let rest = mock!(aws_sdk_sqs::Client::send_message_batch)
            .match_requests(|r| r.entries().len() == 2)
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .set_successful(Some(vec![ok_entry("0"), ok_entry("1")]))
                    .set_failed(Some(vec![]))
                    .build()
                    .unwrap()
            });
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "k", "s", None, None, "t",
            ))
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::Sequential)
                    .with_rule(&first)
                    .with_rule(&retry)
                    .with_rule(&rest),
            )
            .build();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let config = Config::from_env(&migration_shared::config::Env::from_pairs([
            (crate::config::MIGRATION_ID, "m"),
            (crate::config::VALIDATION_QUEUE_URL, "https://sqs.example/q"),
            (crate::config::RESULTS_BUCKET, "b"),
            (crate::config::SOURCE_DB_SECRET_ID, "s"),
            (crate::config::TARGET_DB_SECRET_ID, "t"),
        ]))
        .unwrap();
        let mut deps = Deps::new(config, &sdk);
        deps.sqs = aws_sdk_sqs::Client::from_conf(conf);
        let jobs: Vec<Job> = (0..12)
            .map(|index| Job::Chunk {
                run_id: "r".into(),
                table: "t".into(),
                chunk: Chunk {
                    index,
                    count: 12,
                    range: KeyRange::all(),
                },
            })
            .collect();
        send_all(&deps, &jobs).await.unwrap();
        assert_eq!(
            (first.num_calls(), retry.num_calls(), rest.num_calls()),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_batch_that_is_not_an_sqs_event_is_refused_naming_the_field_not_the_value() {
        let reason = read_batch(&serde_json::json!({
            "Records": [{"messageId": "m-1", "body": 4_111_111_111_111_111_u64}]
        }))
        .unwrap_err();
        assert_eq!(
            reason,
            "the SQS batch has the wrong shape at `Records[0].body`: invalid type: integer `…`, \
             expected a string"
        );
        let batch = read_batch(&serde_json::json!({
            "Records": [{"messageId": "m-1", "body": "{}"}]
        }))
        .unwrap();
        assert_eq!(batch.records[0].message_id.as_deref(), Some("m-1"));
    }

    fn settings() -> DbSettings {
        DbSettings {
            secret_id: "db/source".into(),
            host: None,
            port: None,
            name: Some("shop".into()),
            tls: crate::db::Tls::default(),
        }
    }

    #[test]
    fn an_rds_secret_gives_the_endpoint_and_settings_override_it() {
        let secret = r#"{"username":"app","password":"p@ss","host":"db.internal","port":3307,
                         "dbname":"ignored","engine":"mysql"}"#;
        let e = endpoint_from_secret(Side::Source, "db/source", secret, &settings()).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.database.as_str()),
            ("db.internal", 3307, "shop")
        );
        assert_eq!((e.user.as_str(), e.password.expose()), ("app", "p@ss"));
        assert_eq!(e.tls, crate::db::Tls::default());
        let tls = crate::db::Tls::new(
            crate::db::SslMode::VerifyIdentity,
            Some("/opt/rds-ca.pem".into()),
        )
        .unwrap();
        let settings = DbSettings {
            tls: tls.clone(),
            ..settings()
        };
        let e = endpoint_from_secret(Side::Source, "db/source", secret, &settings).unwrap();
        assert_eq!(e.tls, tls);
    }

    #[test]
    fn a_bad_secret_is_named_without_its_values() {
        let err = endpoint_from_secret(
            Side::Target,
            "db/t",
            r#"{"username":"app","password":"hunter2"}"#,
            &DbSettings {
                name: None,
                ..settings()
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "invalid database secret db/t: no host, and target host not configured"
        );
        let err = endpoint_from_secret(Side::Target, "db/t", "hunter2", &settings())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "invalid database secret db/t: not a JSON object");
    }

    #[test]
    fn messages_parse_in_both_kinds_and_names_must_be_safe_for_keys() {
        let job: Job = serde_json::from_str(
            r#"{"kind":"chunk","run_id":"r1","table":"payments",
                "chunk":{"index":2,"count":5,"lower":[{"int":10}]}}"#,
        )
        .unwrap();
        let Job::Chunk { chunk, .. } = job else {
            panic!("not a chunk")
        };
        assert_eq!(chunk.index, 2);
        assert_eq!(
            chunk.range.lower,
            Some(vec![crate::chunk::KeyValue::Int(10)])
        );
        assert_eq!(chunk.range.upper, None);
        assert!(safe_name("table", "payments_2026", 64).is_ok());
        assert!(safe_name("table", "../x", 64).is_err());
        assert!(safe_name("run_id", "", 128).is_err());
    }

    #[test]
    fn metrics_count_keys_and_a_whole_table_difference() {
        let mut r = TableReport::new("t", Status::Mismatch);
        r.rows_source = Some(10);
        r.different.push(vec!["1".into()]);
        r.in_flight.push(vec!["2".into()]);
        assert_eq!(
            result_metrics(&r),
            [("RowsCompared", 10), ("Mismatches", 1), ("InFlight", 1)]
        );
        let whole = TableReport::new("t", Status::SchemaMismatch);
        assert_eq!(result_metrics(&whole)[1], ("Mismatches", 1));
    }

    #[test]
    fn only_a_chunk_exactly_as_planned_is_accepted() {
        use crate::chunk::KeyValue;
        use migration_shared::error::Classify;
        let bound = |v: i64| Some(vec![KeyValue::Int(v)]);
        let plan = Plan {
            run_id: "r".into(),
            table: "t".into(),
            chunks: vec![
                KeyRange {
                    lower: None,
                    upper: bound(10),
                },
                KeyRange {
                    lower: bound(10),
                    upper: None,
                },
            ],
        };
        let chunk = |index, count, lower, upper| Chunk {
            index,
            count,
            range: KeyRange { lower, upper },
        };
        let check = |c: &Chunk| check_against_plan("r", "t", c, Some(&plan));
        assert!(check(&chunk(0, 2, None, bound(10))).is_ok());
        assert!(check(&chunk(1, 2, bound(10), None)).is_ok());
        let refused = |c: &Chunk| check(c).unwrap_err().to_string();
        assert_eq!(
            refused(&chunk(2, 2, bound(10), None)),
            "chunk message for run r table t refused: index 2 is not below the count 2"
        );
        assert_eq!(
            refused(&chunk(u64::MAX, u64::MAX, None, None)),
            "chunk message for run r table t refused: count is (20 digits) but the plan has 2 \
             chunks"
        );
        assert_eq!(
            refused(&chunk(0, 2, None, Some(vec![]))),
            "chunk message for run r table t refused: upper differs from chunk 0 of the plan"
        );
        assert_eq!(
            refused(&chunk(0, 2, bound(20), bound(10))),
            "chunk message for run r table t refused: lower differs from chunk 0 of the plan"
        );
        assert_eq!(
            refused(&chunk(0, 2, None, Some(vec![KeyValue::Hex("0A".into())]))),
            "chunk message for run r table t refused: upper differs from chunk 0 of the plan"
        );
        let err = check_against_plan("r", "t", &chunk(0, 2, None, bound(10)), None).unwrap_err();
        assert_eq!(err.transience(), Transience::Permanent);
        assert_eq!(
            err.to_string(),
            "chunk message for run r table t refused: run_id has no plan at runs/r/t/plan.json"
        );
        let other = check_against_plan("x", "t", &chunk(0, 2, None, bound(10)), Some(&plan));
        assert!(
            other
                .unwrap_err()
                .to_string()
                .contains("stored for run r table t")
        );
    }
}
