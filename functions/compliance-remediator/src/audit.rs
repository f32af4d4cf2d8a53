//! The audit trail: one structured record per decision, and the `Remediations` metric
//! counted by outcome.
//!
//! A record names the rule, the resource, the action, the outcome, whether it was a dry
//! run, and the resource's state before and after as the remediator read it. States carry
//! settings only (a parameter's type and key, never its value), so no secret reaches a log.

use migration_shared::metrics::{Metric, Metrics};
use serde::Serialize;
use serde_json::Value;

/// The metric counting decisions; its `Outcome` dimension holds [`Outcome::as_str`].
pub const REMEDIATIONS_METRIC: &str = "Remediations";

/// What the remediator decided for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Fixed; read again and found compliant.
    Remediated,
    /// Would have been fixed, but dry run or the freeze window held it back.
    WouldRemediate,
    /// Read and found compliant already; no changing call was made.
    AlreadyCompliant,
    /// Cannot be fixed in place; an alert asks a person to act.
    NeedsPerson,
    /// Carries the exemption tag; left alone.
    Exempt,
    /// Remediated too often within the hour; left alone and alerted.
    LoopGuard,
    /// An event or resource the remediator does not act on; acknowledged with a reason.
    Ignored,
    /// The remediation failed; the invocation fails so Lambda retries it.
    Failed,
}

impl Outcome {
    /// The outcome's name in records and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remediated => "remediated",
            Self::WouldRemediate => "would_remediate",
            Self::AlreadyCompliant => "already_compliant",
            Self::NeedsPerson => "needs_person",
            Self::Exempt => "exempt",
            Self::LoopGuard => "loop_guard",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }
}

/// One decision, as logged and returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The Config rule's name (or the scan's rule name).
    pub rule: String,
    /// The resource type, as Config names it.
    pub resource_type: String,
    /// The resource's identifier.
    pub resource_id: String,
    /// The remediation's action.
    pub action: String,
    /// What was decided.
    pub outcome: Outcome,
    /// Whether changing calls were held back (dry run or freeze window).
    pub dry_run: bool,
    /// Why, in a few words.
    pub reason: String,
    /// The resource's relevant state as read before acting.
    pub before: Value,
    /// Its state as read after acting (equal to `before` when nothing was changed).
    pub after: Value,
    /// The Config re-evaluation: `requested`, `failed: <cause>` or `not_applicable`.
    pub reevaluation: String,
}

impl Decision {
    /// A decision that acknowledges without acting.
    #[must_use]
    pub fn ignored(rule: &str, resource_type: &str, resource_id: &str, reason: String) -> Self {
        Self {
            rule: rule.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            action: "none".to_owned(),
            outcome: Outcome::Ignored,
            dry_run: false,
            reason,
            before: Value::Null,
            after: Value::Null,
            reevaluation: "not_applicable".to_owned(),
        }
    }

    /// Writes the decision's log record and its metric.
    pub fn record(&self, metrics: &Metrics) {
        let before = self.before.to_string();
        let after = self.after.to_string();
        macro_rules! audit {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    rule = %self.rule,
                    resource_type = %self.resource_type,
                    resource_id = %self.resource_id,
                    action = %self.action,
                    outcome = self.outcome.as_str(),
                    dry_run = self.dry_run,
                    reason = %self.reason,
                    before = %before,
                    after = %after,
                    reevaluation = %self.reevaluation,
                    "remediation decision"
                )
            };
        }
        match self.outcome {
            Outcome::Failed => audit!(tracing::Level::ERROR),
            Outcome::NeedsPerson | Outcome::LoopGuard => audit!(tracing::Level::WARN),
            _ => audit!(tracing::Level::INFO),
        }
        metrics
            .clone()
            .with_dimension("Outcome", self.outcome.as_str())
            .emit(&[Metric::count(REMEDIATIONS_METRIC, 1)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration_shared::startup::{LogFormat, subscriber};
    use serde_json::json;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Buffer {
        type Writer = Self;
        fn make_writer(&self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn a_decision_is_one_structured_record_with_every_audit_field() {
        let decision = Decision {
            rule: "cutover-1-restricted-incoming-traffic".into(),
            resource_type: "AWS::EC2::SecurityGroup".into(),
            resource_id: "sg-1".into(),
            action: "revoke_open_database_ingress".into(),
            outcome: Outcome::WouldRemediate,
            dry_run: true,
            reason: "freeze window".into(),
            before: json!({"open": ["tcp 3306 from 0.0.0.0/0"]}),
            after: json!({"open": ["tcp 3306 from 0.0.0.0/0"]}),
            reevaluation: "not_applicable".into(),
        };
        let buffer = Buffer::default();
        let metrics = Metrics::new("PaymentMigration", "compliance-remediator", "cutover-1");
        tracing::subscriber::with_default(
            subscriber(LogFormat::Json, Some("INFO"), buffer.clone()),
            || decision.record(&metrics),
        );
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let record: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(record["message"], "remediation decision");
        assert_eq!(record["rule"], "cutover-1-restricted-incoming-traffic");
        assert_eq!(record["resource_id"], "sg-1");
        assert_eq!(record["action"], "revoke_open_database_ingress");
        assert_eq!(record["outcome"], "would_remediate");
        assert_eq!(record["dry_run"], true);
        assert_eq!(record["before"], r#"{"open":["tcp 3306 from 0.0.0.0/0"]}"#);
        assert_eq!(record["after"], record["before"]);
        assert_eq!(record["reason"], "freeze window");
    }

    #[test]
    fn outcomes_are_named_as_the_records_and_metrics_name_them() {
        let names: Vec<Value> = [
            Outcome::AlreadyCompliant,
            Outcome::LoopGuard,
            Outcome::NeedsPerson,
        ]
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                json!("already_compliant"),
                json!("loop_guard"),
                json!("needs_person")
            ]
        );
        assert_eq!(Outcome::WouldRemediate.as_str(), "would_remediate");
    }
}
