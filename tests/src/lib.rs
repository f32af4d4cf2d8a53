//! The harness of the integration tests: the local stack's addresses, unique names so
//! tests run in parallel, throw-away databases on MariaDB, and the sample events.
//!
//! The stack is started by `scripts/test.sh` (or `scripts/stack.sh up`), which exports
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_CLOUDWATCH` and `MIGRATION_TEST_MYSQL_URL` (and,
//! for the validator's TLS tests, `MIGRATION_TEST_MYSQL_TLS_URL`). The
//! functions reach moto through those standard variables, exactly as they would reach AWS
//! without them.
#![expect(
    clippy::missing_panics_doc,
    reason = "the harness panics, with a message saying why, when the stack is not usable"
)]
#![allow(
    clippy::must_use_candidate,
    reason = "helpers whose results tests may ignore"
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::prelude::Queryable;

pub mod moto_template;

pub use moto_template::{
    MotoTemplate, load_template, restore_weighted_listeners, template_for_moto,
};

/// The variable that holds the MariaDB server the tests may create databases on.
pub const MYSQL_URL: &str = "MIGRATION_TEST_MYSQL_URL";
/// The stack's MariaDB with TLS, as `mysql://root@host:port` (root may also connect in
/// plain text, to set databases up).
pub const MYSQL_TLS_URL: &str = "MIGRATION_TEST_MYSQL_TLS_URL";
/// The user the TLS server lets in over TLS only, without a password.
pub const MYSQL_TLS_ONLY_USER: &str = "MIGRATION_TEST_MYSQL_TLS_ONLY_USER";
/// The PEM file of the authority that signed the TLS server's certificate for 127.0.0.1.
pub const MYSQL_TLS_CA: &str = "MIGRATION_TEST_MYSQL_TLS_CA";

/// The value of one of the stack's variables; panics saying how to start the stack.
pub fn stack_variable(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test.sh, or start the local stack \
             with scripts/stack.sh up and source .local/stack.env"
        )
    })
}

/// The SDK configuration the functions themselves load, pointed at moto by the stack's
/// `AWS_ENDPOINT_URL`.
pub async fn sdk_config() -> aws_config::SdkConfig {
    stack_variable("AWS_ENDPOINT_URL");
    migration_shared::startup::load_sdk_config().await
}

/// A name no other test of this run, nor of an earlier run, uses: `prefix-<pid>-<n>-<time>`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The MariaDB server URL without a database, as `mysql://user@host:port`.
pub fn mysql_url() -> String {
    stack_variable(MYSQL_URL).trim_end_matches('/').to_owned()
}

/// A database created for one test; [`TestDatabase::drop_database`] removes it.
pub struct TestDatabase {
    /// The database's name.
    pub name: String,
    /// A connection pool to it.
    pub pool: mysql_async::Pool,
}

impl TestDatabase {
    /// Creates an empty utf8mb4 database with a unique name starting with `prefix`.
    pub async fn create(prefix: &str) -> Self {
        let name = unique(prefix).replace('-', "_");
        let admin = mysql_async::Pool::new(mysql_url().as_str());
        let mut conn = admin.get_conn().await.expect("connect to the test MariaDB");
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        ))
        .await
        .expect("create the test database");
        drop(conn);
        admin.disconnect().await.ok();
        let pool = mysql_async::Pool::new(self::url_for(&name).as_str());
        Self { name, pool }
    }

    /// The URL of this database, as the validator takes it.
    pub fn url(&self) -> String {
        url_for(&self.name)
    }

    /// Runs each statement in order.
    pub async fn exec(&self, statements: &[&str]) {
        let mut conn = self
            .pool
            .get_conn()
            .await
            .expect("connect to the test database");
        for s in statements {
            conn.query_drop(*s)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    /// Drops the database and closes the pool.
    pub async fn drop_database(self) {
        let mut conn = self
            .pool
            .get_conn()
            .await
            .expect("connect to the test database");
        conn.query_drop(format!("DROP DATABASE `{}`", self.name))
            .await
            .ok();
        drop(conn);
        self.pool.disconnect().await.ok();
    }
}

fn url_for(database: &str) -> String {
    format!("{}/{database}", mysql_url())
}

/// The variable that names the repository's top folder for a program run outside cargo,
/// such as the rehearsal's driver.
pub const REPO_ROOT: &str = "MIGRATION_REPO_ROOT";

/// The repository's top folder: [`REPO_ROOT`] when set, else the folder above the `tests`
/// package as cargo names it when it runs a test, else where this library was compiled.
///
/// Run-time values come first because a build folder shared by two checkouts of the same
/// sources (the CI cache, a clone beside the work tree) can hand one checkout a library
/// compiled in the other, whose compile-time path then points at the wrong tree.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os(REPO_ROOT) {
        return PathBuf::from(root);
    }
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest
        .parent()
        .expect("the tests package has a parent folder")
        .to_owned()
}

/// The sample event `events/<function>/<case>.json`, parsed.
pub fn event(function: &str, case: &str) -> serde_json::Value {
    let path = repo_root()
        .join("events")
        .join(function)
        .join(format!("{case}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The ARN of the queue at `url`, which event sources and redrive policies name.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attribute = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(attribute.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("read the ARN of queue {url}: {e}"))
        .attributes()
        .and_then(|a| a.get(&attribute))
        .unwrap_or_else(|| panic!("queue {url} has no ARN"))
        .clone()
}

/// The Lambda event SQS's event source mapping would deliver for `messages` received from
/// the queue `queue_arn`: the same fields, names and attribute strings.
pub fn sqs_event(
    queue_arn: &str,
    messages: &[aws_sdk_sqs::types::Message],
) -> aws_lambda_events::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), serde_json::Value::from(v.as_str())))
                        .collect()
                })
                .unwrap_or_default();
            serde_json::json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records }))
        .expect("the event source mapping's shape parses as an SqsEvent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_found_where_cargo_runs_the_tests_not_where_they_were_built() {
        if std::env::var_os(REPO_ROOT).is_some() {
            return;
        }
        let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        assert_eq!(repo_root(), manifest.parent().unwrap());
        assert!(repo_root().join("template.json").is_file());
        assert!(repo_root().join("events").is_dir());
    }
}
