//! Verdicts and reports. A scenario's tags give its requirement (`@req-24`, `@req-C3`) and level
//! (`@must`, `@should`, `@may`); the profile's `expected_failures` and a `--baseline` turn
//! failures into XFAIL and unexpected passes into STALE (or FIXED with `--baseline-allow-fixed`).
//! Reports: JUnit XML, `checks.json` in the MCP conformance suite's schema, and a console summary
//! table; the CI-facing files (SARIF, summary.md, report.html) live in [`crate::sarif`],
//! [`crate::summary_md`] and [`crate::html_report`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed: the message (request, response, what was expected).
    Failed(String),
    /// Not applicable to the profile: why.
    Skipped(String),
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct Record {
    /// Feature name.
    pub feature: String,
    /// Scenario name.
    pub scenario: String,
    /// Tags without `@`.
    pub tags: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time, milliseconds.
    pub millis: u128,
    /// Some scenario of the same requirement failed (set by [`mark_requirement_failures`]): an
    /// expected failure is stale only when every scenario of its requirement passes.
    pub req_failed: bool,
    /// The feature file the scenario comes from (`features/audience.feature`): where a SARIF
    /// result points, so code scanning has a location to show.
    pub source: String,
    /// This scenario failed in the `--baseline` run (set by [`crate::baseline::Baseline::apply`]):
    /// a failure now is known (XFAIL), a pass is STALE or FIXED.
    pub baselined: Option<Baselined>,
}

/// A previous run's failure of the same scenario, from `--baseline FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baselined {
    /// Why it is known: the baseline file and the failure's first line, shown with XFAIL/STALE.
    pub reason: String,
    /// `--baseline-allow-fixed`: a pass is a notice (FIXED), not a STALE failure.
    pub allow_fixed: bool,
}

/// Set [`Record::req_failed`] on every record.
pub fn mark_requirement_failures(records: &mut [Record]) {
    let failed: std::collections::BTreeSet<String> = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .filter_map(|r| r.req().map(str::to_string))
        .collect();
    for r in records.iter_mut() {
        r.req_failed = r.req().is_some_and(|q| failed.contains(q));
    }
}

/// Requirement level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// MUST / MUST NOT.
    Must,
    /// SHOULD / SHOULD NOT.
    Should,
    /// MAY, informational.
    May,
}

impl Level {
    /// `MUST`, `SHOULD`, `MAY`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

/// The verdict on one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Passed.
    Pass,
    /// A MUST failed (or anything failed under `--strict`): fails the run.
    Fail,
    /// A SHOULD/MAY failed: reported, does not fail the run.
    Warning,
    /// Not applicable.
    Skipped,
    /// Failed as the profile expects.
    Xfail,
    /// Expected to fail but passed: the expectation is stale; fails the run.
    Stale,
    /// Failed in the baseline, passes now, and `--baseline-allow-fixed` was given: a notice.
    Fixed,
}

impl Verdict {
    /// The label of the console, the HTML report and summary.md.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Warning => "WARNING",
            Verdict::Skipped => "SKIPPED",
            Verdict::Xfail => "XFAIL",
            Verdict::Stale => "STALE",
            Verdict::Fixed => "FIXED",
        }
    }
}

/// The tag of a check that could not be made because of the server (the preflight refused it, or
/// it stopped answering): JUnit says `<error>`, checks.json's state says `ERROR`.
pub const ERRORED_TAG: &str = "errored";

