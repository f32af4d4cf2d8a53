//! The compliance remediator against moto: every remediation (SQS, KMS, SSM, EC2 security
//! groups, RDS, S3) driven by the sample events in `events/compliance-remediator/`, with
//! each event's resource id replaced by the resource the test created; dry run, the
//! exemption tag, the loop guard, the freeze window, already-compliant resources and the
//! events the remediator must acknowledge without acting.
//!
//! Moto 5.2.5 answers `StartConfigRulesEvaluation` with an internal error, so the Config
//! client the remediator asks for re-evaluation is an `aws-smithy-mocks` client in these
//! tests: it records which rule was asked for, or fails on purpose to show that a failed
//! re-evaluation is recorded and does not undo the fix. Every other call goes to moto
//! through `AWS_ENDPOINT_URL`, as in production. Moto gives every RDS instance the same
//! resource id (`db-…`), so the instance test names its instance by identifier; clusters
//! get distinct resource ids and are named by them, as Config does.

use aws_sdk_config::operation::start_config_rules_evaluation::{
    StartConfigRulesEvaluationError, StartConfigRulesEvaluationOutput,
};
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, Tag as Ec2Tag, TagSpecification};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag as SsmTag};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use compliance_remediator::audit::{Decision, Outcome};
use compliance_remediator::config as vars;
use compliance_remediator::{Config, Deps, Error, handle};
use migration_shared::config::Env;
use migration_tests::{event, sdk_config, unique};
use serde_json::Value;

const FUNCTION: &str = "compliance-remediator";

/// A Config client that answers `StartConfigRulesEvaluation` through `rule`.
fn config_client(rule: &Rule) -> aws_sdk_config::Client {
    let conf = aws_sdk_config::Config::builder()
        .behavior_version(aws_sdk_config::config::BehaviorVersion::latest())
        .region(aws_sdk_config::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_config::config::Credentials::new(
            "test", "test", None, None, "mock",
        ))
        .http_client(create_mock_http_client())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(rule),
        )
        .build();
    aws_sdk_config::Client::from_conf(conf)
}

fn reevaluation_accepted() -> Rule {
    mock!(aws_sdk_config::Client::start_config_rules_evaluation)
        .then_output(|| StartConfigRulesEvaluationOutput::builder().build())
}

struct Fixture {
    deps: Deps,
    key_id: String,
    alert_url: String,
    reevaluations: Rule,
}

impl Fixture {
    async fn new(extra: &[(&str, &str)]) -> Self {
        Self::with_reevaluation(extra, reevaluation_accepted()).await
    }

