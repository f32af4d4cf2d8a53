//! The weight shifter against moto: a hosted zone with the two weighted records, an ALB
//! listener forwarding to an on-premises and an AWS target group, gate alarms driven with
//! `SetAlarmState` through the CloudWatch adapter, and the plan and state in SSM. Time is a
//! [`ManualClock`] the tests move on, so holds pass without sleeping. Events come from
//! `events/weight-shifter/`.
//!
//! moto's ELB accepts every listener change, so the test of a listener move that fails
//! after Route 53 moved wraps the real listener client in `BrokenListener`, whose writes
//! fail; its reads, and everything else, still go to moto.

use std::sync::Arc;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum, TargetTypeEnum};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use migration_shared::Transience;
use migration_shared::config::Env;
use migration_shared::error::Classify;
use migration_tests::{event, sdk_config, sqs_event, unique};
use serde_json::{Value, json};
use weight_shifter::balancer::{AlbListener, Balancer, ListenerReading};
use weight_shifter::clock::ManualClock;
use weight_shifter::config::{self, Config, ListenerTarget};
use weight_shifter::route53::RecordSets;
use weight_shifter::state::{PauseKind, Phase, State};
use weight_shifter::store::Store;
use weight_shifter::weights::Weights;
use weight_shifter::{Deps, Error, handle};

const T0: u64 = 1_800_000_000;
const TTL: i64 = 60;
const PLAN: &str = r#"[{"aws_percent":10,"hold_seconds":300},{"aws_percent":25,"hold_seconds":300},
{"aws_percent":50,"hold_seconds":300},{"aws_percent":100,"hold_seconds":600}]"#;

/// Everything one test shifts, created on moto with unique names.
struct Rehearsal {
    sdk: aws_config::SdkConfig,
    env: Vec<(String, String)>,
    clock: Arc<ManualClock>,
    zone_id: String,
    record_name: String,
    vpc_id: String,
    subnets: Vec<String>,
    load_balancer: String,
    listener: ListenerTarget,
    alarms: Vec<String>,
    plan_parameter: String,
    state_parameter: String,
}

/// A weighted record of the pair: on premises an address with the TTL, AWS an alias to the
/// load balancer, as the template creates them.
fn weighted(name: &str, set_id: &str, weight: i64, target: &Target) -> Change {
    let record = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .set_identifier(set_id)
        .weight(weight);
    let record = match target {
        Target::Address(address) => record
            .ttl(TTL)
            .resource_records(ResourceRecord::builder().value(*address).build().unwrap()),
        Target::Alias { dns_name, zone_id } => record.alias_target(
            AliasTarget::builder()
                .dns_name(dns_name)
                .hosted_zone_id(zone_id)
                .evaluate_target_health(true)
                .build()
                .unwrap(),
        ),
    };
    Change::builder()
        .action(ChangeAction::Create)
        .resource_record_set(record.build().unwrap())
        .build()
        .unwrap()
}

