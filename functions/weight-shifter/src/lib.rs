//! The weight shifter: moves payment traffic from the on-premises endpoint to AWS in gated
//! steps (Route 53 weighted records and, optionally, an ALB listener's weighted forward
//! action), and back when a gate alarm fires.
//!
//! One handler serves both triggers: an EventBridge scheduled event is a tick, which
//! evaluates the gates and advances, holds or rolls back; an SQS FIFO batch carries operator
//! commands ([`mod@command`]). Every tick or command reads the state, decides with the pure
//! rules of [`decide`], moves the weights (Route 53 first, then the listener, with Route 53
//! put back when the listener fails), reads them back, and only then writes the state
//! with a version check. A failure at any point leaves the state as it was, and the next
//! attempt decides again from it, so a step is never applied twice.

pub mod alarms;
pub mod balancer;
pub mod clock;
pub mod command;
pub mod config;
pub mod decide;
pub mod error;
pub mod plan;
pub mod route53;
pub mod state;
pub mod store;
pub mod weights;

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use migration_shared::error::chain;
use migration_shared::json;
use migration_shared::metrics::{Metric, Metrics, Unit};
use migration_shared::sqs_batch::{self, Message, Order};
use serde::Serialize;
use serde_json::Value;

use crate::alarms::Alarms;
use crate::balancer::{AlbListener, Balancer, ListenerReading};
use crate::clock::{Clock, SystemClock};
use crate::command::{Command, CommandBody};
use crate::config::Config;
use crate::decide::{Gates, Outcome, Timing, Verdict};
pub use crate::error::Error;
use crate::route53::{PairReading, RecordSets};
use crate::state::{Applied, Phase, State};
use crate::store::Store;
use crate::weights::Weights;

/// The function's name, as its metrics' `Function` dimension.
pub const FUNCTION_NAME: &str = "weight-shifter";
/// The metric carrying the AWS share after every tick and command.
pub const SHARE_METRIC: &str = "AwsTrafficPercent";
/// How often a tick or command is decided again when the state moved under it.
pub const MAX_ATTEMPTS: usize = 3;

/// What the handler needs, built once per cold start.
pub struct Deps<B = AlbListener> {
    /// The configuration.
    pub config: Config,
    /// The plan and state parameters.
    pub store: Store,
    /// The weighted records.
    pub records: RecordSets,
    /// The listener, used only when one is configured.
    pub balancer: B,
    /// The gate alarms.
    pub alarms: Alarms,
    /// The metric writer.
    pub metrics: Metrics,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Deps<AlbListener> {
    /// Clients for every service from one SDK configuration, and the system clock.
    #[must_use]
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            store: Store::new(
                aws_sdk_ssm::Client::new(sdk),
                &config.plan_parameter,
                &config.state_parameter,
            ),
            records: RecordSets::new(aws_sdk_route53::Client::new(sdk)),
            balancer: AlbListener::new(aws_sdk_elasticloadbalancingv2::Client::new(sdk)),
            alarms: Alarms::new(aws_sdk_cloudwatch::Client::new(sdk)),
            metrics: Metrics::new(&config.namespace, FUNCTION_NAME, &config.migration_id),
            clock: Arc::new(SystemClock),
            config,
        }
    }
}

impl<B> Deps<B> {
    /// The same dependencies with another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same dependencies with another listener implementation.
    pub fn with_balancer<C: Balancer>(self, balancer: C) -> Deps<C> {
        Deps {
            config: self.config,
            store: self.store,
            records: self.records,
            balancer,
            alarms: self.alarms,
            metrics: self.metrics,
            clock: self.clock,
        }
    }
}

/// What a tick or command came to, as returned to a direct invocation and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What happened: `advance`, `rollback`, `unchanged`, `refused`, `duplicate`, ...
    pub outcome: &'static str,
    /// Why.
    pub reason: String,
    /// Where the shift stands now.
    pub phase: Phase,
    /// The AWS share now.
    pub aws_percent: u8,
    /// The last share that held cleanly.
    pub last_good: u8,
    /// Why the shift is paused, while it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    /// The weights the state records.
    pub applied: Applied,
    /// The weights read from the services on this call, when they were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Applied>,
}

