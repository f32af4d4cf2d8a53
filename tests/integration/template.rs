//! The migration template: checks on `template.json` itself (policies, functions, queues,
//! secrets, the environment each function reads), and a deployment on moto's CloudFormation
//! that proves the queues, parameters, key, hosted zone, records and listener the functions
//! use exist and are wired as the functions expect.
//!
//! moto 5.2.5 does not implement every resource type of the template, and fails the whole
//! stack when an output or `Fn::GetAtt` names one it skipped; the deployment therefore uses
//! the copy `migration_tests::template_for_moto` computes from `template.json` (its module
//! lists the types left out and why), never a second hand-written template. moto's
//! CloudFormation also cannot read a weighted `ForwardConfig`, so the listener's weights are
//! put back through the Elastic Load Balancing API after the stack exists, from the
//! template's own values.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;
use aws_sdk_route53::types::RrType;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_ssm::types::ParameterType;
use migration_tests::{load_template, restore_weighted_listeners, template_for_moto, unique};
use serde_json::{Value, json};

fn resources(template: &Value) -> &serde_json::Map<String, Value> {
    template["Resources"].as_object().unwrap()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// Every policy statement of the template, with where it was found: IAM roles and policies,
/// the key policy, bucket and queue policies, and log resource policies (a JSON string).
fn statements(template: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut add = |place: String, document: &Value| {
        for s in document["Statement"].as_array().into_iter().flatten() {
            found.push((place.clone(), s.clone()));
        }
    };
    for (id, r) in resources(template) {
        let props = &r["Properties"];
        match r["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => {
                add(format!("{id} trust"), &props["AssumeRolePolicyDocument"]);
                for p in props["Policies"].as_array().into_iter().flatten() {
                    add(format!("{id} {}", p["PolicyName"]), &p["PolicyDocument"]);
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::S3::BucketPolicy" => {
                add(id.clone(), &props["PolicyDocument"]);
            }
            "AWS::SQS::QueuePolicy" => add(id.clone(), &props["PolicyDocument"]),
            "AWS::KMS::Key" => add(id.clone(), &props["KeyPolicy"]),
            "AWS::Logs::ResourcePolicy" => {
                let text = props["PolicyDocument"]["Fn::Sub"]
                    .as_str()
                    .or_else(|| props["PolicyDocument"].as_str())
                    .unwrap();
                add(id.clone(), &serde_json::from_str(text).unwrap());
            }
            _ => {}
        }
    }
    found
}

#[test]
fn no_policy_statement_grants_a_wildcard_action() {
    let template = load_template();
    let all = statements(&template);
    assert!(all.len() > 60, "only {} statements found", all.len());
    for (place, s) in &all {
        let actions: Vec<&str> = match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(many) => many.iter().map(|a| a.as_str().unwrap()).collect(),
            other => panic!("{place}: statement without Action: {other}"),
        };
        assert!(!actions.is_empty(), "{place}: empty Action");
        for a in actions {
            assert!(!a.contains('*'), "{place}: wildcard action {a}");
        }
        assert!(s.get("NotAction").is_none(), "{place}: NotAction");
    }
}

#[test]
fn every_checkov_skip_names_its_check_and_gives_a_reason() {
    let template = load_template();
    let mut skips = 0;
    for (id, r) in resources(&template) {
        for skip in r["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let check = skip["id"].as_str().unwrap_or_default();
            assert!(check.starts_with("CKV_AWS_"), "{id}: {skip}");
            let reason = skip["comment"].as_str().unwrap_or_default();
            assert!(
                reason.split_whitespace().count() >= 8,
                "{id} {check}: {reason:?}"
            );
            skips += 1;
        }
    }
    assert!(skips <= 10, "{skips} skips: fix the resources instead");
}

#[test]
fn no_arn_is_built_on_a_log_groups_arn_attribute() {
    // A log group's Arn attribute ends in ":*"; anything appended to it matches nothing.
    let template = load_template();
    let text = template.to_string();
    for (id, _) in of_type(&template, "AWS::Logs::LogGroup") {
        assert!(!text.contains(&format!("${{{id}.Arn}}:")), "{id}");
    }
}

#[test]
fn wildcard_resources_appear_only_where_the_service_cannot_scope() {
    // Describe and list calls of these services, and recording a restore test's result, take
    // no resource ARN; the key policy's "*" means this key. Everything else must name
    // resources of the stack or of the account.
    let unscopable = [
        "ec2:Describe",
        "elasticloadbalancing:Describe",
        "ssm:DescribeParameters",
        "backup:List",
        "backup:Describe",
        "backup:PutRestoreValidationResult",
    ];
    let template = load_template();
    for (place, s) in statements(&template) {
        if place == "MigrationKey" || s["Effect"] == "Deny" || place.ends_with("trust") {
            continue;
        }
        if s["Resource"] == "*" {
            let actions = s["Action"].as_array().unwrap();
            for a in actions {
                let a = a.as_str().unwrap();
                assert!(
                    unscopable.iter().any(|p| a.starts_with(p)),
                    "{place}: {a} on every resource"
                );
            }
        }
    }
}

