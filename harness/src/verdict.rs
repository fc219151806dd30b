//! The verdict model: how a scenario ended ([`Outcome`]), its record ([`Record`]: requirement
//! and level from its tags), the verdict rules (MUST/SHOULD, XFAIL/STALE/FIXED against the
//! profile's `expected_failures` and a `--baseline`) and the tally. Every report writer
//! ([`crate::report`]'s JUnit, `checks.json` and console, [`crate::sarif`], [`crate::summary_md`],
//! [`crate::html_report`]) reads it; it reads none of them.

use std::collections::BTreeMap;

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
