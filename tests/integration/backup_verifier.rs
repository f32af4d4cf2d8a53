//! The backup verifier against the local stack, driven by the sample events in
//! `events/backup-verifier/`.
//!
//! moto does not serve AWS Backup's recovery-point, vault and restore-job calls, so each
//! test starts its own wire-level fake of the AWS Backup REST-JSON API
//! (`scripts/backup_fake.py`, on a free 127.0.0.1 port) and seeds it with the state the
//! test needs. The verifier's real SDK client talks to it: the test only sets the backup
//! client's endpoint URL, which is what `AWS_ENDPOINT_URL_BACKUP` does in a deployment.
//! SQS (the alert queue) and KMS (the expected key) are moto's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use backup_verifier::checks::{Check, Outcome};
use backup_verifier::config::{self as vars, Config};
use backup_verifier::report::metric_values;
use backup_verifier::{Deps, Error, Report, handle};
use migration_shared::config::Env;
use migration_tests::{event, repo_root, sdk_config, unique};
use serde_json::{Value, json};

const VAULT: &str = "payments-vault";
const DR_VAULT: &str = "arn:aws:backup:us-west-2:123456789012:backup-vault:payments-dr";
const DR_KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/0f1e2d3c-dr";
const AURORA: &str = "arn:aws:rds:us-east-1:123456789012:cluster:payments-aurora";
const FILE_SHARE: &str = "arn:aws:s3:::payments-file-share-destination";
const PLAN: &str =
    "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:payments_weekly-5c1d2e3f";

/// One fake AWS Backup endpoint, stopped when dropped.
struct BackupFake {
    child: Child,
    port: u16,
}

impl BackupFake {
    fn start() -> Self {
        let venv = std::env::var("MIGRATION_VENV").expect("MIGRATION_VENV is set by the stack");
        let mut child = Command::new(format!("{venv}/bin/python"))
            .arg(repo_root().join("scripts/backup_fake.py"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/backup_fake.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the fake printed no port: {line:?}"));
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A plain HTTP/1.1 exchange with the fake's control endpoints.
    fn control(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = body.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, payload) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(payload).unwrap()
    }

    fn seed(&self, state: &Value) {
        self.control("POST", "/_fake/state", state);
    }

    /// The operations the verifier called, in order, with their labels.
    fn calls(&self) -> Vec<(String, Vec<String>)> {
        let calls = self.control("GET", "/_fake/calls", &Value::Null);
        calls
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let labels = c["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_owned())
                    .collect();
                (c["operation"].as_str().unwrap().to_owned(), labels)
            })
            .collect()
    }
}

impl Drop for BackupFake {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The moto resources one test uses, and the settings that point at them.
struct World {
    fake: BackupFake,
    deps: Deps,
    sqs: aws_sdk_sqs::Client,
    kms: aws_sdk_kms::Client,
    queue_url: String,
    key_arn: String,
    /// moto's `DisableKey` and `ScheduleKeyDeletion` take the key's id, not its ARN.
    key_id: String,
}

impl World {
    async fn new(overrides: &[(&str, &str)]) -> Self {
        let sdk = sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let kms = aws_sdk_kms::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("backup-alerts"))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        let key = kms
            .create_key()
            .description("backups")
            .send()
            .await
            .unwrap();
        let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
        let key_id = key.key_metadata().unwrap().key_id().to_owned();
        let alias = format!("alias/{}", unique("payments-backup"));
        kms.create_alias()
            .alias_name(&alias)
            .target_key_id(&key_arn)
            .send()
            .await
            .unwrap();
        let alias_arn = format!("arn:aws:kms:us-east-1:123456789012:{alias}");

