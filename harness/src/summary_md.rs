//! `summary.md`: the console summary as GitHub-flavoured Markdown, for a job summary
//! (`$GITHUB_STEP_SUMMARY`, see [`crate::github`]) or a pull-request comment: the counts, each
//! failure/warning/stale/fixed item on one line, and the skipped scenarios grouped by reason.
//!
//! Every text that came from the server is escaped: GitHub renders HTML inside Markdown, and a
//! `|` or a newline would break the table or the list.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::verdict::{Outcome, Record, Verdict, summarize};

/// Longest failure line kept (the full exchange is in checks.json and report.html).
const LINE_MAX: usize = 300;

/// Markdown-safe text on one line: HTML and Markdown punctuation escaped, newlines as spaces,
/// cut at `LINE_MAX` characters.
pub fn md_inline(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut cut: String = one.chars().take(LINE_MAX).collect();
    if one.chars().count() > LINE_MAX {
        cut.push('…');
    }
    let mut out = String::with_capacity(cut.len());
    for c in cut.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The Markdown summary of a run against `server`.
pub fn summary_md(
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
    server: &str,
) -> String {
    let s = summarize(records, expected, strict);
    let mut out = String::new();
    let verdict = if s.failed() {
        "❌ failed"
    } else {
        "✅ passed"
    };
    let _ = writeln!(out, "## mcp-authcheck: {verdict}\n");
    let _ = writeln!(out, "Server: `{}`\n", server.replace('`', "'"));
    let _ = writeln!(out, "| result | count |\n|---|---:|");
    let mut rows = vec![
        ("MUST passed", s.must_passed),
        ("MUST failed", s.must_failed),
        ("SHOULD/MAY passed", s.should_passed),
        ("SHOULD warnings", s.warnings),
        ("skipped", s.skipped),
        ("xfail (expected)", s.xfail),
        ("stale expectations", s.stale),
    ];
    if strict {
        rows.push(("strict failures", s.strict_failed));
    }
    if s.fixed > 0 {
        rows.push(("fixed (baseline)", s.fixed));
    }
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    let mut findings = String::new();
    let mut skipped: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        let v = r.verdict(expected, strict);
        let why = match (&r.outcome, v) {
            (_, Verdict::Pass) => continue,
            (Outcome::Skipped(m), _) => {
                skipped.entry(m.as_str()).or_default().push(r);
                continue;
            }
            (Outcome::Failed(m), _) => m.lines().next().unwrap_or("").to_string(),
            (_, Verdict::Fixed) => "failed in the baseline, passes now".to_string(),
            _ => format!(
                "expected to fail ({}), but it passed",
                r.expectation(expected).unwrap_or("")
            ),
        };
        let _ = writeln!(
            findings,
            "- **{}** `{}` {} — {} :: {}: {}",
            v.label(),
            r.req().unwrap_or("req-?"),
            r.level().name(),
            md_inline(&r.feature),
            md_inline(&r.scenario),
            md_inline(&why)
        );
    }
    if !findings.is_empty() {
        let _ = writeln!(out, "\n### Findings\n\n{findings}");
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\n### Skipped, by reason\n");
        for (why, recs) in &skipped {
            let mut reqs: Vec<&str> = recs.iter().filter_map(|r| r.req()).collect();
            reqs.sort_by_key(|r| crate::checklist::ITEM_TEXT.iter().position(|(q, _)| q == r));
            reqs.dedup();
            let _ = writeln!(
                out,
                "- {} scenario(s) ({}): {}",
                recs.len(),
                reqs.join(", "),
                md_inline(why)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(req: &str, level: &str, outcome: Outcome) -> Record {
        Record {
            feature: "Audience".into(),
            scenario: format!("scenario of {req}"),
            tags: vec![req.into(), level.into()],
            outcome,
            millis: 0,
            req_failed: false,
            source: "features/audience.feature".into(),
            baselined: None,
        }
    }

    #[test]
    fn counts_findings_and_grouped_skips() {
        let recs = vec![
            rec(
                "req-24",
                "must",
                Outcome::Failed("got 200 <script>|x\nrequest: POST".into()),
            ),
            rec("req-9", "should", Outcome::Failed("no scope=".into())),
            rec("req-13", "must", Outcome::Passed),
            rec(
                "req-30",
                "should",
                Outcome::Skipped("no tool needs a scope".into()),
            ),
            rec(
                "req-31",
                "should",
                Outcome::Skipped("no tool needs a scope".into()),
            ),
        ];
        let md = summary_md(&recs, &BTreeMap::new(), false, "http://127.0.0.1:1/mcp");
        assert!(md.contains("## mcp-authcheck: ❌ failed"), "{md}");
        assert!(md.contains("| MUST failed | 1 |"), "{md}");
        assert!(md.contains("| SHOULD warnings | 1 |"), "{md}");
        assert!(
            md.contains("- **FAIL** `req-24` MUST — Audience :: scenario of req-24: got 200 &lt;script&gt;\\|x\n"),
            "{md}"
        );
        assert!(!md.contains("request: POST"), "one line per failure: {md}");
        assert!(
            md.contains("- 2 scenario(s) (req-30, req-31): no tool needs a scope"),
            "{md}"
        );
    }
}
