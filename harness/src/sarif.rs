//! `results.sarif`: the run as a SARIF 2.1.0 log (OASIS "Static Analysis Results Interchange
//! Format Version 2.1.0"), for code scanning. Section numbers below are the standard's.
//!
//! - One `reportingDescriptor` (§3.49) per checklist item in the run (`req-24`, `req-C3`), with
//!   its text ([`crate::checklist::item_text`]), its level as `defaultConfiguration.level`
//!   (§3.50.3: `error` for MUST, `warning` for SHOULD/MAY) and the spec revision's URL as
//!   `helpUri` (§3.49.12) and `properties.specReferences`.
//! - One `result` (§3.27) per failed or warned scenario: `level` by the item's level, the
//!   message (§3.11) says what was sent and what came back; a failure the profile or the
//!   baseline expects (XFAIL) carries an external, accepted `suppression` (§3.35) with the reason.
//! - Each result's location (§3.28) is the profile file when the run has one (where the user
//!   records expected failures), else the scenario's feature file; a logical location names the
//!   server under test. `partialFingerprints` (§3.27.17) key the scenario, so code scanning
//!   matches alerts across runs.
//!
//! The output validates against the OASIS schema (harness/tests/data/sarif-schema-2.1.0.json,
//! checked by harness/tests/ci_reports.rs).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::checklist::item_text;
use crate::verdict::{Level, Record, Verdict, spec_refs};

/// The OASIS schema URI of SARIF 2.1.0 (`$schema`, §3.13.3).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// What the log says about the run besides the records.
#[derive(Debug, Clone)]
pub struct SarifMeta<'a> {
    /// The MCP endpoint under test.
    pub server: &'a str,
    /// The profile file, as given (results point at it).
    pub profile: Option<&'a str>,
}

/// `error` for MUST, `warning` for SHOULD/MAY (§3.27.10).
fn sarif_level(l: Level) -> &'static str {
    match l {
        Level::Must => "error",
        Level::Should | Level::May => "warning",
    }
}

/// A relative path or an absolute one as a URI reference (§3.4.3): unreserved characters and
/// `/` kept, everything else percent-encoded; an absolute path becomes a `file://` URI.
fn uri_of(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if path.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

/// The spec URLs of a record.
fn urls(r: &Record) -> Vec<String> {
    spec_refs(r)
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["url"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The SARIF log of a run.
pub fn sarif(
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
    meta: &SarifMeta<'_>,
) -> Value {
    // One rule per item, in checklist order of first appearance; the level is the strongest of
    // its scenarios', the URLs the union of theirs.
    let mut order: Vec<String> = Vec::new();
    let mut rules: BTreeMap<String, (Level, Vec<String>, String)> = BTreeMap::new();
    for r in records {
        let req = r.req().unwrap_or("req-unknown").to_string();
        let e = rules.entry(req.clone()).or_insert_with(|| {
            order.push(req.clone());
            (r.level(), Vec::new(), r.scenario.clone())
        });
        e.0 = e.0.min(r.level());
        for u in urls(r) {
            if !e.1.contains(&u) {
                e.1.push(u);
            }
        }
    }
    let index: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let rule_values: Vec<Value> = order
        .iter()
        .map(|req| {
            let (level, urls, first) = &rules[req];
            let item = item_text(req);
            let text = item.map(str::to_string).unwrap_or_else(|| first.clone());
            // A check that is no checklist item (the server could not be checked) says so.
            let full = match item {
                Some(_) => format!(
                    "{text} ({}: MCP authorization checklist item {})",
                    level.name(),
                    req.trim_start_matches("req-")
                ),
                None => format!(
                    "{text} ({}: the run could not check the server)",
                    level.name()
                ),
            };
            let mut rule = json!({
                "id": req,
                "shortDescription": { "text": text },
                "fullDescription": { "text": full },
                "defaultConfiguration": { "level": sarif_level(*level) },
                "properties": {
                    "level": level.name(),
                    "specReferences": urls,
                    "tags": ["mcp-authorization", level.name().to_lowercase()],
                },
            });
            if let Some(u) = urls.first() {
                rule["helpUri"] = json!(u);
                rule["help"] = json!({ "text": format!("{text} See {}", urls.join(", ")) });
            }
            rule
        })
        .collect();
    let results: Vec<Value> = records
        .iter()
        .filter_map(|r| {
            let v = r.verdict(expected, strict);
            if !matches!(v, Verdict::Fail | Verdict::Warning | Verdict::Xfail) {
                return None;
            }
            let req = r.req().unwrap_or("req-unknown");
            let msg = match &r.outcome {
                crate::verdict::Outcome::Failed(m) => m.as_str(),
                _ => "",
            };
            let uri = uri_of(meta.profile.unwrap_or(&r.source));
            let mut res = json!({
                "ruleId": req,
                "ruleIndex": index.get(req).copied().unwrap_or(0),
                "level": sarif_level(r.level()),
                "message": { "text": format!("{} :: {}\n{msg}", r.feature, r.scenario) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": uri } },
                    "logicalLocations": [{ "fullyQualifiedName": meta.server, "kind": "resource" }],
                }],
                "partialFingerprints": {
                    "mcpAuthcheckScenario/v1": format!("{req}:{}:{}", r.feature, r.scenario)
                },
                "properties": {
                    "verdict": v.label(),
                    "feature": r.feature,
                    "scenario": r.scenario,
                    "requirementLevel": r.level().name(),
                },
            });
            if v == Verdict::Xfail {
                res["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": r.expectation(expected).unwrap_or("expected failure"),
                }]);
            }
            Some(res)
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mcp-authcheck",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rule_values,
            }},
            "properties": { "server": meta.server },
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Outcome;

    fn rec(req: &str, level: &str, outcome: Outcome) -> Record {
        Record {
            feature: "Audience".into(),
            scenario: format!("scenario of {req}"),
            tags: vec![req.into(), level.into(), "since-2025-06-18".into()],
            outcome,
            millis: 0,
            req_failed: false,
            source: "features/audience.feature".into(),
            baselined: None,
        }
    }

    #[test]
    fn rules_per_item_results_per_finding() {
        let recs = vec![
            rec("req-24", "must", Outcome::Failed("got 200".into())),
            rec("req-24", "must", Outcome::Passed),
            rec("req-28", "should", Outcome::Failed("slash".into())),
            rec("req-13", "must", Outcome::Passed),
            rec("req-40", "must", Outcome::Failed("nbf".into())),
        ];
        let mut xf = BTreeMap::new();
        xf.insert("req-40".to_string(), "known nbf defect".to_string());
        let meta = SarifMeta {
            server: "http://x/mcp",
            profile: Some("my profile.toml"),
        };
        let s = sarif(&recs, &xf, false, &meta);
        let run = &s["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0]["id"], "req-24");
        assert_eq!(rules[0]["defaultConfiguration"]["level"], "error");
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");
        assert_eq!(
            rules[0]["helpUri"],
            "https://modelcontextprotocol.io/specification/2025-06-18/basic/authorization"
        );
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 3, "{results:?}");
        assert_eq!(results[0]["ruleId"], "req-24");
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["level"], "warning");
        assert_eq!(
            results[2]["suppressions"][0]["justification"],
            "known nbf defect"
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "my%20profile.toml"
        );
        assert_eq!(uri_of("/tmp/a b"), "file:///tmp/a%20b");
    }
}
