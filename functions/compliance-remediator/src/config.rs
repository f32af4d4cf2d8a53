//! The remediator's settings: every environment variable it reads, named once here, and
//! the typed [`Config`] read from them once per cold start.

use migration_shared::config::{ConfigError, Env};
use regex::Regex;

pub use migration_shared::config::MIGRATION_ID;

/// CloudWatch namespace of the `Remediations` metric; `PaymentMigration` when unset.
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// The migration's KMS key (id, ARN or alias) that queues, parameters and buckets are
/// encrypted under. Required.
pub const MIGRATION_KMS_KEY_ID: &str = "MIGRATION_KMS_KEY_ID";
/// `true` to decide and report without any changing call; `false` when unset.
pub const DRY_RUN: &str = "DRY_RUN";
/// The tag key that exempts a resource (any value); `migration:remediation-exempt` when unset.
pub const EXEMPT_TAG_KEY: &str = "EXEMPT_TAG_KEY";
/// Comma-separated rule names or managed rule identifiers acted on; empty means all known.
pub const ALLOWED_RULES: &str = "ALLOWED_RULES";
/// SSM parameter holding the freeze window as JSON; no freeze when unset or absent.
pub const FREEZE_PARAMETER: &str = "FREEZE_PARAMETER";
/// How many remediations of one resource an hour are allowed; 3 when unset.
pub const LOOP_GUARD_MAX: &str = "LOOP_GUARD_MAX";
/// SQS queue URL that receives alerts (loop guard, needs a person). Required.
pub const ALERT_QUEUE_URL: &str = "ALERT_QUEUE_URL";
/// Parameter Store path the scheduled scan walks (recursively); no scan when unset.
pub const SSM_SCAN_PATH: &str = "SSM_SCAN_PATH";
/// Regular expression on parameter names that marks a parameter as holding a secret.
pub const SSM_SECRET_NAME_PATTERN: &str = "SSM_SECRET_NAME_PATTERN";
/// Comma-separated TCP ports counted as database ports; `3306,5432,1433,1521` when unset.
pub const DB_PORTS: &str = "DB_PORTS";
/// The least backup retention, in days, a database must keep; 7 when unset.
pub const MIN_BACKUP_RETENTION_DAYS: &str = "MIN_BACKUP_RETENTION_DAYS";

/// Default of [`METRICS_NAMESPACE`].
pub const DEFAULT_NAMESPACE: &str = "PaymentMigration";
/// Default of [`EXEMPT_TAG_KEY`].
pub const DEFAULT_EXEMPT_TAG_KEY: &str = "migration:remediation-exempt";
/// Default of [`LOOP_GUARD_MAX`].
pub const DEFAULT_LOOP_GUARD_MAX: u32 = 3;
/// Default of [`DB_PORTS`].
pub const DEFAULT_DB_PORTS: &[i32] = &[3306, 5432, 1433, 1521];
/// Default of [`MIN_BACKUP_RETENTION_DAYS`].
pub const DEFAULT_MIN_BACKUP_RETENTION_DAYS: i32 = 7;
/// Default of [`SSM_SECRET_NAME_PATTERN`]: names that speak of passwords, secrets, tokens,
/// keys or credentials, in any case.
pub const DEFAULT_SECRET_NAME_PATTERN: &str =
    r"(?i)(password|passwd|secret|token|api[-_]?key|private[-_]?key|credential)";

/// The remediator's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The migration (cutover) every record and metric belongs to.
    pub migration_id: String,
    /// CloudWatch namespace of the metrics.
    pub namespace: String,
    /// The migration KMS key used for every encryption fix.
    pub kms_key_id: String,
    /// Decide and report only.
    pub dry_run: bool,
    /// Tag key exempting a resource.
    pub exempt_tag_key: String,
    /// Rule names or identifiers acted on, upper-cased; empty means all known rules.
    pub allowed_rules: Vec<String>,
    /// Name of the freeze window parameter.
    pub freeze_parameter: Option<String>,
    /// Remediations of one resource allowed per hour.
    pub loop_guard_max: u32,
    /// Where alerts go.
    pub alert_queue_url: String,
    /// Path of the scheduled parameter scan.
    pub ssm_scan_path: Option<String>,
    /// Names of parameters that hold secrets.
    pub secret_name_pattern: Regex,
    /// Database ports.
    pub db_ports: Vec<i32>,
    /// Least backup retention in days.
    pub min_backup_retention_days: i32,
}

