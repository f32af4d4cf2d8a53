//! The checks, their outcomes, and the pure rules behind them: what a recovery point, a
//! vault, a restore or a resource's newest recovery point must look like to pass.
//!
//! Every rule here fails unless what it was shown proves the point: a missing date, a
//! missing key or a missing lifecycle answer is a failure, never a pass.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// One thing the verifier proves; each has its own metric, `<Name>CheckFailed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Check {
    /// The event could be read at all.
    Event,
    /// The backup job completed (not `FAILED`, `ABORTED`, `EXPIRED` or `PARTIAL`).
    BackupJob,
    /// The recovery point exists and is `COMPLETED`.
    RecoveryPoint,
    /// The recovery point is encrypted with the expected, enabled KMS key.
    Encryption,
    /// The recovery point sits in the expected vault.
    Vault,
    /// The recovery point's lifecycle keeps it at least the policy's days.
    Retention,
    /// The expected vault is locked, with a minimum retention no shorter than the policy's.
    VaultLock,
    /// The copy job completed into the disaster-recovery vault.
    CopyJob,
    /// The copy is completed and encrypted in the disaster-recovery vault.
    CopyEncryption,
    /// The restore job completed within the allowed time.
    RestoreJob,
    /// A restore test's result was reported to AWS Backup restore testing.
    RestoreValidation,
    /// A restore test left no restored resource behind that failed to be deleted.
    RestoreCleanup,
    /// A protected resource has a completed recovery point newer than the RPO.
    Rpo,
}

impl Check {
    /// Every check, in the order metrics list them.
    pub const ALL: [Self; 13] = [
        Self::Event,
        Self::BackupJob,
        Self::RecoveryPoint,
        Self::Encryption,
        Self::Vault,
        Self::Retention,
        Self::VaultLock,
        Self::CopyJob,
        Self::CopyEncryption,
        Self::RestoreJob,
        Self::RestoreValidation,
        Self::RestoreCleanup,
        Self::Rpo,
    ];

    /// The check's name in logs, alerts and results.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Event => "Event",
            Self::BackupJob => "BackupJob",
            Self::RecoveryPoint => "RecoveryPoint",
            Self::Encryption => "Encryption",
            Self::Vault => "Vault",
            Self::Retention => "Retention",
            Self::VaultLock => "VaultLock",
            Self::CopyJob => "CopyJob",
            Self::CopyEncryption => "CopyEncryption",
            Self::RestoreJob => "RestoreJob",
            Self::RestoreValidation => "RestoreValidation",
            Self::RestoreCleanup => "RestoreCleanup",
            Self::Rpo => "Rpo",
        }
    }

    /// The name of the metric that is 1 when this check failed and 0 when it passed.
    #[must_use]
    pub fn metric(self) -> &'static str {
        match self {
            Self::Event => "EventCheckFailed",
            Self::BackupJob => "BackupJobCheckFailed",
            Self::RecoveryPoint => "RecoveryPointCheckFailed",
            Self::Encryption => "EncryptionCheckFailed",
            Self::Vault => "VaultCheckFailed",
            Self::Retention => "RetentionCheckFailed",
            Self::VaultLock => "VaultLockCheckFailed",
            Self::CopyJob => "CopyJobCheckFailed",
            Self::CopyEncryption => "CopyEncryptionCheckFailed",
            Self::RestoreJob => "RestoreJobCheckFailed",
            Self::RestoreValidation => "RestoreValidationCheckFailed",
            Self::RestoreCleanup => "RestoreCleanupCheckFailed",
            Self::Rpo => "RpoCheckFailed",
        }
    }
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    /// What was checked holds; the note says what was seen.
    Passed(String),
    /// What was checked does not hold.
    Failed(String),
    /// An AWS call the check needed failed, so nothing was proven: the check fails and
    /// the invocation returns an error once every result is reported.
    Unverified(String),
}

impl Outcome {
    /// Whether the check passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed(_))
    }

    /// The note or reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            Self::Passed(r) | Self::Failed(r) | Self::Unverified(r) => r,
        }
    }
}

/// A check's result for one subject (a job, a recovery point or a resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Which check.
    pub check: Check,
    /// What it was about: a job id, a recovery point ARN or a resource ARN.
    pub subject: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl CheckResult {
    /// A result.
    pub fn new(check: Check, subject: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            check,
            subject: subject.into(),
            outcome,
        }
    }
}

