//! Regression-only gating. A baseline is a previous run's `checks.json` (`--baseline FILE`):
//! a scenario that failed there and fails now is known (XFAIL); a failure it does not list is
//! new and judged as usual; a listed scenario that passes now is STALE (fails the run, as a
//! stale `expected_failures` line does) or, with `--baseline-allow-fixed`, FIXED (a notice).
//!
//! The baseline is per scenario (requirement tag + scenario name), not per requirement: a new
//! scenario of an already-failing item still fails the run. `--write-baseline FILE` writes the
//! current run's failures in the same `checks.json` shape, and [`expected_failures_toml`] turns
//! a baseline into `[expected_failures]` lines for a profile (`mcp-authcheck baseline --from`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::report::{self, Baselined, Outcome, Record};

/// Why a baseline file cannot be used: one line naming the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file cannot be read.
    #[error("baseline {file}: cannot read it: {source}")]
    Unreadable {
        /// The path as given.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("baseline {file}: not JSON ({msg}); give the checks.json of a previous run")]
    NotJson {
        /// The path as given.
        file: String,
        /// serde_json's message (with line and column).
        msg: String,
    },
    /// JSON, but not a `checks.json`.
    #[error("baseline {file}: not a checks.json: {msg}")]
    Shape {
        /// The path as given.
        file: String,
        /// What is wrong, naming the entry.
        msg: String,
    },
}

/// One failure a baseline lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The requirement tag (`req-24`).
    pub requirement: String,
    /// The scenario name.
    pub scenario: String,
    /// The failure message's first line (what was sent and what came back, in short).
    pub message: String,
}

/// A loaded baseline.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The file, as given (named in every reason).
    pub file: String,
    /// The failures it lists, in file order.
    pub failures: Vec<Failure>,
    /// `--baseline-allow-fixed`: a listed scenario that passes now is a notice, not STALE.
    pub allow_fixed: bool,
}

impl Baseline {
    /// Read and check `path`.
    pub fn load(path: &Path, allow_fixed: bool) -> Result<Baseline, BaselineError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Unreadable {
            file: file.clone(),
            source,
        })?;
        Baseline::parse(&text, &file, allow_fixed)
    }

    /// Parse the text of a `checks.json` named `file`.
    pub fn parse(text: &str, file: &str, allow_fixed: bool) -> Result<Baseline, BaselineError> {
        let v: Value = serde_json::from_str(text).map_err(|e| BaselineError::NotJson {
            file: file.to_string(),
            msg: e.to_string(),
        })?;
        let failures = failures_of(&v).map_err(|msg| BaselineError::Shape {
            file: file.to_string(),
            msg,
        })?;
        Ok(Baseline {
            file: file.to_string(),
            failures,
            allow_fixed,
        })
    }

    /// Mark every record whose scenario the baseline lists ([`Record::baselined`]).
    pub fn apply(&self, records: &mut [Record]) {
        let known: BTreeMap<(&str, &str), &str> = self
            .failures
            .iter()
            .map(|f| {
                (
                    (f.requirement.as_str(), f.scenario.as_str()),
                    f.message.as_str(),
                )
            })
            .collect();
        for r in records.iter_mut() {
            let req = r.req().unwrap_or("req-unknown").to_string();
            if let Some(msg) = known.get(&(req.as_str(), r.scenario.as_str())) {
                r.baselined = Some(Baselined {
                    reason: format!("in the baseline {}: {msg}", self.file),
                    allow_fixed: self.allow_fixed,
                });
            }
        }
    }
}

/// The requirement of a check: `details.requirement`, else its id without the `-2` suffix a
/// second scenario of the same item gets.
fn requirement_of(check: &Value, id: &str) -> String {
    if let Some(r) = check["details"]["requirement"].as_str() {
        return r.to_string();
    }
    match id.rsplit_once('-') {
        Some((head, n)) if head.starts_with("req-") && n.chars().all(|c| c.is_ascii_digit()) => {
            head.to_string()
        }
        _ => id.to_string(),
    }
}

