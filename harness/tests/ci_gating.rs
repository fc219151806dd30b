//! `mcp-authcheck run` in CI, as a user's workflow meets it (the binary, the reference server
//! and its mutants started through `-- COMMAND`, no profile):
//!
//! - the `no-audience-check` mutant under `GITHUB_ACTIONS=true` fails with `::error` lines for
//!   its MUST failures, SARIF `error` results naming req-24, the job summary appended;
//! - that run's own checks.json as `--baseline` makes the mutant pass, still fails
//!   `no-exp-check`, and makes the reference server fail as STALE — a notice with
//!   `--baseline-allow-fixed`;
//! - `baseline --from` prints the failures as `[expected_failures]` lines;
//! - a baseline that cannot be used ends the run at once with exit 2 and one line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{run_against_reference, text};

fn empty_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mcp-authcheck-{name}-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Lines of stdout that are workflow commands.
fn commands(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("::"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_mutant_fails_with_annotations_and_its_baseline_gates_only_regressions() {
    let dir = empty_dir("ci-gating");
    let step_summary = dir.join("step-summary.md");
    std::fs::write(&step_summary, "# earlier step\n").unwrap();
    let out = run_against_reference(
        &dir,
        Some("no-audience-check"),
        &[
            "--report-dir",
            "mutant",
            "--write-baseline",
            "mutant-baseline.json",
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", step_summary.to_str().unwrap()),
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let checks = json(&dir.join("mutant/checks.json"));
    let must_failures: Vec<&serde_json::Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAILURE" && c["details"]["level"] == "MUST")
        .collect();
    assert!(must_failures.len() >= 3, "{t}");
    let cmds = commands(&out);
    let errors: Vec<&String> = cmds.iter().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(
        errors.len(),
        must_failures.len(),
        "one ::error per MUST failure: {cmds:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.starts_with("::error title=req-24 MUST%3A ")),
        "{cmds:#?}"
    );
    for c in &must_failures {
        let req = c["details"]["requirement"].as_str().unwrap();
        let name = c["name"].as_str().unwrap();
        assert!(
            errors
                .iter()
                .any(|l| l.starts_with(&format!("::error title={req} MUST%3A {name}::"))),
            "no annotation for {req} {name}: {cmds:#?}"
        );
    }

    // SARIF: valid, and an error result for each MUST failure, req-24 among them.
    let errs = support::sarif_errors(&dir.join("mutant/results.sarif"));
    assert!(errs.is_empty(), "{errs:#?}");
    let sarif = json(&dir.join("mutant/results.sarif"));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), must_failures.len());
    assert!(results.iter().all(|r| r["level"] == "error"));
    assert!(results.iter().any(|r| r["ruleId"] == "req-24"));
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let r24 = rules
        .iter()
        .find(|r| r["id"] == "req-24")
        .expect("a req-24 rule");
    assert_eq!(r24["defaultConfiguration"]["level"], "error");

    // The job summary got summary.md, after what an earlier step wrote.
    let md = std::fs::read_to_string(dir.join("mutant/summary.md")).unwrap();
    let appended = std::fs::read_to_string(&step_summary).unwrap();
    assert!(appended.starts_with("# earlier step\n"), "{appended}");
    assert!(appended.contains(&md), "{appended}");
    assert!(
        md.contains(&format!("| MUST failed | {} |", must_failures.len())),
        "{md}"
    );
    assert!(md.contains("`req-24` MUST"), "{md}");

    // The written baseline holds exactly the failures.
    let written = json(&dir.join("mutant-baseline.json"));
    assert_eq!(written.as_array().unwrap().len(), must_failures.len());

    // The failures in the rendered page, each expandable to its exchange.
    if let Some(browser) = support::browser_or_skip("report.html of the no-audience-check run") {
        let dom = support::rendered_dom(&browser, &dir.join("mutant/report.html"), "#verdict=FAIL");
        let rows = support::rows(&dom);
        let shown: Vec<_> = rows.iter().filter(|r| !r.hidden).collect();
        assert_eq!(shown.len(), must_failures.len());
        for r in shown {
            assert_eq!(r.verdict, "FAIL");
            assert!(r.html.contains("<details>"), "{}", r.html);
            assert!(r.html.contains("request: POST"), "{}", r.html);
            assert!(r.html.contains("response: 200"), "{}", r.html);
        }
    }

    // The mutant's own checks.json as the baseline, against three servers at once.
    let baseline = dir.join("mutant/checks.json");
    let b = baseline.to_str().unwrap();
    let gha: &[(&str, &str)] = &[("GITHUB_ACTIONS", "true")];
    let (same, other, fixed, allowed) = std::thread::scope(|s| {
        let same = s.spawn(|| {
            run_against_reference(
                &dir,
                Some("no-audience-check"),
                &["--report-dir", "same", "--baseline", b],
                &[],
            )
        });
        let other = s.spawn(|| {
            run_against_reference(
                &dir,
                Some("no-exp-check"),
                &["--report-dir", "other", "--baseline", b],
                &[],
            )
        });
        let fixed = s.spawn(|| {
            run_against_reference(&dir, None, &["--report-dir", "fixed", "--baseline", b], gha)
        });
        let allowed = s.spawn(|| {
            run_against_reference(
                &dir,
                None,
                &[
                    "--report-dir",
                    "allowed",
                    "--baseline",
                    b,
                    "--baseline-allow-fixed",
                ],
                gha,
            )
        });
        (
            same.join().unwrap(),
            other.join().unwrap(),
            fixed.join().unwrap(),
            allowed.join().unwrap(),
        )
    });
    let n = must_failures.len();

    let t = text(&same);
    assert_eq!(
        same.status.code(),
        Some(0),
        "the mutant passes against its own baseline: {t}"
    );
    assert!(
        t.contains(&format!("| xfail (expected)     | {n:>5} |")),
        "{t}"
    );
    assert!(
        commands(&same).is_empty(),
        "no workflow commands outside GitHub Actions: {t}"
    );
    let sarif = json(&dir.join("same/results.sarif"));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), n, "known failures stay in SARIF");
    assert!(
        results
            .iter()
            .all(|r| r["suppressions"][0]["status"] == "accepted")
    );

    let t = text(&other);
    assert_eq!(
        other.status.code(),
        Some(1),
        "no-exp-check is a new failure: {t}"
    );
    assert!(t.contains("FAIL [req-39 MUST]"), "{t}");

    let t = text(&fixed);
    assert_eq!(
        fixed.status.code(),
        Some(1),
        "the fixed items are STALE: {t}"
    );
    assert!(
        t.contains(&format!("| stale expectations   | {n:>5} |")),
        "{t}"
    );
    assert!(t.contains("STALE [req-24 MUST]"), "{t}");
    assert!(t.contains("pass --baseline-allow-fixed"), "{t}");
    let stale = commands(&fixed);
    assert_eq!(stale.len(), n, "{stale:#?}");
    assert!(
        stale
            .iter()
            .all(|l| l.starts_with("::error title=req-") && l.contains(" STALE%3A "))
    );

    let t = text(&allowed);
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "--baseline-allow-fixed: {t}"
    );
    assert!(
        t.contains(&format!("| fixed (baseline)     | {n:>5} |")),
        "{t}"
    );
    let notices = commands(&allowed);
    assert_eq!(notices.len(), n, "{notices:#?}");
    assert!(
        notices
            .iter()
            .any(|l| l.starts_with("::notice title=req-24 FIXED%3A ")),
        "{notices:#?}"
    );
    let checks = json(&dir.join("allowed/checks.json"));
    let fixed_states = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["details"]["state"] == "FIXED")
        .count();
    assert_eq!(fixed_states, n);

    // baseline --from: the failures as profile lines, one per requirement.
    let out = Command::new(support::BIN)
        .args(["baseline", "--from", b])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let table: toml::Table = String::from_utf8_lossy(&out.stdout).parse().expect("TOML");
    let xf = table["expected_failures"]
        .as_table()
        .expect("[expected_failures]");
    let mut reqs: Vec<&str> = must_failures
        .iter()
        .map(|c| c["details"]["requirement"].as_str().unwrap())
        .collect();
    reqs.sort();
    reqs.dedup();
    assert_eq!(xf.keys().map(String::as_str).collect::<Vec<_>>(), reqs);
    assert!(
        xf["req-24"]
            .as_str()
            .is_some_and(|m| m.contains("expected the server to reject")),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_baseline_that_cannot_be_used_ends_the_run_with_one_line() {
    let dir = empty_dir("bad-baseline");
    std::fs::write(dir.join("broken.json"), "{\"id\": ").unwrap();
    std::fs::write(dir.join("object.json"), "{\"checks\": []}").unwrap();
    std::fs::write(
        dir.join("entry.json"),
        "[{\"id\": \"req-1\", \"status\": \"FAILURE\"}]",
    )
    .unwrap();
    for (file, why) in [
        ("missing.json", "cannot read it"),
        ("broken.json", "not JSON"),
        ("object.json", "expected a JSON array of checks"),
        ("entry.json", "check #0: (req-1) no \"name\""),
    ] {
        for args in [
            vec!["run", "--url", "http://127.0.0.1:9/mcp", "--baseline", file],
            vec!["baseline", "--from", file],
        ] {
            let start = Instant::now();
            let out = Command::new(support::BIN)
                .args(&args)
                .current_dir(&dir)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{args:?} took {:?}",
                start.elapsed()
            );
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {stderr}");
            assert!(
                lines[0].starts_with(&format!("mcp-authcheck: baseline {file}: ")),
                "{stderr}"
            );
            assert!(lines[0].contains(why), "{args:?}: {stderr}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
