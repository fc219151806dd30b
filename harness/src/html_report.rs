//! `report.html`: the run in one self-contained file — inline CSS and script, no network (a
//! Content-Security-Policy of `default-src 'none'` says so to the browser too). At a glance:
//! the counts and, per area (feature), a stacked bar of its verdicts; then every scenario with
//! its verdict, filterable by verdict and area (the filter also reads and writes the URL
//! fragment, `report.html#verdict=FAIL&area=Audience`, so a link can point at a view), and each
//! failure expandable to the request/response exchange.
//!
//! Everything that came from the server (messages, bodies, headers) and every name is
//! HTML-escaped into element text or attribute values; the script reads only `data-*`
//! attributes and element text, never builds HTML from them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checklist::item_text;
use crate::verdict::{Outcome, Record, Verdict, summarize};

/// Escape for HTML text and double- or single-quoted attribute values; control characters other
/// than newline and tab are dropped (they have no place in a report and some are invalid HTML).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Verdicts in display order, with their colours.
const VERDICTS: [(Verdict, &str); 7] = [
    (Verdict::Fail, "#c62828"),
    (Verdict::Stale, "#ad1457"),
    (Verdict::Warning, "#ef6c00"),
    (Verdict::Xfail, "#6a1b9a"),
    (Verdict::Fixed, "#00838f"),
    (Verdict::Pass, "#2e7d32"),
    (Verdict::Skipped, "#9e9e9e"),
];

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em}
.meta{color:#555;margin-bottom:1em}
.overall{font-weight:bold;padding:.1em .5em;border-radius:3px;color:#fff}
.counts{display:flex;flex-wrap:wrap;gap:.5em;margin:1em 0}
.counts span{padding:.2em .6em;border-radius:3px;background:#f1f1f1}
.chart{display:grid;grid-template-columns:max-content 1fr max-content;gap:.3em .8em;align-items:center;max-width:60em}
.bar{display:flex;height:1em;background:#eee;border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%}
.filters{margin:1.2em 0 .6em;display:flex;gap:1em;align-items:center}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#fafafa}
.v{color:#fff;font-weight:bold;padding:.05em .4em;border-radius:3px;font-size:.85em;white-space:nowrap}
pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;padding:.6em;margin:.3em 0;max-height:30em;overflow:auto}
.why{color:#555}
tr[hidden]{display:none}
"#;

const SCRIPT: &str = r#"
(function () {
  var verdict = document.getElementById('verdict');
  var area = document.getElementById('area');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.scenario'));
  var shown = document.getElementById('shown');
  function fromHash() {
    var h = new URLSearchParams(location.hash.replace(/^#/, ''));
    [[verdict, h.get('verdict')], [area, h.get('area')]].forEach(function (p) {
      if (p[1] === null) return;
      for (var i = 0; i < p[0].options.length; i++) {
        if (p[0].options[i].value === p[1]) { p[0].selectedIndex = i; }
      }
    });
  }
  function apply(write) {
    var v = verdict.value, a = area.value, n = 0;
    rows.forEach(function (r) {
      var ok = (v === '' || r.dataset.verdict === v) && (a === '' || r.dataset.area === a);
      r.hidden = !ok;
      if (ok) n++;
    });
    shown.textContent = 'showing ' + n + ' of ' + rows.length + ' scenarios';
    if (write) {
      var h = new URLSearchParams();
      if (v) h.set('verdict', v);
      if (a) h.set('area', a);
      history.replaceState(null, '', '#' + h.toString());
    }
  }
  verdict.addEventListener('change', function () { apply(true); });
  area.addEventListener('change', function () { apply(true); });
  window.addEventListener('hashchange', function () { fromHash(); apply(false); });
  fromHash();
  apply(false);
  document.body.setAttribute('data-ready', 'true');
})();
"#;

/// The report of a run against `server`, generated at `timestamp`.
pub fn html_report(
    records: &[Record],
    expected: &BTreeMap<String, String>,
    strict: bool,
    server: &str,
    timestamp: &str,
) -> String {
    let s = summarize(records, expected, strict);
    let verdicts: Vec<Verdict> = records
        .iter()
        .map(|r| r.verdict(expected, strict))
        .collect();
    let colour = |v: Verdict| {
        VERDICTS
            .iter()
            .find(|(x, _)| *x == v)
            .map(|(_, c)| *c)
            .unwrap_or("#444")
    };
    let mut areas: BTreeMap<&str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for (r, v) in records.iter().zip(&verdicts) {
        *areas
            .entry(r.feature.as_str())
            .or_default()
            .entry(v.label())
            .or_default() += 1;
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mcp-authcheck: {}</title><style>{STYLE}</style></head>\n<body>\n",
        esc(server)
    );
    let (overall, oc) = if s.failed() {
        ("FAILED", "#c62828")
    } else {
        ("PASSED", "#2e7d32")
    };
    let _ = writeln!(
        out,
        "<h1>mcp-authcheck <span class=\"overall\" id=\"overall\" style=\"background:{oc}\">{overall}</span></h1>\
         <div class=\"meta\">server <code>{}</code> · {} · {} scenarios{}</div>",
        esc(server),
        esc(timestamp),
        records.len(),
        if strict { " · --strict" } else { "" }
    );
    out.push_str("<div class=\"counts\" id=\"counts\">");
    for (k, v) in [
        ("MUST passed", s.must_passed),
        ("MUST failed", s.must_failed),
        ("SHOULD/MAY passed", s.should_passed),
        ("SHOULD warnings", s.warnings),
        ("skipped", s.skipped),
        ("xfail", s.xfail),
        ("stale", s.stale),
        ("fixed", s.fixed),
    ] {
        let _ = write!(out, "<span>{k}: <b>{v}</b></span>");
    }
    out.push_str("</div>\n<h2>Per area</h2>\n<div class=\"chart\" id=\"chart\">\n");
    for (area, counts) in &areas {
        let total: usize = counts.values().sum();
        let _ = write!(out, "<div>{}</div><div class=\"bar\">", esc(area));
        for (v, c) in VERDICTS {
            if let Some(n) = counts.get(v.label()) {
                let _ = write!(
                    out,
                    "<span style=\"width:{:.2}%;background:{c}\" title=\"{}: {n}\"></span>",
                    *n as f64 * 100.0 / total.max(1) as f64,
                    v.label()
                );
            }
        }
        let summary: Vec<String> = VERDICTS
            .iter()
            .filter_map(|(v, _)| counts.get(v.label()).map(|n| format!("{n} {}", v.label())))
            .collect();
        let _ = writeln!(out, "</div><div>{}</div>", summary.join(", "));
    }
    out.push_str("</div>\n<div class=\"filters\"><label>verdict <select id=\"verdict\"><option value=\"\">all</option>");
    for (v, _) in VERDICTS {
        if verdicts.contains(&v) {
            let _ = write!(out, "<option value=\"{0}\">{0}</option>", v.label());
        }
    }
    out.push_str(
        "</select></label><label>area <select id=\"area\"><option value=\"\">all</option>",
    );
    for area in areas.keys() {
        let _ = write!(out, "<option value=\"{0}\">{0}</option>", esc(area));
    }
    // Filled in by the script: a page whose script did not run says so.
    out.push_str(
        "</select></label><span id=\"shown\">(the filter needs JavaScript)</span></div>\n\
         <table id=\"scenarios\"><thead><tr><th>verdict</th><th>item</th><th>level</th><th>area</th><th>scenario</th><th>ms</th></tr></thead><tbody>\n",
    );
    for (r, v) in records.iter().zip(&verdicts) {
        let req = r.req().unwrap_or("req-?");
        let _ = write!(
            out,
            "<tr class=\"scenario\" data-verdict=\"{}\" data-area=\"{}\" data-req=\"{}\">\
             <td><span class=\"v\" style=\"background:{}\">{}</span></td>\
             <td title=\"{}\">{}</td><td>{}</td><td>{}</td><td><span class=\"name\">{}</span>",
            v.label(),
            esc(&r.feature),
            esc(req),
            colour(*v),
            v.label(),
            esc(item_text(req).unwrap_or("")),
            esc(req),
            r.level().name(),
            esc(&r.feature),
            esc(&r.scenario)
        );
        match (&r.outcome, v) {
            (Outcome::Failed(m), _) => {
                let first = m.lines().next().unwrap_or("");
                let _ = write!(
                    out,
                    "<details><summary>{}</summary><pre class=\"exchange\">{}</pre>",
                    esc(first),
                    esc(m)
                );
                if let Some(why) = r.expectation(expected).filter(|_| *v == Verdict::Xfail) {
                    let _ = write!(out, "<div class=\"why\">expected: {}</div>", esc(why));
                }
                out.push_str("</details>");
            }
            (Outcome::Skipped(m), _) => {
                let _ = write!(out, "<div class=\"why\">{}</div>", esc(m));
            }
            (Outcome::Passed, Verdict::Stale | Verdict::Fixed) => {
                let _ = write!(
                    out,
                    "<div class=\"why\">expected to fail ({}), passes now</div>",
                    esc(r.expectation(expected).unwrap_or(""))
                );
            }
            _ => {}
        }
        let _ = writeln!(out, "</td><td>{}</td></tr>", r.millis);
    }
    let _ = write!(
        out,
        "</tbody></table>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_bytes_are_escaped_everywhere() {
        let evil = "<script>alert(1)</script>\"' onmouseover=x \u{7}&amp;";
        let recs = vec![Record {
            feature: format!("Area {evil}"),
            scenario: format!("S {evil}"),
            tags: vec!["req-24".into(), "must".into()],
            outcome: Outcome::Failed(format!("response: 200 | body: {evil}")),
            millis: 3,
            req_failed: false,
            source: "features/audience.feature".into(),
            baselined: None,
        }];
        let html = html_report(&recs, &BTreeMap::new(), false, evil, "t");
        assert_eq!(
            html.matches("<script>").count(),
            1,
            "only our own script: {html}"
        );
        assert!(!html.contains("onmouseover=x \u{7}"), "{html}");
        assert!(!html.contains("\"' onmouseover"), "{html}");
        assert!(
            html.contains(
                "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; onmouseover=x &amp;amp;"
            )
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no network reference"
        );
    }
}
