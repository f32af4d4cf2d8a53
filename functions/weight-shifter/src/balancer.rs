//! The ALB listener's weighted forward action between the on-premises and the AWS target
//! groups.
//!
//! Only the listener's default actions are moved; listener rules are left alone. The
//! forward action may name the on-premises group alone (a listener before the shift), or
//! both groups with weights; any other target group in it is refused rather than guessed
//! about. Every other default action (authentication, for example) is written back as read.
//!
//! [`Balancer`] is a narrow capability with one real implementation, [`AlbListener`], so a
//! test can make the second half of a move fail and check that the first is put back.

use std::future::Future;

use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersError;
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerError;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};
use migration_shared::error::{sdk_message, sdk_transience};

use crate::config::ListenerTarget;
use crate::error::Error;
use crate::weights::Weights;

/// The listener's default actions as read, and the weights of the two groups in them.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerReading {
    /// The default actions, in order.
    pub actions: Vec<Action>,
    /// The weights of the two groups (0 for a group the forward action does not name).
    pub weights: Weights,
}

/// Reads and writes the weights of a listener's forward action.
pub trait Balancer: Send + Sync {
    /// Reads the listener's default actions and the two groups' weights.
    fn read(
        &self,
        target: &ListenerTarget,
    ) -> impl Future<Output = Result<ListenerReading, Error>> + Send;

    /// Writes `weights` into the forward action of `reading`, keeping the other actions.
    fn write(
        &self,
        target: &ListenerTarget,
        reading: &ListenerReading,
        weights: Weights,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A listener of an Application Load Balancer, through the ELB API.
#[derive(Debug, Clone)]
pub struct AlbListener {
    client: aws_sdk_elasticloadbalancingv2::Client,
}

impl AlbListener {
    /// Over `client`.
    #[must_use]
    pub fn new(client: aws_sdk_elasticloadbalancingv2::Client) -> Self {
        Self { client }
    }
}

fn shape(target: &ListenerTarget, reason: &str) -> Error {
    Error::ListenerShape {
        arn: target.listener_arn.clone(),
        reason: reason.to_owned(),
    }
}

/// The weights of the two groups in `actions`' single forward action.
pub fn forward_weights(target: &ListenerTarget, actions: &[Action]) -> Result<Weights, Error> {
    let mut forwards = actions
        .iter()
        .filter(|a| a.r#type == Some(ActionTypeEnum::Forward));
    let (Some(forward), None) = (forwards.next(), forwards.next()) else {
        return Err(shape(
            target,
            "its default actions need exactly one forward action",
        ));
    };
    let groups: Vec<(String, u32)> = match forward.forward_config.as_ref() {
        Some(config) if !config.target_groups().is_empty() => config
            .target_groups()
            .iter()
            .map(|g| {
                let weight = g.weight.map_or(1, |w| u32::try_from(w).unwrap_or(0));
                (g.target_group_arn.clone().unwrap_or_default(), weight)
            })
            .collect(),
        _ => match forward.target_group_arn.as_ref() {
            Some(arn) => vec![(arn.clone(), 1)],
            None => return Err(shape(target, "its forward action names no target group")),
        },
    };
    let mut weights = Weights { onprem: 0, aws: 0 };
    for (arn, weight) in groups {
        if arn == target.onprem_group {
            weights.onprem = weight;
        } else if arn == target.aws_group {
            weights.aws = weight;
        } else {
            return Err(shape(
                target,
                "its forward action names a target group other than the two configured",
            ));
        }
    }
    Ok(weights)
}

/// `actions` with the forward action sending `weights` to the two groups.
#[must_use]
pub fn with_weights(target: &ListenerTarget, actions: &[Action], weights: Weights) -> Vec<Action> {
    let tuple = |arn: &str, weight: u32| {
        TargetGroupTuple::builder()
            .target_group_arn(arn)
            .weight(i32::try_from(weight).unwrap_or(i32::MAX))
            .build()
    };
    actions
        .iter()
        .map(|a| {
            if a.r#type != Some(ActionTypeEnum::Forward) {
                return a.clone();
            }
            let mut action = a.clone();
            let stickiness = a
                .forward_config
                .as_ref()
                .and_then(|c| c.target_group_stickiness_config.clone());
            action.target_group_arn = None;
            action.forward_config = Some(
                ForwardActionConfig::builder()
                    .target_groups(tuple(&target.onprem_group, weights.onprem))
                    .target_groups(tuple(&target.aws_group, weights.aws))
                    .set_target_group_stickiness_config(stickiness)
                    .build(),
            );
            action
        })
        .collect()
}

impl Balancer for AlbListener {
    async fn read(&self, target: &ListenerTarget) -> Result<ListenerReading, Error> {
        let out = self
            .client
            .describe_listeners()
            .listener_arns(&target.listener_arn)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(DescribeListenersError::ListenerNotFoundException(_)) => {
                    Error::ListenerNotFound {
                        arn: target.listener_arn.clone(),
                    }
                }
                _ => Error::Listener {
                    action: "read".into(),
                    arn: target.listener_arn.clone(),
                    reason: sdk_message(&e),
                    transience: sdk_transience(&e),
                },
            })?;
        let listener = out
            .listeners()
            .iter()
            .find(|l| l.listener_arn() == Some(target.listener_arn.as_str()))
            .ok_or_else(|| Error::ListenerNotFound {
                arn: target.listener_arn.clone(),
            })?;
        let actions = listener.default_actions().to_vec();
        let weights = forward_weights(target, &actions)?;
        Ok(ListenerReading { actions, weights })
    }

