//! The conformance suite's entry point (harness = false):
//!
//! `cargo test -p harness --test conformance -- --profile PATH [--report-dir DIR] [--strict]`
//! (or env `AUTHCHECK_PROFILE`). Without a profile it runs against an in-process mock-as and
//! the in-process reference server twice: validating JWTs locally, then by introspection at
//! mock-as (so the introspection-only scenarios run too), each first with the reference
//! profile, then with no profile (everything learned from the wire); `--introspect` runs only
//! the introspection runs, `--no-profile` only the no-profile ones. Then the reference server
//! set up the way Descope's "use Inbound Apps directly" guides set servers up: trusting the
//! project's Inbound App issuer (with the reference profile and without), and the project OIDC
//! issuer (without).
//! libtest's own flags (`--nocapture`, `--test-threads`, a
//! name filter) are accepted, so `cargo test` with them still works.
//!
//! `--baseline FILE` (a previous run's checks.json; `--baseline-allow-fixed`) and
//! `--write-baseline FILE` work as in `mcp-authcheck run`: the baseline applies to every run,
//! and the written baseline holds the failures of all runs. Under `GITHUB_ACTIONS=true` each
//! run's findings are annotations; `$GITHUB_STEP_SUMMARY` gets each run's summary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use harness::profile::IssuerStyle;
use harness::runner::{self, ReferenceMode, RunOptions, RunResult};

/// mcp-authcheck: drive an MCP server through the authorization requirements.
#[derive(Debug, Parser)]
#[command(name = "conformance")]
struct Cli {
    /// The SUT profile (TOML). Default: in-process reference server.
    #[arg(long, env = "AUTHCHECK_PROFILE")]
    profile: Option<PathBuf>,
    /// Where junit.xml, checks.json, results.sarif, summary.md and report.html go.
    #[arg(long, env = "AUTHCHECK_REPORT_DIR")]
    report_dir: Option<PathBuf>,
    /// A previous run's checks.json: the failures it lists are known (XFAIL), new ones fail,
    /// a listed scenario that passes now is STALE.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// With --baseline: a listed scenario that passes now is a notice (FIXED), not a failure.
    #[arg(long, requires = "baseline")]
    baseline_allow_fixed: bool,
    /// Write the failures of this invocation's runs as a baseline.
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    /// SHOULD failures fail the run too.
    #[arg(long)]
    strict: bool,
    /// Test this MCP revision (with --profile: over the profile's server.protocol_version).
    #[arg(long, value_parser = harness::profile::REVISIONS.to_vec())]
    protocol_version: Option<String>,
    /// Scenarios in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Bound on connecting to the server, seconds (default 5, or the profile's
    /// timeouts.connect_seconds).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    connect_timeout: Option<std::time::Duration>,
    /// Bound from sending a request to the answer's headers, seconds (default 10, or the
    /// profile's timeouts.headers_seconds).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    headers_timeout: Option<std::time::Duration>,
    /// Bound on reading a whole answer body, seconds (default 30, or the profile's
    /// timeouts.body_seconds).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    body_timeout: Option<std::time::Duration>,
    /// Print every step.
    #[arg(long)]
    verbose: bool,
    /// Run against the in-process reference server with this flaw (a mutant; see
    /// `reference-server --help`), instead of a profile.
    #[arg(long)]
    flaw: Option<String>,
    /// In-process reference server only, validating tokens by introspection at mock-as.
    #[arg(long)]
    introspect: bool,
    /// In-process reference server only: learn everything from the wire (no reference profile;
    /// only the server's cache windows are given).
    #[arg(long)]
    no_profile: bool,
    /// In-process only: run just this pass, by its report subdirectory (`no-profile`,
    /// `stateless`, `no-profile-2026-07-28`, …; the first pass, with the reference profile, is
    /// `profile`). Repeatable.
    #[arg(long = "pass", value_name = "NAME")]
    passes: Vec<String>,
    /// Only scenarios whose name contains this, or that carry this tag (e.g. req-24).
    filter: Option<String>,
    // libtest flags cargo forwards to every test binary: accepted and ignored.
    #[arg(long, hide = true)]
    nocapture: bool,
    #[arg(long, hide = true)]
    test_threads: Option<String>,
    #[arg(long, hide = true)]
    exact: bool,
    #[arg(long, hide = true)]
    quiet: bool,
    #[arg(long, hide = true)]
    show_output: bool,
    #[arg(long, hide = true)]
    color: Option<String>,
    #[arg(long, hide = true)]
    format: Option<String>,
    #[arg(short = 'Z', hide = true)]
    unstable: Option<String>,
    #[arg(long, hide = true)]
    ignored: bool,
    #[arg(long, hide = true)]
    include_ignored: bool,
    #[arg(long, hide = true)]
    list: bool,
}

