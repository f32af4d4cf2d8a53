//! The replication validator's step, on the ledgers `scripts/seed_ledger.py` seeded in
//! MariaDB. The template's source secret and Aurora cluster are not on moto, so the
//! rehearsal stores the MariaDB credentials in a Secrets Manager secret of its own and
//! points both sides' host, port and database at MariaDB (see [`prepare`]).
//!
//! A copy of the sample table message (its run id made this run's) goes through
//! `cargo lambda invoke`; the chunk messages it enqueued on the validation queue are then
//! received and delivered as the SQS event source mapping would, in batches of up to ten,
//! and only the messages the function did not report failed are deleted. The chunk results
//! in the results bucket must name exactly the planted differences.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};

use crate::watch::Watch;
use crate::{Error, call, expect_eq, note, rewrite, sample};

const FUNCTION: &str = "replication-validator";
/// The most rows one chunk holds here, so the seeded ledger fans out to several batches.
const CHUNK_MAX_ROWS: &str = "1500";
/// The table the rehearsal validates.
const TABLE: &str = "payments";
/// How many receive calls may come back empty before the queue counts as drained.
const EMPTY_RECEIVES: u32 = 3;

/// What the seed planted, as `scripts/seed_ledger.py` prints it.
pub struct Expected {
    source: String,
    target: String,
    planted: Value,
}

impl Expected {
    /// Reads the seed's output.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Process(format!("read {}: {e}", path.display())))?;
        let planted: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Process(format!("parse {}: {e}", path.display())))?;
        let name = |key: &str| {
            planted[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Process(format!("{} names no {key}", path.display())))
        };
        Ok(Self {
            source: name("source")?,
            target: name("target")?,
            planted,
        })
    }
}

/// Stores the MariaDB credentials as a secret and points the validator at the seeded
/// databases: the variables are added to `env` before the functions start.
pub async fn prepare(
    sdk: &aws_config::SdkConfig,
    env: &mut BTreeMap<String, String>,
    expected: &Expected,
) -> Result<(), Error> {
    // The ledgers are on the stack's TLS server, as a user it lets in over TLS only.
    let url = migration_tests::stack_variable(migration_tests::MYSQL_TLS_URL);
    let server = url.trim_start_matches("mysql://");
    let address = server.rsplit_once('@').map_or(server, |(_, a)| a);
    let user = migration_tests::stack_variable(migration_tests::MYSQL_TLS_ONLY_USER);
    let ca = migration_tests::stack_variable(migration_tests::MYSQL_TLS_CA);
    let (host, port) = address.split_once(':').unwrap_or((address, "3306"));
    let migration_id = env.get("MIGRATION_ID").cloned().unwrap_or_default();
    let secret_id = format!("{migration_id}-db-credentials");
    let secret = json!({"username": user, "password": "", "engine": "mariadb"});
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(secret.to_string())
        .send()
        .await
        .map_err(call(format!("create secret {secret_id}")))?;
    for (name, value) in [
        ("SOURCE_DB_SECRET_ID", secret_id.as_str()),
        ("TARGET_DB_SECRET_ID", secret_id.as_str()),
        ("SOURCE_DB_HOST", host),
        ("TARGET_DB_HOST", host),
        ("SOURCE_DB_PORT", port),
        ("TARGET_DB_PORT", port),
        ("SOURCE_DB_NAME", expected.source.as_str()),
        ("TARGET_DB_NAME", expected.target.as_str()),
        ("CHUNK_MAX_ROWS", CHUNK_MAX_ROWS),
        // The template's default for the source, and what it recommends for Aurora.
        ("SOURCE_DB_SSL_MODE", "required"),
        ("TARGET_DB_SSL_MODE", "verify_identity"),
        ("TARGET_DB_SSL_CA", ca.as_str()),
    ] {
        env.insert(name.to_owned(), value.to_owned());
    }
    note(&format!(
        "validator: secret {secret_id} holds the MariaDB credentials; source {} and target \
         {} on {host}:{port} (the template's source secret and Aurora are not on moto), as a \
         user let in over TLS only: source ssl mode required, target verify_identity against \
         the test authority; CHUNK_MAX_ROWS={CHUNK_MAX_ROWS} so the ledger fans out",
        expected.source, expected.target
    ));
    Ok(())
}

struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

