//! The kill matrix (harness = false): the suite runs against every mutant of the reference
//! server (one auth flaw each, `reference-server --help`). A mutant survives if the suite does
//! not fail on it, or if a scenario mapped to its flaw (`Flaw::catches()`) does not fail; any
//! survivor fails this test. Runs in strict mode: the reference server passes every MUST and
//! SHOULD, so any failure is the mutant's doing. Prints the matrix (mutant × failing @req).
//!
//! Two modes, both run by default: with the reference profile — each mutant against the scenarios
//! of the items that must catch it (`Flaw::catches`), which is what the profile path has to show
//! — and with no profile, the whole suite (everything learned from the wire by the probe; only
//! the in-process server's cache windows are given, which no wire can tell). `--mode profile` or `--mode no-profile` runs one. A run that cannot
//! start (the probe refuses the mutant) counts as a survivor: the mutant was not tested.
//!
//! A third mode, also run by default (`--mode issuers` alone): the reference server trusting the
//! project's Inbound App issuer, then the project OIDC issuer (Descope's "use Inbound Apps
//! directly" setups), no profile, with the mutants whose flaw is about issuer and audience —
//! the checks whose meaning changes when `aud` is the project id.
//!
//! A fourth, also run by default (`--mode 2026` alone): the reference server speaking only MCP
//! 2026-07-28 (stateless, `server/discover`), no profile, with every mutant that can exist
//! there (`Flaw::applies_in_2026_07_28`: not the session or 2025-03-26 ones). The mutants made
//! for 2026-07-28 (`Flaw::needs_2026_07_28`) run in that revision in every mode.
//!
//! Mutants run side by side, `--jobs N` at a time (default 4; each run has its own mock-as and
//! reference server on its own ports, and its own context): most of a run's time is spent
//! waiting on the wire, so four at once take about half the wall time of one after another on
//! two cores. The matrix is printed in mutant order whatever the order they finish in.

use std::process::ExitCode;
use std::time::Instant;

use futures::stream::{self, StreamExt};

use harness::profile::IssuerStyle;
use harness::runner::{RunOptions, run_reference};
use reference_server::Flaw;

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        println!("kill_matrix: test");
        return ExitCode::SUCCESS;
    }
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
    let args: Vec<String> = std::env::args().collect();
    let mode = args
        .iter()
        .position(|a| a == "--mode")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .unwrap_or("both");
    let (modes, issuers, modern): (Vec<(&str, bool)>, bool, bool) = match mode {
        "profile" => (vec![("with the reference profile", false)], false, false),
        "no-profile" => (
            vec![("with no profile (learned from the wire)", true)],
            false,
            false,
        ),
        "issuers" => (Vec::new(), true, false),
        "2026" => (Vec::new(), false, true),
        "both" => (
            vec![
                ("with the reference profile", false),
                ("with no profile (learned from the wire)", true),
            ],
            true,
            true,
        ),
        other => {
            eprintln!(
                "error: --mode {other:?}: expected profile, no-profile, issuers, 2026 or both"
            );
            return ExitCode::from(2);
        }
    };
    let jobs = match args.iter().position(|a| a == "--jobs") {
        None => 4,
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n > 0 => n,
            _ => {
                eprintln!("error: --jobs needs a positive number");
                return ExitCode::from(2);
            }
        },
    };
    let started = Instant::now();
    let mut survivors = Vec::new();
    let mut runs = 0;
    for (title, wire_only) in modes {
        let opts = RunOptions {
            report_dir: None,
            strict: true,
            concurrency: 32,
            wire_only,
            ..RunOptions::default()
        };
        println!("== kill matrix {title}");
        runs += matrix(&rt, jobs, &opts, &Flaw::ALL, "", wire_only, &mut survivors);
    }
    if issuers {
        for (style, title) in [
            (
                IssuerStyle::InboundApp,
                "trusting the Inbound App issuer <base>/v1/apps/<pid>",
            ),
            (
                IssuerStyle::Project,
                "trusting the project OIDC issuer <base>/<pid>",
            ),
        ] {
            let opts = RunOptions {
                report_dir: None,
                strict: true,
                concurrency: 32,
                wire_only: true,
                reference_issuer: style,
                ..RunOptions::default()
            };
            println!("== kill matrix {title}, no profile");
            let tag = format!(" ({}, no profile)", style.as_str());
            runs += matrix(
                &rt,
                jobs,
                &opts,
                &ISSUER_MUTANTS,
                &tag,
                true,
                &mut survivors,
            );
        }
    }
    if modern {
        let opts = RunOptions {
            report_dir: None,
            strict: true,
            concurrency: 32,
            wire_only: true,
            reference_2026_07_28: true,
            ..RunOptions::default()
        };
        let flaws: Vec<Flaw> = Flaw::ALL
            .into_iter()
            .filter(|f| f.applies_in_2026_07_28() && !f.needs_2026_07_28())
            .collect();
        println!("== kill matrix speaking MCP 2026-07-28, no profile");
        runs += matrix(
            &rt,
            jobs,
            &opts,
            &flaws,
            " (2026-07-28, no profile)",
            true,
            &mut survivors,
        );
    }
    println!(
        "{runs} mutant runs, {} survived, {:.1} s",
        survivors.len(),
        started.elapsed().as_secs_f64()
    );
    for s in &survivors {
        println!("SURVIVED {s}");
    }
    println!(
        "{} passed, {} failed",
        runs - survivors.len(),
        survivors.len()
    );
    if survivors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The mutants whose flaw is about the issuer or the audience: run again with the reference
