//! Running the suite: against a profile's server, or in-process against the reference server
//! (or one of its mutants, for the kill matrix). Scenarios that do not apply to the profile are
//! recorded as SKIPPED with the reason and never run; the rest run concurrently (only `@serial`
//! ones alone); each outcome is recorded by cucumber's `after` hook and turned into verdicts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cucumber::{World as _, cli, event, gherkin, writer};
use futures::FutureExt as _;
use serde_json::json;

use crate::as_client::MockAsClient;
use crate::breaker::Breaker;
use crate::http::Timeouts;
use crate::mcp_client::McpClient;
use crate::probe::{self, Hints, ProbeOptions, ProbeReport};
use crate::profile::{IssuerStyle, Profile, Validation};
use crate::report::{self, Outcome, Record, Summary};
use crate::world::{AuthWorld, RunScope, SuiteCtx, in_run, run_progress};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The profile; `None` = in-process mock-as + reference server.
    pub profile: Option<PathBuf>,
    /// Where reports go (`None` = no files).
    pub report_dir: Option<PathBuf>,
    /// SHOULD failures fail the run too.
    pub strict: bool,
    /// Only scenarios whose name contains this, or that carry this tag (`req-24`); several
    /// comma-separated terms select what any of them selects (`req-24,req-25`).
    pub filter: Option<String>,
    /// Scenarios in flight at once.
    pub concurrency: usize,
    /// Print cucumber's step-by-step output.
    pub verbose: bool,
    /// The feature files.
    pub features: PathBuf,
    /// In-process reference runs: learn everything from the wire (the probe), with only the
    /// values the wire cannot tell given (the in-process server's cache windows), instead of
    /// `fixtures/profiles/reference.toml`.
    pub wire_only: bool,
    /// In-process reference runs: the reference server keeps no sessions.
    pub stateless_reference: bool,
    /// In-process reference runs: the Descope issuer the reference server trusts (its own
    /// MCP-server issuer, the project's Inbound App issuer, or the project OIDC issuer).
    pub reference_issuer: IssuerStyle,
    /// In-process reference runs: the reference server speaks only MCP 2025-03-26 (and serves its
    /// authorization server's metadata at its origin, as that revision asks).
    pub reference_2025_03_26: bool,
    /// In-process reference runs: the reference server is an OAuth proxy in front of mock-as.
    pub reference_oauth_proxy: bool,
    /// In-process reference runs: the reference server speaks only MCP 2026-07-28 (stateless,
    /// `server/discover`) and declares its scope hierarchy.
    pub reference_2026_07_28: bool,
    /// Test this MCP revision (`--protocol-version`), whatever else the server speaks: as if the
    /// profile said `server.protocol_version`, over the profile's own value.
    pub protocol_version: Option<String>,
    /// Caps every bound of each request the probe sends (`--probe-timeout`); `None` = the
    /// run's [`RunOptions::timeouts`].
    pub probe_timeout: Option<Duration>,
    /// `--connect-timeout`, `--headers-timeout`, `--body-timeout`: over the profile's
    /// `[timeouts]` (and the defaults, [`crate::http::Timeouts::default`]).
    pub timeouts: crate::http::TimeoutFlags,
    /// Progress output while the scenarios run.
    pub progress: Progress,
    /// A previous run's failures (`--baseline FILE`): the same failures now are XFAIL, a listed
    /// scenario that passes is STALE (or FIXED with `--baseline-allow-fixed`).
    pub baseline: Option<crate::baseline::Baseline>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            profile: None,
            report_dir: Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/authcheck"
            ))),
            strict: false,
            filter: None,
            concurrency: 16,
            verbose: false,
            features: features_dir(),
            wire_only: false,
            stateless_reference: false,
            reference_issuer: IssuerStyle::McpServer,
            reference_2025_03_26: false,
            reference_oauth_proxy: false,
            reference_2026_07_28: false,
            protocol_version: None,
            probe_timeout: None,
            timeouts: crate::http::TimeoutFlags::default(),
            progress: Progress::Quiet,
            baseline: None,
        }
    }
}

/// `features/` at the top of the repository.
pub fn features_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../features"))
}