impl Report {
    fn new(outcome: Outcome, reason: String, state: &State, observed: Option<Applied>) -> Self {
        Self {
            outcome: outcome.as_str(),
            reason,
            phase: state.phase,
            aws_percent: state.aws_percent,
            last_good: state.last_good,
            paused: state.pause.as_ref().map(|p| p.reason.clone()),
            applied: state.applied,
            observed,
        }
    }
}

/// What started this call.
enum Trigger<'a> {
    Tick,
    Command {
        command: Command,
        keys: Vec<String>,
        note: Option<&'a str>,
    },
}

impl Trigger<'_> {
    fn by(&self) -> String {
        match self {
            Self::Tick => "tick".to_owned(),
            Self::Command { command, keys, .. } => match keys.first() {
                Some(k) => format!("command:{}", state::clip(k, 64)),
                None => format!("command:{}", command.name()),
            },
        }
    }
}

/// Handles one invocation: an SQS batch of commands, a scheduled tick, or one command
/// sent directly. The answer is the partial batch response for SQS, a [`Report`] otherwise.
pub async fn handle<B: Balancer>(event: Value, deps: &Deps<B>) -> Result<Value, Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent =
            json::from_value(&event).map_err(|e| Error::Event(e.describe("the SQS batch")))?;
        let outcome =
            sqs_batch::process(batch, Order::Fifo, |m: Message<CommandBody>| async move {
                let keys = m.body.keys(m.deduplication_id.as_deref(), Some(&m.id));
                command_with_keys(&m.body, keys, deps).await.map(|_| ())
            })
            .await;
        return to_value(&outcome.response);
    }
    if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return to_value(&tick(deps).await?);
    }
    if event.get("command").is_some() {
        let body: CommandBody =
            json::from_value(&event).map_err(|e| Error::Command(e.describe("the command")))?;
        let keys = body.keys(None, None);
        return to_value(&command_with_keys(&body, keys, deps).await?);
    }
    Err(Error::Event(
        "expected an SQS batch of commands, an EventBridge scheduled event or a command".into(),
    ))
}

fn to_value(value: &impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(value)
        .map_err(|e| Error::Event(format!("failed to encode the answer: {e}")))
}

/// A scheduled tick.
pub async fn tick<B: Balancer>(deps: &Deps<B>) -> Result<Report, Error> {
    run(deps, &Trigger::Tick).await
}

/// One operator command; `deduplication_id` is the FIFO message's, when it came by SQS.
pub async fn command<B: Balancer>(
    body: &CommandBody,
    deduplication_id: Option<&str>,
    deps: &Deps<B>,
) -> Result<Report, Error> {
    command_with_keys(body, body.keys(deduplication_id, None), deps).await
}

async fn command_with_keys<B: Balancer>(
    body: &CommandBody,
    keys: Vec<String>,
    deps: &Deps<B>,
) -> Result<Report, Error> {
    let command = body.parse()?;
    let trigger = Trigger::Command {
        command,
        keys,
        note: body.reason.as_deref(),
    };
    run(deps, &trigger).await
}

