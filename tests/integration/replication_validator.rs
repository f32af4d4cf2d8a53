//! The replication validator's engine against MariaDB: two throw-away databases on the
//! local server, the source and the target, with differences planted on purpose; every
//! report must name exactly the planted keys, no more and no fewer.
//!
//! Chunks are made small (tens to hundreds of rows) so that these small tables still go
//! through several chunks, bucket reads and the recursive narrowing of differing ranges.

use std::time::Duration;

use migration_tests::TestDatabase;
use replication_validator::engine::{AggregateSpec, InFlight, Options};
use replication_validator::{Database, Endpoint, Limits, Side, Status, TableReport};

struct Pair {
    source: TestDatabase,
    target: TestDatabase,
}

impl Pair {
    async fn new() -> Self {
        Self {
            source: TestDatabase::create("rv_src").await,
            target: TestDatabase::create("rv_dst").await,
        }
    }

    /// Runs `ddl` on both sides, fills the source with `fill` and copies it to the target.
    async fn table(&self, name: &str, ddl: &str, fill: &str) {
        self.source.exec(&[ddl, fill]).await;
        let copy = format!(
            "INSERT INTO {name} SELECT * FROM `{}`.{name}",
            self.source.name
        );
        self.target.exec(&[ddl, &copy]).await;
    }

    async fn validate(&self, table: &str, options: &Options) -> TableReport {
        let limits = Limits::default();
        let source = Database::connect(
            Side::Source,
            &Endpoint::from_url(Side::Source, &self.source.url()).unwrap(),
            limits,
        )
        .await
        .unwrap();
        let target = Database::connect(
            Side::Target,
            &Endpoint::from_url(Side::Target, &self.target.url()).unwrap(),
            limits,
        )
        .await
        .unwrap();
        let report = replication_validator::validate_table(&source, &target, table, options).await;
        source.close().await;
        target.close().await;
        report
    }

    async fn drop(self) {
        self.source.drop_database().await;
        self.target.drop_database().await;
    }
}

fn small_chunks() -> Options {
    Options {
        chunk_start_rows: 200,
        chunk_min_rows: 50,
        chunk_max_rows: 400,
        pull_rows: 40,
        bucket_rows: 16,
        ..Options::default()
    }
}

fn keys(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|k| k.iter().map(|p| (*p).to_owned()).collect())
        .collect()
}

const PAYMENTS: &str = "CREATE TABLE payments (
    id BIGINT NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency CHAR(3) NOT NULL,
    status VARCHAR(16) NOT NULL,
    memo VARCHAR(255) NULL,
    raw VARBINARY(16) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

const PAYMENT_ROWS: &str = "INSERT INTO payments
    SELECT seq, seq * 7, 10 + seq / 100, ELT(1 + seq % 3, 'USD', 'EUR', 'GBP'), 'Paid',
           CONCAT('memo ', seq, ' 💸'), UNHEX(LPAD(HEX(seq), 8, '0')),
           TIMESTAMP('2026-01-01') + INTERVAL seq SECOND + INTERVAL seq MICROSECOND,
           TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE
    FROM seq_1_to_3000";

#[tokio::test]
async fn every_kind_of_planted_difference_is_named_and_nothing_else() {
    let pair = Pair::new().await;
    pair.table("payments", PAYMENTS, PAYMENT_ROWS).await;
    // Values set alike on both sides first, where the planted change needs a starting point.
    for db in [&pair.source, &pair.target] {
        db.exec(&[
            "UPDATE payments SET memo = NULL WHERE id IN (30, 32)",
            "UPDATE payments SET memo = '' WHERE id = 31",
            "UPDATE payments SET memo = 'a' WHERE id = 33",
        ])
        .await;
    }
    pair.source
        .exec(&[
            "DELETE FROM payments WHERE id = 10",
            "UPDATE payments SET status = 'a|', memo = 'b' WHERE id = 41",
        ])
        .await;
    pair.target
        .exec(&[
            "INSERT INTO payments SELECT 5000, 1, 1.00, 'USD', 'Paid', NULL, NULL, \
             '2026-01-01', '2026-01-01'",
            "DELETE FROM payments WHERE id = 20",
            "UPDATE payments SET memo = '' WHERE id = 30",
            "UPDATE payments SET memo = NULL WHERE id = 31",
            "UPDATE payments SET memo = 'NULL' WHERE id = 32",
            "UPDATE payments SET memo = 'A' WHERE id = 33",
            "UPDATE payments SET status = 'Paid ' WHERE id = 34",
            "UPDATE payments SET memo = REPLACE(memo, '💸', '🎉') WHERE id = 35",
            "UPDATE payments SET raw = UNHEX('00000025FF') WHERE id = 36",
            "UPDATE payments SET amount = amount + 0.01 WHERE id = 37",
            "UPDATE payments SET created_at = created_at + INTERVAL 1 MICROSECOND WHERE id = 38",
            "UPDATE payments SET updated_at = updated_at + INTERVAL 1 SECOND WHERE id = 39",
            "UPDATE payments SET memo = 'memo 40 💸 café' WHERE id = 40",
            "UPDATE payments SET status = 'a', memo = '|b' WHERE id = 41",
        ])
        .await;

    let report = pair.validate("payments", &small_chunks()).await;
    assert_eq!(report.status, Status::Mismatch, "{report:?}");
    assert_eq!(report.key, ["id"]);
    assert_eq!(report.rows_source, Some(2999));
    assert_eq!(report.rows_target, Some(3000));
    assert_eq!(report.missing_in_target, keys(&[&["20"]]));
    assert_eq!(report.missing_in_source, keys(&[&["10"], &["5000"]]));
    let expected: Vec<Vec<String>> = (30..=41).map(|i| vec![i.to_string()]).collect();
    assert_eq!(report.different, expected);
    assert!(report.chunks > 3, "{}", report.chunks);
    assert!(report.in_flight.is_empty());
    pair.drop().await;
}

