//! The backup verifier's step. moto does not serve AWS Backup's vault, recovery-point and
//! job calls, so they come from `scripts/backup_fake.py`, the wire-level fake the tests
//! use, reached by the function through `AWS_ENDPOINT_URL_BACKUP` like any endpoint. The
//! fake is seeded with a locked vault and the recovery point the sample completed backup
//! job names: first sound (encrypted with the migration key, kept long enough), then
//! encrypted with another key; the first must pass every check, the second must fail and
//! leave an alert on the alert queue.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::watch::Watch;
use crate::{Error, call, expect_eq, note, sample};

const FUNCTION: &str = "backup-verifier";
/// The vault the sample events name, which the rehearsal expects and the fake serves.
pub const VAULT: &str = "payments-vault";
/// The resource the sample events name, which the rehearsal protects.
pub const PROTECTED: &str = "arn:aws:rds:us-east-1:123456789012:cluster:payments-aurora";
const DAY: f64 = 86_400.0;

/// The running fake of AWS Backup, stopped when dropped.
pub struct Fake {
    child: Child,
    pid_file: std::path::PathBuf,
    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
}

impl Fake {
    /// Starts `scripts/backup_fake.py` on a free port with the venv's Python, and writes
    /// its process id to `<work>/backup_fake.pid` for the script to end it should this
    /// driver be killed.
    pub fn start(work: &std::path::Path) -> Result<Self, Error> {
        let python = std::env::var("MIGRATION_VENV").map_or_else(
            |_| "python3".to_owned(),
            |venv| format!("{venv}/bin/python"),
        );
        let script = migration_tests::repo_root().join("scripts/backup_fake.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error::Process(format!("start {} with {python}: {e}", script.display()))
            })?;
        let mut first = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut first).ok();
        }
        let port = first
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            child.kill().ok();
            child.wait().ok();
            return Err(Error::Process(format!(
                "scripts/backup_fake.py did not say where it listens (it said {first:?})"
            )));
        };
        let pid_file = work.join("backup_fake.pid");
        std::fs::write(&pid_file, child.id().to_string())
            .map_err(|e| Error::Process(format!("write {}: {e}", pid_file.display())))?;
        Ok(Self {
            child,
            pid_file,
            url: format!("http://127.0.0.1:{port}"),
            port,
        })
    }

    /// Replaces the fake's state.
    fn seed(&self, state: &Value) -> Result<(), Error> {
        let body = state.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| Error::Process(format!("connect to the AWS Backup fake: {e}")))?;
        let request = format!(
            "POST /_fake/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut answer = String::new();
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.read_to_string(&mut answer))
            .map_err(|e| Error::Process(format!("seed the AWS Backup fake: {e}")))?;
        if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            let status = answer.lines().next().unwrap_or_default();
            Err(Error::Process(format!(
                "the AWS Backup fake refused its state: {status}"
            )))
        }
    }
}

impl crate::Described for Fake {
    fn describe(&self) -> String {
        format!("scripts/backup_fake.py on {}", self.url)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_file(&self.pid_file).ok();
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A recovery point as `DescribeRecoveryPoint` returns it, made an hour ago.
fn point(arn: &str, resource: &str, key: &str, keep_days: u32) -> Value {
    let created = now() - 3600.0;
    json!({
        "RecoveryPointArn": arn,
        "BackupVaultName": VAULT,
        "BackupVaultArn": format!("arn:aws:backup:us-east-1:123456789012:backup-vault:{VAULT}"),
        "ResourceArn": resource,
        "ResourceType": "Aurora",
        "Status": "COMPLETED",
        "IsEncrypted": true,
        "EncryptionKeyArn": key,
        "CreationDate": created,
        "CompletionDate": created + 600.0,
        "Lifecycle": {"DeleteAfterDays": keep_days},
        "CalculatedLifecycle": {"DeleteAt": created + f64::from(keep_days) * DAY},
        "StorageClass": "WARM"
    })
}

/// Takes every message off the alert queue and returns the parsed bodies.
async fn drain(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<Vec<Value>, Error> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(call(format!("receive from the alert queue {queue}")))?;
        if out.messages().is_empty() {
            return Ok(all);
        }
        for m in out.messages() {
            all.push(serde_json::from_str(m.body().unwrap_or_default()).unwrap_or(Value::Null));
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(call(format!("delete an alert from {queue}")))?;
            }
        }
    }
}

