//! Connections to one side: a bounded pool whose every connection pins the session
//! character set (utf8mb4), time zone (`+00:00`) and a statement time budget, so both sides
//! are read the same way and a validation never holds production up for long.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

pub use crate::error::Side;
use crate::error::ValidatorError;
use migration_shared::Secret;

/// Limits on the load one validation puts on a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at most at once on each side, which bounds the concurrent chunk
    /// queries.
    pub max_connections: usize,
    /// The longest a single statement may run before the server stops it.
    pub statement_time: Duration,
    /// The longest to wait for a connection.
    pub connect_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 3,
            statement_time: Duration::from_secs(30),
            connect_time: Duration::from_secs(10),
        }
    }
}

/// Which server implementation answers, as far as the engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB: `max_statement_time`; `CRC32C` from 10.8.
    MariaDb {
        /// Whether the server has `CRC32C`.
        crc32c: bool,
    },
    /// MySQL and Aurora MySQL: `max_execution_time`, no `CRC32C`.
    MySql,
}

/// Where to connect: host, port, user, password and database. `Debug` masks the password.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
    /// The database (schema) holding the tables.
    pub database: String,
}

impl Endpoint {
    /// Parses `mysql://user:pass@host:port/db`. Errors describe what is missing without
    /// repeating the URL, which holds the password. A URL asking for TLS (`require_ssl`,
    /// `verify_ca`, `verify_identity`, `built_in_roots`) is refused: the driver is built
    /// without TLS, so honouring the rest of the URL would mean connecting in plain text.
    pub fn from_url(side: Side, url: &str) -> Result<Self, ValidatorError> {
        let invalid = |reason: &str| ValidatorError::InvalidUrl {
            side,
            reason: reason.to_owned(),
        };
        let opts = Opts::from_url(url)
            .map_err(|_| invalid("expected mysql://user:password@host:port/database"))?;
        if let Some(option) = tls_option(url).or(opts.ssl_opts().map(|_| "require_ssl")) {
            return Err(invalid(&format!(
                "TLS is not supported (the url sets {option}): connections are plain text"
            )));
        }
        let database = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| invalid("no database name after the port"))?
            .to_owned();
        Ok(Self {
            host: opts.ip_or_hostname().to_owned(),
            port: opts.tcp_port(),
            user: opts.user().unwrap_or_default().to_owned(),
            password: Secret::new(opts.pass().unwrap_or_default()),
            database,
        })
    }
}

/// The URL options that ask the driver for TLS, which this build does not have.
const TLS_OPTIONS: [&str; 4] = [
    "require_ssl",
    "verify_ca",
    "verify_identity",
    "built_in_roots",
];

/// The first TLS option the query string of `url` sets, if any. The driver is built without
/// TLS and would otherwise drop such an option and connect in plain text.
fn tls_option(url: &str) -> Option<&'static str> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k).trim();
        TLS_OPTIONS
            .into_iter()
            .find(|o| o.eq_ignore_ascii_case(key))
    })
}

/// One side's database: a bounded pool and what the server supports.
#[derive(Debug, Clone)]
pub struct Database {
    side: Side,
    pool: Pool,
    schema: String,
    flavor: Flavor,
    limits: Limits,
}

fn builder(endpoint: &Endpoint) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname(endpoint.host.clone())
        .tcp_port(endpoint.port)
        .user(Some(endpoint.user.clone()))
        .pass(Some(endpoint.password.expose().to_owned()))
        .db_name(Some(endpoint.database.clone()))
        .prefer_socket(false)
}

