//! Starting the server under test (`mcp-authcheck run -- COMMAND`): the command runs in a
//! process group of its own with mock-as's coordinates in its environment, its output goes to
//! a log file (the tail is shown when something goes wrong), the run waits — bounded — until the
//! MCP URL answers, and the whole group is stopped by process id when the run ends: on success,
//! on failure, on Ctrl-C, and when the [`ServerProcess`] is dropped.
//!
//! Signals go through `rustix` (safe wrappers over `kill(2)`; the workspace forbids `unsafe`).

use std::future::Future;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

/// Why the server could not be started or never became ready: each message names the command
/// or the URL and what to look at.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No command was given.
    #[error("no server command given after --")]
    Empty,
    /// The command could not be spawned (not found, not executable, …).
    #[error("cannot start the server command `{command}`: {error}")]
    Spawn {
        /// The command line.
        command: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The command exited before the URL answered.
    #[error(
        "the server command `{command}` exited ({status}) before {url} answered; its last output:\n{log}"
    )]
    Exited {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The URL waited for.
        url: String,
        /// The tail of its output.
        log: String,
    },
    /// Something answers at the URL, but the command has exited: another process holds the port.
    #[error(
        "the server command `{command}` exited ({status}), but something else answers at {url} (is the port taken?); its last output:\n{log}"
    )]
    SomethingElse {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The URL.
        url: String,
        /// The tail of its output.
        log: String,
    },
    /// The URL never answered within the bound.
    #[error(
        "the server command `{command}` is running, but {url} did not answer within {secs} s; its last output:\n{log}"
    )]
    NeverAnswered {
        /// The command line.
        command: String,
        /// The URL.
        url: String,
        /// The bound, seconds.
        secs: u64,
        /// The tail of its output.
        log: String,
    },
}

/// A running server command; dropping it stops the whole process group.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// How the user wrote the command (for messages).
    command: String,
    /// stdout + stderr of the command.
    log: PathBuf,
    stopped: bool,
}

/// How long a stopped group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

impl ServerProcess {
    /// Start `command` with `env` added. A single argument with spaces or shell characters runs
    /// under `sh -c` (so `'$MOCK_AS_ISSUER'` expands in it), as `ci/run-suite.sh` always did;
    /// several arguments run as an argv.
    pub fn start(
        command: &[String],
        env: &[(String, String)],
    ) -> Result<ServerProcess, LaunchError> {
        let Some(first) = command.first() else {
            return Err(LaunchError::Empty);
        };
        let shell = command.len() == 1
            && first.contains(|c: char| c.is_whitespace() || "$'\"|&;<>()`*?~".contains(c));
        let mut cmd = if shell {
            let mut c = Command::new("sh");
            c.arg("-c").arg(first);
            c
        } else {
            let mut c = Command::new(first);
            c.args(&command[1..]);
            c
        };
        let text = command.join(" ");
        let log = std::env::temp_dir().join(format!(
            "mcp-authcheck-server-{}-{}.log",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ u128::from(rand_u32())
        ));
        let spawn_err = |error| LaunchError::Spawn {
            command: text.clone(),
            error,
        };
        let out = std::fs::File::create(&log).map_err(spawn_err)?;
        let err = out.try_clone().map_err(spawn_err)?;
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // A group of its own: stopping it reaches every process the command started.
            .process_group(0);
        let child = cmd.spawn().map_err(spawn_err)?;
        Ok(ServerProcess {
            child,
            command: text,
            log,
            stopped: false,
        })
    }

    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of the command's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(mut f) = std::fs::File::open(&self.log) else {
            return String::new();
        };
        // The tail is at the end: read at most the last 64 KiB.
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown: {e}")),
        }
    }

    /// Wait until `url` answers HTTP at all (any status to a POST of `{}`), every 100 ms, each
    /// try bounded by 2 s, all of it by `limit`.
    pub async fn wait_ready(&mut self, url: &str, limit: Duration) -> Result<(), LaunchError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Err(LaunchError::Exited {
                    command: self.command.clone(),
                    status,
                    url: url.to_string(),
                    log: self.log_tail(30),
                });
            }
            let answered = http
                .post(url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .is_ok();
            if answered {
                // Answered — by our command? If it has just exited, someone else holds the port.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(status) = self.exit_status() {
                    return Err(LaunchError::SomethingElse {
                        command: self.command.clone(),
                        status,
                        url: url.to_string(),
                        log: self.log_tail(30),
                    });
                }
                return Ok(());
            }
            if start.elapsed() >= limit {
                return Err(LaunchError::NeverAnswered {
                    command: self.command.clone(),
                    url: url.to_string(),
                    secs: limit.as_secs(),
                    log: self.log_tail(30),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn group(&self) -> Option<Pid> {
        Pid::from_raw(i32::try_from(self.child.id()).ok()?)
    }

    /// Stop the group now: SIGTERM, up to 5 s, then SIGKILL. Idempotent.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let Some(g) = self.group() else { return };
        let _ = kill_process_group(g, Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < GRACE {
            let _ = self.child.try_wait();
            if test_kill_process_group(g).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = kill_process_group(g, Signal::KILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Drop for ServerProcess {
    /// A run that ends any other way (an error, a panic) still stops the server: SIGKILL to the
    /// group at once (no waiting in a destructor).
    fn drop(&mut self) {
        if !self.stopped
            && let Some(g) = self.group()
        {
            let _ = kill_process_group(g, Signal::TERM);
            std::thread::sleep(Duration::from_millis(100));
            let _ = kill_process_group(g, Signal::KILL);
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Run `fut` until it completes (`Some`) or the process gets Ctrl-C / SIGTERM (`None`): the
/// caller then still stops what it started.
pub async fn until_interrupted<F: Future>(fut: F) -> Option<F::Output> {
    let interrupted = async {
        #[cfg(unix)]
        {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match term {
                Ok(mut t) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = t.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    tokio::select! {
        out = fut => Some(out),
        _ = interrupted => None,
    }
}

/// A little entropy for unique log names without a dependency.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish() as u32
}