/// Invokes the verifier on the completed backup job and returns `(failed, alerts_sent)`.
fn verify(watch: &Watch, label: &str) -> Result<(u64, u64), Error> {
    let report = watch.invoke(FUNCTION, label, &sample(FUNCTION, "backup-job-completed")?)?;
    for check in report["checks"].as_array().into_iter().flatten() {
        note(&format!(
            "{label}: {} {}: {}",
            check["check"].as_str().unwrap_or("?"),
            check["outcome"].as_str().unwrap_or("?"),
            check["reason"].as_str().unwrap_or("")
        ));
    }
    Ok((
        report["failed"].as_u64().unwrap_or(u64::MAX),
        report["alertsSent"].as_u64().unwrap_or(u64::MAX),
    ))
}

/// Runs the step as the module says.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    watch: &Watch,
    env: &BTreeMap<String, String>,
    fake: &Fake,
) -> Result<String, Error> {
    let var = |name: &str| {
        env.get(name)
            .map(String::as_str)
            .ok_or_else(|| Error::Check(format!("the function environment has no {name}")))
    };
    let key = var("EXPECTED_KMS_KEY_ARN")?;
    let migration_id = var("MIGRATION_ID")?;
    let keep_days: u32 = var("MIN_RETENTION_DAYS")?.parse().unwrap_or(35);
    let queue = var("ALERT_QUEUE_URL")?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    drain(&sqs, queue).await?;

    let event = sample(FUNCTION, "backup-job-completed")?;
    let rp = event["resources"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let resource = event["detail"]["resourceArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let vault = json!({ VAULT: {"BackupVaultName": VAULT, "Locked": true,
        "MinRetentionDays": keep_days, "EncryptionKeyArn": key} });

    fake.seed(
        &json!({"vaults": vault, "recoveryPoints": [point(&rp, &resource, key, keep_days)]}),
    )?;
    note(&format!(
        "fake seeded: vault {VAULT} locked, recovery point {rp} under the migration key, kept \
         {keep_days} days"
    ));
    let (failed, _) = verify(watch, "good-point")?;
    expect_eq("failed checks of the good recovery point", &failed, &0)?;
    let alerts = drain(&sqs, queue).await?;
    expect_eq("alerts after the good recovery point", &alerts.len(), &0)?;

    let other = "arn:aws:kms:us-east-1:123456789012:key/not-the-migration-key";
    fake.seed(
        &json!({"vaults": vault, "recoveryPoints": [point(&rp, &resource, other, keep_days)]}),
    )?;
    note(&format!(
        "fake seeded again: the same recovery point encrypted with {other}"
    ));
    let (failed, sent) = verify(watch, "bad-point")?;
    expect_eq("failed checks of the bad recovery point", &failed, &1)?;
    expect_eq("alerts sent for the bad recovery point", &sent, &1)?;
    let alerts = drain(&sqs, queue).await?;
    let seen: Vec<(&str, &str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["migration_id"].as_str().unwrap_or_default(),
                a["details"]["check"].as_str().unwrap_or_default(),
                a["kind"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    expect_eq(
        "alerts on the alert queue",
        &seen,
        &vec![(migration_id, "Encryption", "check_failed")],
    )?;
    note(&format!(
        "read back: one alert on the alert queue, {}",
        alerts
            .first()
            .and_then(|a| a["reason"].as_str())
            .unwrap_or_default()
    ));
    Ok("good recovery point passes every check; one under another key alerts".into())
}
