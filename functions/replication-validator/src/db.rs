//! Connections to one side: a bounded pool whose every connection pins the session
//! character set (utf8mb4), time zone (`+00:00`) and a statement time budget, so both sides
//! are read the same way and a validation never holds production up for long. Each side
//! connects in plain TCP or over TLS as its [`SslMode`] says (rustls, as the SDK's client).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};

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

/// How a side's connections are protected, after the MySQL client's `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP.
    #[default]
    Disabled,
    /// TLS, and a server without it is refused; its certificate is not checked, which keeps
    /// the traffic from being read on the way but not a server from being impersonated.
    Required,
    /// TLS with a certificate that chains to a trusted authority: the `ssl_ca` file, else
    /// the public web roots.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyIdentity,
}

impl SslMode {
    /// The name it is written as: `disabled`, `required`, `verify_ca`, `verify_identity`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Required => "required",
            Self::VerifyCa => "verify_ca",
            Self::VerifyIdentity => "verify_identity",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    /// Any case, `-` or `_`: `VERIFY_IDENTITY`, `verify-identity`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase().replace('-', "_");
        [
            Self::Disabled,
            Self::Required,
            Self::VerifyCa,
            Self::VerifyIdentity,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
        .ok_or_else(|| "expected disabled, required, verify_ca or verify_identity".to_owned())
    }
}

/// A side's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    /// The mode.
    pub mode: SslMode,
    /// A PEM file of the authorities to trust instead of the public web roots (for Aurora,
    /// the RDS certificate bundle); only with `verify_ca` or `verify_identity`.
    pub ca: Option<PathBuf>,
}

impl Tls {
    /// Checks that the settings go together: an `ssl_ca` is only read when certificates are
    /// verified, and a file that would be ignored is more likely a mistake than a wish.
    pub fn new(mode: SslMode, ca: Option<PathBuf>) -> Result<Self, String> {
        if ca.is_some() && !mode.verifies() {
            return Err(format!(
                "a CA file is only used with ssl mode verify_ca or verify_identity, not {mode}"
            ));
        }
        Ok(Self { mode, ca })
    }

    /// The driver's TLS options, with the CA file read; `None` for plain TCP.
    async fn driver_options(&self) -> Result<Option<SslOpts>, String> {
        let mut opts = match self.mode {
            SslMode::Disabled => return Ok(None),
            SslMode::Required => SslOpts::default().with_danger_accept_invalid_certs(true),
            SslMode::VerifyCa => SslOpts::default().with_danger_skip_domain_validation(true),
            SslMode::VerifyIdentity => SslOpts::default(),
        };
        if let Some(path) = &self.ca {
            let pem = tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            if !pem
                .windows(CERTIFICATE.len())
                .any(|w| w == CERTIFICATE.as_bytes())
            {
                return Err(format!(
                    "the CA file {} holds no PEM certificate",
                    path.display()
                ));
            }
            opts = opts
                .with_root_certs(vec![pem.into()])
                .with_disable_built_in_roots(true);
        }
        Ok(Some(opts))
    }
}

const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";

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
    /// Plain TCP or TLS.
    pub tls: Tls,
}

impl Endpoint {
    /// Parses `mysql://user:pass@host:port/db?ssl_mode=verify_identity&ssl_ca=/path.pem`.
    /// `ssl_mode` is `disabled` (the default), `required`, `verify_ca` or `verify_identity`;
    /// `ssl_ca` alone means `verify_identity`. The driver's own TLS options (`require_ssl`,
    /// `verify_ca`, ...) are refused in favour of these, so that a URL says one thing only.
    /// Errors describe what is wrong without repeating the URL, which holds the password.
    pub fn from_url(side: Side, url: &str) -> Result<Self, ValidatorError> {
        let invalid = |reason: &str| ValidatorError::InvalidUrl {
            side,
            reason: reason.to_owned(),
        };
        let (url, mode, ca) = take_tls_options(url).map_err(|e| invalid(&e))?;
        let mode = match (mode, &ca) {
            (Some(mode), _) => mode,
            (None, Some(_)) => SslMode::VerifyIdentity,
            (None, None) => SslMode::Disabled,
        };
        let tls = Tls::new(mode, ca).map_err(|e| invalid(&e))?;
        let opts = Opts::from_url(&url)
            .map_err(|_| invalid("expected mysql://user:password@host:port/database"))?;
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
            tls,
        })
    }
}

