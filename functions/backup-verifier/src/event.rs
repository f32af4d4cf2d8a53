//! The events the verifier is invoked with, parsed from the shapes EventBridge delivers:
//! AWS Backup's job state changes (source `aws.backup`) and the daily schedule (source
//! `aws.events`, detail-type `Scheduled Event`).
//!
//! AWS Backup leaves fields out, sends them as `null`, or sends an empty object where an
//! ARN would be (`destinationRecoveryPointArn: {}` on a failed copy), and writes numbers
//! sometimes as strings. Every optional text field is therefore read leniently: anything
//! that is not a non-empty string counts as absent. Only what a check cannot do without
//! (the job's id and state) makes an event malformed.

use migration_shared::json;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The detail-type of a backup job's state change.
pub const BACKUP_JOB: &str = "Backup Job State Change";
/// The detail-type of a copy job's state change.
pub const COPY_JOB: &str = "Copy Job State Change";
/// The detail-type of a restore job's state change.
pub const RESTORE_JOB: &str = "Restore Job State Change";
/// The detail-type of an EventBridge schedule.
pub const SCHEDULED: &str = "Scheduled Event";

/// What an invocation asks the verifier to check.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A backup job changed state.
    BackupJob(BackupJob),
    /// A copy job changed state.
    CopyJob(CopyJob),
    /// A restore job changed state.
    RestoreJob(RestoreJob),
    /// The schedule fired: check the RPO of every protected resource.
    Schedule,
}

/// The envelope's fields every trigger shares, for logs and alerts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// EventBridge's event id.
    pub id: Option<String>,
    /// The detail-type.
    pub detail_type: String,
    /// When the event happened, as sent.
    pub time: Option<String>,
}

/// A parsed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Where it came from.
    pub origin: Origin,
    /// What to check.
    pub trigger: Trigger,
}

/// The fields of a backup job's state change that the checks use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupJob {
    /// The job's id.
    pub backup_job_id: String,
    /// `CREATED`, `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `ABORTED`, `EXPIRED`, `PARTIAL`.
    pub state: String,
    /// Why the job is in its state; set on failures, sometimes on completed jobs.
    #[serde(default, deserialize_with = "lenient")]
    pub status_message: Option<String>,
    /// The vault the job wrote to.
    #[serde(default, deserialize_with = "lenient")]
    pub backup_vault_name: Option<String>,
    /// The vault's ARN.
    #[serde(default, deserialize_with = "lenient")]
    pub backup_vault_arn: Option<String>,
    /// The recovery point made; AWS Backup often names it only in the envelope's
    /// `resources`, which [`parse`] falls back to.
    #[serde(default, deserialize_with = "lenient")]
    pub recovery_point_arn: Option<String>,
    /// The resource backed up.
    #[serde(default, deserialize_with = "lenient")]
    pub resource_arn: Option<String>,
}

/// The fields of a copy job's state change that the checks use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyJob {
    /// The job's id.
    pub copy_job_id: String,
    /// `CREATED`, `RUNNING`, `COMPLETED`, `FAILED`, `PARTIAL`.
    pub state: String,
    /// Why the job is in its state.
    #[serde(default, deserialize_with = "lenient")]
    pub status_message: Option<String>,
    /// The vault copied to.
    #[serde(default, deserialize_with = "lenient")]
    pub destination_backup_vault_arn: Option<String>,
    /// The copy; an empty object, read as absent, when the copy failed.
    #[serde(default, deserialize_with = "lenient")]
    pub destination_recovery_point_arn: Option<String>,
    /// The resource whose recovery point was copied.
    #[serde(default, deserialize_with = "lenient")]
    pub resource_arn: Option<String>,
}

/// The fields of a restore job's state change that the checks use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreJob {
    /// The job's id.
    pub restore_job_id: String,
    /// `CREATED`, `PENDING`, `RUNNING`, `COMPLETED`, `ABORTED`, `FAILED`. AWS Backup sends
    /// it as `status`, and as `state` on a job just created.
    #[serde(alias = "state")]
    pub status: String,
    /// Why the job is in its state.
    #[serde(default, deserialize_with = "lenient")]
    pub status_message: Option<String>,
    /// Present when the restore was made by a restore testing plan.
    #[serde(default, deserialize_with = "lenient")]
    pub restore_testing_plan_arn: Option<String>,
    /// The resource the restore created.
    #[serde(default, deserialize_with = "lenient")]
    pub created_resource_arn: Option<String>,
    /// The recovery point restored.
    #[serde(default, deserialize_with = "lenient")]
    pub recovery_point_arn: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    time: Option<String>,
    #[serde(default)]
    resources: Value,
    #[serde(default)]
    detail: Value,
}

/// Reads a text field that AWS Backup may leave out, send as `null`, or fill with
/// something that is not text: all of those are `None`, as is an empty string.
fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        _ => None,
    })
}

