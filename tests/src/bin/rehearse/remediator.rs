//! The compliance remediator's step: a queue without SSE, a key whose rotation is off and a
//! second such key tagged with the exemption tag, created on moto; the sample Config
//! compliance events copied with the resource ids rewritten to them (and the rule names
//! to this migration's); then each resource read back.
//!
//! Config's re-evaluation request, which moto cannot honour for rules it never created, is
//! best effort in the function and is not checked here.

use std::collections::BTreeMap;

use aws_sdk_kms::types::Tag;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::watch::Watch;
use crate::{Error, call, expect_eq, note, rewrite, sample};

const FUNCTION: &str = "compliance-remediator";
/// The migration id the sample events' rule names carry.
const SAMPLE_MIGRATION: &str = "cutover-1";

fn var<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Error> {
    env.get(name)
        .map(String::as_str)
        .ok_or_else(|| Error::Check(format!("the function environment has no {name}")))
}

/// The sample event `case` about `resource_id` instead of the sample's resource, under
/// this migration's rule names.
fn event_about(case: &str, resource_id: &str, migration_id: &str) -> Result<Value, Error> {
    let mut event = sample(FUNCTION, case)?;
    let original = event["detail"]["resourceId"]
        .as_str()
        .ok_or_else(|| Error::Check(format!("sample {case} names no resourceId")))?
        .to_owned();
    rewrite(&mut event, &original, resource_id);
    rewrite(&mut event, SAMPLE_MIGRATION, migration_id);
    Ok(event)
}

/// Invokes the remediator and returns its one decision's outcome and reason.
fn decide(watch: &Watch, label: &str, event: &Value) -> Result<(String, String), Error> {
    let report = watch.invoke(FUNCTION, label, event)?;
    let decisions = report["decisions"].as_array().cloned().unwrap_or_default();
    let [decision] = decisions.as_slice() else {
        return Err(Error::Check(format!(
            "{label}: expected one decision, got {}",
            decisions.len()
        )));
    };
    let outcome = decision["outcome"].as_str().unwrap_or_default().to_owned();
    let reason = decision["reason"].as_str().unwrap_or_default().to_owned();
    note(&format!("{label}: {outcome} ({reason})"));
    Ok((outcome, reason))
}

async fn new_key(kms: &aws_sdk_kms::Client, tag: Option<&str>) -> Result<String, Error> {
    let mut create = kms.create_key().description("rehearsal: rotation off");
    if let Some(key) = tag {
        let tag = Tag::builder()
            .tag_key(key)
            .tag_value("true")
            .build()
            .map_err(call("build the exemption tag"))?;
        create = create.tags(tag);
    }
    let created = create
        .send()
        .await
        .map_err(call("create a key with rotation off"))?;
    created
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| Error::Check("moto created a key without metadata".into()))
}

async fn rotates(kms: &aws_sdk_kms::Client, key_id: &str) -> Result<bool, Error> {
    let status = kms
        .get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .map_err(call(format!("read the rotation status of key {key_id}")))?;
    Ok(status.key_rotation_enabled())
}

/// Creates the three resources, remediates each through the function, reads them back.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    watch: &Watch,
    env: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let migration_id = var(env, "MIGRATION_ID")?;
    let migration_key = var(env, "MIGRATION_KMS_KEY_ID")?;
    let exempt_tag = var(env, "EXEMPT_TAG_KEY")?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let kms = aws_sdk_kms::Client::new(sdk);

    let name = format!("{migration_id}-settlement");
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .map_err(call(format!("create queue {name}")))?;
    let queue = queue.queue_url().unwrap_or_default().to_owned();
    let key = new_key(&kms, None).await?;
    let exempt = new_key(&kms, Some(exempt_tag)).await?;
    note(&format!(
        "created queue {name} without SSE, key {key} with rotation off, and key {exempt} \
         with rotation off tagged {exempt_tag}"
    ));
    note("sample events copied with their resource ids and rule names rewritten to these");

    let event = event_about("sqs-queue-unencrypted", &queue, migration_id)?;
    let (outcome, _) = decide(watch, "queue", &event)?;
    expect_eq("the queue's outcome", outcome.as_str(), "remediated")?;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::KmsMasterKeyId)
        .send()
        .await
        .map_err(call(format!("read the attributes of queue {name}")))?;
    let queue_key = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::KmsMasterKeyId))
        .map(String::as_str);
    expect_eq("the queue's key", &queue_key, &Some(migration_key))?;
    note(&format!(
        "read back: queue {name} is encrypted with the migration key"
    ));

    let event = event_about("kms-rotation-off", &key, migration_id)?;
    let (outcome, _) = decide(watch, "key", &event)?;
    expect_eq("the key's outcome", outcome.as_str(), "remediated")?;
    expect_eq("the key's rotation", &rotates(&kms, &key).await?, &true)?;
    note(&format!("read back: key {key} rotates"));

    let event = event_about("kms-rotation-off", &exempt, migration_id)?;
    let (outcome, _) = decide(watch, "exempt-key", &event)?;
    expect_eq("the exempt key's outcome", outcome.as_str(), "exempt")?;
    expect_eq(
        "the exempt key's rotation",
        &rotates(&kms, &exempt).await?,
        &false,
    )?;
    note(&format!("read back: key {exempt} still does not rotate"));

    sqs.delete_queue().queue_url(&queue).send().await.ok();
    for id in [&key, &exempt] {
        let deletion = kms
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(7);
        deletion.send().await.ok();
    }
    Ok("queue encrypted with the migration key, key rotation on, exempt key left alone".into())
}
