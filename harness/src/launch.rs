//! Starting the server under test (`mcp-authcheck run -- COMMAND`): the command runs in a
//! process group of its own with mock-as's coordinates in its environment, its output goes to
//! a log file (the tail is shown when something goes wrong), the run waits — bounded — until the
//! MCP URL answers, and the whole group is stopped by process id when the run ends: on success,
//! on failure, on Ctrl-C (run the suite inside [`until_interrupted`], then [`ServerProcess::stop`])
//! and when the [`ServerProcess`] is dropped (an early `?`, a panic).
//!
//! This is what `ci/run-suite.sh` did in bash (`setsid sh -c`, `curl -m 2` every 100 ms,
//! `kill -- -PID` on exit), so a server command that worked there works here.
//!
//! Signals go through `rustix` (safe wrappers over `kill(2)`; the workspace forbids `unsafe`).

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

/// Why the server could not be started or never became ready: each message names the command
/// or the URL and what to look at.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No command was given.
    #[error("no server command given after --")]
    Empty,
    /// The log file for the command's output could not be created (a full or read-only temp dir).
    #[error("cannot create the server command's log file {}: {error}", path.display())]
    Log {
        /// Where it was to be.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The command could not be spawned (not found, not executable, …).
    #[error("cannot start the server command `{command}`: {error}")]
    Spawn {
        /// The command line, as the user wrote it.
        command: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The URL to wait for is not an http(s) URL: waiting would only time out.
    #[error("cannot wait for the server at `{url}`: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The command exited before the URL answered.
    #[error(
        "the server command `{command}` exited {status} before {url} answered; its last output:\n{log}"
    )]
    Exited {
        /// The command line, as the user wrote it.
        command: String,
        /// How it ended ("with status 1", "on signal 9").
        status: String,
        /// The URL waited for.
        url: String,
        /// The tail of its output.
        log: String,
    },
    /// Something answers at the URL, but the command has exited: another process holds the port,
    /// and running the suite would test that process instead.
    #[error(
        "the server command `{command}` exited {status}; something else answers at {url} (is the port taken?); its last output:\n{log}"
    )]
    SomethingElse {
        /// The command line, as the user wrote it.
        command: String,
        /// How it ended.
        status: String,
        /// The URL.
        url: String,
        /// The tail of its output.
        log: String,
    },
    /// The URL never answered within the bound while the command kept running.
    #[error(
        "the server command `{command}` is running, but {url} did not answer within {limit:?} (does it listen on that host, port and path?); its last output:\n{log}"
    )]
    NeverAnswered {
        /// The command line, as the user wrote it.
        command: String,
        /// The URL.
        url: String,
        /// The bound.
        limit: Duration,
        /// The tail of its output.
        log: String,
    },
}

/// A running server command. Dropping it stops the whole process group (SIGTERM, a short
/// bounded grace, SIGKILL), so no exit path of the run leaves the user's server behind;
/// [`ServerProcess::stop`] is the gentler way with a longer grace.
#[derive(Debug)]
pub struct ServerProcess {
    /// The process we spawned; its pid is also the id of the group it leads.
    child: Child,
    /// How the user wrote the command, for messages.
    command: String,
    /// stdout + stderr of the command; kept until drop so the tail can be shown after a stop.
    log: PathBuf,
    /// Set only once the group has been killed and the child reaped, so that a `stop` cancelled
    /// halfway still leaves the killing to `Drop`.
    stopped: bool,
}

/// How long a stopped group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// The same for a drop: a destructor must not hold up the exit of the run.
const DROP_GRACE: Duration = Duration::from_millis(250);
/// Each readiness request's bound (`curl -m 2` in run-suite.sh).
const TRY: Duration = Duration::from_secs(2);
/// The pause between readiness requests.
const POLL: Duration = Duration::from_millis(100);
/// Lines of the command's output quoted in errors (`tail -50` in run-suite.sh).
const TAIL: usize = 50;

