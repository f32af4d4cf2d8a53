//! `validate`: the replication validator's engine from a terminal.
//!
//! ```text
//! validate --source mysql://user:pass@host:3306/shop --target mysql://…/shop [--table NAME …]
//! validate --source 'mysql://…/shop?ssl_mode=verify_identity&ssl_ca=/etc/ca.pem' --target …
//! ```
//!
//! Prints one JSON report on stdout (see the crate docs) and exits 0 when every table
//! matches, 1 when any differs, 2 when any could not be validated. A connection that fails
//! (wrong password, unreachable host, unknown database, a refused TLS handshake) is one line
//! on stderr naming the side and the cause, exit 2, and nothing on stdout; so is a URL with
//! a TLS setting that cannot be honoured, an empty source schema, and an `--aggregate` or
//! `--change-column` naming a column the compared tables lack. The URLs may come from
//! `VALIDATE_SOURCE_URL` and `VALIDATE_TARGET_URL` instead, which keeps passwords out of the
//! process list. Progress goes to stderr, as a bar only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use replication_validator::engine::{AggregateSpec, GroupBy, InFlight, Options};
use replication_validator::schema::SchemaDiff;
use replication_validator::sql::Hash;
use replication_validator::{
    Database, Endpoint, Limits, Report, Side, Status, TableReport, ValidatorError, schema,
    validate_table,
};

/// The fingerprint, when not chosen from the servers.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Fingerprint {
    /// CRC32 and CRC32C, 64 bits (MariaDB 10.8+ on both sides).
    Crc64,
    /// CRC32 alone: fastest; a changed row goes unseen with a chance of 1 in 2^32.
    Crc32,
    /// The first 64 bits of MD5: any server, slower.
    Md5,
}

/// Compares tables of a source and a target database, down to the keys that differ.
#[derive(Debug, Parser)]
#[command(name = "validate", version)]
struct Args {
    /// The source, `mysql://user:pass@host:port/database`.
    #[arg(long, env = "VALIDATE_SOURCE_URL", hide_env_values = true)]
    source: String,
    /// The target, `mysql://user:pass@host:port/database`.
    #[arg(long, env = "VALIDATE_TARGET_URL", hide_env_values = true)]
    target: String,
    /// A table to compare (repeatable, repeats ignored); when absent, every base table of
    /// both schemas, a table only one side has being reported as a schema mismatch.
    #[arg(long = "table")]
    tables: Vec<String>,
    /// An aggregate: `COLUMN` or `COLUMN:GROUP,day(COLUMN)` (repeatable); computed for
    /// every compared table that has the columns.
    #[arg(long = "aggregate")]
    aggregates: Vec<String>,
    /// The column holding each row's last change time, for rows in flight.
    #[arg(long)]
    change_column: Option<String>,
    /// Seconds within which a source change may not have replicated yet.
    #[arg(long, default_value_t = 60)]
    lag_window: u64,
    /// Seconds to wait before re-reading a recent differing row.
    #[arg(long, default_value_t = 5)]
    recheck_delay: u64,
    /// The query time each chunk aims at, in milliseconds.
    #[arg(long, default_value_t = 250)]
    chunk_target_ms: u64,
    /// Chunks compared at once (one connection on each side each).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Seconds any one statement may run before the server stops it.
    #[arg(long, default_value_t = 30)]
    statement_timeout: u64,
    /// The row fingerprint; chosen from the servers when absent.
    #[arg(long, value_enum)]
    fingerprint: Option<Fingerprint>,
}

fn options(args: &Args) -> Result<Options, ValidatorError> {
    let aggregates = args
        .aggregates
        .iter()
        .map(|a| AggregateSpec::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Options {
        chunk_target: Duration::from_millis(args.chunk_target_ms.max(1)),
        concurrency: args.concurrency.max(1),
        in_flight: args.change_column.as_ref().map(|c| InFlight {
            change_column: c.clone(),
            lag_window: Duration::from_secs(args.lag_window),
            recheck_delay: Duration::from_secs(args.recheck_delay),
        }),
        aggregates,
        hash: args.fingerprint.map(|f| match f {
            Fingerprint::Crc64 => Hash::Crc64,
            Fingerprint::Crc32 => Hash::Crc32,
            Fingerprint::Md5 => Hash::Md5,
        }),
        ..Options::default()
    })
}

/// `tables` without repeats, in the order first given.
fn distinct(tables: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tables
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect()
}

/// The base tables of both schemas: those on both sides, to compare, and a
/// `schema_mismatch` entry for each table only one side has. An empty source schema is an
/// error, since comparing nothing would report an all clear.
async fn all_tables(
    source: &Database,
    target: &Database,
) -> Result<(Vec<String>, Vec<(String, TableReport)>), ValidatorError> {
    let (on_source, on_target) =
        futures::try_join!(schema::base_tables(source), schema::base_tables(target))?;
    if on_source.is_empty() {
        return Err(ValidatorError::Invalid(format!(
            "no base tables to compare in the source database {}",
            source.schema()
        )));
    }
    let mut one_sided = Vec::new();
    for (db, tables, other) in [
        (source, &on_source, &on_target),
        (target, &on_target, &on_source),
    ] {
        for table in tables.iter().filter(|t| !other.contains(t)) {
            one_sided.push((table.clone(), only_on(db, table).await));
        }
    }
    one_sided.sort_by(|a, b| a.0.cmp(&b.0));
    let both = on_source
        .into_iter()
        .filter(|t| on_target.contains(t))
        .collect();
    Ok((both, one_sided))
}

