//! `mcp-authcheck`: the front door. One command against a URL runs the whole suite: an embedded
//! mock-as (or a running one), optionally the server itself (`-- COMMAND`), the probe that learns
//! the server from the wire, the scenarios, the reports. `init` writes what the probe learned as
//! a commented profile; `serve` is mock-as itself; `baseline --from checks.json` prints a run's
//! failures as `[expected_failures]` lines for a profile.
//!
//! Exit codes: 0 pass, 1 a MUST failure or a STALE expectation (or a SHOULD failure with
//! `--strict`), 2 the run could not happen (bad arguments, profile or baseline error, a server
//! the preflight refuses — down, hanging, reset, not HTTP, 5xx, not MCP, redirecting — or one
//! that stopped answering mid-run).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use harness::as_client::MockAsClient;
use harness::baseline::{self, Baseline};
use harness::launch::{ServerProcess, until_interrupted};
use harness::probe::{self, Hints, ProbeOptions, ProbeReport};
use harness::profile::{IssuerStyle, Profile};
use harness::runner::{self, FeatureDir, Progress, RunOptions, RunResult};
use harness::{github, report};

/// Test the authorization of an MCP server: audience, scopes, expiry, revocation, key rotation,
/// token passthrough and Descope connections, with hostile tokens from a mock Descope.
#[derive(Debug, Parser)]
#[command(name = "mcp-authcheck", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite against an MCP server.
    Run(RunArgs),
    /// Probe a server and write what was learned as a commented profile to review and commit.
    Init(InitArgs),
    /// Serve mock-as itself (the same flags as the `mock-as` binary).
    Serve(mock_as::cli::Cli),
    /// Print a run's failures (its checks.json) as `[expected_failures]` lines for a profile.
    Baseline(BaselineArgs),
}

#[derive(Debug, Args)]
struct BaselineArgs {
    /// The checks.json of a run (or a file --write-baseline wrote).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
}

/// Where the server and mock-as are, shared by `run` and `init`.
#[derive(Debug, Args)]
struct Target {
    /// The MCP endpoint (default: the profile's `[server] url`).
    #[arg(long)]
    url: Option<String>,
    /// A profile: what the wire cannot tell, and overrides of what the probe learns.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Use a running mock-as at this base URL (project, servers and keys read from its control
    /// API) instead of starting one in-process.
    #[arg(long, value_name = "BASE")]
    mock_as: Option<String>,
    /// `--admin-token` of the running mock-as.
    #[arg(long, env = "MOCK_AS_ADMIN_TOKEN")]
    mock_as_admin_token: Option<String>,
    /// Configuration of the in-process mock-as (default: its embedded configuration).
    #[arg(long, value_name = "FILE", conflicts_with = "mock_as")]
    mock_as_config: Option<PathBuf>,
    /// Port of the in-process mock-as. Default: the configuration's port (8787) when your server
    /// is already running and trusts it, a free port when the server is started with `-- COMMAND`.
    #[arg(long, conflicts_with = "mock_as")]
    mock_as_port: Option<u16>,
    /// How long to wait for a server started with `-- COMMAND` to answer.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    startup_timeout: u64,
    /// Cap on every bound of each request the probe sends (default: the run's bounds).
    #[arg(long, value_name = "SECONDS")]
    probe_timeout: Option<u64>,
    /// Bound on connecting to the server (default 5, or the profile's timeouts.connect_seconds).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    connect_timeout: Option<Duration>,
    /// Bound from sending a request to the answer's headers (default 30 for the scenarios and 10
    /// for the preflight and the probe, or the profile's timeouts.headers_seconds for all): a
    /// server that accepts and never answers is reported after it.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    headers_timeout: Option<Duration>,
    /// Bound on reading a whole answer body, or an event stream up to the awaited message
    /// (default 30, or the profile's timeouts.body_seconds).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    body_timeout: Option<Duration>,
    /// The server to start once mock-as is up (after `--`); it gets MOCK_AS_URL, MOCK_AS_ISSUER,
    /// MOCK_AS_WELL_KNOWN, MOCK_AS_JWKS_URL, MOCK_AS_PROJECT_ID, MOCK_AS_INBOUND_ISSUER,
    /// MOCK_AS_PROJECT_ISSUER, MCP_SERVER_URL, MCP_RESOURCE, and
    /// is stopped by process id when the run ends, whatever happens.
    #[arg(last = true, value_name = "SERVER COMMAND")]
    command: Vec<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Where junit.xml, checks.json, results.sarif, summary.md and report.html go.
    #[arg(long, default_value = "authcheck-report")]
    report_dir: PathBuf,
    /// A previous run's checks.json: the failures it lists are known (XFAIL), new ones fail the
    /// run, a listed scenario that passes now is STALE (fails the run).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// With --baseline: a listed scenario that passes now is a notice (FIXED), not a failure.
    #[arg(long, requires = "baseline")]
    baseline_allow_fixed: bool,
    /// Write this run's failures as a baseline (a checks.json of the failing scenarios).
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    /// SHOULD failures fail the run too.
    #[arg(long)]
    strict: bool,
    /// Test this MCP revision, over what the probe negotiates and the profile says (a server
    /// that speaks several: 2025-11-25 by initialize, 2026-07-28 by server/discover).
    #[arg(long, value_parser = harness::profile::REVISIONS.to_vec())]
    protocol_version: Option<String>,
    /// Scenarios in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Only scenarios whose name contains this, or that carry this tag (e.g. req-24).
    #[arg(long)]
    filter: Option<String>,
    /// Feature files to run instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    features: Option<PathBuf>,
    /// Print every step.
    #[arg(long)]
    verbose: bool,
}

