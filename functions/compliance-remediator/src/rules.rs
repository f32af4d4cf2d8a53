//! Which Config rule asks for which remediation.
//!
//! A rule is known by its managed rule identifier (or, for the checks AWS does not manage,
//! the identifier the migration template gives its custom rule). Config reports the rule's
//! *name*, which the template chooses, so a name matches an identifier when, upper-cased
//! with every other character turned into `_`, it contains the identifier as whole words:
//! `cmk-backing-key-rotation-enabled`, `pm-cutover-cmk-backing-key-rotation-enabled` and
//! `securityhub-cmk-backing-key-rotation-enabled-7f3a` all mean
//! `CMK_BACKING_KEY_ROTATION_ENABLED`. When several identifiers match, the longest wins.

use crate::config::Config;

/// One remediation, with the rules that ask for it and the resource types it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Encrypt an SQS queue with the migration KMS key.
    SqsEncryption,
    /// Turn on rotation of a customer-managed KMS key.
    KmsRotation,
    /// Rewrite a plain String parameter that holds a secret as a SecureString.
    SsmSecureString,
    /// Revoke ingress open to the world on database ports.
    SecurityGroupDbPorts,
    /// Turn on deletion protection of an RDS or Aurora cluster.
    ClusterDeletionProtection,
    /// Raise the backup retention of an RDS or Aurora cluster to the policy.
    ClusterBackupRetention,
    /// Turn on deletion protection of an RDS instance.
    InstanceDeletionProtection,
    /// Raise the backup retention of an RDS instance to the policy.
    InstanceBackupRetention,
    /// Unencrypted database storage: cannot be fixed in place, reported for a person.
    DatabaseStorageEncryption,
    /// Block public access at the bucket level.
    S3PublicAccessBlock,
    /// Turn on default encryption of a bucket under the migration KMS key.
    S3DefaultEncryption,
}

/// The rule name the scheduled parameter scan reports under; Config does not record SSM
/// parameters, so no Config rule exists for them.
pub const SSM_SCAN_RULE: &str = "ssm-secret-parameter-scan";

/// Identifier → remediation. The identifiers marked "custom" are not AWS managed rules:
/// they name custom rules (or, for the parameter scan, the schedule) by convention.
pub const RULES: &[(&str, RuleKind)] = &[
    // custom
    ("SQS_QUEUE_ENCRYPTED", RuleKind::SqsEncryption),
    ("CMK_BACKING_KEY_ROTATION_ENABLED", RuleKind::KmsRotation),
    // custom: the scheduled scan
    ("SSM_SECRET_PARAMETER_SCAN", RuleKind::SsmSecureString),
    (
        "RESTRICTED_INCOMING_TRAFFIC",
        RuleKind::SecurityGroupDbPorts,
    ),
    (
        "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
        RuleKind::SecurityGroupDbPorts,
    ),
    // custom
    ("DB_PORTS_RESTRICTED", RuleKind::SecurityGroupDbPorts),
    (
        "RDS_CLUSTER_DELETION_PROTECTION_ENABLED",
        RuleKind::ClusterDeletionProtection,
    ),
    // custom
    (
        "RDS_CLUSTER_BACKUP_RETENTION",
        RuleKind::ClusterBackupRetention,
    ),
    (
        "RDS_INSTANCE_DELETION_PROTECTION_ENABLED",
        RuleKind::InstanceDeletionProtection,
    ),
    (
        "DB_INSTANCE_BACKUP_ENABLED",
        RuleKind::InstanceBackupRetention,
    ),
    ("RDS_STORAGE_ENCRYPTED", RuleKind::DatabaseStorageEncryption),
    (
        "RDS_CLUSTER_ENCRYPTED_AT_REST",
        RuleKind::DatabaseStorageEncryption,
    ),
    (
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
        RuleKind::S3PublicAccessBlock,
    ),
    (
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
        RuleKind::S3DefaultEncryption,
    ),
    ("S3_DEFAULT_ENCRYPTION_KMS", RuleKind::S3DefaultEncryption),
];