#[tokio::test]
async fn composite_and_string_keys_are_matched_by_exact_bytes() {
    let pair = Pair::new().await;
    pair.table(
        "ledger",
        "CREATE TABLE ledger (account VARCHAR(20) NOT NULL, seq INT NOT NULL, \
         note VARCHAR(50) NULL, PRIMARY KEY (account, seq)) \
         DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        "INSERT INTO ledger SELECT CONCAT('acct-', LPAD(a.seq, 3, '0')), b.seq, \
         CONCAT('n', a.seq * b.seq) FROM seq_1_to_200 a, seq_1_to_5 b",
    )
    .await;
    pair.source
        .exec(&["INSERT INTO ledger VALUES ('x1', 11, 'same'), ('zz', 1, 'Δ')"])
        .await;
    pair.target
        .exec(&[
            "INSERT INTO ledger VALUES ('x11', 1, 'same'), ('zz', 1, 'δ')",
            "UPDATE ledger SET account = 'ACCT-007' WHERE account = 'acct-007' AND seq = 1",
            "UPDATE ledger SET account = 'acct-008 ' WHERE account = 'acct-008' AND seq = 2",
            "UPDATE ledger SET note = 'changed' WHERE account = 'acct-150' AND seq = 5",
        ])
        .await;

    let report = pair.validate("ledger", &small_chunks()).await;
    assert_eq!(report.status, Status::Mismatch, "{report:?}");
    assert_eq!(report.key, ["account", "seq"]);
    assert_eq!(
        report.missing_in_target,
        keys(&[&["acct-007", "1"], &["acct-008", "2"], &["x1", "11"]])
    );
    assert_eq!(
        report.missing_in_source,
        keys(&[&["ACCT-007", "1"], &["acct-008 ", "2"], &["x11", "1"]])
    );
    assert_eq!(report.different, keys(&[&["acct-150", "5"], &["zz", "1"]]));
    assert_eq!(report.rows_source, Some(1002));
    pair.drop().await;
}

#[tokio::test]
async fn binary_keys_are_reported_in_hex() {
    let pair = Pair::new().await;
    pair.table(
        "tokens",
        "CREATE TABLE tokens (k VARBINARY(8) NOT NULL PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO tokens SELECT UNHEX(LPAD(HEX(seq), 4, '0')), seq FROM seq_1_to_300",
    )
    .await;
    pair.target
        .exec(&["UPDATE tokens SET v = -1 WHERE k = UNHEX('00FF')"])
        .await;
    let report = pair.validate("tokens", &small_chunks()).await;
    assert_eq!(report.different, keys(&[&["00FF"]]), "{report:?}");
    assert_eq!(report.status, Status::Mismatch);
    pair.drop().await;
}

#[tokio::test]
async fn a_table_without_a_key_is_compared_whole_and_duplicates_do_not_cancel_out() {
    let pair = Pair::new().await;
    let ddl = "CREATE TABLE audit_log (msg VARCHAR(20) NULL, n INT NULL)";
    pair.table(
        "audit_log",
        ddl,
        "INSERT INTO audit_log VALUES ('a', 1), ('a', 1), ('b', 2)",
    )
    .await;
    let report = pair.validate("audit_log", &Options::default()).await;
    assert_eq!(report.status, Status::Match, "{report:?}");
    assert!(
        report
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("whole-table checksum")
    );
    assert_eq!((report.rows_source, report.rows_target), (Some(3), Some(3)));

    // Pairs of equal rows XOR to nothing; the exact sum still sees them.
    pair.source
        .exec(&[
            "DELETE FROM audit_log",
            "INSERT INTO audit_log VALUES ('a', 1), ('a', 1)",
        ])
        .await;
    pair.target
        .exec(&[
            "DELETE FROM audit_log",
            "INSERT INTO audit_log VALUES ('c', 3), ('c', 3)",
        ])
        .await;
    let report = pair.validate("audit_log", &Options::default()).await;
    assert_eq!(report.status, Status::Mismatch, "{report:?}");
    assert!(report.different.is_empty() && report.missing_in_target.is_empty());
    pair.drop().await;
}

