//! RDS and Aurora: deletion protection off, or backup retention below
//! `MIN_BACKUP_RETENTION_DAYS`, is set; unencrypted storage cannot be encrypted in place
//! and is reported for a person (the fix is an encrypted snapshot copy and a restore,
//! which a cutover must plan).
//!
//! Config identifies a cluster by its resource id (`cluster-…`) and an instance by its
//! (`db-…`, upper case); an identifier or ARN is accepted too. Resource ids are matched by
//! listing, since not every endpoint filters on them. An instance that belongs to a
//! cluster takes these settings from the cluster, so it is reported for a person rather
//! than changed.

use aws_sdk_rds::types::{DbCluster, DbInstance};
use serde_json::json;

use super::{Finding, Fix, Inspection, Tags};
use crate::Deps;
use crate::error::{Error, is_missing};
use crate::rules::RuleKind;

/// What to change on a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// A cluster (`true`) or an instance.
    pub cluster: bool,
    /// Its identifier.
    pub identifier: String,
    /// Turn deletion protection on.
    pub deletion_protection: bool,
    /// Set this backup retention, in days.
    pub backup_retention: Option<i32>,
}

fn is_resource_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

fn tags(list: &[aws_sdk_rds::types::Tag]) -> Tags {
    list.iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect()
}

async fn find_cluster(deps: &Deps, id: &str) -> Result<Option<DbCluster>, Error> {
    let by_resource_id = is_resource_id(id, "cluster-");
    let mut marker = None;
    loop {
        let request = deps.rds.describe_db_clusters().set_marker(marker);
        let request = if by_resource_id {
            request
        } else {
            request.db_cluster_identifier(id)
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(Error::aws(format!("describe database cluster {id}"), &e)),
        };
        let found = out
            .db_clusters
            .unwrap_or_default()
            .into_iter()
            .find(|c| !by_resource_id || c.db_cluster_resource_id.as_deref() == Some(id));
        if found.is_some() || out.marker.is_none() {
            return Ok(found);
        }
        marker = out.marker;
    }
}

async fn find_instance(deps: &Deps, id: &str) -> Result<Option<DbInstance>, Error> {
    let by_resource_id = is_resource_id(id, "db-");
    let mut marker = None;
    loop {
        let request = deps.rds.describe_db_instances().set_marker(marker);
        let request = if by_resource_id {
            request
        } else {
            request.db_instance_identifier(id)
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(Error::aws(format!("describe database instance {id}"), &e)),
        };
        let found = out
            .db_instances
            .unwrap_or_default()
            .into_iter()
            .find(|i| !by_resource_id || i.dbi_resource_id.as_deref() == Some(id));
        if found.is_some() || out.marker.is_none() {
            return Ok(found);
        }
        marker = out.marker;
    }
}

/// The settings one database has, whichever its kind.
struct Settings {
    cluster: bool,
    identifier: String,
    member_of: Option<String>,
    deletion_protection: bool,
    backup_retention: i32,
    encrypted: bool,
}

fn decide(kind: RuleKind, s: &Settings, min_retention: i32) -> Finding {
    let change = |deletion_protection, backup_retention| {
        Finding::Fix(Fix::ModifyDatabase(Change {
            cluster: s.cluster,
            identifier: s.identifier.clone(),
            deletion_protection,
            backup_retention,
        }))
    };
    let needs_fix = match kind {
        RuleKind::DatabaseStorageEncryption => {
            return if s.encrypted {
                Finding::Compliant
            } else {
                Finding::NeedsPerson(
                    "storage is not encrypted and cannot be encrypted in place: restore an \
                     encrypted copy of a snapshot"
                        .to_owned(),
                )
            };
        }
        RuleKind::ClusterDeletionProtection | RuleKind::InstanceDeletionProtection => {
            !s.deletion_protection
        }
        _ => s.backup_retention < min_retention,
    };
    if !needs_fix {
        return Finding::Compliant;
    }
    if let Some(cluster) = &s.member_of {
        return Finding::NeedsPerson(format!(
            "the instance takes this setting from its cluster {cluster}; remediate the cluster"
        ));
    }
    match kind {
        RuleKind::ClusterDeletionProtection | RuleKind::InstanceDeletionProtection => {
            change(true, None)
        }
        _ => change(false, Some(min_retention)),
    }
}