        let mut pairs: Vec<(String, String)> = [
            (vars::MIGRATION_ID, "cutover-test"),
            (vars::EXPECTED_VAULT_NAME, VAULT),
            (vars::EXPECTED_KMS_KEY_ARN, alias_arn.as_str()),
            (vars::DR_VAULT_ARN, DR_VAULT),
            (vars::DR_KMS_KEY_ARN, DR_KEY),
            (vars::MIN_RETENTION_DAYS, "35"),
            (vars::RPO_HOURS, "24"),
            (vars::MAX_RESTORE_MINUTES, "60"),
            (vars::ALERT_QUEUE_URL, queue_url.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        pairs.push((
            vars::PROTECTED_RESOURCE_ARNS.to_owned(),
            format!("{AURORA},{FILE_SHARE}"),
        ));
        pairs.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config = Config::from_env(&Env::from_pairs(pairs)).unwrap();

        let fake = BackupFake::start();
        let backup = aws_sdk_backup::config::Builder::from(&sdk)
            .endpoint_url(fake.url())
            .build();
        let deps = Deps::with_backup_config(config, &sdk, backup);
        Self {
            fake,
            deps,
            sqs,
            kms,
            queue_url,
            key_arn,
            key_id,
        }
    }

    /// Every alert on the queue, parsed, sorted by check and subject.
    async fn alerts(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                all.push(serde_json::from_str::<Value>(m.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        all.sort_by_key(|a| (a["details"]["check"].to_string(), a["subject"].to_string()));
        all
    }

    async fn clean_up(self) {
        self.sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await
            .ok();
        self.kms
            .schedule_key_deletion()
            .key_id(&self.key_id)
            .pending_window_in_days(7)
            .send()
            .await
            .ok();
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

const DAY: f64 = 86_400.0;

fn sample(case: &str) -> Value {
    event("backup-verifier", case)
}

/// The recovery point the completed backup job's event names, in its resources.
fn completed_point() -> String {
    sample("backup-job-completed")["resources"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A recovery point as `DescribeRecoveryPoint` returns it.
fn point(arn: &str, vault: &str, resource: &str, key: &str, created: f64) -> Value {
    json!({
        "RecoveryPointArn": arn,
        "BackupVaultName": vault,
        "BackupVaultArn": format!("arn:aws:backup:us-east-1:123456789012:backup-vault:{vault}"),
        "ResourceArn": resource,
        "ResourceType": "Aurora",
        "Status": "COMPLETED",
        "IsEncrypted": true,
        "EncryptionKeyArn": key,
        "CreationDate": created,
        "CompletionDate": created + 600.0,
        "Lifecycle": {"DeleteAfterDays": 35},
        "CalculatedLifecycle": {"DeleteAt": created + 35.0 * DAY},
        "StorageClass": "WARM"
    })
}

fn locked_vault() -> Value {
    json!({ VAULT: {"BackupVaultName": VAULT, "Locked": true, "MinRetentionDays": 35,
                    "EncryptionKeyArn": "arn:aws:kms:us-east-1:123456789012:key/any"} })
}

fn outcomes(report: &Report) -> Vec<(Check, bool)> {
    report
        .checks
        .iter()
        .map(|r| (r.check, r.outcome.passed()))
        .collect()
}

#[tokio::test]
async fn a_completed_backup_with_a_sound_recovery_point_passes_every_check() {
    let world = World::new(&[]).await;
    let rp = completed_point();
    world.fake.seed(&json!({
        "vaults": locked_vault(),
        "recoveryPoints": [point(&rp, VAULT, AURORA, &world.key_arn, now_secs() - 3600.0)],
    }));

    let report = handle(sample("backup-job-completed"), &world.deps)
        .await
        .unwrap();

    assert_eq!(
        outcomes(&report),
        [
            (Check::BackupJob, true),
            (Check::VaultLock, true),
            (Check::RecoveryPoint, true),
            (Check::Vault, true),
            (Check::Encryption, true),
            (Check::Retention, true),
        ]
    );
    assert_eq!(report.failed, 0);
    assert_eq!(metric_values(&report.checks)[0], ("BackupCheckFailed", 0));
    let encryption = report
        .checks
        .iter()
        .find(|r| r.check == Check::Encryption)
        .unwrap();
    assert_eq!(
        encryption.outcome,
        Outcome::Passed(format!("encrypted with {}", world.key_arn)),
        "the alias resolves to the key's ARN through KMS"
    );
    assert!(world.alerts().await.is_empty());
    let calls = world.fake.calls();
    assert_eq!(
        calls,
        [
            ("DescribeBackupVault".to_owned(), vec![VAULT.to_owned()]),
            (
                "DescribeRecoveryPoint".to_owned(),
                vec![VAULT.to_owned(), rp.clone()]
            ),
        ]
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_completed_job_that_names_no_recovery_point_is_looked_up_and_checked() {
    let world = World::new(&[]).await;
    let rp = completed_point();
    let mut event = sample("backup-job-completed");
    event["resources"] = json!([]);
    let job_id = event["detail"]["backupJobId"].as_str().unwrap().to_owned();
    world.fake.seed(&json!({
        "vaults": locked_vault(),
        "backupJobs": { &job_id: {"BackupJobId": &job_id, "State": "COMPLETED",
                                  "RecoveryPointArn": &rp, "BackupVaultName": VAULT} },
        "recoveryPoints": [point(&rp, VAULT, AURORA, &world.key_arn, now_secs() - 60.0)],
    }));

    let report = handle(event.clone(), &world.deps).await.unwrap();

    assert_eq!(report.failed, 0, "{report:?}");
    let operations: Vec<String> = world.fake.calls().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        operations,
        [
            "DescribeBackupVault",
            "DescribeBackupJob",
            "DescribeRecoveryPoint"
        ]
    );

    world.fake.seed(&json!({
        "vaults": locked_vault(),
        "backupJobs": { &job_id: {"BackupJobId": &job_id, "State": "COMPLETED"} },
    }));
    let report = handle(event, &world.deps).await.unwrap();
    assert_eq!(report.failed, 4);
    assert_eq!(
        report.checks[2].outcome,
        Outcome::Failed(format!(
            "neither the event nor AWS Backup names the recovery point of backup job {job_id}"
        ))
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_wrong_key_a_short_lifecycle_and_an_unlocked_vault_each_fail_and_alert() {
    let world = World::new(&[]).await;
    let rp = completed_point();
    let mut bad = point(
        &rp,
        VAULT,
        AURORA,
        "arn:aws:kms:us-east-1:123456789012:key/someone-elses",
        now_secs() - 3600.0,
    );
    bad["Lifecycle"] = json!({"DeleteAfterDays": 7});
    world.fake.seed(&json!({
        "vaults": { VAULT: {"BackupVaultName": VAULT, "Locked": false} },
        "recoveryPoints": [bad],
    }));

    let report = handle(sample("backup-job-completed"), &world.deps)
        .await
        .unwrap();

    assert_eq!(report.failed, 3);
    assert_eq!(report.alerts_sent, 3);
    let alerts = world.alerts().await;
    let summary: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["details"]["check"].as_str().unwrap(),
                a["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let wrong_key = format!(
        "the recovery point is encrypted with \
         arn:aws:kms:us-east-1:123456789012:key/someone-elses, not the expected key {}",
        world.key_arn
    );
    assert_eq!(
        summary,
        [
            ("Encryption", wrong_key.as_str()),
            (
                "Retention",
                "lifecycle deletes the recovery point after 7 days; the policy asks for \
                 at least 35"
            ),
            (
                "VaultLock",
                "the vault is not locked and the policy requires a lock"
            ),
        ]
    );
    assert!(alerts.iter().all(|a| a["function"] == "backup-verifier"
        && a["migration_id"] == "cutover-test"
        && a["details"]["detail_type"] == "Backup Job State Change"
        && a["kind"] == "check_failed"));
    let metrics = metric_values(&report.checks);
    assert!(metrics.contains(&("BackupCheckFailed", 3)), "{metrics:?}");
    assert!(
        metrics.contains(&("EncryptionCheckFailed", 1)),
        "{metrics:?}"
    );
    assert!(
        metrics.contains(&("RecoveryPointCheckFailed", 0)),
        "{metrics:?}"
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_disabled_key_or_another_vault_fails_and_an_unrequired_lock_is_not_read() {
    let world = World::new(&[(vars::REQUIRE_VAULT_LOCK, "false")]).await;
    world
        .kms
        .disable_key()
        .key_id(&world.key_id)
        .send()
        .await
        .unwrap();
    let rp = completed_point();
    let mut event = sample("backup-job-completed");
    event["detail"]["backupVaultName"] = json!("scratch-vault");
    world.fake.seed(&json!({
        "recoveryPoints": [point(&rp, "scratch-vault", AURORA, &world.key_arn, now_secs())],
    }));

    let report = handle(event, &world.deps).await.unwrap();

    let failed: Vec<(Check, &str)> = report
        .checks
        .iter()
        .filter(|r| !r.outcome.passed())
        .map(|r| (r.check, r.outcome.reason()))
        .collect();
    let disabled = format!(
        "the expected key {} is Disabled, so recovery points under it cannot be restored",
        world.key_arn
    );
    assert_eq!(
        failed,
        [
            (
                Check::Vault,
                "the recovery point is in vault scratch-vault, not payments-vault"
            ),
            (Check::Encryption, disabled.as_str()),
        ]
    );
    assert!(
        world
            .fake
            .calls()
            .iter()
            .all(|(op, _)| op != "DescribeBackupVault")
    );
    world.clean_up().await;
}

#[tokio::test]
async fn when_aws_backup_refuses_the_call_the_checks_fail_loudly_and_the_handler_errs() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({
        "vaults": locked_vault(),
        "failures": {"DescribeRecoveryPoint": {"status": 403, "code": "AccessDeniedException",
                     "message": "not authorized to perform backup:DescribeRecoveryPoint"}},
    }));

    let err = handle(sample("backup-job-completed"), &world.deps)
        .await
        .unwrap_err();

    let rp = completed_point();
    match &err {
        Error::Unverified { count, first } => {
            assert_eq!(*count, 4);
            assert_eq!(
                first,
                &format!(
                    "failed to describe recovery point {rp} in vault payments-vault: \
                     AccessDeniedException: not authorized to perform \
                     backup:DescribeRecoveryPoint"
                )
            );
        }
        other => panic!("expected unverified checks, got {other:?}"),
    }
    assert_eq!(err.error_type(), "Unverified");
    let alerts = world.alerts().await;
    let checks: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["details"]["check"].as_str().unwrap(),
                a["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("Encryption", "check_unverified"),
            ("RecoveryPoint", "check_unverified"),
            ("Retention", "check_unverified"),
            ("Vault", "check_unverified"),
        ]
    );
    world.clean_up().await;
}

#[tokio::test]
async fn an_unknown_key_and_a_missing_vault_leave_their_checks_unverified() {
    let world = World::new(&[(
        vars::EXPECTED_KMS_KEY_ARN,
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    )])
    .await;
    let rp = completed_point();
    world.fake.seed(&json!({
        "recoveryPoints": [point(&rp, VAULT, AURORA, &world.key_arn, now_secs())],
    }));

    let err = handle(sample("backup-job-completed"), &world.deps)
        .await
        .unwrap_err();

    let Error::Unverified { count, first } = &err else {
        panic!("expected unverified checks, got {err:?}");
    };
    assert_eq!(*count, 2);
    assert!(
        first.starts_with(
            "failed to describe backup vault payments-vault: ResourceNotFoundException: "
        ),
        "{first}"
    );
    let alerts = world.alerts().await;
    let checks: Vec<&str> = alerts
        .iter()
        .map(|a| a["details"]["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["Encryption", "VaultLock"]);
    assert!(
        alerts[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("failed to describe kms key arn:aws:kms:us-east-1:123456789012:key/0000"),
        "{alerts:?}"
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_failed_backup_job_alerts_with_its_status_message_and_reads_nothing() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({}));

    let report = handle(sample("backup-job-failed"), &world.deps)
        .await
        .unwrap();

    assert_eq!(outcomes(&report), [(Check::BackupJob, false)]);
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["subject"], "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7");
    assert_eq!(
        alerts[0]["details"]["event_id"],
        "a2b9c4d1-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
    );
    assert_eq!(alerts[0]["details"]["event_time"], "2026-12-04T02:15:26Z");
    assert_eq!(
        alerts[0]["reason"],
        "backup job ended FAILED: Backup job failed because the IAM role cannot call \
         rds:CreateDBClusterSnapshot."
    );
    assert!(world.fake.calls().is_empty());
    world.clean_up().await;
}

#[tokio::test]
async fn an_expired_job_with_null_fields_still_alerts() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({}));

    let report = handle(sample("backup-job-expired-null-fields"), &world.deps)
        .await
        .unwrap();

    assert_eq!(outcomes(&report), [(Check::BackupJob, false)]);
    assert_eq!(
        world.alerts().await[0]["reason"],
        "backup job ended EXPIRED: AWS Backup gave no status message"
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_running_job_is_not_checked_yet() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({}));

    let report = handle(sample("backup-job-running"), &world.deps)
        .await
        .unwrap();

    assert!(report.checks.is_empty());
    assert!(world.alerts().await.is_empty());
    assert!(world.fake.calls().is_empty());
    world.clean_up().await;
}

fn dr_copy(key: &str, encrypted: bool) -> Value {
    let copied = sample("copy-job-completed")["detail"]["destinationRecoveryPointArn"].clone();
    json!({
        "RecoveryPointArn": copied,
        "BackupVaultName": "payments-dr",
        "Status": "COMPLETED",
        "IsEncrypted": encrypted,
        "EncryptionKeyArn": key,
        "CreationDate": now_secs(),
    })
}

#[tokio::test]
async fn a_copy_that_reached_the_dr_vault_encrypted_passes() {
    let world = World::new(&[]).await;
    world
        .fake
        .seed(&json!({ "recoveryPoints": [dr_copy(DR_KEY, true)] }));

    let report = handle(sample("copy-job-completed"), &world.deps)
        .await
        .unwrap();

    assert_eq!(
        outcomes(&report),
        [(Check::CopyJob, true), (Check::CopyEncryption, true)]
    );
    let calls = world.fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "DescribeRecoveryPoint");
    assert_eq!(calls[0].1[0], "payments-dr");
    assert!(world.alerts().await.is_empty());
    world.clean_up().await;
}

#[tokio::test]
async fn a_copy_under_another_key_or_to_another_vault_fails() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({
        "recoveryPoints": [dr_copy("arn:aws:kms:us-west-2:123456789012:key/other", true)]
    }));
    let report = handle(sample("copy-job-completed"), &world.deps)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&report),
        [(Check::CopyJob, true), (Check::CopyEncryption, false)]
    );

    let elsewhere = World::new(&[(
        vars::DR_VAULT_ARN,
        "arn:aws:backup:eu-west-1:123456789012:backup-vault:payments-dr",
    )])
    .await;
    elsewhere.fake.seed(&json!({}));
    let report = handle(sample("copy-job-completed"), &elsewhere.deps)
        .await
        .unwrap();
    assert_eq!(
        report.checks[0].outcome,
        Outcome::Failed(format!(
            "the copy went to {DR_VAULT}, not the disaster-recovery vault \
             arn:aws:backup:eu-west-1:123456789012:backup-vault:payments-dr"
        ))
    );
    assert_eq!(report.failed, 2);
    assert!(elsewhere.fake.calls().is_empty());
    world.clean_up().await;
    elsewhere.clean_up().await;
}

#[tokio::test]
async fn a_copy_that_cannot_be_read_in_the_dr_vault_fails_loudly() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({
        "recoveryPoints": [dr_copy(DR_KEY, true)],
        "failures": {"DescribeRecoveryPoint": {"status": 403, "code": "AccessDeniedException",
                     "message": "the DR vault's access policy does not allow this account"}},
    }));

    let err = handle(sample("copy-job-completed"), &world.deps)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Unverified { count: 1, first }
            if first.ends_with("AccessDeniedException: the DR vault's access policy does \
                not allow this account")),
        "{err:?}"
    );
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["details"]["check"], "CopyEncryption");
    assert_eq!(alerts[0]["kind"], "check_unverified");
    world.clean_up().await;
}

#[tokio::test]
async fn a_failed_copy_with_an_empty_destination_alerts_with_its_message() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({}));

    let report = handle(sample("copy-job-failed"), &world.deps)
        .await
        .unwrap();

    assert_eq!(outcomes(&report), [(Check::CopyJob, false)]);
    assert_eq!(
        world.alerts().await[0]["reason"],
        "copy job ended FAILED: Access denied to the destination vault's KMS key"
    );
    world.clean_up().await;
}