/// The driver's own URL options for TLS, which are refused in favour of `ssl_mode`.
const DRIVER_TLS_OPTIONS: [&str; 4] = [
    "require_ssl",
    "verify_ca",
    "verify_identity",
    "built_in_roots",
];

/// Takes `ssl_mode` and `ssl_ca` (or `ssl-mode`, `ssl-ca`) out of the query string of
/// `url`, which the driver would refuse as unknown: the URL left, the mode, the CA file.
/// One of the driver's own TLS options is refused, naming it.
fn take_tls_options(url: &str) -> Result<(String, Option<SslMode>, Option<PathBuf>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None, None));
    };
    let (mut mode, mut ca, mut rest) = (None, None, Vec::new());
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Given twice, either could be the one meant: neither is guessed.
        let key = key.trim().to_ascii_lowercase().replace('-', "_");
        if let Some(option) = DRIVER_TLS_OPTIONS.into_iter().find(|o| *o == key) {
            return Err(format!(
                "{option} is not read here; say ssl_mode=required, verify_ca or \
                 verify_identity (and ssl_ca=PATH for a private authority)"
            ));
        }
        match key.as_str() {
            "ssl_mode" if mode.is_some() => return Err("ssl_mode is given twice".to_owned()),
            "ssl_mode" => {
                mode = Some(
                    value
                        .parse::<SslMode>()
                        .map_err(|e| format!("ssl_mode: {e}"))?,
                );
            }
            "ssl_ca" if ca.is_some() => return Err("ssl_ca is given twice".to_owned()),
            "ssl_ca" if value.trim().is_empty() => return Err("ssl_ca is empty".to_owned()),
            "ssl_ca" => ca = Some(PathBuf::from(percent_decoded(value)?)),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, mode, ca))
}

/// `%2F` and the like in a URL's value, decoded.
fn percent_decoded(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|_| bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit())
                .ok_or_else(|| "ssl_ca has a malformed %-escape".to_owned())?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "ssl_ca is not UTF-8 once decoded".to_owned())
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

fn builder(endpoint: &Endpoint, ssl: Option<SslOpts>) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname(endpoint.host.clone())
        .tcp_port(endpoint.port)
        .user(Some(endpoint.user.clone()))
        .pass(Some(endpoint.password.expose().to_owned()))
        .db_name(Some(endpoint.database.clone()))
        .prefer_socket(false)
        .ssl_opts(ssl)
}

