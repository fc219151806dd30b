//! Reports of a run's verdicts ([`crate::verdict`], re-exported here): JUnit XML, `checks.json`
//! in the MCP conformance suite's schema, a console summary table, and [`write()`], which writes
//! every report file — the CI-facing ones (SARIF, summary.md, report.html) come from
//! [`crate::sarif`], [`crate::summary_md`] and [`crate::html_report`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

pub use crate::verdict::{
    Baselined, ERRORED_TAG, Level, Outcome, Record, Summary, Verdict, mark_requirement_failures,
    spec_refs, summarize,
};

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one testsuite per feature; FAIL/STALE are failures, WARNING/XFAIL pass with the
/// message in `system-out`, SKIPPED are skipped.
pub fn junit(records: &[Record], expected: &BTreeMap<String, String>, strict: bool) -> String {
    let mut by_feature: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_feature.entry(&r.feature).or_default().push(r);
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mcp-authcheck\">\n",
    );
    for (feature, recs) in by_feature {
        let errors = recs.iter().filter(|r| r.errored()).count();
        let failures = recs
            .iter()
            .filter(|r| !r.errored())
            .filter(|r| matches!(r.verdict(expected, strict), Verdict::Fail | Verdict::Stale))
            .count();
        let skipped = recs
            .iter()
            .filter(|r| r.verdict(expected, strict) == Verdict::Skipped)
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
            xml(feature),
            recs.len()
        );
        for r in recs {
            let name = format!("[{}] {}", r.req().unwrap_or("req-?"), r.scenario);
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(feature),
                xml(&name),
                r.millis as f64 / 1000.0
            );
            let msg = match &r.outcome {
                Outcome::Failed(m) | Outcome::Skipped(m) => m.as_str(),
                Outcome::Passed => "",
            };
            match r.verdict(expected, strict) {
                Verdict::Pass => out.push_str("/>\n"),
                Verdict::Fail if r.errored() => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"the run could not check the server\">{}</error>\n    </testcase>",
                        xml(msg)
                    );
                }
                Verdict::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{} failed\">{}</failure>\n    </testcase>",
                        r.level().name(),
                        xml(msg)
                    );
                }
                Verdict::Stale => {
                    let why = r.expectation(expected).unwrap_or("");
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"STALE: expected to fail but passed\">expected failure: {}</failure>\n    </testcase>",
                        xml(why)
                    );
                }
                Verdict::Skipped => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(msg)
                    );
                }
                v @ (Verdict::Warning | Verdict::Xfail) => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                        v.label(),
                        xml(msg)
                    );
                }
                Verdict::Fixed => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>FIXED: failed in the baseline ({}), passes now</system-out>\n    </testcase>",
                        xml(r.expectation(expected).unwrap_or(""))
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `checks.json`: the official conformance schema `{id, name, description, status, timestamp,
/// specReferences, details, errorMessage}`; `id` starts with the requirement tag (suffixed `-2`,
/// `-3` when one item has several scenarios); `details` has the level and the XFAIL/STALE state.
pub fn checks_json(
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
    timestamp: &str,
) -> Value {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let checks: Vec<Value> = records
        .iter()
        .map(|r| {
            let req = r.req().unwrap_or("req-unknown").to_string();
            let n = seen.entry(req.clone()).or_insert(0);
            *n += 1;
            let id = if *n == 1 { req.clone() } else { format!("{req}-{n}") };
            let v = r.verdict(expected, strict);
            let status = match v {
                Verdict::Pass | Verdict::Fixed => "SUCCESS",
                Verdict::Fail | Verdict::Stale => "FAILURE",
                Verdict::Warning => "WARNING",
                Verdict::Skipped => "SKIPPED",
                Verdict::Xfail => "INFO",
            };
            let state = match v {
                _ if r.errored() => Some("ERROR"),
                Verdict::Xfail => Some("XFAIL"),
                Verdict::Stale => Some("STALE"),
                Verdict::Fixed => Some("FIXED"),
                _ => None,
            };
            let error = match (&r.outcome, v) {
                (Outcome::Failed(m), _) => Some(m.clone()),
                (_, Verdict::Stale) => Some(format!("expected to fail ({}) but passed", r.expectation(expected).unwrap_or(""))),
                _ => None,
            };
            json!({
                "id": id,
                "name": r.scenario,
                "description": format!("{}: {}", r.feature, r.scenario),
                "status": status,
                "timestamp": timestamp,
                "specReferences": spec_refs(r),
                "details": {
                    "level": r.level().name(),
                    "state": state,
                    "requirement": req,
                    "tags": r.tags,
                    "skipReason": match &r.outcome { Outcome::Skipped(m) => Some(m.clone()), _ => None },
                    "expectedFailure": r.expectation(expected),
                },
                "errorMessage": error,
            })
        })
        .collect();
    json!(checks)
}

/// The console table, then one block per failure/warning/stale.
pub fn console(records: &[Record], expected: &BTreeMap<String, String>, strict: bool) -> String {
    let s = summarize(records, expected, strict);
    let mut out = String::new();
    let _ = writeln!(out, "\nmcp-authcheck summary");
    let _ = writeln!(out, "+----------------------+-------+");
    for (k, v) in [
        ("MUST passed", s.must_passed),
        ("MUST failed", s.must_failed),
        ("SHOULD/MAY passed", s.should_passed),
        ("SHOULD warnings", s.warnings),
        ("skipped", s.skipped),
        ("xfail (expected)", s.xfail),
        ("stale expectations", s.stale),
    ] {
        let _ = writeln!(out, "| {k:<20} | {v:>5} |");
    }
    if strict {
        let _ = writeln!(
            out,
            "| {:<20} | {:>5} |",
            "strict failures", s.strict_failed
        );
    }
    if s.fixed > 0 {
        let _ = writeln!(out, "| {:<20} | {:>5} |", "fixed (baseline)", s.fixed);
    }
    let _ = writeln!(out, "+----------------------+-------+");
    for r in records {
        let v = r.verdict(expected, strict);
        if matches!(v, Verdict::Pass | Verdict::Skipped) {
            continue;
        }
        let label = v.label();
        let why = r.expectation(expected).unwrap_or("");
        let msg = match (&r.outcome, v) {
            (Outcome::Failed(m), _) => m.clone(),
            (_, Verdict::Fixed) => format!(
                "failed in the baseline ({why}), passes now: write a new baseline (--write-baseline)"
            ),
            _ if r.baselined.is_some() => format!(
                "failed in the baseline ({why}), but it passed: write a new baseline (--write-baseline), or pass --baseline-allow-fixed"
            ),
            _ => {
                format!("expected to fail ({why}), but it passed: remove it from expected_failures")
            }
        };
        let _ = writeln!(
            out,
            "\n{label} [{} {}] {} :: {}\n  {}",
            r.req().unwrap_or("req-?"),
            r.level().name(),
            r.feature,
            r.scenario,
            msg.replace('\n', "\n  ")
        );
    }
    out
}

/// What the report files say about the run besides the records.
#[derive(Debug, Clone, Default)]
pub struct ReportMeta {
    /// The MCP endpoint under test.
    pub server: String,
    /// The profile file, as given (SARIF results point at it).
    pub profile: Option<String>,
}

/// The files [`write()`] writes, in the report dir.
pub const REPORT_FILES: [&str; 5] = [
    "junit.xml",
    "checks.json",
    "results.sarif",
    "summary.md",
    "report.html",
];

/// Write `junit.xml`, `checks.json`, `results.sarif` ([`crate::sarif`]), `summary.md`
/// ([`crate::summary_md`]) and `report.html` ([`crate::html_report`]) into `dir`.
pub fn write(
    dir: &Path,
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
    meta: &ReportMeta,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("junit.xml"), junit(records, expected, strict))?;
    let ts = httpdate_now();
    let checks = checks_json(records, expected, strict, &ts);
    std::fs::write(
        dir.join("checks.json"),
        serde_json::to_vec_pretty(&checks).unwrap_or_default(),
    )?;
    let sarif_meta = crate::sarif::SarifMeta {
        server: &meta.server,
        profile: meta.profile.as_deref(),
    };
    let log = crate::sarif::sarif(records, expected, strict, &sarif_meta);
    std::fs::write(
        dir.join("results.sarif"),
        serde_json::to_vec_pretty(&log).unwrap_or_default(),
    )?;
    std::fs::write(
        dir.join("summary.md"),
        crate::summary_md::summary_md(records, expected, strict, &meta.server),
    )?;
    std::fs::write(
        dir.join("report.html"),
        crate::html_report::html_report(records, expected, strict, &meta.server, &ts),
    )?;
    Ok(())
}