/// The failures a `checks.json` lists: FAILURE (not a STALE one, which passed), WARNING (a
/// SHOULD failure), and INFO with state XFAIL (a failure already known then).
fn failures_of(v: &Value) -> Result<Vec<Failure>, String> {
    let checks = v.as_array().ok_or_else(|| {
        "expected a JSON array of checks ({id, name, status, ...}, as a run writes)".to_string()
    })?;
    let mut out = Vec::new();
    for (i, c) in checks.iter().enumerate() {
        let at = |what: &str| format!("check #{i}: {what}");
        if !c.is_object() {
            return Err(at("not an object"));
        }
        let id = c["id"].as_str().ok_or_else(|| at("no \"id\" string"))?;
        let name = c["name"]
            .as_str()
            .ok_or_else(|| at(&format!("({id}) no \"name\" string")))?;
        let status = c["status"]
            .as_str()
            .ok_or_else(|| at(&format!("({id}) no \"status\" string")))?;
        let state = c["details"]["state"].as_str();
        let failed = match status {
            "FAILURE" => !matches!(state, Some("STALE" | "FIXED" | "ERROR")),
            "WARNING" => true,
            "INFO" => state == Some("XFAIL"),
            "SUCCESS" | "SKIPPED" => false,
            other => {
                return Err(at(&format!(
                    "({id}) status {other:?} is none of SUCCESS, FAILURE, WARNING, SKIPPED, INFO"
                )));
            }
        };
        if failed {
            let message = c["errorMessage"]
                .as_str()
                .and_then(|m| m.lines().next())
                .unwrap_or("failed")
                .trim()
                .to_string();
            out.push(Failure {
                requirement: requirement_of(c, id),
                scenario: name.to_string(),
                message,
            });
        }
    }
    Ok(out)
}

/// The baseline of a run: the `checks.json` entries of the scenarios that failed (whatever
/// their verdict: MUST, SHOULD, already known), in the shape [`Baseline::parse`] reads.
pub fn baseline_json(
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
    timestamp: &str,
) -> Value {
    let checks = report::checks_json(records, expected, strict, timestamp);
    let entries = checks.as_array().cloned().unwrap_or_default();
    Value::Array(
        records
            .iter()
            .zip(entries)
            // A server that could not be checked is no known failure to carry forward.
            .filter(|(r, _)| matches!(r.outcome, Outcome::Failed(_)) && !r.errored())
            .map(|(_, c)| c)
            .collect(),
    )
}

/// What a baseline needs of a run: its records and how they were judged (the runner's
/// `RunResult` has them; this keeps the baseline from importing the runner that applies it).
pub trait RunVerdicts {
    /// One record per scenario.
    fn records(&self) -> &[Record];
    /// The profile's expected failures.
    fn expected(&self) -> &BTreeMap<String, String>;
    /// Whether `--strict` applied.
    fn strict(&self) -> bool;
}

