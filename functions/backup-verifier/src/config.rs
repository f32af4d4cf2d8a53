//! The verifier's settings: every environment variable it reads, as a documented constant,
//! and the typed [`Config`] read from them once per cold start.

use migration_shared::config::{ConfigError, Env};

pub use migration_shared::config::MIGRATION_ID;

/// The CloudWatch namespace of the check metrics; `PaymentMigration` when unset.
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// The name of the backup vault every recovery point must sit in.
pub const EXPECTED_VAULT_NAME: &str = "EXPECTED_VAULT_NAME";
/// The KMS key (key ARN, key id or alias ARN) recovery points must be encrypted with.
pub const EXPECTED_KMS_KEY_ARN: &str = "EXPECTED_KMS_KEY_ARN";
/// The ARN of the disaster-recovery vault (another region or account) copies must reach.
pub const DR_VAULT_ARN: &str = "DR_VAULT_ARN";
/// The key ARN copies must be encrypted with in the DR vault, compared as written (an alias
/// is not resolved there); optional, any key when unset.
pub const DR_KMS_KEY_ARN: &str = "DR_KMS_KEY_ARN";
/// The least number of days a recovery point's lifecycle must keep it.
pub const MIN_RETENTION_DAYS: &str = "MIN_RETENTION_DAYS";
/// Whether the expected vault must be locked (AWS Backup Vault Lock); `true` when unset.
pub const REQUIRE_VAULT_LOCK: &str = "REQUIRE_VAULT_LOCK";
/// The recovery point objective in hours; `24` when unset.
pub const RPO_HOURS: &str = "RPO_HOURS";
/// The comma-separated ARNs of the resources the schedule proves are backed up.
pub const PROTECTED_RESOURCE_ARNS: &str = "PROTECTED_RESOURCE_ARNS";
/// The SQS queue URL alerts are sent to, one JSON message per failed check.
pub const ALERT_QUEUE_URL: &str = "ALERT_QUEUE_URL";
/// The longest a restore job may take, in minutes; `240` when unset.
pub const MAX_RESTORE_MINUTES: &str = "MAX_RESTORE_MINUTES";

/// The namespace used when [`METRICS_NAMESPACE`] is unset.
pub const DEFAULT_NAMESPACE: &str = "PaymentMigration";
/// The RPO used when [`RPO_HOURS`] is unset.
pub const DEFAULT_RPO_HOURS: u32 = 24;
/// The restore time limit used when [`MAX_RESTORE_MINUTES`] is unset.
pub const DEFAULT_MAX_RESTORE_MINUTES: u32 = 240;

/// A backup vault named by its ARN:
/// `arn:<partition>:backup:<region>:<account>:backup-vault:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultArn {
    /// The whole ARN, as configured.
    pub arn: String,
    /// The vault's region.
    pub region: String,
    /// The account that owns the vault.
    pub account: String,
    /// The vault's name.
    pub name: String,
}

