//! The backup verifier: proves that AWS Backup's recovery points are usable before a
//! cutover relies on them.
//!
//! Invoked by EventBridge with AWS Backup's job state changes and by a daily schedule:
//! - a backup job that completed must have made a completed recovery point, encrypted
//!   with the expected KMS key, in the expected vault, kept at least the policy's days,
//!   in a vault that is locked when the policy asks for it; a failed, aborted, expired or
//!   partial job is an alert carrying its status message;
//! - a copy job must have reached the disaster-recovery vault and be encrypted there;
//! - a restore job must complete within the time allowed; a restore test's result is
//!   reported back to AWS Backup restore testing, and a restored resource AWS Backup
//!   failed to delete is a failure;
//! - the schedule proves every protected resource has a completed recovery point newer
//!   than the RPO.
//!
//! Each check logs one record, feeds the metrics in [`report`] and, when it fails, sends
//! an alert. When an AWS call fails, the checks that needed it fail as unverified and the
//! invocation returns an error after reporting them: nothing passes by default.

pub mod checks;
pub mod config;
pub mod event;
pub mod report;
pub mod verify;

use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use lambda_runtime::Diagnostic;
use migration_shared::config::ConfigError;
use migration_shared::metrics::Metrics;
use serde::Serialize;
use serde_json::Value;

use crate::checks::{Check, CheckResult, Outcome};
use crate::config::Config;
use crate::event::{Origin, Trigger};

/// The errors an invocation can end with. Failed checks are not errors: they are reported
/// in the result, the metrics and the alerts; these are what stopped the verifier proving
/// anything, and Lambda retries the event for them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The event is not one the verifier can read.
    #[error("failed to read the event: {0}")]
    MalformedEvent(String),
    /// AWS calls failed, so some checks could not be verified.
    #[error("{count} backup check(s) could not be verified: {first}")]
    Unverified {
        /// How many checks were left unverified.
        count: usize,
        /// The first one's reason.
        first: String,
    },
    /// An alert could not be sent.
    #[error("{0}")]
    Alert(String),
}

impl Error {
    /// The stable `errorType` Lambda reports.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Config(_) => "Config",
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::Unverified { .. } => "Unverified",
            Self::Alert(_) => "AlertNotSent",
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        migration_shared::error::diagnostic(err.error_type(), &err)
    }
}

/// What the function holds across invocations: its configuration and clients.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The configuration.
    pub config: Config,
    /// AWS Backup in the function's own region.
    pub backup: aws_sdk_backup::Client,
    /// AWS Backup in the disaster-recovery vault's region.
    pub dr_backup: aws_sdk_backup::Client,
    /// KMS, to resolve and inspect the expected key.
    pub kms: aws_sdk_kms::Client,
    /// SQS, for alerts.
    pub sqs: aws_sdk_sqs::Client,
    /// The metric writer.
    pub metrics: Metrics,
}

impl Deps {
    /// Clients built from one SDK configuration, which honours `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_<SERVICE>`.
    #[must_use]
    pub fn new(config: Config, sdk: &SdkConfig) -> Self {
        let backup = aws_sdk_backup::Config::from(sdk);
        Self::with_backup_config(config, sdk, backup)
    }

    /// As [`Deps::new`], with AWS Backup's client configuration given: the disaster-recovery
    /// client is the same configuration in the DR vault's region.
    #[must_use]
    pub fn with_backup_config(
        config: Config,
        sdk: &SdkConfig,
        backup: aws_sdk_backup::Config,
    ) -> Self {
        let dr = backup
            .to_builder()
            .region(Region::new(config.dr_vault.region.clone()))
            .build();
        let metrics = Metrics::new(
            &config.metrics_namespace,
            report::FUNCTION,
            &config.migration_id,
        );
        Self {
            backup: aws_sdk_backup::Client::from_conf(backup),
            dr_backup: aws_sdk_backup::Client::from_conf(dr),
            kms: aws_sdk_kms::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            metrics,
            config,
        }
    }
}

/// What an invocation proved, returned to the caller.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The detail-type of the event.
    pub detail_type: String,
    /// Every check's result.
    pub checks: Vec<CheckResult>,
    /// How many checks failed (unverified included).
    pub failed: usize,
    /// How many alerts were sent.
    pub alerts_sent: usize,
}

/// Handles one invocation: reads the event, runs its checks, reports them.
#[tracing::instrument(skip_all, fields(detail_type))]
pub async fn handle(event: Value, deps: &Deps) -> Result<Report, Error> {
    let (origin, results, malformed) = match event::parse(&event) {
        Ok(event) => {
            tracing::Span::current().record("detail_type", event.origin.detail_type.as_str());
            let results = match &event.trigger {
                // Boxed: the SDK's futures nest deeply, and one level of indirection per
                // trigger keeps the handler's future small.
                Trigger::BackupJob(job) => Box::pin(verify::backup_job(deps, job)).await,
                Trigger::CopyJob(job) => Box::pin(verify::copy_job(deps, job)).await,
                Trigger::RestoreJob(job) => Box::pin(verify::restore_job(deps, job)).await,
                Trigger::Schedule => Box::pin(verify::schedule(deps, chrono::Utc::now())).await,
            };
            (event.origin, results, None)
        }
        Err(malformed) => {
            let origin = Origin {
                detail_type: "unreadable event".into(),
                ..Origin::default()
            };
            let result =
                CheckResult::new(Check::Event, "event", Outcome::Failed(malformed.0.clone()));
            (origin, vec![result], Some(malformed.0))
        }
    };

    report::log(&results, &origin);
    report::emit_metrics(deps, &results);
    let alerts = Box::pin(report::send_alerts(deps, &results, &origin)).await;

    if let (Err(reason), true) = (&alerts, malformed.is_some() || any_unverified(&results)) {
        // The invocation fails for its own reason below; the lost alert must still show.
        tracing::error!(reason = %reason, "alert not sent");
    }
    if let Some(reason) = malformed {
        return Err(Error::MalformedEvent(reason));
    }
    let mut unverified = results.iter().filter_map(|r| match &r.outcome {
        Outcome::Unverified(reason) => Some(reason.clone()),
        _ => None,
    });
    if let Some(first) = unverified.next() {
        return Err(Error::Unverified {
            count: 1 + unverified.count(),
            first,
        });
    }
    let alerts_sent = alerts.map_err(Error::Alert)?;
    let failed = results.iter().filter(|r| !r.outcome.passed()).count();
    tracing::info!(
        checks = results.len(),
        failed,
        alerts_sent,
        "backup checks done"
    );
    Ok(Report {
        detail_type: origin.detail_type,
        checks: results,
        failed,
        alerts_sent,
    })
}

fn any_unverified(results: &[CheckResult]) -> bool {
    results
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Unverified(_)))
}

/// Builds the dependencies and serves invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let config = migration_shared::startup::configuration(Config::from_env(
        &migration_shared::config::Env::process(),
    ))?;
    let sdk = migration_shared::startup::load_sdk_config().await;
    let migration_id = config.migration_id.clone();
    let deps = Arc::new(Deps::new(config, &sdk));
    migration_shared::startup::serve(
        migration_id,
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let deps = Arc::clone(&deps);
            async move { handle(event.payload, &deps).await }
        },
    )
    .await
}
