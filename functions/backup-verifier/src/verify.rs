//! The checks that need AWS: each trigger's recovery points, vaults, keys and jobs read
//! through the SDK and judged by the rules in [`crate::checks`].
//!
//! When a call fails, the checks that depended on it end [`Outcome::Unverified`]: they
//! count as failed, alert like any failure, and make the invocation return an error.

use aws_sdk_backup::operation::describe_recovery_point::DescribeRecoveryPointOutput;
use aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput;
use aws_sdk_backup::primitives::DateTime as SdkDateTime;
use aws_sdk_backup::types::{RestoreDeletionStatus, RestoreJobStatus, RestoreValidationStatus};
use aws_sdk_kms::types::KeyState;
use chrono::{DateTime, Utc};
use migration_shared::error::sdk_message;

use crate::Deps;
use crate::checks::{
    Check, CheckResult, JobState, Lifecycle, Outcome, job_failure, restore_duration, retention,
    rpo, vault_lock,
};
use crate::event::{BackupJob, CopyJob, RestoreJob};

fn chrono_time(t: Option<&SdkDateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn result(check: Check, subject: &str, outcome: Outcome) -> CheckResult {
    CheckResult::new(check, subject, outcome)
}

/// The results for a job that has not completed: none while it runs, a failure otherwise.
fn unfinished_or_failed(
    check: Check,
    kind: &str,
    id: &str,
    state: &str,
    status_message: Option<&str>,
) -> Vec<CheckResult> {
    match JobState::of(state) {
        JobState::Unfinished => {
            tracing::info!(
                job_id = id,
                state,
                kind,
                "job not finished, nothing to check yet"
            );
            Vec::new()
        }
        JobState::Failed => vec![result(
            check,
            id,
            Outcome::Failed(job_failure(kind, state, status_message)),
        )],
        JobState::Unknown | JobState::Completed => vec![result(
            check,
            id,
            Outcome::Failed(format!(
                "{kind} job is in a state the verifier does not know, so nothing is proven"
            )),
        )],
    }
}

/// The expected KMS key's ARN, resolved from the configured key ARN, id or alias, and its
/// state, which must be `Enabled` for recovery points under it to be restorable.
async fn expected_key(deps: &Deps) -> Result<(String, KeyState), String> {
    let key = &deps.config.expected_kms_key;
    let out = deps
        .kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|e| format!("failed to describe kms key {key}: {}", sdk_message(&e)))?;
    let metadata = out
        .key_metadata()
        .ok_or_else(|| format!("kms key {key} was described without its metadata"))?;
    let arn = metadata
        .arn()
        .ok_or_else(|| format!("kms key {key} was described without its arn"))?;
    let state = metadata
        .key_state()
        .ok_or_else(|| format!("kms key {key} was described without its state"))?;
    Ok((arn.to_owned(), state.clone()))
}

/// Whether a recovery point is encrypted with `expected`; `state` is the key's state when
/// it was read (the DR key, in another region or account, is compared by ARN only).
fn encryption(
    is_encrypted: bool,
    key_used: Option<&str>,
    expected: &str,
    state: Option<&KeyState>,
) -> Outcome {
    if !is_encrypted {
        return Outcome::Failed("the recovery point is not encrypted".into());
    }
    let Some(used) = key_used else {
        return Outcome::Failed("the recovery point does not name its encryption key".into());
    };
    if used != expected {
        return Outcome::Failed(format!(
            "the recovery point is encrypted with {used}, not the expected key {expected}"
        ));
    }
    match state {
        Some(KeyState::Enabled) | None => Outcome::Passed(format!("encrypted with {expected}")),
        Some(other) => Outcome::Failed(format!(
            "the expected key {expected} is {}, so recovery points under it cannot be restored",
            other.as_str()
        )),
    }
}