#[tokio::test]
async fn empty_tables_match_and_an_empty_side_misses_every_key() {
    let pair = Pair::new().await;
    pair.table(
        "refunds",
        "CREATE TABLE refunds (id INT UNSIGNED NOT NULL PRIMARY KEY, amount DECIMAL(10,2))",
        "DO 0",
    )
    .await;
    let report = pair.validate("refunds", &small_chunks()).await;
    assert_eq!(report.status, Status::Match, "{report:?}");
    assert_eq!((report.rows_source, report.rows_target), (Some(0), Some(0)));

    pair.source
        .exec(&["INSERT INTO refunds SELECT seq, seq FROM seq_1_to_250"])
        .await;
    let report = pair.validate("refunds", &small_chunks()).await;
    assert_eq!(report.status, Status::Mismatch);
    let all: Vec<Vec<String>> = (1..=250).map(|i| vec![i.to_string()]).collect();
    assert_eq!(report.missing_in_target, all);
    assert!(report.missing_in_source.is_empty());

    // The other way round: only the target has rows, the source has no key span at all.
    pair.source.exec(&["DELETE FROM refunds"]).await;
    pair.target
        .exec(&["INSERT INTO refunds SELECT seq, seq FROM seq_1_to_30"])
        .await;
    let report = pair.validate("refunds", &small_chunks()).await;
    assert_eq!(report.missing_in_source.len(), 30, "{report:?}");
    assert_eq!(report.rows_target, Some(30));
    pair.drop().await;
}

#[tokio::test]
async fn the_same_data_with_columns_declared_in_another_order_matches() {
    let pair = Pair::new().await;
    pair.source.exec(&[PAYMENTS, PAYMENT_ROWS]).await;
    let copy = format!(
        "INSERT INTO payments (id, account_id, amount, currency, status, memo, raw, \
         created_at, updated_at) SELECT * FROM `{}`.payments",
        pair.source.name
    );
    pair.target
        .exec(&[
            "CREATE TABLE payments (memo VARCHAR(255) NULL, updated_at TIMESTAMP(6) NOT NULL \
             DEFAULT CURRENT_TIMESTAMP(6), currency CHAR(3) NOT NULL, raw VARBINARY(16) NULL, \
             id BIGINT NOT NULL PRIMARY KEY, created_at DATETIME(6) NOT NULL, \
             amount DECIMAL(18,2) NOT NULL, status VARCHAR(16) NOT NULL, \
             account_id BIGINT NOT NULL) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            &copy,
        ])
        .await;
    let report = pair.validate("payments", &Options::default()).await;
    assert_eq!(report.status, Status::Match, "{report:?}");
    assert_eq!(report.rows_target, Some(3000));
    pair.drop().await;
}

