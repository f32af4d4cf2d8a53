//! The Lambda function's configuration: every environment variable it reads, as a constant,
//! and the typed settings read from them once per cold start.

use std::path::PathBuf;
use std::time::Duration;

use migration_shared::config::{ConfigError, Env};

use crate::db::{SslMode, Tls};

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
/// How the source's connections are protected: `disabled` (the default), `required`,
/// `verify_ca` or `verify_identity`, as the MySQL client's `--ssl-mode`.
pub const SOURCE_DB_SSL_MODE: &str = "SOURCE_DB_SSL_MODE";
/// A PEM file of the authorities the source's certificate must chain to, instead of the
/// public web roots; only with `verify_ca` or `verify_identity`.
pub const SOURCE_DB_SSL_CA: &str = "SOURCE_DB_SSL_CA";
/// The target's TLS mode, as the source's.
pub const TARGET_DB_SSL_MODE: &str = "TARGET_DB_SSL_MODE";
/// The target's CA file (for Aurora, the RDS certificate bundle shipped with the function).
pub const TARGET_DB_SSL_CA: &str = "TARGET_DB_SSL_CA";
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
    /// Plain TCP or TLS.
    pub tls: Tls,
}

/// The variables that describe one side.
struct SideVariables {
    secret: &'static str,
    host: &'static str,
    port: &'static str,
    name: &'static str,
    ssl_mode: &'static str,
    ssl_ca: &'static str,
}

const SOURCE: SideVariables = SideVariables {
    secret: SOURCE_DB_SECRET_ID,
    host: SOURCE_DB_HOST,
    port: SOURCE_DB_PORT,
    name: SOURCE_DB_NAME,
    ssl_mode: SOURCE_DB_SSL_MODE,
    ssl_ca: SOURCE_DB_SSL_CA,
};

const TARGET: SideVariables = SideVariables {
    secret: TARGET_DB_SECRET_ID,
    host: TARGET_DB_HOST,
    port: TARGET_DB_PORT,
    name: TARGET_DB_NAME,
    ssl_mode: TARGET_DB_SSL_MODE,
    ssl_ca: TARGET_DB_SSL_CA,
};

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

fn db(env: &Env, vars: &SideVariables) -> Result<DbSettings, ConfigError> {
    let mode = env.parse_or(vars.ssl_mode, SslMode::Disabled)?;
    let tls = Tls::new(mode, env.optional(vars.ssl_ca).map(PathBuf::from)).map_err(|reason| {
        ConfigError::Invalid {
            name: vars.ssl_ca.to_owned(),
            reason,
        }
    })?;
    Ok(DbSettings {
        secret_id: env.required(vars.secret)?,
        host: env.optional(vars.host),
        port: env
            .optional(vars.port)
            .map(|_| env.parse_required(vars.port))
            .transpose()?,
        name: env.optional(vars.name),
        tls,
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
            source: db(env, &SOURCE)?,
            target: db(env, &TARGET)?,
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
    fn each_side_has_its_own_tls_settings_and_plain_tcp_by_default() {
        let config = Config::from_env(&Env::from_pairs(base())).unwrap();
        assert_eq!(
            (config.source.tls.mode, config.target.tls.mode),
            (SslMode::Disabled, SslMode::Disabled)
        );
        let mut pairs = base();
        pairs.extend([
            (SOURCE_DB_SSL_MODE, "REQUIRED"),
            (TARGET_DB_SSL_MODE, "verify-identity"),
            (TARGET_DB_SSL_CA, "/var/task/rds-global-bundle.pem"),
        ]);
        let config = Config::from_env(&Env::from_pairs(pairs)).unwrap();
        assert_eq!(
            config.source.tls,
            Tls {
                mode: SslMode::Required,
                ca: None
            }
        );
        assert_eq!(
            config.target.tls,
            Tls {
                mode: SslMode::VerifyIdentity,
                ca: Some(PathBuf::from("/var/task/rds-global-bundle.pem"))
            }
        );
    }

    #[test]
    fn a_tls_setting_that_cannot_be_honoured_is_named() {
        let mut pairs = base();
        pairs.push((TARGET_DB_SSL_MODE, "prefer"));
        assert_eq!(
            Config::from_env(&Env::from_pairs(pairs))
                .unwrap_err()
                .to_string(),
            "invalid environment variable TARGET_DB_SSL_MODE: expected disabled, required, \
             verify_ca or verify_identity"
        );
        let mut pairs = base();
        pairs.extend([
            (SOURCE_DB_SSL_MODE, "required"),
            (SOURCE_DB_SSL_CA, "/ca.pem"),
        ]);
        assert_eq!(
            Config::from_env(&Env::from_pairs(pairs))
                .unwrap_err()
                .to_string(),
            "invalid environment variable SOURCE_DB_SSL_CA: a CA file is only used with ssl \
             mode verify_ca or verify_identity, not required"
        );
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
