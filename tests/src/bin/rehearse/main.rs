//! The driver of the local migration rehearsal, run by `scripts/rehearse.sh` once the local
//! stack is up: it creates the migration stack from `template.json` on moto's
//! CloudFormation, starts the four functions under one `cargo lambda watch`, drives each
//! with `cargo lambda invoke` on the sample events of `events/`, and checks what each did
//! by reading the resources back from moto.
//!
//! ```text
//! rehearse --work DIR --rows FILE [--expected FILE]
//! ```
//!
//! `--expected` names the output of `scripts/seed_ledger.py`: with it, the replication
//! validator runs on the seeded ledgers too.
//!
//! It prints a short account of each step on stdout, writes one summary row per step to
//! `FILE` (`step<TAB>ok|FAIL<TAB>detail`), stops what it started, and exits 1 when any step
//! did not do what it should (2 when it could not run at all). It reads the stack's
//! addresses from the standard `AWS_ENDPOINT_URL` variables and the `cargo-lambda` program
//! from `CARGO_LAMBDA`.

mod backup;
mod remediator;
mod shifter;
mod stack;
mod validator;
mod watch;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

/// Why a step of the rehearsal failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the local AWS stack failed.
    #[error("{action}: {cause}")]
    Call {
        /// What was being done, naming the resource.
        action: String,
        /// The error and its causes.
        cause: String,
    },
    /// A program the rehearsal runs could not be run or failed.
    #[error("{0}")]
    Process(String),
    /// A function did something other than what it should.
    #[error("{0}")]
    Check(String),
}

/// Maps an SDK (or other) error to [`Error::Call`] naming `action`.
pub fn call<E: std::error::Error + 'static>(action: impl Into<String>) -> impl FnOnce(E) -> Error {
    let action = action.into();
    move |e| Error::Call {
        action,
        cause: migration_shared::error::chain(&e),
    }
}

/// Fails with [`Error::Check`] unless `got` equals `want`.
pub fn expect_eq<T: PartialEq + std::fmt::Debug + ?Sized>(
    what: &str,
    got: &T,
    want: &T,
) -> Result<(), Error> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "{what} was {got:?}, expected {want:?}"
        )))
    }
}

/// Prints one line of the account of a step.
pub fn note(text: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "   {text}").ok();
}

/// Prints the heading of a step.
pub fn heading(text: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n== {text}").ok();
}

/// One row of the summary table.
pub struct Row {
    step: &'static str,
    ok: bool,
    detail: String,
}

/// The rows gathered so far.
#[derive(Default)]
pub struct Summary {
    rows: Vec<Row>,
}

impl Summary {
    /// Records the outcome of `step`: its detail when it passed, its error when not.
    pub fn record(&mut self, step: &'static str, outcome: Result<String, Error>) -> bool {
        let (ok, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(e) => {
                note(&format!("FAILED: {e}"));
                (false, e.to_string())
            }
        };
        self.rows.push(Row { step, ok, detail });
        ok
    }

    fn write(&self, path: &PathBuf) -> std::io::Result<()> {
        let mut text = String::new();
        for r in &self.rows {
            let detail = r.detail.replace(['\t', '\n'], " ");
            let ok = if r.ok { "ok" } else { "FAIL" };
            writeln!(text, "{}\t{ok}\t{detail}", r.step).ok();
        }
        std::fs::write(path, text)
    }

    fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }
}

/// The arguments.
struct Args {
    work: PathBuf,
    rows: PathBuf,
    expected: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut work = None;
    let mut rows = None;
    let mut expected = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--work" => work = it.next().map(PathBuf::from),
            "--rows" => rows = it.next().map(PathBuf::from),
            "--expected" => expected = it.next().map(PathBuf::from),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    match (work, rows) {
        (Some(work), Some(rows)) => Ok(Args {
            work,
            rows,
            expected,
        }),
        _ => Err("usage: rehearse --work DIR --rows FILE [--expected FILE]".to_owned()),
    }
}

