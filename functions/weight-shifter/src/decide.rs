//! What a tick or a command does to the state: pure functions of the state, the plan, the
//! gate alarms and the time, so every rule is tested without AWS.
//!
//! A [`Verdict`] carries the next state and, when the weights must move, the share to move
//! them to. The caller moves the weights first and writes the state only after the weights
//! read back as asked, so a failure leaves the old state, and the next attempt decides again
//! from it.

use crate::config::RollbackTo;
use crate::plan::Plan;
use crate::state::{Change, Pause, PauseKind, Phase, State};

/// The state of one gate alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmState {
    /// Within its threshold.
    Ok,
    /// Breaching.
    Alarm,
    /// Not enough data to tell; never counted as OK.
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name for the state.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// The gate alarms as read, in the configured order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gates {
    /// Each alarm's name and state.
    pub alarms: Vec<(String, AlarmState)>,
}

impl Gates {
    /// The names of the alarms in `ALARM`.
    #[must_use]
    pub fn alarming(&self) -> Vec<&str> {
        self.named(|s| *s == AlarmState::Alarm)
    }

    /// The alarms that are not `OK`, as `name (STATE)`.
    #[must_use]
    pub fn not_ok(&self) -> Vec<String> {
        self.alarms
            .iter()
            .filter(|(_, s)| *s != AlarmState::Ok)
            .map(|(n, s)| format!("{n} ({})", s.as_str()))
            .collect()
    }

    fn named(&self, keep: impl Fn(&AlarmState) -> bool) -> Vec<&str> {
        self.alarms
            .iter()
            .filter(|(_, s)| keep(s))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// What a tick or command came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do now: a hold not over, a closed gate, a paused or finished shift.
    Unchanged,
    /// Moved to the next step of the plan.
    Advanced,
    /// Moved back after a gate alarm, and paused.
    RolledBack,
    /// The last step held cleanly; the shift is over.
    Completed,
    /// Paused by an operator.
    Paused,
    /// Resumed (or started) by an operator.
    Resumed,
    /// All traffic returned on premises, and paused.
    Aborted,
    /// Moved to a share an operator gave.
    Set,
    /// A command the rules do not allow now; nothing changed.
    Refused,
    /// A command already handled; nothing changed.
    Duplicate,
    /// A report of the state; nothing changed.
    Status,
}

impl Outcome {
    /// The outcome's name in reports, logs and the history.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Advanced => "advance",
            Self::RolledBack => "rollback",
            Self::Completed => "complete",
            Self::Paused => "pause",
            Self::Resumed => "resume",
            Self::Aborted => "abort",
            Self::Set => "set",
            Self::Refused => "refused",
            Self::Duplicate => "duplicate",
            Self::Status => "status",
        }
    }
}

/// The decision: what happened, why, the next state and, when the weights move, where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What it came to.
    pub outcome: Outcome,
    /// Why, for the logs, the history and the operator.
    pub reason: String,
    /// The state to write; equal to the old one when nothing changes.
    pub next: State,
    /// The AWS share to move the weights to, when they move.
    pub target: Option<u8>,
}

/// The time and the record's TTL, which every decision about holds needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Now, in seconds since the Unix epoch.
    pub now: u64,
    /// The weighted records' TTL in seconds: the least time between two moves.
    pub ttl: u64,
}

impl Timing {
    fn since_change(self, state: &State) -> u64 {
        state
            .last_change_at
            .map_or(u64::MAX, |t| self.now.saturating_sub(t))
    }
}

fn unchanged(state: &State, outcome: Outcome, reason: impl Into<String>) -> Verdict {
    Verdict {
        outcome,
        reason: reason.into(),
        next: state.clone(),
        target: None,
    }
}

/// A verdict that changes the state (and the share, when `to` differs from the current
/// one), with a history entry.
fn change(
    state: &State,
    mut next: State,
    outcome: Outcome,
    to: u8,
    by: &str,
    now: u64,
    reason: String,
) -> Verdict {
    let from = state.aws_percent;
    let target = (to != from).then_some(to);
    if target.is_some() {
        next.aws_percent = to;
        next.last_change_at = Some(now);
    }
    next.last_good = next.last_good.min(to);
    next.record(Change {
        at: now,
        by: by.to_owned(),
        action: outcome.as_str().to_owned(),
        from,
        to,
        reason: reason.clone(),
    });
    Verdict {
        outcome,
        reason,
        next,
        target,
    }
}