/// The feature files, compiled in: the `mcp-authcheck` binary runs from any directory
/// (a test checks this list against `features/`).
pub const EMBEDDED_FEATURES: &[(&str, &str)] = &[
    (
        "audience.feature",
        include_str!("../../features/audience.feature"),
    ),
    (
        "authentication.feature",
        include_str!("../../features/authentication.feature"),
    ),
    (
        "connections.feature",
        include_str!("../../features/connections.feature"),
    ),
    (
        "discovery.feature",
        include_str!("../../features/discovery.feature"),
    ),
    (
        "expiry.feature",
        include_str!("../../features/expiry.feature"),
    ),
    (
        "key-rotation.feature",
        include_str!("../../features/key-rotation.feature"),
    ),
    (
        "passthrough.feature",
        include_str!("../../features/passthrough.feature"),
    ),
    (
        "revocation.feature",
        include_str!("../../features/revocation.feature"),
    ),
    (
        "scope.feature",
        include_str!("../../features/scope.feature"),
    ),
    (
        "session.feature",
        include_str!("../../features/session.feature"),
    ),
];

/// A directory holding the embedded feature files (cucumber reads features from disk), removed
/// when dropped.
#[derive(Debug)]
pub struct FeatureDir {
    /// The directory.
    pub path: PathBuf,
}

impl FeatureDir {
    /// Write [`EMBEDDED_FEATURES`] into a new directory under the system's temporary directory.
    pub fn embedded() -> std::io::Result<FeatureDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mcp-authcheck-features-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        for (name, text) in EMBEDDED_FEATURES {
            std::fs::write(path.join(name), text)?;
        }
        Ok(FeatureDir { path })
    }
}

impl Drop for FeatureDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// How the run reports progress while scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Nothing until the end (tests, `cargo test`).
    #[default]
    Quiet,
    /// One line per finished scenario on stderr (CI logs).
    Lines,
    /// One line rewritten in place on stderr (a terminal).
    Terminal,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// One record per scenario (skipped ones included).
    pub records: Vec<Record>,
    /// The tally.
    pub summary: Summary,
    /// The profile's expected failures.
    pub expected: BTreeMap<String, String>,
    /// Whether `--strict` applied.
    pub strict: bool,
    /// What the probe learned before the scenarios ran.
    pub probe: Option<ProbeReport>,
    /// The MCP endpoint the run tested.
    pub server: String,
    /// The server stopped answering mid-run: the one line (the run could not complete; exit 2).
    pub stopped: Option<String>,
}