impl Database {
    /// Connects to `endpoint` once to learn the server's flavor (and to fail early, naming
    /// the side, on a wrong password or an unreachable host), then opens the pool.
    pub async fn connect(
        side: Side,
        endpoint: &Endpoint,
        limits: Limits,
    ) -> Result<Self, ValidatorError> {
        let probe = async {
            let mut conn = mysql_async::Conn::new(builder(endpoint))
                .await
                .map_err(|e| ValidatorError::connect(side, &e))?;
            let version: Option<String> = conn
                .query_first("SELECT VERSION()")
                .await
                .map_err(|e| ValidatorError::connect(side, &e))?;
            conn.disconnect().await.ok();
            Ok::<_, ValidatorError>(version.unwrap_or_default())
        };
        let version = tokio::time::timeout(limits.connect_time, probe)
            .await
            .map_err(|_| ValidatorError::Connect {
                side,
                cause: format!(
                    "no answer from {}:{} within {:?}",
                    endpoint.host, endpoint.port, limits.connect_time
                ),
                transience: migration_shared::Transience::Transient,
            })??;
        let flavor = flavor_of(&version);
        let budget = match flavor {
            Flavor::MariaDb { .. } => format!(
                "SET SESSION max_statement_time = {:.3}",
                limits.statement_time.as_secs_f64()
            ),
            Flavor::MySql => format!(
                "SET SESSION max_execution_time = {}",
                limits.statement_time.as_millis()
            ),
        };
        let constraints =
            PoolConstraints::new(0, limits.max_connections.max(1)).unwrap_or_default();
        let opts = builder(endpoint)
            .init(vec![
                "SET NAMES utf8mb4".to_owned(),
                "SET time_zone = '+00:00'".to_owned(),
                budget,
            ])
            .pool_opts(PoolOpts::default().with_constraints(constraints));
        Ok(Self {
            side,
            pool: Pool::new(opts),
            schema: endpoint.database.clone(),
            flavor,
            limits,
        })
    }

    /// Which side this is.
    #[must_use]
    pub fn side(&self) -> Side {
        self.side
    }

    /// The schema (database) holding the tables.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The server's flavor.
    #[must_use]
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// A connection from the pool, waiting at most the connect time.
    pub async fn conn(&self, table: &str) -> Result<mysql_async::Conn, ValidatorError> {
        let _ = table;
        tokio::time::timeout(self.limits.connect_time, self.pool.get_conn())
            .await
            .map_err(|_| ValidatorError::Connect {
                side: self.side,
                cause: "no connection free within the connect time".to_owned(),
                transience: migration_shared::Transience::Transient,
            })?
            .map_err(|e| ValidatorError::connect(self.side, &e))
    }

    /// Closes the pool's connections.
    pub async fn close(self) {
        self.pool.disconnect().await.ok();
    }
}

/// The flavor a `VERSION()` string names: `10.11.19-MariaDB-0+deb12u1`, `8.0.36`…
#[must_use]
pub fn flavor_of(version: &str) -> Flavor {
    if version.contains("MariaDB") {
        let mut parts = version
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        Flavor::MariaDb {
            crc32c: (major, minor) >= (10, 8),
        }
    } else {
        Flavor::MySql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flavor_follows_the_version_string() {
        assert_eq!(
            flavor_of("10.11.19-MariaDB-0+deb12u1"),
            Flavor::MariaDb { crc32c: true }
        );
        assert_eq!(
            flavor_of("10.6.2-MariaDB"),
            Flavor::MariaDb { crc32c: false }
        );
        assert_eq!(flavor_of("8.0.mysql_aurora.3.05.2"), Flavor::MySql);
    }

    #[test]
    fn a_url_error_never_repeats_the_url() {
        let err = Endpoint::from_url(Side::Target, "mysql://u:hunter2@h:3306")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid target database url: no database name after the port"
        );
        let err = Endpoint::from_url(Side::Source, "postgres://u:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let ok = Endpoint::from_url(Side::Source, "mysql://u:hunter2@h:3307/shop").unwrap();
        assert_eq!(
            (ok.host.as_str(), ok.port, ok.database.as_str()),
            ("h", 3307, "shop")
        );
        assert!(!format!("{ok:?}").contains("hunter2"));
    }

    #[test]
    fn a_url_asking_for_tls_is_refused_without_repeating_it() {
        for (query, option) in [
            ("require_ssl=true", "require_ssl"),
            ("verify_ca=false", "verify_ca"),
            (
                "prefer_socket=false&verify_identity=true",
                "verify_identity",
            ),
        ] {
            let url = format!("mysql://u:hunter2@h:3306/shop?{query}");
            let err = Endpoint::from_url(Side::Target, &url)
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "invalid target database url: TLS is not supported (the url sets \
                     {option}): connections are plain text"
                )
            );
        }
        assert!(
            Endpoint::from_url(Side::Source, "mysql://u:p@h:3306/shop?prefer_socket=false").is_ok()
        );
    }
}
