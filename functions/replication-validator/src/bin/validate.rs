//! `validate`: the replication validator's engine from a terminal.
//!
//! ```text
//! validate --source mysql://user:pass@host:3306/shop --target mysql://…/shop [--table NAME …]
//! ```
//!
//! Prints one JSON report on stdout (see the crate docs) and exits 0 when every table
//! matches, 1 when any differs, 2 when any could not be validated. A connection that fails
//! (wrong password, unreachable host, unknown database) is one line on stderr naming the
//! side and the cause, exit 2, and nothing on stdout. The URLs may come from
//! `VALIDATE_SOURCE_URL` and `VALIDATE_TARGET_URL` instead, which keeps passwords out of the
//! process list. Progress goes to stderr, as a bar only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use replication_validator::engine::{AggregateSpec, InFlight, Options};
use replication_validator::sql::Hash;
use replication_validator::{Database, Endpoint, Limits, Report, Side, schema, validate_table};

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
    /// A table to compare (repeatable); every base table of the source schema when absent.
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

fn options(args: &Args) -> Result<Options, replication_validator::ValidatorError> {
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
    let tables = if args.tables.is_empty() {
        match schema::base_tables(&source).await {
            Ok(t) => t,
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        args.tables.clone()
    };

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

    let mut report = Report { tables: Vec::new() };
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