const RESTORE_ID: &str = "AB123456-78C9-4123-856D-789012E34567";

fn restore(minutes: f64, deletion: Option<&str>) -> Value {
    let start = now_secs() - 3.0 * 3600.0;
    let mut job = json!({
        "RestoreJobId": RESTORE_ID,
        "Status": "COMPLETED",
        "CreationDate": start,
        "CompletionDate": start + minutes * 60.0,
        "CreatedResourceArn":
            "arn:aws:rds:us-east-1:123456789012:cluster:awsbackup-restore-test-ab123456",
        "CreatedBy": {"RestoreTestingPlanArn": PLAN},
        "ResourceType": "Aurora",
    });
    if let Some(status) = deletion {
        job["DeletionStatus"] = json!(status);
        job["DeletionStatusMessage"] = json!("DBClusterNotFound while deleting");
    }
    json!({ "restoreJobs": { RESTORE_ID: job } })
}

fn validation(world: &World) -> Vec<Value> {
    let calls = world
        .fake
        .control("GET", "/_fake/calls", &Value::Null)
        .as_array()
        .unwrap()
        .clone();
    calls
        .into_iter()
        .filter(|c| c["operation"] == "PutRestoreValidationResult")
        .map(|c| c["body"].clone())
        .collect()
}

#[tokio::test]
async fn a_restore_test_within_time_is_reported_successful() {
    let world = World::new(&[]).await;
    world.fake.seed(&restore(35.0, Some("DELETING")));

    let report = handle(sample("restore-job-completed-test"), &world.deps)
        .await
        .unwrap();

    assert_eq!(
        outcomes(&report),
        [
            (Check::RestoreJob, true),
            (Check::RestoreValidation, true),
            (Check::RestoreCleanup, true),
        ]
    );
    assert_eq!(
        validation(&world),
        [json!({"ValidationStatus": "SUCCESSFUL",
                "ValidationStatusMessage": "restored in 35 minutes, within 60"})]
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_slow_restore_test_is_reported_failed_and_a_resource_left_behind_alerts() {
    let world = World::new(&[]).await;
    world.fake.seed(&restore(95.0, Some("FAILED")));

    let report = handle(sample("restore-job-completed-test"), &world.deps)
        .await
        .unwrap();

    assert_eq!(
        outcomes(&report),
        [
            (Check::RestoreJob, false),
            (Check::RestoreValidation, true),
            (Check::RestoreCleanup, false),
        ]
    );
    assert_eq!(
        validation(&world),
        [json!({"ValidationStatus": "FAILED",
                "ValidationStatusMessage": "the restore took 95 minutes; the limit is 60"})]
    );
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[0]["reason"],
        "arn:aws:rds:us-east-1:123456789012:cluster:awsbackup-restore-test-ab123456 was left \
         behind: AWS Backup failed to delete it: DBClusterNotFound while deleting"
    );
    assert_eq!(alerts[1]["details"]["check"], "RestoreJob");
    world.clean_up().await;
}

#[tokio::test]
async fn a_validation_result_aws_backup_refuses_fails_loudly() {
    let world = World::new(&[]).await;
    let mut state = restore(20.0, None);
    state["failures"] = json!({"PutRestoreValidationResult": {"status": 400,
        "code": "InvalidRequestException", "message": "the validation window has closed"}});
    world.fake.seed(&state);

    let err = handle(sample("restore-job-completed-test"), &world.deps)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Unverified { count: 1, first }
            if first == &format!("failed to report the validation result of restore job \
                {RESTORE_ID}: InvalidRequestException: the validation window has closed")),
        "{err:?}"
    );
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["details"]["check"], "RestoreValidation");
    world.clean_up().await;
}