enum Target {
    Address(&'static str),
    Alias { dns_name: String, zone_id: String },
}

impl Rehearsal {
    async fn new() -> Self {
        let sdk = sdk_config().await;
        let (vpc_id, subnets, load_balancer, listener) = listener(&sdk).await;
        let (zone_id, record_name) = weighted_records(&sdk, &load_balancer).await;
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
        let alarms = vec![unique("alb-5xx"), unique("dms-cdc-latency")];
        for name in &alarms {
            cloudwatch
                .put_metric_alarm()
                .alarm_name(name)
                .namespace("AWS/ApplicationELB")
                .metric_name("HTTPCode_Target_5XX_Count")
                .statistic(Statistic::Sum)
                .period(60)
                .evaluation_periods(1)
                .threshold(5.0)
                .comparison_operator(ComparisonOperator::GreaterThanThreshold)
                .send()
                .await
                .unwrap();
        }

        let prefix = format!("/{}", unique("shift"));
        let plan_parameter = format!("{prefix}/plan");
        let state_parameter = format!("{prefix}/state");
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        for (name, value) in [(&plan_parameter, PLAN), (&state_parameter, "{}")] {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await
                .unwrap();
        }

        let env = [
            (config::MIGRATION_ID, "rehearsal-1"),
            (config::PLAN_PARAMETER, plan_parameter.as_str()),
            (config::STATE_PARAMETER, state_parameter.as_str()),
            (config::HOSTED_ZONE_ID, zone_id.as_str()),
            (config::RECORD_NAME, record_name.as_str()),
            (config::ONPREM_SET_ID, "onprem"),
            (config::AWS_SET_ID, "aws"),
            (config::LISTENER_ARN, listener.listener_arn.as_str()),
            (
                config::ONPREM_TARGET_GROUP_ARN,
                listener.onprem_group.as_str(),
            ),
            (config::AWS_TARGET_GROUP_ARN, listener.aws_group.as_str()),
            (config::GATE_ALARMS, &alarms.join(",")),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let rehearsal = Self {
            sdk,
            env,
            clock: Arc::new(ManualClock::new(T0)),
            zone_id,
            record_name,
            vpc_id,
            subnets,
            load_balancer,
            listener,
            alarms,
            plan_parameter,
            state_parameter,
        };
        rehearsal.set_alarm(0, StateValue::Ok).await;
        rehearsal.set_alarm(1, StateValue::Ok).await;
        rehearsal
    }

    fn config_with(&self, changes: &[(&str, &str)]) -> Config {
        let mut pairs = self.env.clone();
        for (k, v) in changes {
            pairs.retain(|(name, _)| name != k);
            pairs.push(((*k).to_owned(), (*v).to_owned()));
        }
        Config::from_env(&Env::from_pairs(pairs)).unwrap()
    }

    fn deps(&self) -> Deps {
        self.deps_with(&[])
    }

    fn deps_with(&self, changes: &[(&str, &str)]) -> Deps {
        Deps::new(self.config_with(changes), &self.sdk).with_clock(self.clock.clone())
    }

    async fn set_alarm(&self, index: usize, state: StateValue) {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
            .set_alarm_state()
            .alarm_name(&self.alarms[index])
            .state_value(state)
            .state_reason("driven by the rehearsal")
            .send()
            .await
            .unwrap();
    }

    async fn route53(&self) -> Weights {
        let config = self.config_with(&[]);
        RecordSets::new(aws_sdk_route53::Client::new(&self.sdk))
            .read(&config.records)
            .await
            .unwrap()
            .weights
    }

    async fn alb(&self) -> Weights {
        AlbListener::new(aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk))
            .read(&self.listener)
            .await
            .unwrap()
            .weights
    }

    /// Route 53 and the listener both send `aws_percent` to AWS. The listener's share is
    /// compared, since before the first move it forwards to the on-premises group alone.
    async fn assert_share(&self, aws_percent: u8) {
        assert_eq!(
            self.route53().await,
            Weights::for_share(aws_percent),
            "route 53"
        );
        assert_eq!(self.alb().await.aws_share(), Some(aws_percent), "listener");
    }

    fn store(&self) -> Store {
        Store::new(
            aws_sdk_ssm::Client::new(&self.sdk),
            &self.plan_parameter,
            &self.state_parameter,
        )
    }

    async fn state(&self) -> (State, i64) {
        self.store().state().await.unwrap()
    }

    async fn put_parameter(&self, name: &str, value: &str) {
        aws_sdk_ssm::Client::new(&self.sdk)
            .put_parameter()
            .name(name)
            .value(value)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }

    async fn tick(&self) -> Value {
        handle(event("weight-shifter", "tick"), &self.deps())
            .await
            .unwrap()
    }

    /// Sends the sample command `case` and returns the ids of the failed messages.
    async fn send(&self, case: &str) -> Vec<String> {
        self.send_event(event("weight-shifter", case)).await
    }

