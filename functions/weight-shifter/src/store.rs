//! The plan and the state in SSM Parameter Store.
//!
//! Parameter Store has no conditional write, so a state write reads the parameter's version
//! first and refuses, as a transient error, when it moved since the state was read; the
//! whole tick or command is then decided again from the newer state. A writer slipping in
//! between that check and the write is caught afterwards (the version returned skips one)
//! and logged as an error. The template gives the function a reserved concurrency of 1, so
//! two writers meet only when someone edits the parameter by hand.

use std::time::Duration;

use aws_sdk_ssm::operation::put_parameter::PutParameterError;
use migration_shared::error::{sdk_message, sdk_transience};
use migration_shared::params::Parameters;

use crate::error::Error;
use crate::plan::Plan;
use crate::state::State;

/// The plan and state parameters.
#[derive(Debug)]
pub struct Store {
    client: aws_sdk_ssm::Client,
    params: Parameters,
    plan_parameter: String,
    state_parameter: String,
}

impl Store {
    /// Over `client`, for the two parameters named.
    #[must_use]
    pub fn new(client: aws_sdk_ssm::Client, plan_parameter: &str, state_parameter: &str) -> Self {
        Self {
            params: Parameters::new(client.clone(), Duration::ZERO),
            client,
            plan_parameter: plan_parameter.to_owned(),
            state_parameter: state_parameter.to_owned(),
        }
    }

    /// The state parameter's name.
    #[must_use]
    pub fn state_parameter(&self) -> &str {
        &self.state_parameter
    }

    /// The plan, read now and checked.
    pub async fn plan(&self) -> Result<Plan, Error> {
        let parameter = self.params.fresh(&self.plan_parameter).await?;
        Plan::parse(parameter.value.expose()).map_err(|source| Error::Plan {
            parameter: self.plan_parameter.clone(),
            source,
        })
    }

    /// The state and the parameter's version, read now.
    pub async fn state(&self) -> Result<(State, i64), Error> {
        let parameter = self.params.fresh(&self.state_parameter).await?;
        let state = State::parse(parameter.value.expose()).map_err(|source| Error::State {
            parameter: self.state_parameter.clone(),
            source,
        })?;
        Ok((state, parameter.version))
    }

    /// Fails with [`Error::StateConflict`] when the state parameter is no longer at version
    /// `expected`; checked before the weights move, and again before the state is written.
    pub async fn ensure_version(&self, expected: i64) -> Result<(), Error> {
        let found = self.params.fresh(&self.state_parameter).await?.version;
        if found == expected {
            Ok(())
        } else {
            Err(Error::StateConflict {
                parameter: self.state_parameter.clone(),
                expected,
                found,
            })
        }
    }

    /// Writes `state` over version `expected`; refuses when the parameter moved since.
    /// Returns the new version.
    pub async fn write(&self, state: &State, expected: i64) -> Result<i64, Error> {
        self.ensure_version(expected).await?;
        let out = self
            .client
            .put_parameter()
            .name(&self.state_parameter)
            .value(state.to_text())
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                let transience = match e.as_service_error() {
                    Some(PutParameterError::TooManyUpdates(_)) => {
                        migration_shared::Transience::Transient
                    }
                    _ => sdk_transience(&e),
                };
                Error::StateWrite {
                    parameter: self.state_parameter.clone(),
                    reason: sdk_message(&e),
                    transience,
                }
            })?;
        let written = out.version;
        if written != expected + 1 {
            tracing::error!(
                parameter = %self.state_parameter,
                expected = expected + 1,
                written,
                "state parameter was written by someone else at the same time; \
                 this write is the latest, check the parameter's history"
            );
        }
        Ok(written)
    }
}