impl RunResult {
    /// The console report: what the probe learned and noticed, then the verdicts.
    pub fn console(&self) -> String {
        let mut out = String::new();
        if let Some(p) = &self.probe {
            out.push_str(&probe_summary(p));
        }
        out.push_str(&report::console(&self.records, &self.expected, self.strict));
        out
    }
    /// Requirement tags of scenarios that failed (before expected-failure handling).
    pub fn failed_reqs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .filter_map(|r| r.req().map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The records of one run, filled by its filter (skipped scenarios) and `after` hook.
type Records = Arc<Mutex<Vec<Record>>>;

fn push(records: &Records, r: Record) {
    records.lock().unwrap_or_else(|p| p.into_inner()).push(r);
}

/// Why a scenario does not apply to the profile (`None` = it applies).
pub fn not_applicable(tags: &[String], p: &Profile) -> Option<String> {
    let v = p.server.protocol_version.as_str();
    for t in tags {
        if let Some(since) = t.strip_prefix("since-")
            && v < since
        {
            return Some(format!(
                "applies from revision {since}; the profile speaks {v}"
            ));
        }
        if let Some(until) = t.strip_prefix("until-")
            && v > until
        {
            return Some(format!(
                "applies up to revision {until}; the profile speaks {v}"
            ));
        }
        let why = match t.as_str() {
            "stateful" if !p.stateful() => Some("the server keeps no sessions (no Mcp-Session-Id on initialize, or server.stateful = false)".to_string()),
            "jwt" if p.auth.validation != Validation::Jwt => Some(
                "the profile says the server validates by introspection (auth.validation = \"introspection\"): it does not use the JWKS".to_string(),
            ),
            "introspection" if p.auth.validation != Validation::Introspection => {
                Some("the profile says the server validates JWTs locally (auth.validation = \"jwt\"), not by introspection at the AS".to_string())
            }
            "connection-user" if p.connection_tool("user").is_none() => Some("no tool fetched a user-level connection during the probe; needs `tools[].connection` (level = \"user\") in a profile if one does".to_string()),
            "connection-tenant" if p.connection_tool("tenant").is_none() => {
                Some("no tool fetched a tenant-level connection during the probe; needs `tools[].connection` (level = \"tenant\") in a profile if one does".to_string())
            }
            "required-scope" if p.auth.required_scopes.is_empty() => {
                Some("the server requires no scope (none learned; needs `auth.required_scopes` in a profile if it does)".to_string())
            }
            "tool-scope" if p.scoped_tool().is_none() => Some("no tool needs a scope beyond the required ones (none learned; needs `tools[].scopes` in a profile if one does)".to_string()),
            "origin" if !p.server.validates_origin => Some("the profile says the server does not validate Origin (server.validates_origin = false)".to_string()),
            "oauth-proxy" if !p.auth.oauth_proxy => Some("the server is not an OAuth proxy: its protected resource metadata names no authorization server of its own origin that registers clients (set auth.oauth_proxy = true in a profile if it is one)".to_string()),
            "scope-hierarchy" if p.scoped_tool().and_then(|t| p.broader_scope_for(t)).is_none() => Some(
                if p.auth.scope_hierarchy.is_empty() {
                    "the profile declares no scope hierarchy (`auth.scope_hierarchy`: the wire cannot tell which scope implies which)".to_string()
                } else {
                    "the profile's auth.scope_hierarchy implies none of the scopes of the tool that needs an extra scope".to_string()
                },
            ),
            "key-retirement" if p.auth.jwks_max_age_seconds.is_none() => Some(
                "needs `auth.jwks_max_age_seconds` in a profile: how long the server keeps a key that left the JWKS (the wire cannot tell)"
                    .to_string(),
            ),
            _ => None,
        };
        if why.is_some() {
            return why;
        }
    }
    None
}

/// The record that stands for the checks a server problem kept from running: the preflight's
/// refusal (`scenario` = [`PREFLIGHT`]) or the server stopping mid-run ([`STOPPED`]). One
/// errored MUST check, written through the usual report writers.
pub fn server_record(scenario: &str, message: &str) -> Record {
    Record {
        feature: SERVER_FEATURE.into(),
        scenario: scenario.into(),
        tags: vec![SERVER_REQ.into(), "must".into(), report::ERRORED_TAG.into()],
        outcome: Outcome::Failed(message.to_string()),
        millis: 0,
        req_failed: false,
        source: "features".into(),
        baselined: None,
    }
}

/// The feature name of [`server_record`]s.
pub const SERVER_FEATURE: &str = "The server under test";
/// Their requirement tag (not a checklist item: the run could not check any).
pub const SERVER_REQ: &str = "req-server-answers";
/// The preflight's (and the probe's) check.
pub const PREFLIGHT: &str =
    "the endpoint answers like an MCP server the suite can test (preflight and probe)";
/// The mid-run check.
pub const STOPPED: &str = "the server keeps answering for the whole run";

/// The scenarios that failed because the breaker had tripped (their message is its line) become
/// one record naming where the server stopped and what was not run.
fn collapse_stopped(records: &mut Vec<Record>, line: &str) {
    let (cut, kept): (Vec<Record>, Vec<Record>) = std::mem::take(records)
        .into_iter()
        .partition(|r| matches!(&r.outcome, Outcome::Failed(m) if m.starts_with(line)));
    *records = kept;
    let mut names: Vec<String> = cut
        .iter()
        .map(|r| format!("{} {}", r.req().unwrap_or("req-?"), r.scenario))
        .collect();
    names.sort();
    let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    let mut msg = format!(
        "{line}
scenarios not run: {}",
        names.len()
    );
    if !shown.is_empty() {
        msg.push_str(&format!(": {}", shown.join("; ")));
    }
    if more > 0 {
        msg.push_str(&format!("; and {more} more"));
    }
    records.push(server_record(STOPPED, &msg));
}

thread_local! {
    /// Set while this thread polls the scenarios: a panic there is a step failing (cucumber
    /// catches it and the report carries its message), not something to print.
    static IN_STEPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Steps fail by panicking; the default hook would print each one to stderr ("thread 'main'
/// panicked at …") although the report already says it. While the scenarios are polled the hook
/// stays silent; any other panic is printed as before.
trait QuietPanics: std::future::Future + Sized {
    fn quiet_panics(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output>>>
    where
        Self: 'static,
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !IN_STEPS.with(|f| f.get()) {
                    previous(info);
                }
            }));
        });
        let mut inner = Box::pin(self);
        Box::pin(std::future::poll_fn(move |cx| {
            IN_STEPS.with(|f| f.set(true));
            let r = inner.as_mut().poll(cx);
            IN_STEPS.with(|f| f.set(false));
            r
        }))
    }
}

impl<F: std::future::Future> QuietPanics for F {}

fn panic_text(e: &event::StepError) -> String {
    match e {
        event::StepError::Panic(p) => {
            if let Some(s) = p.downcast_ref::<String>() {
                s.clone()
            } else if let Some(s) = p.downcast_ref::<&str>() {
                (*s).to_string()
            } else {
                "a step panicked".to_string()
            }
        }
        other => other.to_string(),
    }
}

/// The feature file of a scenario as the repository names it (`features/audience.feature`).
fn source_of(f: &gherkin::Feature) -> String {
    let name = f
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}.feature", f.name));
    format!("features/{name}")
}

