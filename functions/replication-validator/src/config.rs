//! The Lambda function's configuration: every environment variable it reads, as a constant,
//! and the typed settings read from them once per cold start.

use std::time::Duration;

use migration_shared::config::{ConfigError, Env};

pub use migration_shared::config::MIGRATION_ID;
/// The CloudWatch namespace of the metrics; `PaymentMigration` when unset.
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// The queue table messages fan chunk messages out to (this function's own queue).
pub const VALIDATION_QUEUE_URL: &str = "VALIDATION_QUEUE_URL";
/// The bucket chunk results and plans are written to.
pub const RESULTS_BUCKET: &str = "RESULTS_BUCKET";
/// The Secrets Manager secret of the source database: JSON with `username`, `password`
/// and optionally `host`, `port`, `dbname` (the shape of RDS-managed secrets).
pub const SOURCE_DB_SECRET_ID: &str = "SOURCE_DB_SECRET_ID";
/// The secret of the target database, shaped as the source's.
pub const TARGET_DB_SECRET_ID: &str = "TARGET_DB_SECRET_ID";
/// The source's host; overrides the secret's `host`.
pub const SOURCE_DB_HOST: &str = "SOURCE_DB_HOST";
/// The source's port; overrides the secret's `port`; 3306 when neither says.
pub const SOURCE_DB_PORT: &str = "SOURCE_DB_PORT";
/// The source's database; overrides the secret's `dbname`.
pub const SOURCE_DB_NAME: &str = "SOURCE_DB_NAME";
/// The target's host; overrides the secret's `host`.
pub const TARGET_DB_HOST: &str = "TARGET_DB_HOST";
/// The target's port; overrides the secret's `port`; 3306 when neither says.
pub const TARGET_DB_PORT: &str = "TARGET_DB_PORT";
/// The target's database; overrides the secret's `dbname`.
pub const TARGET_DB_NAME: &str = "TARGET_DB_NAME";
/// Seconds within which a source change may not have replicated yet; 60 when unset.
pub const LAG_WINDOW_SECONDS: &str = "LAG_WINDOW_SECONDS";
/// Seconds to wait before re-reading a recent differing row; 5 when unset.
pub const RECHECK_DELAY_SECONDS: &str = "RECHECK_DELAY_SECONDS";
/// The column holding each row's last change time; without it there is no in-flight
/// handling and every difference is a mismatch.
pub const CHANGE_COLUMN: &str = "CHANGE_COLUMN";
/// The query time a chunk aims at, in milliseconds; 250 when unset.
pub const CHUNK_TARGET_MS: &str = "CHUNK_TARGET_MS";
/// The most rows a planned chunk holds; 400000 when unset. Smaller chunks spread a table
/// over more concurrent invocations.
pub const CHUNK_MAX_ROWS: &str = "CHUNK_MAX_ROWS";

/// Where one side's database is, as far as the environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    /// The secret holding the credentials.
    pub secret_id: String,
    /// Host override.
    pub host: Option<String>,
    /// Port override.
    pub port: Option<u16>,
    /// Database override.
    pub name: Option<String>,
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The migration's identifier, a metric dimension.
    pub migration_id: String,
    /// The metrics namespace.
    pub metrics_namespace: String,
    /// The queue chunk messages go to.
    pub queue_url: String,
    /// The results bucket.
    pub results_bucket: String,
    /// The source.
    pub source: DbSettings,
    /// The target.
    pub target: DbSettings,
    /// The change-time column, for in-flight rows.
    pub change_column: Option<String>,
    /// The lag window.
    pub lag_window: Duration,
    /// The re-check delay.
    pub recheck_delay: Duration,
    /// The chunk target time.
    pub chunk_target: Duration,
    /// The largest chunk.
    pub chunk_max_rows: u64,
}

fn db(
    env: &Env,
    secret: &str,
    host: &str,
    port: &str,
    name: &str,
) -> Result<DbSettings, ConfigError> {
    Ok(DbSettings {
        secret_id: env.required(secret)?,
        host: env.optional(host),
        port: env
            .optional(port)
            .map(|_| env.parse_required(port))
            .transpose()?,
        name: env.optional(name),
    })
}

impl Config {
    /// Reads every variable; an error names the first one missing or invalid.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            migration_id: env.required(MIGRATION_ID)?,
            metrics_namespace: env
                .optional(METRICS_NAMESPACE)
                .unwrap_or_else(|| "PaymentMigration".to_owned()),
            queue_url: env.required(VALIDATION_QUEUE_URL)?,
            results_bucket: env.required(RESULTS_BUCKET)?,
            source: db(
                env,
                SOURCE_DB_SECRET_ID,
                SOURCE_DB_HOST,
                SOURCE_DB_PORT,
                SOURCE_DB_NAME,
            )?,
            target: db(
                env,
                TARGET_DB_SECRET_ID,
                TARGET_DB_HOST,
                TARGET_DB_PORT,
                TARGET_DB_NAME,
            )?,
            change_column: env.optional(CHANGE_COLUMN),
            lag_window: env.seconds(LAG_WINDOW_SECONDS, Duration::from_mins(1))?,
            recheck_delay: env.seconds(RECHECK_DELAY_SECONDS, Duration::from_secs(5))?,
            chunk_target: Duration::from_millis(env.parse_or(CHUNK_TARGET_MS, 250_u64)?.max(1)),
            chunk_max_rows: env.parse_or(CHUNK_MAX_ROWS, 400_000_u64)?.max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (MIGRATION_ID, "cutover-1"),
            (VALIDATION_QUEUE_URL, "http://q"),
            (RESULTS_BUCKET, "results"),
            (SOURCE_DB_SECRET_ID, "src"),
            (TARGET_DB_SECRET_ID, "dst"),
        ]
    }

    #[test]
    fn defaults_apply_and_overrides_are_read() {
        let mut pairs = base();
        pairs.extend([
            (TARGET_DB_PORT, "3307"),
            (TARGET_DB_NAME, "shop"),
            (CHUNK_TARGET_MS, "100"),
        ]);
        let config = Config::from_env(&Env::from_pairs(pairs)).unwrap();
        assert_eq!(config.metrics_namespace, "PaymentMigration");
        assert_eq!(config.lag_window, Duration::from_mins(1));
        assert_eq!(config.recheck_delay, Duration::from_secs(5));
        assert_eq!(config.chunk_target, Duration::from_millis(100));
        assert_eq!(config.target.port, Some(3307));
        assert_eq!(config.target.name.as_deref(), Some("shop"));
        assert_eq!(config.source.port, None);
        assert_eq!(config.change_column, None);
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let pairs: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != RESULTS_BUCKET)
            .collect();
        assert_eq!(
            Config::from_env(&Env::from_pairs(pairs))
                .unwrap_err()
                .to_string(),
            "missing environment variable RESULTS_BUCKET"
        );
        let mut pairs = base();
        pairs.push((SOURCE_DB_PORT, "http"));
        let err = Config::from_env(&Env::from_pairs(pairs))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid environment variable SOURCE_DB_PORT"),
            "{err}"
        );
    }
}