#[test]
fn every_function_runs_arm64_from_the_artifacts_bucket_and_logs_json_to_its_own_group() {
    let template = load_template();
    let functions = of_type(&template, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 4);
    let mut roles = BTreeSet::new();
    for (id, f) in functions {
        let p = &f["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{id}");
        assert_eq!(p["Architectures"], json!(["arm64"]), "{id}");
        assert_eq!(p["Handler"], "bootstrap", "{id}");
        assert_eq!(
            p["Code"]["S3Bucket"],
            json!({"Ref": "ArtifactsBucket"}),
            "{id}"
        );
        let key = p["Code"]["S3Key"]["Ref"].as_str().unwrap();
        assert_eq!(template["Parameters"][key]["Type"], "String", "{id}");
        assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON", "{id}");
        let group = p["LoggingConfig"]["LogGroup"]["Ref"].as_str().unwrap();
        let group = &template["Resources"][group];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{id}");
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"})
        );
        let role = p["Role"]["Fn::GetAtt"][0].as_str().unwrap();
        assert_eq!(
            template["Resources"][role]["Type"], "AWS::IAM::Role",
            "{id}"
        );
        assert!(roles.insert(role.to_owned()), "{id} shares role {role}");
    }
    let shifter = &template["Resources"]["WeightShifter"]["Properties"];
    assert_eq!(shifter["ReservedConcurrentExecutions"], 1);
    assert!(
        template["Parameters"]["LogRetentionDays"]["Default"]
            .as_u64()
            .unwrap()
            >= 365
    );
}

#[test]
fn every_alarm_notifies_the_alarm_topic_both_ways() {
    let template = load_template();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 16, "{} alarms", alarms.len());
    let topic = json!([{"Ref": "AlarmTopic"}]);
    for (id, a) in alarms {
        assert_eq!(a["Properties"]["AlarmActions"], topic, "{id}");
        assert_eq!(a["Properties"]["OKActions"], topic, "{id}");
    }
    let topic = &template["Resources"]["AlarmTopic"]["Properties"];
    assert_eq!(
        topic["KmsMasterKeyId"],
        json!({"Fn::GetAtt": ["MigrationKey", "Arn"]})
    );
}