#[derive(Debug, Args)]
struct InitArgs {
    #[command(flatten)]
    target: Target,
    /// Where to write the profile (`-` = stdout).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

/// A `--*-timeout` value: seconds, > 0.
fn seconds(v: &str) -> Result<Duration, String> {
    let n: f64 = v
        .parse()
        .map_err(|_| format!("{v:?} is not a number of seconds"))?;
    harness::http::seconds(n)
}

impl Target {
    fn timeout_flags(&self) -> harness::http::TimeoutFlags {
        harness::http::TimeoutFlags {
            connect: self.connect_timeout,
            headers: self.headers_timeout,
            body: self.body_timeout,
        }
    }
    fn probe_cap(&self) -> Option<Duration> {
        self.probe_timeout.map(|s| Duration::from_secs(s.max(1)))
    }
}

/// Why the run could not happen (exit code 2).
#[derive(Debug)]
struct CannotRun(String);

impl<E: std::fmt::Display> From<E> for CannotRun {
    fn from(e: E) -> CannotRun {
        CannotRun(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Serve(c) = cli.command {
        return mock_as::cli::main_with(c);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(a) => rt.block_on(run(a)),
        Command::Init(a) => rt.block_on(init(a)).map(|()| ExitCode::SUCCESS),
        Command::Baseline(a) => print_baseline(&a).map(|()| ExitCode::SUCCESS),
        Command::Serve(_) => Ok(ExitCode::SUCCESS),
    };
    // Background tasks (the in-process mock-as) end with the runtime, without waiting.
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(CannotRun(m)) => {
            eprintln!("mcp-authcheck: {m}");
            ExitCode::from(2)
        }
    }
}

/// mock-as, the server and the profile file, ready for the probe; dropping it stops what it
/// started (the server by process id, the in-process mock-as with the runtime).
struct Session {
    url: String,
    mock: MockAsClient,
    file: Option<(toml::Table, String)>,
    server: Option<ServerProcess>,
    _mock_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Session {
    fn file(&self) -> Option<(&toml::Table, &str)> {
        self.file.as_ref().map(|(t, n)| (t, n.as_str()))
    }

    async fn stop(&mut self) {
        if let Some(s) = self.server.as_mut() {
            s.stop().await;
        }
    }
}

fn table_str(t: &toml::Table, sec: &str, k: &str) -> Option<String> {
    t.get(sec)
        .and_then(|v| v.get(k))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Start (or find) mock-as, start the server command if any, and wait for the URL.
async fn start(t: &Target) -> Result<Session, CannotRun> {
    let file = match &t.profile {
        Some(p) => Some((Profile::load_table(p)?, p.display().to_string())),
        None => None,
    };
    let url = t
        .url
        .clone()
        .or_else(|| {
            file.as_ref()
                .and_then(|(f, _)| table_str(f, "server", "url"))
        })
        .ok_or_else(|| {
            CannotRun("give the MCP endpoint with --url (or [server] url in --profile)".into())
        })?;
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        Ok(_) => return Err(CannotRun(format!("--url {url}: must be http(s)"))),
        Err(e) => return Err(CannotRun(format!("--url {url}: not an absolute URL: {e}"))),
    }
    let (mock, stop) = match &t.mock_as {
        Some(base) => (MockAsClient::new(base, t.mock_as_admin_token.clone()), None),
        None => {
            let mut cfg = match &t.mock_as_config {
                Some(p) => mock_as::Config::load(p)?,
                None => mock_as::Config::embedded_default()?,
            };
            let port = t.mock_as_port.unwrap_or(if t.command.is_empty() {
                cfg.listen.port
            } else {
                0
            });
            cfg.listen.port = port;
            let listener = tokio::net::TcpListener::bind((cfg.listen.bind, port))
                .await
                .map_err(|e| {
                    CannotRun(format!(
                        "cannot start mock-as on {}:{port}: {e} — is another mock-as running there? Use it with --mock-as http://{}:{port}, or pick another --mock-as-port",
                        cfg.listen.bind, cfg.listen.bind
                    ))
                })?;
            let base = mock_as::base_url_for(&cfg, &listener)?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(mock_as::serve(listener, cfg, None, async {
                let _ = rx.await;
            }));
            (MockAsClient::new(&base, None), Some(tx))
        }
    };
    let mut session = Session {
        url,
        mock,
        file,
        server: None,
        _mock_stop: stop,
    };
    if !t.command.is_empty() {
        let env = server_env(&session).await?;
        let mut server = ServerProcess::start(&t.command, &env)?;
        eprintln!(
            "mcp-authcheck: started the server (pid {}), waiting for {}",
            server.pid(),
            session.url
        );
        let ready = server
            .wait_ready(&session.url, Duration::from_secs(t.startup_timeout))
            .await;
        session.server = Some(server);
        if let Err(e) = ready {
            session.stop().await;
            return Err(CannotRun(e.to_string()));
        }
    }
    Ok(session)
}

/// The environment a server command gets (the same as `ci/run-suite.sh` exports).
async fn server_env(s: &Session) -> Result<Vec<(String, String)>, CannotRun> {
    let info = s.mock.get("/_mock/info").await?;
    let pid = info["project_id"].as_str().unwrap_or_default().to_string();
    let wanted = s
        .file()
        .and_then(|(f, _)| table_str(f, "mock_as", "mcp_server_id"));
    let servers = info["servers"].as_array().cloned().unwrap_or_default();
    let server = servers
        .iter()
        .find(|v| {
            wanted
                .as_deref()
                .is_none_or(|w| v["id"].as_str() == Some(w))
        })
        .ok_or_else(|| {
            CannotRun(format!(
                "mock-as at {} has no MCP server entry {}",
                s.mock.base,
                wanted.as_deref().unwrap_or("at all")
            ))
        })?;
    let issuer = server["issuer"].as_str().unwrap_or_default().to_string();
    let resource = s
        .file()
        .and_then(|(f, _)| table_str(f, "server", "resource"))
        .unwrap_or_else(|| s.url.clone());
    Ok(vec![
        ("MOCK_AS_URL".into(), s.mock.base.clone()),
        ("MOCK_AS_ISSUER".into(), issuer.clone()),
        (
            "MOCK_AS_WELL_KNOWN".into(),
            format!("{issuer}/.well-known/openid-configuration"),
        ),
        (
            "MOCK_AS_JWKS_URL".into(),
            info["jwks_uri"].as_str().unwrap_or_default().to_string(),
        ),
        (
            "MOCK_AS_INBOUND_ISSUER".into(),
            IssuerStyle::InboundApp.issuer(&s.mock.base, &pid, ""),
        ),
        (
            "MOCK_AS_PROJECT_ISSUER".into(),
            IssuerStyle::Project.issuer(&s.mock.base, &pid, ""),
        ),
        ("MOCK_AS_PROJECT_ID".into(), pid),
        ("MCP_SERVER_URL".into(), s.url.clone()),
        ("MCP_RESOURCE".into(), resource),
    ])
}

/// `baseline --from FILE`: the `[expected_failures]` lines on stdout.
fn print_baseline(a: &BaselineArgs) -> Result<(), CannotRun> {
    let b = Baseline::load(&a.from, false)?;
    print!("{}", baseline::expected_failures_toml(&b));
    Ok(())
}

async fn run(a: RunArgs) -> Result<ExitCode, CannotRun> {
    // A baseline that cannot be used ends the run before anything starts.
    let known = match &a.baseline {
        Some(p) => Some(Baseline::load(p, a.baseline_allow_fixed)?),
        None => None,
    };
    let mut session = start(&a.target).await?;
    let features = match &a.features {
        Some(d) => {
            if !d.is_dir() {
                session.stop().await;
                return Err(CannotRun(format!(
                    "--features {}: not a directory",
                    d.display()
                )));
            }
            (d.clone(), None)
        }
        None => {
            let dir = FeatureDir::embedded()?;
            (dir.path.clone(), Some(dir))
        }
    };
    let progress = if a.verbose {
        Progress::Quiet
    } else if std::io::stderr().is_terminal() {
        Progress::Terminal
    } else {
        Progress::Lines
    };
    let opts = RunOptions {
        profile: a.target.profile.clone(),
        report_dir: Some(a.report_dir.clone()),
        strict: a.strict,
        filter: a.filter.clone(),
        concurrency: a.concurrency.max(1),
        verbose: a.verbose,
        features: features.0,
        probe_timeout: a.target.probe_cap(),
        timeouts: a.target.timeout_flags(),
        progress,
        baseline: known,
        protocol_version: a.protocol_version.clone(),
        ..RunOptions::default()
    };
    let outcome = until_interrupted(runner::probe_and_run(
        &session.url,
        session.mock.clone(),
        session.file(),
        &opts,
    ))
    .await;
    session.stop().await;
    drop(features.1);
    let result: RunResult = match outcome {
        None => return Err(CannotRun("interrupted; the server was stopped".into())),
        Some(Err(e)) => {
            if let Some(s) = &session.server {
                eprintln!("server output (last 30 lines):\n{}", s.log_tail(30));
            }
            return Err(CannotRun(e));
        }
        Some(Ok(r)) => r,
    };
    println!("{}", result.console());
    if let Some(line) = &result.stopped {
        // The run could not complete: the verdicts so far are in the reports, with one errored
        // check for the rest.
        println!(
            "reports: {}",
            report::REPORT_FILES
                .iter()
                .map(|f| a.report_dir.join(f).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(srv) = &session.server {
            println!(
                "server output (last 30 lines):
{}",
                srv.log_tail(30)
            );
        }
        return Err(CannotRun(line.clone()));
    }
    let files: Vec<String> = report::REPORT_FILES
        .iter()
        .map(|f| a.report_dir.join(f).display().to_string())
        .collect();
    println!("reports: {}", files.join(", "));
    github::publish(&result)?;
    if let Some(p) = &a.write_baseline {
        let n = baseline::write_baseline(p, [&result])?;
        println!(
            "baseline: {n} failing scenario(s) written to {}",
            p.display()
        );
    }
    let s = &result.summary;
    println!(
        "{} passed, {} failed, {} skipped",
        s.must_passed + s.should_passed + s.xfail + s.warnings,
        s.must_failed + s.stale + s.strict_failed,
        s.skipped
    );
    if s.failed() {
        if let Some(srv) = &session.server {
            println!("server output (last 30 lines):\n{}", srv.log_tail(30));
        }
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

async fn init(a: InitArgs) -> Result<(), CannotRun> {
    let out = a.output.clone();
    if out != Path::new("-") && out.exists() && !a.force {
        return Err(CannotRun(format!(
            "{} exists; pass --force to replace it",
            out.display()
        )));
    }
    let mut session = start(&a.target).await?;
    let hints = session
        .file()
        .map(|(t, _)| Hints::from_table(t))
        .unwrap_or_default();
    let flags = a.target.timeout_flags();
    let headers_given = flags.headers_given(session.file().map(|(t, _)| t));
    let mut timeouts = flags
        .over(harness::http::timeouts_of(
            session.file().map(|(t, _)| t),
            session.file().map_or("", |(_, n)| n),
        )?)
        .for_preflight(headers_given);
    if let Some(cap) = a.target.probe_cap() {
        timeouts = timeouts.capped(cap);
    }
    let opts = ProbeOptions {
        url: session.url.clone(),
        timeouts,
    };
    let outcome = until_interrupted(probe::probe(&opts, &session.mock, &hints)).await;
    session.stop().await;
    let report = match outcome {
        None => return Err(CannotRun("interrupted; the server was stopped".into())),
        Some(r) => r?,
    };
    let text = render_profile(&session.url, &report, a.target.mock_as.as_deref());
    // Check the result reads back as a profile before writing it.
    let table: toml::Table = text.parse()?;
    Profile::from_layers(&report.table, Some((&table, "the generated profile")))?;
    if out == Path::new("-") {
        print!("{text}");
    } else {
        let tmp = out.with_extension("tmp");
        std::fs::write(&tmp, &text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &out).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!(
            "mcp-authcheck: wrote {} — review it, then run with --profile {}",
            out.display(),
            out.display()
        );
    }
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    Ok(())
}

/// TOML for one value.
fn value(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{k} = {}", value(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(value).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// The probe's findings as a commented profile: every value says how it was learned.
fn render_profile(url: &str, report: &ProbeReport, mock_base: Option<&str>) -> String {
    let how = |field: &str| {
        report
            .learned
            .iter()
            .find(|l| l.field == field)
            .map(|l| l.how.clone())
    };
    let get = |sec: &str, k: &str| report.table.get(sec).and_then(|s| s.get(k)).cloned();
    let mut out = format!(
        "# mcp-authcheck profile for {url}, learned from the wire by `mcp-authcheck init`.\n\
         # Review it and commit it; run with `mcp-authcheck run --profile FILE`. Each value says how it\n\
         # was learned. A value you delete is learned again on the next run; a value you keep\n\
         # overrides what the probe finds. Add what the wire cannot tell (the commented lines).\n\n"
    );
    let line = |out: &mut String, key: &str, v: Option<toml::Value>, note: Option<String>| {
        if let Some(v) = v {
            out.push_str(&format!("{key} = {}", value(&v)));
            if let Some(n) = note {
                out.push_str(&format!("  # {n}"));
            }
            out.push('\n');
        }
    };
    out.push_str("[server]\n");
    line(
        &mut out,
        "url",
        get("server", "url"),
        Some("given with --url".into()),
    );
    line(
        &mut out,
        "resource",
        get("server", "resource"),
        how("server.resource"),
    );
    line(
        &mut out,
        "protocol_version",
        get("server", "protocol_version"),
        how("server.protocol_version"),
    );
    line(
        &mut out,
        "stateful",
        get("server", "stateful"),
        how("server.stateful"),
    );
    out.push_str("# validates_origin = true   # false skips checklist 49 (servers never called from a browser)\n\n");
    out.push_str("[mock_as]\n");
    match mock_base {
        Some(b) => out.push_str(&format!(
            "url = {}  # given with --mock-as\n",
            toml::Value::String(b.to_string())
        )),
        None => out.push_str(
            "# url = \"http://127.0.0.1:8787\"   # a running mock-as; default: mcp-authcheck starts its own\n",
        ),
    }
    line(
        &mut out,
        "project_id",
        get("mock_as", "project_id"),
        Some("mock-as's project".into()),
    );
    line(
        &mut out,
        "mcp_server_id",
        get("mock_as", "mcp_server_id"),
        how("mock_as.mcp_server_id"),
    );
    out.push('\n');
    out.push_str("[auth]\n");
    line(
        &mut out,
        "required_scopes",
        get("auth", "required_scopes"),
        how("auth.required_scopes"),
    );
    line(
        &mut out,
        "validation",
        get("auth", "validation"),
        how("auth.validation"),
    );
    out.push_str(
        "# jwks_cache_seconds = 31          # how long the server may take to accept a newly published key (the wire cannot tell)\n\
         # jwks_max_age_seconds = 300       # how long it keeps trusting a key removed from the JWKS; unset = that scenario is skipped\n\
         # introspection_cache_seconds = 0  # introspection only: how long a revoked token may still pass\n",
    );
    for t in &report.tools {
        out.push_str(&format!(
            "\n[[tools]]\nname = {}\n",
            toml::Value::String(t.name.clone())
        ));
        let scopes =
            toml::Value::Array(t.scopes.iter().cloned().map(toml::Value::String).collect());
        out.push_str(&format!(
            "scopes = {}  # {}\n",
            value(&scopes),
            t.scopes_how
        ));
        if !t.arguments.is_empty()
            && let Ok(v) = toml::Value::try_from(serde_json::Value::Object(t.arguments.clone()))
        {
            out.push_str(&format!(
                "arguments = {}  # generated from its inputSchema; a call with them succeeded\n",
                value(&v)
            ));
        }
        if let Some(c) = &t.connection {
            out.push_str(&format!(
                "connection = {}  # the server fetched this connection token at mock-as while the tool ran\n",
                value(&toml::Value::Table(c.to_toml()))
            ));
        }
    }
    out.push_str(
        "\n[expected_failures]\n# \"req-40\" = \"one-line reason naming a known defect\"\n",
    );
    out
}
