//! Start-up of a function: logging that follows the Lambda log format setting, one SDK
//! configuration per cold start, and the runtime loop with every invocation inside a span
//! that carries the migration's identifier.

use std::fmt::Debug;
use std::future::Future;

use aws_config::{BehaviorVersion, SdkConfig};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Set by Lambda from the function's logging configuration: `JSON` or `Text`.
pub const LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// Set by Lambda from the function's application log level (`TRACE` … `FATAL`).
pub const LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";

/// How log records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line, which CloudWatch Logs parses into fields.
    Json,
    /// Readable text, for a terminal.
    Text,
}

impl LogFormat {
    /// The format Lambda asks for in `AWS_LAMBDA_LOG_FORMAT`; text when unset.
    #[must_use]
    pub fn from_setting(setting: Option<&str>) -> Self {
        match setting {
            Some(s) if s.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// The level filter for a Lambda log level name; `RUST_LOG` directives, when set, win.
fn level_filter(level: Option<&str>) -> EnvFilter {
    let default = match level.map(str::to_ascii_uppercase).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR" | "FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    };
    EnvFilter::builder()
        .with_default_directive(default.into())
        .from_env_lossy()
}

/// A subscriber writing to `writer` in `format` at `level` (a Lambda level name).
pub fn subscriber<W>(
    format: LogFormat,
    level: Option<&str>,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(level_filter(level))
        .with_writer(writer)
        .with_target(false);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.with_ansi(false).finish()),
    }
}

/// Installs the global subscriber from the Lambda logging settings, writing to stdout
/// (`to_stderr` for command-line tools whose stdout carries their result).
pub fn init_tracing(to_stderr: bool) {
    let format = LogFormat::from_setting(std::env::var(LOG_FORMAT).ok().as_deref());
    let level = std::env::var(LOG_LEVEL).ok();
    let installed = if to_stderr {
        tracing::subscriber::set_global_default(subscriber(
            format,
            level.as_deref(),
            std::io::stderr,
        ))
    } else {
        tracing::subscriber::set_global_default(subscriber(
            format,
            level.as_deref(),
            std::io::stdout,
        ))
    };
    // A second call keeps the first subscriber; nothing else can fail here.
    drop(installed);
}

/// Loads the SDK configuration once. It honours the standard variables, among them
/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, so the same binary talks to a local
/// emulator when they are set and to AWS when they are not.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The HTTPS client every SDK client of a function shares: the SDK's own connector (its
/// timeouts and sleep source, a proxy from `HTTPS_PROXY`/`NO_PROXY` as the SDK's
/// default client reads them) over rustls with ring. The SDK's default client uses aws-lc,
/// which would add more than a megabyte to every package for algorithms a client of AWS's
/// endpoints never negotiates.
#[must_use]
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};

    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Passes on a function's configuration as read at cold start; one that cannot be used is
/// logged first, in words that name the variable, so the function's log says why it stopped
/// (returning the error from `main` alone prints only its debug form on stderr).
pub fn configuration<T, E: std::fmt::Display>(read: Result<T, E>) -> Result<T, E> {
    read.inspect_err(|e| tracing::error!(error = %e, "configuration is not usable; stopping"))
}

/// The span every invocation runs in: it carries the migration's identifier into every
/// record logged while handling it.
#[must_use]
pub fn invocation_span(migration_id: &str, request_id: &str) -> tracing::Span {
    tracing::info_span!("invocation", migration_id = %migration_id, request_id = %request_id)
}

/// Runs the Lambda runtime loop, calling `handler` for each event inside
/// [`invocation_span`].
pub async fn serve<E, R, F, Fut, Err>(
    migration_id: String,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(LambdaEvent<E>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Err>> + Send + 'static,
    Err: Into<Diagnostic> + Debug + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        let span = invocation_span(&migration_id, &event.context.request_id);
        let handler = handler.clone();
        async move { handler(event).await }.instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// Accepts one connection on 127.0.0.1 and returns the first three bytes the client sent,
    /// or nothing if no client came within ten seconds.
    fn first_bytes_of_one_connection() -> (u16, std::thread::JoinHandle<Option<[u8; 3]>>) {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let server = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nonblocking(false).unwrap();
                    let mut head = [0u8; 3];
                    return stream.read_exact(&mut head).ok().map(|()| head);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            None
        });
        (port, server)
    }

    #[tokio::test]
    async fn the_shared_client_opens_an_https_endpoint_with_a_tls_handshake() {
        use aws_sdk_ssm::config::{Credentials, Region, retry::RetryConfig};
        let (port, server) = first_bytes_of_one_connection();
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https_client())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDLOCAL", "local", None, None, "test"))
            .endpoint_url(format!("https://127.0.0.1:{port}"))
            .retry_config(RetryConfig::disabled())
            .build();
        let sent = aws_sdk_ssm::Client::from_conf(conf)
            .get_parameter()
            .name("/handshake")
            .send()
            .await;
        // A TLS record of type handshake (22) carrying the ClientHello, under the record
        // version 3.1 that TLS 1.2 and 1.3 clients both put on their first record.
        assert_eq!(server.join().unwrap(), Some([0x16, 0x03, 0x01]));
        // The listener closed without answering: a dispatch failure, not a panic over a
        // missing crypto provider.
        let err = sent.unwrap_err();
        assert!(
            matches!(err, aws_sdk_ssm::error::SdkError::DispatchFailure(_)),
            "{err:?}"
        );
    }

    fn log_one(format: LogFormat, level: Option<&str>) -> String {
        let buffer = Buffer::default();
        let sub = subscriber(format, level, buffer.clone());
        tracing::subscriber::with_default(sub, || {
            let span = invocation_span("cutover-7", "req-1");
            let _entered = span.enter();
            tracing::debug!("hidden below info");
            tracing::info!(rows = 5, "chunk compared");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_records_carry_the_migration_id_and_fields() {
        let out = log_one(LogFormat::Json, Some("INFO"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(record["message"], "chunk compared");
        assert_eq!(record["rows"], 5);
        assert_eq!(record["level"], "INFO");
        assert_eq!(record["spans"][0]["migration_id"], "cutover-7");
        assert_eq!(record["spans"][0]["request_id"], "req-1");
    }

    #[test]
    fn text_format_is_readable_and_level_follows_the_setting() {
        let out = log_one(LogFormat::Text, Some("debug"));
        assert!(out.contains("hidden below info"), "{out}");
        assert!(out.contains("migration_id=cutover-7"), "{out}");
        assert!(serde_json::from_str::<serde_json::Value>(out.lines().next().unwrap()).is_err());
    }

    #[test]
    fn an_unusable_configuration_is_logged_in_words_naming_the_variable() {
        let buffer = Buffer::default();
        let sub = subscriber(LogFormat::Json, Some("INFO"), buffer.clone());
        let read: Result<(), crate::config::ConfigError> =
            Err(crate::config::ConfigError::Missing {
                name: "ALERT_QUEUE_URL".into(),
            });
        let passed = tracing::subscriber::with_default(sub, || configuration(read));
        assert!(passed.is_err());
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let record: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(record["level"], "ERROR");
        assert_eq!(
            record["error"],
            "missing environment variable ALERT_QUEUE_URL"
        );
    }

    #[test]
    fn the_format_setting_is_case_insensitive() {
        assert_eq!(LogFormat::from_setting(Some("JSON")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("Text")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(None), LogFormat::Text);
    }
}
