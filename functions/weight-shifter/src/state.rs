//! The shift's state, kept as JSON in the state parameter.
//!
//! It records the AWS share applied now, the weights read back after the last move, the
//! last share that held cleanly, whether the shift is paused and why, when the weights last
//! changed, the ids of recent commands (so a redelivered one is recognised) and a short
//! history of changes with their reasons. `{}` is a valid state: a shift not started, with
//! all traffic on premises.
//!
//! A standard SSM parameter holds at most 4 KB, so the history keeps the last
//! [`MAX_HISTORY`] changes and the command ids the last [`MAX_RECENT_COMMANDS`]; when the
//! text is still too long the oldest history entries go first. The full record of every
//! change is in the function's logs, which log each one with its reason.

use serde::{Deserialize, Serialize};

use crate::weights::Weights;

/// The most characters a standard SSM parameter value may hold.
pub const MAX_STATE_BYTES: usize = 4096;
/// The most history entries kept.
pub const MAX_HISTORY: usize = 12;
/// The most command ids kept for recognising redelivered commands.
pub const MAX_RECENT_COMMANDS: usize = 24;
/// Reasons are cut to this many characters in the state (never in the logs).
pub const MAX_REASON_CHARS: usize = 160;

/// Where the shift stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Waiting for an operator's `resume` or `advance`; ticks change nothing (except that
    /// an alarm rolls back a share an operator `set` before the start).
    #[default]
    NotStarted,
    /// Ticks advance through the plan while the gates are OK.
    Running,
    /// Ticks change nothing until `resume` (except that an alarm still rolls back a shift
    /// an operator paused).
    Paused,
    /// The last step held cleanly; ticks change nothing, alarms included: after the
    /// cutover an operator moves traffic back with `abort` or `set`.
    Complete,
}

impl Phase {
    /// The phase's name, as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not-started",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Complete => "complete",
        }
    }
}

/// Who or what paused the shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseKind {
    /// An operator's `pause`.
    Operator,
    /// An automatic rollback after a gate alarm.
    Rollback,
    /// An operator's `abort`.
    Abort,
}

/// Why the shift is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// Who or what paused it.
    pub kind: PauseKind,
    /// Why.
    pub reason: String,
    /// When, in seconds since the Unix epoch.
    pub at: u64,
}

/// The weights read back after the last move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// The Route 53 pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53: Option<Weights>,
    /// The ALB forward action, when a listener is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb: Option<Weights>,
}

/// One change of the shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// When, in seconds since the Unix epoch.
    pub at: u64,
    /// What made it: `tick` or `command:<id>`.
    pub by: String,
    /// What it was: `advance`, `rollback`, `abort`, `set`, `pause`, `resume`, `complete`.
    pub action: String,
    /// The AWS share before.
    pub from: u8,
    /// The AWS share after.
    pub to: u8,
    /// Why.
    pub reason: String,
}

/// The state of the shift.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Where the shift stands.
    #[serde(default)]
    pub phase: Phase,
    /// The share of traffic on AWS now, in percent.
    #[serde(default)]
    pub aws_percent: u8,
    /// The position of [`State::aws_percent`] in the plan, counted from 1, when it is a
    /// step of the plan (a share set by hand may not be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The highest share that held for its whole hold time with every gate OK, and that
    /// is not above the current one.
    #[serde(default)]
    pub last_good: u8,
    /// Why the shift is paused, while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// When the weights last changed, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_at: Option<u64>,
    /// The weights read back after the last move.
    #[serde(default)]
    pub applied: Applied,
    /// The ids of the most recent commands, newest last.
    #[serde(default)]
    pub recent_commands: Vec<String>,
    /// The most recent changes, newest last.
    #[serde(default)]
    pub history: Vec<Change>,
}

/// Why the state parameter's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not the JSON of a state.
    #[error("{0}")]
    Shape(String),
    /// A share above 100.
    #[error("aws_percent {0} is outside 0..=100")]
    OutOfRange(u8),
}

impl State {
    /// Parses the state parameter's text.
    pub fn parse(text: &str) -> Result<Self, StateError> {
        let state: Self = migration_shared::json::from_str(text)
            .map_err(|e| StateError::Shape(e.describe("the state")))?;
        for share in [state.aws_percent, state.last_good] {
            if share > 100 {
                return Err(StateError::OutOfRange(share));
            }
        }
        Ok(state)
    }