#[tokio::test]
async fn schema_differences_are_reported_instead_of_rows() {
    let pair = Pair::new().await;
    pair.source
        .exec(&[
            "CREATE TABLE accounts (code VARCHAR(10) NOT NULL PRIMARY KEY, \
                 balance DECIMAL(18,2) NOT NULL, legacy INT NULL) \
                 COLLATE utf8mb4_general_ci",
        ])
        .await;
    pair.target
        .exec(&[
            "CREATE TABLE accounts (code VARCHAR(10) NOT NULL PRIMARY KEY, \
                 balance DECIMAL(18,3) NOT NULL, opened DATE NULL) COLLATE utf8mb4_bin",
        ])
        .await;
    let report = pair.validate("accounts", &Options::default()).await;
    assert_eq!(report.status, Status::SchemaMismatch, "{report:?}");
    let diff = report.schema_differences.unwrap();
    assert_eq!(diff.missing_in_target, ["legacy"]);
    assert_eq!(diff.missing_in_source, ["opened"]);
    let changed: Vec<(&str, &str, &str, &str)> = diff
        .changed
        .iter()
        .map(|c| {
            (
                c.column.as_str(),
                c.what.as_str(),
                c.source.as_str(),
                c.target.as_str(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("code", "key collation", "utf8mb4_general_ci", "utf8mb4_bin"),
            ("balance", "type", "decimal(18,2)", "decimal(18,3)"),
        ]
    );
    pair.drop().await;
}

#[tokio::test]
async fn recent_differences_are_rechecked_and_only_lasting_ones_count() {
    let pair = Pair::new().await;
    pair.table("payments", PAYMENTS, PAYMENT_ROWS).await;
    pair.source
        .exec(&[
            // Changed just now on the source, not yet on the target: in flight.
            "UPDATE payments SET amount = 99, updated_at = NOW(6) WHERE id = 100",
            // Changed just now and caught up during the re-check delay: not reported.
            "UPDATE payments SET amount = 98, updated_at = NOW(6) WHERE id = 200",
            // Changed long ago and still different: a mismatch.
            "UPDATE payments SET amount = 97 WHERE id = 300",
        ])
        .await;
    let catch_up = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let statement = format!(
            "UPDATE payments t JOIN `{}`.payments s USING (id) SET t.amount = s.amount, \
             t.updated_at = s.updated_at WHERE id = 200",
            pair.source.name
        );
        pair.target.exec(&[&statement]).await;
    };
    let options = Options {
        in_flight: Some(InFlight {
            change_column: "updated_at".into(),
            lag_window: Duration::from_mins(2),
            recheck_delay: Duration::from_millis(1500),
        }),
        ..small_chunks()
    };
    let (report, ()) = tokio::join!(pair.validate("payments", &options), catch_up);
    assert_eq!(report.in_flight, keys(&[&["100"]]), "{report:?}");
    assert_eq!(report.different, keys(&[&["300"]]));
    assert_eq!(report.status, Status::Mismatch);
    pair.drop().await;
}

#[tokio::test]
async fn aggregates_compare_exact_money_per_group_and_day() {
    let pair = Pair::new().await;
    pair.table("payments", PAYMENTS, PAYMENT_ROWS).await;
    pair.target
        .exec(&["UPDATE payments SET amount = amount + 0.01 WHERE id = 3"])
        .await;
    let options = Options {
        aggregates: vec![
            AggregateSpec::parse("amount:currency").unwrap(),
            AggregateSpec::parse("amount:day(created_at)").unwrap(),
        ],
        ..Options::default()
    };
    let report = pair.validate("payments", &options).await;
    assert_eq!(report.different, keys(&[&["3"]]));
    let by_currency: Vec<(String, bool)> = report
        .aggregates
        .iter()
        .filter(|a| a.group.len() == 1 && a.group[0].as_deref().is_some_and(|g| g.len() == 3))
        .map(|a| (a.group[0].clone().unwrap(), a.matches))
        .collect();
    // id 3 has 1 + 3 % 3 = 1 -> 'USD'.
    assert_eq!(
        by_currency,
        [
            ("EUR".into(), true),
            ("GBP".into(), true),
            ("USD".into(), false)
        ]
    );
    let usd = report
        .aggregates
        .iter()
        .find(|a| a.group[0].as_deref() == Some("USD"))
        .unwrap();
    let (s, t) = (usd.source.clone().unwrap(), usd.target.clone().unwrap());
    assert_eq!(s.count, 1000);
    assert_eq!(s.sum.as_deref(), Some("25015.00"));
    assert_eq!(t.sum.as_deref(), Some("25015.01"));
    let days: Vec<&Option<String>> = report
        .aggregates
        .iter()
        .filter(|a| {
            a.group[0]
                .as_deref()
                .is_some_and(|g| g.starts_with("2026-"))
        })
        .map(|a| &a.group[0])
        .collect();
    assert_eq!(days, [&Some("2026-01-01".to_owned())]);
    pair.drop().await;
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_the_side() {
    let pair = Pair::new().await;
    pair.source
        .exec(&["CREATE TABLE only_here (id INT PRIMARY KEY)"])
        .await;
    let report = pair.validate("only_here", &Options::default()).await;
    assert_eq!(report.status, Status::Error);
    assert_eq!(
        report.error.as_deref(),
        Some(
            format!(
                "table {}.only_here does not exist on the target",
                pair.target.name
            )
            .as_str()
        )
    );
    pair.drop().await;
}

/// The Lambda function against moto (SQS, S3, Secrets Manager read through Parameter Store)
/// and the same MariaDB.
mod lambda {
    use migration_shared::config::Env;
    use migration_shared::error::{Classify, Transience};
    use migration_tests::{event, sdk_config, sqs_event, unique};
    use replication_validator::config::{self, Config};
    use replication_validator::lambda::{ChunkResult, Deps, Job, Plan, handle, handle_job};

    use super::{PAYMENT_ROWS, PAYMENTS, Pair, keys};
    use replication_validator::{Endpoint, Side};

    const RUN: &str = "cutover-1-r1";

    struct Cloud {
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
        secrets: aws_sdk_secretsmanager::Client,
        queue_url: String,
        queue_arn: String,
        bucket: String,
        secret_id: String,
    }

    impl Cloud {
        async fn new(pair: &Pair) -> Self {
            let sdk = sdk_config().await;
            let (sqs, s3) = (
                aws_sdk_sqs::Client::new(&sdk),
                aws_sdk_s3::Client::new(&sdk),
            );
            let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
            let queue_url = sqs
                .create_queue()
                .queue_name(unique("validation"))
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_owned();
            let queue_arn = migration_tests::queue_arn(&sqs, &queue_url).await;
            let bucket = unique("results");
            s3.create_bucket().bucket(&bucket).send().await.unwrap();
            // The shape of an RDS-managed secret; the database names come from the settings.
            let server = Endpoint::from_url(Side::Source, &pair.source.url()).unwrap();
            let secret_id = unique("db-credentials");
            let secret = serde_json::json!({
                "username": server.user,
                "password": server.password.expose(),
                "host": server.host,
                "port": server.port,
                "engine": "mariadb",
            });
            secrets
                .create_secret()
                .name(&secret_id)
                .secret_string(secret.to_string())
                .send()
                .await
                .unwrap();
            Self {
                sqs,
                s3,
                secrets,
                queue_url,
                queue_arn,
                bucket,
                secret_id,
            }
        }

        async fn deps(&self, pair: &Pair) -> Deps {
            let env = Env::from_pairs([
                (config::MIGRATION_ID, "cutover-1"),
                (config::VALIDATION_QUEUE_URL, self.queue_url.as_str()),
                (config::RESULTS_BUCKET, self.bucket.as_str()),
                (config::SOURCE_DB_SECRET_ID, self.secret_id.as_str()),
                (config::TARGET_DB_SECRET_ID, self.secret_id.as_str()),
                (config::SOURCE_DB_NAME, pair.source.name.as_str()),
                (config::TARGET_DB_NAME, pair.target.name.as_str()),
                (config::CHUNK_MAX_ROWS, "500"),
            ]);
            Deps::new(Config::from_env(&env).unwrap(), &sdk_config().await)
        }

        async fn object<T: serde::de::DeserializeOwned>(&self, key: &str) -> T {
            let out = self
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e:?}"));
            serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
        }

        async fn keys(&self) -> Vec<String> {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .send()
                .await
                .unwrap();
            let mut keys: Vec<String> = out
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect();
            keys.sort();
            keys
        }

        /// Stores the plan the sample chunk messages belong to, as a table message would.
        async fn put_sample_plan(&self) {
            let plan = serde_json::json!({
                "run_id": RUN,
                "table": "payments",
                "chunks": [{"upper": [{"int": 1500}]}, {"lower": [{"int": 1500}]}],
            });
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(format!("runs/{RUN}/payments/plan.json"))
                .body(serde_json::to_vec(&plan).unwrap().into())
                .send()
                .await
                .unwrap();
        }

        async fn receive_all(&self) -> Vec<aws_sdk_sqs::types::Message> {
            let mut all = Vec::new();
            loop {
                let batch = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.queue_url)
                    .max_number_of_messages(10)
                    .visibility_timeout(60)
                    .send()
                    .await
                    .unwrap()
                    .messages()
                    .to_vec();
                if batch.is_empty() {
                    return all;
                }
                all.extend(batch);
            }
        }

        async fn clean(self) {
            for key in self.keys().await {
                self.s3
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap();
            }
            self.s3
                .delete_bucket()
                .bucket(&self.bucket)
                .send()
                .await
                .unwrap();
            self.sqs
                .delete_queue()
                .queue_url(&self.queue_url)
                .send()
                .await
                .unwrap();
            self.secrets
                .delete_secret()
                .secret_id(&self.secret_id)
                .force_delete_without_recovery(true)
                .send()
                .await
                .unwrap();
        }
    }

    async fn planted_pair() -> Pair {
        let pair = Pair::new().await;
        pair.table("payments", PAYMENTS, PAYMENT_ROWS).await;
        pair.target
            .exec(&[
                "DELETE FROM payments WHERE id = 7",
                "UPDATE payments SET status = 'PAID' WHERE id = 1234",
                "INSERT INTO payments SELECT 4000, 1, 1.00, 'USD', 'Paid', NULL, NULL, \
                 '2026-01-01', '2026-01-01'",
            ])
            .await;
        pair
    }

    fn sample(case: &str) -> aws_lambda_events::sqs::SqsEvent {
        serde_json::from_value(event("replication-validator", case)).unwrap()
    }

    #[tokio::test]
    async fn a_table_message_fans_out_chunks_whose_results_name_the_planted_keys() {
        let pair = planted_pair().await;
        let cloud = Cloud::new(&pair).await;
        let deps = cloud.deps(&pair).await;

        let response = handle(sample("table-message"), &deps).await;
        assert!(response.batch_item_failures.is_empty());
        let plan: Plan = cloud
            .object(&format!("runs/{RUN}/payments/plan.json"))
            .await;
        let count = plan.chunks.len();
        assert!(count >= 6, "{count} chunks");
        let messages = cloud.receive_all().await;
        assert_eq!(messages.len(), count);

        for batch in messages.chunks(10) {
            let response = handle(sqs_event(&cloud.queue_arn, batch), &deps).await;
            assert!(response.batch_item_failures.is_empty());
        }
        let (mut missing_in_target, mut missing_in_source, mut different) =
            (vec![], vec![], vec![]);
        let (mut rows_source, mut rows_target) = (0, 0);
        for index in 0..count {
            let result: ChunkResult = cloud
                .object(&format!("runs/{RUN}/payments/chunk-{index}.json"))
                .await;
            assert_eq!(
                (result.chunk.index, result.chunk.count),
                (index as u64, count as u64)
            );
            assert_eq!(result.chunk.range, plan.chunks[index]);
            rows_source += result.report.rows_source.unwrap();
            rows_target += result.report.rows_target.unwrap();
            missing_in_target.extend(result.report.missing_in_target);
            missing_in_source.extend(result.report.missing_in_source);
            different.extend(result.report.different);
        }
        assert_eq!((rows_source, rows_target), (3000, 3000));
        assert_eq!(missing_in_target, keys(&[&["7"]]));
        assert_eq!(missing_in_source, keys(&[&["4000"]]));
        assert_eq!(different, keys(&[&["1234"]]));

        // Delivered again, the table message sends the stored plan's chunks, not a new plan.
        let bodies = |messages: &[aws_sdk_sqs::types::Message]| {
            let mut b: Vec<String> = messages
                .iter()
                .map(|m| m.body().unwrap().to_owned())
                .collect();
            b.sort();
            b
        };
        let first = bodies(&messages);
        let response = handle(sample("table-message"), &deps).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(bodies(&cloud.receive_all().await), first);

        cloud.clean().await;
        pair.drop().await;
    }

    #[tokio::test]
    async fn a_chunk_batch_writes_one_result_per_chunk() {
        let pair = planted_pair().await;
        let cloud = Cloud::new(&pair).await;
        let deps = cloud.deps(&pair).await;
        cloud.put_sample_plan().await;
        let response = handle(sample("chunk-batch"), &deps).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(
            cloud.keys().await,
            [
                format!("runs/{RUN}/payments/chunk-0.json"),
                format!("runs/{RUN}/payments/chunk-1.json"),
                format!("runs/{RUN}/payments/plan.json"),
            ]
        );
        let first: serde_json::Value = cloud
            .object(&format!("runs/{RUN}/payments/chunk-0.json"))
            .await;
        assert_eq!(first["status"], "mismatch");
        assert_eq!(first["chunk"]["upper"], serde_json::json!([{"int": 1500}]));
        assert_eq!(first["rows_source"], 1500);
        assert_eq!(first["missing_in_target"], serde_json::json!([["7"]]));
        assert_eq!(first["different"], serde_json::json!([["1234"]]));
        let second: serde_json::Value = cloud
            .object(&format!("runs/{RUN}/payments/chunk-1.json"))
            .await;
        assert_eq!(second["rows_source"], 1500);
        assert_eq!(second["missing_in_source"], serde_json::json!([["4000"]]));
        cloud.clean().await;
        pair.drop().await;
    }

    #[tokio::test]
    async fn a_malformed_body_fails_only_itself() {
        let pair = planted_pair().await;
        let cloud = Cloud::new(&pair).await;
        let deps = cloud.deps(&pair).await;
        cloud.put_sample_plan().await;
        let response = handle(sample("malformed"), &deps).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["d4a1b2c3-0e9f-4a8b-b7c6-5d4e3f2a1b05"]);
        assert_eq!(
            cloud.keys().await,
            [
                format!("runs/{RUN}/payments/chunk-0.json"),
                format!("runs/{RUN}/payments/plan.json"),
            ]
        );
        cloud.clean().await;
        pair.drop().await;
    }

    #[tokio::test]
    async fn a_database_that_cannot_be_reached_fails_the_message_for_a_retry() {
        let pair = Pair::new().await;
        let cloud = Cloud::new(&pair).await;
        let mut deps = cloud.deps(&pair).await;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        deps.config.target.port = Some(listener.local_addr().unwrap().port());
        drop(listener);
        cloud.put_sample_plan().await;
        let response = handle(sample("chunk-batch"), &deps).await;
        assert_eq!(response.batch_item_failures.len(), 2);
        assert_eq!(
            cloud.keys().await,
            [format!("runs/{RUN}/payments/plan.json")]
        );
        cloud.clean().await;
        pair.drop().await;
    }

    /// Chunk messages of the sample plan's run and table (or of a run without a plan) that
    /// are not one of its chunks: the chunk, the run, and the field a refusal must name.
    fn off_plan_chunks() -> Vec<(serde_json::Value, &'static str, &'static str)> {
        let upper_1500 = serde_json::json!([{"int": 1500}]);
        vec![
            (
                serde_json::json!({"index": 0, "count": 2, "upper": []}),
                RUN,
                "upper",
            ),
            (
                serde_json::json!({"index": 0, "count": 2, "upper": [{"hex": "41"}]}),
                RUN,
                "upper",
            ),
            (
                serde_json::json!({"index": 0, "count": 2, "upper": [{"hex": "zz"}]}),
                RUN,
                "upper",
            ),
            (
                serde_json::json!({"index": 0, "count": 2, "upper": [{"int": 1500}, {"int": 9}]}),
                RUN,
                "upper",
            ),
            (
                serde_json::json!({"index": 0, "count": 2, "lower": [{"int": 2000}],
                                   "upper": upper_1500}),
                RUN,
                "lower",
            ),
            (
                serde_json::json!({"index": 0, "count": 2, "upper": [{"int": 1499}]}),
                RUN,
                "upper",
            ),
            (serde_json::json!({"index": 0, "count": 2}), RUN, "upper"),
            (
                serde_json::json!({"index": 2, "count": 2, "lower": upper_1500}),
                RUN,
                "index",
            ),
            (
                serde_json::json!({"index": u64::MAX, "count": u64::MAX, "upper": upper_1500}),
                RUN,
                "count",
            ),
            (
                serde_json::json!({"index": 0, "count": 1, "upper": upper_1500}),
                RUN,
                "count",
            ),
            (
                serde_json::json!({"index": 0, "count": 2, "upper": upper_1500}),
                "cutover-1-r9",
                "run_id",
            ),
        ]
    }

    /// Chunk messages that are not exactly a chunk of the stored plan: each fails for good
    /// (to the dead-letter queue), naming the field, the run and the table, and writes
    /// nothing; in particular an earlier mismatch result of the same chunk stays as it was.
    #[tokio::test]
    async fn chunk_messages_that_are_not_chunks_of_the_plan_fail_and_write_nothing() {
        let pair = planted_pair().await;
        let cloud = Cloud::new(&pair).await;
        let deps = cloud.deps(&pair).await;
        let chunk_key = |i: u32| format!("runs/{RUN}/payments/chunk-{i}.json");

        // Before any plan, even the sample chunks are refused.
        let response = handle(sample("chunk-batch"), &deps).await;
        assert_eq!(response.batch_item_failures.len(), 2);
        assert!(cloud.keys().await.is_empty());

        cloud.put_sample_plan().await;
        let response = handle(sample("chunk-batch"), &deps).await;
        assert!(response.batch_item_failures.is_empty());
        let earlier: serde_json::Value = cloud.object(&chunk_key(0)).await;
        assert_eq!(earlier["status"], "mismatch");
        assert_eq!(earlier["missing_in_target"], serde_json::json!([["7"]]));
        let keys_before = cloud.keys().await;

        let cases = off_plan_chunks();
        for (chunk, run, field) in &cases {
            let body = serde_json::json!({
                "kind": "chunk", "run_id": run, "table": "payments", "chunk": chunk,
            })
            .to_string();
            let job: Job = serde_json::from_str(&body).unwrap();
            let err = handle_job(&job, &deps).await.unwrap_err();
            assert_eq!(err.transience(), Transience::Permanent, "{body}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    "chunk message for run {run} table payments refused: {field} "
                )),
                "{body}: {message}"
            );
            cloud
                .sqs
                .send_message()
                .queue_url(&cloud.queue_url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
        let messages = cloud.receive_all().await;
        assert_eq!(messages.len(), cases.len());
        let mut failed = Vec::new();
        for batch in messages.chunks(10) {
            let response = handle(sqs_event(&cloud.queue_arn, batch), &deps).await;
            failed.extend(
                response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier),
            );
        }
        let mut sent: Vec<String> = messages
            .iter()
            .map(|m| m.message_id().unwrap().to_owned())
            .collect();
        sent.sort();
        failed.sort();
        assert_eq!(failed, sent);

        assert_eq!(cloud.keys().await, keys_before);
        let after: serde_json::Value = cloud.object(&chunk_key(0)).await;
        assert_eq!(after, earlier);
        cloud.clean().await;
        pair.drop().await;
    }
}