/// A scenario's tags with its feature's and rule's.
fn tags_of(f: &gherkin::Feature, r: Option<&gherkin::Rule>, s: &gherkin::Scenario) -> Vec<String> {
    f.tags
        .iter()
        .chain(r.iter().flat_map(|r| &r.tags))
        .chain(&s.tags)
        .cloned()
        .collect()
}

/// Make mock-as's server entry name the SUT's resource, so `/authorize` and minted tokens carry
/// the audience the SUT expects.
async fn sync_mock_as(p: &Profile, mock: &MockAsClient) -> Result<(), String> {
    if !p.mock_as.sync_server_entry {
        return Ok(());
    }
    mock.patch(
        &format!("/_mock/servers/{}", p.mock_as.mcp_server_id),
        json!({"url": p.resource()}),
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        format!(
            "cannot make mock-as's server entry {} match the profile: {e}",
            p.mock_as.mcp_server_id
        )
    })
}

/// Run the scenarios against the server a context describes.
pub async fn run_with(ctx: Arc<SuiteCtx>, opts: &RunOptions) -> Result<RunResult, String> {
    sync_mock_as(&ctx.profile, &ctx.mock).await?;
    let records: Records = Arc::default();
    let scope = RunScope {
        ctx: ctx.clone(),
        progress: match opts.progress {
            Progress::Quiet => 0,
            Progress::Lines => 1,
            Progress::Terminal => 2,
        },
    };
    let profile = ctx.profile.clone();
    let filter_text = opts.filter.clone();
    // A filter of several comma-separated terms selects what any of them selects.
    let selected = move |tags: &[String], name: &str| {
        filter_text.as_ref().is_none_or(|ft| {
            ft.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .any(|t| name.contains(t) || tags.iter().any(|x| x == t))
        })
    };
    let total = if opts.progress == Progress::Quiet {
        0
    } else {
        count_runnable(&opts.features, &ctx.profile, &selected)
    };
    let progress = opts.progress;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let skipped = records.clone();
    let finished = records.clone();
    let filter = move |f: &gherkin::Feature, r: Option<&gherkin::Rule>, s: &gherkin::Scenario| {
        let tags = tags_of(f, r, s);
        if !selected(&tags, &s.name) {
            return false;
        }
        match not_applicable(&tags, &profile) {
            Some(why) => {
                push(
                    &skipped,
                    Record {
                        feature: f.name.clone(),
                        scenario: s.name.clone(),
                        tags,
                        outcome: Outcome::Skipped(why),
                        millis: 0,
                        req_failed: false,
                        source: source_of(f),
                        baselined: None,
                    },
                );
                false
            }
            None => true,
        }
    };
    let out: Box<dyn std::io::Write> = if opts.verbose {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::sink())
    };
    let scenarios = AuthWorld::cucumber()
        .max_concurrent_scenarios(opts.concurrency)
        .before(|_, _, s, w| {
            // The scenario's requests go by its name (the breaker says where the server stopped).
            w.mcp = w.ctx.mcp.sent_by(&s.name);
            async move {
                w.started = Instant::now();
            }
            .boxed_local()
        })
        .after(move |f, r, s, ev, w| {
            let tags = tags_of(f, r, s);
            let outcome = match ev {
                event::ScenarioFinished::StepPassed => Outcome::Passed,
                event::ScenarioFinished::StepSkipped => {
                    Outcome::Failed("a step has no definition in the harness (suite bug)".into())
                }
                event::ScenarioFinished::StepFailed(_, _, e) => Outcome::Failed(panic_text(e)),
                event::ScenarioFinished::BeforeHookFailed(_) => {
                    Outcome::Failed("the before hook failed".into())
                }
            };
            let (feature, scenario) = (f.name.clone(), s.name.clone());
            let source = source_of(f);
            let failed = matches!(outcome, Outcome::Failed(_));
            let done = done.clone();
            let finished = finished.clone();
            async move {
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                show_progress(progress, n, total, &scenario, failed);
                let millis = w
                    .as_ref()
                    .map(|w| w.started.elapsed().as_millis())
                    .unwrap_or(0);
                if let Some(w) = w {
                    w.remove_rules().await;
                    if failed {
                        w.undo_rotation().await;
                    }
                }
                push(
                    &finished,
                    Record {
                        feature,
                        scenario,
                        tags,
                        outcome,
                        millis,
                        req_failed: false,
                        source,
                        baselined: None,
                    },
                );
            }
            .boxed_local()
        })
        .with_writer(writer::Basic::new(
            out,
            writer::Coloring::Never,
            writer::Verbosity::Default,
        ))
        .with_cli(cli::Opts::<_, _, _, cli::Empty>::default())
        .filter_run(opts.features.clone(), filter)
        .quiet_panics();
    in_run(scope, scenarios).await;
    if progress == Progress::Terminal {
        eprint!("\r\x1b[2K");
    }
    let mut records = std::mem::take(&mut *records.lock().unwrap_or_else(|p| p.into_inner()));
    let stopped = ctx.mcp.stopped();
    if let Some(line) = &stopped {
        collapse_stopped(&mut records, line);
    }
    records.sort_by(|a, b| {
        (a.feature.as_str(), a.req(), a.scenario.as_str()).cmp(&(
            b.feature.as_str(),
            b.req(),
            b.scenario.as_str(),
        ))
    });
    report::mark_requirement_failures(&mut records);
    if let Some(b) = &opts.baseline {
        b.apply(&mut records);
    }
    let expected = ctx.profile.expected_failures.clone();
    let summary = report::summarize(&records, &expected, opts.strict);
    if let Some(dir) = &opts.report_dir {
        let meta = report::ReportMeta {
            server: ctx.profile.server.url.clone(),
            profile: opts.profile.as_ref().map(|p| p.display().to_string()),
        };
        report::write(dir, &records, &expected, opts.strict, &meta)
            .map_err(|e| format!("cannot write reports to {}: {e}", dir.display()))?;
    }
    Ok(RunResult {
        records,
        summary,
        expected,
        strict: opts.strict,
        probe: None,
        server: ctx.profile.server.url.clone(),
        stopped,
    })
}

