//! SQS batches handled one message at a time, answered as a partial batch response.
//!
//! Each record is parsed and handled on its own. Only the records that failed are named in
//! `batchItemFailures`, so SQS deletes the rest and one bad message never makes good ones
//! run again. The event source mapping must have `ReportBatchItemFailures` turned on.
//!
//! A failed message stays on the queue and comes back after the queue's visibility timeout,
//! never at once: a transient failure (throttling, a timeout) gets its retry that way, and a
//! message that can never succeed (a body that is not JSON, a missing field) goes round
//! until the queue's redrive policy moves it to the dead-letter queue.

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{Classify, Transience, chain};

/// One parsed SQS message.
#[derive(Debug, Clone)]
pub struct Message<T> {
    /// The SQS message id, which `batchItemFailures` names.
    pub id: String,
    /// The parsed body.
    pub body: T,
    /// How many times SQS has handed this message out, this time included.
    pub receive_count: u32,
    /// The message group of a FIFO queue.
    pub group_id: Option<String>,
    /// The deduplication id of a FIFO queue, which tells a redelivered command apart.
    pub deduplication_id: Option<String>,
}

/// How the records of one batch are worked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// At most this many records at once, in no particular order (standard queues).
    Concurrent(usize),
    /// One after another; after the first failure the rest of the batch is reported
    /// failed without being handled, so a FIFO queue keeps its order.
    Fifo,
}

/// Why a record failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, safe to log: it never holds a value from the body.
    pub reason: String,
    /// Whether trying again may help.
    pub transience: Transience,
}

/// The result of one batch: the response for Lambda, and what failed, for tests and logs.
#[derive(Debug)]
pub struct BatchOutcome {
    /// The partial batch response to return to Lambda.
    pub response: SqsBatchResponse,
    /// Each failed message id with the reason.
    pub failures: Vec<(String, Failure)>,
    /// How many records were handled successfully.
    pub succeeded: usize,
}

/// Parses each record of `event` as JSON of type `T` and hands it to `handler`.
///
/// A record whose body does not parse is logged once with its message id and a reason that
/// never quotes the body, and reported failed.
pub async fn process<T, F, Fut, E>(event: SqsEvent, order: Order, handler: F) -> BatchOutcome
where
    T: DeserializeOwned,
    F: Fn(Message<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Classify,
{
    let handle_one = |record: SqsMessage| {
        let handler = &handler;
        async move {
            let id = record.message_id.clone().unwrap_or_default();
            let result = match parse(record) {
                Ok(message) => handler(message).await.map_err(|e| Failure {
                    reason: chain(&e),
                    transience: e.transience(),
                }),
                Err(failure) => Err(failure),
            };
            (id, result)
        }
    };

    let results: Vec<(String, Result<(), Failure>)> = match order {
        Order::Concurrent(limit) => {
            futures::stream::iter(event.records)
                .map(handle_one)
                .buffer_unordered(limit.max(1))
                .collect()
                .await
        }
        Order::Fifo => {
            let mut out = Vec::with_capacity(event.records.len());
            let mut records = event.records.into_iter();
            for record in records.by_ref() {
                let (id, result) = handle_one(record).await;
                let failed = result.is_err();
                out.push((id, result));
                if failed {
                    break;
                }
            }
            for record in records {
                let failure = Failure {
                    reason: "not handled: an earlier message of this FIFO batch failed".into(),
                    transience: Transience::Transient,
                };
                out.push((record.message_id.unwrap_or_default(), Err(failure)));
            }
            out
        }
    };

    let mut outcome = BatchOutcome {
        response: SqsBatchResponse::default(),
        failures: Vec::new(),
        succeeded: 0,
    };
    for (id, result) in results {
        match result {
            Ok(()) => outcome.succeeded += 1,
            Err(failure) => {
                log_failure(&id, &failure);
                let mut item = BatchItemFailure::default();
                item.item_identifier.clone_from(&id);
                outcome.response.batch_item_failures.push(item);
                outcome.failures.push((id, failure));
            }
        }
    }
    tracing::info!(
        succeeded = outcome.succeeded,
        failed = outcome.failures.len(),
        "sqs batch handled"
    );
    outcome
}

fn log_failure(id: &str, failure: &Failure) {
    match failure.transience {
        Transience::Transient => {
            tracing::warn!(message_id = id, reason = %failure.reason, "message failed, will retry");
        }
        Transience::Permanent => {
            tracing::error!(message_id = id, reason = %failure.reason, "message cannot succeed");
        }
    }
}

fn parse<T: DeserializeOwned>(record: SqsMessage) -> Result<Message<T>, Failure> {
    let permanent = |reason: String| Failure {
        reason,
        transience: Transience::Permanent,
    };
    let id = record
        .message_id
        .ok_or_else(|| permanent("record has no messageId".into()))?;
    let body = record
        .body
        .ok_or_else(|| permanent("message has no body".into()))?;
    let body = crate::json::from_str(&body).map_err(|e| permanent(e.describe("body")))?;
    let attribute = |name: &str| record.attributes.get(name).cloned();
    Ok(Message {
        id,
        body,
        receive_count: attribute("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        group_id: attribute("MessageGroupId"),
        deduplication_id: attribute("MessageDeduplicationId"),
    })
}
