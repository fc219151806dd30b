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
use crate::mcp_client::McpClient;
use crate::profile::{Profile, Validation};
use crate::report::{self, Outcome, Record, Summary};
use crate::world::{AuthWorld, SuiteCtx, set_ctx};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The profile; `None` = in-process mock-as + reference server.
    pub profile: Option<PathBuf>,
    /// Where reports go (`None` = no files).
    pub report_dir: Option<PathBuf>,
    /// SHOULD failures fail the run too.
    pub strict: bool,
    /// Only scenarios whose name contains this, or that carry this tag (`req-24`).
    pub filter: Option<String>,
    /// Scenarios in flight at once.
    pub concurrency: usize,
    /// Print cucumber's step-by-step output.
    pub verbose: bool,
    /// The feature files.
    pub features: PathBuf,
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
        }
    }
}

/// `features/` at the top of the repository.
pub fn features_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../features"))
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
}

impl RunResult {
    /// The console report.
    pub fn console(&self) -> String {
        report::console(&self.records, &self.expected, self.strict)
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

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

fn push(r: Record) {
    RECORDS.lock().unwrap_or_else(|p| p.into_inner()).push(r);
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
            "stateful" if !p.stateful() => Some("the server keeps no sessions (stateless profile)".to_string()),
            "jwt" if p.auth.validation != Validation::Jwt => Some(
                "the profile says the server validates by introspection (auth.validation = \"introspection\"): it does not use the JWKS".to_string(),
            ),
            "introspection" if p.auth.validation != Validation::Introspection => {
                Some("the profile says the server validates JWTs locally (auth.validation = \"jwt\"), not by introspection at the AS".to_string())
            }
            "connection-user" if p.connection_tool("user").is_none() => Some("the profile has no tool with a user-level connection".to_string()),
            "connection-tenant" if p.connection_tool("tenant").is_none() => {
                Some("the profile has no tool with a tenant-level connection".to_string())
            }
            "required-scope" if p.auth.required_scopes.is_empty() => {
                Some("the profile declares no required_scopes".to_string())
            }
            "tool-scope" if p.scoped_tool().is_none() => Some("the profile has no tool that needs a scope beyond required_scopes".to_string()),
            "origin" if !p.server.validates_origin => Some("the profile says the server does not validate Origin (server.validates_origin = false)".to_string()),
            "oauth-proxy" => Some("the profile declares no OAuth-proxy authorization server in front of the MCP server".to_string()),
            "scope-hierarchy" => Some("the profile declares no scope hierarchy".to_string()),
            "key-retirement" if p.auth.jwks_max_age_seconds.is_none() => Some(
                "the profile does not declare how long the server keeps a key that left the JWKS (auth.jwks_max_age_seconds)"
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
    RECORDS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    set_ctx(ctx.clone());
    let profile = ctx.profile.clone();
    let filter_text = opts.filter.clone();
    let filter = move |f: &gherkin::Feature, r: Option<&gherkin::Rule>, s: &gherkin::Scenario| {
        let tags: Vec<String> = f
            .tags
            .iter()
            .chain(r.iter().flat_map(|r| &r.tags))
            .chain(&s.tags)
            .cloned()
            .collect();
        if let Some(ft) = &filter_text
            && !s.name.contains(ft.as_str())
            && !tags.iter().any(|t| t == ft)
        {
            return false;
        }
        match not_applicable(&tags, &profile) {
            Some(why) => {
                push(Record {
                    feature: f.name.clone(),
                    scenario: s.name.clone(),
                    tags,
                    outcome: Outcome::Skipped(why),
                    millis: 0,
                    req_failed: false,
                });
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
    AuthWorld::cucumber()
        .max_concurrent_scenarios(opts.concurrency)
        .before(|_, _, _, w| {
            async move {
                w.started = Instant::now();
            }
            .boxed_local()
        })
        .after(|f, r, s, ev, w| {
            let tags: Vec<String> = f
                .tags
                .iter()
                .chain(r.iter().flat_map(|r| &r.tags))
                .chain(&s.tags)
                .cloned()
                .collect();
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
            let failed = matches!(outcome, Outcome::Failed(_));
            async move {
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
                push(Record {
                    feature,
                    scenario,
                    tags,
                    outcome,
                    millis,
                    req_failed: false,
                });
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
        .await;
    let mut records = std::mem::take(&mut *RECORDS.lock().unwrap_or_else(|p| p.into_inner()));
    records.sort_by(|a, b| {
        (a.feature.as_str(), a.req(), a.scenario.as_str()).cmp(&(
            b.feature.as_str(),
            b.req(),
            b.scenario.as_str(),
        ))
    });
    report::mark_requirement_failures(&mut records);
    let expected = ctx.profile.expected_failures.clone();
    let summary = report::summarize(&records, &expected, opts.strict);
    if let Some(dir) = &opts.report_dir {
        report::write(dir, &records, &expected, opts.strict)
            .map_err(|e| format!("cannot write reports to {}: {e}", dir.display()))?;
    }
    Ok(RunResult {
        records,
        summary,
        expected,
        strict: opts.strict,
    })
}

/// A context for a profile.
pub fn context(profile: Profile) -> Arc<SuiteCtx> {
    let mock = MockAsClient::new(&profile.mock_as.url, profile.mock_as.admin_token.clone());
    let mcp = McpClient::new(&profile.server.url, &profile.server.protocol_version);
    Arc::new(SuiteCtx { profile, mock, mcp })
}

/// The reference server's profile file, compiled in.
pub const REFERENCE_PROFILE: &str = include_str!("../../fixtures/profiles/reference.toml");

/// The profile of the in-process reference server: fixtures/profiles/reference.toml with the
/// URLs of this run.
pub fn reference_profile(mock_base: &str, resource: &str) -> Profile {
    // The file is ours and tested; a failure here is a suite bug worth a loud message.
    let mut p = Profile::parse(REFERENCE_PROFILE, "fixtures/profiles/reference.toml")
        .expect("the reference profile is valid");
    p.server.url = resource.to_string();
    p.server.resource = None;
    p.mock_as.url = mock_base.to_string();
    p
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
    let issuer = format!("{mock_base}/v1/apps/agentic/P2mockAsDefaultProject000001/MS2calendar");
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
    let (ref_tx, ref_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(reference_server::serve(ref_l, rcfg, async {
        let _ = ref_rx.await;
    }));
    let mut profile = reference_profile(&mock_base, &resource);
    profile.auth.jwks_max_age_seconds = Some(IN_PROCESS_JWKS_TTL.as_secs().max(1));
    profile.auth.jwks_cache_seconds = 1;
    if mode == ReferenceMode::Introspection {
        profile.auth.validation = Validation::Introspection;
        profile.auth.introspection_cache_seconds = IN_PROCESS_INTROSPECTION_TTL.as_secs();
    }
    let ctx = context(profile);
    let res = run_with(ctx, opts).await;
    let _ = mock_tx.send(());
    let _ = ref_tx.send(());
    res
}

/// Run per the options: the profile's server, or the in-process reference server.
pub async fn run(opts: &RunOptions) -> Result<RunResult, String> {
    match &opts.profile {
        Some(p) => {
            let profile = Profile::load(Path::new(p)).map_err(|e| e.to_string())?;
            run_with(context(profile), opts).await
        }
        None => run_reference(None, opts).await,
    }
}