/// How many scenarios of `dir` will run for `profile` (selected and applicable): the N of the
/// progress line. Scenario outlines count once per example row.
fn count_runnable(
    dir: &Path,
    profile: &Profile,
    selected: &dyn Fn(&[String], &str) -> bool,
) -> usize {
    let mut n = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("feature") {
            continue;
        }
        let Ok(f) = gherkin::Feature::parse_path(&path, gherkin::GherkinEnv::default()) else {
            continue;
        };
        let rules = f
            .rules
            .iter()
            .flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s)));
        for (r, s) in f.scenarios.iter().map(|s| (None, s)).chain(rules) {
            let tags = tags_of(&f, r, s);
            if selected(&tags, &s.name) && not_applicable(&tags, profile).is_none() {
                let rows: usize = s
                    .examples
                    .iter()
                    .map(|x| {
                        x.table
                            .as_ref()
                            .map_or(0, |t| t.rows.len().saturating_sub(1))
                    })
                    .sum();
                n += rows.max(1);
            }
        }
    }
    n
}

fn show_progress(p: Progress, n: usize, total: usize, scenario: &str, failed: bool) {
    let verdict = if failed { "failed" } else { "done" };
    match p {
        Progress::Quiet => {}
        Progress::Lines => eprintln!("[{n}/{total}] {verdict}: {scenario}"),
        Progress::Terminal => {
            let name: String = scenario.chars().take(70).collect();
            eprint!("\r\x1b[2K[{n}/{total}] {name}");
        }
    }
}

/// Say that a step waits, and for how long at most (a JWKS cache window): shown on the progress
/// output so a person knows why nothing moves.
pub fn announce_wait(what: &str, bound: Duration) {
    match run_progress() {
        1 => eprintln!("  waiting up to {} s: {what}", bound.as_secs_f64().ceil()),
        2 => eprint!(
            "\r\x1b[2K  waiting up to {} s: {what}",
            bound.as_secs_f64().ceil()
        ),
        _ => {}
    }
}

/// The probe's findings in a few lines (for the console).
pub fn probe_summary(p: &ProbeReport) -> String {
    let mut out = String::from("learned from the wire:\n");
    for l in &p.learned {
        out.push_str(&format!("  {:<24} {}\n", l.field, l.how));
    }
    for t in &p.tools {
        let conn = t
            .connection
            .as_ref()
            .map(|c| format!("; fetches a {}-level {} connection", c.level, c.app_id))
            .unwrap_or_default();
        let scopes = if t.scopes.is_empty() {
            "no extra scope".to_string()
        } else {
            t.scopes.join(" ")
        };
        out.push_str(&format!(
            "  tool {:<19} {scopes}{conn} — {}\n",
            t.name, t.scopes_how
        ));
    }
    for n in &p.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out.push('\n');
    out
}