/// A `--*-timeout` value: seconds, > 0.
fn seconds(v: &str) -> Result<std::time::Duration, String> {
    let n: f64 = v
        .parse()
        .map_err(|_| format!("{v:?} is not a number of seconds"))?;
    harness::http::seconds(n)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        // `cargo test -- --list`: name the one "test" this binary is.
        println!("conformance: test");
        return ExitCode::SUCCESS;
    }
    // cargo runs test binaries in the package directory (harness/): a relative path that is not
    // there is taken relative to the workspace root, where users type it from.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let resolve = |p: PathBuf| {
        if p.is_relative() && !p.exists() && root.join(&p).exists() {
            root.join(p)
        } else {
            p
        }
    };
    let mut opts = RunOptions {
        profile: cli.profile.clone().map(resolve),
        strict: cli.strict,
        concurrency: cli.concurrency.max(1),
        verbose: cli.verbose,
        protocol_version: cli.protocol_version.clone(),
        timeouts: harness::http::TimeoutFlags {
            connect: cli.connect_timeout,
            headers: cli.headers_timeout,
            body: cli.body_timeout,
        },
        ..RunOptions::default()
    };
    if let Some(d) = cli.report_dir {
        opts.report_dir = Some(if d.is_relative() { root.join(d) } else { d });
    }
    if let Some(p) = cli.baseline.clone().map(resolve) {
        match harness::baseline::Baseline::load(&p, cli.baseline_allow_fixed) {
            Ok(b) => opts.baseline = Some(b),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let write_baseline = cli
        .write_baseline
        .clone()
        .map(|p| if p.is_relative() { root.join(p) } else { p });
    // A libtest-style name filter that is not a scenario filter (e.g. `cargo test foo`) must not
    // turn the suite into "no scenarios": only filters that look like ours apply.
    opts.filter = cli
        .filter
        .filter(|f| f.starts_with("req-") || f.contains(' '));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let flaw = match cli
        .flaw
        .as_deref()
        .map(str::parse::<reference_server::Flaw>)
        .transpose()
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --flaw: {e}");
            return ExitCode::from(2);
        }
    };
    // (title, mode) of each in-process run; a profile or a flaw makes it a single run.
    let in_process = opts.profile.is_none() && flaw.is_none();
    // (title, mode, wire only, report subdirectory) of each in-process run.
    type Run = (&'static str, Option<ReferenceMode>, bool, &'static str);
    let all: [Run; 11] = [
        (
            "reference server, validating JWTs locally",
            Some(ReferenceMode::Jwt),
            false,
            "",
        ),
        (
            "reference server, validating by introspection",
            Some(ReferenceMode::Introspection),
            false,
            "introspection",
        ),
        (
            "reference server, validating JWTs locally, no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "no-profile",
        ),
        (
            "reference server, validating by introspection, no profile (learned from the wire)",
            Some(ReferenceMode::Introspection),
            true,
            "no-profile-introspection",
        ),
        (
            "reference server keeping no sessions, no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "stateless",
        ),
        (
            "reference server trusting the project's Inbound App issuer <base>/v1/apps/<pid>",
            Some(ReferenceMode::Jwt),
            false,
            "inbound-app",
        ),
        (
            "reference server trusting the project's Inbound App issuer, no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "no-profile-inbound-app",
        ),
        (
            "reference server trusting the project OIDC issuer <base>/<pid>, no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "no-profile-project",
        ),
        (
            "reference server speaking MCP 2025-03-26 (its authorization server's metadata at its origin), no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "no-profile-2025-03-26",
        ),
        (
            "reference server as an OAuth proxy in front of mock-as (consent page, registration, its own /authorize and /token), no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "no-profile-oauth-proxy",
        ),
        (
            "reference server speaking MCP 2026-07-28 (stateless, server/discover, a declared scope hierarchy), no profile (learned from the wire)",
            Some(ReferenceMode::Jwt),
            true,
            "no-profile-2026-07-28",
        ),
    ];
    let all_len = all.len();
    if let Some(p) = cli.passes.iter().find(|p| {
        !all.iter()
            .any(|(_, _, _, sub)| *p == if sub.is_empty() { "profile" } else { *sub })
    }) {
        let names: Vec<&str> = all
            .iter()
            .map(|(_, _, _, sub)| if sub.is_empty() { "profile" } else { *sub })
            .collect();
        eprintln!(
            "error: --pass {p:?}: no such pass (one of {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    let runs: Vec<Run> = if !in_process {
        vec![("", None, cli.no_profile && opts.profile.is_none(), "")]
    } else {
        all.into_iter()
            .filter(|(_, m, wire, sub)| {
                let name = if sub.is_empty() { "profile" } else { sub };
                (!cli.introspect || *m == Some(ReferenceMode::Introspection))
                    && (!cli.no_profile || *wire)
                    && (cli.passes.is_empty() || cli.passes.iter().any(|p| p == name))
            })
            .collect()
    };

    let mut results: Vec<RunResult> = Vec::new();
    for (title, mode, wire_only, sub) in &runs {
        let mut o = opts.clone();
        o.wire_only = *wire_only;
        o.stateless_reference = *sub == "stateless";
        o.reference_2025_03_26 = sub.ends_with("2025-03-26");
        o.reference_oauth_proxy = sub.ends_with("oauth-proxy");
        o.reference_2026_07_28 = sub.ends_with("2026-07-28");
        o.reference_issuer = if sub.ends_with("inbound-app") {
            IssuerStyle::InboundApp
        } else if sub.ends_with("project") {
            IssuerStyle::Project
        } else {
            IssuerStyle::McpServer
        };
        if !sub.is_empty()
            && let Some(d) = &opts.report_dir
        {
            o.report_dir = Some(d.join(sub));
        }
        let run = async {
            match (flaw, mode) {
                (Some(f), _) => runner::run_reference(Some(f), &o).await,
                (None, Some(m)) => runner::run_reference_in(None, *m, &o).await,
                (None, None) => runner::run(&o).await,
            }
        };
        let result = match rt.block_on(run) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if !title.is_empty() {
            println!("== {title}");
        }
        println!("{}", result.console());
        if let Some(d) = &o.report_dir {
            let files: Vec<String> = harness::report::REPORT_FILES
                .iter()
                .map(|f| d.join(f).display().to_string())
                .collect();
            println!("reports: {}", files.join(", "));
        }
        if let Some(line) = &result.stopped {
            // The server stopped answering: the run could not complete.
            eprintln!("error: {line}");
            return ExitCode::from(2);
        }
        if let Err(e) = harness::github::publish(&result) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        results.push(result);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for r in &results {
        let s = &r.summary;
        passed += s.must_passed + s.should_passed + s.xfail + s.warnings;
        failed += s.must_failed + s.stale + s.strict_failed;
        skipped += s.skipped;
    }
    if let Some(p) = &write_baseline {
        match harness::baseline::write_baseline(p, &results) {
            Ok(n) => println!(
                "baseline: {n} failing scenario(s) written to {}",
                p.display()
            ),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // The whole self-test: every scenario of every checklist item passed against a conforming
    // server in some mode — none is only ever skipped (a check that never ran proves nothing).
    let mut never_passed = Vec::new();
    if in_process && runs.len() == all_len && opts.filter.is_none() {
        let mut seen: Vec<(String, String, bool)> = Vec::new();
        for r in results.iter().flat_map(|r| &r.records) {
            let key = (r.req().unwrap_or_default().to_string(), r.scenario.clone());
            let ok = matches!(r.outcome, harness::report::Outcome::Passed);
            match seen.iter_mut().find(|(q, s, _)| *q == key.0 && *s == key.1) {
                Some(e) => e.2 |= ok,
                None => seen.push((key.0, key.1, ok)),
            }
        }
        never_passed = seen
            .into_iter()
            .filter(|(_, _, ok)| !ok)
            .map(|(q, s, _)| format!("{q} {s}"))
            .collect();
        for req in harness::checklist::all_requirements() {
            if !results
                .iter()
                .flat_map(|r| &r.records)
                .any(|r| r.req() == Some(req.as_str()))
            {
                never_passed.push(format!("{req}: no scenario"));
            }
        }
        for n in &never_passed {
            println!("NEVER PASSED in any mode of the self-test: {n}");
        }
    }
    // The plain closing line CI readers understand.
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if results.iter().any(|r| r.summary.failed()) || !never_passed.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
