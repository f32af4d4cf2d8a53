//! One `cargo lambda watch` serving the four functions on a free 127.0.0.1 port, with the
//! environment written to an env file, and `cargo lambda invoke` against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Described, Error, note};

/// How long the emulator may take to listen.
const START_TIMEOUT: Duration = Duration::from_mins(2);

/// How long one invocation may take, the function's first build included.
const INVOKE_TIMEOUT: Duration = Duration::from_mins(3);

/// The running emulator.
pub struct Watch {
    child: Child,
    port: u16,
    program: String,
    work: PathBuf,
    log: PathBuf,
}

impl Described for Watch {
    fn describe(&self) -> String {
        format!("listening on 127.0.0.1:{}", self.port)
    }
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Process(format!("find a free port on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Process(format!("find a free port on 127.0.0.1: {e}")))
}

impl Watch {
    /// Writes `env` to `<work>/functions.env` and starts the emulator with it, in its own
    /// process group so that [`Watch::stop`] ends the functions it runs too.
    pub fn start(work: &Path, env: &BTreeMap<String, String>) -> Result<Self, Error> {
        let program = std::env::var("CARGO_LAMBDA").unwrap_or_else(|_| "cargo-lambda".into());
        let env_file = work.join("functions.env");
        let mut text = String::new();
        for (k, v) in env {
            writeln!(text, "{k}={v}").ok();
        }
        std::fs::write(&env_file, text)
            .map_err(|e| Error::Process(format!("write {}: {e}", env_file.display())))?;
        note(&format!(
            "{} variables for the functions written to {}",
            env.len(),
            env_file.display()
        ));
        let port = free_port()?;
        let log = work.join("watch.log");
        let out = std::fs::File::create(&log)
            .map_err(|e| Error::Process(format!("create {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::Process(format!("open {}: {e}", log.display())))?;
        let child = Command::new(&program)
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(migration_tests::repo_root())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                Error::Process(format!(
                    "start {program} lambda watch: {e} (is cargo-lambda installed in the venv?)"
                ))
            })?;
        // The process group's id, for the script to end it should this driver be killed.
        let pid_file = work.join("watch.pid");
        std::fs::write(&pid_file, child.id().to_string())
            .map_err(|e| Error::Process(format!("write {}: {e}", pid_file.display())))?;
        let mut watch = Self {
            child,
            port,
            program,
            work: work.to_owned(),
            log,
        };
        let began = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = watch.child.try_wait() {
                return Err(Error::Process(format!(
                    "cargo lambda watch ended {status} before listening; see {}",
                    watch.log.display()
                )));
            }
            if began.elapsed() > START_TIMEOUT {
                watch.stop_ref();
                return Err(Error::Process(format!(
                    "cargo lambda watch did not listen on 127.0.0.1:{port} within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        note(&format!(
            "cargo lambda watch on 127.0.0.1:{port} (log {})",
            watch.log.display()
        ));
        Ok(watch)
    }

    /// Invokes `function` with `event` (written to `<work>/<function>-<label>.json`) and
    /// returns its answer; a function error is an [`Error::Check`] carrying its message.
    pub fn invoke(&self, function: &str, label: &str, event: &Value) -> Result<Value, Error> {
        let file = self.work.join(format!("{function}-{label}.json"));
        let text = serde_json::to_string_pretty(event)
            .map_err(|e| Error::Process(format!("serialise event {label}: {e}")))?;
        std::fs::write(&file, text)
            .map_err(|e| Error::Process(format!("write {}: {e}", file.display())))?;
        let mut child = Command::new(&self.program)
            .args(["lambda", "invoke", function, "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Process(format!("run cargo lambda invoke {function}: {e}")))?;
        // A function that cannot start leaves the invocation waiting for ever.
        let began = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if began.elapsed() > INVOKE_TIMEOUT {
                child.kill().ok();
                child.wait().ok();
                return Err(Error::Check(format!(
                    "{function} did not answer {label} within {} s; see {}",
                    INVOKE_TIMEOUT.as_secs(),
                    self.log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::Process(format!("read cargo lambda invoke {function}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Check(format!(
                "cargo lambda invoke {function} --data-file {} failed: {} {}",
                file.display(),
                stderr.trim(),
                stdout.trim()
            )));
        }
        serde_json::from_str(stdout.trim()).map_err(|e| {
            Error::Check(format!(
                "{function} answered {label} with something other than JSON ({e}): {}",
                stdout.trim()
            ))
        })
    }

    fn stop_ref(&mut self) {
        let group = format!("-{}", self.child.id());
        Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status()
            .ok();
        self.child.wait().ok();
        std::fs::remove_file(self.work.join("watch.pid")).ok();
    }

    /// Stops the emulator and every function process it started.
    pub fn stop(self) {
        drop(self);
        note("cargo lambda watch stopped");
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop_ref();
    }
}