/// The job states that mean a job ended badly.
pub const FAILED_STATES: [&str; 4] = ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"];
/// The job states that mean a job has not ended yet.
pub const UNFINISHED_STATES: [&str; 4] = ["CREATED", "PENDING", "RUNNING", "STARTED"];

/// What the state of a job means for the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Completed: verify what it made.
    Completed,
    /// Ended badly: alert.
    Failed,
    /// Still going: nothing to check yet.
    Unfinished,
    /// A state the verifier does not know: it fails rather than guess.
    Unknown,
}

impl JobState {
    /// Classifies a state as AWS Backup writes it.
    #[must_use]
    pub fn of(state: &str) -> Self {
        let state = state.trim().to_ascii_uppercase();
        if state == "COMPLETED" {
            Self::Completed
        } else if FAILED_STATES.contains(&state.as_str()) {
            Self::Failed
        } else if UNFINISHED_STATES.contains(&state.as_str()) {
            Self::Unfinished
        } else {
            Self::Unknown
        }
    }
}

/// The failure reason for a job that ended badly.
#[must_use]
pub fn job_failure(kind: &str, state: &str, status_message: Option<&str>) -> String {
    let message = status_message
        .map(|m| m.trim().trim_matches('"').trim())
        .filter(|m| !m.is_empty())
        .unwrap_or("AWS Backup gave no status message");
    format!("{kind} job ended {state}: {message}")
}

/// What a recovery point's lifecycle says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifecycle {
    /// When the recovery point was made.
    pub created: Option<DateTime<Utc>>,
    /// `Lifecycle.DeleteAfterDays`, when set.
    pub delete_after_days: Option<i64>,
    /// `CalculatedLifecycle.DeleteAt`, when set.
    pub delete_at: Option<DateTime<Utc>>,
}

/// Whether the lifecycle keeps a recovery point at least `min_days`.
#[must_use]
pub fn retention(lifecycle: Lifecycle, min_days: u32) -> Outcome {
    let min = i64::from(min_days);
    if let Some(days) = lifecycle.delete_after_days
        && days < min
    {
        return Outcome::Failed(format!(
            "lifecycle deletes the recovery point after {days} days; the policy asks for \
             at least {min}"
        ));
    }
    if let Some(delete_at) = lifecycle.delete_at {
        let Some(created) = lifecycle.created else {
            return Outcome::Failed(
                "the recovery point has a deletion date but no creation date".into(),
            );
        };
        let kept = delete_at - created;
        if kept < TimeDelta::days(min) {
            return Outcome::Failed(format!(
                "the recovery point is deleted {} days after it was made; the policy asks \
                 for at least {min}",
                kept.num_days()
            ));
        }
    }
    match lifecycle.delete_after_days {
        Some(days) => Outcome::Passed(format!("kept {days} days, at least {min}")),
        None if lifecycle.delete_at.is_none() => {
            Outcome::Passed("no deletion in the lifecycle: kept until deleted by hand".into())
        }
        None => Outcome::Passed(format!("kept at least {min} days")),
    }
}

/// Whether a restore that ran from `created` to `completed` met the time limit.
#[must_use]
pub fn restore_duration(
    created: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    max_minutes: u32,
) -> Outcome {
    let (Some(created), Some(completed)) = (created, completed) else {
        return Outcome::Failed(
            "the restore job has no creation or completion date, so its duration is unknown".into(),
        );
    };
    let took = (completed - created).num_seconds();
    let limit = i64::from(max_minutes) * 60;
    if took > limit {
        Outcome::Failed(format!(
            "the restore took {} minutes; the limit is {max_minutes}",
            ceil_minutes(took)
        ))
    } else {
        Outcome::Passed(format!(
            "restored in {} minutes, within {max_minutes}",
            ceil_minutes(took)
        ))
    }
}

fn ceil_minutes(seconds: i64) -> i64 {
    (seconds + 59).div_euclid(60)
}

/// Whether the newest completed recovery point of a resource, made at `newest`, is within
/// the RPO at `now`.
#[must_use]
pub fn rpo(newest: Option<DateTime<Utc>>, now: DateTime<Utc>, rpo_hours: u32) -> Outcome {
    let Some(newest) = newest else {
        return Outcome::Failed("no completed recovery point in the expected vault".into());
    };
    let age = now - newest;
    let limit = TimeDelta::hours(i64::from(rpo_hours));
    if age > limit {
        Outcome::Failed(format!(
            "the newest completed recovery point is {} hours old; the RPO is {rpo_hours} hours",
            age.num_hours()
        ))
    } else {
        Outcome::Passed(format!(
            "newest completed recovery point is {} minutes old, within {rpo_hours} hours",
            age.num_minutes().max(0)
        ))
    }
}