    async fn write(
        &self,
        target: &ListenerTarget,
        reading: &ListenerReading,
        weights: Weights,
    ) -> Result<(), Error> {
        self.client
            .modify_listener()
            .listener_arn(&target.listener_arn)
            .set_default_actions(Some(with_weights(target, &reading.actions, weights)))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(ModifyListenerError::ListenerNotFoundException(_)) => {
                    Error::ListenerNotFound {
                        arn: target.listener_arn.clone(),
                    }
                }
                _ => Error::Listener {
                    action: "modify".into(),
                    arn: target.listener_arn.clone(),
                    reason: sdk_message(&e),
                    transience: sdk_transience(&e),
                },
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ListenerTarget {
        ListenerTarget {
            listener_arn: "arn:listener".into(),
            onprem_group: "arn:tg/onprem".into(),
            aws_group: "arn:tg/aws".into(),
        }
    }

    fn forward_to(arn: &str) -> Action {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(arn)
            .build()
    }

    #[test]
    fn a_listener_forwarding_on_premises_only_reads_as_zero_percent() {
        let weights = forward_weights(&target(), &[forward_to("arn:tg/onprem")]).unwrap();
        assert_eq!(weights, Weights { onprem: 1, aws: 0 });
        assert_eq!(weights.aws_share(), Some(0));
    }

    #[test]
    fn writing_weights_keeps_other_actions_and_reads_back() {
        let auth = Action::builder()
            .r#type(ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .build();
        let actions = vec![auth.clone(), forward_to("arn:tg/onprem")];
        let written = with_weights(&target(), &actions, Weights::for_share(25));
        assert_eq!(written[0], auth);
        assert_eq!(written[1].target_group_arn, None);
        assert_eq!(
            forward_weights(&target(), &written).unwrap(),
            Weights {
                onprem: 75,
                aws: 25
            }
        );
    }

    #[test]
    fn an_unknown_target_group_or_no_forward_action_is_refused() {
        let err = forward_weights(&target(), &[forward_to("arn:tg/other")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "listener arn:listener cannot be shifted: its forward action names a target group \
             other than the two configured"
        );
        let err = forward_weights(&target(), &[]).unwrap_err();
        assert!(
            err.to_string().ends_with("exactly one forward action"),
            "{err}"
        );
    }
}