/// Learn the profile: probe the server at `url` (mock-as through `mock`), then lay the user's
/// profile file over what the wire said. The run's own URL and mock-as win over the file's.
pub async fn learn(
    url: &str,
    mock: &MockAsClient,
    file: Option<(&toml::Table, &str)>,
    timeouts: Timeouts,
) -> Result<(Profile, ProbeReport), Refused> {
    let hints = file.map(|(t, _)| Hints::from_table(t)).unwrap_or_default();
    let opts = ProbeOptions {
        url: url.to_string(),
        timeouts,
    };
    let report = probe::probe(&opts, mock, &hints)
        .await
        .map_err(|e| Refused::Server(e.to_string()))?;
    let mut profile =
        Profile::from_layers(&report.table, file).map_err(|e| Refused::Setup(e.to_string()))?;
    profile.server.url = url.to_string();
    profile.mock_as.url = mock.base.clone();
    Ok((profile, report))
}

/// Why a run could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The server under test is unusable (down, hanging, not MCP, refuses every token…): the
    /// reports say so as one errored check.
    Server(String),
    /// The set-up is wrong (a profile field, mock-as): nothing about the server to report.
    Setup(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Server(m) | Refused::Setup(m) => f.write_str(m),
        }
    }
}

/// The run's bounds: the flags over the profile file's `[timeouts]` over the defaults.
pub fn run_timeouts(
    file: Option<(&toml::Table, &str)>,
    opts: &RunOptions,
) -> Result<Timeouts, String> {
    let base = crate::http::timeouts_of(file.map(|(t, _)| t), file.map_or("", |(_, n)| n))?;
    Ok(opts.timeouts.over(base))
}

/// Probe, then run: the one path every way of running takes.
pub async fn probe_and_run(
    url: &str,
    mock: MockAsClient,
    file: Option<(&toml::Table, &str)>,
    opts: &RunOptions,
) -> Result<RunResult, String> {
    // --protocol-version is a profile value given on the command line.
    let forced: Option<(toml::Table, String)> = opts.protocol_version.as_ref().map(|v| {
        let (mut t, name) = file
            .map(|(t, n)| (t.clone(), format!("{n} and --protocol-version")))
            .unwrap_or_else(|| (toml::Table::new(), "--protocol-version".to_string()));
        let srv = t
            .entry("server")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(s) = srv.as_table_mut() {
            s.insert("protocol_version".into(), toml::Value::String(v.clone()));
        }
        (t, name)
    });
    let file = match &forced {
        Some((t, n)) => Some((t, n.as_str())),
        None => file,
    };
    let timeouts = run_timeouts(file, opts)?;
    // The preflight and the probe name a hanging server within 10 s unless told otherwise.
    let headers_given =
        opts.timeouts.headers.is_some() || crate::http::headers_in(file.map(|(t, _)| t));
    let preflight = timeouts.for_preflight(headers_given);
    let probe_timeouts = match opts.probe_timeout {
        Some(cap) => preflight.capped(cap),
        None => preflight,
    };
    let (mut profile, report) = match learn(url, &mock, file, probe_timeouts).await {
        Ok(v) => v,
        Err(Refused::Server(line)) => {
            // The same line in the reports, as the run's one (errored) check.
            if let Some(dir) = &opts.report_dir {
                let meta = report::ReportMeta {
                    server: url.to_string(),
                    profile: opts.profile.as_ref().map(|p| p.display().to_string()),
                };
                let records = [server_record(PREFLIGHT, &line)];
                report::write(dir, &records, &BTreeMap::new(), opts.strict, &meta).map_err(
                    |e| {
                        format!(
                            "{line} (and cannot write reports to {}: {e})",
                            dir.display()
                        )
                    },
                )?;
            }
            return Err(line);
        }
        Err(Refused::Setup(m)) => return Err(m),
    };
    profile.timeouts = timeouts;
    let ctx = context_for(profile, mock);
    let mut res = run_with(ctx, opts).await?;
    if let Some(dir) = &opts.report_dir {
        // What the verdicts rest on (issuer, audience, scopes, tools), next to them.
        std::fs::write(dir.join("learned.txt"), probe_summary(&report))
            .map_err(|e| format!("cannot write reports to {}: {e}", dir.display()))?;
    }
    res.probe = Some(report);
    Ok(res)
}

/// The run's context: the MCP client with the profile's bounds and a fresh circuit breaker.
fn context_for(profile: Profile, mock: MockAsClient) -> Arc<SuiteCtx> {
    let breaker = Arc::new(Breaker::new(&profile.server.url, profile.timeouts));
    let mcp = McpClient::with_timeouts(
        &profile.server.url,
        &profile.server.protocol_version,
        profile.timeouts,
    )
    .with_breaker(breaker);
    Arc::new(SuiteCtx { profile, mock, mcp })
}