impl ServerProcess {
    /// Start `command` with `env` added. A single argument with spaces or shell characters runs
    /// under `sh -c` (so `'$MOCK_AS_ISSUER'` expands in it), as `ci/run-suite.sh` always did;
    /// several arguments run as an argv, untouched by a shell. The command leads a new process
    /// group so that stopping it reaches every process it started, and so that the terminal's
    /// Ctrl-C reaches only us: we decide when it stops.
    pub fn start(
        command: &[String],
        env: &[(String, String)],
    ) -> Result<ServerProcess, LaunchError> {
        let Some(first) = command.first() else {
            return Err(LaunchError::Empty);
        };
        let shell = command.len() == 1
            && first.contains(|c: char| c.is_whitespace() || "$'\"|&;<>()`*?~\\".contains(c));
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
        let (log, out) = create_log()?;
        let spawn_err = |error| LaunchError::Spawn {
            command: text.clone(),
            error,
        };
        let err = match out.try_clone() {
            Ok(e) => e,
            Err(error) => {
                let _ = std::fs::remove_file(&log);
                return Err(spawn_err(error));
            }
        };
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        match cmd.spawn() {
            Ok(child) => Ok(ServerProcess {
                child,
                command: text,
                log,
                stopped: false,
            }),
            Err(error) => {
                let _ = std::fs::remove_file(&log);
                Err(spawn_err(error))
            }
        }
    }

    /// The process id, which is also the process group id: what to `kill -- -PID` by hand.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of the command's output (stdout and stderr interleaved), for the
    /// user to see why their server misbehaved; still available after [`ServerProcess::stop`].
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(mut f) = File::open(&self.log) else {
            return String::new();
        };
        // The tail is at the end: read at most the last 64 KiB, however long the server ran.
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The tail as quoted in errors: an empty log says so rather than ending the message blank.
    fn quoted_tail(&self) -> String {
        let t = self.log_tail(TAIL);
        if t.trim().is_empty() {
            "(it printed nothing)".to_string()
        } else {
            t
        }
    }