/// The entry of a table only `db`'s side has: a schema mismatch listing its columns as
/// missing on the other side.
async fn only_on(db: &Database, table: &str) -> TableReport {
    let other = match db.side() {
        Side::Source => Side::Target,
        Side::Target => Side::Source,
    };
    let mut report = TableReport::new(table, Status::SchemaMismatch);
    report.note = Some(format!("table exists only in the {}", db.side()));
    let columns = match schema::discover(db, table).await {
        Ok(shape) => {
            report.key = shape.key.iter().map(|c| c.name.clone()).collect();
            shape.columns.into_iter().map(|c| c.name).collect()
        }
        Err(e) => return TableReport::failed(table, &e),
    };
    let mut diff = SchemaDiff::default();
    match other {
        Side::Target => diff.missing_in_target = columns,
        Side::Source => diff.missing_in_source = columns,
    }
    report.schema_differences = Some(diff);
    report
}

/// Checks `--aggregate` and `--change-column` against the source's columns before any row
/// is read: every column an aggregate names must exist, all together in at least one
/// compared table, and the change column in every compared table (a table without it
/// could not re-check its rows in flight). A table the source lacks is left to the
/// comparison, which reports it.
async fn check_columns(
    source: &Database,
    tables: &[String],
    args: &Args,
) -> Result<(), ValidatorError> {
    if args.aggregates.is_empty() && args.change_column.is_none() {
        return Ok(());
    }
    let mut shapes = Vec::new();
    for table in tables {
        match schema::discover(source, table).await {
            Ok(shape) => shapes.push((table, shape)),
            Err(ValidatorError::TableNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let has = |shape: &schema::TableShape, name: &str| {
        shape
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
    };
    for text in &args.aggregates {
        let spec = AggregateSpec::parse(text)?;
        let mut names = vec![spec.column.as_str()];
        for group in &spec.group_by {
            match group {
                GroupBy::Column(c) if c.contains(['(', ')']) => {
                    return Err(ValidatorError::Invalid(format!(
                        "invalid --aggregate {text}: malformed group {c}, expected a column \
                         or day(COLUMN)"
                    )));
                }
                GroupBy::Column(c) | GroupBy::Day(c) => names.push(c),
            }
        }
        if let Some(name) = names
            .iter()
            .find(|n| !shapes.iter().any(|(_, s)| has(s, n)))
        {
            return Err(ValidatorError::Invalid(format!(
                "invalid --aggregate {text}: no compared table has a column {name}"
            )));
        }
        if !shapes.iter().any(|(_, s)| names.iter().all(|n| has(s, n))) {
            return Err(ValidatorError::Invalid(format!(
                "invalid --aggregate {text}: no compared table has all of its columns"
            )));
        }
    }
    if let Some(column) = &args.change_column
        && let Some((table, _)) = shapes.iter().find(|(_, s)| !has(s, column))
    {
        return Err(ValidatorError::Invalid(format!(
            "invalid --change-column {column}: table {}.{table} has no such column on the \
             source",
            source.schema()
        )));
    }
    Ok(())
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
    ExitCode::from(2)
}

async fn run(args: Args) -> ExitCode {
    let mut options = match options(&args) {
        Ok(o) => o,
        Err(e) => return fail(&e.to_string()),
    };
    let endpoints = Endpoint::from_url(Side::Source, &args.source)
        .and_then(|s| Ok((s, Endpoint::from_url(Side::Target, &args.target)?)));
    let (source, target) = match endpoints {
        Ok(e) => e,
        Err(e) => return fail(&e.to_string()),
    };
    let limits = Limits {
        max_connections: options.concurrency + 1,
        statement_time: Duration::from_secs(args.statement_timeout.max(1)),
        ..Limits::default()
    };
    let connected = futures::try_join!(
        Database::connect(Side::Source, &source, limits),
        Database::connect(Side::Target, &target, limits)
    );
    let (source, target) = match connected {
        Ok(dbs) => dbs,
        Err(e) => return fail(&e.to_string()),
    };
    let (tables, one_sided) = if args.tables.is_empty() {
        match all_tables(&source, &target).await {
            Ok(t) => t,
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        (distinct(&args.tables), Vec::new())
    };
    if let Err(e) = check_columns(&source, &tables, &args).await {
        return fail(&e.to_string());
    }

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}: {pos} source rows ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let ticker = bar.clone();
    options.progress = Some(Arc::new(move |rows| ticker.inc(rows)));

    let mut report = Report {
        tables: one_sided.into_iter().map(|(_, t)| t).collect(),
    };
    for table in &tables {
        bar.set_message(table.clone());
        bar.set_position(0);
        let t = validate_table(&source, &target, table, &options).await;
        if let Some(error) = &t.error {
            bar.suspend(|| {
                let _ = writeln!(std::io::stderr().lock(), "error: {error}");
            });
        }
        report.tables.push(t);
    }
    bar.finish_and_clear();
    source.close().await;
    target.close().await;

    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, &report)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    if let Err(e) = written {
        return fail(&format!("failed to write the report: {e}"));
    }
    ExitCode::from(report.exit_code())
}

fn main() -> ExitCode {
    migration_shared::startup::init_tracing(true);
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => fail(&format!("failed to start the async runtime: {e}")),
    }
}
