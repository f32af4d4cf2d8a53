//! The weight shifter's configuration: every environment variable it reads, as a
//! documented constant, and the typed [`Config`] built from them once per cold start.

use migration_shared::config::{ConfigError, Env};

pub use migration_shared::config::MIGRATION_ID;

/// The CloudWatch namespace of the `AwsTrafficPercent` metric; `PaymentMigration` when unset.
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// The SSM parameter holding the plan: a JSON list of steps (see [`crate::plan`]).
pub const PLAN_PARAMETER: &str = "PLAN_PARAMETER";
/// The SSM parameter holding the shift's state (see [`crate::state`]); `{}` to begin.
pub const STATE_PARAMETER: &str = "STATE_PARAMETER";
/// The Route 53 hosted zone that holds the two weighted records.
pub const HOSTED_ZONE_ID: &str = "HOSTED_ZONE_ID";
/// The name the two weighted records share, such as `pay.example.com`.
pub const RECORD_NAME: &str = "RECORD_NAME";
/// The type the two weighted records share: `A` (the default), `AAAA` or `CNAME`.
pub const RECORD_TYPE: &str = "RECORD_TYPE";
/// The set identifier of the record that points on premises.
pub const ONPREM_SET_ID: &str = "ONPREM_SET_ID";
/// The set identifier of the record that points at AWS.
pub const AWS_SET_ID: &str = "AWS_SET_ID";
/// The ALB listener whose default forward action is shifted too; no ALB move when unset.
pub const LISTENER_ARN: &str = "LISTENER_ARN";
/// The on-premises target group (IP targets) of the listener; required with the listener.
pub const ONPREM_TARGET_GROUP_ARN: &str = "ONPREM_TARGET_GROUP_ARN";
/// The AWS target group of the listener; required with the listener.
pub const AWS_TARGET_GROUP_ARN: &str = "AWS_TARGET_GROUP_ARN";
/// The CloudWatch alarms that gate every advance, comma separated; at least one.
pub const GATE_ALARMS: &str = "GATE_ALARMS";
/// Where an automatic rollback goes: `last-good` (the default) or `zero`.
pub const ROLLBACK_TO: &str = "ROLLBACK_TO";

/// The namespace used when [`METRICS_NAMESPACE`] is unset.
pub const DEFAULT_NAMESPACE: &str = "PaymentMigration";

/// CloudWatch accepts at most this many alarm names in one `DescribeAlarms` call.
const MAX_GATE_ALARMS: usize = 100;

/// The record types the shifter accepts for the weighted pair.
const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME"];

/// Where an automatic rollback takes the AWS share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackTo {
    /// The last step that held cleanly (below the current share), or 0 when there is none.
    LastGood,
    /// No traffic on AWS at all.
    Zero,
}

/// The two weighted Route 53 records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPair {
    /// The hosted zone's id, with or without the `/hostedzone/` prefix.
    pub zone_id: String,
    /// The shared record name, always ending with a dot as Route 53 returns it.
    pub name: String,
    /// The shared record type.
    pub record_type: String,
    /// The set identifier of the on-premises record.
    pub onprem_set: String,
    /// The set identifier of the AWS record.
    pub aws_set: String,
}

/// The ALB listener and its two target groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTarget {
    /// The listener's ARN.
    pub listener_arn: String,
    /// The on-premises target group's ARN.
    pub onprem_group: String,
    /// The AWS target group's ARN.
    pub aws_group: String,
}

/// Everything the shifter is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The migration's identifier, carried by every log record and metric.
    pub migration_id: String,
    /// The metric namespace.
    pub namespace: String,
    /// The plan parameter's name.
    pub plan_parameter: String,
    /// The state parameter's name.
    pub state_parameter: String,
    /// The weighted records.
    pub records: RecordPair,
    /// The listener, when the ALB is shifted too.
    pub listener: Option<ListenerTarget>,
    /// The gate alarms' names.
    pub gate_alarms: Vec<String>,
    /// Where an automatic rollback goes.
    pub rollback_to: RollbackTo,
}

