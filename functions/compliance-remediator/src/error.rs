//! The remediator's errors, each naming the action that failed and the resource, and how
//! they reach Lambda as an `errorType` (`Transient` or `Permanent`) and `errorMessage`.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;
use migration_shared::config::ConfigError;
use migration_shared::error::{Classify, Transience, diagnostic, sdk_message, sdk_transience};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An AWS call failed.
    #[error("failed to {action}: {reason}")]
    Aws {
        /// The action and the resource, e.g. `describe security group sg-1`.
        action: String,
        /// What the service said.
        reason: String,
        /// Whether trying again may work.
        transience: Transience,
    },
    /// The freeze window parameter exists but cannot be used.
    #[error("failed to read freeze window parameter {name}: {reason}")]
    FreezeWindow {
        /// The parameter's name.
        name: String,
        /// Why it cannot be used; never its whole value.
        reason: String,
    },
    /// A fix was applied but the resource, read again, is still not compliant.
    #[error("{action} on {resource} did not take effect: {state}")]
    NotEffective {
        /// The remediation's action.
        action: &'static str,
        /// The resource.
        resource: String,
        /// The state read after the fix.
        state: String,
    },
    /// A parameter changed while it was being rewritten.
    #[error("parameter {name} was written by someone else during its rewrite; check its value")]
    ConcurrentWrite {
        /// The parameter's name.
        name: String,
    },
    /// One or more remediations of this invocation failed; each was logged with its cause.
    #[error("{failed} remediation(s) failed, first {first}")]
    Remediation {
        /// How many failed.
        failed: usize,
        /// The first failure's message.
        first: String,
    },
}

impl Error {
    /// An error for the failed SDK call `action`.
    pub(crate) fn aws<E>(action: impl Into<String>, err: &SdkError<E, Response>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::Aws {
            action: action.into(),
            reason: sdk_message(err),
            transience: sdk_transience(err),
        }
    }
}

impl Classify for Error {
    fn transience(&self) -> Transience {
        match self {
            Self::Aws { transience, .. } => *transience,
            Self::Remediation { .. } | Self::NotEffective { .. } => Transience::Transient,
            Self::Config(_) | Self::FreezeWindow { .. } | Self::ConcurrentWrite { .. } => {
                Transience::Permanent
            }
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        let kind = match err.transience() {
            Transience::Transient => "Transient",
            Transience::Permanent => "Permanent",
        };
        diagnostic(kind, &err)
    }
}

/// Error codes, across the services remediated, that mean the resource does not exist.
const MISSING_CODES: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NotFoundException",
    "ParameterNotFound",
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "DBClusterNotFoundFault",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "NoSuchBucket",
];

/// Whether an SDK error says the resource does not exist.
pub(crate) fn is_missing<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> bool {
    match err {
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| MISSING_CODES.contains(&code)),
        _ => false,
    }
}

/// The service's error code, when the service answered.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}