impl Config {
    /// Reads every setting from `env`; an error names the variable that is missing or wrong.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let pattern = env
            .optional(SSM_SECRET_NAME_PATTERN)
            .unwrap_or_else(|| DEFAULT_SECRET_NAME_PATTERN.to_owned());
        let secret_name_pattern = Regex::new(&pattern).map_err(|e| ConfigError::Invalid {
            name: SSM_SECRET_NAME_PATTERN.to_owned(),
            reason: format!("not a regular expression: {e}"),
        })?;
        let db_ports = parse_ports(env)?;
        let min_backup_retention_days =
            env.parse_or(MIN_BACKUP_RETENTION_DAYS, DEFAULT_MIN_BACKUP_RETENTION_DAYS)?;
        if !(1..=35).contains(&min_backup_retention_days) {
            return Err(ConfigError::Invalid {
                name: MIN_BACKUP_RETENTION_DAYS.to_owned(),
                reason: "expected a number of days from 1 to 35".to_owned(),
            });
        }
        Ok(Self {
            migration_id: env.required(MIGRATION_ID)?,
            namespace: env
                .optional(METRICS_NAMESPACE)
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            kms_key_id: env.required(MIGRATION_KMS_KEY_ID)?,
            dry_run: env.flag(DRY_RUN, false)?,
            exempt_tag_key: env
                .optional(EXEMPT_TAG_KEY)
                .unwrap_or_else(|| DEFAULT_EXEMPT_TAG_KEY.to_owned()),
            allowed_rules: env
                .list(ALLOWED_RULES)
                .iter()
                .map(|r| r.to_ascii_uppercase())
                .collect(),
            freeze_parameter: env.optional(FREEZE_PARAMETER),
            loop_guard_max: env.parse_or(LOOP_GUARD_MAX, DEFAULT_LOOP_GUARD_MAX)?,
            alert_queue_url: env.required(ALERT_QUEUE_URL)?,
            ssm_scan_path: env.optional(SSM_SCAN_PATH),
            secret_name_pattern,
            db_ports,
            min_backup_retention_days,
        })
    }
}

fn parse_ports(env: &Env) -> Result<Vec<i32>, ConfigError> {
    let raw = env.list(DB_PORTS);
    if raw.is_empty() {
        return Ok(DEFAULT_DB_PORTS.to_vec());
    }
    raw.iter()
        .map(|p| match p.parse::<i32>() {
            Ok(port) if (1..=65535).contains(&port) => Ok(port),
            _ => Err(ConfigError::Invalid {
                name: DB_PORTS.to_owned(),
                reason: format!("{p} is not a port number"),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (MIGRATION_ID, "cutover-1"),
            (MIGRATION_KMS_KEY_ID, "alias/migration"),
            (ALERT_QUEUE_URL, "https://sqs.example/alerts"),
        ]
    }

    #[test]
    fn defaults_follow_the_documented_contract() {
        let config = Config::from_env(&Env::from_pairs(base())).unwrap();
        assert_eq!(config.namespace, "PaymentMigration");
        assert!(!config.dry_run);
        assert_eq!(config.exempt_tag_key, "migration:remediation-exempt");
        assert!(config.allowed_rules.is_empty());
        assert_eq!(config.loop_guard_max, 3);
        assert_eq!(config.db_ports, [3306, 5432, 1433, 1521]);
        assert_eq!(config.min_backup_retention_days, 7);
        assert!(config.secret_name_pattern.is_match("/app/DB_PASSWORD"));
        assert!(!config.secret_name_pattern.is_match("/app/db-host"));
    }

    #[test]
    fn a_bad_port_or_pattern_names_its_variable() {
        let mut pairs = base();
        pairs.push((DB_PORTS, "3306,http"));
        let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid environment variable DB_PORTS: http is not a port number"
        );
        let mut pairs = base();
        pairs.push((SSM_SECRET_NAME_PATTERN, "(unclosed"));
        let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid environment variable SSM_SECRET_NAME_PATTERN"),
            "{err}"
        );
    }

    #[test]
    fn the_alert_queue_is_required() {
        let pairs = base().into_iter().filter(|(k, _)| *k != ALERT_QUEUE_URL);
        let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable ALERT_QUEUE_URL"
        );
    }
}
