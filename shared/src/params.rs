//! Parameters and secrets read through SSM Parameter Store, cached for the life of the
//! execution environment with a bounded age.
//!
//! SecureString parameters are read with decryption. Secrets Manager secrets are read
//! through Parameter Store's `/aws/reference/secretsmanager/<secret-id>` path, so one
//! client and one IAM statement cover both. Every value comes back as a [`Secret`]; the
//! caller exposes it only where it is used.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;
use tokio::sync::Mutex;

use crate::error::{Error, Transience, sdk_message, sdk_transience};
use crate::secret::Secret;

/// The path prefix under which Parameter Store serves Secrets Manager secrets.
pub const SECRETS_MANAGER_PREFIX: &str = "/aws/reference/secretsmanager/";

/// How long a cached value is used before it is read again, unless configured otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_mins(5);

/// A parameter as read.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// Its value, decrypted if it was a SecureString.
    pub value: Secret,
    /// The parameter's version, for writes that check nobody wrote in between.
    pub version: i64,
    /// Whether it is stored as a SecureString.
    pub secure: bool,
}

/// Reads parameters and secrets, keeping each for at most `max_age`.
#[derive(Debug)]
pub struct Parameters {
    client: aws_sdk_ssm::Client,
    max_age: Duration,
    cache: Mutex<HashMap<String, (Instant, Parameter)>>,
}

impl Parameters {
    /// A reader over `client` whose cached values are at most `max_age` old.
    #[must_use]
    pub fn new(client: aws_sdk_ssm::Client, max_age: Duration) -> Self {
        Self {
            client,
            max_age,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The parameter `name`, from the cache while it is younger than the maximum age.
    pub async fn get(&self, name: &str) -> Result<Parameter, Error> {
        if let Some((read_at, parameter)) = self.cache.lock().await.get(name)
            && read_at.elapsed() < self.max_age
        {
            return Ok(parameter.clone());
        }
        self.fresh(name).await
    }

    /// The parameter `name` read from Parameter Store now; the cache is updated.
    pub async fn fresh(&self, name: &str) -> Result<Parameter, Error> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetParameterError::ParameterNotFound(_)) => Error::ParameterNotFound {
                    name: name.to_owned(),
                },
                _ => Error::Parameter {
                    name: name.to_owned(),
                    reason: sdk_message(&e),
                    transience: sdk_transience(&e),
                },
            })?;
        let raw = out.parameter.ok_or_else(|| Error::Parameter {
            name: name.to_owned(),
            reason: "the response holds no parameter".to_owned(),
            transience: Transience::Transient,
        })?;
        let parameter = Parameter {
            value: Secret::new(raw.value.unwrap_or_default()),
            version: raw.version,
            secure: raw.r#type == Some(ParameterType::SecureString),
        };
        self.cache
            .lock()
            .await
            .insert(name.to_owned(), (Instant::now(), parameter.clone()));
        Ok(parameter)
    }

    /// The Secrets Manager secret `secret_id` (a name or ARN), read through Parameter Store.
    pub async fn secret(&self, secret_id: &str) -> Result<Secret, Error> {
        let path = format!(
            "{SECRETS_MANAGER_PREFIX}{}",
            secret_id.trim_start_matches('/')
        );
        Ok(self.get(&path).await?.value)
    }

    /// Forgets the cached value of `name`, after the caller changed it.
    pub async fn invalidate(&self, name: &str) {
        self.cache.lock().await.remove(name);
    }
}