/// RFC 3339 UTC timestamp of now (no chrono dependency needed for one format).
pub fn httpdate_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tags: &[&str], outcome: Outcome) -> Record {
        Record {
            feature: "F".into(),
            scenario: "S".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            outcome,
            millis: 1,
            req_failed: false,
            source: "features/f.feature".into(),
            baselined: None,
        }
    }

    #[test]
    fn verdicts() {
        let mut xf = BTreeMap::new();
        xf.insert("req-40".to_string(), "known".to_string());
        let fail = Outcome::Failed("x".into());
        assert_eq!(
            rec(&["req-1", "must"], fail.clone()).verdict(&xf, false),
            Verdict::Fail
        );
        assert_eq!(
            rec(&["req-9", "should"], fail.clone()).verdict(&xf, false),
            Verdict::Warning
        );
        assert_eq!(
            rec(&["req-9", "should"], fail.clone()).verdict(&xf, true),
            Verdict::Fail
        );
        assert_eq!(
            rec(&["req-40", "must"], fail).verdict(&xf, false),
            Verdict::Xfail
        );
        assert_eq!(
            rec(&["req-40", "must"], Outcome::Passed).verdict(&xf, false),
            Verdict::Stale
        );
        assert_eq!(
            rec(&["req-3"], Outcome::Skipped("n/a".into())).verdict(&xf, false),
            Verdict::Skipped
        );
        let mut partial = vec![
            rec(&["req-40", "must"], Outcome::Passed),
            rec(&["req-40", "must"], Outcome::Failed("x".into())),
        ];
        mark_requirement_failures(&mut partial);
        assert_eq!(
            partial[0].verdict(&xf, false),
            Verdict::Pass,
            "one scenario still shows the defect"
        );
        assert_eq!(partial[1].verdict(&xf, false), Verdict::Xfail);
        let recs = vec![
            rec(&["req-40", "must"], Outcome::Passed),
            rec(&["req-9", "should"], Outcome::Failed("w".into())),
        ];
        let s = summarize(&recs, &xf, false);
        assert_eq!((s.stale, s.warnings), (1, 1));
        assert!(s.failed());
    }

    #[test]
    fn checks_ids_are_suffixed_and_statuses_mapped() {
        let recs = vec![
            rec(&["req-24", "must"], Outcome::Passed),
            rec(&["req-24", "must"], Outcome::Failed("boom".into())),
        ];
        let v = checks_json(&recs, &BTreeMap::new(), false, "t");
        assert_eq!(v[0]["id"], "req-24");
        assert_eq!(v[1]["id"], "req-24-2");
        assert_eq!(v[1]["status"], "FAILURE");
        assert_eq!(v[1]["details"]["level"], "MUST");
        assert_eq!(v[1]["errorMessage"], "boom");
        let x = junit(&recs, &BTreeMap::new(), false);
        assert!(
            x.contains("<failure message=\"MUST failed\">boom</failure>"),
            "{x}"
        );
        assert!(httpdate_now().ends_with('Z'));
    }
}
