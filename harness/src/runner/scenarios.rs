//! The cucumber wiring: the scenario filter (selection and applicability, skipped ones
//! recorded), the `before`/`after` hooks that record each outcome, quiet step panics, progress
//! output, and the records of one run sorted, gated and written.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cucumber::{World as _, cli, event, gherkin, writer};
use futures::FutureExt as _;
use serde_json::json;

use crate::as_client::MockAsClient;
use crate::profile::Profile;
use crate::report::{self, Outcome, Record};
use crate::world::{AuthWorld, RunScope, SuiteCtx, in_run, run_progress};

use super::applicability::not_applicable;
use super::records::collapse_stopped;
use super::{Progress, RunOptions, RunResult};

/// The records of one run, filled by its filter (skipped scenarios) and `after` hook.
type Records = Arc<Mutex<Vec<Record>>>;

fn push(records: &Records, r: Record) {
    records.lock().unwrap_or_else(|p| p.into_inner()).push(r);
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
