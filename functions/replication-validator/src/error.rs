//! The one error type of the validator: every database failure names the side, the table
//! and the cause, and never the password.

use std::fmt;

use migration_shared::error::{Classify, Transience};
use serde::Serialize;

/// Which database a statement ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The on-premises database being migrated from.
    Source,
    /// The database being migrated to.
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Target => "target",
        })
    }
}

/// Server errors worth trying again: lock wait timeout, deadlock, too many connections,
/// the statement time budget (MariaDB and MySQL), a lost connection.
const TRANSIENT_SERVER_CODES: &[u16] = &[1040, 1205, 1213, 1969, 3024, 2006, 2013];

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// A connection URL that cannot be used; the URL itself is never repeated.
    #[error("invalid {side} database url: {reason}")]
    InvalidUrl {
        /// The side the URL is for.
        side: Side,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be reached or refused the login.
    #[error("failed to connect to the {side} database: {cause}")]
    Connect {
        /// The side.
        side: Side,
        /// The driver's or server's message (which never holds the password).
        cause: String,
        /// Whether connecting again may work.
        transience: Transience,
    },
    /// The schema has no such table.
    #[error("table {schema}.{table} does not exist on the {side}")]
    TableNotFound {
        /// The side.
        side: Side,
        /// The schema (database) looked in.
        schema: String,
        /// The table.
        table: String,
    },
    /// A statement failed.
    #[error("failed to {action} table {table} on the {side}: {cause}")]
    Query {
        /// The side.
        side: Side,
        /// The table.
        table: String,
        /// What the statement was for.
        action: &'static str,
        /// The server's or driver's message.
        cause: String,
        /// Whether running it again may work.
        transience: Transience,
    },
    /// A setting or message that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A configuration variable is missing or wrong.
    #[error(transparent)]
    Config(#[from] migration_shared::config::ConfigError),
    /// A parameter or secret could not be read.
    #[error(transparent)]
    Shared(#[from] migration_shared::Error),
    /// A database secret that is not the expected JSON.
    #[error("invalid database secret {secret_id}: {reason}")]
    Secret {
        /// The secret's id.
        secret_id: String,
        /// What is wrong; never a value from the secret.
        reason: String,
    },
    /// An AWS call failed.
    #[error("failed to {action}: {cause}")]
    Aws {
        /// What the call was for, naming the resource.
        action: String,
        /// What the service said.
        cause: String,
        /// Whether calling again may work.
        transience: Transience,
    },
}

/// The cause of a driver error in one line, and whether it is worth retrying.
fn describe(err: &mysql_async::Error) -> (String, Transience) {
    match err {
        mysql_async::Error::Server(e) => {
            let transience = if TRANSIENT_SERVER_CODES.contains(&e.code) {
                Transience::Transient
            } else {
                Transience::Permanent
            };
            (format!("{} (error {})", e.message, e.code), transience)
        }
        // rustls reports a refused handshake (an untrusted or misnamed certificate) as
        // invalid data; another try meets the same certificate.
        mysql_async::Error::Io(mysql_async::IoError::Io(e))
            if e.kind() == std::io::ErrorKind::InvalidData =>
        {
            let cause = e
                .get_ref()
                .map_or_else(|| e.to_string(), ToString::to_string);
            (
                format!("TLS handshake refused: {cause}"),
                Transience::Permanent,
            )
        }
        mysql_async::Error::Io(mysql_async::IoError::Tls(e)) => {
            (format!("TLS handshake refused: {e}"), Transience::Permanent)
        }
        mysql_async::Error::Io(e) => (e.to_string(), Transience::Transient),
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => (
            "the server offers no TLS, which the ssl mode requires".to_owned(),
            Transience::Permanent,
        ),
        mysql_async::Error::Driver(e) => (e.to_string(), Transience::Transient),
        mysql_async::Error::Other(e) => (e.to_string(), Transience::Permanent),
        mysql_async::Error::Url(_) => (
            "invalid connection options".to_owned(),
            Transience::Permanent,
        ),
    }
}

impl ValidatorError {
    /// A failed statement on `side` for `table`.
    #[must_use]
    pub fn query(side: Side, table: &str, action: &'static str, err: &mysql_async::Error) -> Self {
        let (cause, transience) = describe(err);
        Self::Query {
            side,
            table: table.to_owned(),
            action,
            cause,
            transience,
        }
    }

    /// A failed connection to `side`.
    #[must_use]
    pub fn connect(side: Side, err: &mysql_async::Error) -> Self {
        let (cause, transience) = describe(err);
        Self::Connect {
            side,
            cause,
            transience,
        }
    }
}

impl Classify for ValidatorError {
    fn transience(&self) -> Transience {
        match self {
            Self::Connect { transience, .. }
            | Self::Query { transience, .. }
            | Self::Aws { transience, .. } => *transience,
            Self::Shared(e) => e.transience(),
            Self::InvalidUrl { .. }
            | Self::TableNotFound { .. }
            | Self::Invalid(_)
            | Self::Config(_)
            | Self::Secret { .. } => Transience::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_tls_handshake_or_a_server_without_tls_is_not_retried() {
        let refused = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        )));
        let err = ValidatorError::connect(Side::Target, &refused);
        assert_eq!(
            err.to_string(),
            "failed to connect to the target database: TLS handshake refused: invalid peer \
             certificate: UnknownIssuer"
        );
        assert_eq!(err.transience(), Transience::Permanent);
        let plain = mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer);
        assert_eq!(
            ValidatorError::connect(Side::Source, &plain).transience(),
            Transience::Permanent
        );
        // A connection cut on the way is still worth another try.
        let reset = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(
            ValidatorError::connect(Side::Source, &reset).transience(),
            Transience::Transient
        );
    }
}