impl Database {
    /// Connects to `endpoint` once to learn the server's flavor (and to fail early, naming
    /// the side, on a wrong password or an unreachable host), then opens the pool.
    pub async fn connect(
        side: Side,
        endpoint: &Endpoint,
        limits: Limits,
    ) -> Result<Self, ValidatorError> {
        let ssl = endpoint
            .tls
            .driver_options()
            .await
            .map_err(|cause| ValidatorError::Connect {
                side,
                cause,
                transience: migration_shared::Transience::Permanent,
            })?;
        let probe = async {
            let mut conn = mysql_async::Conn::new(builder(endpoint, ssl.clone()))
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
        let opts = builder(endpoint, ssl)
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
    fn the_driver_tls_options_are_refused_in_favour_of_ssl_mode() {
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
                    "invalid target database url: {option} is not read here; say \
                     ssl_mode=required, verify_ca or verify_identity (and ssl_ca=PATH for a \
                     private authority)"
                )
            );
        }
    }

    #[test]
    fn ssl_mode_and_ssl_ca_are_read_from_the_url_and_the_rest_goes_to_the_driver() {
        let url = |query: &str| format!("mysql://u:hunter2@db.internal:3306/shop{query}");
        let tls = |query: &str| Endpoint::from_url(Side::Source, &url(query)).map(|e| e.tls);
        assert_eq!(tls("").unwrap(), Tls::default());
        assert_eq!(
            tls("?prefer_socket=false&ssl_mode=required").unwrap(),
            Tls {
                mode: SslMode::Required,
                ca: None
            }
        );
        assert_eq!(
            tls("?ssl-mode=VERIFY_CA&ssl-ca=%2Fetc%2Frds%20ca.pem").unwrap(),
            Tls {
                mode: SslMode::VerifyCa,
                ca: Some(PathBuf::from("/etc/rds ca.pem"))
            }
        );
        // A CA file alone asks for the strictest check.
        assert_eq!(
            tls("?ssl_ca=/etc/ca.pem").unwrap().mode,
            SslMode::VerifyIdentity
        );
        let refused = |query: &str| {
            Endpoint::from_url(Side::Source, &url(query))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("?ssl_mode=preferred"),
            "invalid source database url: ssl_mode: expected disabled, required, verify_ca or \
             verify_identity"
        );
        assert_eq!(
            refused("?ssl_mode=disabled&ssl_ca=/etc/ca.pem"),
            "invalid source database url: a CA file is only used with ssl mode verify_ca or \
             verify_identity, not disabled"
        );
        assert_eq!(
            refused("?ssl_ca=%zz"),
            "invalid source database url: ssl_ca has a malformed %-escape"
        );
        assert!(!refused("?ssl_ca=").contains("hunter2"));
        assert_eq!(
            refused("?ssl_mode=verify_identity&ssl-mode=disabled"),
            "invalid source database url: ssl_mode is given twice"
        );
        assert_eq!(
            refused("?ssl_ca=/a.pem&SSL_CA=/b.pem"),
            "invalid source database url: ssl_ca is given twice"
        );
        // What is left still reaches the driver, which refuses what it does not know.
        assert_eq!(
            refused("?ssl_mode=required&colour=blue"),
            "invalid source database url: expected mysql://user:password@host:port/database"
        );
    }

    #[tokio::test]
    async fn each_mode_checks_what_it_says_and_no_more() {
        let options = |mode| async move {
            Tls::new(mode, None)
                .unwrap()
                .driver_options()
                .await
                .unwrap()
                .map(|o| (o.accept_invalid_certs(), o.skip_domain_validation()))
        };
        // (any certificate accepted, host name not checked)
        assert_eq!(options(SslMode::Disabled).await, None);
        assert_eq!(options(SslMode::Required).await, Some((true, false)));
        assert_eq!(options(SslMode::VerifyCa).await, Some((false, true)));
        assert_eq!(options(SslMode::VerifyIdentity).await, Some((false, false)));
    }

    #[tokio::test]
    async fn a_ca_file_that_is_missing_or_not_pem_is_named() {
        let missing = Tls::new(SslMode::VerifyCa, Some("/nonexistent/ca.pem".into())).unwrap();
        let err = missing.driver_options().await.unwrap_err();
        assert!(
            err.starts_with("cannot read the CA file /nonexistent/ca.pem: "),
            "{err}"
        );
        let text = std::env::temp_dir().join(format!("not-a-ca-{}.pem", std::process::id()));
        std::fs::write(&text, "just text").unwrap();
        let err = Tls::new(SslMode::VerifyIdentity, Some(text.clone()))
            .unwrap()
            .driver_options()
            .await
            .unwrap_err();
        std::fs::remove_file(&text).unwrap();
        assert_eq!(
            err,
            format!("the CA file {} holds no PEM certificate", text.display())
        );
        assert!(Tls::default().driver_options().await.unwrap().is_none());
    }
}