/// Verifies a backup job: a failure is alerted; a completed job's recovery point must
/// exist, be completed, encrypted with the expected key, sit in the expected vault and be
/// kept long enough, and the vault must be locked when the policy says so.
pub async fn backup_job(deps: &Deps, job: &BackupJob) -> Vec<CheckResult> {
    let id = job.backup_job_id.as_str();
    if JobState::of(&job.state) != JobState::Completed {
        return unfinished_or_failed(
            Check::BackupJob,
            "backup",
            id,
            &job.state,
            job.status_message.as_deref(),
        );
    }
    let note = job.status_message.as_deref().map_or_else(
        || "completed".to_owned(),
        |m| format!("completed with the message: {}", m.trim_matches('"')),
    );
    let mut results = vec![result(Check::BackupJob, id, Outcome::Passed(note))];
    results.push(vault_lock_result(deps).await);

    let (point, vault) = match recovery_point_of(deps, job).await {
        Ok(found) => found,
        Err(outcome) => {
            for check in [
                Check::RecoveryPoint,
                Check::Encryption,
                Check::Vault,
                Check::Retention,
            ] {
                results.push(result(check, id, outcome.clone()));
            }
            return results;
        }
    };
    let (point, vault) = (point.as_str(), vault.as_str());
    let described = deps
        .backup
        .describe_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(point)
        .send()
        .await;
    let out = match described {
        Ok(out) => out,
        Err(e) => {
            let reason = format!(
                "failed to describe recovery point {point} in vault {vault}: {}",
                sdk_message(&e)
            );
            results.push(result(
                Check::RecoveryPoint,
                point,
                Outcome::Unverified(reason),
            ));
            let not_read = "not verified: the recovery point could not be read";
            for check in [Check::Encryption, Check::Vault, Check::Retention] {
                results.push(result(check, point, Outcome::Unverified(not_read.into())));
            }
            return results;
        }
    };

    results.extend(recovery_point(deps, point, vault, &out).await);
    results
}

/// The checks of a recovery point that was read: its status, vault, key and lifecycle.
async fn recovery_point(
    deps: &Deps,
    point: &str,
    vault: &str,
    out: &DescribeRecoveryPointOutput,
) -> Vec<CheckResult> {
    let config = &deps.config;
    let mut results = Vec::with_capacity(4);
    let status = out.status().map_or("in no status", |s| s.as_str());
    results.push(result(
        Check::RecoveryPoint,
        point,
        if status == "COMPLETED" {
            Outcome::Passed("exists and is completed".into())
        } else {
            Outcome::Failed(format!(
                "the recovery point is {status}: {}",
                out.status_message()
                    .unwrap_or("AWS Backup gave no status message")
            ))
        },
    ));

    let in_vault = out.backup_vault_name().unwrap_or(vault);
    results.push(result(
        Check::Vault,
        point,
        if in_vault == config.expected_vault_name {
            Outcome::Passed(format!("in vault {in_vault}"))
        } else {
            Outcome::Failed(format!(
                "the recovery point is in vault {in_vault}, not {}",
                config.expected_vault_name
            ))
        },
    ));

    let outcome = match expected_key(deps).await {
        Ok((arn, state)) => encryption(
            out.is_encrypted(),
            out.encryption_key_arn(),
            &arn,
            Some(&state),
        ),
        Err(reason) => Outcome::Unverified(reason),
    };
    results.push(result(Check::Encryption, point, outcome));

    let lifecycle = Lifecycle {
        created: chrono_time(out.creation_date()),
        delete_after_days: out
            .lifecycle()
            .and_then(aws_sdk_backup::types::Lifecycle::delete_after_days),
        delete_at: chrono_time(out.calculated_lifecycle().and_then(|c| c.delete_at())),
    };
    results.push(result(
        Check::Retention,
        point,
        retention(lifecycle, config.min_retention_days),
    ));
    results
}

/// The recovery point a completed backup job made and the vault it went to: from the
/// event when it names them (AWS Backup often puts the recovery point only in the
/// envelope's `resources`), otherwise from `DescribeBackupJob`.
async fn recovery_point_of(deps: &Deps, job: &BackupJob) -> Result<(String, String), Outcome> {
    let expected = &deps.config.expected_vault_name;
    if let Some(point) = &job.recovery_point_arn {
        let vault = job.backup_vault_name.as_ref().unwrap_or(expected);
        return Ok((point.clone(), vault.clone()));
    }
    let id = job.backup_job_id.as_str();
    let out = deps
        .backup
        .describe_backup_job()
        .backup_job_id(id)
        .send()
        .await
        .map_err(|e| {
            Outcome::Unverified(format!(
                "failed to describe backup job {id}: {}",
                sdk_message(&e)
            ))
        })?;
    let point = out.recovery_point_arn().ok_or_else(|| {
        Outcome::Failed(format!(
            "neither the event nor AWS Backup names the recovery point of backup job {id}"
        ))
    })?;
    let vault = job
        .backup_vault_name
        .as_deref()
        .or(out.backup_vault_name())
        .unwrap_or(expected);
    Ok((point.to_owned(), vault.to_owned()))
}

