//! The shared crate against the local stack: a real SQS queue on moto with a mixed batch,
//! a SecureString parameter under a KMS key on moto, a Secrets Manager secret read through
//! Parameter Store, the CloudWatch adapter holding alarm state in moto, and MariaDB.

use std::time::Duration;

use aws_sdk_cloudwatch::operation::set_alarm_state::SetAlarmStateError;
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use migration_shared::error::{Classify, Transience};
use migration_shared::params::Parameters;
use migration_shared::sqs_batch::{self, Order};
use migration_tests::{TestDatabase, queue_arn, sdk_config, sqs_event, unique};
use mysql_async::prelude::Queryable;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Job {
    table: String,
}

#[derive(Debug, thiserror::Error)]
#[error("table {0} is locked")]
struct Locked(String);

impl Classify for Locked {
    fn transience(&self) -> Transience {
        Transience::Transient
    }
}

async fn queue_with_dead_letter(sqs: &aws_sdk_sqs::Client) -> (String, String, String) {
    let dlq_url = sqs
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq_url.queue_url().unwrap().to_owned();
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}"#);
    let url = sqs
        .create_queue()
        .queue_name(unique("jobs"))
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = queue_arn(sqs, &url).await;
    (url, arn, dlq_url)
}

async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages()
        .to_vec()
}