#[test]
fn alarms_on_the_functions_metrics_use_the_dimensions_the_functions_emit() {
    let template = load_template();
    let mut seen = BTreeSet::new();
    for (id, a) in of_type(&template, "AWS::CloudWatch::Alarm") {
        let p = &a["Properties"];
        let mut metrics: Vec<&Value> = vec![p];
        for q in p["Metrics"].as_array().into_iter().flatten() {
            metrics.push(&q["MetricStat"]["Metric"]);
        }
        for m in metrics {
            if m["Namespace"] != "PaymentMigration" {
                continue;
            }
            let names: Vec<&str> = m["Dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["Name"].as_str().unwrap())
                .collect();
            // The remediator counts its decisions by outcome; the others emit two dimensions.
            let want: &[&str] = if m["MetricName"] == "Remediations" {
                &["MigrationId", "Function", "Outcome"]
            } else {
                &["MigrationId", "Function"]
            };
            assert_eq!(names, want, "{id}");
            seen.insert(m["MetricName"].as_str().unwrap().to_owned());
        }
    }
    let want = ["BackupCheckFailed", "Errors", "Mismatches", "Remediations"];
    assert_eq!(seen.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

/// The queues that are some other queue's or function's dead-letter target.
fn dead_letter_targets(template: &Value) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    for (_, q) in of_type(template, "AWS::SQS::Queue") {
        if let Some(t) =
            q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0].as_str()
        {
            targets.insert(t.to_owned());
        }
    }
    for (_, f) in of_type(template, "AWS::Lambda::Function") {
        if let Some(t) = f["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0].as_str()
        {
            targets.insert(t.to_owned());
        }
    }
    targets
}

#[test]
fn every_queue_is_encrypted_under_the_migration_key_and_every_work_queue_has_a_dead_letter_queue() {
    let template = load_template();
    let queues = of_type(&template, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 7);
    let dead_letter = dead_letter_targets(&template);
    for (id, q) in &queues {
        let p = &q["Properties"];
        assert_eq!(
            p["KmsMasterKeyId"],
            json!({"Fn::GetAtt": ["MigrationKey", "Arn"]}),
            "{id}"
        );
        if dead_letter.contains(*id) {
            continue;
        }
        let target = p["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no dead-letter queue"));
        let dlq = &template["Resources"][target];
        assert_eq!(dlq["Type"], "AWS::SQS::Queue", "{id}");
        assert_eq!(
            dlq["Properties"]["FifoQueue"], p["FifoQueue"],
            "{id}: a FIFO queue needs a FIFO dead-letter queue"
        );
        assert!(p["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 1);
    }
    assert_eq!(
        template["Resources"]["WeightCommandQueue"]["Properties"]["FifoQueue"],
        true
    );
}

#[test]
fn event_source_mappings_report_item_failures_and_outlast_the_function_six_times() {
    let template = load_template();
    let mappings = of_type(&template, "AWS::Lambda::EventSourceMapping");
    assert_eq!(mappings.len(), 2);
    for (id, m) in mappings {
        let p = &m["Properties"];
        assert_eq!(
            p["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"]),
            "{id}"
        );
        let function = p["FunctionName"]["Ref"].as_str().unwrap();
        let queue = p["EventSourceArn"]["Fn::GetAtt"][0].as_str().unwrap();
        let timeout = template["Resources"][function]["Properties"]["Timeout"]
            .as_u64()
            .unwrap();
        let visibility = template["Resources"][queue]["Properties"]["VisibilityTimeout"]
            .as_u64()
            .unwrap();
        assert!(
            visibility >= 6 * timeout,
            "{id}: visibility {visibility} s < 6 x {timeout} s"
        );
    }
}

#[test]
fn secrets_never_reach_a_parameter_default_a_plain_parameter_or_an_output() {
    let template = load_template();
    for (name, p) in template["Parameters"].as_object().unwrap() {
        let lower = name.to_lowercase();
        let holds_secret = lower.contains("password")
            || lower.ends_with("secret")
            || lower.ends_with("token")
            || p["NoEcho"] == true;
        if holds_secret {
            assert_eq!(p["NoEcho"], true, "{name} must be NoEcho");
            assert!(p.get("Default").is_none(), "{name} must have no Default");
        }
    }
    for (id, p) in of_type(&template, "AWS::SSM::Parameter") {
        assert_eq!(p["Properties"]["Type"], "String", "{id}");
    }
    let cluster = &template["Resources"]["AuroraCluster"]["Properties"];
    assert_eq!(cluster["ManageMasterUserPassword"], true);
    assert!(cluster.get("MasterUserPassword").is_none());
    let secrets: Vec<&String> = of_type(&template, "AWS::SecretsManager::Secret")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(secrets.len(), 2);
    for (id, s) in of_type(&template, "AWS::SecretsManager::Secret") {
        assert!(s["Properties"].get("SecretString").is_none(), "{id}");
        assert_eq!(
            s["Properties"]["KmsKeyId"],
            json!({"Fn::GetAtt": ["MigrationKey", "Arn"]})
        );
    }
    for (name, output) in template["Outputs"].as_object().unwrap() {
        let text = output.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(&format!("\"{secret}\"")),
                "output {name} names {secret}"
            );
        }
        assert!(!text.contains("MasterUserSecret"), "output {name}");
    }
}

/// The variables each function reads, beyond `MIGRATION_ID` and `METRICS_NAMESPACE`.
fn contract() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        (
            "ReplicationValidator",
            vec![
                "VALIDATION_QUEUE_URL",
                "RESULTS_BUCKET",
                "SOURCE_DB_SECRET_ID",
                "TARGET_DB_SECRET_ID",
                "SOURCE_DB_HOST",
                "SOURCE_DB_PORT",
                "SOURCE_DB_NAME",
                "TARGET_DB_HOST",
                "TARGET_DB_PORT",
                "TARGET_DB_NAME",
                "SOURCE_DB_SSL_MODE",
                "SOURCE_DB_SSL_CA",
                "TARGET_DB_SSL_MODE",
                "TARGET_DB_SSL_CA",
                "LAG_WINDOW_SECONDS",
                "RECHECK_DELAY_SECONDS",
                "CHANGE_COLUMN",
                "CHUNK_TARGET_MS",
            ],
        ),
        (
            "WeightShifter",
            vec![
                "PLAN_PARAMETER",
                "STATE_PARAMETER",
                "HOSTED_ZONE_ID",
                "RECORD_NAME",
                "RECORD_TYPE",
                "ONPREM_SET_ID",
                "AWS_SET_ID",
                "LISTENER_ARN",
                "ONPREM_TARGET_GROUP_ARN",
                "AWS_TARGET_GROUP_ARN",
                "GATE_ALARMS",
                "ROLLBACK_TO",
            ],
        ),
        (
            "ComplianceRemediator",
            vec![
                "MIGRATION_KMS_KEY_ID",
                "DRY_RUN",
                "EXEMPT_TAG_KEY",
                "ALLOWED_RULES",
                "FREEZE_PARAMETER",
                "LOOP_GUARD_MAX",
                "ALERT_QUEUE_URL",
                "SSM_SCAN_PATH",
                "SSM_SECRET_NAME_PATTERN",
                "DB_PORTS",
                "MIN_BACKUP_RETENTION_DAYS",
            ],
        ),
        (
            "BackupVerifier",
            vec![
                "EXPECTED_VAULT_NAME",
                "EXPECTED_KMS_KEY_ARN",
                "DR_VAULT_ARN",
                "DR_KMS_KEY_ARN",
                "MIN_RETENTION_DAYS",
                "REQUIRE_VAULT_LOCK",
                "RPO_HOURS",
                "PROTECTED_RESOURCE_ARNS",
                "ALERT_QUEUE_URL",
                "MAX_RESTORE_MINUTES",
            ],
        ),
    ])
}