/// Where an automatic rollback from the current share goes: always lower than now.
#[must_use]
pub fn rollback_target(state: &State, rollback_to: RollbackTo) -> u8 {
    if rollback_to == RollbackTo::LastGood && state.last_good < state.aws_percent {
        state.last_good
    } else {
        0
    }
}

/// A scheduled tick: roll back on an alarm, hold, advance when the hold is over with every
/// gate OK, or finish when the last step has held. A rollback needs no plan, so it happens
/// even when the plan parameter cannot be read (`plan` is `None`); nothing else does.
#[must_use]
pub fn tick(
    state: &State,
    plan: Option<&Plan>,
    gates: &Gates,
    timing: Timing,
    rollback_to: RollbackTo,
) -> Verdict {
    match (&state.phase, &state.pause) {
        (Phase::Complete, _) => {
            return unchanged(state, Outcome::Unchanged, "the shift is complete");
        }
        (Phase::Paused, Some(p)) if p.kind != PauseKind::Operator => {
            return unchanged(
                state,
                Outcome::Unchanged,
                format!("paused until an operator resumes: {}", p.reason),
            );
        }
        _ => {}
    }
    let alarming = gates.alarming();
    if !alarming.is_empty() && state.aws_percent > 0 {
        return roll_back(state, &alarming, timing.now, rollback_to);
    }
    if state.phase == Phase::NotStarted {
        return unchanged(
            state,
            Outcome::Unchanged,
            "the shift has not started; an operator starts it with resume or advance",
        );
    }
    if let (Phase::Paused, Some(p)) = (&state.phase, &state.pause) {
        return unchanged(state, Outcome::Unchanged, p.reason.clone());
    }
    let Some(plan) = plan else {
        return unchanged(state, Outcome::Unchanged, "holding: no usable plan");
    };
    let not_ok = gates.not_ok();
    if !not_ok.is_empty() {
        return unchanged(
            state,
            Outcome::Unchanged,
            format!("holding: gate {} not OK", not_ok.join(", ")),
        );
    }
    let hold = plan.hold_for(state.aws_percent, timing.ttl);
    let elapsed = timing.since_change(state);
    if elapsed < hold {
        return unchanged(
            state,
            Outcome::Unchanged,
            format!(
                "holding {} percent: {elapsed} of {hold} seconds",
                state.aws_percent
            ),
        );
    }
    let mut next = state.clone();
    next.last_good = state.aws_percent;
    let reason = format!(
        "{} percent held at least {hold} seconds with every gate OK",
        state.aws_percent
    );
    let (outcome, to) = if let Some(step) = plan.next_after(state.aws_percent) {
        next.step = plan_position(plan, step.aws_percent);
        (Outcome::Advanced, step.aws_percent)
    } else {
        next.phase = Phase::Complete;
        (Outcome::Completed, state.aws_percent)
    };
    change(state, next, outcome, to, "tick", timing.now, reason)
}

/// The automatic rollback after `alarming` fired, which pauses the shift.
fn roll_back(state: &State, alarming: &[&str], now: u64, rollback_to: RollbackTo) -> Verdict {
    let to = rollback_target(state, rollback_to);
    let reason = format!(
        "gate alarm {} in ALARM at {} percent",
        alarming.join(", "),
        state.aws_percent
    );
    let mut next = state.clone();
    next.phase = Phase::Paused;
    next.pause = Some(Pause {
        kind: PauseKind::Rollback,
        reason: reason.clone(),
        at: now,
    });
    change(state, next, Outcome::RolledBack, to, "tick", now, reason)
}

fn plan_position(plan: &Plan, aws_percent: u8) -> Option<usize> {
    plan.steps()
        .iter()
        .position(|s| s.aws_percent == aws_percent)
        .map(|i| i + 1)
}