impl Config {
    /// Reads and checks every variable; the error names the first one that is wrong.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |name: &str, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let record_type = env
            .optional(RECORD_TYPE)
            .map_or_else(|| "A".to_owned(), |t| t.trim().to_ascii_uppercase());
        if !RECORD_TYPES.contains(&record_type.as_str()) {
            return Err(invalid(RECORD_TYPE, "expected A, AAAA or CNAME"));
        }
        let mut name = env.required(RECORD_NAME)?.trim().to_ascii_lowercase();
        if !name.ends_with('.') {
            name.push('.');
        }
        let onprem_set = env.required(ONPREM_SET_ID)?;
        let aws_set = env.required(AWS_SET_ID)?;
        if onprem_set == aws_set {
            return Err(invalid(AWS_SET_ID, "must differ from ONPREM_SET_ID"));
        }
        let records = RecordPair {
            zone_id: env.required(HOSTED_ZONE_ID)?,
            name,
            record_type,
            onprem_set,
            aws_set,
        };
        let listener = match env.optional(LISTENER_ARN) {
            None => None,
            Some(listener_arn) => {
                let onprem_group = env.required(ONPREM_TARGET_GROUP_ARN)?;
                let aws_group = env.required(AWS_TARGET_GROUP_ARN)?;
                if onprem_group == aws_group {
                    return Err(invalid(
                        AWS_TARGET_GROUP_ARN,
                        "must differ from ONPREM_TARGET_GROUP_ARN",
                    ));
                }
                Some(ListenerTarget {
                    listener_arn,
                    onprem_group,
                    aws_group,
                })
            }
        };
        let gate_alarms = env.list(GATE_ALARMS);
        if gate_alarms.is_empty() {
            return Err(ConfigError::Missing {
                name: GATE_ALARMS.to_owned(),
            });
        }
        if gate_alarms.len() > MAX_GATE_ALARMS {
            return Err(invalid(GATE_ALARMS, "at most 100 alarms"));
        }
        let rollback_to = match env.optional(ROLLBACK_TO).as_deref().map(str::trim) {
            None | Some("last-good") => RollbackTo::LastGood,
            Some("zero") => RollbackTo::Zero,
            Some(_) => return Err(invalid(ROLLBACK_TO, "expected last-good or zero")),
        };
        Ok(Self {
            migration_id: env.required(MIGRATION_ID)?,
            namespace: env
                .optional(METRICS_NAMESPACE)
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            plan_parameter: env.required(PLAN_PARAMETER)?,
            state_parameter: env.required(STATE_PARAMETER)?,
            records,
            listener,
            gate_alarms,
            rollback_to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (MIGRATION_ID, "cutover-1"),
            (PLAN_PARAMETER, "/m/plan"),
            (STATE_PARAMETER, "/m/state"),
            (HOSTED_ZONE_ID, "Z1"),
            (RECORD_NAME, "Pay.Example.com"),
            (ONPREM_SET_ID, "onprem"),
            (AWS_SET_ID, "aws"),
            (GATE_ALARMS, "alb-5xx, dms-latency"),
        ]
    }

    #[test]
    fn defaults_apply_and_the_record_name_is_normalised() {
        let config = Config::from_env(&Env::from_pairs(base())).unwrap();
        assert_eq!(config.namespace, "PaymentMigration");
        assert_eq!(config.records.name, "pay.example.com.");
        assert_eq!(config.records.record_type, "A");
        assert_eq!(config.listener, None);
        assert_eq!(config.gate_alarms, ["alb-5xx", "dms-latency"]);
        assert_eq!(config.rollback_to, RollbackTo::LastGood);
    }

    #[test]
    fn a_listener_needs_both_target_groups() {
        let mut pairs = base();
        pairs.push((LISTENER_ARN, "arn:listener"));
        pairs.push((ONPREM_TARGET_GROUP_ARN, "arn:tg/onprem"));
        let err = Config::from_env(&Env::from_pairs(pairs.clone())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable AWS_TARGET_GROUP_ARN"
        );
        pairs.push((AWS_TARGET_GROUP_ARN, "arn:tg/aws"));
        pairs.push((ROLLBACK_TO, "zero"));
        let config = Config::from_env(&Env::from_pairs(pairs)).unwrap();
        assert_eq!(config.listener.unwrap().aws_group, "arn:tg/aws");
        assert_eq!(config.rollback_to, RollbackTo::Zero);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            (
                RECORD_TYPE,
                "MX",
                "invalid environment variable RECORD_TYPE",
            ),
            (
                ROLLBACK_TO,
                "halfway",
                "invalid environment variable ROLLBACK_TO",
            ),
            (
                AWS_SET_ID,
                "onprem",
                "invalid environment variable AWS_SET_ID",
            ),
            (
                GATE_ALARMS,
                " , ",
                "missing environment variable GATE_ALARMS",
            ),
        ];
        for (name, value, expected) in cases {
            let mut pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != name).collect();
            pairs.push((name, value));
            let err = Config::from_env(&Env::from_pairs(pairs)).unwrap_err();
            assert!(err.to_string().starts_with(expected), "{name}: {err}");
        }
    }
}