#[cfg(feature = "replication-validator")]
#[test]
fn the_validator_reaches_both_databases_over_tls_by_default_and_aurora_insists() {
    use replication_validator::db::SslMode;
    let template = load_template();
    let params = &template["Parameters"];
    assert_eq!(params["AuroraRequireSecureTransport"]["Default"], "ON");
    for side in ["SourceDbSslMode", "TargetDbSslMode"] {
        assert_eq!(params[side]["Default"], "required", "{side}");
        // Every value the stack accepts is one the function reads.
        let allowed: Vec<SslMode> = params[side]["AllowedValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            allowed,
            [
                SslMode::Disabled,
                SslMode::Required,
                SslMode::VerifyCa,
                SslMode::VerifyIdentity
            ]
        );
    }
    let vars =
        &template["Resources"]["ReplicationValidator"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars["TARGET_DB_SSL_MODE"],
        json!({"Ref": "TargetDbSslMode"})
    );
    assert_eq!(vars["SOURCE_DB_SSL_CA"], json!({"Ref": "SourceDbSslCa"}));
}

#[test]
fn each_function_gets_exactly_the_environment_it_reads() {
    let template = load_template();
    for (function, names) in contract() {
        let vars = template["Resources"][function]["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap();
        let got: BTreeSet<&str> = vars.keys().map(String::as_str).collect();
        let mut want: BTreeSet<&str> = names.into_iter().collect();
        want.extend(["MIGRATION_ID", "METRICS_NAMESPACE"]);
        assert_eq!(got, want, "{function}");
        assert_eq!(vars["MIGRATION_ID"], json!({"Ref": "MigrationId"}));
        assert_eq!(vars["METRICS_NAMESPACE"], "PaymentMigration");
    }
    // Every gate the weight shifter reads is an alarm of the template.
    let alarm_names: BTreeSet<String> = of_type(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, a)| {
            a["Properties"]["AlarmName"]["Fn::Sub"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let variables = &template["Resources"]["WeightShifter"]["Properties"]["Environment"];
    let gates = &variables["Variables"]["GATE_ALARMS"]["Fn::Join"][1];
    let gates = gates.as_array().unwrap();
    assert!(gates.len() >= 5);
    for gate in gates {
        let name = gate["Fn::Sub"].as_str().unwrap();
        assert!(alarm_names.contains(name), "gate {name} is not an alarm");
    }
}

#[test]
fn the_moto_copy_leaves_out_only_what_moto_lacks_and_every_reference_to_it() {
    let template = load_template();
    let moto = template_for_moto(&template);
    // The only resource removed for a reason other than its type is the dashboard.
    let by_type: BTreeSet<String> = resources(&template)
        .iter()
        .filter(|(_, r)| {
            migration_tests::moto_template::MOTO_UNSUPPORTED_TYPES
                .iter()
                .any(|(t, _)| r["Type"] == *t)
        })
        .map(|(id, _)| id.clone())
        .collect();
    let cascaded: Vec<&String> = moto
        .removed
        .iter()
        .filter(|id| !by_type.contains(*id))
        .collect();
    assert_eq!(cascaded, ["CutoverDashboard"]);
    let text = moto.template.to_string();
    for id in &moto.removed {
        assert!(
            !text.contains(&format!("\"Ref\":\"{id}\"")),
            "{id} still referenced"
        );
        assert!(
            !text.contains(&format!("\"Fn::GetAtt\":[\"{id}\"")),
            "{id} still referenced"
        );
    }
    for kept in [
        "ValidationQueue",
        "WeightCommandQueue",
        "AlertQueue",
        "MigrationKey",
        "HostedZone",
        "OnPremRecord",
        "AwsRecord",
        "Listener",
        "ReplicationValidator",
        "WeightShifter",
        "ComplianceRemediator",
        "BackupVerifier",
    ] {
        assert!(moto.template["Resources"].get(kept).is_some(), "{kept}");
    }
    // What moto cannot create, the local rehearsal supplies itself: these variables only.
    let lost = |function: &str| -> Vec<String> {
        let full = &template["Resources"][function]["Properties"]["Environment"]["Variables"];
        let kept = &moto.template["Resources"][function]["Properties"]["Environment"]["Variables"];
        full.as_object()
            .unwrap()
            .keys()
            .filter(|k| kept.get(k.as_str()).is_none())
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect()
    };
    assert_eq!(
        lost("ReplicationValidator"),
        [
            "SOURCE_DB_SECRET_ID",
            "TARGET_DB_HOST",
            "TARGET_DB_PORT",
            "TARGET_DB_SECRET_ID"
        ]
    );
    assert!(lost("WeightShifter").is_empty());
    assert!(lost("ComplianceRemediator").is_empty());
    assert_eq!(
        lost("BackupVerifier"),
        ["EXPECTED_VAULT_NAME", "PROTECTED_RESOURCE_ARNS"]
    );
    assert_eq!(moto.weighted_listeners.len(), 1);
    assert_eq!(
        moto.weighted_listeners[0].target_groups,
        [
            ("OnPremTargetGroup".to_owned(), 100),
            ("AwsTargetGroup".to_owned(), 0)
        ]
    );
}

// ------------------------------------------------------------------ deployment on moto

/// What the stack must be given, for a stack called `migration_id`.
fn parameters(
    migration_id: &str,
    artifacts: &str,
    peer_vpc: &str,
    certificate: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("MigrationId", migration_id.to_owned()),
        ("ArtifactsBucket", artifacts.to_owned()),
        ("PeerVpcId", peer_vpc.to_owned()),
        ("PeerVpcCidr", "172.30.0.0/16".to_owned()),
        ("SourceDbHost", "172.30.4.10".to_owned()),
        ("CertificateArn", certificate.to_owned()),
        ("OnPremTargetIp", "172.30.4.20".to_owned()),
        ("HostedZoneName", format!("{migration_id}.example.com")),
        ("OnPremRecordIp", "172.30.4.21".to_owned()),
        (
            "DataSyncAgentArn",
            "arn:aws:datasync:us-east-1:123456789012:agent/agent-0123456789abcdef0".to_owned(),
        ),
        ("NfsServerHostname", "172.30.4.30".to_owned()),
        (
            "DrVaultArn",
            "arn:aws:backup:us-west-2:123456789012:backup-vault:payments-dr".to_owned(),
        ),
        (
            "DrKmsKeyArn",
            "arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"
                .to_owned(),
        ),
        // The DMS service roles have fixed names, one per account: tests run side by side.
        ("CreateDmsServiceRoles", "false".to_owned()),
    ]
}

/// An empty but valid zip archive: moto reads the function packages from S3.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

struct Clients {
    cfn: aws_sdk_cloudformation::Client,
    ec2: aws_sdk_ec2::Client,
    s3: aws_sdk_s3::Client,
    acm: aws_sdk_acm::Client,
    sqs: aws_sdk_sqs::Client,
    ssm: aws_sdk_ssm::Client,
    kms: aws_sdk_kms::Client,
    route53: aws_sdk_route53::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

/// One A record as Route 53 lists it.
#[derive(Debug, Clone)]
struct Record {
    name: String,
    set_id: String,
    weight: i64,
    values: Vec<String>,
    alias: Option<String>,
}

/// What the deployed stack looks like, gathered before it is deleted.
#[derive(Debug, Default)]
struct Observed {
    outputs: HashMap<String, String>,
    queues: HashMap<String, HashMap<String, String>>,
    parameters: HashMap<String, (String, String)>,
    key_enabled: bool,
    key_aliases: Vec<String>,
    key_rotation: bool,
    zone_name: String,
    records: Vec<Record>,
    listener: (String, i32, Vec<(String, i32)>),
    group_types: Vec<String>,
}

type Failure = Box<dyn std::error::Error>;

impl Observed {
    fn output(&self, key: &str) -> Result<&String, Failure> {
        self.outputs
            .get(key)
            .ok_or_else(|| format!("the stack has no output {key}").into())
    }
}

async fn observe_queues(c: &Clients, seen: &mut Observed) -> Result<(), Failure> {
    for key in [
        "ValidationQueueUrl",
        "WeightCommandQueueUrl",
        "AlertQueueUrl",
        "ValidationDeadLetterQueueUrl",
        "WeightCommandDeadLetterQueueUrl",
        "AlertDeadLetterQueueUrl",
    ] {
        let attrs = c
            .sqs
            .get_queue_attributes()
            .queue_url(seen.output(key)?)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await?;
        let attrs = attrs
            .attributes()
            .ok_or("no queue attributes")?
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
        seen.queues.insert(key.to_owned(), attrs);
    }
    Ok(())
}

async fn observe_parameters_and_key(c: &Clients, seen: &mut Observed) -> Result<(), Failure> {
    for key in [
        "WeightPlanParameterName",
        "WeightStateParameterName",
        "FreezeParameterName",
    ] {
        let p = c.ssm.get_parameter().name(seen.output(key)?).send().await?;
        let p = p.parameter().ok_or("no parameter")?;
        let kind = p.r#type().map(ParameterType::as_str).unwrap_or_default();
        let value = p.value().unwrap_or_default().to_owned();
        seen.parameters
            .insert(key.to_owned(), (kind.to_owned(), value));
    }
    let key_arn = seen.output("MigrationKeyArn")?.clone();
    let key = c.kms.describe_key().key_id(&key_arn).send().await?;
    seen.key_enabled = key
        .key_metadata()
        .is_some_and(aws_sdk_kms::types::KeyMetadata::enabled);
    let aliases = c.kms.list_aliases().key_id(&key_arn).send().await?;
    seen.key_aliases = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_owned))
        .collect();
    let rotation = c
        .kms
        .get_key_rotation_status()
        .key_id(&key_arn)
        .send()
        .await?;
    seen.key_rotation = rotation.key_rotation_enabled();
    Ok(())
}

async fn observe_dns(c: &Clients, seen: &mut Observed) -> Result<(), Failure> {
    let zone_id = seen.output("HostedZoneId")?.clone();
    let zone = c.route53.get_hosted_zone().id(&zone_id).send().await?;
    seen.zone_name = zone
        .hosted_zone()
        .map(|z| z.name().to_owned())
        .unwrap_or_default();
    let records = c
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await?;
    for r in records.resource_record_sets() {
        if *r.r#type() == RrType::A {
            seen.records.push(Record {
                name: r.name().trim_end_matches('.').to_owned(),
                set_id: r.set_identifier().unwrap_or_default().to_owned(),
                weight: r.weight().unwrap_or(-1),
                values: r
                    .resource_records()
                    .iter()
                    .map(|v| v.value().to_owned())
                    .collect(),
                alias: r
                    .alias_target()
                    .map(|a| a.dns_name().trim_end_matches('.').to_lowercase()),
            });
        }
    }
    seen.records.sort_by(|a, b| a.set_id.cmp(&b.set_id));
    Ok(())
}

