//! The weight shifter's step: a short plan (10, 50, 100 percent, two-second holds) and a
//! one-second TTL on the on-premises record so the shift runs in seconds on the function's
//! own clock. moto's CloudFormation stores the records' names without the final dot, which
//! its own `ListResourceRecordSets` start-name filter then misses, so both records are
//! written again, unchanged otherwise, through the Route 53 API. The gate alarms the
//! template names are created through the CloudWatch adapter (moto's CloudFormation lacks
//! alarms). Then ticks and commands go through `cargo lambda invoke`, each followed by
//! reading the Route 53 records and the listener back.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, RrType};
use serde_json::{Value, json};

use crate::watch::Watch;
use crate::{Error, call, expect_eq, note, rewrite, sample};

const FUNCTION: &str = "weight-shifter";
/// The plan the rehearsal runs: three steps, each held two seconds.
const PLAN: &str = r#"[{"aws_percent":10,"hold_seconds":2},{"aws_percent":50,"hold_seconds":2},
{"aws_percent":100,"hold_seconds":2}]"#;
/// The on-premises record's TTL during the rehearsal, the least time between two moves.
const TTL: i64 = 1;
/// How long the rehearsal waits for a hold of two seconds to pass.
const HOLD: Duration = Duration::from_millis(2_200);

struct Shift<'a> {
    watch: &'a Watch,
    env: &'a BTreeMap<String, String>,
    route53: aws_sdk_route53::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

fn var<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Error> {
    env.get(name)
        .map(String::as_str)
        .ok_or_else(|| Error::Check(format!("the function environment has no {name}")))
}

