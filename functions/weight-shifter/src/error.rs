//! The weight shifter's errors, each transient or permanent, and how Lambda reports them.

use lambda_runtime::Diagnostic;
use migration_shared::config::ConfigError;
use migration_shared::error::{Classify, Transience, diagnostic};

use crate::plan::PlanError;
use crate::state::StateError;
use crate::weights::Weights;

/// Everything that can stop a tick or a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A parameter could not be read.
    #[error(transparent)]
    Parameter(#[from] migration_shared::Error),
    /// The plan parameter holds no usable plan.
    #[error("failed to read the plan in parameter {parameter}: {source}")]
    Plan {
        /// The plan parameter.
        parameter: String,
        /// What is wrong with it.
        #[source]
        source: PlanError,
    },
    /// The state parameter does not parse.
    #[error("failed to read the state in parameter {parameter}: {source}")]
    State {
        /// The state parameter.
        parameter: String,
        /// What is wrong with it.
        #[source]
        source: StateError,
    },
    /// Someone wrote the state between this function's read and its write.
    #[error(
        "failed to write the state to parameter {parameter}: it moved from version \
         {expected} to {found} meanwhile"
    )]
    StateConflict {
        /// The state parameter.
        parameter: String,
        /// The version read.
        expected: i64,
        /// The version found before writing.
        found: i64,
    },
    /// Writing the state failed.
    #[error("failed to write the state to parameter {parameter}: {reason}")]
    StateWrite {
        /// The state parameter.
        parameter: String,
        /// What the service said.
        reason: String,
        /// Whether writing again may work.
        transience: Transience,
    },
    /// A weighted record is not in the hosted zone.
    #[error(
        "record {name} {record_type} with set identifier {set_id} is not in hosted zone {zone}"
    )]
    RecordNotFound {
        /// The hosted zone.
        zone: String,
        /// The record name.
        name: String,
        /// The record type.
        record_type: String,
        /// The missing set identifier.
        set_id: String,
    },
    /// A Route 53 call failed.
    #[error("failed to {action} in hosted zone {zone}: {reason}")]
    Route53 {
        /// What was being done, such as `read record pay.example.com. A`.
        action: String,
        /// The hosted zone.
        zone: String,
        /// What the service said.
        reason: String,
        /// Whether trying again may work.
        transience: Transience,
    },
    /// The listener does not exist.
    #[error("listener {arn} does not exist")]
    ListenerNotFound {
        /// The listener's ARN.
        arn: String,
    },
    /// The listener's default action is not one the shifter can move.
    #[error("listener {arn} cannot be shifted: {reason}")]
    ListenerShape {
        /// The listener's ARN.
        arn: String,
        /// What is wrong with its default actions.
        reason: String,
    },
    /// An ELB call failed.
    #[error("failed to {action} listener {arn}: {reason}")]
    Listener {
        /// What was being done: `read` or `modify`.
        action: String,
        /// The listener's ARN.
        arn: String,
        /// What the service said.
        reason: String,
        /// Whether trying again may work.
        transience: Transience,
    },
    /// Gate alarms named in the configuration do not exist.
    #[error("gate alarms {names} do not exist")]
    AlarmNotFound {
        /// The missing alarms, comma separated.
        names: String,
    },
    /// Reading the gate alarms failed.
    #[error("failed to read gate alarms: {reason}")]
    Alarms {
        /// What the service said.
        reason: String,
        /// Whether trying again may work.
        transience: Transience,
    },
    /// The weights read back after a write are not the ones written.
    #[error("weights of {resource} read back as {found:?} after writing {expected:?}")]
    ReadBack {
        /// What was written: the record pair or the listener.
        resource: String,
        /// The weights written.
        expected: Weights,
        /// The weights read back.
        found: Weights,
    },
    /// The ALB move failed after Route 53 had moved; Route 53 was put back, or not.
    #[error("failed to move traffic to {to} percent AWS: {source}; {restore}")]
    PartialMove {
        /// The share asked for.
        to: u8,
        /// Why the ALB move failed.
        #[source]
        source: Box<Error>,
        /// What became of Route 53: put back, or why it could not be.
        restore: String,
        /// Whether Route 53 was put back as it was.
        restored: bool,
    },
    /// A command that is not one the shifter knows, or has bad arguments.
    #[error("invalid command: {0}")]
    Command(String),
    /// An event that is neither an SQS batch, a scheduled event nor a command.
    #[error("unrecognised event: {0}")]
    Event(String),
}

impl Classify for Error {
    fn transience(&self) -> Transience {
        match self {
            Self::Parameter(e) => e.transience(),
            Self::StateConflict { .. } | Self::ReadBack { .. } => Transience::Transient,
            Self::StateWrite { transience, .. }
            | Self::Route53 { transience, .. }
            | Self::Listener { transience, .. }
            | Self::Alarms { transience, .. } => *transience,
            Self::PartialMove {
                source, restored, ..
            } => {
                if *restored {
                    source.transience()
                } else {
                    // The two services disagree now; the next attempt decides again and
                    // writes both.
                    Transience::Transient
                }
            }
            Self::Config(_)
            | Self::Plan { .. }
            | Self::State { .. }
            | Self::RecordNotFound { .. }
            | Self::ListenerNotFound { .. }
            | Self::ListenerShape { .. }
            | Self::AlarmNotFound { .. }
            | Self::Command(_)
            | Self::Event(_) => Transience::Permanent,
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        let error_type = match err.transience() {
            Transience::Transient => "Transient",
            Transience::Permanent => "Permanent",
        };
        diagnostic(error_type, &err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_alb_move_with_route53_put_back_reports_both() {
        let err = Error::PartialMove {
            to: 25,
            source: Box::new(Error::Listener {
                action: "modify".into(),
                arn: "arn:l".into(),
                reason: "TargetGroupNotFound: gone".into(),
                transience: Transience::Permanent,
            }),
            restore: "Route 53 put back to on-premises 90, AWS 10".into(),
            restored: true,
        };
        assert_eq!(
            err.to_string(),
            "failed to move traffic to 25 percent AWS: failed to modify listener arn:l: \
             TargetGroupNotFound: gone; Route 53 put back to on-premises 90, AWS 10"
        );
        assert_eq!(err.transience(), Transience::Permanent);
        let d = Diagnostic::from(err);
        assert_eq!(d.error_type, "Permanent");
    }

    #[test]
    fn a_state_conflict_is_worth_retrying() {
        let err = Error::StateConflict {
            parameter: "/m/state".into(),
            expected: 4,
            found: 5,
        };
        assert_eq!(err.transience(), Transience::Transient);
        assert_eq!(
            err.to_string(),
            "failed to write the state to parameter /m/state: it moved from version 4 to 5 \
             meanwhile"
        );
    }
}