/// Why an event cannot be checked. The reason never quotes a value from the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Parses the event Lambda was invoked with.
pub fn parse(raw: &Value) -> Result<Event, Malformed> {
    let envelope: Envelope =
        json::from_value(raw).map_err(|e| Malformed(e.describe("event envelope")))?;
    let origin = Origin {
        id: envelope.id,
        detail_type: envelope.detail_type.clone(),
        time: envelope.time,
    };
    let detail = envelope.detail;
    let part =
        |what: &str, e: &json::ShapeError| Malformed(e.describe(&format!("{what} event detail")));
    let trigger = match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.backup", BACKUP_JOB) => {
            require_text(&detail, "backup job", &["backupJobId", "state"])?;
            let mut job: BackupJob =
                json::from_value(&detail).map_err(|e| part("backup job", &e))?;
            if job.recovery_point_arn.is_none() {
                job.recovery_point_arn = first_resource(&envelope.resources);
            }
            Trigger::BackupJob(job)
        }
        ("aws.backup", COPY_JOB) => {
            require_text(&detail, "copy job", &["copyJobId", "state"])?;
            Trigger::CopyJob(json::from_value(&detail).map_err(|e| part("copy job", &e))?)
        }
        ("aws.backup", RESTORE_JOB) => {
            let status = if detail.get("status").is_some() {
                "status"
            } else {
                "state"
            };
            require_text(&detail, "restore job", &["restoreJobId", status])?;
            Trigger::RestoreJob(json::from_value(&detail).map_err(|e| part("restore job", &e))?)
        }
        ("aws.events", SCHEDULED) => Trigger::Schedule,
        _ => {
            return Err(Malformed(
                "event is neither an AWS Backup job state change nor a scheduled event".into(),
            ));
        }
    };
    Ok(Event { origin, trigger })
}

/// Names the first of `fields` that is missing from `detail` or is not text, with the
/// kind of value found instead, never the value.
fn require_text(detail: &Value, what: &str, fields: &[&str]) -> Result<(), Malformed> {
    if !detail.is_object() {
        return Err(Malformed(format!("{what} event has no detail object")));
    }
    for field in fields {
        let found = match detail.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => continue,
            Some(Value::String(_)) => "empty text",
            None | Some(Value::Null) => "nothing",
            Some(Value::Bool(_)) => "a boolean",
            Some(Value::Number(_)) => "a number",
            Some(Value::Array(_)) => "an array",
            Some(Value::Object(_)) => "an object",
        };
        return Err(Malformed(format!(
            "{what} event detail field `{field}` holds {found}, not text"
        )));
    }
    Ok(())
}

fn first_resource(resources: &Value) -> Option<String> {
    resources
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backup(detail: &Value, resources: &Value) -> Value {
        json!({"version": "0", "id": "e-1", "detail-type": BACKUP_JOB, "source": "aws.backup",
               "time": "2026-12-04T01:00:00Z", "resources": resources, "detail": detail})
    }

    #[test]
    fn a_completed_backup_job_takes_its_recovery_point_from_the_resources() {
        let event = parse(&backup(
            &json!({"backupJobId": "j-1", "state": "COMPLETED", "backupVaultName": "v",
                   "bytesTransferred": "36048", "percentDone": 100}),
            &json!(["arn:aws:backup:us-east-1:1:recovery-point:rp-1"]),
        ))
        .unwrap();
        let Trigger::BackupJob(job) = event.trigger else {
            panic!("not a backup job: {event:?}")
        };
        assert_eq!(
            job.recovery_point_arn.as_deref(),
            Some("arn:aws:backup:us-east-1:1:recovery-point:rp-1")
        );
        assert_eq!(job.backup_vault_name.as_deref(), Some("v"));
        assert_eq!(event.origin.id.as_deref(), Some("e-1"));
    }

    #[test]
    fn null_empty_and_object_fields_count_as_absent() {
        let event = parse(&json!({"detail-type": COPY_JOB, "source": "aws.backup",
            "detail": {"copyJobId": "c-1", "state": "FAILED", "statusMessage": null,
                       "destinationRecoveryPointArn": {}, "destinationBackupVaultArn": ""}}))
        .unwrap();
        let Trigger::CopyJob(job) = event.trigger else {
            panic!("not a copy job")
        };
        assert_eq!(job.status_message, None);
        assert_eq!(job.destination_recovery_point_arn, None);
        assert_eq!(job.destination_backup_vault_arn, None);
    }

    #[test]
    fn a_restore_job_reads_its_state_from_status_or_state() {
        for field in ["status", "state"] {
            let event = parse(&json!({"detail-type": RESTORE_JOB, "source": "aws.backup",
                "detail": {"restoreJobId": "r-1", field: "CREATED"}}))
            .unwrap();
            assert!(
                matches!(&event.trigger, Trigger::RestoreJob(j) if j.status == "CREATED"),
                "{event:?}"
            );
        }
    }

    #[test]
    fn a_job_without_its_id_or_with_a_strange_state_is_malformed_and_not_quoted() {
        let err = parse(&backup(&json!({"state": "FAILED"}), &json!([]))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "backup job event detail field `backupJobId` holds nothing, not text"
        );
        let err = parse(&backup(
            &json!({"backupJobId": "j", "state": {"secret": "hunter2"}}),
            &json!([]),
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "backup job event detail field `state` holds an object, not text"
        );
    }

    #[test]
    fn other_events_are_refused() {
        let err = parse(&json!({"detail-type": "Backup Vault State Change",
                               "source": "aws.backup", "detail": {}}))
        .unwrap_err();
        assert!(err.to_string().starts_with("event is neither"), "{err}");
        let err = parse(&json!([1, 2])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("event envelope has the wrong shape"),
            "{err}"
        );
    }

    #[test]
    fn the_schedule_is_recognised() {
        let event = parse(&json!({"detail-type": SCHEDULED, "source": "aws.events",
                                 "resources": ["arn:aws:events:us-east-1:1:rule/daily"],
                                 "detail": {}}))
        .unwrap();
        assert_eq!(event.trigger, Trigger::Schedule);
    }
}