/// Whether a vault's lock meets the policy.
#[must_use]
pub fn vault_lock(locked: Option<bool>, lock_min_days: Option<i64>, policy_min: u32) -> Outcome {
    if locked != Some(true) {
        return Outcome::Failed("the vault is not locked and the policy requires a lock".into());
    }
    match lock_min_days {
        Some(days) if days < i64::from(policy_min) => Outcome::Failed(format!(
            "the vault lock allows deleting recovery points after {days} days; the policy \
             asks for at least {policy_min}"
        )),
        Some(days) => Outcome::Passed(format!("locked, minimum retention {days} days")),
        None => Outcome::Passed("locked".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::hours(hours)
    }

    #[test]
    fn job_states_are_classified_and_unknown_ones_are_not_passed() {
        assert_eq!(JobState::of("COMPLETED"), JobState::Completed);
        assert_eq!(JobState::of("partial"), JobState::Failed);
        assert_eq!(JobState::of("EXPIRED"), JobState::Failed);
        assert_eq!(JobState::of("RUNNING"), JobState::Unfinished);
        assert_eq!(JobState::of("DELETED"), JobState::Unknown);
    }

    #[test]
    fn a_failure_keeps_the_status_message_without_its_quotes() {
        assert_eq!(
            job_failure("backup", "FAILED", Some("\"Backup vault does not exist.\"")),
            "backup job ended FAILED: Backup vault does not exist."
        );
        assert_eq!(
            job_failure("copy", "ABORTED", None),
            "copy job ended ABORTED: AWS Backup gave no status message"
        );
    }

    #[test]
    fn retention_fails_below_the_policy_either_way_it_is_written() {
        let short = Lifecycle {
            created: Some(at(0)),
            delete_after_days: Some(7),
            delete_at: None,
        };
        assert_eq!(
            retention(short, 35),
            Outcome::Failed(
                "lifecycle deletes the recovery point after 7 days; the policy asks for at \
                 least 35"
                    .into()
            )
        );
        let by_date = Lifecycle {
            created: Some(at(0)),
            delete_after_days: None,
            delete_at: Some(at(24 * 10)),
        };
        assert!(!retention(by_date, 35).passed());
        let long = Lifecycle {
            created: Some(at(0)),
            delete_after_days: Some(35),
            delete_at: Some(at(24 * 35)),
        };
        assert_eq!(
            retention(long, 35),
            Outcome::Passed("kept 35 days, at least 35".into())
        );
        assert!(retention(Lifecycle::default(), 35).passed());
    }

    #[test]
    fn a_restore_over_the_limit_or_without_dates_fails() {
        assert_eq!(
            restore_duration(Some(at(0)), Some(at(5)), 240),
            Outcome::Failed("the restore took 300 minutes; the limit is 240".into())
        );
        assert_eq!(
            restore_duration(Some(at(0)), Some(at(4)), 240),
            Outcome::Passed("restored in 240 minutes, within 240".into())
        );
        assert!(!restore_duration(Some(at(0)), None, 240).passed());
    }

    #[test]
    fn the_rpo_fails_when_the_newest_point_is_too_old_or_missing() {
        assert!(rpo(Some(at(-23)), at(0), 24).passed());
        assert_eq!(
            rpo(Some(at(-30)), at(0), 24),
            Outcome::Failed(
                "the newest completed recovery point is 30 hours old; the RPO is 24 hours".into()
            )
        );
        assert!(!rpo(None, at(0), 24).passed());
    }

    #[test]
    fn a_vault_lock_must_exist_and_keep_at_least_the_policy() {
        assert!(!vault_lock(None, None, 35).passed());
        assert!(!vault_lock(Some(false), Some(90), 35).passed());
        assert!(!vault_lock(Some(true), Some(7), 35).passed());
        assert!(vault_lock(Some(true), Some(35), 35).passed());
    }

    #[test]
    fn every_check_has_its_own_metric() {
        let mut names: Vec<&str> = Check::ALL.iter().map(|c| c.metric()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Check::ALL.len());
        assert!(
            Check::ALL
                .iter()
                .all(|c| c.metric() == format!("{}CheckFailed", c.name()))
        );
    }
}