/// The baseline of several runs (the conformance entry point's in-process runs): their
/// failures, each scenario once.
pub fn baseline_of_runs<'a, R: RunVerdicts + 'a>(runs: impl IntoIterator<Item = &'a R>) -> Value {
    let ts = report::httpdate_now();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for run in runs {
        let v = baseline_json(run.records(), run.expected(), run.strict(), &ts);
        for c in v.as_array().cloned().unwrap_or_default() {
            let key = (
                c["details"]["requirement"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            );
            if seen.insert(key) {
                out.push(c);
            }
        }
    }
    Value::Array(out)
}

/// Write [`baseline_of_runs`] to `path`: one line naming the file on error.
pub fn write_baseline<'a, R: RunVerdicts + 'a>(
    path: &Path,
    runs: impl IntoIterator<Item = &'a R>,
) -> Result<usize, String> {
    let v = baseline_of_runs(runs);
    let n = v.as_array().map_or(0, Vec::len);
    let text = serde_json::to_vec_pretty(&v).unwrap_or_default();
    std::fs::write(path, text)
        .map_err(|e| format!("--write-baseline {}: cannot write it: {e}", path.display()))?;
    Ok(n)
}

/// `[expected_failures]` lines for a profile: one per requirement that failed in the baseline,
/// with its first failure's message as the reason (`mcp-authcheck baseline --from`).
pub fn expected_failures_toml(b: &Baseline) -> String {
    let mut by_req: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for f in &b.failures {
        by_req
            .entry(f.requirement.as_str())
            .or_insert((f.message.as_str(), 0))
            .1 += 1;
    }
    let mut out = format!(
        "# {} failing scenario(s) of {} requirement(s) in {}; each reason is the first failure's message.\n\
         # Paste into the profile; remove a line once the defect is fixed (a passing item fails as STALE).\n\
         [expected_failures]\n",
        b.failures.len(),
        by_req.len(),
        b.file
    );
    for (req, (msg, n)) in by_req {
        let reason = if n > 1 {
            format!("{msg} (and {} more scenario(s))", n - 1)
        } else {
            msg.to_string()
        };
        out.push_str(&format!(
            "{} = {}\n",
            toml::Value::String(req.to_string()),
            toml::Value::String(reason)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;

    fn rec(req: &str, scenario: &str, outcome: Outcome) -> Record {
        Record {
            feature: "F".into(),
            scenario: scenario.into(),
            tags: vec![req.into(), "must".into()],
            outcome,
            millis: 0,
            req_failed: false,
            source: "features/f.feature".into(),
            baselined: None,
        }
    }

    #[test]
    fn a_written_baseline_reads_back_and_gates_only_new_failures() {
        let none = BTreeMap::new();
        let then = vec![
            rec(
                "req-24",
                "a",
                Outcome::Failed("got 200\nrequest: ...".into()),
            ),
            rec("req-24", "b", Outcome::Passed),
            rec("req-39", "c", Outcome::Skipped("n/a".into())),
        ];
        let text =
            serde_json::to_string(&baseline_json(&then, &none, false, "t")).unwrap_or_default();
        let b = Baseline::parse(&text, "base.json", false).expect("reads back");
        assert_eq!(b.failures.len(), 1);
        assert_eq!(b.failures[0].requirement, "req-24");
        assert_eq!(b.failures[0].message, "got 200");

        let mut now = vec![
            rec("req-24", "a", Outcome::Failed("got 200".into())),
            rec("req-24", "b", Outcome::Failed("new".into())),
            rec("req-39", "c", Outcome::Failed("new too".into())),
        ];
        b.apply(&mut now);
        let v: Vec<Verdict> = now.iter().map(|r| r.verdict(&none, false)).collect();
        assert_eq!(v, [Verdict::Xfail, Verdict::Fail, Verdict::Fail]);

        let mut fixed = vec![rec("req-24", "a", Outcome::Passed)];
        b.apply(&mut fixed);
        assert_eq!(fixed[0].verdict(&none, false), Verdict::Stale);
        assert!(report::summarize(&fixed, &none, false).failed());
        let allow = Baseline {
            allow_fixed: true,
            ..b.clone()
        };
        allow.apply(&mut fixed);
        assert_eq!(fixed[0].verdict(&none, false), Verdict::Fixed);
        assert!(!report::summarize(&fixed, &none, false).failed());
    }

    #[test]
    fn bad_files_say_which_and_why_in_one_line() {
        for (text, want) in [
            ("{", "not JSON"),
            ("{}", "expected a JSON array"),
            ("[1]", "check #0: not an object"),
            (
                r#"[{"id":"req-1","status":"FAILURE"}]"#,
                "check #0: (req-1) no \"name\"",
            ),
            (
                r#"[{"id":"req-1","name":"n","status":"BROKEN"}]"#,
                "status \"BROKEN\"",
            ),
        ] {
            let e = Baseline::parse(text, "b.json", false)
                .expect_err(text)
                .to_string();
            assert!(e.starts_with("baseline b.json: "), "{e}");
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = Baseline::load(Path::new("/nonexistent/b.json"), false).expect_err("missing");
        assert!(e.to_string().contains("cannot read it"), "{e}");
    }

    #[test]
    fn stale_entries_are_not_failures_and_ids_give_the_requirement() {
        let text = r#"[
          {"id":"req-24-2","name":"a","status":"FAILURE","errorMessage":"boom"},
          {"id":"req-C3","name":"b","status":"FAILURE","details":{"state":"STALE"}},
          {"id":"req-40","name":"c","status":"INFO","details":{"state":"XFAIL","requirement":"req-40"}},
          {"id":"req-9","name":"d","status":"WARNING"}
        ]"#;
        let b = Baseline::parse(text, "b.json", false).expect("valid");
        let reqs: Vec<&str> = b.failures.iter().map(|f| f.requirement.as_str()).collect();
        assert_eq!(reqs, ["req-24", "req-40", "req-9"]);
        let toml_text = expected_failures_toml(&b);
        let t: toml::Table = toml_text.parse().expect("valid TOML");
        assert_eq!(t["expected_failures"]["req-24"].as_str(), Some("boom"));
        assert_eq!(t["expected_failures"]["req-9"].as_str(), Some("failed"));
    }
}