#[tokio::test]
async fn negative_integer_keys_and_time_keys_are_chunked_and_named() {
    let pair = Pair::new().await;
    pair.table(
        "adjustments",
        "CREATE TABLE adjustments (id INT NOT NULL PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO adjustments SELECT CAST(seq AS SIGNED) - 600, seq FROM seq_1_to_1200",
    )
    .await;
    pair.table(
        "ticks",
        "CREATE TABLE ticks (at DATETIME(6) NOT NULL PRIMARY KEY, price DECIMAL(12,4))",
        "INSERT INTO ticks SELECT TIMESTAMP('2026-03-01') + INTERVAL seq * 1500 MICROSECOND, \
         seq / 7 FROM seq_1_to_900",
    )
    .await;
    pair.target
        .exec(&[
            "UPDATE adjustments SET v = 0 WHERE id IN (-599, -3, 0, 5, 600)",
            "UPDATE ticks SET price = price + 0.0001 WHERE at = '2026-03-01 00:00:00.753000'",
            "DELETE FROM ticks WHERE at = '2026-03-01 00:00:01.350000'",
        ])
        .await;
    let report = pair.validate("adjustments", &small_chunks()).await;
    assert_eq!(
        report.different,
        keys(&[&["-599"], &["-3"], &["0"], &["5"], &["600"]]),
        "{report:?}"
    );
    let report = pair.validate("ticks", &small_chunks()).await;
    assert_eq!(
        report.different,
        keys(&[&["2026-03-01 00:00:00.753000"]]),
        "{report:?}"
    );
    assert_eq!(
        report.missing_in_target,
        keys(&[&["2026-03-01 00:00:01.350000"]])
    );
    assert!(report.chunks > 1);
    pair.drop().await;
}