impl Queue {
    /// Receives up to ten messages, as the event source mapping does.
    async fn receive(&self) -> Result<Vec<aws_sdk_sqs::types::Message>, Error> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(call(format!(
                "receive from the validation queue {}",
                self.url
            )))?;
        Ok(out.messages().to_vec())
    }

    /// Delivers every message on the queue to the function, as the event source mapping
    /// would; returns how many messages and batches were delivered. A failed message
    /// stays on the queue and fails the step.
    async fn deliver(&self, watch: &Watch) -> Result<(usize, usize), Error> {
        let (mut delivered, mut batches, mut empty) = (0, 0, 0);
        while empty < EMPTY_RECEIVES {
            let batch = self.receive().await?;
            if batch.is_empty() {
                empty += 1;
                continue;
            }
            batches += 1;
            let event = serde_json::to_value(migration_tests::sqs_event(&self.arn, &batch))
                .map_err(|e| Error::Process(format!("serialise a chunk batch: {e}")))?;
            let answer = watch.invoke(FUNCTION, &format!("chunks-{batches}"), &event)?;
            let failed: Vec<String> = answer["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect();
            let deleted = self.delete_succeeded(&batch, &failed).await?;
            delivered += batch.len();
            note(&format!(
                "batch {batches}: {} chunk messages, {} failed, {deleted} deleted",
                batch.len(),
                failed.len()
            ));
            if !failed.is_empty() {
                return Err(Error::Check(format!(
                    "{} chunk messages failed in batch {batches}; they stay on the queue",
                    failed.len()
                )));
            }
        }
        Ok((delivered, batches))
    }

    /// Deletes the messages of `batch` whose ids are not in `failed`; returns how many.
    async fn delete_succeeded(
        &self,
        batch: &[aws_sdk_sqs::types::Message],
        failed: &[String],
    ) -> Result<usize, Error> {
        let mut deleted = 0;
        for m in batch {
            let id = m.message_id().unwrap_or_default();
            if failed.iter().any(|f| f == id) {
                continue;
            }
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(call(format!("delete message {id} from {}", self.url)))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Value, Error> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(call(format!("read s3://{bucket}/{key}")))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(call(format!("read s3://{bucket}/{key}")))?
        .into_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Check(format!("s3://{bucket}/{key} is not JSON: {e}")))
}

/// The keys of `kind` across every chunk result, sorted by their numeric value.
fn keys(results: &[Value], kind: &str) -> Vec<Vec<String>> {
    let mut all: Vec<Vec<String>> = results
        .iter()
        .flat_map(|r| r[kind].as_array().cloned().unwrap_or_default())
        .map(|k| {
            k.as_array()
                .into_iter()
                .flatten()
                .map(|p| p.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect();
    all.sort_by_key(|k| k.first().and_then(|p| p.parse::<i64>().ok()));
    all
}

/// Runs the step as the module says.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    watch: &Watch,
    env: &BTreeMap<String, String>,
    expected: &Expected,
) -> Result<String, Error> {
    let var = |name: &str| {
        env.get(name)
            .map(String::as_str)
            .ok_or_else(|| Error::Check(format!("the function environment has no {name}")))
    };
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let url = var("VALIDATION_QUEUE_URL")?.to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(call(format!("read the attributes of queue {url}")))?;
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| Error::Check(format!("queue {url} has no ARN")))?;
    let queue = Queue { sqs, url, arn };
    let bucket = var("RESULTS_BUCKET")?;
    let run_id = format!("{}-r1", var("MIGRATION_ID")?);

    let mut table = sample(FUNCTION, "table-message")?;
    rewrite(&mut table, "cutover-1-r1", &run_id);
    if let Some(record) = table["Records"].get_mut(0) {
        record["eventSourceARN"] = json!(queue.arn);
    }
    note(&format!(
        "table message: a copy of table-message.json with run id {run_id} and this queue's ARN"
    ));
    let answer = watch.invoke(FUNCTION, "table", &table)?;
    let failed = answer["batchItemFailures"].as_array().map_or(0, Vec::len);
    expect_eq("failed table messages", &failed, &0)?;

    let s3 = aws_sdk_s3::Client::new(sdk);
    let prefix = format!("runs/{run_id}/{TABLE}");
    let plan = object(&s3, bucket, &format!("{prefix}/plan.json")).await?;
    let count = plan["chunks"].as_array().map_or(0, Vec::len);
    note(&format!(
        "plan s3://{bucket}/{prefix}/plan.json: {count} chunks"
    ));
    if count < 2 {
        return Err(Error::Check(format!(
            "the plan has {count} chunks; a fan-out needs 2"
        )));
    }

    let (delivered, batches) = queue.deliver(watch).await?;
    expect_eq("chunk messages delivered", &delivered, &count)?;

    let mut results = Vec::with_capacity(count);
    for index in 0..count {
        results.push(object(&s3, bucket, &format!("{prefix}/chunk-{index}.json")).await?);
    }
    let rows: u64 = results
        .iter()
        .filter_map(|r| r["rows_source"].as_u64())
        .sum();
    let mut found = 0;
    for kind in ["missing_in_target", "missing_in_source", "different"] {
        let got = keys(&results, kind);
        let want: Vec<Vec<String>> =
            serde_json::from_value(expected.planted[kind].clone()).unwrap_or_default();
        let shown: Vec<&str> = got
            .iter()
            .filter_map(|k| k.first().map(String::as_str))
            .collect();
        note(&format!("{kind}: {}", shown.join(", ")));
        expect_eq(kind, &got, &want)?;
        found += got.len();
    }
    Ok(format!(
        "{count} chunks in {batches} batches over {rows} rows; exactly the {found} planted keys"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_every_chunk_are_gathered_in_numeric_order() {
        let results = [
            json!({"different": [["100"], ["9"]], "missing_in_target": []}),
            json!({"different": [["12"]]}),
            json!({}),
        ];
        let want: Vec<Vec<String>> = [["9"], ["12"], ["100"]]
            .iter()
            .map(|k| vec![k[0].to_owned()])
            .collect();
        assert_eq!(keys(&results, "different"), want);
        assert!(keys(&results, "missing_in_target").is_empty());
    }
}
