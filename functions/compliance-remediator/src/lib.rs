//! The compliance remediator: fixes what AWS Config flags during the migration, safely.
//!
//! Invoked by EventBridge with Config's `Config Rules Compliance Change` events, and on a
//! schedule for the SSM parameter scan. For a resource that turned `NON_COMPLIANT` under a
//! rule it knows ([`rules`]), it reads the resource again, and:
//!
//! - leaves it alone when it is gone (acknowledged), carries the exemption tag, or is
//!   already compliant (no changing call);
//! - reports it for a person when it cannot be fixed in place (an alert on the queue);
//! - in dry run, or inside the freeze window, reports what it would do;
//! - stops and alerts when the loop guard counts too many fixes within the hour;
//! - otherwise applies the fix, reads the resource again to prove it took effect, and asks
//!   Config to re-evaluate the rule. The re-evaluation is best effort: its failure is
//!   written in the audit record and does not undo or fail the fix.
//!
//! Every decision is one audit record and one `Remediations` metric ([`audit`]). A failed
//! remediation makes the invocation fail (after every record is written), so Lambda's
//! asynchronous retries and its on-failure destination or dead-letter queue see it; an
//! event that no retry could help (compliant, not applicable, unknown rule, malformed,
//! resource gone) is acknowledged with its reason instead.

pub mod alert;
pub mod audit;
pub mod config;
pub mod error;
pub mod event;
pub mod guard;
pub mod remediation;
pub mod rules;

use aws_config::SdkConfig;
use chrono::Utc;
use migration_shared::metrics::Metrics;
use serde::Serialize;
use serde_json::Value;

use crate::alert::Alert;
use crate::audit::{Decision, Outcome};
pub use crate::config::Config;
pub use crate::error::Error;
use crate::event::{ComplianceChange, Trigger};
use crate::guard::{Freeze, LoopGuard, loop_guard_parameter, loop_guard_prefix};
use crate::remediation::{Finding, Inspection};
use crate::rules::{RuleKind, SSM_SCAN_RULE};

/// The function's name, in metrics.
pub const FUNCTION_NAME: &str = "compliance-remediator";

/// The clients and settings the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The configuration.
    pub config: Config,
    /// The metric writer.
    pub metrics: Metrics,
    /// SQS: queues remediated and the alert queue.
    pub sqs: aws_sdk_sqs::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// SSM: parameters remediated, the freeze window and the loop guard.
    pub ssm: aws_sdk_ssm::Client,
    /// EC2 security groups.
    pub ec2: aws_sdk_ec2::Client,
    /// RDS.
    pub rds: aws_sdk_rds::Client,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// AWS Config, for re-evaluation.
    pub config_service: aws_sdk_config::Client,
}

impl Deps {
    /// Clients from one SDK configuration. With a custom endpoint (`AWS_ENDPOINT_URL`), S3
    /// is addressed path-style, since bucket host names do not resolve on such endpoints.
    #[must_use]
    pub fn new(config: Config, sdk: &SdkConfig) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            metrics: Metrics::new(&config.namespace, FUNCTION_NAME, &config.migration_id),
            config,
            sqs: aws_sdk_sqs::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            ec2: aws_sdk_ec2::Client::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            config_service: aws_sdk_config::Client::new(sdk),
        }
    }
}

/// What one invocation decided, in the order decided.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One entry per resource considered (or one `ignored` entry for an unusable event).
    pub decisions: Vec<Decision>,
}

/// Handles one EventBridge event. Returns the decisions, or an error when a remediation
/// failed (each decision is logged and counted either way).
#[tracing::instrument(skip_all, name = "remediate")]
pub async fn handle(event: Value, deps: &Deps) -> Result<Report, Error> {
    let decisions = match event::parse(&event) {
        Trigger::Compliance(change) => vec![on_change(deps, &change).await?],
        Trigger::Schedule => scan(deps).await?,
        Trigger::Unusable(reason) => vec![Decision::ignored("-", "-", "-", reason)],
    };
    for d in &decisions {
        d.record(&deps.metrics);
    }
    let failures: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Failed)
        .collect();
    if let Some(first) = failures.first() {
        return Err(Error::Remediation {
            failed: failures.len(),
            first: format!(
                "{} on {}: {}",
                first.action, first.resource_id, first.reason
            ),
        });
    }
    Ok(Report { decisions })
}