async fn run<B: Balancer>(deps: &Deps<B>, trigger: &Trigger<'_>) -> Result<Report, Error> {
    let mut attempt = 1;
    loop {
        match once(deps, trigger).await {
            Err(e @ Error::StateConflict { .. }) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(attempt, reason = %e, "state moved meanwhile; deciding again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// What a trigger needs read before it can be decided.
struct Needs {
    plan: bool,
    gates: bool,
    weights: bool,
}

fn needs(trigger: &Trigger<'_>) -> Needs {
    let (plan, gates, weights) = match trigger {
        Trigger::Tick
        | Trigger::Command {
            command: Command::Advance,
            ..
        } => (true, true, true),
        Trigger::Command { command, .. } => match command {
            Command::Set { force, .. } => (false, !force, true),
            Command::Abort | Command::Status => (false, false, true),
            // A shift is resumed only under a plan that reads: otherwise the operator would
            // hear "resumed" and learn of the broken plan only at the next tick.
            Command::Resume => (true, false, false),
            Command::Advance | Command::Pause => (false, false, false),
        },
    };
    Needs {
        plan,
        gates,
        weights,
    }
}

async fn once<B: Balancer>(deps: &Deps<B>, trigger: &Trigger<'_>) -> Result<Report, Error> {
    let config = &deps.config;
    let need = needs(trigger);
    let (state, version) = deps.store.state().await?;
    let by = trigger.by();
    if let Trigger::Command { command, keys, .. } = trigger
        && *command != Command::Status
        && state.has_seen(keys)
    {
        let reason = format!("command {} already handled; ignored", keys.join(", "));
        tracing::info!(by = %by, command = command.name(), "duplicate command ignored");
        return Ok(Report::new(Outcome::Duplicate, reason, &state, None));
    }
    // A plan that cannot be read stops an advance at once. A tick goes on far enough to
    // roll back on an alarm, which needs no plan, and fails after deciding otherwise.
    let (plan, plan_error) = match (need.plan, trigger) {
        (false, _) => (None, None),
        (true, Trigger::Tick) => match deps.store.plan().await {
            Ok(plan) => (Some(plan), None),
            Err(e) => (None, Some(e)),
        },
        (true, Trigger::Command { .. }) => (Some(deps.store.plan().await?), None),
    };
    let pair = if need.weights {
        Some(deps.records.read(&config.records).await?)
    } else {
        None
    };
    let listener = match (&config.listener, need.weights) {
        (Some(target), true) => Some(deps.balancer.read(target).await?),
        _ => None,
    };
    let observed = pair.as_ref().map(|p| Applied {
        route53: Some(p.weights),
        alb: listener.as_ref().map(|l| l.weights),
    });
    if let Some(p) = &pair {
        warn_on_drift(&state, p, listener.as_ref());
    }
    let gates = if need.gates {
        deps.alarms.read(&config.gate_alarms).await?
    } else {
        Gates::default()
    };
    let timing = Timing {
        now: deps.clock.now(),
        ttl: pair.as_ref().map_or(route53::ALIAS_TTL_SECONDS, |p| p.ttl),
    };
    let verdict = decide_one(deps, trigger, &state, plan.as_ref(), &gates, timing, &by).await;
    if let Some(e) = plan_error {
        if verdict.outcome != Outcome::RolledBack {
            return Err(e);
        }
        tracing::error!(reason = %chain(&e), "rolling back although the plan cannot be read");
    }
    let Verdict {
        outcome,
        mut reason,
        mut next,
        target,
    } = verdict;
    if outcome == Outcome::Status {
        reason = status_line(&state, observed.as_ref());
    }
    if let (Some(to), Some(pair)) = (target, pair.as_ref()) {
        // The state this move was decided from must still be the latest.
        deps.store.ensure_version(version).await?;
        next.applied = move_weights(
            deps,
            pair,
            listener.as_ref(),
            state.aws_percent,
            to,
            &reason,
            &by,
        )
        .await?;
    }
    if let Trigger::Command { command, keys, .. } = trigger
        && *command != Command::Status
    {
        next.remember(keys);
    }
    if next != state {
        deps.store.write(&next, version).await?;
    }
    log_outcome(outcome, &reason, &by, &state, &next, &gates);
    if outcome != Outcome::Duplicate {
        deps.metrics.emit(&[Metric {
            name: SHARE_METRIC,
            value: f64::from(next.aws_percent),
            unit: Unit::Percent,
        }]);
    }
    Ok(Report::new(outcome, reason, &next, observed))
}

async fn decide_one<B: Balancer>(
    deps: &Deps<B>,
    trigger: &Trigger<'_>,
    state: &State,
    plan: Option<&plan::Plan>,
    gates: &Gates,
    timing: Timing,
    by: &str,
) -> Verdict {
    let now = timing.now;
    let rollback_to = deps.config.rollback_to;
    let (command, note) = match trigger {
        Trigger::Tick => return decide::tick(state, plan, gates, timing, rollback_to),
        Trigger::Command { command, note, .. } => (*command, *note),
    };
    match command {
        Command::Advance => match plan {
            Some(plan) => decide::advance(state, plan, gates, timing, by),
            None => unreachable_plan(state),
        },
        Command::Set { percent, force } => {
            // The plan only names the step; a plan that does not read leaves it unnamed.
            let plan = match deps.store.plan().await {
                Ok(plan) => Some(plan),
                Err(e) => {
                    tracing::warn!(reason = %chain(&e), "set proceeds without the plan");
                    None
                }
            };
            decide::set(state, plan.as_ref(), percent, force, gates, timing, by)
        }
        Command::Abort => decide::abort(state, now, by, note),
        Command::Pause => decide::pause(state, now, by, note),
        Command::Resume => decide::resume(state, now, by, note),
        Command::Status => Verdict {
            outcome: Outcome::Status,
            reason: "status".to_owned(),
            next: state.clone(),
            target: None,
        },
    }
}

/// An advance always reads the plan first; this keeps the state as it is should that ever
/// not hold.
fn unreachable_plan(state: &State) -> Verdict {
    Verdict {
        outcome: Outcome::Unchanged,
        reason: "no plan was read".to_owned(),
        next: state.clone(),
        target: None,
    }
}

/// One line saying where the shift stands, for `status`.
fn status_line(state: &State, observed: Option<&Applied>) -> String {
    let mut parts = vec![format!(
        "{} at {} percent AWS, last good {}",
        state.phase.as_str(),
        state.aws_percent,
        state.last_good
    )];
    if let Some(at) = state.last_change_at {
        parts.push(format!("last change at {at}"));
    }
    if let Some(p) = &state.pause {
        parts.push(format!("paused: {}", p.reason));
    }
    let pair = |name: &str, w: Weights| format!("{name} on-premises {} AWS {}", w.onprem, w.aws);
    if let Some(w) = observed.and_then(|o| o.route53) {
        parts.push(pair("route 53", w));
    }
    if let Some(w) = observed.and_then(|o| o.alb) {
        parts.push(pair("listener", w));
    }
    parts.join("; ")
}

fn warn_on_drift(state: &State, pair: &PairReading, listener: Option<&ListenerReading>) {
    let route53 = pair.weights.aws_share();
    let alb = listener.and_then(|l| l.weights.aws_share());
    let off = |share: Option<u8>| share.is_some_and(|s| s != state.aws_percent);
    if off(route53) || off(alb) || route53.is_none() {
        tracing::warn!(
            state_aws_percent = state.aws_percent,
            route53_aws_percent = ?route53,
            alb_aws_percent = ?alb,
            "weights differ from the state; the next move writes both"
        );
    }
}

/// Moves Route 53, then the listener, each read back; when the listener fails, Route 53
/// is put back as it was read. Returns the weights read back.
async fn move_weights<B: Balancer>(
    deps: &Deps<B>,
    pair: &PairReading,
    listener: Option<&ListenerReading>,
    from: u8,
    to: u8,
    reason: &str,
    by: &str,
) -> Result<Applied, Error> {
    let records = &deps.config.records;
    let wanted = Weights::for_share(to);
    let change = deps.records.write(records, pair, wanted, reason).await?;
    let in_sync = match &change {
        Some(id) => deps.records.wait_in_sync(id).await,
        None => false,
    };
    let moved = deps.records.read(records).await?;
    if moved.weights != wanted {
        return Err(Error::ReadBack {
            resource: format!("record {} {}", records.name, records.record_type),
            expected: wanted,
            found: moved.weights,
        });
    }
    let mut applied = Applied {
        route53: Some(moved.weights),
        alb: None,
    };
    if let (Some(target), Some(before)) = (&deps.config.listener, listener) {
        match move_listener(&deps.balancer, target, before, wanted).await {
            Ok(weights) => applied.alb = Some(weights),
            Err(e) => {
                let restore = put_back(deps, &moved, pair.weights).await;
                let (restore, restored) = match restore {
                    Ok(()) => (
                        format!(
                            "Route 53 put back to on-premises {}, AWS {}",
                            pair.weights.onprem, pair.weights.aws
                        ),
                        true,
                    ),
                    Err(r) => (
                        format!("Route 53 could not be put back: {}", chain(&r)),
                        false,
                    ),
                };
                tracing::error!(
                    by = %by,
                    from,
                    to,
                    reason = %chain(&e),
                    restore = %restore,
                    "listener move failed after the records moved"
                );
                return Err(Error::PartialMove {
                    to,
                    source: Box::new(e),
                    restore,
                    restored,
                });
            }
        }
    }
    tracing::info!(
        by = %by,
        from,
        to,
        route53_onprem_before = pair.weights.onprem,
        route53_aws_before = pair.weights.aws,
        route53_onprem_after = moved.weights.onprem,
        route53_aws_after = moved.weights.aws,
        route53_change = change.as_deref(),
        route53_in_sync = in_sync,
        alb_onprem_before = listener.map(|l| l.weights.onprem),
        alb_aws_before = listener.map(|l| l.weights.aws),
        alb_onprem_after = applied.alb.map(|w| w.onprem),
        alb_aws_after = applied.alb.map(|w| w.aws),
        reason = %reason,
        "weights moved"
    );
    Ok(applied)
}

async fn move_listener<B: Balancer>(
    balancer: &B,
    target: &config::ListenerTarget,
    before: &ListenerReading,
    wanted: Weights,
) -> Result<Weights, Error> {
    balancer.write(target, before, wanted).await?;
    let after = balancer.read(target).await?;
    if after.weights != wanted {
        return Err(Error::ReadBack {
            resource: format!("listener {}", target.listener_arn),
            expected: wanted,
            found: after.weights,
        });
    }
    Ok(after.weights)
}

async fn put_back<B: Balancer>(
    deps: &Deps<B>,
    current: &PairReading,
    weights: Weights,
) -> Result<(), Error> {
    let records = &deps.config.records;
    deps.records
        .write(
            records,
            current,
            weights,
            "put back after a failed listener move",
        )
        .await?;
    let back = deps.records.read(records).await?;
    if back.weights == weights {
        Ok(())
    } else {
        Err(Error::ReadBack {
            resource: format!("record {} {}", records.name, records.record_type),
            expected: weights,
            found: back.weights,
        })
    }
}

fn log_outcome(
    outcome: Outcome,
    reason: &str,
    by: &str,
    before: &State,
    after: &State,
    gates: &Gates,
) {
    let not_ok = gates.not_ok().join(", ");
    match outcome {
        Outcome::Refused => tracing::warn!(
            by = %by,
            outcome = outcome.as_str(),
            aws_percent = after.aws_percent,
            reason = %reason,
            "command refused; nothing changed"
        ),
        Outcome::RolledBack => tracing::warn!(
            by = %by,
            outcome = outcome.as_str(),
            from = before.aws_percent,
            to = after.aws_percent,
            gates_not_ok = %not_ok,
            reason = %reason,
            "rolled back and paused"
        ),
        _ => tracing::info!(
            by = %by,
            outcome = outcome.as_str(),
            from = before.aws_percent,
            to = after.aws_percent,
            phase = ?after.phase,
            gates_not_ok = %not_ok,
            reason = %reason,
            "decided"
        ),
    }
}