/// server trusting a project-level issuer.
const ISSUER_MUTANTS: [Flaw; 3] = [
    Flaw::NoAudienceCheck,
    Flaw::NoIssuerCheck,
    Flaw::IssuerSuffixMatch,
];

/// Run each of `flaws` with `opts`, `jobs` at a time; survivors are added (tagged with the mode,
/// or `tag` when given). Returns the number of mutants run.
fn matrix(
    rt: &tokio::runtime::Runtime,
    jobs: usize,
    opts: &RunOptions,
    flaws: &[Flaw],
    tag: &str,
    wire_only: bool,
    survivors: &mut Vec<String>,
) -> usize {
    let tag = if !tag.is_empty() {
        tag
    } else if wire_only {
        " (no profile)"
    } else {
        ""
    };
    println!(
        "{:<28} | {:<8} | failing requirements (mapped ones marked *)",
        "mutant", "verdict"
    );
    println!("{}", "-".repeat(100));
    let runs = flaws.iter().map(|&flaw| {
        let mut o = opts.clone();
        if !wire_only {
            // With the profile: only the scenarios of the items that must catch this flaw.
            o.filter = Some(
                flaw.catches()
                    .iter()
                    .map(|c| format!("req-{c}"))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        async move { (flaw, run_reference(Some(flaw), &o).await) }
    });
    // In mutant order, `jobs` in flight.
    let results: Vec<_> = rt.block_on(stream::iter(runs).buffered(jobs).collect());
    for (flaw, res) in results {
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                println!("{:<28} | ERROR    | {e}", flaw.name());
                survivors.push(format!("{flaw}{tag}: the run failed to start: {e}"));
                continue;
            }
        };
        let failing = res.failed_reqs();
        let mapped: Vec<String> = flaw.catches().iter().map(|c| format!("req-{c}")).collect();
        let missed: Vec<&String> = mapped.iter().filter(|m| !failing.contains(m)).collect();
        let killed = res.summary.failed() && missed.is_empty();
        let shown: Vec<String> = failing
            .iter()
            .map(|f| {
                if mapped.contains(f) {
                    format!("{f}*")
                } else {
                    f.clone()
                }
            })
            .collect();
        println!(
            "{:<28} | {:<8} | {}",
            flaw.name(),
            if killed { "killed" } else { "SURVIVED" },
            shown.join(" ")
        );
        if !killed {
            survivors.push(format!(
                "{flaw}{tag}: {}",
                if !res.summary.failed() {
                    "the suite passed".to_string()
                } else {
                    format!("mapped requirements did not fail: {missed:?}")
                }
            ));
        }
    }
    println!("{}", "-".repeat(100));
    flaws.len()
}