#[tokio::test]
async fn a_mixed_batch_fails_only_its_bad_messages_and_they_reach_the_dead_letter_queue() {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let (url, arn, dlq_url) = queue_with_dead_letter(&sqs).await;
    let bodies = [
        r#"{"table":"payments"}"#,
        r#"{"table":"locked"}"#,
        "password=hunter2",
        r#"{"tabel":"typo"}"#,
        r#"{"table":"refunds"}"#,
    ];
    for body in bodies {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let received = receive_all(&sqs, &url).await;
    assert_eq!(received.len(), bodies.len());

    let outcome = sqs_batch::process(
        sqs_event(&arn, &received),
        Order::Concurrent(4),
        |m| async move {
            let job: Job = m.body;
            if job.table == "locked" {
                Err(Locked(job.table))
            } else {
                Ok(())
            }
        },
    )
    .await;

    let id_of = |body: &str| {
        received
            .iter()
            .find(|m| m.body() == Some(body))
            .unwrap()
            .message_id()
            .unwrap()
            .to_owned()
    };
    let mut failed: Vec<String> = outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    let mut expected = vec![id_of(bodies[1]), id_of(bodies[2]), id_of(bodies[3])];
    expected.sort();
    assert_eq!(failed, expected);
    assert_eq!(outcome.succeeded, 2);
    let reasons: Vec<(&str, Transience)> = outcome
        .failures
        .iter()
        .map(|(_, f)| (f.reason.as_str(), f.transience))
        .collect();
    assert!(reasons.contains(&("table locked is locked", Transience::Transient)));
    assert!(reasons.contains(&(
        "body is not valid JSON at line 1 column 1",
        Transience::Permanent
    )));
    assert!(
        outcome
            .failures
            .iter()
            .all(|(_, f)| !f.reason.contains("hunter2"))
    );

    // What the event source mapping does with the response: delete what succeeded.
    for m in &received {
        let id = m.message_id().unwrap().to_owned();
        if !failed.contains(&id) {
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Past maxReceiveCount the redrive policy moves the failed messages aside.
    assert!(receive_all(&sqs, &url).await.is_empty());
    let mut dead: Vec<String> = receive_all(&sqs, &dlq_url)
        .await
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    dead.sort();
    let mut want: Vec<String> = bodies[1..4].iter().map(|b| (*b).to_owned()).collect();
    want.sort();
    assert_eq!(dead, want);

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    sqs.delete_queue().queue_url(&dlq_url).send().await.unwrap();
}

#[tokio::test]
async fn a_fifo_batch_stops_at_the_first_failure_to_keep_order() {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let name = format!("{}.fifo", unique("commands"));
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for table in ["a", "locked", "c"] {
        sqs.send_message()
            .queue_url(&url)
            .message_group_id("shift")
            .message_body(format!(r#"{{"table":"{table}"}}"#))
            .send()
            .await
            .unwrap();
    }
    let received = receive_all(&sqs, &url).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let outcome = sqs_batch::process(
        sqs_event("arn:aws:sqs:us-east-1:123456789012:q.fifo", &received),
        Order::Fifo,
        |m| {
            let seen = &seen;
            async move {
                let job: Job = m.body;
                assert_eq!(m.group_id.as_deref(), Some("shift"));
                seen.lock().unwrap().push(job.table.clone());
                if job.table == "locked" {
                    Err(Locked(job.table))
                } else {
                    Ok(())
                }
            }
        },
    )
    .await;
    assert_eq!(*seen.lock().unwrap(), ["a", "locked"]);
    let failed: Vec<&str> = outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            received[1].message_id().unwrap(),
            received[2].message_id().unwrap()
        ]
    );
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
}

#[tokio::test]
async fn a_secure_string_is_decrypted_cached_and_refreshed_after_its_maximum_age() {
    let config = sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&config);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let name = format!("/{}/db-password", unique("migration"));
    ssm.put_parameter()
        .name(&name)
        .value("first-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .key_id(&key_id)
        .send()
        .await
        .unwrap();

    let params = Parameters::new(ssm.clone(), Duration::from_mins(1));
    let first = params.get(&name).await.unwrap();
    assert_eq!(first.value.expose(), "first-value");
    assert!(first.secure);
    assert_eq!(first.version, 1);

    ssm.put_parameter()
        .name(&name)
        .value("second-value")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        params.get(&name).await.unwrap().value.expose(),
        "first-value",
        "served from cache"
    );
    assert_eq!(
        params.fresh(&name).await.unwrap().value.expose(),
        "second-value"
    );

    let uncached = Parameters::new(ssm.clone(), Duration::ZERO);
    assert_eq!(uncached.get(&name).await.unwrap().version, 2);

    let missing = params.get(&format!("{name}-absent")).await.unwrap_err();
    assert_eq!(
        missing.to_string(),
        format!("parameter {name}-absent does not exist")
    );
    assert_eq!(missing.transience(), Transience::Permanent);
    ssm.delete_parameter().name(&name).send().await.unwrap();
}

#[tokio::test]
async fn a_secrets_manager_secret_is_read_through_parameter_store() {
    let config = sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let id = unique("source-db");
    secrets
        .create_secret()
        .name(&id)
        .secret_string(r#"{"password":"p@ss"}"#)
        .send()
        .await
        .unwrap();
    let params = Parameters::new(aws_sdk_ssm::Client::new(&config), Duration::from_mins(1));
    let value = params.secret(&id).await.unwrap();
    assert_eq!(value.expose(), r#"{"password":"p@ss"}"#);
    assert_eq!(format!("{value:?}"), "Secret(***)");
    secrets
        .delete_secret()
        .secret_id(&id)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn alarm_state_set_through_the_cloudwatch_adapter_is_held_by_moto() {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config().await);
    let name = unique("alb-5xx");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
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
    cloudwatch
        .set_alarm_state()
        .alarm_name(&name)
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
    let states: Vec<_> = alarms
        .metric_alarms()
        .iter()
        .map(|a| a.state_value().cloned())
        .collect();
    assert_eq!(states, [Some(StateValue::Alarm)]);
    assert!(
        alarms.metric_alarms()[0]
            .state_updated_timestamp()
            .is_some()
    );

    let err = cloudwatch
        .set_alarm_state()
        .alarm_name(format!("{name}-absent"))
        .state_value(StateValue::Ok)
        .state_reason("test")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(SetAlarmStateError::is_resource_not_found),
        "{err:?}"
    );
    cloudwatch
        .delete_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_harness_reaches_mariadb_with_utf8mb4_and_cleans_up() {
    let db = TestDatabase::create("harness").await;
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, memo VARCHAR(20)) CHARACTER SET utf8mb4",
        "INSERT INTO t VALUES (1, 'café 💳')",
    ])
    .await;
    let mut conn = db.pool.get_conn().await.unwrap();
    let memo: Option<String> = conn
        .query_first("SELECT memo FROM t WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(memo.as_deref(), Some("café 💳"));
    drop(conn);
    let name = db.name.clone();
    db.drop_database().await;
    let admin = mysql_async::Pool::new(migration_tests::mysql_url().as_str());
    let mut conn = admin.get_conn().await.unwrap();
    let left: Option<String> = conn
        .exec_first(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (name,),
        )
        .await
        .unwrap();
    assert_eq!(left, None);
}