async fn vault_lock_result(deps: &Deps) -> CheckResult {
    let config = &deps.config;
    let vault = config.expected_vault_name.as_str();
    if !config.require_vault_lock {
        return result(
            Check::VaultLock,
            vault,
            Outcome::Passed("the policy does not require a vault lock".into()),
        );
    }
    let outcome = match deps
        .backup
        .describe_backup_vault()
        .backup_vault_name(vault)
        .send()
        .await
    {
        Ok(out) => vault_lock(
            out.locked(),
            out.min_retention_days(),
            config.min_retention_days,
        ),
        Err(e) => Outcome::Unverified(format!(
            "failed to describe backup vault {vault}: {}",
            sdk_message(&e)
        )),
    };
    result(Check::VaultLock, vault, outcome)
}

/// Verifies a copy job: it must have completed into the disaster-recovery vault, and the
/// copy there must be completed and encrypted (with `DR_KMS_KEY_ARN` when set).
///
/// The copy is read from the DR vault's region with `BackupVaultAccountId` set to the DR
/// vault's account. A vault in another account must be readable by the function's role
/// (for example shared with its account); otherwise the check fails loudly as unverified.
pub async fn copy_job(deps: &Deps, job: &CopyJob) -> Vec<CheckResult> {
    let id = job.copy_job_id.as_str();
    if JobState::of(&job.state) != JobState::Completed {
        return unfinished_or_failed(
            Check::CopyJob,
            "copy",
            id,
            &job.state,
            job.status_message.as_deref(),
        );
    }
    let dr = &deps.config.dr_vault;
    let destination = job.destination_backup_vault_arn.as_deref();
    if destination != Some(dr.arn.as_str()) {
        let reason = destination.map_or_else(
            || "the event names no destination vault".to_owned(),
            |d| {
                format!(
                    "the copy went to {d}, not the disaster-recovery vault {}",
                    dr.arn
                )
            },
        );
        return vec![
            result(Check::CopyJob, id, Outcome::Failed(reason)),
            result(
                Check::CopyEncryption,
                id,
                Outcome::Failed(
                    "not verified: the copy is not in the disaster-recovery vault".into(),
                ),
            ),
        ];
    }
    let mut results = vec![result(
        Check::CopyJob,
        id,
        Outcome::Passed(format!("copied to {}", dr.arn)),
    )];
    let Some(point) = job.destination_recovery_point_arn.as_deref() else {
        results.push(result(
            Check::CopyEncryption,
            id,
            Outcome::Failed("the event names no copied recovery point".into()),
        ));
        return results;
    };
    let outcome = match deps
        .dr_backup
        .describe_recovery_point()
        .backup_vault_name(&dr.name)
        .backup_vault_account_id(&dr.account)
        .recovery_point_arn(point)
        .send()
        .await
    {
        Ok(out) => {
            let status = out.status().map_or("in no status", |s| s.as_str());
            if status == "COMPLETED" {
                match &deps.config.dr_kms_key_arn {
                    Some(key) => {
                        encryption(out.is_encrypted(), out.encryption_key_arn(), key, None)
                    }
                    None if out.is_encrypted() => Outcome::Passed(format!(
                        "encrypted in the disaster-recovery vault with {}",
                        out.encryption_key_arn().unwrap_or("a key it does not name")
                    )),
                    None => Outcome::Failed("the copy is not encrypted".into()),
                }
            } else {
                Outcome::Failed(format!(
                    "the copy is {status} in the disaster-recovery vault"
                ))
            }
        }
        Err(e) => Outcome::Unverified(format!(
            "failed to describe recovery point {point} in vault {}: {}",
            dr.arn,
            sdk_message(&e)
        )),
    };
    results.push(result(Check::CopyEncryption, point, outcome));
    results
}

/// Verifies a restore job: it must complete within `MAX_RESTORE_MINUTES`. When a restore
/// testing plan made it, the result is reported back with `PutRestoreValidationResult`,
/// and a restored resource whose deletion failed is a failure.
///
/// AWS Backup deletes a restore test's resource itself when the validation window ends;
/// the verifier reads the deletion status AWS Backup reports at the time it runs. A
/// deletion that fails later is seen only by a later restore job event, not by this one.
pub async fn restore_job(deps: &Deps, job: &RestoreJob) -> Vec<CheckResult> {
    let id = job.restore_job_id.as_str();
    if JobState::of(&job.status) != JobState::Completed {
        return unfinished_or_failed(
            Check::RestoreJob,
            "restore",
            id,
            &job.status,
            job.status_message.as_deref(),
        );
    }
    let described = match deps
        .backup
        .describe_restore_job()
        .restore_job_id(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let mut results = vec![result(
                Check::RestoreJob,
                id,
                Outcome::Unverified(format!(
                    "failed to describe restore job {id}: {}",
                    sdk_message(&e)
                )),
            )];
            if job.restore_testing_plan_arn.is_some() {
                results.push(result(
                    Check::RestoreValidation,
                    id,
                    Outcome::Unverified("not reported: the restore job could not be read".into()),
                ));
            }
            return results;
        }
    };
    let outcome = match described.status() {
        Some(RestoreJobStatus::Completed) => restore_duration(
            chrono_time(described.creation_date()),
            chrono_time(described.completion_date()),
            deps.config.max_restore_minutes,
        ),
        other => Outcome::Failed(format!(
            "AWS Backup reports the restore job as {}",
            other.map_or("in no status", RestoreJobStatus::as_str)
        )),
    };
    let plan = job.restore_testing_plan_arn.clone().or_else(|| {
        described
            .created_by()
            .and_then(|c| c.restore_testing_plan_arn())
            .map(str::to_owned)
    });
    let mut results = vec![result(Check::RestoreJob, id, outcome.clone())];
    let Some(plan) = plan else {
        return results;
    };

    results.extend(report_restore_test(deps, job, &described, &outcome, &plan).await);
    results
}