#[tokio::test]
async fn a_restore_job_that_cannot_be_read_fails_loudly_and_reports_nothing() {
    let world = World::new(&[]).await;
    let mut state = restore(10.0, None);
    state["failures"] = json!({"DescribeRestoreJob": {"status": 400,
        "code": "InvalidParameterValueException", "message": "restore job id is malformed"}});
    world.fake.seed(&state);

    let err = handle(sample("restore-job-completed-test"), &world.deps)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Unverified { count: 2, first }
            if first == &format!("failed to describe restore job {RESTORE_ID}: \
                InvalidParameterValueException: restore job id is malformed")),
        "{err:?}"
    );
    assert!(validation(&world).is_empty());
    assert_eq!(world.alerts().await.len(), 2);
    world.clean_up().await;
}

#[tokio::test]
async fn a_failed_restore_alerts_with_its_message() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({}));

    let report = handle(sample("restore-job-failed"), &world.deps)
        .await
        .unwrap();

    assert_eq!(outcomes(&report), [(Check::RestoreJob, false)]);
    assert_eq!(
        world.alerts().await[0]["reason"],
        "restore job ended FAILED: The DB subnet group of the restore test does not exist."
    );
    world.clean_up().await;
}

#[tokio::test]
async fn the_schedule_passes_a_fresh_resource_and_fails_a_stale_one_across_pages() {
    let world = World::new(&[]).await;
    let now = now_secs();
    let key = world.key_arn.clone();
    world.fake.seed(&json!({
        "pageSize": 1,
        "recoveryPoints": [
            point("rp-aurora-old", VAULT, AURORA, &key, now - 3.0 * DAY),
            point("rp-aurora-new", VAULT, AURORA, &key, now - 2.0 * 3600.0),
            // A fresh point of the file share, but in a vault that does not count.
            point("rp-share-elsewhere", "scratch-vault", FILE_SHARE, &key, now - 60.0),
            point("rp-share-old", VAULT, FILE_SHARE, &key, now - 2.0 * DAY),
        ],
    }));

    let report = handle(sample("scheduled"), &world.deps).await.unwrap();

    assert_eq!(outcomes(&report), [(Check::Rpo, true), (Check::Rpo, false)]);
    assert_eq!(report.checks[0].subject, AURORA);
    assert_eq!(
        report.checks[1].outcome,
        Outcome::Failed(
            "the newest completed recovery point is 48 hours old; the RPO is 24 hours".into()
        )
    );
    let lists = world
        .fake
        .calls()
        .iter()
        .filter(|(op, _)| op == "ListRecoveryPointsByResource")
        .count();
    assert_eq!(lists, 4, "two pages for each resource");
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["subject"], FILE_SHARE);
    world.clean_up().await;
}