    async fn send_event(&self, batch: Value) -> Vec<String> {
        let response = handle(batch, &self.deps()).await.unwrap();
        response["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn cleanup(self) {
        let route53 = aws_sdk_route53::Client::new(&self.sdk);
        let records = route53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        let ours: Vec<Change> = records
            .resource_record_sets()
            .iter()
            .filter(|r| r.set_identifier().is_some())
            .map(|r| {
                Change::builder()
                    .action(ChangeAction::Delete)
                    .resource_record_set(r.clone())
                    .build()
                    .unwrap()
            })
            .collect();
        if !ours.is_empty() {
            route53
                .change_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .change_batch(
                    ChangeBatch::builder()
                        .set_changes(Some(ours))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        route53
            .delete_hosted_zone()
            .id(&self.zone_id)
            .send()
            .await
            .unwrap();
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        elb.delete_listener()
            .listener_arn(&self.listener.listener_arn)
            .send()
            .await
            .unwrap();
        elb.delete_load_balancer()
            .load_balancer_arn(&self.load_balancer)
            .send()
            .await
            .unwrap();
        for group in [&self.listener.onprem_group, &self.listener.aws_group] {
            elb.delete_target_group()
                .target_group_arn(group)
                .send()
                .await
                .unwrap();
        }
        let ec2 = aws_sdk_ec2::Client::new(&self.sdk);
        for subnet in &self.subnets {
            ec2.delete_subnet().subnet_id(subnet).send().await.unwrap();
        }
        ec2.delete_vpc().vpc_id(&self.vpc_id).send().await.unwrap();
        aws_sdk_cloudwatch::Client::new(&self.sdk)
            .delete_alarms()
            .set_alarm_names(Some(self.alarms.clone()))
            .send()
            .await
            .unwrap();
        let ssm = aws_sdk_ssm::Client::new(&self.sdk);
        for name in [&self.plan_parameter, &self.state_parameter] {
            ssm.delete_parameter().name(name).send().await.unwrap();
        }
    }
}

/// A hosted zone with the on-premises (weight 100) and AWS (weight 0, an alias to the load
/// balancer) records.
async fn weighted_records(sdk: &aws_config::SdkConfig, load_balancer: &str) -> (String, String) {
    let described = aws_sdk_elasticloadbalancingv2::Client::new(sdk)
        .describe_load_balancers()
        .load_balancer_arns(load_balancer)
        .send()
        .await
        .unwrap();
    let balancer = &described.load_balancers()[0];
    let alias = Target::Alias {
        dns_name: balancer.dns_name().unwrap().to_owned(),
        zone_id: balancer.canonical_hosted_zone_id().unwrap().to_owned(),
    };
    let route53 = aws_sdk_route53::Client::new(sdk);
    let zone_name = format!("{}.example.", unique("ws"));
    let zone = route53
        .create_hosted_zone()
        .name(&zone_name)
        .caller_reference(unique("ref"))
        .send()
        .await
        .unwrap();
    let zone_id = zone.hosted_zone().unwrap().id().to_owned();
    let record_name = format!("pay.{zone_name}");
    route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(weighted(
                    &record_name,
                    "onprem",
                    100,
                    &Target::Address("198.51.100.10"),
                ))
                .changes(weighted(&record_name, "aws", 0, &alias))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    (zone_id, record_name)
}

/// A VPC, an ALB, the two target groups and a listener forwarding on premises only.
async fn listener(sdk: &aws_config::SdkConfig) -> (String, Vec<String>, String, ListenerTarget) {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let vpc_id = ec2
        .create_vpc()
        .cidr_block("10.40.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_owned();
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.40.1.0/24", "us-east-1a"),
        ("10.40.2.0/24", "us-east-1b"),
    ] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let load_balancer = elb
        .create_load_balancer()
        .name(unique("ws"))
        .set_subnets(Some(subnets.clone()))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    let mut groups = Vec::new();
    for (prefix, kind) in [
        ("wso", TargetTypeEnum::Ip),
        ("wsa", TargetTypeEnum::Instance),
    ] {
        let group = elb
            .create_target_group()
            .name(unique(prefix))
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .vpc_id(&vpc_id)
            .target_type(kind)
            .send()
            .await
            .unwrap();
        groups.push(
            group.target_groups()[0]
                .target_group_arn()
                .unwrap()
                .to_owned(),
        );
    }
    let listener_arn = elb
        .create_listener()
        .load_balancer_arn(&load_balancer)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&groups[0])
                .build(),
        )
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_owned();

    let listener = ListenerTarget {
        listener_arn,
        onprem_group: groups[0].clone(),
        aws_group: groups[1].clone(),
    };
    (vpc_id, subnets, load_balancer, listener)
}

/// The sample command `case` with another body and deduplication id, as a later message.
fn command_event(case: &str, body: &Value, deduplication_id: &str) -> Value {
    let mut batch = event("weight-shifter", case);
    let record = &mut batch["Records"][0];
    record["body"] = Value::from(body.to_string());
    record["attributes"]["MessageDeduplicationId"] = Value::from(deduplication_id);
    record["messageId"] = Value::from(unique("msg"));
    batch
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one rehearsal, read top to bottom")]
async fn a_whole_rehearsal_steps_up_rolls_back_on_an_alarm_resumes_and_completes() {
    let r = Rehearsal::new().await;

    // Not started: a tick changes nothing.
    let first = r.tick().await;
    assert_eq!(first["outcome"], "unchanged");
    assert_eq!(first["phase"], "not-started");
    r.assert_share(0).await;

    assert!(r.send("resume").await.is_empty());
    let (state, _) = r.state().await;
    assert_eq!(state.phase, Phase::Running);

    let ten = r.tick().await;
    assert_eq!(ten["outcome"], "advance");
    assert_eq!(ten["aws_percent"], 10);
    r.assert_share(10).await;
    let (state, version) = r.state().await;
    assert_eq!(state.step, Some(1));
    assert_eq!(state.last_change_at, Some(T0));
    assert_eq!(
        state.applied.route53,
        Some(Weights {
            onprem: 90,
            aws: 10
        })
    );
    assert_eq!(
        state.applied.alb,
        Some(Weights {
            onprem: 90,
            aws: 10
        })
    );

    // An early tick changes nothing, not even the state's version.
    r.clock.advance(299);
    let early = r.tick().await;
    assert_eq!(early["outcome"], "unchanged");
    assert_eq!(early["reason"], "holding 10 percent: 299 of 300 seconds");
    assert_eq!(r.state().await.1, version);
    r.assert_share(10).await;

    r.clock.advance(1);
    assert_eq!(r.tick().await["aws_percent"], 25);
    r.assert_share(25).await;
    r.clock.advance(300);
    assert_eq!(r.tick().await["aws_percent"], 50);
    r.assert_share(50).await;

    // A gate alarm mid-shift rolls back to the last step that held cleanly, and pauses.
    r.clock.advance(30);
    r.set_alarm(1, StateValue::Alarm).await;
    let rollback = r.tick().await;
    assert_eq!(rollback["outcome"], "rollback");
    assert_eq!(rollback["aws_percent"], 25);
    r.assert_share(25).await;
    let (state, _) = r.state().await;
    assert_eq!(state.phase, Phase::Paused);
    let pause = state.pause.clone().unwrap();
    assert_eq!(pause.kind, PauseKind::Rollback);
    assert_eq!(
        pause.reason,
        format!("gate alarm {} in ALARM at 50 percent", r.alarms[1])
    );

    // Paused: neither time nor a cleared alarm moves it until an operator resumes.
    r.set_alarm(1, StateValue::Ok).await;
    r.clock.advance(3600);
    assert_eq!(r.tick().await["outcome"], "unchanged");
    r.assert_share(25).await;

    // INSUFFICIENT_DATA is not OK: resumed, the shift still holds.
    let resume_again = json!({"command": "resume", "id": "op-resume-2"});
    assert!(
        r.send_event(command_event("resume", &resume_again, "dedup-resume-2"))
            .await
            .is_empty()
    );
    r.set_alarm(0, StateValue::InsufficientData).await;
    let blocked = r.tick().await;
    assert_eq!(blocked["outcome"], "unchanged");
    assert_eq!(
        blocked["reason"],
        format!("holding: gate {} (INSUFFICIENT_DATA) not OK", r.alarms[0])
    );
    r.set_alarm(0, StateValue::Ok).await;

    assert_eq!(r.tick().await["aws_percent"], 50);
    r.clock.advance(300);
    assert_eq!(r.tick().await["aws_percent"], 100);
    r.assert_share(100).await;
    r.clock.advance(599);
    assert_eq!(r.tick().await["outcome"], "unchanged");
    r.clock.advance(1);
    let done = r.tick().await;
    assert_eq!(done["outcome"], "complete");
    assert_eq!(done["phase"], "complete");

    let (state, _) = r.state().await;
    let actions: Vec<(&str, u8, u8)> = state
        .history
        .iter()
        .map(|c| (c.action.as_str(), c.from, c.to))
        .collect();
    assert_eq!(
        actions,
        [
            ("resume", 0, 0),
            ("advance", 0, 10),
            ("advance", 10, 25),
            ("advance", 25, 50),
            ("rollback", 50, 25),
            ("resume", 25, 25),
            ("advance", 25, 50),
            ("advance", 50, 100),
            ("complete", 100, 100),
        ]
    );
    assert_eq!(state.history[0].by, "command:op-resume-1");

    // Only the weights changed: the address, the TTL and the alias are as created.
    let config = r.config_with(&[]);
    let pair = RecordSets::new(aws_sdk_route53::Client::new(&r.sdk))
        .read(&config.records)
        .await
        .unwrap();
    assert_eq!(pair.onprem.ttl(), Some(TTL));
    assert_eq!(pair.onprem.resource_records()[0].value(), "198.51.100.10");
    assert_eq!(pair.aws.ttl(), None);
    assert!(pair.aws.alias_target().unwrap().evaluate_target_health());
    assert_eq!(pair.ttl, 60);
    r.cleanup().await;
}

#[tokio::test]
async fn with_rollback_to_zero_an_alarm_returns_all_traffic_on_premises() {
    let r = Rehearsal::new().await;
    let deps = r.deps_with(&[(config::ROLLBACK_TO, "zero")]);
    assert!(r.send("resume").await.is_empty());
    for _ in 0..2 {
        weight_shifter::tick(&deps).await.unwrap();
        r.clock.advance(300);
    }
    r.assert_share(25).await;
    r.set_alarm(1, StateValue::Alarm).await;
    let rollback = weight_shifter::tick(&deps).await.unwrap();
    assert_eq!(rollback.outcome, "rollback");
    assert_eq!(rollback.aws_percent, 0);
    assert_eq!(rollback.last_good, 0);
    r.assert_share(0).await;
    r.cleanup().await;
}

#[tokio::test]
async fn an_alarm_rolls_back_even_when_the_plan_no_longer_reads() {
    let r = Rehearsal::new().await;
    assert!(r.send("resume").await.is_empty());
    r.tick().await;
    r.clock.advance(300);
    r.tick().await;
    r.assert_share(25).await;

    r.put_parameter(&r.plan_parameter, "[]").await;
    r.clock.advance(300);
    let err = handle(event("weight-shifter", "tick"), &r.deps())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to read the plan in parameter {}: the plan has no steps",
            r.plan_parameter
        )
    );
    r.assert_share(25).await;