/// Reads the database's protection, retention and encryption.
pub async fn inspect(
    deps: &Deps,
    kind: RuleKind,
    resource_type: &str,
    id: &str,
) -> Result<Option<Inspection>, Error> {
    let (settings, tags, arn) = if resource_type == "AWS::RDS::DBCluster" {
        let Some(c) = find_cluster(deps, id).await? else {
            return Ok(None);
        };
        let settings = Settings {
            cluster: true,
            identifier: c.db_cluster_identifier.clone().unwrap_or_default(),
            member_of: None,
            deletion_protection: c.deletion_protection.unwrap_or(false),
            backup_retention: c.backup_retention_period.unwrap_or(0),
            encrypted: c.storage_encrypted.unwrap_or(false),
        };
        (settings, tags(c.tag_list()), c.db_cluster_arn.clone())
    } else {
        let Some(i) = find_instance(deps, id).await? else {
            return Ok(None);
        };
        let settings = Settings {
            cluster: false,
            identifier: i.db_instance_identifier.clone().unwrap_or_default(),
            member_of: i.db_cluster_identifier.clone(),
            deletion_protection: i.deletion_protection.unwrap_or(false),
            backup_retention: i.backup_retention_period.unwrap_or(0),
            encrypted: i.storage_encrypted.unwrap_or(false),
        };
        (settings, tags(i.tag_list()), i.db_instance_arn.clone())
    };
    let finding = decide(kind, &settings, deps.config.min_backup_retention_days);
    Ok(Some(Inspection {
        tags,
        names: [Some(settings.identifier.clone()), arn]
            .into_iter()
            .flatten()
            .collect(),
        state: json!({
            "identifier": settings.identifier,
            "deletion_protection": settings.deletion_protection,
            "backup_retention_days": settings.backup_retention,
            "storage_encrypted": settings.encrypted,
        }),
        finding,
    }))
}

/// Applies `change` at once (not in the next maintenance window).
pub async fn apply(deps: &Deps, change: &Change) -> Result<(), Error> {
    let protect = change.deletion_protection.then_some(true);
    let id = change.identifier.as_str();
    if change.cluster {
        deps.rds
            .modify_db_cluster()
            .db_cluster_identifier(id)
            .set_deletion_protection(protect)
            .set_backup_retention_period(change.backup_retention)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| Error::aws(format!("modify database cluster {id}"), &e))?;
    } else {
        deps.rds
            .modify_db_instance()
            .db_instance_identifier(id)
            .set_deletion_protection(protect)
            .set_backup_retention_period(change.backup_retention)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| Error::aws(format!("modify database instance {id}"), &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            cluster: true,
            identifier: "payments".into(),
            member_of: None,
            deletion_protection: true,
            backup_retention: 7,
            encrypted: false,
        }
    }

    #[test]
    fn retention_below_policy_is_raised_to_the_policy() {
        let mut s = settings();
        assert_eq!(
            decide(RuleKind::ClusterBackupRetention, &s, 7),
            Finding::Compliant
        );
        s.backup_retention = 1;
        assert_eq!(
            decide(RuleKind::ClusterBackupRetention, &s, 7),
            Finding::Fix(Fix::ModifyDatabase(Change {
                cluster: true,
                identifier: "payments".into(),
                deletion_protection: false,
                backup_retention: Some(7),
            }))
        );
    }

    #[test]
    fn unencrypted_storage_and_cluster_members_need_a_person() {
        let mut s = settings();
        assert!(matches!(
            decide(RuleKind::DatabaseStorageEncryption, &s, 7),
            Finding::NeedsPerson(_)
        ));
        s.cluster = false;
        s.member_of = Some("aurora-1".into());
        s.deletion_protection = false;
        assert!(matches!(
            decide(RuleKind::InstanceDeletionProtection, &s, 7),
            Finding::NeedsPerson(r) if r.contains("aurora-1")
        ));
    }

    #[test]
    fn resource_ids_are_told_from_identifiers() {
        assert!(is_resource_id(
            "cluster-PZWTM7UPBL580RJ90GRWQJZKX9",
            "cluster-"
        ));
        assert!(!is_resource_id("cluster-payments", "cluster-"));
        assert!(is_resource_id("db-ABCDEFGH12", "db-"));
        assert!(!is_resource_id("db-payments-1", "db-"));
    }
}
