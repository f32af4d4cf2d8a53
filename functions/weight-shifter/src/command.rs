//! Operator commands, as they arrive in the body of an SQS FIFO message (or as the whole
//! payload of a direct invocation):
//!
//! ```json
//! {"command":"set","id":"cab-2026-12-04-07","percent":25,"force":false,"reason":"CAB 118"}
//! ```
//!
//! `command` is one of `advance`, `pause`, `resume`, `abort`, `set`, `status`; `percent`
//! and `force` belong to `set` only; `id` (optional, at most 128 characters) names the
//! command so a resent copy is recognised; `reason` (optional) is kept in the history.

use serde::Deserialize;

use crate::error::Error;

/// The most characters of a command id.
pub const MAX_ID_CHARS: usize = 128;
/// The most characters of an operator's reason.
pub const MAX_NOTE_CHARS: usize = 500;

/// A command message's body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// The command's name.
    pub command: String,
    /// The operator's id for this command.
    #[serde(default)]
    pub id: Option<String>,
    /// The AWS share for `set`.
    #[serde(default)]
    pub percent: Option<i64>,
    /// Whether `set` skips the gates.
    #[serde(default)]
    pub force: Option<bool>,
    /// Why, in the operator's words.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A checked command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The next step of the plan now, gated.
    Advance,
    /// Stop advancing.
    Pause,
    /// Start, or continue after a pause, a rollback or an abort.
    Resume,
    /// All traffic on premises, ungated, and pause.
    Abort,
    /// A given AWS share, gated unless forced.
    Set {
        /// The share.
        percent: u8,
        /// Whether the gates are skipped.
        force: bool,
    },
    /// Report the state; changes nothing.
    Status,
}

impl Command {
    /// The command's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Advance => "advance",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Abort => "abort",
            Self::Set { .. } => "set",
            Self::Status => "status",
        }
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::Command(reason.into())
}

impl CommandBody {
    /// The command the body asks for; an error says what is wrong with it.
    pub fn parse(&self) -> Result<Command, Error> {
        if let Some(id) = &self.id
            && (id.trim().is_empty() || id.chars().count() > MAX_ID_CHARS)
        {
            return Err(invalid("id must be 1 to 128 characters"));
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(invalid("reason is longer than 500 characters"));
        }
        let name = self.command.trim().to_ascii_lowercase();
        let command = match name.as_str() {
            "advance" => Command::Advance,
            "pause" => Command::Pause,
            "resume" => Command::Resume,
            "abort" => Command::Abort,
            "status" => Command::Status,
            "set" => {
                let Some(percent) = self.percent else {
                    return Err(invalid("set needs a percent"));
                };
                let percent = u8::try_from(percent)
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| {
                        invalid(format!(
                            "percent {} is outside 0..=100",
                            migration_shared::json::shown_number(percent)
                        ))
                    })?;
                return Ok(Command::Set {
                    percent,
                    force: self.force.unwrap_or(false),
                });
            }
            _ => {
                let shown = migration_shared::json::shown_name(self.command.trim());
                return Err(invalid(format!(
                    "unknown command `{shown}`; expected advance, pause, resume, abort, set \
                     or status"
                )));
            }
        };
        if self.percent.is_some() || self.force.is_some() {
            return Err(invalid(format!(
                "percent and force belong to set, not {}",
                command.name()
            )));
        }
        Ok(command)
    }

    /// The ids that tell this command apart: the body's `id` and the FIFO deduplication
    /// id, when present; the SQS message id when neither is.
    #[must_use]
    pub fn keys(&self, deduplication_id: Option<&str>, message_id: Option<&str>) -> Vec<String> {
        let mut keys: Vec<String> = [self.id.as_deref(), deduplication_id]
            .into_iter()
            .flatten()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty()
            && let Some(id) = message_id
        {
            keys.push(id.to_owned());
        }
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> CommandBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_command_parses() {
        let cases = [
            (r#"{"command":"advance"}"#, Command::Advance),
            (r#"{"command":"PAUSE","reason":"dba"}"#, Command::Pause),
            (r#"{"command":"resume","id":"r-1"}"#, Command::Resume),
            (r#"{"command":"abort"}"#, Command::Abort),
            (r#"{"command":"status"}"#, Command::Status),
            (
                r#"{"command":"set","percent":40}"#,
                Command::Set {
                    percent: 40,
                    force: false,
                },
            ),
            (
                r#"{"command":"set","percent":0,"force":true}"#,
                Command::Set {
                    percent: 0,
                    force: true,
                },
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(body(json).parse().unwrap(), expected, "{json}");
        }
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        let cases = [
            (
                r#"{"command":"frobnicate"}"#,
                "invalid command: unknown command `frobnicate`; expected advance, pause, \
                 resume, abort, set or status",
            ),
            (
                r#"{"command":"pay 4111111111111111"}"#,
                "invalid command: unknown command `…`; expected advance, pause, resume, abort, \
                 set or status",
            ),
            (
                r#"{"command":"set","percent":4111111111111111}"#,
                "invalid command: percent (16 digits) is outside 0..=100",
            ),
            (
                r#"{"command":"set"}"#,
                "invalid command: set needs a percent",
            ),
            (
                r#"{"command":"set","percent":101}"#,
                "invalid command: percent 101 is outside 0..=100",
            ),
            (
                r#"{"command":"set","percent":-1}"#,
                "invalid command: percent -1 is outside 0..=100",
            ),
            (
                r#"{"command":"advance","force":true}"#,
                "invalid command: percent and force belong to set, not advance",
            ),
            (
                r#"{"command":"pause","id":" "}"#,
                "invalid command: id must be 1 to 128 characters",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(body(json).parse().unwrap_err().to_string(), expected);
        }
        assert!(serde_json::from_str::<CommandBody>(r#"{"command":"set","forse":true}"#).is_err());
    }

    #[test]
    fn keys_prefer_the_operators_id_and_the_deduplication_id() {
        let b = body(r#"{"command":"advance","id":"op-7"}"#);
        assert_eq!(b.keys(Some("d-1"), Some("m-1")), ["op-7", "d-1"]);
        let anonymous = body(r#"{"command":"advance"}"#);
        assert_eq!(anonymous.keys(Some("d-1"), Some("m-1")), ["d-1"]);
        assert_eq!(anonymous.keys(None, Some("m-1")), ["m-1"]);
        assert!(anonymous.keys(None, None).is_empty());
    }
}