    r.set_alarm(0, StateValue::Alarm).await;
    let rollback = r.tick().await;
    assert_eq!(rollback["outcome"], "rollback");
    assert_eq!(rollback["aws_percent"], 10);
    r.assert_share(10).await;
    r.cleanup().await;
}

#[tokio::test]
async fn a_redelivered_or_resent_command_is_applied_once() {
    let r = Rehearsal::new().await;
    assert!(r.send("advance").await.is_empty());
    r.assert_share(10).await;
    let (_, version) = r.state().await;

    // The same message again (a redelivery), a minute later so the TTL is no obstacle.
    r.clock.advance(120);
    assert!(r.send("advance").await.is_empty());
    r.assert_share(10).await;
    assert_eq!(r.state().await.1, version, "a duplicate writes nothing");

    // The operator's id again under another deduplication id: still a duplicate.
    let resent = json!({"command": "advance", "id": "op-advance-1"});
    assert!(
        r.send_event(command_event("advance", &resent, "another-dedup-id"))
            .await
            .is_empty()
    );
    // No id in the body, but the deduplication id of the first message.
    let first = event("weight-shifter", "advance");
    let dedup = first["Records"][0]["attributes"]["MessageDeduplicationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let anonymous = json!({"command": "advance"});
    assert!(
        r.send_event(command_event("advance", &anonymous, &dedup))
            .await
            .is_empty()
    );
    r.assert_share(10).await;

    // A new command is applied.
    let next = json!({"command": "advance", "id": "op-advance-2"});
    assert!(
        r.send_event(command_event("advance", &next, "dedup-advance-2"))
            .await
            .is_empty()
    );
    r.assert_share(25).await;
    r.cleanup().await;
}

#[tokio::test]
async fn commands_from_a_real_fifo_queue_keep_their_order_and_ids() {
    let r = Rehearsal::new().await;
    let sqs = aws_sdk_sqs::Client::new(&r.sdk);
    let url = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("shift-commands")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for (body, dedup) in [
        (r#"{"command":"resume","id":"q-1"}"#, "d-1"),
        (
            r#"{"command":"pause","id":"q-2","reason":"dba check"}"#,
            "d-2",
        ),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_group_id("weight-shifter")
            .message_deduplication_id(dedup)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages()
        .to_vec();
    assert_eq!(received.len(), 2);
    let batch = serde_json::to_value(sqs_event(
        "arn:aws:sqs:us-east-1:123456789012:shift.fifo",
        &received,
    ))
    .unwrap();
    assert!(r.send_event(batch.clone()).await.is_empty());
    let (state, version) = r.state().await;
    assert_eq!(state.phase, Phase::Paused);
    assert_eq!(
        state.pause.unwrap().reason,
        "paused by an operator: dba check"
    );
    assert_eq!(state.recent_commands, ["q-1", "d-1", "q-2", "d-2"]);
    // The whole batch delivered again changes nothing.
    assert!(r.send_event(batch).await.is_empty());
    assert_eq!(r.state().await.1, version);
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    r.cleanup().await;
}

#[tokio::test]
async fn abort_returns_all_traffic_on_premises_and_holds_it_there() {
    let r = Rehearsal::new().await;
    assert!(r.send("resume").await.is_empty());
    r.tick().await;
    r.clock.advance(300);
    r.tick().await;
    r.assert_share(25).await;

    // Paused by an operator, the shift holds however long it waits.
    assert!(r.send("pause").await.is_empty());
    r.clock.advance(3600);
    let held = r.tick().await;
    assert_eq!(held["outcome"], "unchanged");
    assert_eq!(
        held["reason"],
        "paused by an operator: DBA investigating CDC latency"
    );
    r.assert_share(25).await;

    // Abort is never gated: an alarm in ALARM does not stop it.
    r.set_alarm(0, StateValue::Alarm).await;
    r.clock.advance(5);
    assert!(r.send("abort").await.is_empty());
    r.assert_share(0).await;
    let (state, _) = r.state().await;
    assert_eq!(state.aws_percent, 0);
    assert_eq!(state.last_good, 0);
    assert_eq!(state.pause.as_ref().unwrap().kind, PauseKind::Abort);
    assert_eq!(
        state.history.last().unwrap().reason,
        "aborted by an operator: settlement errors reported by the bank"
    );

    r.set_alarm(0, StateValue::Ok).await;
    r.clock.advance(3600);
    assert_eq!(r.tick().await["outcome"], "unchanged");
    r.assert_share(0).await;
    r.cleanup().await;
}

#[tokio::test]
async fn set_is_gated_unless_forced_and_status_changes_nothing() {
    let r = Rehearsal::new().await;
    r.set_alarm(1, StateValue::InsufficientData).await;
    assert!(
        r.send("set").await.is_empty(),
        "a refused command is consumed"
    );
    r.assert_share(0).await;
    let (state, _) = r.state().await;
    assert_eq!(state.aws_percent, 0);
    assert!(state.recent_commands.contains(&"op-set-1".to_owned()));

    assert!(r.send("set-forced").await.is_empty());
    r.assert_share(5).await;
    let (state, version) = r.state().await;
    assert_eq!(state.step, None, "5 percent is not a step of the plan");
    assert!(
        state
            .history
            .last()
            .unwrap()
            .reason
            .contains("forced past the gates")
    );

    assert!(r.send("status").await.is_empty());
    let report = handle(event("weight-shifter", "status-direct"), &r.deps())
        .await
        .unwrap();
    assert_eq!(report["outcome"], "status");
    assert_eq!(
        report["reason"],
        format!(
            "not-started at 5 percent AWS, last good 0; last change at {T0}; route 53 \
             on-premises 95 AWS 5; listener on-premises 95 AWS 5"
        )
    );
    assert_eq!(report["aws_percent"], 5);
    assert_eq!(
        report["observed"]["route53"],
        json!({"onprem": 95, "aws": 5})
    );
    assert_eq!(report["observed"]["alb"], json!({"onprem": 95, "aws": 5}));
    assert_eq!(r.state().await.1, version, "status writes nothing");
    r.cleanup().await;
}

#[tokio::test]
async fn a_bad_plan_or_state_or_command_changes_nothing() {
    let r = Rehearsal::new().await;
    assert!(r.send("resume").await.is_empty());
    let (_, version) = r.state().await;

    r.put_parameter(
        &r.plan_parameter,
        r#"[{"aws_percent":50,"hold_seconds":60},{"aws_percent":25,"hold_seconds":60}]"#,
    )
    .await;
    let err = handle(event("weight-shifter", "tick"), &r.deps())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to read the plan in parameter {}: step 2 (25 percent) does not raise the \
             share of step 1",
            r.plan_parameter
        )
    );
    assert_eq!(err.transience(), Transience::Permanent);
    r.assert_share(0).await;
    assert_eq!(r.state().await.1, version);
    r.put_parameter(&r.plan_parameter, PLAN).await;

    // An unknown command fails permanently, and stops the rest of its FIFO batch.
    let mut batch = event("weight-shifter", "malformed");
    let advance = event("weight-shifter", "advance");
    batch["Records"]
        .as_array_mut()
        .unwrap()
        .push(advance["Records"][0].clone());
    let failed = r.send_event(batch.clone()).await;
    let ids: Vec<&str> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ids);
    r.assert_share(0).await;
    assert_eq!(r.state().await.1, version);

    // A state that does not parse.
    r.put_parameter(
        &r.state_parameter,
        r#"{"phase":"running","aws_percent":"ten"}"#,
    )
    .await;
    let err = handle(event("weight-shifter", "tick"), &r.deps())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "failed to read the state in parameter {}: the state has the wrong shape",
            r.state_parameter
        )),
        "{err}"
    );
    assert!(!err.to_string().contains("ten"), "{err}");
    assert_eq!(err.transience(), Transience::Permanent);
    r.assert_share(0).await;
    r.cleanup().await;
}

