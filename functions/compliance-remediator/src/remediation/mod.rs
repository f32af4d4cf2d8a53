//! The remediations, one small module each: every one reads the resource's current state
//! ([`inspect`]) and, when asked, applies the one change that makes it compliant
//! ([`apply`]). Deciding whether to apply (dry run, exemption, freeze, loop guard) is the
//! handler's job, not theirs.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Deps;
use crate::error::Error;
use crate::rules::RuleKind;

pub mod kms;
pub mod rds;
pub mod s3;
pub mod security_group;
pub mod sqs;
pub mod ssm;

/// A resource's tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// A resource as read now.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Its tags, for the exemption check.
    pub tags: Tags,
    /// Other names it is known by (identifier, ARN, URL, group name), so a freeze window
    /// may name it the way people do rather than by Config's resource id.
    pub names: Vec<String>,
    /// The settings that matter to the rule, for the audit record; never a secret value.
    pub state: Value,
    /// What the rule needs.
    pub finding: Finding,
}

/// What a resource needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// Nothing: it is compliant.
    Compliant,
    /// This change.
    Fix(Fix),
    /// A person: it cannot be fixed in place, for this reason.
    NeedsPerson(String),
}

/// The one change that makes a resource compliant.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    /// Encrypt the queue at this URL.
    EncryptQueue {
        /// The queue's URL.
        url: String,
    },
    /// Turn on rotation of this key.
    EnableKeyRotation {
        /// The key's id.
        key_id: String,
    },
    /// Rewrite this parameter as a SecureString.
    SecureParameter(ssm::Rewrite),
    /// Revoke these ingress rules of this group.
    RevokeIngress {
        /// The group's id.
        group_id: String,
        /// The rules open to the world on database ports.
        rules: Vec<security_group::OpenRule>,
    },
    /// Change these settings of an RDS cluster or instance.
    ModifyDatabase(rds::Change),
    /// Block all public access to this bucket.
    BlockPublicAccess {
        /// The bucket's name.
        bucket: String,
    },
    /// Encrypt this bucket by default under the migration key.
    EncryptBucket {
        /// The bucket's name.
        bucket: String,
    },
}

/// Reads the resource `resource_id` for remediation `kind`; `None` when it no longer
/// exists.
pub async fn inspect(
    deps: &Deps,
    kind: RuleKind,
    resource_type: &str,
    resource_id: &str,
) -> Result<Option<Inspection>, Error> {
    match kind {
        RuleKind::SqsEncryption => sqs::inspect(deps, resource_id).await,
        RuleKind::KmsRotation => kms::inspect(deps, resource_id).await,
        RuleKind::SsmSecureString => ssm::inspect(deps, resource_id).await,
        RuleKind::SecurityGroupDbPorts => security_group::inspect(deps, resource_id).await,
        RuleKind::ClusterDeletionProtection
        | RuleKind::ClusterBackupRetention
        | RuleKind::InstanceDeletionProtection
        | RuleKind::InstanceBackupRetention
        | RuleKind::DatabaseStorageEncryption => {
            rds::inspect(deps, kind, resource_type, resource_id).await
        }
        RuleKind::S3PublicAccessBlock | RuleKind::S3DefaultEncryption => {
            s3::inspect(deps, kind, resource_id).await
        }
    }
}

/// Applies `fix`.
pub async fn apply(deps: &Deps, fix: &Fix) -> Result<(), Error> {
    match fix {
        Fix::EncryptQueue { url } => sqs::apply(deps, url).await,
        Fix::EnableKeyRotation { key_id } => kms::apply(deps, key_id).await,
        Fix::SecureParameter(rewrite) => ssm::apply(deps, rewrite).await,
        Fix::RevokeIngress { group_id, rules } => {
            security_group::apply(deps, group_id, rules).await
        }
        Fix::ModifyDatabase(change) => rds::apply(deps, change).await,
        Fix::BlockPublicAccess { bucket } => s3::block_public_access(deps, bucket).await,
        Fix::EncryptBucket { bucket } => s3::encrypt(deps, bucket).await,
    }
}
