//! Errors of the shared crate, how any error is told transient or permanent, and how an
//! error becomes the `errorType` and `errorMessage` that Lambda reports.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

use crate::config::ConfigError;

/// Whether trying the same work again later can succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transience {
    /// Throttling, a timeout, a dropped connection, a 5xx: worth retrying later.
    Transient,
    /// Bad input, a missing resource, a refused permission: retrying changes nothing.
    Permanent,
}

/// An error that knows whether it is worth retrying.
pub trait Classify {
    /// Whether the failed work may succeed if tried again later.
    fn transience(&self) -> Transience;
}

/// The errors of the shared crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A parameter or secret does not exist.
    #[error("parameter {name} does not exist")]
    ParameterNotFound {
        /// The parameter's name (or the secret's reference path).
        name: String,
    },
    /// A parameter or secret could not be read.
    #[error("failed to read parameter {name}: {reason}")]
    Parameter {
        /// The parameter's name (or the secret's reference path).
        name: String,
        /// What the service said.
        reason: String,
        /// Whether reading it again may work.
        transience: Transience,
    },
}

impl Classify for Error {
    fn transience(&self) -> Transience {
        match self {
            Self::Config(_) | Self::ParameterNotFound { .. } => Transience::Permanent,
            Self::Parameter { transience, .. } => *transience,
        }
    }
}

/// Error codes, across AWS services, that mean "slow down" or "try again".
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Tells whether an AWS SDK error is worth retrying: timeouts, connection failures,
/// throttling and server-side faults are; everything the caller got wrong is not.
pub fn sdk_transience<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> Transience {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Transience::Transient
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            if status == 429 || status >= 500 || TRANSIENT_CODES.contains(&code) {
                Transience::Transient
            } else {
                Transience::Permanent
            }
        }
        _ => Transience::Permanent,
    }
}

/// A one-line description of an AWS SDK error: the service's code and message when the
/// service answered, the whole cause chain otherwise.
pub fn sdk_message<E>(err: &SdkError<E, Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(service) = err {
        let e = service.err();
        match (e.code(), e.message()) {
            (Some(code), Some(message)) => return format!("{code}: {message}"),
            (Some(code), None) => return code.to_owned(),
            _ => {}
        }
    }
    DisplayErrorContext(err).to_string()
}

/// The error's message followed by each of its causes, joined by `": "`, skipping a cause
/// whose text the message already holds.
#[must_use]
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// The Lambda error report for `err` under the stable `error_type`.
pub fn diagnostic(error_type: &str, err: &dyn std::error::Error) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: chain(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to read table ledger")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_once() {
        let err = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            chain(&err),
            "failed to read table ledger: connection refused"
        );
        let d = diagnostic("Transient", &err);
        assert_eq!(d.error_type, "Transient");
        assert_eq!(
            d.error_message,
            "failed to read table ledger: connection refused"
        );
    }

    #[test]
    fn config_errors_are_permanent() {
        let err = Error::from(ConfigError::Missing { name: "X".into() });
        assert_eq!(err.transience(), Transience::Permanent);
        assert_eq!(err.to_string(), "missing environment variable X");
    }
}