/// A context for a profile.
pub fn context(profile: Profile) -> Arc<SuiteCtx> {
    let mock = MockAsClient::new(&profile.mock_as.url, profile.mock_as.admin_token.clone());
    context_for(profile, mock)
}

/// The reference server's profile file, compiled in.
pub const REFERENCE_PROFILE: &str = include_str!("../../fixtures/profiles/reference.toml");

/// The profile file of the in-process reference server as a layer: fixtures/profiles/reference.toml
/// with the URLs of this run.
pub fn reference_layer(mock_base: &str, resource: &str) -> toml::Table {
    // The file is ours and tested (tests/checklist.rs parses it); an unparsable copy gives an
    // empty layer, and the run then learns everything from the wire.
    let mut t: toml::Table = REFERENCE_PROFILE.parse().unwrap_or_default();
    if let Some(toml::Value::Table(s)) = t.get_mut("server") {
        s.insert("url".into(), toml::Value::String(resource.to_string()));
        s.remove("resource");
    }
    if let Some(toml::Value::Table(m)) = t.get_mut("mock_as") {
        m.insert("url".into(), toml::Value::String(mock_base.to_string()));
    }
    t
}

/// The in-process reference server's JWKS cache lifetime: the key-retirement scenario waits
/// about this long for a conforming server. Its profile declares it rounded up to whole seconds
/// (`auth.jwks_max_age_seconds = 1`), and a new key's window (`auth.jwks_cache_seconds`) as 1 s
/// too: with a zero refresh interval the server looks an unknown kid up at once, and a mutant
/// that does not is found after 1 s (plus the margin) instead of the file's 5 s.
const IN_PROCESS_JWKS_TTL: Duration = Duration::from_millis(300);

/// How the in-process reference server validates tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceMode {
    /// Locally, against the JWKS (the reference profile as written).
    Jwt,
    /// By RFC 7662 introspection at mock-as, answers reused for [`IN_PROCESS_INTROSPECTION_TTL`]
    /// (the profile then says `validation = "introspection"`: the revocation scenarios run).
    Introspection,
}

/// The in-process reference server's introspection cache lifetime in [`ReferenceMode::Introspection`]
/// (declared as `auth.introspection_cache_seconds`).
pub const IN_PROCESS_INTROSPECTION_TTL: Duration = Duration::from_secs(1);

/// Start mock-as and the reference server (or a mutant) in-process, run, stop both. A flaw that
/// only shows under introspection ([`reference_server::Flaw::needs_introspection`]) runs in that
/// mode, everything else validates JWTs.
pub async fn run_reference(
    flaw: Option<reference_server::Flaw>,
    opts: &RunOptions,
) -> Result<RunResult, String> {
    let mode = if flaw.is_some_and(|f| f.needs_introspection()) {
        ReferenceMode::Introspection
    } else {
        ReferenceMode::Jwt
    };
    run_reference_in(flaw, mode, opts).await
}