/// One resource to decide on.
struct Subject<'a> {
    rule: &'a str,
    kind: RuleKind,
    resource_type: &'a str,
    resource_id: &'a str,
    /// Whether Config evaluates the rule (and can be asked to re-evaluate).
    config_rule: bool,
}

async fn on_change(deps: &Deps, change: &ComplianceChange) -> Result<Decision, Error> {
    let ignore = |reason: String| {
        Decision::ignored(
            &change.rule,
            &change.resource_type,
            &change.resource_id,
            reason,
        )
    };
    if change.compliance != "NON_COMPLIANT" {
        return Ok(ignore(format!(
            "compliance is {}",
            migration_shared::json::shown_name(&change.compliance)
        )));
    }
    let Some((identifier, kind)) = rules::lookup(&change.rule) else {
        return Ok(ignore("no remediation is known for this rule".to_owned()));
    };
    if !rules::allowed(&deps.config, &change.rule, identifier) {
        return Ok(ignore(format!("rule {identifier} is not in ALLOWED_RULES")));
    }
    if !kind
        .resource_types()
        .contains(&change.resource_type.as_str())
    {
        return Ok(ignore(format!(
            "resource type {} is not remediated under {identifier}",
            migration_shared::json::shown_name(&change.resource_type)
        )));
    }
    let freeze = load_freeze(deps).await?;
    let subject = Subject {
        rule: &change.rule,
        kind,
        resource_type: &change.resource_type,
        resource_id: &change.resource_id,
        config_rule: true,
    };
    Ok(decide(deps, &subject, &freeze).await)
}

async fn load_freeze(deps: &Deps) -> Result<Freeze, Error> {
    match &deps.config.freeze_parameter {
        Some(name) => Freeze::load(&deps.ssm, name).await,
        None => Ok(Freeze::default()),
    }
}

/// The scheduled scan: every parameter under `SSM_SCAN_PATH` whose name matches the secret
/// pattern, except the remediator's own loop guard records.
async fn scan(deps: &Deps) -> Result<Vec<Decision>, Error> {
    let resource_type = RuleKind::SsmSecureString.resource_types()[0];
    let Some(path) = &deps.config.ssm_scan_path else {
        return Ok(vec![Decision::ignored(
            SSM_SCAN_RULE,
            resource_type,
            "-",
            "SSM_SCAN_PATH is not set".to_owned(),
        )]);
    };
    if !rules::allowed(&deps.config, SSM_SCAN_RULE, "SSM_SECRET_PARAMETER_SCAN") {
        return Ok(vec![Decision::ignored(
            SSM_SCAN_RULE,
            resource_type,
            path,
            "rule SSM_SECRET_PARAMETER_SCAN is not in ALLOWED_RULES".to_owned(),
        )]);
    }
    let guard_prefix = format!("{}/", loop_guard_prefix(&deps.config.migration_id));
    let names: Vec<String> = remediation::ssm::list(deps, path)
        .await?
        .into_iter()
        .filter_map(|p| p.name)
        .filter(|n| !n.starts_with(&guard_prefix))
        .filter(|n| deps.config.secret_name_pattern.is_match(n))
        .collect();
    tracing::info!(path = %path, matching = names.len(), "parameter scan");
    let freeze = load_freeze(deps).await?;
    let mut decisions = Vec::with_capacity(names.len());
    for name in &names {
        let subject = Subject {
            rule: SSM_SCAN_RULE,
            kind: RuleKind::SsmSecureString,
            resource_type,
            resource_id: name,
            config_rule: false,
        };
        decisions.push(decide(deps, &subject, &freeze).await);
    }
    Ok(decisions)
}

/// Decides on one resource and, when everything allows it, fixes it.
async fn decide(deps: &Deps, s: &Subject<'_>, freeze: &Freeze) -> Decision {
    let mut d = Decision {
        action: s.kind.action().to_owned(),
        ..Decision::ignored(s.rule, s.resource_type, s.resource_id, String::new())
    };
    match attempt(deps, s, freeze, &mut d).await {
        Ok((outcome, reason)) => {
            d.outcome = outcome;
            d.reason = reason;
        }
        Err(e) => {
            d.outcome = Outcome::Failed;
            d.reason = migration_shared::error::chain(&e);
        }
    }
    d
}

