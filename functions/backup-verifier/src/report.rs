//! How results leave the function: one structured log record per check, EMF metrics an
//! alarm can gate the cutover on, and one JSON alert on the alert queue per failed check.
//!
//! Metrics, under the dimensions `MigrationId` and `Function`:
//! - `BackupCheckFailed`: how many checks of the invocation failed, unverified ones
//!   included. The cutover alarm watches this one: `Sum >= 1` over its period.
//! - `BackupChecksRun`: how many checks ran.
//! - `<Check>CheckFailed` (for example `EncryptionCheckFailed`, `RpoCheckFailed`): per
//!   check that ran, how many of its subjects failed; 0 when all passed.

use std::collections::BTreeMap;

use migration_shared::alert::Alert;
use migration_shared::error::sdk_message;
use migration_shared::metrics::Metric;

use crate::Deps;
use crate::checks::{Check, CheckResult, Outcome};
use crate::event::Origin;

/// The name of the function, as the `Function` dimension and in alerts.
pub const FUNCTION: &str = "backup-verifier";
/// The metric the cutover alarm watches.
pub const FAILED_METRIC: &str = "BackupCheckFailed";
/// The count of checks run.
pub const RUN_METRIC: &str = "BackupChecksRun";

/// The metric values for `results`: totals and a count per check that ran.
#[must_use]
pub fn metric_values(results: &[CheckResult]) -> Vec<(&'static str, u64)> {
    let mut per_check: BTreeMap<usize, (Check, u64)> = BTreeMap::new();
    for r in results {
        let index = Check::ALL.iter().position(|c| *c == r.check).unwrap_or(0);
        let entry = per_check.entry(index).or_insert((r.check, 0));
        entry.1 += u64::from(!r.outcome.passed());
    }
    let failed = results.iter().filter(|r| !r.outcome.passed()).count() as u64;
    let mut values = vec![(FAILED_METRIC, failed), (RUN_METRIC, results.len() as u64)];
    values.extend(per_check.values().map(|(c, n)| (c.metric(), *n)));
    values
}

/// Logs one record per result.
pub fn log(results: &[CheckResult], origin: &Origin) {
    for r in results {
        let check = r.check.name();
        let subject = r.subject.as_str();
        let detail_type = origin.detail_type.as_str();
        match &r.outcome {
            Outcome::Passed(note) => tracing::info!(
                check, subject, detail_type, outcome = "passed", reason = %note,
                "backup check passed"
            ),
            Outcome::Failed(reason) => tracing::error!(
                check, subject, detail_type, outcome = "failed", reason = %reason,
                "backup check failed"
            ),
            Outcome::Unverified(reason) => tracing::error!(
                check, subject, detail_type, outcome = "unverified", reason = %reason,
                "backup check could not be verified"
            ),
        }
    }
}

/// Emits the metrics of `results` on stdout.
pub fn emit_metrics(deps: &Deps, results: &[CheckResult]) {
    let values = metric_values(results);
    let metrics: Vec<Metric<'_>> = values.iter().map(|(n, v)| Metric::count(n, *v)).collect();
    deps.metrics.emit(&metrics);
}

/// The alert body for a failed result, in the shared shape (`migration_shared::alert`);
/// `None` for a pass. `kind` is `check_failed` or `check_unverified`, `subject` what the
/// check was about; `details` name the check and the event that led to it (`detail_type`,
/// and `event_id` and `event_time` when EventBridge gave them).
#[must_use]
pub fn alert_body(migration_id: &str, result: &CheckResult, origin: &Origin) -> Option<String> {
    let kind = match result.outcome {
        Outcome::Passed(_) => return None,
        Outcome::Failed(_) => "check_failed",
        Outcome::Unverified(_) => "check_unverified",
    };
    let alert = Alert::new(
        FUNCTION,
        migration_id,
        kind,
        &result.subject,
        result.outcome.reason(),
    )
    .detail("check", Some(result.check.name()))
    .detail("detail_type", Some(&origin.detail_type))
    .detail("event_id", origin.id.as_deref())
    .detail("event_time", origin.time.as_deref());
    Some(alert.body())
}

/// Sends one alert per failed result; the error names the queue and the first failure.
pub async fn send_alerts(
    deps: &Deps,
    results: &[CheckResult],
    origin: &Origin,
) -> Result<usize, String> {
    let queue = deps.config.alert_queue_url.as_str();
    let mut sent = 0;
    for r in results {
        let Some(body) = alert_body(&deps.config.migration_id, r, origin) else {
            continue;
        };
        deps.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "failed to send the {} alert to queue {queue}: {}",
                    r.check.name(),
                    sdk_message(&e)
                )
            })?;
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_failures_per_check_and_in_total() {
        let results = vec![
            CheckResult::new(Check::Rpo, "a", Outcome::Passed("ok".into())),
            CheckResult::new(Check::Rpo, "b", Outcome::Failed("old".into())),
            CheckResult::new(Check::Rpo, "c", Outcome::Unverified("denied".into())),
            CheckResult::new(Check::Event, "e", Outcome::Passed("ok".into())),
        ];
        assert_eq!(
            metric_values(&results),
            [
                ("BackupCheckFailed", 2),
                ("BackupChecksRun", 4),
                ("EventCheckFailed", 0),
                ("RpoCheckFailed", 2),
            ]
        );
    }

    #[test]
    fn an_alert_names_the_check_subject_and_reason_and_a_pass_sends_none() {
        let origin = Origin {
            id: Some("ev-1".into()),
            detail_type: "Scheduled Event".into(),
            time: Some("2026-12-04T06:00:00Z".into()),
        };
        let failed = CheckResult::new(Check::Rpo, "arn:r", Outcome::Failed("too old".into()));
        let body: serde_json::Value =
            serde_json::from_str(&alert_body("cutover-1", &failed, &origin).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"function": "backup-verifier", "migration_id": "cutover-1",
                "kind": "check_failed", "subject": "arn:r", "reason": "too old",
                "details": {"check": "Rpo", "detail_type": "Scheduled Event",
                    "event_id": "ev-1", "event_time": "2026-12-04T06:00:00Z"}})
        );
        let unverified =
            CheckResult::new(Check::Rpo, "arn:r", Outcome::Unverified("denied".into()));
        let bare = Origin {
            id: None,
            detail_type: "Scheduled Event".into(),
            time: None,
        };
        let body: serde_json::Value =
            serde_json::from_str(&alert_body("cutover-1", &unverified, &bare).unwrap()).unwrap();
        assert_eq!(body["kind"], "check_unverified");
        assert_eq!(
            body["details"],
            serde_json::json!({"check": "Rpo", "detail_type": "Scheduled Event"})
        );
        let passed = CheckResult::new(Check::Rpo, "arn:r", Outcome::Passed("fine".into()));
        assert_eq!(alert_body("cutover-1", &passed, &origin), None);
    }
}
