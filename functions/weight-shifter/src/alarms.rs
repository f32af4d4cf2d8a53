//! The gate alarms' states, read from CloudWatch in one `DescribeAlarms` call per page.
//!
//! Metric and composite alarms are both read. An alarm named in the configuration that
//! CloudWatch does not know is an error, never a gate taken as open.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use migration_shared::error::{sdk_message, sdk_transience};

use crate::decide::{AlarmState, Gates};
use crate::error::Error;

/// At most this many pages are read (100 names fit in one).
const MAX_PAGES: usize = 5;

/// Reads alarm states through CloudWatch.
#[derive(Debug, Clone)]
pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
}

fn state_of(value: Option<&StateValue>) -> AlarmState {
    match value {
        Some(StateValue::Ok) => AlarmState::Ok,
        Some(StateValue::Alarm) => AlarmState::Alarm,
        // INSUFFICIENT_DATA, a state this SDK does not know, or none: not OK.
        _ => AlarmState::InsufficientData,
    }
}

impl Alarms {
    /// Over `client`.
    #[must_use]
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }

    /// The states of `names`, in that order.
    pub async fn read(&self, names: &[String]) -> Result<Gates, Error> {
        let mut seen: Vec<(String, AlarmState)> = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Error::Alarms {
                    reason: sdk_message(&e),
                    transience: sdk_transience(&e),
                })?;
            for a in out.metric_alarms() {
                if let Some(name) = a.alarm_name() {
                    seen.push((name.to_owned(), state_of(a.state_value())));
                }
            }
            for a in out.composite_alarms() {
                if let Some(name) = a.alarm_name() {
                    seen.push((name.to_owned(), state_of(a.state_value())));
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut alarms = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        for name in names {
            match seen.iter().find(|(n, _)| n == name) {
                Some((_, state)) => alarms.push((name.clone(), state.clone())),
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::AlarmNotFound {
                names: missing.join(", "),
            });
        }
        Ok(Gates { alarms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ok_is_ok() {
        assert_eq!(state_of(Some(&StateValue::Ok)), AlarmState::Ok);
        assert_eq!(state_of(Some(&StateValue::Alarm)), AlarmState::Alarm);
        assert_eq!(
            state_of(Some(&StateValue::InsufficientData)),
            AlarmState::InsufficientData
        );
        assert_eq!(state_of(None), AlarmState::InsufficientData);
    }
}
