//! The plan: the steps of the shift, each an AWS share in percent and how long it holds.
//!
//! It is stored as JSON in the plan parameter, for example a linear plan
//! `[{"aws_percent":10,"hold_seconds":300},{"aws_percent":25,"hold_seconds":600},
//! {"aws_percent":50,"hold_seconds":900},{"aws_percent":100,"hold_seconds":900}]` or a
//! canary `[{"aws_percent":5,"hold_seconds":1800},{"aws_percent":100,"hold_seconds":600}]`.
//! A plan must be non-empty, strictly increasing, within 0..=100 and end at exactly 100;
//! anything else is refused as a whole, before any change is made.

use serde::Deserialize;

/// At most this many steps; a longer plan is almost certainly a mistake.
pub const MAX_STEPS: usize = 50;

/// One step of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The share of traffic sent to AWS at this step, 0 to 100.
    pub aws_percent: u8,
    /// How long the step must hold, with every gate OK, before the next one; the shifter
    /// never holds less than the record's TTL, whatever this says.
    pub hold_seconds: u64,
}

/// A checked plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<Step>,
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The text is not a JSON list of steps.
    #[error("{0}")]
    Shape(String),
    /// The list is empty.
    #[error("the plan has no steps")]
    Empty,
    /// Too many steps.
    #[error("the plan has {0} steps, more than the 50 allowed")]
    TooLong(usize),
    /// A step's share is above 100.
    #[error(
        "step {step} sends {} percent to AWS, outside 0..=100",
        migration_shared::json::shown_number(*percent)
    )]
    OutOfRange {
        /// The step's position, counted from 1.
        step: usize,
        /// Its share.
        percent: u64,
    },
    /// A step does not raise the share.
    #[error("step {step} ({percent} percent) does not raise the share of step {previous}")]
    NotIncreasing {
        /// The step's position, counted from 1.
        step: usize,
        /// Its share.
        percent: u8,
        /// The previous step's position.
        previous: usize,
    },
    /// The last step is not a full cutover.
    #[error("the last step sends {0} percent to AWS; a plan must end at 100")]
    NotComplete(u8),
}

/// The wire form, wide enough to report a share above 255 as out of range.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    aws_percent: u64,
    hold_seconds: u64,
}