impl RuleKind {
    /// The resource types this remediation acts on, as Config names them.
    #[must_use]
    pub fn resource_types(self) -> &'static [&'static str] {
        match self {
            Self::SqsEncryption => &["AWS::SQS::Queue"],
            Self::KmsRotation => &["AWS::KMS::Key"],
            Self::SsmSecureString => &["AWS::SSM::Parameter"],
            Self::SecurityGroupDbPorts => &["AWS::EC2::SecurityGroup"],
            Self::ClusterDeletionProtection | Self::ClusterBackupRetention => {
                &["AWS::RDS::DBCluster"]
            }
            Self::InstanceDeletionProtection | Self::InstanceBackupRetention => {
                &["AWS::RDS::DBInstance"]
            }
            Self::DatabaseStorageEncryption => &["AWS::RDS::DBInstance", "AWS::RDS::DBCluster"],
            Self::S3PublicAccessBlock | Self::S3DefaultEncryption => &["AWS::S3::Bucket"],
        }
    }

    /// What "already compliant" means for this remediation, for the audit record.
    #[must_use]
    pub fn compliant_reason(self) -> &'static str {
        match self {
            Self::SqsEncryption => "the queue is encrypted under a KMS key",
            Self::KmsRotation => "the key rotates, or is managed by AWS",
            Self::SsmSecureString => "the parameter is a SecureString",
            Self::SecurityGroupDbPorts => "no ingress is open to the world on a database port",
            Self::ClusterDeletionProtection | Self::InstanceDeletionProtection => {
                "deletion protection is on"
            }
            Self::ClusterBackupRetention | Self::InstanceBackupRetention => {
                "backup retention meets MIN_BACKUP_RETENTION_DAYS"
            }
            Self::DatabaseStorageEncryption => "storage is encrypted",
            Self::S3PublicAccessBlock => "all four public access block settings are on",
            Self::S3DefaultEncryption => "default encryption uses KMS",
        }
    }

    /// The action an audit record names for this remediation.
    #[must_use]
    pub fn action(self) -> &'static str {
        match self {
            Self::SqsEncryption => "encrypt_queue",
            Self::KmsRotation => "enable_key_rotation",
            Self::SsmSecureString => "convert_to_secure_string",
            Self::SecurityGroupDbPorts => "revoke_open_database_ingress",
            Self::ClusterDeletionProtection | Self::InstanceDeletionProtection => {
                "enable_deletion_protection"
            }
            Self::ClusterBackupRetention | Self::InstanceBackupRetention => {
                "raise_backup_retention"
            }
            Self::DatabaseStorageEncryption => "report_unencrypted_storage",
            Self::S3PublicAccessBlock => "block_public_access",
            Self::S3DefaultEncryption => "enable_default_encryption",
        }
    }
}

/// A rule name upper-cased, with every character that is not a letter or digit as `_`.
fn normalise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn contains_words(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = at == 0 || haystack.as_bytes()[at - 1] == b'_';
        let end = at + needle.len();
        let after = end == haystack.len() || haystack.as_bytes()[end] == b'_';
        before && after
    })
}

/// The identifier and remediation a rule name stands for, if any.
#[must_use]
pub fn lookup(rule_name: &str) -> Option<(&'static str, RuleKind)> {
    let name = normalise(rule_name);
    RULES
        .iter()
        .filter(|(id, _)| contains_words(&name, id))
        .max_by_key(|(id, _)| id.len())
        .copied()
}

/// Whether the allow-list lets the remediator act on `rule_name` (known as `identifier`):
/// an empty list allows every known rule; otherwise the list must hold the rule's name or
/// its identifier, in any case.
#[must_use]
pub fn allowed(config: &Config, rule_name: &str, identifier: &str) -> bool {
    config.allowed_rules.is_empty()
        || config
            .allowed_rules
            .iter()
            .any(|a| a == identifier || *a == rule_name.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_identifiers_as_whole_words() {
        assert_eq!(
            lookup("cmk-backing-key-rotation-enabled"),
            Some(("CMK_BACKING_KEY_ROTATION_ENABLED", RuleKind::KmsRotation))
        );
        assert_eq!(
            lookup("securityhub-s3-bucket-level-public-access-prohibited-7f3a").map(|r| r.1),
            Some(RuleKind::S3PublicAccessBlock)
        );
        assert_eq!(
            lookup("pm-db-ports-restricted").map(|r| r.1),
            Some(RuleKind::SecurityGroupDbPorts)
        );
        assert_eq!(lookup("xrds-storage-encrypted"), None);
        assert_eq!(lookup("cloudtrail-enabled"), None);
    }

    #[test]
    fn the_allow_list_takes_rule_names_or_identifiers_in_any_case() {
        use migration_shared::config::Env;
        let config = |allowed: &str| {
            Config::from_env(&Env::from_pairs([
                ("MIGRATION_ID", "c"),
                ("MIGRATION_KMS_KEY_ID", "k"),
                ("ALERT_QUEUE_URL", "q"),
                ("ALLOWED_RULES", allowed),
            ]))
            .unwrap()
        };
        let by_name = config("c-1-RDS-storage-encrypted");
        assert!(allowed(
            &by_name,
            "c-1-rds-storage-encrypted",
            "RDS_STORAGE_ENCRYPTED"
        ));
        assert!(!allowed(
            &by_name,
            "c-1-db-instance-backup-enabled",
            "DB_INSTANCE_BACKUP_ENABLED"
        ));
        let by_identifier = config("db_instance_backup_enabled");
        assert!(allowed(
            &by_identifier,
            "c-1-db-instance-backup-enabled",
            "DB_INSTANCE_BACKUP_ENABLED"
        ));
        let everything = config(" ");
        assert!(allowed(&everything, "anything", "RDS_STORAGE_ENCRYPTED"));
    }

    #[test]
    fn every_identifier_maps_to_itself() {
        for (id, kind) in RULES {
            assert_eq!(
                lookup(&id.to_ascii_lowercase().replace('_', "-")),
                Some((*id, *kind))
            );
        }
    }
}
