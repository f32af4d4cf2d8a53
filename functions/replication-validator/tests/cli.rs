//! The `validate` binary run as a user runs it, against the local MariaDB
//! (`MIGRATION_TEST_MYSQL_URL`, exported by `scripts/stack.sh up`): its report, its exit
//! codes and its one-line errors. The TLS tests use the stack's second server
//! (`MIGRATION_TEST_MYSQL_TLS_URL`), whose certificate for 127.0.0.1 is signed by a test
//! authority (`MIGRATION_TEST_MYSQL_TLS_CA`) and whose `MIGRATION_TEST_MYSQL_TLS_ONLY_USER`
//! is let in over TLS only.
//!
//! These tests live in the function's own crate because only here does Cargo say where the
//! built binary is (`CARGO_BIN_EXE_validate`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::process::{Command, Output};

use mysql_async::prelude::Queryable;

fn stack(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| {
            panic!("{name} is not set: run scripts/stack.sh up and source .local/stack.env")
        })
        .trim_end_matches('/')
        .to_owned()
}

fn server() -> String {
    stack("MIGRATION_TEST_MYSQL_URL")
}

/// A throw-away database with `statements` run in it; dropped by [`drop_database`].
async fn database(prefix: &str, statements: &[&str]) -> String {
    database_on(&server(), prefix, statements).await
}

async fn database_on(server: &str, prefix: &str, statements: &[&str]) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("{prefix}_{}_{nanos:x}", std::process::id());
    let pool = mysql_async::Pool::new(server);
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .await
        .unwrap();
    conn.query_drop(format!("USE `{name}`")).await.unwrap();
    for s in statements {
        conn.query_drop(*s).await.unwrap();
    }
    drop(conn);
    pool.disconnect().await.unwrap();
    name
}

async fn drop_database(name: &str) {
    drop_database_on(&server(), name).await;
}