/// Why a gated move may not happen now, if it may not: a gate not OK, or the last change
/// younger than the record's TTL.
fn gate_refusal(state: &State, gates: &Gates, timing: Timing) -> Option<String> {
    let not_ok = gates.not_ok();
    if !not_ok.is_empty() {
        return Some(format!("gate {} not OK", not_ok.join(", ")));
    }
    let since = timing.since_change(state);
    (since < timing.ttl).then(|| {
        format!(
            "the last change was {since} seconds ago, less than the record's TTL of {} seconds",
            timing.ttl
        )
    })
}

/// An operator's `advance`: the next step of the plan now, without waiting for the hold,
/// when every gate is OK and at least the TTL has passed since the last change.
#[must_use]
pub fn advance(state: &State, plan: &Plan, gates: &Gates, timing: Timing, by: &str) -> Verdict {
    if state.phase == Phase::Complete {
        return unchanged(state, Outcome::Refused, "the shift is complete");
    }
    let Some(step) = plan.next_after(state.aws_percent) else {
        return unchanged(
            state,
            Outcome::Refused,
            format!("{} percent is the last step of the plan", state.aws_percent),
        );
    };
    if let Some(why) = gate_refusal(state, gates, timing) {
        return unchanged(state, Outcome::Refused, why);
    }
    let mut next = state.clone();
    if timing.since_change(state) >= plan.hold_for(state.aws_percent, timing.ttl) {
        next.last_good = state.aws_percent;
    }
    if next.phase == Phase::NotStarted {
        next.phase = Phase::Running;
    }
    next.step = plan_position(plan, step.aws_percent);
    change(
        state,
        next,
        Outcome::Advanced,
        step.aws_percent,
        by,
        timing.now,
        "advanced by an operator".to_owned(),
    )
}

/// An operator's `set`: a given share, gated unless forced. Lowering the share lowers the
/// last good share with it; setting a lower share after completion pauses the shift.
#[must_use]
pub fn set(
    state: &State,
    plan: Option<&Plan>,
    percent: u8,
    force: bool,
    gates: &Gates,
    timing: Timing,
    by: &str,
) -> Verdict {
    if percent == state.aws_percent {
        return unchanged(
            state,
            Outcome::Unchanged,
            format!("already at {percent} percent"),
        );
    }
    if !force && let Some(why) = gate_refusal(state, gates, timing) {
        return unchanged(state, Outcome::Refused, format!("{why}; force overrides"));
    }
    let reason = if force {
        format!("set to {percent} percent by an operator, forced past the gates")
    } else {
        format!("set to {percent} percent by an operator")
    };
    let mut next = state.clone();
    next.step = plan.and_then(|p| plan_position(p, percent));
    if state.phase == Phase::Complete {
        next.phase = Phase::Paused;
        next.pause = Some(Pause {
            kind: PauseKind::Operator,
            reason: reason.clone(),
            at: timing.now,
        });
    }
    change(state, next, Outcome::Set, percent, by, timing.now, reason)
}

/// An operator's `abort`: all traffic on premises at once, ungated, and paused.
#[must_use]
pub fn abort(state: &State, now: u64, by: &str, note: Option<&str>) -> Verdict {
    if state.aws_percent == 0
        && state
            .pause
            .as_ref()
            .is_some_and(|p| p.kind == PauseKind::Abort)
    {
        return unchanged(state, Outcome::Unchanged, "already aborted");
    }
    let reason = with_note("aborted by an operator", note);
    let mut next = state.clone();
    next.phase = Phase::Paused;
    next.step = None;
    next.pause = Some(Pause {
        kind: PauseKind::Abort,
        reason: reason.clone(),
        at: now,
    });
    change(state, next, Outcome::Aborted, 0, by, now, reason)
}

/// An operator's `pause`.
#[must_use]
pub fn pause(state: &State, now: u64, by: &str, note: Option<&str>) -> Verdict {
    match state.phase {
        Phase::Paused => unchanged(state, Outcome::Unchanged, "already paused"),
        Phase::Complete => unchanged(state, Outcome::Refused, "the shift is complete"),
        Phase::NotStarted | Phase::Running => {
            let reason = with_note("paused by an operator", note);
            let mut next = state.clone();
            next.phase = Phase::Paused;
            next.pause = Some(Pause {
                kind: PauseKind::Operator,
                reason: reason.clone(),
                at: now,
            });
            change(
                state,
                next,
                Outcome::Paused,
                state.aws_percent,
                by,
                now,
                reason,
            )
        }
    }
}

