//! The events the remediator is invoked with, read from the EventBridge envelope.
//!
//! Two kinds are used: Config's `Config Rules Compliance Change` (source `aws.config`) and
//! the schedule's `Scheduled Event` (source `aws.events`) that starts the parameter scan.
//! Anything else, or a compliance change whose detail lacks a field the remediator needs,
//! is [`Trigger::Unusable`] with a reason, so the handler acknowledges it instead of
//! failing an invocation that no retry could fix.

use serde::Deserialize;
use serde_json::Value;

/// `source` of Config's events.
pub const CONFIG_SOURCE: &str = "aws.config";
/// `detail-type` of a compliance change.
pub const COMPLIANCE_CHANGE: &str = "Config Rules Compliance Change";
/// `source` of scheduled events.
pub const SCHEDULE_SOURCE: &str = "aws.events";
/// `detail-type` of a scheduled event.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A resource's compliance with a rule changed.
    Compliance(ComplianceChange),
    /// Time for the parameter scan.
    Schedule,
    /// Nothing the remediator can act on, and why.
    Unusable(String),
}

/// The fields of a compliance change the remediator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceChange {
    /// The Config rule's name.
    pub rule: String,
    /// The resource type, e.g. `AWS::EC2::SecurityGroup`.
    pub resource_type: String,
    /// The resource's identifier as Config records it.
    pub resource_id: String,
    /// The new compliance type: `NON_COMPLIANT`, `COMPLIANT`, `NOT_APPLICABLE`, ...
    pub compliance: String,
}

#[derive(Deserialize)]
struct Envelope {
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(default)]
    detail: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    config_rule_name: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    new_evaluation_result: Option<Evaluation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Evaluation {
    compliance_type: Option<String>,
}

fn text(field: Option<String>, name: &str) -> Result<String, String> {
    field
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("the detail has no {name}"))
}

/// Reads what `event` asks for; never fails, an unusable event says why.
#[must_use]
pub fn parse(event: &Value) -> Trigger {
    let envelope: Envelope = match migration_shared::json::from_value(event) {
        Ok(e) => e,
        Err(e) => return Trigger::Unusable(e.describe("the EventBridge event")),
    };
    match (envelope.source.as_deref(), envelope.detail_type.as_deref()) {
        (Some(CONFIG_SOURCE), Some(COMPLIANCE_CHANGE)) => match compliance(&envelope.detail) {
            Ok(change) => Trigger::Compliance(change),
            Err(reason) => Trigger::Unusable(reason),
        },
        (Some(SCHEDULE_SOURCE), Some(SCHEDULED_EVENT)) => Trigger::Schedule,
        (source, kind) => Trigger::Unusable(format!(
            "unsupported event: source {}, detail-type {}",
            source.map_or("(none)".into(), migration_shared::json::shown_name),
            kind.map_or("(none)".into(), migration_shared::json::shown_name)
        )),
    }
}

fn compliance(detail: &Value) -> Result<ComplianceChange, String> {
    if !detail.is_object() {
        return Err("the detail is not an object".to_owned());
    }
    let detail: Detail =
        migration_shared::json::from_value(detail).map_err(|e| e.describe("the detail"))?;
    let compliance = detail
        .new_evaluation_result
        .and_then(|r| r.compliance_type)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| "the detail has no newEvaluationResult.complianceType".to_owned())?;
    Ok(ComplianceChange {
        rule: text(detail.config_rule_name, "configRuleName")?,
        resource_type: text(detail.resource_type, "resourceType")?,
        resource_id: text(detail.resource_id, "resourceId")?,
        compliance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_compliance_change_is_read_from_its_detail() {
        let event = json!({
            "source": "aws.config",
            "detail-type": "Config Rules Compliance Change",
            "detail": {
                "configRuleName": "cmk-backing-key-rotation-enabled",
                "resourceType": "AWS::KMS::Key",
                "resourceId": "k-1",
                "newEvaluationResult": {"complianceType": "NON_COMPLIANT"}
            }
        });
        assert_eq!(
            parse(&event),
            Trigger::Compliance(ComplianceChange {
                rule: "cmk-backing-key-rotation-enabled".into(),
                resource_type: "AWS::KMS::Key".into(),
                resource_id: "k-1".into(),
                compliance: "NON_COMPLIANT".into(),
            })
        );
    }

    #[test]
    fn missing_or_mistyped_fields_make_the_event_unusable_with_a_reason() {
        let mut event = json!({
            "source": "aws.config",
            "detail-type": "Config Rules Compliance Change",
            "detail": {"configRuleName": "r", "resourceType": "AWS::KMS::Key",
                       "newEvaluationResult": {"complianceType": "NON_COMPLIANT"}}
        });
        assert_eq!(
            parse(&event),
            Trigger::Unusable("the detail has no resourceId".into())
        );
        event["detail"]["resourceId"] = json!(42);
        let Trigger::Unusable(reason) = parse(&event) else {
            panic!("a numeric resourceId was accepted")
        };
        assert_eq!(
            reason,
            "the detail has the wrong shape at `resourceId`: invalid type: integer `…`, \
             expected a string"
        );
        assert_eq!(
            parse(&json!({"source": "aws.s3", "detail-type": "Object Created"})),
            Trigger::Unusable(
                "unsupported event: source aws.s3, detail-type Object Created".into()
            )
        );
        assert!(matches!(parse(&json!([1, 2])), Trigger::Unusable(_)));
        assert_eq!(
            parse(&json!({"source": "hunter2-4111111111111111", "detail-type": "Object Created"})),
            Trigger::Unusable("unsupported event: source …, detail-type Object Created".into())
        );
    }
}