async fn observe_listener(c: &Clients, seen: &mut Observed) -> Result<(), Failure> {
    let listeners = c
        .elb
        .describe_listeners()
        .listener_arns(seen.output("ListenerArn")?)
        .send()
        .await?;
    let l = listeners.listeners().first().ok_or("no listener")?;
    let action = l.default_actions().first().ok_or("no default action")?;
    if action.r#type() != Some(&ActionTypeEnum::Forward) {
        return Err("the default action does not forward".into());
    }
    let groups = action
        .forward_config()
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
    let protocol = l.protocol().map(|p| p.as_str().to_owned());
    seen.listener = (
        protocol.unwrap_or_default(),
        l.port().unwrap_or_default(),
        groups,
    );
    let groups = c
        .elb
        .describe_target_groups()
        .target_group_arns(seen.output("OnPremTargetGroupArn")?)
        .target_group_arns(seen.output("AwsTargetGroupArn")?)
        .send()
        .await?;
    for g in groups.target_groups() {
        let kind = g.target_type().map(|t| t.as_str().to_owned());
        seen.group_types.push(kind.unwrap_or_default());
    }
    Ok(())
}

async fn observe(c: &Clients, stack: &str) -> Result<Observed, Failure> {
    let mut seen = Observed::default();
    let described = c.cfn.describe_stacks().stack_name(stack).send().await?;
    let s = described.stacks().first().ok_or("no stack")?;
    for o in s.outputs() {
        seen.outputs.insert(
            o.output_key().unwrap_or_default().to_owned(),
            o.output_value().unwrap_or_default().to_owned(),
        );
    }
    observe_queues(c, &mut seen).await?;
    observe_parameters_and_key(c, &mut seen).await?;
    observe_dns(c, &mut seen).await?;
    observe_listener(c, &mut seen).await?;
    Ok(seen)
}