async fn attempt(
    deps: &Deps,
    s: &Subject<'_>,
    freeze: &Freeze,
    d: &mut Decision,
) -> Result<(Outcome, String), Error> {
    let Some(Inspection {
        tags,
        names,
        state,
        finding,
    }) = remediation::inspect(deps, s.kind, s.resource_type, s.resource_id).await?
    else {
        return Ok((Outcome::Ignored, "the resource no longer exists".to_owned()));
    };
    d.before = state.clone();
    d.after = state;
    let exempt_key = &deps.config.exempt_tag_key;
    if tags.contains_key(exempt_key) {
        return Ok((Outcome::Exempt, format!("tagged {exempt_key}")));
    }
    let fix = match finding {
        Finding::Compliant => {
            return Ok((
                Outcome::AlreadyCompliant,
                s.kind.compliant_reason().to_owned(),
            ));
        }
        Finding::NeedsPerson(reason) => {
            send_alert(deps, s, "needs_person", &reason).await?;
            return Ok((Outcome::NeedsPerson, reason));
        }
        Finding::Fix(fix) => fix,
    };
    let now = Utc::now();
    if deps.config.dry_run {
        d.dry_run = true;
        return Ok((Outcome::WouldRemediate, "dry run".to_owned()));
    }
    let known_as = std::iter::once(s.resource_id).chain(names.iter().map(String::as_str));
    if freeze.covers(known_as, now) {
        d.dry_run = true;
        return Ok((Outcome::WouldRemediate, "freeze window".to_owned()));
    }
    let guard_name =
        loop_guard_parameter(&deps.config.migration_id, s.resource_type, s.resource_id);
    let mut guard = LoopGuard::read(&deps.ssm, &guard_name, now).await?;
    let max = usize::try_from(deps.config.loop_guard_max).unwrap_or(usize::MAX);
    if guard.count() >= max {
        let reason = format!(
            "remediated {} times within the hour (LOOP_GUARD_MAX {max}); something keeps \
             undoing the fix",
            guard.count()
        );
        send_alert(deps, s, "loop_guard", &reason).await?;
        return Ok((Outcome::LoopGuard, reason));
    }
    // Counted before the change, so a fix that fails halfway still counts against a loop.
    guard.add(&deps.ssm, now).await?;
    remediation::apply(deps, &fix).await?;
    let after = remediation::inspect(deps, s.kind, s.resource_type, s.resource_id).await?;
    let Some(after) = after else {
        return Err(Error::NotEffective {
            action: s.kind.action(),
            resource: s.resource_id.to_owned(),
            state: "the resource vanished".to_owned(),
        });
    };
    d.after = after.state;
    if after.finding != Finding::Compliant {
        return Err(Error::NotEffective {
            action: s.kind.action(),
            resource: s.resource_id.to_owned(),
            state: d.after.to_string(),
        });
    }
    d.reevaluation = if s.config_rule {
        reevaluate(deps, s.rule).await
    } else {
        "not_applicable".to_owned()
    };
    Ok((
        Outcome::Remediated,
        "fixed and read back compliant".to_owned(),
    ))
}

async fn send_alert(deps: &Deps, s: &Subject<'_>, kind: &str, reason: &str) -> Result<(), Error> {
    let alert = Alert::new(
        FUNCTION_NAME,
        &deps.config.migration_id,
        kind,
        s.resource_id,
        reason,
    )
    .detail("rule", Some(s.rule))
    .detail("resource_type", Some(s.resource_type));
    alert::send(&deps.sqs, &deps.config.alert_queue_url, &alert).await
}

/// Asks Config to evaluate `rule` again; the outcome, for the audit record.
async fn reevaluate(deps: &Deps, rule: &str) -> String {
    match deps
        .config_service
        .start_config_rules_evaluation()
        .config_rule_names(rule)
        .send()
        .await
    {
        Ok(_) => "requested".to_owned(),
        Err(e) => format!("failed: {}", migration_shared::error::sdk_message(&e)),
    }
}
