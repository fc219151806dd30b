//! GitHub Actions: annotations as workflow commands on stdout (`::error title=…::message`,
//! GitHub's "Workflow commands for GitHub Actions" docs, "Setting an error message"), only when
//! `GITHUB_ACTIONS=true`; and the Markdown summary appended to `$GITHUB_STEP_SUMMARY` (the same
//! docs, "Adding a job summary").
//!
//! Escaping is the runner's (actions/toolkit `command.ts`): in the message `%`, `\r`, `\n`
//! become `%25`, `%0D`, `%0A`; in a property (`title=`) also `:` and `,` become `%3A`, `%2C`,
//! since they delimit the command and its properties.

use std::collections::BTreeMap;
use std::io::Write as _;

use crate::verdict::{Level, Outcome, Record, Verdict};

/// Whether this process runs as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// A workflow command's message (the part after `::`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value (`title=`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation per finding: `::error` for a failure that fails the run (a MUST, a SHOULD
/// under `--strict`, a STALE expectation), `::warning` for a SHOULD/MAY warning, `::notice` for
/// a baselined failure that is fixed (`--baseline-allow-fixed`). Known failures (XFAIL) are
/// not annotated: the baseline says they are accepted.
pub fn annotations(
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
) -> String {
    let mut out = String::new();
    for r in records {
        let v = r.verdict(expected, strict);
        let (cmd, what) = match v {
            Verdict::Fail => ("error", r.level().name()),
            Verdict::Warning => ("warning", r.level().name()),
            Verdict::Stale => ("error", "STALE"),
            Verdict::Fixed => ("notice", "FIXED"),
            _ => continue,
        };
        let req = r.req().unwrap_or("req-?");
        let title = format!("{req} {what}: {}", r.scenario);
        let body = match &r.outcome {
            Outcome::Failed(m) => format!("{} :: {}\n{m}", r.feature, r.scenario),
            _ => format!(
                "{} :: {}\nfailed before ({}), passes now{}",
                r.feature,
                r.scenario,
                r.expectation(expected).unwrap_or(""),
                if v == Verdict::Stale {
                    ": remove the expectation or write a new baseline"
                } else {
                    ""
                }
            ),
        };
        // A SHOULD failure under --strict fails the run: say so in the title too.
        let title = if v == Verdict::Fail && r.level() != Level::Must {
            format!("{title} (--strict)")
        } else {
            title
        };
        out.push_str(&format!(
            "::{cmd} title={}::{}\n",
            escape_property(&title),
            escape_data(&body)
        ));
    }
    out
}

/// Append `markdown` to the file `$GITHUB_STEP_SUMMARY` names, if it is set; `Ok(false)` when
/// it is not.
pub fn append_step_summary(markdown: &str) -> Result<bool, String> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("GITHUB_STEP_SUMMARY {shown}: cannot open it: {e}"))?;
    f.write_all(markdown.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| format!("GITHUB_STEP_SUMMARY {shown}: cannot append: {e}"))?;
    Ok(true)
}

/// After a run, from either entry point: on GitHub Actions the annotations on stdout, and the
/// Markdown summary appended to `$GITHUB_STEP_SUMMARY` when that is set (on any CI).
pub fn publish(run: &crate::runner::RunResult) -> Result<(), String> {
    if enabled() {
        print!("{}", annotations(&run.records, &run.expected, run.strict));
    }
    append_step_summary(&crate::summary_md::summary_md(
        &run.records,
        &run.expected,
        run.strict,
        &run.server,
    ))
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_the_runner() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(
            escape_property("req-24 MUST: a, b%"),
            "req-24 MUST%3A a%2C b%25"
        );
    }

    #[test]
    fn one_annotation_per_finding() {
        let rec = |tags: &[&str], outcome| Record {
            feature: "Audience".into(),
            scenario: "A token, for another server: refused".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            outcome,
            millis: 0,
            req_failed: false,
            source: "features/audience.feature".into(),
            baselined: None,
        };
        let recs = vec![
            rec(
                &["req-24", "must"],
                Outcome::Failed("got 200\nbody: ::error::x".into()),
            ),
            rec(&["req-9", "should"], Outcome::Failed("no scope".into())),
            rec(&["req-13", "must"], Outcome::Passed),
        ];
        let a = annotations(&recs, &BTreeMap::new(), false);
        let lines: Vec<&str> = a.lines().collect();
        assert_eq!(lines.len(), 2, "{a}");
        assert!(
            lines[0].starts_with("::error title=req-24 MUST%3A A token%2C for another server%3A refused::Audience :: "),
            "{a}"
        );
        assert!(lines[0].ends_with("got 200%0Abody: ::error::x"), "{a}");
        assert!(lines[1].starts_with("::warning title=req-9 SHOULD"), "{a}");
        let strict = annotations(&recs, &BTreeMap::new(), true);
        assert!(strict.contains("::error title=req-9 SHOULD%3A A token%2C for another server%3A refused (--strict)::"), "{strict}");
    }
}