async fn wait_for_creation(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> StackStatus {
    for _ in 0..60 {
        let described = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        let status = described.stacks()[0].stack_status().unwrap().clone();
        if status != StackStatus::CreateInProgress {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    StackStatus::CreateInProgress
}

const CRATES: [&str; 4] = [
    "replication-validator",
    "weight-shifter",
    "compliance-remediator",
    "backup-verifier",
];

/// What a real account holds before the stack: the peer VPC, the artifacts bucket with
/// the four packages, and the listener's certificate.
struct Prerequisites {
    peer_vpc: String,
    artifacts: String,
    certificate: String,
}

impl Prerequisites {
    async fn create(c: &Clients, migration_id: &str) -> Self {
        let peer = c
            .ec2
            .create_vpc()
            .cidr_block("172.30.0.0/16")
            .send()
            .await
            .unwrap();
        let peer_vpc = peer.vpc().unwrap().vpc_id().unwrap().to_owned();
        let artifacts = unique("artifacts");
        c.s3.create_bucket()
            .bucket(&artifacts)
            .send()
            .await
            .unwrap();
        for crate_name in CRATES {
            c.s3.put_object()
                .bucket(&artifacts)
                .key(format!("{crate_name}/bootstrap.zip"))
                .body(EMPTY_ZIP.to_vec().into())
                .send()
                .await
                .unwrap();
        }
        let certificate = c
            .acm
            .request_certificate()
            .domain_name(format!("api.{migration_id}.example.com"))
            .send()
            .await
            .unwrap();
        let certificate = certificate.certificate_arn().unwrap().to_owned();
        Self {
            peer_vpc,
            artifacts,
            certificate,
        }
    }

    async fn delete(&self, c: &Clients) {
        for crate_name in CRATES {
            let key = format!("{crate_name}/bootstrap.zip");
            let deleted = c.s3.delete_object().bucket(&self.artifacts).key(key);
            deleted.send().await.ok();
        }
        c.s3.delete_bucket()
            .bucket(&self.artifacts)
            .send()
            .await
            .ok();
        let cert = c
            .acm
            .delete_certificate()
            .certificate_arn(&self.certificate);
        cert.send().await.ok();
        c.ec2.delete_vpc().vpc_id(&self.peer_vpc).send().await.ok();
    }
}

fn assert_queues(seen: &Observed, migration_id: &str) {
    let key_arn = &seen.outputs["MigrationKeyArn"];
    assert!(key_arn.starts_with("arn:aws:kms:"), "{key_arn}");
    for (queue, dlq, visibility) in [
        ("ValidationQueueUrl", "ValidationDeadLetterQueueUrl", "1800"),
        (
            "WeightCommandQueueUrl",
            "WeightCommandDeadLetterQueueUrl",
            "360",
        ),
        ("AlertQueueUrl", "AlertDeadLetterQueueUrl", "300"),
    ] {
        let attrs = &seen.queues[queue];
        let redrive: Value = serde_json::from_str(&attrs["RedrivePolicy"]).unwrap();
        assert_eq!(
            redrive["deadLetterTargetArn"].as_str(),
            Some(seen.queues[dlq]["QueueArn"].as_str()),
            "{queue}"
        );
        assert_eq!(
            redrive["maxReceiveCount"].to_string().trim_matches('"'),
            "5"
        );
        assert_eq!(&attrs["KmsMasterKeyId"], key_arn, "{queue}");
        assert_eq!(&seen.queues[dlq]["KmsMasterKeyId"], key_arn, "{dlq}");
        assert_eq!(attrs["VisibilityTimeout"], visibility, "{queue}");
    }
    assert_eq!(seen.queues["WeightCommandQueueUrl"]["FifoQueue"], "true");
    assert_eq!(
        seen.queues["WeightCommandDeadLetterQueueUrl"]["FifoQueue"],
        "true"
    );
    let commands = &seen.outputs["WeightCommandQueueUrl"];
    assert!(commands.ends_with(&format!("/{migration_id}-weight-commands.fifo")));
}

fn assert_parameters_and_key(seen: &Observed, migration_id: &str) {
    let (kind, plan) = &seen.parameters["WeightPlanParameterName"];
    assert_eq!(kind, "String");
    let plan: Vec<Value> = serde_json::from_str(plan).unwrap();
    let steps: Vec<u64> = plan
        .iter()
        .map(|s| s["aws_percent"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [10, 25, 50, 75, 100]);
    assert!(plan.iter().all(|s| s["hold_seconds"].as_u64() == Some(300)));
    assert_eq!(
        seen.outputs["WeightPlanParameterName"],
        format!("/{migration_id}/weight-shifter/plan")
    );
    let empty = ("String".to_owned(), "{}".to_owned());
    assert_eq!(seen.parameters["WeightStateParameterName"], empty);
    assert_eq!(seen.parameters["FreezeParameterName"], empty);
    assert_eq!(seen.key_aliases, [format!("alias/{migration_id}")]);
    assert!(seen.key_enabled);
    assert!(seen.key_rotation);
}

fn assert_traffic(seen: &Observed, migration_id: &str) {
    // Route 53 ends a zone name with a dot; moto does not.
    let zone = format!("{migration_id}.example.com");
    assert_eq!(seen.zone_name.trim_end_matches('.'), zone);
    let record = format!("api.{migration_id}.example.com");
    assert_eq!(seen.outputs["RecordName"], record);
    assert_eq!(seen.records.len(), 2, "{:?}", seen.records);
    let (aws, onprem) = (&seen.records[0], &seen.records[1]);
    assert_eq!(
        (aws.name.as_str(), aws.set_id.as_str(), aws.weight),
        (record.as_str(), "aws", 0)
    );
    let balancer = seen.outputs["LoadBalancerDnsName"].to_lowercase();
    assert_eq!(aws.alias.as_deref(), Some(balancer.trim_end_matches('.')));
    assert_eq!(
        (onprem.name.as_str(), onprem.set_id.as_str(), onprem.weight),
        (record.as_str(), "on-premises", 100)
    );
    assert_eq!(onprem.values, ["172.30.4.21"]);

    let (protocol, port, groups) = &seen.listener;
    assert_eq!((protocol.as_str(), *port), ("HTTPS", 443));
    let want = [
        (seen.outputs["OnPremTargetGroupArn"].clone(), 100),
        (seen.outputs["AwsTargetGroupArn"].clone(), 0),
    ];
    assert_eq!(groups, &want);
    assert_eq!(seen.group_types, ["ip", "ip"]);
}

#[tokio::test]
async fn the_stack_deploys_on_moto_with_the_queues_parameters_key_zone_and_listener_wired() {
    let config = migration_tests::sdk_config().await;
    let c = Clients {
        cfn: aws_sdk_cloudformation::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        s3: aws_sdk_s3::Client::new(&config),
        acm: aws_sdk_acm::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
        kms: aws_sdk_kms::Client::new(&config),
        route53: aws_sdk_route53::Client::new(&config),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
    };
    let migration_id = unique("t");
    let stack = unique("migration");
    let before = Prerequisites::create(&c, &migration_id).await;

    let moto = template_for_moto(&load_template());
    let mut create = c
        .cfn
        .create_stack()
        .stack_name(&stack)
        .template_body(moto.template.to_string())
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    let given = parameters(
        &migration_id,
        &before.artifacts,
        &before.peer_vpc,
        &before.certificate,
    );
    for (k, v) in given {
        let p = Parameter::builder().parameter_key(k).parameter_value(v);
        create = create.parameters(p.build());
    }
    let created = create.send().await;
    let status = match &created {
        Ok(_) => wait_for_creation(&c.cfn, &stack).await,
        Err(_) => StackStatus::CreateFailed,
    };
    let restored = restore_weighted_listeners(&c.cfn, &c.elb, &stack, &moto).await;
    let observed = observe(&c, &stack).await;

    c.cfn.delete_stack().stack_name(&stack).send().await.ok();
    before.delete(&c).await;

    created.unwrap();
    assert_eq!(status, StackStatus::CreateComplete);
    restored.unwrap();
    let seen = observed.unwrap();
    assert_queues(&seen, &migration_id);
    assert_parameters_and_key(&seen, &migration_id);
    assert_traffic(&seen, &migration_id);
    // The four functions exist: each output is the Ref of a function moto created.
    for (output, crate_name) in [
        ("ReplicationValidatorName", "replication-validator"),
        ("WeightShifterName", "weight-shifter"),
        ("ComplianceRemediatorName", "compliance-remediator"),
        ("BackupVerifierName", "backup-verifier"),
    ] {
        assert_eq!(seen.outputs[output], format!("{migration_id}-{crate_name}"));
    }
}

#[test]
fn the_deploy_script_parses_and_refuses_to_run_without_its_arguments() {
    let script = migration_tests::repo_root().join("scripts/deploy.sh");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for args in [&[][..], &["--stack", "payments"][..], &["--bogus"][..]] {
        let run = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("usage: scripts/deploy.sh --stack NAME"),
            "{stderr}"
        );
        assert!(run.stdout.is_empty(), "{args:?}");
    }
}