impl Plan {
    /// Parses and checks the plan's JSON text.
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let raw: Vec<RawStep> = migration_shared::json::from_str(text)
            .map_err(|e| PlanError::Shape(e.describe("the plan")))?;
        let mut steps = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let percent = u8::try_from(r.aws_percent)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or(PlanError::OutOfRange {
                    step: i + 1,
                    percent: r.aws_percent,
                })?;
            steps.push(Step {
                aws_percent: percent,
                hold_seconds: r.hold_seconds,
            });
        }
        Self::new(steps)
    }

    /// Checks `steps` as a plan.
    pub fn new(steps: Vec<Step>) -> Result<Self, PlanError> {
        let Some(last) = steps.last() else {
            return Err(PlanError::Empty);
        };
        if steps.len() > MAX_STEPS {
            return Err(PlanError::TooLong(steps.len()));
        }
        for (i, step) in steps.iter().enumerate() {
            if step.aws_percent > 100 {
                return Err(PlanError::OutOfRange {
                    step: i + 1,
                    percent: step.aws_percent.into(),
                });
            }
            if i > 0 && step.aws_percent <= steps[i - 1].aws_percent {
                return Err(PlanError::NotIncreasing {
                    step: i + 1,
                    percent: step.aws_percent,
                    previous: i,
                });
            }
        }
        if last.aws_percent != 100 {
            return Err(PlanError::NotComplete(last.aws_percent));
        }
        Ok(Self { steps })
    }

    /// The steps in order.
    #[must_use]
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The first step that sends more than `aws_percent` to AWS, if any.
    #[must_use]
    pub fn next_after(&self, aws_percent: u8) -> Option<Step> {
        self.steps
            .iter()
            .find(|s| s.aws_percent > aws_percent)
            .copied()
    }

    /// How long a share of `aws_percent` must hold before the next step: the hold of the
    /// highest step at or below it (a share set by hand holds like the step below it), never
    /// less than `ttl_seconds`; just the TTL below the first step.
    #[must_use]
    pub fn hold_for(&self, aws_percent: u8, ttl_seconds: u64) -> u64 {
        self.steps
            .iter()
            .rev()
            .find(|s| s.aws_percent <= aws_percent)
            .map_or(0, |s| s.hold_seconds)
            .max(ttl_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(aws_percent: u8, hold_seconds: u64) -> Step {
        Step {
            aws_percent,
            hold_seconds,
        }
    }

    #[test]
    fn linear_and_canary_plans_are_accepted() {
        let linear = Plan::parse(
            r#"[{"aws_percent":10,"hold_seconds":300},{"aws_percent":25,"hold_seconds":600},
                {"aws_percent":50,"hold_seconds":900},{"aws_percent":75,"hold_seconds":900},
                {"aws_percent":100,"hold_seconds":60}]"#,
        )
        .unwrap();
        assert_eq!(linear.steps().len(), 5);
        assert_eq!(linear.steps()[1], step(25, 600));
        let canary = Plan::new(vec![step(5, 1800), step(100, 0)]).unwrap();
        assert_eq!(canary.next_after(0), Some(step(5, 1800)));
        assert_eq!(canary.next_after(5), Some(step(100, 0)));
        assert_eq!(canary.next_after(100), None);
    }

    #[test]
    fn bad_plans_are_refused_with_the_reason() {
        let cases: [(&str, &str); 8] = [
            ("[]", "the plan has no steps"),
            (
                r#"[{"aws_percent":10,"hold_seconds":60},{"aws_percent":10,"hold_seconds":60},
                   {"aws_percent":100,"hold_seconds":60}]"#,
                "step 2 (10 percent) does not raise the share of step 1",
            ),
            (
                r#"[{"aws_percent":50,"hold_seconds":60},{"aws_percent":25,"hold_seconds":60}]"#,
                "step 2 (25 percent) does not raise the share of step 1",
            ),
            (
                r#"[{"aws_percent":300,"hold_seconds":60}]"#,
                "step 1 sends 300 percent to AWS, outside 0..=100",
            ),
            (
                r#"[{"aws_percent":101,"hold_seconds":60}]"#,
                "step 1 sends 101 percent to AWS, outside 0..=100",
            ),
            (
                r#"[{"aws_percent":4111111111111111,"hold_seconds":60}]"#,
                "step 1 sends (16 digits) percent to AWS, outside 0..=100",
            ),
            (
                r#"[{"aws_percent":10,"hold_seconds":60},{"aws_percent":90,"hold_seconds":60}]"#,
                "the last step sends 90 percent to AWS; a plan must end at 100",
            ),
            (
                r#"{"steps":[]}"#,
                "the plan has the wrong shape (line 1 column 0): invalid type: map, \
                 expected a sequence",
            ),
        ];
        for (text, expected) in cases {
            let err = Plan::parse(text).unwrap_err();
            assert_eq!(err.to_string(), expected, "{text}");
        }
        let negative = Plan::parse(r#"[{"aws_percent":-5,"hold_seconds":60}]"#).unwrap_err();
        assert_eq!(
            negative.to_string(),
            "the plan has the wrong shape at `[0].aws_percent` (line 1 column 18): invalid \
             value: integer `…`, expected u64"
        );
        let typo = Plan::parse(r#"[{"aws_pct":100,"hold_seconds":60}]"#).unwrap_err();
        assert!(typo.to_string().contains("unknown field"), "{typo}");
        let long: Vec<Step> = (0..=50).map(|p| step(p * 2, 0)).collect();
        assert_eq!(Plan::new(long).unwrap_err(), PlanError::TooLong(51));
    }

    #[test]
    fn the_hold_is_never_below_the_ttl() {
        let plan = Plan::new(vec![step(10, 300), step(50, 30), step(100, 600)]).unwrap();
        assert_eq!(plan.hold_for(0, 60), 60, "before the first step: the TTL");
        assert_eq!(plan.hold_for(10, 60), 300);
        assert_eq!(
            plan.hold_for(50, 60),
            60,
            "a 30 s hold is raised to the 60 s TTL"
        );
        assert_eq!(
            plan.hold_for(30, 60),
            300,
            "a share set by hand holds like step 10"
        );
        assert_eq!(plan.hold_for(100, 60), 600);
    }
}