/// An operator's `resume`, which also starts a shift not started.
#[must_use]
pub fn resume(state: &State, now: u64, by: &str, note: Option<&str>) -> Verdict {
    match state.phase {
        Phase::Running => unchanged(state, Outcome::Unchanged, "already running"),
        Phase::Complete => unchanged(state, Outcome::Refused, "the shift is complete"),
        Phase::NotStarted | Phase::Paused => {
            let reason = with_note("resumed by an operator", note);
            let mut next = state.clone();
            next.phase = Phase::Running;
            next.pause = None;
            change(
                state,
                next,
                Outcome::Resumed,
                state.aws_percent,
                by,
                now,
                reason,
            )
        }
    }
}

fn with_note(what: &str, note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("{what}: {n}"),
        None => what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;

    const T0: u64 = 1_800_000_000;
    const TTL: u64 = 60;

    fn plan() -> Plan {
        let steps = [(10, 300), (25, 300), (50, 300), (100, 600)];
        Plan::new(
            steps
                .iter()
                .map(|&(aws_percent, hold_seconds)| Step {
                    aws_percent,
                    hold_seconds,
                })
                .collect(),
        )
        .unwrap()
    }

    fn gates(states: &[AlarmState]) -> Gates {
        Gates {
            alarms: states
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("gate-{i}"), s.clone()))
                .collect(),
        }
    }

    fn ok() -> Gates {
        gates(&[AlarmState::Ok, AlarmState::Ok])
    }

    fn at(now: u64) -> Timing {
        Timing { now, ttl: TTL }
    }

    fn running(aws_percent: u8, last_good: u8, changed: u64) -> State {
        State {
            phase: Phase::Running,
            aws_percent,
            last_good,
            last_change_at: Some(changed),
            ..State::default()
        }
    }

    #[test]
    fn a_tick_holds_until_the_step_has_held_then_advances() {
        let state = running(10, 0, T0);
        let early = tick(
            &state,
            Some(&plan()),
            &ok(),
            at(T0 + 299),
            RollbackTo::LastGood,
        );
        assert_eq!(early.outcome, Outcome::Unchanged);
        assert_eq!(early.next, state, "an early tick changes nothing");
        assert_eq!(early.reason, "holding 10 percent: 299 of 300 seconds");
        let due = tick(
            &state,
            Some(&plan()),
            &ok(),
            at(T0 + 300),
            RollbackTo::LastGood,
        );
        assert_eq!(due.outcome, Outcome::Advanced);
        assert_eq!(due.target, Some(25));
        assert_eq!(due.next.aws_percent, 25);
        assert_eq!(due.next.step, Some(2));
        assert_eq!(due.next.last_good, 10);
        assert_eq!(due.next.last_change_at, Some(T0 + 300));
        let entry = due.next.history.last().unwrap();
        assert_eq!(
            (entry.from, entry.to, entry.action.as_str()),
            (10, 25, "advance")
        );
    }

    #[test]
    fn insufficient_data_is_not_ok() {
        let state = running(10, 0, T0);
        let g = gates(&[AlarmState::Ok, AlarmState::InsufficientData]);
        let v = tick(
            &state,
            Some(&plan()),
            &g,
            at(T0 + 1000),
            RollbackTo::LastGood,
        );
        assert_eq!(v.outcome, Outcome::Unchanged);
        assert_eq!(v.reason, "holding: gate gate-1 (INSUFFICIENT_DATA) not OK");
        assert_eq!(v.target, None);
    }

    #[test]
    fn an_alarm_rolls_back_to_the_last_good_step_and_pauses() {
        let state = running(50, 25, T0);
        let g = gates(&[AlarmState::Ok, AlarmState::Alarm]);
        let v = tick(&state, Some(&plan()), &g, at(T0 + 5), RollbackTo::LastGood);
        assert_eq!(v.outcome, Outcome::RolledBack);
        assert_eq!(v.target, Some(25));
        assert_eq!(v.next.phase, Phase::Paused);
        let pause = v.next.pause.clone().unwrap();
        assert_eq!(pause.kind, PauseKind::Rollback);
        assert_eq!(pause.reason, "gate alarm gate-1 in ALARM at 50 percent");
        let zero = tick(&state, Some(&plan()), &g, at(T0 + 5), RollbackTo::Zero);
        assert_eq!(zero.target, Some(0));
        assert_eq!(zero.next.last_good, 0);
        // Paused after the rollback: a later tick with the alarm still on does nothing.
        let later = tick(
            &v.next,
            Some(&plan()),
            &g,
            at(T0 + 999),
            RollbackTo::LastGood,
        );
        assert_eq!(later.outcome, Outcome::Unchanged);
        assert_eq!(later.next, v.next);
    }

    #[test]
    fn a_rollback_always_lowers_the_share() {
        let state = running(25, 25, T0);
        assert_eq!(rollback_target(&state, RollbackTo::LastGood), 0);
        let state = running(25, 10, T0);
        assert_eq!(rollback_target(&state, RollbackTo::LastGood), 10);
        let state = running(0, 0, T0);
        let g = gates(&[AlarmState::Alarm]);
        let v = tick(
            &state,
            Some(&plan()),
            &g,
            at(T0 + 999),
            RollbackTo::LastGood,
        );
        assert_eq!(v.outcome, Outcome::Unchanged, "nothing on AWS to roll back");
    }

    #[test]
    fn an_operator_pause_still_rolls_back_on_an_alarm() {
        let state = pause(&running(50, 25, T0), T0 + 1, "command:p", None).next;
        let quiet = tick(
            &state,
            Some(&plan()),
            &ok(),
            at(T0 + 999),
            RollbackTo::LastGood,
        );
        assert_eq!(quiet.outcome, Outcome::Unchanged);
        let g = gates(&[AlarmState::Alarm]);
        let v = tick(
            &state,
            Some(&plan()),
            &g,
            at(T0 + 999),
            RollbackTo::LastGood,
        );
        assert_eq!((v.outcome, v.target), (Outcome::RolledBack, Some(25)));
    }

    #[test]
    fn without_a_plan_a_tick_still_rolls_back_but_never_advances() {
        let state = running(50, 25, T0);
        let alarm = gates(&[AlarmState::Alarm]);
        let v = tick(&state, None, &alarm, at(T0 + 1), RollbackTo::LastGood);
        assert_eq!((v.outcome, v.target), (Outcome::RolledBack, Some(25)));
        let quiet = tick(&state, None, &ok(), at(T0 + 9999), RollbackTo::LastGood);
        assert_eq!((quiet.outcome, quiet.target), (Outcome::Unchanged, None));
        assert_eq!(quiet.reason, "holding: no usable plan");
    }

    #[test]
    fn the_last_step_completes_the_shift() {
        let state = running(100, 50, T0);
        let v = tick(
            &state,
            Some(&plan()),
            &ok(),
            at(T0 + 600),
            RollbackTo::LastGood,
        );
        assert_eq!(v.outcome, Outcome::Completed);
        assert_eq!(v.target, None);
        assert_eq!(v.next.phase, Phase::Complete);
        assert_eq!(v.next.last_good, 100);
        let after = tick(
            &v.next,
            Some(&plan()),
            &gates(&[AlarmState::Alarm]),
            at(T0 + 700),
            RollbackTo::LastGood,
        );
        assert_eq!(after.outcome, Outcome::Unchanged);
    }

    #[test]
    fn a_share_set_before_the_start_still_rolls_back_on_an_alarm() {
        let state = State {
            aws_percent: 5,
            ..State::default()
        };
        let alarm = gates(&[AlarmState::Alarm]);
        let v = tick(&state, Some(&plan()), &alarm, at(T0), RollbackTo::LastGood);
        assert_eq!((v.outcome, v.target), (Outcome::RolledBack, Some(0)));
        assert_eq!(v.next.phase, Phase::Paused);
    }

    #[test]
    fn a_shift_not_started_waits_for_an_operator() {
        let state = State::default();
        let v = tick(&state, Some(&plan()), &ok(), at(T0), RollbackTo::LastGood);
        assert_eq!(v.outcome, Outcome::Unchanged);
        let started = resume(&state, T0, "command:go", Some("change window open")).next;
        assert_eq!(started.phase, Phase::Running);
        assert_eq!(
            started.history[0].reason,
            "resumed by an operator: change window open"
        );
        let first = tick(&started, Some(&plan()), &ok(), at(T0), RollbackTo::LastGood);
        assert_eq!((first.outcome, first.target), (Outcome::Advanced, Some(10)));
        assert_eq!(first.next.step, Some(1));
    }

    #[test]
    fn advance_skips_the_hold_but_not_the_gates_or_the_ttl() {
        let state = running(10, 0, T0);
        let early = advance(&state, &plan(), &ok(), at(T0 + 59), "command:a");
        assert_eq!(early.outcome, Outcome::Refused);
        assert_eq!(
            early.reason,
            "the last change was 59 seconds ago, less than the record's TTL of 60 seconds"
        );
        let closed = advance(
            &state,
            &plan(),
            &gates(&[AlarmState::Alarm]),
            at(T0 + 99),
            "c",
        );
        assert_eq!(closed.reason, "gate gate-0 (ALARM) not OK");
        let v = advance(&state, &plan(), &ok(), at(T0 + 60), "command:a");
        assert_eq!((v.outcome, v.target), (Outcome::Advanced, Some(25)));
        assert_eq!(v.next.last_good, 0, "10 percent did not hold its full time");
        let last = advance(&running(100, 50, T0), &plan(), &ok(), at(T0 + 999), "c");
        assert_eq!(last.outcome, Outcome::Refused);
    }

    #[test]
    fn set_is_gated_unless_forced_and_lowers_the_last_good_share() {
        let state = running(50, 25, T0);
        let alarm = gates(&[AlarmState::Alarm]);
        let refused = set(&state, Some(&plan()), 10, false, &alarm, at(T0 + 999), "c");
        assert_eq!(refused.outcome, Outcome::Refused);
        assert_eq!(refused.next, state);
        let forced = set(&state, Some(&plan()), 10, true, &alarm, at(T0 + 1), "c");
        assert_eq!((forced.outcome, forced.target), (Outcome::Set, Some(10)));
        assert_eq!(forced.next.last_good, 10);
        assert_eq!(forced.next.step, Some(1));
        let odd = set(&state, Some(&plan()), 33, false, &ok(), at(T0 + 60), "c");
        assert_eq!(odd.next.step, None, "33 percent is not a step of the plan");
        let same = set(&state, None, 50, false, &ok(), at(T0 + 60), "c");
        assert_eq!((same.outcome, same.target), (Outcome::Unchanged, None));
    }

    #[test]
    fn abort_goes_to_zero_whatever_the_gates_and_pauses() {
        let state = running(50, 25, T0);
        let v = abort(&state, T0 + 1, "command:x", None);
        assert_eq!((v.outcome, v.target), (Outcome::Aborted, Some(0)));
        assert_eq!(v.next.last_good, 0);
        assert_eq!(v.next.pause.as_ref().unwrap().kind, PauseKind::Abort);
        let again = abort(&v.next, T0 + 2, "command:y", None);
        assert_eq!(again.outcome, Outcome::Unchanged);
        let tick_after = tick(
            &v.next,
            Some(&plan()),
            &ok(),
            at(T0 + 9999),
            RollbackTo::LastGood,
        );
        assert_eq!(tick_after.outcome, Outcome::Unchanged);
    }

    #[test]
    fn pause_and_resume_do_not_move_weights() {
        let state = running(25, 10, T0);
        let paused = pause(&state, T0 + 1, "command:p", Some("db maintenance"));
        assert_eq!((paused.outcome, paused.target), (Outcome::Paused, None));
        assert_eq!(
            paused.next.last_change_at,
            Some(T0),
            "the hold clock keeps running"
        );
        assert_eq!(
            pause(&paused.next, T0 + 2, "c", None).outcome,
            Outcome::Unchanged
        );
        let resumed = resume(&paused.next, T0 + 3, "command:r", None);
        assert_eq!((resumed.outcome, resumed.target), (Outcome::Resumed, None));
        assert_eq!(resumed.next.pause, None);
        assert_eq!(
            resume(&resumed.next, T0 + 4, "c", None).outcome,
            Outcome::Unchanged
        );
    }
}
