//! Alerts for a person, in the shared shape (`migration_shared::alert`) on the alert queue
//! (`ALERT_QUEUE_URL`), sent as [`crate::FUNCTION_NAME`]. `kind` is `loop_guard` or
//! `needs_person`; `subject` is the resource id; `details` hold the rule and the resource
//! type:
//!
//! ```json
//! {"function":"compliance-remediator","migration_id":"cutover-1","kind":"loop_guard",
//!  "subject":"sg-0abc","reason":"remediated 3 times within the hour",
//!  "details":{"resource_type":"AWS::EC2::SecurityGroup",
//!             "rule":"cutover-1-restricted-incoming-traffic"}}
//! ```

pub use migration_shared::alert::Alert;

use crate::error::Error;

/// Sends `alert` to the queue at `queue_url`.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    alert: &Alert<'_>,
) -> Result<(), Error> {
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(alert.body())
        .send()
        .await
        .map_err(|e| Error::aws(format!("send alert to {queue_url}"), &e))?;
    Ok(())
}