async fn drop_database_on(server: &str, name: &str) {
    let pool = mysql_async::Pool::new(server);
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_validate"))
        .args(args)
        .env_remove("VALIDATE_SOURCE_URL")
        .env_remove("VALIDATE_TARGET_URL")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The server URL with `user:password@` in place of the original user.
fn with_password(password: &str, database: &str) -> String {
    format!("mysql://root:{password}@{}/{database}", host_of(&server()))
}

/// `host:port` of a `mysql://user@host:port` server URL.
fn host_of(server: &str) -> String {
    let (_, rest) = server.split_once("://").unwrap();
    rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_owned()
}

const TABLE: &str = "CREATE TABLE fx (pair CHAR(6) NOT NULL PRIMARY KEY, rate DECIMAL(12,6))";

#[tokio::test]
async fn matching_tables_exit_0_and_a_difference_exits_1_with_its_key() {
    let source = database(
        "cli_src",
        &[
            TABLE,
            "INSERT INTO fx VALUES ('EURUSD', 1.08), ('GBPUSD', 1.27)",
        ],
    )
    .await;
    let target = database(
        "cli_dst",
        &[
            TABLE,
            "INSERT INTO fx VALUES ('EURUSD', 1.08), ('GBPUSD', 1.27)",
        ],
    )
    .await;
    let (s, t) = (
        format!("{}/{source}", server()),
        format!("{}/{target}", server()),
    );

    let out = validate(&["--source", &s, "--target", &t]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tables"][0]["table"], "fx");
    assert_eq!(report["tables"][0]["status"], "match");
    assert_eq!(report["tables"][0]["rows_source"], 2);

    let pool = mysql_async::Pool::new(t.as_str());
    pool.get_conn()
        .await
        .unwrap()
        .query_drop("UPDATE fx SET rate = 1.270001 WHERE pair = 'GBPUSD'")
        .await
        .unwrap();
    pool.disconnect().await.unwrap();
    let out = validate(&["--source", &s, "--target", &t, "--table", "fx"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tables"][0]["status"], "mismatch");
    assert_eq!(
        report["tables"][0]["different"],
        serde_json::json!([["GBPUSD"]])
    );
    drop_database(&source).await;
    drop_database(&target).await;
}

#[tokio::test]
async fn a_wrong_password_is_one_line_naming_the_side_without_the_password() {
    let target = database("cli_dst", &[TABLE]).await;
    let wrong = with_password("Wr0ng-s3cret", &target);
    let good = format!("{}/{target}", server());
    let out = validate(&["--source", &wrong, "--target", &good, "--table", "fx"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: failed to connect to the source database: Access denied"),
        "{err}"
    );
    assert!(!err.contains("Wr0ng-s3cret") && !text(&out.stdout).contains("Wr0ng-s3cret"));
    assert!(out.stdout.is_empty());
    drop_database(&target).await;
}

#[test]
fn an_unreachable_port_is_one_line_naming_the_side() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let closed = format!("mysql://root:Pa55-word@127.0.0.1:{port}/shop");
    let out = validate(&["--source", &server_with_db("mysql"), "--target", &closed]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: failed to connect to the target database: "),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("Pa55-word"), "{err}");
}

fn server_with_db(db: &str) -> String {
    format!("{}/{db}", server())
}

#[test]
fn a_url_without_a_database_is_refused_without_repeating_it() {
    let out = validate(&[
        "--source",
        "mysql://root:Pa55-word@127.0.0.1:1",
        "--target",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: invalid source database url: no database name after the port\n"
    );
}

#[tokio::test]
async fn a_missing_table_exits_2_with_an_error_entry_naming_the_side() {
    let source = database("cli_src", &[TABLE]).await;
    let target = database("cli_dst", &[]).await;
    let (s, t) = (
        format!("{}/{source}", server()),
        format!("{}/{target}", server()),
    );
    let out = validate(&["--source", &s, "--target", &t, "--table", "fx"]);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!("table {target}.fx does not exist on the target");
    assert_eq!(text(&out.stderr), format!("error: {expected}\n"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tables"][0]["status"], "error");
    assert_eq!(report["tables"][0]["error"], expected.as_str());
    drop_database(&source).await;
    drop_database(&target).await;
}

/// Source and target URLs of two fresh databases.
async fn pair(source: &[&str], target: &[&str]) -> (String, String, String, String) {
    let s = database("cli_src", source).await;
    let t = database("cli_dst", target).await;
    let (su, tu) = (server_with_db(&s), server_with_db(&t));
    (s, t, su, tu)
}

#[tokio::test]
async fn a_table_only_on_the_target_is_a_schema_mismatch_exiting_1() {
    let (source, target, s, t) = pair(
        &[TABLE, "INSERT INTO fx VALUES ('EURUSD', 1.08)"],
        &[
            TABLE,
            "INSERT INTO fx VALUES ('EURUSD', 1.08)",
            "CREATE TABLE zz_extra (id INT NOT NULL PRIMARY KEY, note TEXT)",
        ],
    )
    .await;
    let out = validate(&["--source", &s, "--target", &t]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{report}");
    let extra = tables.iter().find(|t| t["table"] == "zz_extra").unwrap();
    assert_eq!(extra["status"], "schema_mismatch");
    assert_eq!(extra["note"], "table exists only in the target");
    assert_eq!(
        extra["schema_differences"]["missing_in_source"],
        serde_json::json!(["id", "note"])
    );
    let fx = tables.iter().find(|t| t["table"] == "fx").unwrap();
    assert_eq!(fx["status"], "match");
    drop_database(&source).await;
    drop_database(&target).await;
}

#[tokio::test]
async fn an_empty_source_schema_exits_2_naming_it() {
    let (source, target, s, t) = pair(&[], &[TABLE]).await;
    let out = validate(&["--source", &s, "--target", &t]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("error: no base tables to compare in the source database {source}\n")
    );
    assert!(out.stdout.is_empty());
    drop_database(&source).await;
    drop_database(&target).await;
}

#[test]
fn the_drivers_own_tls_option_exits_2_pointing_at_ssl_mode_without_the_password() {
    let tls = format!("{}?require_ssl=true", with_password("S3cret-tls", "shop"));
    let out = validate(&["--source", &server_with_db("mysql"), "--target", &tls]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(
        err,
        "error: invalid target database url: require_ssl is not read here; say \
         ssl_mode=required, verify_ca or verify_identity (and ssl_ca=PATH for a private \
         authority)\n"
    );
    assert!(!err.contains("S3cret-tls") && out.stdout.is_empty());
}

/// `database` on the TLS server, as the user it lets in over TLS only, with `query`.
fn over_tls_only(database: &str, query: &str) -> String {
    let host = host_of(&stack("MIGRATION_TEST_MYSQL_TLS_URL"));
    let user = stack("MIGRATION_TEST_MYSQL_TLS_ONLY_USER");
    format!("mysql://{user}@{host}/{database}?{query}")
}

#[tokio::test]
async fn every_tls_mode_compares_over_tls_and_plain_tcp_is_refused_by_the_server() {
    let tls_server = stack("MIGRATION_TEST_MYSQL_TLS_URL");
    let ca = stack("MIGRATION_TEST_MYSQL_TLS_CA");
    let source = database_on(
        &tls_server,
        "cli_tls_src",
        &[
            TABLE,
            "INSERT INTO fx VALUES ('EURUSD', 1.08), ('GBPUSD', 1.27)",
        ],
    )
    .await;
    let target = database_on(
        &tls_server,
        "cli_tls_dst",
        &[
            TABLE,
            "INSERT INTO fx VALUES ('EURUSD', 1.08), ('GBPUSD', 1.29)",
        ],
    )
    .await;
    // The user gets in over TLS only: each run that reads the tables went over TLS.
    for (source_tls, target_tls) in [
        (
            format!("ssl_mode=verify_identity&ssl_ca={ca}"),
            "ssl_mode=required".to_owned(),
        ),
        (
            format!("ssl_mode=verify_ca&ssl_ca={ca}"),
            format!("ssl_ca={ca}"),
        ),
    ] {
        let out = validate(&[
            "--source",
            &over_tls_only(&source, &source_tls),
            "--target",
            &over_tls_only(&target, &target_tls),
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{source_tls}: {}",
            text(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["tables"][0]["different"],
            serde_json::json!([["GBPUSD"]])
        );
    }
    let out = validate(&[
        "--source",
        &over_tls_only(&source, "ssl_mode=disabled"),
        "--target",
        &over_tls_only(&target, "ssl_mode=required"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: failed to connect to the source database: Access denied"),
        "{err}"
    );
    drop_database_on(&tls_server, &source).await;
    drop_database_on(&tls_server, &target).await;
}

#[tokio::test]
async fn a_certificate_from_another_authority_or_a_server_without_tls_exits_2() {
    let tls_server = stack("MIGRATION_TEST_MYSQL_TLS_URL");
    let target = database_on(&tls_server, "cli_tls_ca", &[TABLE]).await;
    // Without the test authority, the public web roots cannot vouch for the server.
    let out = validate(&[
        "--source",
        &over_tls_only(&target, "ssl_mode=required"),
        "--target",
        &over_tls_only(&target, "ssl_mode=verify_ca"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(
        err,
        "error: failed to connect to the target database: TLS handshake refused: invalid \
         peer certificate: UnknownIssuer\n"
    );
    assert!(out.stdout.is_empty());
    // The server on 3306 (or the stack's plain one) offers no TLS.
    let plain = format!("{}?ssl_mode=required", server_with_db("mysql"));
    let out = validate(&["--source", &plain, "--target", &server_with_db("mysql")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(
        err,
        "error: failed to connect to the source database: the server offers no TLS, which \
         the ssl mode requires\n"
    );
    drop_database_on(&tls_server, &target).await;
}

#[tokio::test]
async fn a_table_given_twice_is_compared_once() {
    let (source, target, s, t) = pair(&[TABLE], &[TABLE]).await;
    let out = validate(&[
        "--source", &s, "--target", &t, "--table", "fx", "--table", "fx",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tables"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["tables"][0]["table"], "fx");
    drop_database(&source).await;
    drop_database(&target).await;
}

#[tokio::test]
async fn unknown_or_malformed_column_options_exit_2_naming_them() {
    let (source, target, s, t) = pair(&[TABLE], &[TABLE]).await;
    let base = ["--source", s.as_str(), "--target", t.as_str()];
    for (option, value, expected) in [
        (
            "--aggregate",
            "rate:nosuch",
            "error: invalid --aggregate rate:nosuch: no compared table has a column nosuch\n",
        ),
        (
            "--aggregate",
            "rate:day(pair",
            "error: invalid --aggregate rate:day(pair: malformed group day(pair, expected a \
             column or day(COLUMN)\n",
        ),
        (
            "--change-column",
            "nosuch",
            &format!(
                "error: invalid --change-column nosuch: table {source}.fx has no such column \
                 on the source\n"
            ),
        ),
    ] {
        let out = validate(&[&base[..], &[option, value]].concat());
        assert_eq!(out.status.code(), Some(2), "{option} {value}");
        assert_eq!(text(&out.stderr), expected);
        assert!(out.stdout.is_empty());
    }
    let out = validate(&[&base[..], &["--aggregate", "rate:pair"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    drop_database(&source).await;
    drop_database(&target).await;
}