    async fn with_reevaluation(extra: &[(&str, &str)], reevaluations: Rule) -> Self {
        let sdk = sdk_config().await;
        let kms = aws_sdk_kms::Client::new(&sdk);
        let key_id = kms
            .create_key()
            .description("migration key")
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let alert_url = sqs
            .create_queue()
            .queue_name(unique("alerts"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let migration_id = unique("cutover");
        let mut pairs: Vec<(String, String)> = vec![
            (vars::MIGRATION_ID.into(), migration_id),
            (vars::MIGRATION_KMS_KEY_ID.into(), key_id.clone()),
            (vars::ALERT_QUEUE_URL.into(), alert_url.clone()),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config = Config::from_env(&Env::from_pairs(pairs)).unwrap();
        let mut deps = Deps::new(config, &sdk);
        deps.config_service = config_client(&reevaluations);
        Self {
            deps,
            key_id,
            alert_url,
            reevaluations,
        }
    }

    /// Runs the sample event `case` about `resource_id`; one decision expected.
    async fn run(&self, case: &str, resource_id: &str) -> Decision {
        let report = handle(change_event(case, resource_id), &self.deps)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(report.decisions.len(), 1, "{:?}", report.decisions);
        report.decisions.into_iter().next().unwrap()
    }

    async fn alerts(&self) -> Vec<Value> {
        let out = self
            .deps
            .sqs
            .receive_message()
            .queue_url(&self.alert_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }

    async fn loop_guard_records(&self) -> usize {
        let prefix =
            compliance_remediator::guard::loop_guard_prefix(&self.deps.config.migration_id);
        self.deps
            .ssm
            .get_parameters_by_path()
            .path(prefix)
            .recursive(true)
            .send()
            .await
            .unwrap()
            .parameters()
            .len()
    }
}

/// The sample event `case` with its resource id replaced by `resource_id`.
fn change_event(case: &str, resource_id: &str) -> Value {
    let mut e = event(FUNCTION, case);
    e["detail"]["resourceId"] = resource_id.into();
    for result in ["newEvaluationResult", "oldEvaluationResult"] {
        let qualifier =
            &mut e["detail"][result]["evaluationResultIdentifier"]["evaluationResultQualifier"];
        if qualifier.is_object() {
            qualifier["resourceId"] = resource_id.into();
        }
    }
    e
}

async fn new_key(deps: &Deps, tags: &[(&str, &str)]) -> String {
    let mut request = deps.kms.create_key().description("application key");
    for (k, v) in tags {
        request = request.tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key(*k)
                .tag_value(*v)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap().key_metadata.unwrap().key_id
}

async fn rotation(deps: &Deps, key_id: &str) -> bool {
    deps.kms
        .get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_rotation_enabled
}

#[tokio::test]
async fn rotates_a_key_whose_rotation_is_off_and_asks_config_to_reevaluate() {
    let rule = mock!(aws_sdk_config::Client::start_config_rules_evaluation)
        .match_requests(|r| r.config_rule_names() == ["cutover-1-cmk-backing-key-rotation-enabled"])
        .then_output(|| StartConfigRulesEvaluationOutput::builder().build());
    let f = Fixture::with_reevaluation(&[], rule).await;
    let key = new_key(&f.deps, &[]).await;
    assert!(!rotation(&f.deps, &key).await);

    let d = f.run("kms-rotation-off", &key).await;

    assert_eq!(d.outcome, Outcome::Remediated, "{d:?}");
    assert_eq!(d.action, "enable_key_rotation");
    assert!(!d.dry_run);
    assert_eq!(d.before["rotation_enabled"], false);
    assert_eq!(d.after["rotation_enabled"], true);
    assert_eq!(d.reevaluation, "requested");
    assert!(rotation(&f.deps, &key).await);
    assert_eq!(f.reevaluations.num_calls(), 1);
    assert_eq!(f.loop_guard_records().await, 1);
}

#[tokio::test]
async fn a_key_that_already_rotates_gets_no_changing_call() {
    let f = Fixture::new(&[]).await;
    let key = new_key(&f.deps, &[]).await;
    f.deps
        .kms
        .enable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .unwrap();

    let d = f.run("kms-rotation-off", &key).await;

    assert_eq!(d.outcome, Outcome::AlreadyCompliant, "{d:?}");
    assert_eq!(d.reason, "the key rotates, or is managed by AWS");
    assert_eq!(d.before, d.after);
    assert!(rotation(&f.deps, &key).await);
    // No fix: no loop guard count, no re-evaluation asked for.
    assert_eq!(f.loop_guard_records().await, 0);
    assert_eq!(f.reevaluations.num_calls(), 0);
}

#[tokio::test]
async fn encrypts_an_unencrypted_queue_with_the_migration_key() {
    let f = Fixture::new(&[]).await;
    let url = f
        .deps
        .sqs
        .create_queue()
        .queue_name(unique("settlement"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let d = f.run("sqs-queue-unencrypted", &url).await;

    assert_eq!(d.outcome, Outcome::Remediated, "{d:?}");
    assert_eq!(d.before["kms_master_key_id"], Value::Null);
    assert_eq!(d.after["kms_master_key_id"], f.key_id.as_str());
    let attributes = f
        .deps
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::KmsMasterKeyId)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attributes.attributes().unwrap()[&QueueAttributeName::KmsMasterKeyId],
        f.key_id
    );
    // Read again now that it is compliant: nothing more to do.
    let again = f.run("sqs-queue-unencrypted", &url).await;
    assert_eq!(again.outcome, Outcome::AlreadyCompliant);
    f.deps
        .sqs
        .delete_queue()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
}

fn permission(protocol: &str, from: i32, to: i32, cidr: &str) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(from)
        .to_port(to);
    if cidr.contains(':') {
        b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
            .build()
    } else {
        b.ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    }
}

async fn open_group(deps: &Deps, tags: &[(&str, &str)]) -> String {
    let spec = (!tags.is_empty()).then(|| {
        let mut spec = TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup);
        for (k, v) in tags {
            spec = spec.tags(Ec2Tag::builder().key(*k).value(*v).build());
        }
        vec![spec.build()]
    });
    let group = deps
        .ec2
        .create_security_group()
        .group_name(unique("db"))
        .description("payments database")
        .set_tag_specifications(spec)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    deps.ec2
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(permission("tcp", 3306, 3306, "0.0.0.0/0"))
        .ip_permissions(permission("tcp", 3306, 3306, "10.20.0.0/16"))
        .ip_permissions(permission("tcp", 443, 443, "0.0.0.0/0"))
        .ip_permissions(permission("tcp", 5432, 5432, "::/0"))
        .send()
        .await
        .unwrap();
    group
}

async fn ingress(deps: &Deps, group: &str) -> Vec<String> {
    let out = deps
        .ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    let mut rules = Vec::new();
    for p in out.security_groups()[0].ip_permissions() {
        let port = p.from_port.unwrap_or_default();
        for r in p.ip_ranges() {
            rules.push(format!("{port} {}", r.cidr_ip().unwrap()));
        }
        for r in p.ipv6_ranges() {
            rules.push(format!("{port} {}", r.cidr_ipv6().unwrap()));
        }
    }
    rules.sort();
    rules
}

#[tokio::test]
async fn revokes_only_the_world_open_database_rules_of_a_security_group() {
    let f = Fixture::new(&[]).await;
    let group = open_group(&f.deps, &[]).await;

    let d = f.run("security-group-open-db-port", &group).await;

    assert_eq!(d.outcome, Outcome::Remediated, "{d:?}");
    assert_eq!(
        d.before["open_to_world_on_database_ports"],
        serde_json::json!(["tcp 3306 from 0.0.0.0/0", "tcp 5432 from ::/0"])
    );
    assert_eq!(
        d.after["open_to_world_on_database_ports"],
        serde_json::json!([])
    );
    assert_eq!(
        ingress(&f.deps, &group).await,
        ["3306 10.20.0.0/16", "443 0.0.0.0/0"]
    );
}

#[tokio::test]
async fn dry_run_reports_the_fix_and_changes_nothing() {
    let f = Fixture::new(&[(vars::DRY_RUN, "true")]).await;
    let group = open_group(&f.deps, &[]).await;
    let before = ingress(&f.deps, &group).await;

    let d = f.run("security-group-open-db-port", &group).await;

    assert_eq!(d.outcome, Outcome::WouldRemediate, "{d:?}");
    assert!(d.dry_run);
    assert_eq!(d.reason, "dry run");
    assert_eq!(ingress(&f.deps, &group).await, before);
    assert_eq!(f.loop_guard_records().await, 0);
    assert_eq!(f.reevaluations.num_calls(), 0);
}

#[tokio::test]
async fn an_exempt_resource_is_left_alone() {
    let f = Fixture::new(&[(vars::EXEMPT_TAG_KEY, "cutover:keep-open")]).await;
    let group = open_group(&f.deps, &[("cutover:keep-open", "dms to on-premises")]).await;
    let before = ingress(&f.deps, &group).await;

    let d = f.run("security-group-open-db-port", &group).await;

    assert_eq!(d.outcome, Outcome::Exempt, "{d:?}");
    assert_eq!(d.reason, "tagged cutover:keep-open");
    assert_eq!(ingress(&f.deps, &group).await, before);
}

#[tokio::test]
async fn a_freeze_window_holds_back_named_resources_until_it_ends() {
    let freeze_name = format!("/{}/freeze", unique("migration"));
    let f = Fixture::new(&[(vars::FREEZE_PARAMETER, freeze_name.as_str())]).await;
    let frozen = open_group(&f.deps, &[]).await;
    let other = open_group(&f.deps, &[]).await;
    let put = |value: String| {
        f.deps
            .ssm
            .put_parameter()
            .name(&freeze_name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
    };
    put(format!(
        r#"{{"resources":["{frozen}"],"until":"2999-01-01T00:00:00Z"}}"#
    ))
    .await
    .unwrap();
    let before = ingress(&f.deps, &frozen).await;

    let held = f.run("security-group-open-db-port", &frozen).await;
    let fixed = f.run("security-group-open-db-port", &other).await;

    assert_eq!(held.outcome, Outcome::WouldRemediate, "{held:?}");
    assert!(held.dry_run);
    assert_eq!(held.reason, "freeze window");
    assert_eq!(ingress(&f.deps, &frozen).await, before);
    assert_eq!(fixed.outcome, Outcome::Remediated, "{fixed:?}");

    // An expired freeze holds nothing back.
    put(format!(
        r#"{{"resources":["{frozen}"],"until":"2020-01-01T00:00:00Z"}}"#
    ))
    .await
    .unwrap();
    let d = f.run("security-group-open-db-port", &frozen).await;
    assert_eq!(d.outcome, Outcome::Remediated, "{d:?}");

    // A freeze document with a typo fails the invocation, naming the parameter.
    put(r#"{"al":true}"#.to_owned()).await.unwrap();
    let group = open_group(&f.deps, &[]).await;
    let err = handle(change_event("security-group-open-db-port", &group), &f.deps)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FreezeWindow { .. }), "{err}");
    assert!(err.to_string().contains(&freeze_name), "{err}");
    assert_eq!(ingress(&f.deps, &group).await.len(), 4);
}

#[tokio::test]
async fn a_freeze_window_may_name_a_resource_as_people_do() {
    let freeze_name = format!("/{}/freeze", unique("migration"));
    let f = Fixture::new(&[(vars::FREEZE_PARAMETER, freeze_name.as_str())]).await;
    let queue = unique("dms-staging");
    let url = f
        .deps
        .sqs
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    f.deps
        .ssm
        .put_parameter()
        .name(&freeze_name)
        .value(format!(r#"{{"resources":["{queue}"]}}"#))
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();

    // Config names the queue by its URL; the freeze names it by its name.
    let d = f.run("sqs-queue-unencrypted", &url).await;

    assert_eq!(d.outcome, Outcome::WouldRemediate, "{d:?}");
    assert_eq!(d.reason, "freeze window");
    assert_eq!(d.after["kms_master_key_id"], Value::Null);
    f.deps
        .sqs
        .delete_queue()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_loop_guard_stops_after_the_limit_and_alerts() {
    let f = Fixture::new(&[(vars::LOOP_GUARD_MAX, "2")]).await;
    let key = new_key(&f.deps, &[]).await;
    for _ in 0..2 {
        let d = f.run("kms-rotation-off", &key).await;
        assert_eq!(d.outcome, Outcome::Remediated, "{d:?}");
        // Something keeps undoing the fix.
        f.deps
            .kms
            .disable_key_rotation()
            .key_id(&key)
            .send()
            .await
            .unwrap();
    }

    let d = f.run("kms-rotation-off", &key).await;

    assert_eq!(d.outcome, Outcome::LoopGuard, "{d:?}");
    assert!(
        d.reason.starts_with("remediated 2 times within the hour"),
        "{}",
        d.reason
    );
    assert!(!rotation(&f.deps, &key).await);
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "loop_guard");
    assert_eq!(alerts[0]["function"], "compliance-remediator");
    assert_eq!(alerts[0]["subject"], key.as_str());
    assert_eq!(alerts[0]["details"]["resource_type"], "AWS::KMS::Key");
    assert_eq!(
        alerts[0]["migration_id"],
        f.deps.config.migration_id.as_str()
    );
}

#[tokio::test]
async fn protects_a_cluster_and_raises_an_instance_backup_retention() {
    let f = Fixture::new(&[(vars::MIN_BACKUP_RETENTION_DAYS, "7")]).await;
    let cluster_id = unique("aurora");
    let cluster = f
        .deps
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&cluster_id)
        .engine("aurora-mysql")
        .master_username("admin")
        .master_user_password("not-a-real-password")
        .backup_retention_period(7)
        .storage_encrypted(true)
        .send()
        .await
        .unwrap()
        .db_cluster
        .unwrap();
    let instance = f
        .deps
        .rds
        .create_db_instance()
        .db_instance_identifier(unique("reporting"))
        .engine("mysql")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("not-a-real-password")
        .backup_retention_period(1)
        .send()
        .await
        .unwrap()
        .db_instance
        .unwrap();

    // Config names databases by resource id. Moto gives every instance the same one, so
    // the instance is named by its identifier, which the remediator accepts as well.
    let c = f
        .run(
            "rds-cluster-deletion-protection-off",
            cluster.db_cluster_resource_id().unwrap(),
        )
        .await;
    let instance_id = instance.db_instance_identifier().unwrap();
    let i = f.run("rds-instance-backup-disabled", instance_id).await;

    assert_eq!(c.outcome, Outcome::Remediated, "{c:?}");
    assert_eq!(c.before["deletion_protection"], false);
    assert_eq!(c.after["deletion_protection"], true);
    assert_eq!(c.after["backup_retention_days"], 7);
    assert_eq!(i.outcome, Outcome::Remediated, "{i:?}");
    assert_eq!(i.before["backup_retention_days"], 1);
    assert_eq!(i.after["backup_retention_days"], 7);
    let read = f
        .deps
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .unwrap();
    assert_eq!(read.db_clusters()[0].deletion_protection(), Some(true));
    delete_cluster(&f.deps, &cluster_id).await;
    f.deps
        .rds
        .delete_db_instance()
        .db_instance_identifier(instance_id)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
}

async fn delete_cluster(deps: &Deps, id: &str) {
    deps.rds
        .modify_db_cluster()
        .db_cluster_identifier(id)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    deps.rds
        .delete_db_cluster()
        .db_cluster_identifier(id)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn unencrypted_database_storage_is_reported_for_a_person_never_fixed() {
    let f = Fixture::new(&[]).await;
    let cluster = f
        .deps
        .rds
        .create_db_cluster()
        .db_cluster_identifier(unique("legacy"))
        .engine("aurora-mysql")
        .master_username("admin")
        .master_user_password("not-a-real-password")
        .storage_encrypted(false)
        .send()
        .await
        .unwrap()
        .db_cluster
        .unwrap();
    let id = cluster.db_cluster_resource_id().unwrap();

    let d = f.run("rds-cluster-storage-unencrypted", id).await;

    assert_eq!(d.outcome, Outcome::NeedsPerson, "{d:?}");
    assert_eq!(d.before, d.after);
    assert_eq!(d.after["storage_encrypted"], false);
    assert!(
        d.reason.contains("cannot be encrypted in place"),
        "{}",
        d.reason
    );
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "needs_person");
    assert_eq!(alerts[0]["details"]["resource_type"], "AWS::RDS::DBCluster");
    assert_eq!(f.loop_guard_records().await, 0);
    delete_cluster(&f.deps, cluster.db_cluster_identifier().unwrap()).await;
}

#[tokio::test]
async fn blocks_public_access_to_a_bucket_and_encrypts_it_under_the_migration_key() {
    let f = Fixture::new(&[]).await;
    let bucket = unique("exports");
    f.deps
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();

    let block = f.run("s3-bucket-public-access", &bucket).await;
    let encrypt = f.run("s3-bucket-unencrypted", &bucket).await;

    assert_eq!(block.outcome, Outcome::Remediated, "{block:?}");
    assert_eq!(block.before["block_public_policy"], false);
    assert_eq!(block.after["restrict_public_buckets"], true);
    assert_eq!(encrypt.outcome, Outcome::Remediated, "{encrypt:?}");
    assert_eq!(encrypt.before["sse_algorithm"], Value::Null);
    assert_eq!(encrypt.after["sse_algorithm"], "aws:kms");
    assert_eq!(encrypt.after["kms_master_key_id"], f.key_id.as_str());
    let block = f
        .deps
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        block
            .public_access_block_configuration()
            .unwrap()
            .block_public_acls(),
        Some(true)
    );
    let again = f.run("s3-bucket-unencrypted", &bucket).await;
    assert_eq!(again.outcome, Outcome::AlreadyCompliant);
    f.deps
        .s3
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
}

async fn put_parameter(deps: &Deps, name: &str, value: &str, kind: ParameterType) {
    deps.ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .description("payments database login")
        .tier(ParameterTier::Standard)
        .tags(
            SsmTag::builder()
                .key("team")
                .value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_scan_rewrites_plain_secret_parameters_keeping_value_settings_and_tags() {
    let path = format!("/{}", unique("payments"));
    let f = Fixture::new(&[(vars::SSM_SCAN_PATH, path.as_str())]).await;
    let secret = "s3cr3t-Value-9471";
    let password = format!("{path}/db/password");
    let token = format!("{path}/api-token");
    let host = format!("{path}/db/host");
    put_parameter(&f.deps, &password, secret, ParameterType::String).await;
    put_parameter(&f.deps, &token, "already-safe", ParameterType::SecureString).await;
    put_parameter(&f.deps, &host, "db.internal", ParameterType::String).await;

    let report = handle(event(FUNCTION, "scheduled-ssm-scan"), &f.deps)
        .await
        .unwrap();

    let mut outcomes: Vec<(String, Outcome)> = report
        .decisions
        .iter()
        .map(|d| (d.resource_id.clone(), d.outcome))
        .collect();
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        outcomes,
        [
            (token.clone(), Outcome::AlreadyCompliant),
            (password.clone(), Outcome::Remediated),
        ]
    );
    let record = serde_json::to_string(&report).unwrap();
    assert!(!record.contains(secret), "{record}");
    let read = f
        .deps
        .ssm
        .get_parameter()
        .name(&password)
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_eq!(read.r#type(), Some(&ParameterType::SecureString));
    assert_eq!(read.value(), Some(secret));
    let meta = f
        .deps
        .ssm
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .values(&password)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let meta = &meta.parameters()[0];
    assert_eq!(meta.description(), Some("payments database login"));
    assert_eq!(meta.tier(), Some(&ParameterTier::Standard));
    assert!(meta.key_id().unwrap().contains(&f.key_id), "{meta:?}");
    let tags = f
        .deps
        .ssm
        .list_tags_for_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(&password)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_list()[0].key(), "team");
    assert_eq!(tags.tag_list()[0].value(), "payments");
    // The plain host name does not match the secret pattern and stays a String.
    let host_type = f
        .deps
        .ssm
        .get_parameter()
        .name(&host)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .r#type;
    assert_eq!(host_type, Some(ParameterType::String));
    f.deps
        .ssm
        .delete_parameters()
        .names(&password)
        .names(&token)
        .names(&host)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_reevaluation_is_recorded_and_the_fix_stands() {
    let rule = mock!(aws_sdk_config::Client::start_config_rules_evaluation).then_error(|| {
        StartConfigRulesEvaluationError::LimitExceededException(
            aws_sdk_config::types::error::LimitExceededException::builder()
                .message("an evaluation is already running")
                .meta(
                    aws_sdk_config::error::ErrorMetadata::builder()
                        .code("LimitExceededException")
                        .message("an evaluation is already running")
                        .build(),
                )
                .build(),
        )
    });
    let f = Fixture::with_reevaluation(&[], rule).await;
    let key = new_key(&f.deps, &[]).await;

    let d = f.run("kms-rotation-off", &key).await;

    assert_eq!(d.outcome, Outcome::Remediated, "{d:?}");
    assert_eq!(
        d.reevaluation,
        "failed: LimitExceededException: an evaluation is already running"
    );
    assert!(rotation(&f.deps, &key).await);
}

#[tokio::test]
async fn a_failed_remediation_fails_the_invocation_with_its_cause() {
    let mut f = Fixture::new(&[]).await;
    let group = open_group(&f.deps, &[]).await;
    // An EC2 endpoint nobody listens on: the security group cannot be read.
    let unreachable = aws_sdk_ec2::config::Builder::from(&sdk_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    f.deps.ec2 = aws_sdk_ec2::Client::from_conf(unreachable);

    let err = handle(change_event("security-group-open-db-port", &group), &f.deps)
        .await
        .unwrap_err();

    let message = err.to_string();
    assert!(
        message.starts_with("1 remediation(s) failed, first revoke_open_database_ingress on sg-"),
        "{message}"
    );
    assert!(
        message.contains(&format!("failed to describe security group {group}")),
        "{message}"
    );
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "Transient");
}

#[tokio::test]
async fn events_it_cannot_use_are_acknowledged_with_a_reason() {
    let f = Fixture::new(&[(vars::ALLOWED_RULES, "cutover-1-restricted-incoming-traffic")]).await;
    let key = new_key(&f.deps, &[]).await;
    let cases = [
        ("compliant", key.as_str(), "compliance is COMPLIANT"),
        (
            "not-applicable",
            "sg-0a1b2c3d4e5f60718",
            "compliance is NOT_APPLICABLE",
        ),
        (
            "unknown-rule",
            "123456789012",
            "no remediation is known for this rule",
        ),
        (
            "kms-rotation-off",
            key.as_str(),
            "rule CMK_BACKING_KEY_ROTATION_ENABLED is not in ALLOWED_RULES",
        ),
        (
            "security-group-open-db-port",
            "sg-0000000000000dead",
            "the resource no longer exists",
        ),
    ];
    for (case, id, reason) in cases {
        let d = f.run(case, id).await;
        assert_eq!(d.outcome, Outcome::Ignored, "{case}: {d:?}");
        assert_eq!(d.reason, reason, "{case}");
    }
    // A compliance type that could carry a card number is not repeated.
    let mut odd = change_event("compliant", &key);
    odd["detail"]["newEvaluationResult"]["complianceType"] = serde_json::json!("4111111111111111");
    let report = handle(odd, &f.deps).await.unwrap();
    assert_eq!(report.decisions[0].reason, "compliance is …");
    let malformed = [
        (
            "malformed-missing-resource-id",
            "the detail has no resourceId",
        ),
        (
            "malformed-evaluation-result",
            "the detail has the wrong shape at `newEvaluationResult`: ",
        ),
    ];
    for (case, reason) in malformed {
        let report = handle(event(FUNCTION, case), &f.deps).await.unwrap();
        assert_eq!(report.decisions[0].outcome, Outcome::Ignored, "{case}");
        assert!(
            report.decisions[0].reason.starts_with(reason),
            "{case}: {report:?}"
        );
    }
    // Without a scan path the schedule has nothing to do.
    let report = handle(event(FUNCTION, "scheduled-ssm-scan"), &f.deps)
        .await
        .unwrap();
    assert_eq!(report.decisions[0].reason, "SSM_SCAN_PATH is not set");
    assert!(!rotation(&f.deps, &key).await);
    assert_eq!(f.loop_guard_records().await, 0);
}

#[test]
fn every_sample_event_has_the_shape_eventbridge_delivers() {
    let folder = migration_tests::repo_root().join("events").join(FUNCTION);
    let mut cases = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(parsed.version.as_deref(), Some("0"), "{}", path.display());
        assert!(
            ["aws.config", "aws.events"].contains(&parsed.source.as_str()),
            "{}",
            path.display()
        );
        cases += 1;
    }
    assert_eq!(
        cases, 14,
        "a sample event was added or removed: update this count"
    );
}
