//! What a run produced: [`RunResult`] (the records, the tally, the console report), the record
//! that stands for a server problem (the preflight's refusal, the server stopping mid-run), and
//! the probe's findings in a few lines.

use std::collections::BTreeMap;

use crate::probe::ProbeReport;
use crate::report::{self, Outcome, Record, Summary};

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

impl crate::baseline::RunVerdicts for RunResult {
    fn records(&self) -> &[Record] {
        &self.records
    }
    fn expected(&self) -> &BTreeMap<String, String> {
        &self.expected
    }
    fn strict(&self) -> bool {
        self.strict
    }
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
pub(super) fn collapse_stopped(records: &mut Vec<Record>, line: &str) {
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