/// The engine itself refuses a bound that does not fit the key rather than binding NULL
/// (which would select no rows on either side and so compare as a match).
#[tokio::test]
async fn the_engine_refuses_a_bad_bound_instead_of_reading_it_as_null() {
    use replication_validator::chunk::{KeyRange, KeyValue};
    use replication_validator::engine::{Prepared, prepare};

    let pair = Pair::new().await;
    pair.table("payments", PAYMENTS, PAYMENT_ROWS).await;
    let connect = |side, url: String| async move {
        Database::connect(
            side,
            &Endpoint::from_url(side, &url).unwrap(),
            Limits::default(),
        )
        .await
        .unwrap()
    };
    let source = connect(Side::Source, pair.source.url()).await;
    let target = connect(Side::Target, pair.target.url()).await;
    let options = small_chunks();
    let Prepared::Ready(table) = prepare(&source, &target, "payments", &options)
        .await
        .unwrap()
    else {
        panic!("payments has an integer key and matching shapes")
    };
    let range =
        |lower: Option<Vec<KeyValue>>, upper: Option<Vec<KeyValue>>| KeyRange { lower, upper };
    let good = table
        .compare_range(&range(None, Some(vec![KeyValue::Int(1500)])))
        .await
        .unwrap();
    assert_eq!((good.rows_source, good.rows_target), (1500, 1500));
    let refused = [
        (
            range(None, Some(vec![])),
            "invalid upper bound of a chunk of table payments: it has 0 parts and the key \
             has 1 columns",
        ),
        (
            range(Some(vec![KeyValue::Int(1), KeyValue::Int(2)]), None),
            "invalid lower bound of a chunk of table payments: it has 2 parts and the key \
             has 1 columns",
        ),
        (
            range(None, Some(vec![KeyValue::Hex("41".into())])),
            "invalid upper bound of a chunk of table payments: a hex value cannot bound key \
             column id of type bigint(20)",
        ),
        (
            range(
                Some(vec![KeyValue::Int(2000)]),
                Some(vec![KeyValue::Int(1500)]),
            ),
            "invalid chunk of table payments: lower bound 2000 is not below upper bound 1500",
        ),
    ];
    for (bad, message) in refused {
        let err = table.compare_range(&bad).await.unwrap_err();
        assert_eq!(err.to_string(), message, "{bad:?}");
    }
    drop(table);
    source.close().await;
    target.close().await;
    pair.drop().await;
}

#[tokio::test]
async fn time_keys_are_chunked_and_named() {
    let pair = Pair::new().await;
    pair.table(
        "shifts",
        "CREATE TABLE shifts (at TIME(6) NOT NULL PRIMARY KEY, staff INT NOT NULL)",
        "INSERT INTO shifts SELECT SEC_TO_TIME(CAST(seq AS SIGNED) * 7 - 3000), seq \
         FROM seq_1_to_900",
    )
    .await;
    pair.target
        .exec(&[
            "UPDATE shifts SET staff = 0 WHERE at = SEC_TO_TIME(-2993)",
            "DELETE FROM shifts WHERE at = SEC_TO_TIME(2600)",
        ])
        .await;
    let report = pair.validate("shifts", &small_chunks()).await;
    assert_eq!(report.status, Status::Mismatch, "{report:?}");
    assert_eq!(
        report.different,
        keys(&[&["-00:49:53.000000"]]),
        "{report:?}"
    );
    assert_eq!(report.missing_in_target, keys(&[&["00:43:20.000000"]]));
    assert_eq!(report.rows_source, Some(900));
    assert!(report.chunks > 1);
    pair.drop().await;
}