#[tokio::test]
async fn resume_refuses_a_plan_that_does_not_read_and_changes_nothing() {
    let r = Rehearsal::new().await;
    let (state, version) = r.state().await;
    r.put_parameter(&r.plan_parameter, "[]").await;
    let message = event("weight-shifter", "resume");
    let id = message["Records"][0]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.send_event(message).await, [id]);
    r.assert_share(0).await;
    assert_eq!(r.state().await, (state, version));
    r.cleanup().await;
}

#[tokio::test]
async fn a_missing_record_listener_or_alarm_is_named_and_nothing_moves() {
    let r = Rehearsal::new().await;
    assert!(r.send("resume").await.is_empty());
    let cases: [(&str, String, String); 3] = [
        (
            config::AWS_SET_ID,
            "aws-blue".to_owned(),
            format!(
                "record {} A with set identifier aws-blue is not in hosted zone {}",
                r.record_name, r.zone_id
            ),
        ),
        (
            config::LISTENER_ARN,
            format!("{}0", r.listener.listener_arn),
            format!("listener {}0 does not exist", r.listener.listener_arn),
        ),
        (
            config::GATE_ALARMS,
            format!("{},absent-alarm", r.alarms[0]),
            "gate alarms absent-alarm do not exist".to_owned(),
        ),
    ];
    for (name, value, expected) in cases {
        let deps = r.deps_with(&[(name, value.as_str())]);
        let err = weight_shifter::tick(&deps).await.unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert_eq!(err.transience(), Transience::Permanent);
    }
    r.assert_share(0).await;
    assert_eq!(r.state().await.0.aws_percent, 0);
    r.cleanup().await;
}