#[tokio::test]
async fn the_schedule_alerts_on_a_resource_without_recovery_points_and_on_a_failed_list() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({
        "recoveryPoints": [point("rp-aurora", VAULT, AURORA, &world.key_arn, now_secs())],
    }));
    let report = handle(sample("scheduled"), &world.deps).await.unwrap();
    assert_eq!(
        report.checks[1].outcome,
        Outcome::Failed("no completed recovery point in the expected vault".into())
    );

    world.fake.seed(&json!({
        "failures": {"ListRecoveryPointsByResource": {"status": 403,
                     "code": "AccessDeniedException", "message": "denied"}},
    }));
    let err = handle(sample("scheduled"), &world.deps).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unverified { count: 2, first }
            if first == &format!("failed to list recovery points of {AURORA}: \
                AccessDeniedException: denied")),
        "{err:?}"
    );
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 3);
    world.clean_up().await;
}

#[tokio::test]
async fn a_malformed_event_is_refused_with_its_reason_and_alerted() {
    let world = World::new(&[]).await;
    world.fake.seed(&json!({}));

    let err = handle(sample("malformed"), &world.deps).await.unwrap_err();

    assert_eq!(err.error_type(), "MalformedEvent");
    assert_eq!(
        err.to_string(),
        "failed to read the event: backup job event detail field `backupJobId` holds \
         nothing, not text"
    );
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["details"]["check"], "Event");
    assert!(world.fake.calls().is_empty());
    world.clean_up().await;
}

