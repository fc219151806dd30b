//! A run against the in-process reference server writes the five report files; its SARIF
//! validates against the SARIF 2.1.0 schema; report.html, rendered by headless Chromium, shows
//! every scenario and its filter works on the rendered page (see `support` for the browser
//! and the schema). `ci/reports.sh` runs this with a browser required.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use harness::report::REPORT_FILES;
use harness::runner::{RunOptions, run_reference};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcp-authcheck-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_reference_run_writes_every_report_and_the_page_shows_every_scenario() {
    let dir = temp_dir("ci-reports");
    let opts = RunOptions {
        report_dir: Some(dir.clone()),
        ..RunOptions::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt
        .block_on(run_reference(None, &opts))
        .expect("the run happens");
    assert!(!result.summary.failed(), "{}", result.console());
    for f in REPORT_FILES {
        let p = dir.join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{} was not written",
            p.display()
        );
    }

    // SARIF: schema-valid, a rule per item of the run, no result for a conforming server.
    let errors = support::sarif_errors(&dir.join("results.sarif"));
    assert!(
        errors.is_empty(),
        "results.sarif violates the schema: {errors:#?}"
    );
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.sarif")).unwrap()).unwrap();
    let mut reqs: Vec<&str> = result.records.iter().filter_map(|r| r.req()).collect();
    reqs.sort();
    reqs.dedup();
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), reqs.len());
    assert!(rules.iter().all(|r| {
        r["shortDescription"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    }));
    assert_eq!(log["runs"][0]["results"].as_array().map(Vec::len), Some(0));

    // summary.md: the counts as the console has them.
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("✅ passed"), "{md}");
    assert!(
        md.contains(&format!("| MUST passed | {} |", result.summary.must_passed)),
        "{md}"
    );
    assert!(
        md.contains(&format!("| skipped | {} |", result.summary.skipped)),
        "{md}"
    );

    // report.html in a real browser: every scenario is a row, the script ran, the filter hides
    // what it should.
    let Some(browser) = support::browser_or_skip("report.html of the reference run") else {
        return;
    };
    let html = dir.join("report.html");
    let checks = support::checks(&dir);
    let dom = support::rendered_dom(&browser, &html, "");
    assert!(
        dom.contains("data-ready=\"true\""),
        "the page's script did not run"
    );
    let rows = support::rows(&dom);
    assert_eq!(rows.len(), checks.len(), "one row per scenario");
    for (name, _) in &checks {
        assert!(
            rows.iter().any(|r| &r.name == name && !r.hidden),
            "scenario {name:?} is not shown"
        );
    }
    assert_eq!(
        support::text_of(&dom, "shown"),
        format!("showing {0} of {0} scenarios", checks.len())
    );

    let skipped = checks.iter().filter(|(_, s)| s == "SKIPPED").count();
    assert!(skipped > 0, "the reference run skips some scenarios");
    let dom = support::rendered_dom(&browser, &html, "#verdict=SKIPPED");
    let rows = support::rows(&dom);
    let visible: Vec<_> = rows.iter().filter(|r| !r.hidden).collect();
    assert_eq!(
        visible.len(),
        skipped,
        "the verdict filter shows the skipped ones"
    );
    assert!(visible.iter().all(|r| r.verdict == "SKIPPED"));
    assert_eq!(
        support::text_of(&dom, "shown"),
        format!("showing {skipped} of {} scenarios", checks.len())
    );

    let dom = support::rendered_dom(&browser, &html, "#area=Audience");
    let rows = support::rows(&dom);
    let visible: Vec<_> = rows.iter().filter(|r| !r.hidden).collect();
    assert!(!visible.is_empty());
    assert!(visible.iter().all(|r| r.area == "Audience"), "{visible:?}");
    assert_eq!(
        visible.len(),
        result
            .records
            .iter()
            .filter(|r| r.feature == "Audience")
            .count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