/// [`run_reference`] with the validation mode chosen by the caller.
pub async fn run_reference_in(
    flaw: Option<reference_server::Flaw>,
    mode: ReferenceMode,
    opts: &RunOptions,
) -> Result<RunResult, String> {
    let mock_l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let mock_base = format!("http://{}", mock_l.local_addr().map_err(|e| e.to_string())?);
    let (mock_tx, mock_rx) = tokio::sync::oneshot::channel::<()>();
    let cfg = mock_as::Config::embedded_default().map_err(|e| e.to_string())?;
    tokio::spawn(mock_as::serve(mock_l, cfg, None, async {
        let _ = mock_rx.await;
    }));
    let ref_l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let resource = format!(
        "http://{}/mcp",
        ref_l.local_addr().map_err(|e| e.to_string())?
    );
    let issuer =
        opts.reference_issuer
            .issuer(&mock_base, "P2mockAsDefaultProject000001", "MS2calendar");
    let mut rcfg = reference_server::Config::for_issuer(&issuer, &resource)?;
    // Short JWKS windows keep the rotation and retirement scenarios fast in-process.
    rcfg.jwks_refresh_interval = Duration::ZERO;
    rcfg.jwks_ttl = IN_PROCESS_JWKS_TTL;
    if mode == ReferenceMode::Introspection {
        let mut ic = reference_server::Introspection::for_config(
            &rcfg,
            "ci-service",
            "ci-service-secret-test-only",
        );
        ic.cache_ttl = IN_PROCESS_INTROSPECTION_TTL;
        rcfg.introspection = Some(ic);
    }
    rcfg.flaw = flaw;
    rcfg.stateless = opts.stateless_reference;
    rcfg.revision_2025_03_26 =
        opts.reference_2025_03_26 || flaw.is_some_and(|f| f.needs_2025_03_26());
    let rcfg_2025_03_26 = rcfg.revision_2025_03_26;
    rcfg.oauth_proxy = opts.reference_oauth_proxy || flaw.is_some_and(|f| f.needs_oauth_proxy());
    rcfg.revision_2026_07_28 =
        opts.reference_2026_07_28 || flaw.is_some_and(|f| f.needs_2026_07_28());
    if rcfg.revision_2026_07_28 {
        rcfg.scope_hierarchy = reference_server::reference_scope_hierarchy();
    }
    let rcfg_2026_07_28 = rcfg.revision_2026_07_28;
    let (ref_tx, ref_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(reference_server::serve(ref_l, rcfg, async {
        let _ = ref_rx.await;
    }));
    // What the wire cannot tell: the cache windows this process gave the server.
    let mut layer = if opts.wire_only || opts.stateless_reference {
        toml::Table::new()
    } else {
        reference_layer(&mock_base, &resource)
    };
    if rcfg_2025_03_26 || rcfg_2026_07_28 {
        // The reference profile names the revision the server speaks by default; this one
        // speaks another, which the probe learns from the wire.
        if let Some(toml::Value::Table(srv)) = layer.get_mut("server") {
            srv.remove("protocol_version");
            srv.remove("stateful");
        }
    }
    let auth = layer
        .entry("auth")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(a) = auth.as_table_mut() {
        let secs = |n: u64| toml::Value::Integer(n as i64);
        a.insert(
            "jwks_max_age_seconds".into(),
            secs(IN_PROCESS_JWKS_TTL.as_secs().max(1)),
        );
        a.insert("jwks_cache_seconds".into(), secs(1));
        if rcfg_2026_07_28 {
            // What no wire tells: the hierarchy the server declares (checklist 37).
            let mut h = toml::Table::new();
            for (broad, narrower) in reference_server::REFERENCE_SCOPE_HIERARCHY {
                h.insert(
                    broad.to_string(),
                    toml::Value::Array(
                        narrower
                            .iter()
                            .map(|s| toml::Value::String(s.to_string()))
                            .collect(),
                    ),
                );
            }
            a.insert("scope_hierarchy".into(), toml::Value::Table(h));
        }
        if mode == ReferenceMode::Introspection {
            a.insert(
                "introspection_cache_seconds".into(),
                secs(IN_PROCESS_INTROSPECTION_TTL.as_secs()),
            );
            if !opts.wire_only {
                a.insert(
                    "validation".into(),
                    toml::Value::String("introspection".into()),
                );
            }
        }
    }
    let name = if opts.wire_only {
        "the in-process reference server's cache windows"
    } else {
        "fixtures/profiles/reference.toml"
    };
    let mock = MockAsClient::new(&mock_base, None);
    let res = probe_and_run(&resource, mock, Some((&layer, name)), opts).await;
    let _ = mock_tx.send(());
    let _ = ref_tx.send(());
    res
}

/// Run per the options: the profile's server (its `[server] url`, the mock-as of its
/// `[mock_as] url`), or the in-process reference server.
pub async fn run(opts: &RunOptions) -> Result<RunResult, String> {
    match &opts.profile {
        Some(p) => {
            let name = p.display().to_string();
            let table = Profile::load_table(Path::new(p)).map_err(|e| e.to_string())?;
            let get = |sec: &str, k: &str| {
                table
                    .get(sec)
                    .and_then(|v| v.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let url = get("server", "url").ok_or_else(|| {
                format!("{name}: server.url: needed to know which server to test")
            })?;
            let base = get("mock_as", "url").ok_or_else(|| {
                format!("{name}: mock_as.url: needed to know which mock-as the server trusts")
            })?;
            let mock = MockAsClient::new(&base, get("mock_as", "admin_token"));
            probe_and_run(&url, mock, Some((&table, &name)), opts).await
        }
        None => run_reference(None, opts).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_features_are_exactly_the_feature_files() {
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(features_dir())
            .expect("features/ is readable")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("feature"))
            .map(|p| {
                (
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_string(),
                    std::fs::read_to_string(&p).unwrap_or_default(),
                )
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<(String, String)> = EMBEDDED_FEATURES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            embedded.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "add the new feature file to EMBEDDED_FEATURES"
        );
        assert_eq!(on_disk, embedded);
        let dir = FeatureDir::embedded().expect("a temp dir");
        assert_eq!(
            std::fs::read_dir(&dir.path).map(|d| d.count()).unwrap_or(0),
            EMBEDDED_FEATURES.len()
        );
        let path = dir.path.clone();
        drop(dir);
        assert!(!path.exists(), "the directory is removed when dropped");
    }
}