#[tokio::test]
async fn an_unreachable_backup_endpoint_fails_the_check() {
    let world = World::new(&[]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sdk = sdk_config().await;
    let backup = aws_sdk_backup::config::Builder::from(&sdk)
        .endpoint_url(format!("http://127.0.0.1:{closed}"))
        .build();
    let deps = Deps::with_backup_config(world.deps.config.clone(), &sdk, backup);

    let err = handle(sample("scheduled"), &deps).await.unwrap_err();

    let Error::Unverified { count, first } = &err else {
        panic!("expected unverified checks, got {err:?}");
    };
    assert_eq!(*count, 2);
    assert!(
        first.starts_with(&format!("failed to list recovery points of {AURORA}: ")),
        "{first}"
    );
    assert_eq!(world.alerts().await.len(), 2);
    world.clean_up().await;
}

#[tokio::test]
async fn every_sample_event_is_used_and_parses_as_its_kind() {
    let dir = repo_root().join("events/backup-verifier");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let this = include_str!("backup_verifier.rs");
    for name in &names {
        let case = name.trim_end_matches(".json");
        assert!(
            this.contains(&format!("sample(\"{case}\")")),
            "{name} is used by no test"
        );
        let parsed = backup_verifier::event::parse(&sample(case));
        assert_eq!(parsed.is_err(), case == "malformed", "{case}: {parsed:?}");
    }
    assert_eq!(names.len(), 10);
}