/// The real listener for reads; every write fails, as when the ELB API refuses a change.
struct BrokenListener(AlbListener);

impl Balancer for BrokenListener {
    async fn read(&self, target: &ListenerTarget) -> Result<ListenerReading, Error> {
        self.0.read(target).await
    }

    async fn write(
        &self,
        target: &ListenerTarget,
        _reading: &ListenerReading,
        _weights: Weights,
    ) -> Result<(), Error> {
        Err(Error::Listener {
            action: "modify".into(),
            arn: target.listener_arn.clone(),
            reason: "ServiceUnavailable: injected".into(),
            transience: Transience::Transient,
        })
    }
}

#[tokio::test]
async fn a_failed_listener_move_puts_route53_back_and_keeps_the_state() {
    let r = Rehearsal::new().await;
    assert!(r.send("resume").await.is_empty());
    let (_, version) = r.state().await;
    let deps = r.deps().with_balancer(BrokenListener(AlbListener::new(
        aws_sdk_elasticloadbalancingv2::Client::new(&r.sdk),
    )));
    let err = handle(event("weight-shifter", "tick"), &deps)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to move traffic to 10 percent AWS: failed to modify listener {}: \
             ServiceUnavailable: injected; Route 53 put back to on-premises 100, AWS 0",
            r.listener.listener_arn
        )
    );
    assert_eq!(err.transience(), Transience::Transient);
    r.assert_share(0).await;
    assert_eq!(r.state().await.1, version);

    // The next tick, with a listener that works, makes the move whole.
    assert_eq!(r.tick().await["aws_percent"], 10);
    r.assert_share(10).await;
    r.cleanup().await;
}

#[tokio::test]
async fn a_state_written_meanwhile_is_never_overwritten() {
    let r = Rehearsal::new().await;
    let store = r.store();
    let (mut state, version) = store.state().await.unwrap();
    r.put_parameter(&r.state_parameter, r#"{"phase":"paused"}"#)
        .await;
    state.phase = Phase::Running;
    let err = store.write(&state, version).await.unwrap_err();
    assert!(matches!(err, Error::StateConflict { expected, found, .. }
        if expected == version && found == version + 1));
    assert_eq!(err.transience(), Transience::Transient);
    assert_eq!(store.state().await.unwrap().0.phase, Phase::Paused);
    let written = store.write(&state, version + 1).await.unwrap();
    assert_eq!(written, version + 2);
    r.cleanup().await;
}

#[tokio::test]
async fn an_event_of_another_kind_is_refused() {
    let r = Rehearsal::new().await;
    let err = handle(
        json!({"detail-type": "EC2 Instance State-change"}),
        &r.deps(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unrecognised event: expected an SQS batch of commands, an EventBridge scheduled \
         event or a command"
    );
    assert_eq!(err.transience(), Transience::Permanent);
    r.cleanup().await;
}