    /// Whether any of `keys` names a command already handled.
    #[must_use]
    pub fn has_seen(&self, keys: &[String]) -> bool {
        keys.iter().any(|k| self.recent_commands.contains(k))
    }

    /// Remembers the ids of a handled command, forgetting the oldest beyond the cap.
    pub fn remember(&mut self, keys: &[String]) {
        for key in keys {
            if !self.recent_commands.contains(key) {
                self.recent_commands.push(key.clone());
            }
        }
        let excess = self
            .recent_commands
            .len()
            .saturating_sub(MAX_RECENT_COMMANDS);
        self.recent_commands.drain(..excess);
    }

    /// Appends a change to the history, forgetting the oldest beyond the cap.
    pub fn record(&mut self, mut change: Change) {
        change.reason = clip(&change.reason, MAX_REASON_CHARS);
        self.history.push(change);
        let excess = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..excess);
    }

    /// The JSON text to store, made to fit [`MAX_STATE_BYTES`] by dropping the oldest
    /// history entries, then the oldest command ids.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut state = self.clone();
        loop {
            let text = serde_json::to_string(&state).unwrap_or_default();
            if text.len() <= MAX_STATE_BYTES {
                return text;
            }
            if !state.history.is_empty() {
                state.history.remove(0);
            } else if !state.recent_commands.is_empty() {
                state.recent_commands.remove(0);
            } else {
                return text;
            }
        }
    }
}

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
#[must_use]
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_object_is_a_shift_not_started_on_premises() {
        let state = State::parse("{}").unwrap();
        assert_eq!(state.phase, Phase::NotStarted);
        assert_eq!(state.aws_percent, 0);
        assert_eq!(state.pause, None);
        assert_eq!(State::parse(&state.to_text()).unwrap(), state);
    }

    #[test]
    fn phase_names_are_the_stored_ones() {
        for phase in [
            Phase::NotStarted,
            Phase::Running,
            Phase::Paused,
            Phase::Complete,
        ] {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
    }

    #[test]
    fn unparsable_states_are_refused_with_the_reason() {
        assert_eq!(
            State::parse("not json").unwrap_err().to_string(),
            "the state is not valid JSON at line 1 column 2"
        );
        assert_eq!(
            State::parse(r#"{"aws_percent":140}"#)
                .unwrap_err()
                .to_string(),
            "aws_percent 140 is outside 0..=100"
        );
        let typo = State::parse(r#"{"phase":"running","aws_pct":10}"#).unwrap_err();
        assert!(typo.to_string().contains("unknown field"), "{typo}");
        let phase = State::parse(r#"{"phase":"sideways"}"#).unwrap_err();
        assert!(phase.to_string().contains("unknown variant"), "{phase}");
    }

    #[test]
    fn history_and_command_ids_are_capped_and_the_text_fits_a_parameter() {
        let mut state = State::default();
        for i in 0..40u8 {
            state.record(Change {
                at: u64::from(i),
                by: format!("command:{}", "x".repeat(120)),
                action: "set".into(),
                from: i,
                to: i + 1,
                reason: "r".repeat(500),
            });
            state.remember(&[format!("{i:0>128}")]);
        }
        assert_eq!(state.history.len(), MAX_HISTORY);
        assert_eq!(state.history[0].at, 28, "the oldest went first");
        assert_eq!(state.history[0].reason.chars().count(), MAX_REASON_CHARS);
        assert_eq!(state.recent_commands.len(), MAX_RECENT_COMMANDS);
        assert!(state.has_seen(&[format!("{:0>128}", 39)]));
        assert!(!state.has_seen(&[format!("{:0>128}", 3)]));
        let text = state.to_text();
        assert!(text.len() <= MAX_STATE_BYTES, "{}", text.len());
        let stored = State::parse(&text).unwrap();
        assert_eq!(stored.recent_commands, state.recent_commands);
        assert!(stored.history.len() < MAX_HISTORY);
        assert_eq!(stored.history.last(), state.history.last());
    }
}