impl VaultArn {
    /// Splits a backup vault ARN; `None` when it is not one.
    #[must_use]
    pub fn parse(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(7, ':');
        let (arn_tag, _partition, service) = (parts.next()?, parts.next()?, parts.next()?);
        let (region, account, kind, name) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let valid = arn_tag == "arn"
            && service == "backup"
            && kind == "backup-vault"
            && !region.is_empty()
            && !account.is_empty()
            && !name.is_empty();
        valid.then(|| Self {
            arn: arn.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Everything the verifier is told by its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The migration every log record and metric carries.
    pub migration_id: String,
    /// The CloudWatch namespace of the metrics.
    pub metrics_namespace: String,
    /// The vault recovery points must sit in.
    pub expected_vault_name: String,
    /// The KMS key recovery points must be encrypted with, as configured.
    pub expected_kms_key: String,
    /// The disaster-recovery vault copies must reach.
    pub dr_vault: VaultArn,
    /// The key copies must be encrypted with there, when the policy names one.
    pub dr_kms_key_arn: Option<String>,
    /// The least number of days a recovery point must be kept.
    pub min_retention_days: u32,
    /// Whether the expected vault must be locked.
    pub require_vault_lock: bool,
    /// The recovery point objective, in hours.
    pub rpo_hours: u32,
    /// The resources whose recovery points the schedule checks.
    pub protected_resource_arns: Vec<String>,
    /// Where alerts go.
    pub alert_queue_url: String,
    /// The longest a restore may take, in minutes.
    pub max_restore_minutes: u32,
}

impl Config {
    /// Reads and checks every variable; the error names the variable at fault.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |name: &str, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let dr_vault = VaultArn::parse(&env.required(DR_VAULT_ARN)?).ok_or_else(|| {
            invalid(
                DR_VAULT_ARN,
                "expected arn:aws:backup:<region>:<account>:backup-vault:<name>",
            )
        })?;
        let positive = |name: &str, value: u32| {
            if value == 0 {
                Err(invalid(name, "must be at least 1"))
            } else {
                Ok(value)
            }
        };
        let protected_resource_arns = env.list(PROTECTED_RESOURCE_ARNS);
        if protected_resource_arns.is_empty() {
            return Err(ConfigError::Missing {
                name: PROTECTED_RESOURCE_ARNS.to_owned(),
            });
        }
        Ok(Self {
            migration_id: env.required(MIGRATION_ID)?,
            metrics_namespace: env
                .optional(METRICS_NAMESPACE)
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            expected_vault_name: env.required(EXPECTED_VAULT_NAME)?,
            expected_kms_key: env.required(EXPECTED_KMS_KEY_ARN)?,
            dr_vault,
            dr_kms_key_arn: env.optional(DR_KMS_KEY_ARN),
            min_retention_days: positive(
                MIN_RETENTION_DAYS,
                env.parse_required(MIN_RETENTION_DAYS)?,
            )?,
            require_vault_lock: env.flag(REQUIRE_VAULT_LOCK, true)?,
            rpo_hours: positive(RPO_HOURS, env.parse_or(RPO_HOURS, DEFAULT_RPO_HOURS)?)?,
            protected_resource_arns,
            alert_queue_url: env.required(ALERT_QUEUE_URL)?,
            max_restore_minutes: positive(
                MAX_RESTORE_MINUTES,
                env.parse_or(MAX_RESTORE_MINUTES, DEFAULT_MAX_RESTORE_MINUTES)?,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DR: &str = "arn:aws:backup:us-west-2:222233334444:backup-vault:payments-dr";

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (MIGRATION_ID, "cutover-1"),
            (EXPECTED_VAULT_NAME, "payments"),
            (EXPECTED_KMS_KEY_ARN, "alias/payments"),
            (DR_VAULT_ARN, DR),
            (MIN_RETENTION_DAYS, "35"),
            (PROTECTED_RESOURCE_ARNS, "arn:a, arn:b"),
            (ALERT_QUEUE_URL, "http://queue"),
        ]
    }

    #[test]
    fn defaults_apply_to_what_is_unset() {
        let config = Config::from_env(&Env::from_pairs(base())).unwrap();
        assert_eq!(config.metrics_namespace, "PaymentMigration");
        assert!(config.require_vault_lock);
        assert_eq!(config.rpo_hours, 24);
        assert_eq!(config.max_restore_minutes, 240);
        assert_eq!(config.min_retention_days, 35);
        assert_eq!(config.protected_resource_arns, ["arn:a", "arn:b"]);
        assert_eq!(config.dr_kms_key_arn, None);
        assert_eq!(config.dr_vault.region, "us-west-2");
        assert_eq!(config.dr_vault.account, "222233334444");
        assert_eq!(config.dr_vault.name, "payments-dr");
    }

    #[test]
    fn a_dr_vault_that_is_not_a_vault_arn_is_refused_by_name() {
        let mut pairs = base();
        pairs.push((DR_VAULT_ARN, "arn:aws:s3:::bucket"));
        let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid environment variable DR_VAULT_ARN"),
            "{err}"
        );
    }

    #[test]
    fn no_protected_resources_and_zero_limits_are_refused() {
        let mut pairs = base();
        pairs.retain(|(k, _)| *k != PROTECTED_RESOURCE_ARNS);
        let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable PROTECTED_RESOURCE_ARNS"
        );
        let mut pairs = base();
        pairs.push((RPO_HOURS, "0"));
        let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid environment variable RPO_HOURS: must be at least 1"
        );
    }
}