/// Reports a restore test's result to AWS Backup and checks its restored resource's
/// deletion.
async fn report_restore_test(
    deps: &Deps,
    job: &RestoreJob,
    described: &DescribeRestoreJobOutput,
    outcome: &Outcome,
    plan: &str,
) -> Vec<CheckResult> {
    let id = job.restore_job_id.as_str();
    let mut results = Vec::with_capacity(2);
    let (status, message) = if outcome.passed() {
        (RestoreValidationStatus::Successful, outcome.reason())
    } else {
        (RestoreValidationStatus::Failed, outcome.reason())
    };
    let reported = deps
        .backup
        .put_restore_validation_result()
        .restore_job_id(id)
        .validation_status(status.clone())
        .validation_status_message(message)
        .send()
        .await;
    results.push(result(
        Check::RestoreValidation,
        id,
        match reported {
            Ok(_) => Outcome::Passed(format!(
                "reported {} to restore testing plan {plan}",
                status.as_str()
            )),
            Err(e) => Outcome::Unverified(format!(
                "failed to report the validation result of restore job {id}: {}",
                sdk_message(&e)
            )),
        },
    ));

    let created = described
        .created_resource_arn()
        .or(job.created_resource_arn.as_deref())
        .unwrap_or("the restored resource");
    let cleanup = match described.deletion_status() {
        Some(RestoreDeletionStatus::Failed) => Outcome::Failed(format!(
            "{created} was left behind: AWS Backup failed to delete it: {}",
            described
                .deletion_status_message()
                .unwrap_or("AWS Backup gave no message")
        )),
        Some(RestoreDeletionStatus::Successful) => Outcome::Passed(format!("{created} deleted")),
        Some(RestoreDeletionStatus::Deleting) => {
            Outcome::Passed(format!("{created} is being deleted"))
        }
        _ => Outcome::Passed(format!(
            "{created} is deleted by AWS Backup when the validation window ends"
        )),
    };
    results.push(result(Check::RestoreCleanup, created, cleanup));
    results
}

/// Verifies that every protected resource has a completed recovery point in the expected
/// vault newer than the RPO at `now`. Recovery points in other vaults (a DR copy, an
/// unmanaged snapshot) do not count.
pub async fn schedule(deps: &Deps, now: DateTime<Utc>) -> Vec<CheckResult> {
    let config = &deps.config;
    let mut results = Vec::with_capacity(config.protected_resource_arns.len());
    for resource in &config.protected_resource_arns {
        let outcome = match newest_completed(deps, resource).await {
            Ok(newest) => rpo(newest, now, config.rpo_hours),
            Err(reason) => Outcome::Unverified(reason),
        };
        results.push(result(Check::Rpo, resource, outcome));
    }
    results
}

async fn newest_completed(deps: &Deps, resource: &str) -> Result<Option<DateTime<Utc>>, String> {
    let vault = deps.config.expected_vault_name.as_str();
    let mut pages = deps
        .backup
        .list_recovery_points_by_resource()
        .resource_arn(resource)
        .into_paginator()
        .send();
    let mut newest: Option<DateTime<Utc>> = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "failed to list recovery points of {resource}: {}",
                sdk_message(&e)
            )
        })?;
        for point in page.recovery_points() {
            let completed = point.status().is_some_and(|s| s.as_str() == "COMPLETED");
            if !completed || point.backup_vault_name() != Some(vault) {
                continue;
            }
            if let Some(created) = chrono_time(point.creation_date()) {
                newest = Some(newest.map_or(created, |n| n.max(created)));
            }
        }
    }
    Ok(newest)
}