    /// How the command ended, if it has.
    fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(describe(s)),
            Ok(None) => None,
            Err(e) => Some(format!("(status unknown: {e})")),
        }
    }

    /// Wait until `url` answers HTTP at all — any status to a POST of `{}`, since an MCP server
    /// that wants a token answers 401 and that is "up" — every 100 ms, each try bounded by 2 s,
    /// all of it by about `limit`. Ends early, with the command's output, if the command exits;
    /// an answer while the command is dead is someone else's server, not a success.
    pub async fn wait_ready(&mut self, url: &str, limit: Duration) -> Result<(), LaunchError> {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => {
                return Err(LaunchError::BadUrl {
                    url: url.to_string(),
                    reason: format!("the scheme is {}, not http or https", u.scheme()),
                });
            }
            Err(e) => {
                return Err(LaunchError::BadUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                });
            }
        }
        let http = reqwest::Client::builder()
            .timeout(TRY)
            .redirect(reqwest::redirect::Policy::none())
            // The server was started here: a proxy from the environment answering for it would
            // pass for a ready server.
            .no_proxy()
            .build()
            .unwrap_or_default();
        let start = Instant::now();
        loop {
            let before = self.exit_status();
            let answered = answers(&http, url).await;
            let status = match (answered, before) {
                (false, None) => None,
                (false, Some(status)) => {
                    return Err(LaunchError::Exited {
                        command: self.command.clone(),
                        status,
                        url: url.to_string(),
                        log: self.quoted_tail(),
                    });
                }
                (true, Some(status)) => Some(status),
                (true, None) => {
                    // Answered — by our command? If it exits right now (a failed bind, say),
                    // someone else holds the port.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    match self.exit_status() {
                        None => return Ok(()),
                        s => s,
                    }
                }
            };
            if let Some(status) = status {
                return Err(LaunchError::SomethingElse {
                    command: self.command.clone(),
                    status,
                    url: url.to_string(),
                    log: self.quoted_tail(),
                });
            }
            if start.elapsed() >= limit {
                return Err(LaunchError::NeverAnswered {
                    command: self.command.clone(),
                    url: url.to_string(),
                    limit,
                    log: self.quoted_tail(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn group(&self) -> Option<Pid> {
        Pid::from_raw(i32::try_from(self.child.id()).ok()?)
    }

    /// Stop the group now: SIGTERM, up to 5 s for every process in it to exit (a server may
    /// flush or close connections), then SIGKILL. Idempotent; the output stays readable.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        if let Some(g) = self.group() {
            let _ = kill_process_group(g, Signal::TERM);
            let start = Instant::now();
            while start.elapsed() < GRACE {
                let _ = self.child.try_wait();
                if !group_running(g) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = kill_process_group(g, Signal::KILL);
        }
        self.reap();
        self.stopped = true;
    }

    /// Collect the child. It is SIGKILLed by pid as well, in case it left its group (a
    /// `setsid` of its own): the group signal would miss it and the wait would never end.
    /// (std does not signal a child it has already reaped, so a reused pid is safe.)
    fn reap(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    /// A run that ends any other way (an error, a panic) still stops the server: SIGTERM to the
    /// group, at most 250 ms for it to go, SIGKILL. This blocks the thread that drops it for that
    /// long at most. The log file goes too.
    fn drop(&mut self) {
        if !self.stopped
            && let Some(g) = self.group()
        {
            let _ = kill_process_group(g, Signal::TERM);
            let start = Instant::now();
            while start.elapsed() < DROP_GRACE {
                let _ = self.child.try_wait();
                if !group_running(g) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = kill_process_group(g, Signal::KILL);
            self.reap();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Run `fut` until it completes (`Some`) or the process gets Ctrl-C / SIGTERM (`None`), so the
/// caller can still stop what it started and say why the run ended. (Dropping a
/// [`ServerProcess`] also kills its group; this is for a clean stop with a grace and a message.)
/// If no signal handler can be installed, `fut` simply runs to completion.
pub async fn until_interrupted<F: Future>(fut: F) -> Option<F::Output> {
    tokio::select! {
        out = fut => Some(out),
        () = interrupted() => None,
    }
}

/// Resolves on Ctrl-C or SIGTERM; never, if neither can be listened for (a failed handler must
/// not pass for an interruption).
async fn interrupted() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                () = ctrl_c => {}
                Some(()) = term.recv() => {}
            }
        }
        Err(_) => ctrl_c.await,
    }
}

/// Whether `url` answers HTTP at all within [`TRY`] (also bounded here: the default client the
/// builder falls back to has no timeout of its own).
async fn answers(http: &reqwest::Client, url: &str) -> bool {
    let attempt = http
        .post(url)
        .header("content-type", "application/json")
        .body("{}")
        .send();
    matches!(tokio::time::timeout(TRY, attempt).await, Ok(Ok(_)))
}

/// "with status 1" / "on signal 9", for messages.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("with status {code}"),
        (None, Some(sig)) => format!("on signal {sig}"),
        (None, None) => format!("({status})"),
    }
}

/// Whether any process of group `g` is still running. Zombies do not count: where PID 1 does
/// not reap orphans (a container without an init, this project's CI included), killed
/// grandchildren stay zombies for good and `kill(-g, 0)` keeps succeeding, which would make
/// every stop wait out the whole grace. Without `/proc` (macOS) the signal test decides.
fn group_running(g: Pid) -> bool {
    if test_kill_process_group(g).is_err() {
        return false;
    }
    live_members(g).is_none_or(|n| n > 0)
}

/// How many processes of group `g` are not zombies, from `/proc`; `None` without `/proc`.
fn live_members(g: Pid) -> Option<usize> {
    let want = g.as_raw_nonzero().get();
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // it exited while we looked
        };
        // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so the fields
        // start after the last ')'. proc(5).
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
        if pgrp == Some(want) && !matches!(state, Some("Z" | "X")) {
            n += 1;
        }
    }
    Some(n)
}

/// A new log file in the temp dir, readable by the user only (servers print tokens).
/// `create_new` makes a stale file of an earlier run with the same pid, or a planted symlink,
/// a reason to pick the next name rather than something to write through.
fn create_log() -> Result<(PathBuf, File), LaunchError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let mut last = None;
    for _ in 0..100 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "mcp-authcheck-server-{}-{n}.log",
            std::process::id()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some((path, error));
            }
            Err(error) => return Err(LaunchError::Log { path, error }),
        }
    }
    let (path, error) =
        last.unwrap_or_else(|| (dir.clone(), std::io::Error::other("no free log file name")));
    Err(LaunchError::Log { path, error })
}