impl Record {
    /// Whether this stands for checks the server kept from running ([`ERRORED_TAG`]).
    pub fn errored(&self) -> bool {
        self.tags.iter().any(|t| t == ERRORED_TAG)
    }
    /// The `req-N` tag.
    pub fn req(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.starts_with("req-"))
            .map(String::as_str)
    }
    /// The level from `@must` / `@should` / `@may` (default MUST).
    pub fn level(&self) -> Level {
        if self.tags.iter().any(|t| t == "may") {
            Level::May
        } else if self.tags.iter().any(|t| t == "should") {
            Level::Should
        } else {
            Level::Must
        }
    }
    /// Why a failure of this scenario is expected: the baseline's reason, else the profile's
    /// `expected_failures` line for its requirement.
    pub fn expectation<'a>(&'a self, expected: &'a BTreeMap<String, String>) -> Option<&'a str> {
        self.baselined
            .as_ref()
            .map(|b| b.reason.as_str())
            .or_else(|| self.req().and_then(|q| expected.get(q)).map(String::as_str))
    }
    /// The verdict under a profile's expected failures (and the baseline, if any).
    pub fn verdict(&self, expected: &BTreeMap<String, String>, strict: bool) -> Verdict {
        let xf = self.req().is_some_and(|r| expected.contains_key(r));
        match (&self.outcome, xf) {
            (Outcome::Skipped(_), _) => Verdict::Skipped,
            (Outcome::Failed(_), _) if self.baselined.is_some() => Verdict::Xfail,
            // The baseline is per scenario: this very scenario failed then and passes now.
            (Outcome::Passed, _) if self.baselined.as_ref().is_some_and(|b| b.allow_fixed) => {
                Verdict::Fixed
            }
            (Outcome::Passed, _) if self.baselined.is_some() => Verdict::Stale,
            (Outcome::Failed(_), true) => Verdict::Xfail,
            // Another scenario of the requirement shows the expected defect: this one just passes.
            (Outcome::Passed, true) if self.req_failed => Verdict::Pass,
            (Outcome::Passed, true) => Verdict::Stale,
            (Outcome::Passed, false) => Verdict::Pass,
            (Outcome::Failed(_), false) if strict || self.level() == Level::Must => Verdict::Fail,
            (Outcome::Failed(_), false) => Verdict::Warning,
        }
    }
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// MUST scenarios passed.
    pub must_passed: usize,
    /// MUST scenarios failed.
    pub must_failed: usize,
    /// SHOULD/MAY scenarios passed.
    pub should_passed: usize,
    /// SHOULD/MAY warnings.
    pub warnings: usize,
    /// Skipped.
    pub skipped: usize,
    /// Expected failures that failed.
    pub xfail: usize,
    /// Expected failures that passed.
    pub stale: usize,
    /// SHOULD/MAY failures counted as failures under `--strict`.
    pub strict_failed: usize,
    /// Baselined failures that pass now, with `--baseline-allow-fixed` (a notice).
    pub fixed: usize,
}

impl Summary {
    /// Whether the run fails: a MUST failed, an expectation is stale, or (strict) anything failed.
    pub fn failed(&self) -> bool {
        self.must_failed + self.stale + self.strict_failed > 0
    }
}

/// Tally verdicts.
pub fn summarize(records: &[Record], expected: &BTreeMap<String, String>, strict: bool) -> Summary {
    let mut s = Summary::default();
    for r in records {
        match (r.verdict(expected, strict), r.level()) {
            (Verdict::Pass, Level::Must) => s.must_passed += 1,
            (Verdict::Pass, _) => s.should_passed += 1,
            (Verdict::Fail, Level::Must) => s.must_failed += 1,
            (Verdict::Fail, _) => s.strict_failed += 1,
            (Verdict::Warning, _) => s.warnings += 1,
            (Verdict::Skipped, _) => s.skipped += 1,
            (Verdict::Xfail, _) => s.xfail += 1,
            (Verdict::Stale, _) => s.stale += 1,
            (Verdict::Fixed, _) => s.fixed += 1,
        }
    }
    s
}

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

/// Spec references from the `@since-*` tag (or `@until-*` for an item that only older
/// revisions have, e.g. 2025-03-26's authorization base URL).
pub fn spec_refs(r: &Record) -> Value {
    let rev = r
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("since-"))
        .or_else(|| r.tags.iter().find_map(|t| t.strip_prefix("until-")))
        .unwrap_or("2025-06-18");
    json!([{ "id": format!("MCP-Authorization-{rev}"),
             "url": format!("https://modelcontextprotocol.io/specification/{rev}/basic/authorization") }])
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
