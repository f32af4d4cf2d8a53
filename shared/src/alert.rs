//! Alerts for a person: one JSON message on the migration's alert queue, in the one shape
//! every function sends, so that one consumer (a pager rule, a chat hook) reads them all.
//!
//! ```json
//! {"function":"backup-verifier","migration_id":"cutover-1","kind":"check_failed",
//!  "subject":"arn:aws:rds:eu-west-1:123456789012:cluster:payments",
//!  "reason":"the newest completed recovery point is 30 hours old; the RPO is 24 hours",
//!  "details":{"check":"Rpo","detail_type":"Scheduled Event","event_id":"e-1"}}
//! ```
//!
//! `function`, `migration_id`, `kind`, `subject` and `reason` are always present and always
//! text; `details` holds what only the sending function knows, every value text, and leaves
//! out what it does not know.

use std::collections::BTreeMap;

use serde::Serialize;

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert<'a> {
    /// The function that sent it, as in its `Function` metric dimension.
    pub function: &'a str,
    /// The migration.
    pub migration_id: &'a str,
    /// What happened, in snake case: `loop_guard`, `needs_person`, `check_failed`, ...
    pub kind: &'a str,
    /// What it is about: a resource's id or ARN.
    pub subject: &'a str,
    /// What the person should know, in words.
    pub reason: &'a str,
    /// The sending function's own context, by name.
    pub details: BTreeMap<&'static str, &'a str>,
}

impl<'a> Alert<'a> {
    /// An alert without details.
    #[must_use]
    pub fn new(
        function: &'a str,
        migration_id: &'a str,
        kind: &'a str,
        subject: &'a str,
        reason: &'a str,
    ) -> Self {
        Self {
            function,
            migration_id,
            kind,
            subject,
            reason,
            details: BTreeMap::new(),
        }
    }

    /// Adds `name` to the details when there is a value for it.
    #[must_use]
    pub fn detail(mut self, name: &'static str, value: Option<&'a str>) -> Self {
        if let Some(value) = value {
            self.details.insert(name, value);
        }
        self
    }

    /// The message body.
    #[must_use]
    pub fn body(&self) -> String {
        // Text fields and a map keyed by text: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_common_fields_and_only_the_details_given() {
        let alert = Alert::new(
            "backup-verifier",
            "cutover-1",
            "check_failed",
            "arn:aws:rds:eu-west-1:123456789012:cluster:payments",
            "under the wrong key",
        )
        .detail("check", Some("Encryption"))
        .detail("event_id", None)
        .detail("detail_type", Some("Backup Job State Change"));
        let body: serde_json::Value = serde_json::from_str(&alert.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "function": "backup-verifier",
                "migration_id": "cutover-1",
                "kind": "check_failed",
                "subject": "arn:aws:rds:eu-west-1:123456789012:cluster:payments",
                "reason": "under the wrong key",
                "details": {"check": "Encryption", "detail_type": "Backup Job State Change"}
            })
        );
    }

    #[test]
    fn text_that_needs_escaping_survives_the_round_trip() {
        let reason = "quote \" backslash \\ newline \n tab \t";
        let body = Alert::new("f", "m", "k", "s", reason).body();
        let back: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(back["reason"], reason);
        assert_eq!(back["details"], serde_json::json!({}));
    }
}
