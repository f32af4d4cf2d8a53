//! Alerts for a person: a JSON message on the alert queue (`ALERT_QUEUE_URL`).
//!
//! ```json
//! {"source":"compliance-remediator","migration_id":"cutover-1","kind":"loop_guard",
//!  "rule":"db-ports-restricted","resource_type":"AWS::EC2::SecurityGroup",
//!  "resource_id":"sg-0abc","reason":"remediated 3 times within the hour"}
//! ```

use serde::Serialize;

use crate::error::Error;

/// The alert's `source`.
pub const ALERT_SOURCE: &str = "compliance-remediator";

/// One alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert<'a> {
    /// Always [`ALERT_SOURCE`].
    pub source: &'a str,
    /// The migration.
    pub migration_id: &'a str,
    /// `loop_guard` or `needs_person`.
    pub kind: &'a str,
    /// The rule.
    pub rule: &'a str,
    /// The resource type.
    pub resource_type: &'a str,
    /// The resource.
    pub resource_id: &'a str,
    /// What the person should know.
    pub reason: &'a str,
}

/// Sends `alert` to the queue at `queue_url`.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    alert: &Alert<'_>,
) -> Result<(), Error> {
    let body = serde_json::to_string(alert).unwrap_or_default();
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| Error::aws(format!("send alert to {queue_url}"), &e))?;
    Ok(())
}