impl Shift<'_> {
    /// The AWS share of the Route 53 pair and of the listener, `(onprem, aws)` each.
    async fn shares(&self) -> Result<((i64, i64), (i32, i32)), Error> {
        let zone = var(self.env, "HOSTED_ZONE_ID")?;
        let records = self
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .map_err(call(format!("list the records of zone {zone}")))?;
        let weight = |set: &str| {
            records
                .resource_record_sets()
                .iter()
                .find(|r| r.set_identifier() == Some(set) && *r.r#type() == RrType::A)
                .and_then(aws_sdk_route53::types::ResourceRecordSet::weight)
                .unwrap_or(-1)
        };
        let dns = (
            weight(var(self.env, "ONPREM_SET_ID")?),
            weight(var(self.env, "AWS_SET_ID")?),
        );
        let listener = var(self.env, "LISTENER_ARN")?;
        let described = self
            .elb
            .describe_listeners()
            .listener_arns(listener)
            .send()
            .await
            .map_err(call(format!("describe listener {listener}")))?;
        let groups: Vec<(String, i32)> = described
            .listeners()
            .first()
            .and_then(|l| l.default_actions().first())
            .and_then(|a| a.forward_config())
            .map(|f| {
                f.target_groups()
                    .iter()
                    .map(|g| {
                        let arn = g.target_group_arn().unwrap_or_default().to_owned();
                        (arn, g.weight().unwrap_or(-1))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let group = |arn: &str| groups.iter().find(|g| g.0 == arn).map_or(-1, |g| g.1);
        let alb = (
            group(var(self.env, "ONPREM_TARGET_GROUP_ARN")?),
            group(var(self.env, "AWS_TARGET_GROUP_ARN")?),
        );
        Ok((dns, alb))
    }

    async fn expect_share(&self, aws: u8) -> Result<(), Error> {
        let (dns, alb) = self.shares().await?;
        let want = 100 - i64::from(aws);
        expect_eq(
            "Route 53 weights (on premises, AWS)",
            &dns,
            &(want, i64::from(aws)),
        )?;
        let want = 100 - i32::from(aws);
        expect_eq(
            "listener weights (on premises, AWS)",
            &alb,
            &(want, i32::from(aws)),
        )?;
        note(&format!(
            "read back: Route 53 {}/{} and listener {}/{} (on premises/AWS)",
            dns.0, dns.1, alb.0, alb.1
        ));
        Ok(())
    }

    fn tick(&self, label: &str) -> Result<Value, Error> {
        let answer = self
            .watch
            .invoke(FUNCTION, label, &sample(FUNCTION, "tick")?)?;
        note(&format!(
            "tick ({label}): {} to {} percent, {} ({})",
            answer["outcome"].as_str().unwrap_or("?"),
            answer["aws_percent"],
            answer["phase"].as_str().unwrap_or("?"),
            answer["reason"].as_str().unwrap_or("")
        ));
        Ok(answer)
    }

    fn expect_tick(&self, label: &str, outcome: &str, aws: u8, phase: &str) -> Result<(), Error> {
        let answer = self.tick(label)?;
        let got = (
            answer["outcome"].as_str().unwrap_or_default(),
            answer["aws_percent"].as_u64().unwrap_or(999),
            answer["phase"].as_str().unwrap_or_default(),
        );
        expect_eq(
            &format!("tick {label}"),
            &got,
            &(outcome, u64::from(aws), phase),
        )
    }

    fn command(&self, label: &str, event: &Value) -> Result<(), Error> {
        let answer = self.watch.invoke(FUNCTION, label, event)?;
        let failures = answer["batchItemFailures"].as_array().map_or(0, Vec::len);
        note(&format!("command {label}: {failures} failed messages"));
        expect_eq(&format!("failed messages of {label}"), &failures, &0)
    }

    async fn set_alarm(&self, name: &str, state: StateValue) -> Result<(), Error> {
        self.cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state.clone())
            .state_reason("set by the local rehearsal")
            .send()
            .await
            .map_err(call(format!("set alarm {name} to {state}")))?;
        Ok(())
    }
}

/// Sets the plan, the TTL and the gate alarms up, then runs the shift as the module says.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    watch: &Watch,
    env: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let shift = Shift {
        watch,
        env,
        route53: aws_sdk_route53::Client::new(sdk),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
        cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
    };
    shift.expect_share(0).await?;
    prepare(sdk, &shift).await?;
    shift.expect_share(0).await?;
    let alarms: Vec<&str> = var(env, "GATE_ALARMS")?.split(',').collect();
    let gate = alarms.first().copied().unwrap_or_default();

    shift.expect_tick("before-start", "unchanged", 0, "not-started")?;
    shift.command("resume", &sample(FUNCTION, "resume")?)?;
    shift.expect_tick("step-1", "advance", 10, "running")?;
    shift.expect_share(10).await?;
    tokio::time::sleep(HOLD).await;
    shift.expect_tick("step-2", "advance", 50, "running")?;
    shift.expect_share(50).await?;

    shift.set_alarm(gate, StateValue::Alarm).await?;
    note(&format!(
        "gate alarm {gate} set to ALARM through the CloudWatch adapter"
    ));
    shift.expect_tick("gate-alarm", "rollback", 10, "paused")?;
    shift.expect_share(10).await?;
    shift.set_alarm(gate, StateValue::Ok).await?;
    note(&format!("gate alarm {gate} back to OK"));

    // The sample command was applied once already; a second resume carries its own id.
    let mut resume = sample(FUNCTION, "resume")?;
    rewrite(&mut resume, "op-resume-1", "op-resume-2");
    rewrite(&mut resume, "000000000000", "000000000010");
    if let Some(record) = resume["Records"].get_mut(0) {
        record["attributes"]["MessageDeduplicationId"] = json!("rehearsal-resume-2");
    }
    note("resume again: a copy of resume.json with the command id op-resume-2");
    shift.command("resume-again", &resume)?;
    tokio::time::sleep(HOLD).await;
    shift.expect_tick("step-2-again", "advance", 50, "running")?;
    tokio::time::sleep(HOLD).await;
    shift.expect_tick("step-3", "advance", 100, "running")?;
    shift.expect_share(100).await?;
    tokio::time::sleep(HOLD).await;
    shift.expect_tick("complete", "complete", 100, "complete")?;
    Ok("0 -> 10 -> 50, rollback to 10 on a gate alarm, resume -> 50 -> 100, complete".into())
}

/// Writes the short plan, writes the weighted records again (see [`run`]) with the
/// on-premises record's TTL lowered, and creates the gate alarms
/// (state OK).
async fn prepare(sdk: &aws_config::SdkConfig, shift: &Shift<'_>) -> Result<(), Error> {
    let env = shift.env;
    let plan = var(env, "PLAN_PARAMETER")?;
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(plan)
        .value(PLAN.replace('\n', ""))
        .overwrite(true)
        .send()
        .await
        .map_err(call(format!("write the plan parameter {plan}")))?;
    note(&format!("plan {plan}: 10, 50, 100 percent, each held 2 s"));

    let zone = var(env, "HOSTED_ZONE_ID")?;
    let onprem_set = var(env, "ONPREM_SET_ID")?;
    let records = shift
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .map_err(call(format!("list the records of zone {zone}")))?;
    let mut pair = Vec::new();
    for set in [onprem_set, var(env, "AWS_SET_ID")?] {
        let mut record = records
            .resource_record_sets()
            .iter()
            .find(|r| r.set_identifier() == Some(set))
            .cloned()
            .ok_or_else(|| Error::Check(format!("zone {zone} has no record {set}")))?;
        if set == onprem_set {
            record.ttl = Some(TTL);
        }
        pair.push(record);
    }
    // moto deletes a record only after a change of its own wrote it, and by set identifier:
    // written (a second, dotted copy), deleted (both copies), and created once more.
    for action in [
        ChangeAction::Upsert,
        ChangeAction::Delete,
        ChangeAction::Create,
    ] {
        let mut batch = ChangeBatch::builder();
        for record in &pair {
            let change = Change::builder()
                .action(action.clone())
                .resource_record_set(record.clone())
                .build()
                .map_err(call("build a record change"))?;
            batch = batch.changes(change);
        }
        shift
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch.build().map_err(call("build a record change"))?)
            .send()
            .await
            .map_err(call(format!(
                "{action} the weighted records in zone {zone}"
            )))?;
    }
    note(&format!(
        "weighted records written again through Route 53 (names with the final dot, which \
         moto's CloudFormation leaves off); {onprem_set} TTL {TTL} s"
    ));

    let alarms = var(env, "GATE_ALARMS")?;
    for name in alarms.split(',') {
        shift
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("PaymentMigration")
            .metric_name("RehearsalGate")
            .statistic(Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .map_err(call(format!("create gate alarm {name}")))?;
        shift.set_alarm(name, StateValue::Ok).await?;
    }
    note(&format!(
        "{} gate alarms created, state OK (moto's CloudFormation lacks alarms)",
        alarms.split(',').count()
    ));
    Ok(())
}