/// Reads the sample event `events/<function>/<case>.json`.
pub fn sample(function: &str, case: &str) -> Result<Value, Error> {
    let path = migration_tests::repo_root()
        .join("events")
        .join(function)
        .join(format!("{case}.json"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Process(format!("read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Process(format!("parse {}: {e}", path.display())))
}

/// Replaces every occurrence of `from` by `to` in each string of `value`.
pub fn rewrite(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| rewrite(v, from, to)),
        _ => {}
    }
}

async fn rehearse(args: &Args, summary: &mut Summary) -> Result<(), Error> {
    let sdk = migration_tests::sdk_config().await;
    heading("the migration stack from template.json on moto's CloudFormation");
    let deployed = stack::deploy(&sdk).await;
    let Some(deployed) = summary.record_with("stack from template.json", deployed) else {
        return Ok(());
    };

    heading("the four functions under cargo lambda watch");
    let fake = backup::Fake::start(&args.work);
    let Some(fake) = summary.record_with("AWS Backup fake", fake) else {
        return Ok(());
    };
    note(&format!(
        "AWS Backup is served by scripts/backup_fake.py on {} (moto lacks its vault, \
         recovery-point and job calls)",
        fake.url
    ));
    let mut env = stack::function_env(&deployed, &fake.url);
    let mut ledgers = None;
    if let Some(path) = &args.expected {
        let expected = validator::Expected::read(path);
        let prepared = match expected {
            Ok(e) => validator::prepare(&sdk, &mut env, &e).await.map(|()| e),
            Err(e) => Err(e),
        };
        match prepared {
            Ok(e) => ledgers = Some(e),
            Err(e) => {
                summary.record("replication validator", Err(e));
            }
        }
    }
    let watch = watch::Watch::start(&args.work, &env);
    let Some(watch) = summary.record_with("cargo lambda watch", watch) else {
        return Ok(());
    };

    heading("weight shifter: 0, 10, 50, 100 with a rollback on a gate alarm");
    let shifted = shifter::run(&sdk, &watch, &env).await;
    summary.record("weight shifter", shifted);

    heading("compliance remediator: a queue without SSE, a key without rotation, an exempt key");
    let remediated = remediator::run(&sdk, &watch, &env).await;
    summary.record("compliance remediator", remediated);

    heading("backup verifier: a good and a bad recovery point");
    let verified = backup::run(&sdk, &watch, &env, &fake).await;
    summary.record("backup verifier", verified);

    if let Some(expected) = &ledgers {
        heading("replication validator: a table message fans out chunk messages over SQS");
        let validated = validator::run(&sdk, &watch, &env, expected).await;
        summary.record("replication validator", validated);
    }

    watch.stop();
    drop(fake);
    stack::delete(&sdk, &deployed).await;
    Ok(())
}

impl Summary {
    /// Records `outcome` and hands back its value when it passed.
    pub fn record_with<T: Described>(
        &mut self,
        step: &'static str,
        outcome: Result<T, Error>,
    ) -> Option<T> {
        match outcome {
            Ok(v) => {
                self.record(step, Ok(v.describe()));
                Some(v)
            }
            Err(e) => {
                self.record(step, Err(e));
                None
            }
        }
    }
}

/// A step's result that describes itself in one summary line.
pub trait Described {
    /// The summary line.
    fn describe(&self) -> String;
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rehearse: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rehearse: start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut summary = Summary::default();
    let ran = runtime.block_on(rehearse(&args, &mut summary));
    if let Err(e) = ran {
        summary.record("rehearsal", Err(e));
    }
    if let Err(e) = summary.write(&args.rows) {
        eprintln!("rehearse: write {}: {e}", args.rows.display());
        return ExitCode::from(2);
    }
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrite_replaces_the_text_inside_every_string_even_within_longer_words() {
        let mut event = json!({"id": "op-resume-1", "n": 1,
            "Records": [{"body": "{\"id\":\"op-resume-1\"}", "other": "op-resume-10"}]});
        rewrite(&mut event, "op-resume-1", "op-resume-2");
        assert_eq!(
            event,
            json!({"id": "op-resume-2", "n": 1,
                "Records": [{"body": "{\"id\":\"op-resume-2\"}", "other": "op-resume-20"}]})
        );
    }
}
