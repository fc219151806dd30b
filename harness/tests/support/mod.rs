//! Shared by the report tests: SARIF schema validation and rendering report.html in headless
//! Chromium.
//!
//! The schema is the OASIS SARIF 2.1.0 JSON schema (`$id`
//! …/oasis-tcs/sarif-spec/…/Schemata/sarif-schema-2.1.0.json), vendored at
//! `tests/data/sarif-schema-2.1.0.json` (copied from the `serde-sarif` 0.8.0 crate's
//! `src/schema.json`, which is that file) and checked with the `jsonschema` crate, formats
//! included, without resolving anything over the network.
//!
//! The browser is Debian's `chromium` (or `MCP_AUTHCHECK_CHROMIUM`): `--headless --dump-dom`
//! prints the DOM after the page's script ran. Without one, a test prints `SKIPPED (no
//! chromium)` and does not claim the check; with `MCP_AUTHCHECK_REQUIRE_BROWSER=1` (set by
//! `ci/reports.sh`, which installs chromium) a missing browser fails the test instead.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every schema violation of the SARIF file at `path` (empty = valid).
pub fn sarif_errors(path: &Path) -> Vec<String> {
    // The OASIS file has a known typo in the `language` patterns (a stray `]` that makes the
    // regex invalid, so the schema fails its own meta-schema's `format: regex`); the file stays
    // verbatim and the pattern is read as what it evidently means ("en" or "en-US"). The suite
    // never writes `language`.
    let text = include_str!("../data/sarif-schema-2.1.0.json").replace(
        "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
        "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
    );
    let schema: serde_json::Value =
        serde_json::from_str(&text).expect("the vendored schema is JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the vendored schema compiles");
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("results.sarif is readable"))
            .expect("results.sarif is JSON");
    validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The Chromium binary, if there is one.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MCP_AUTHCHECK_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Whether a missing browser must fail the test (`MCP_AUTHCHECK_REQUIRE_BROWSER=1`).
pub fn browser_required() -> bool {
    std::env::var("MCP_AUTHCHECK_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// The browser, or `None` after saying loudly that the rendered-page checks are skipped.
pub fn browser_or_skip(what: &str) -> Option<PathBuf> {
    match chromium() {
        Some(p) => Some(p),
        None if browser_required() => {
            panic!(
                "MCP_AUTHCHECK_REQUIRE_BROWSER=1 but no chromium on PATH (ci/reports.sh installs it)"
            )
        }
        None => {
            eprintln!(
                "SKIPPED (no chromium): {what} — the rendered-page checks did not run; ci/reports.sh installs chromium and runs them"
            );
            None
        }
    }
}

/// The DOM of `file` (with `fragment`, e.g. `#verdict=FAIL`) after its script ran.
pub fn rendered_dom(browser: &Path, file: &Path, fragment: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "mcp-authcheck-chromium-{}-{}",
        std::process::id(),
        fragment.len()
    ));
    let url = format!(
        "file://{}{fragment}",
        file.canonicalize().expect("report.html exists").display()
    );
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "chromium printed no DOM for {url} (exit {:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// One scenario row of a rendered report.
#[derive(Debug, Clone)]
pub struct Row {
    /// `data-verdict`.
    pub verdict: String,
    /// `data-area`.
    pub area: String,
    /// The scenario name (unescaped).
    pub name: String,
    /// The row has the `hidden` attribute (filtered out).
    pub hidden: bool,
    /// The row's inner HTML.
    pub html: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The scenario rows of a rendered DOM.
pub fn rows(dom: &str) -> Vec<Row> {
    dom.split("<tr class=\"scenario\"")
        .skip(1)
        .map(|chunk| {
            let tag_end = chunk.find('>').unwrap_or(chunk.len());
            let tag = &chunk[..tag_end];
            let html = chunk[tag_end..]
                .split("</tr>")
                .next()
                .unwrap_or_default()
                .to_string();
            let name = html
                .split("<span class=\"name\">")
                .nth(1)
                .and_then(|s| s.split("</span>").next())
                .map(unescape)
                .unwrap_or_default();
            Row {
                verdict: attr(tag, "data-verdict").unwrap_or_default(),
                area: attr(tag, "data-area").unwrap_or_default(),
                name,
                hidden: tag.contains(" hidden"),
                html,
            }
        })
        .collect()
}

/// The text of the element with `id` (the first text up to its closing tag).
pub fn text_of(dom: &str, id: &str) -> String {
    let key = format!("id=\"{id}\"");
    dom.split(&key)
        .nth(1)
        .and_then(|s| s.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .map(unescape)
        .unwrap_or_default()
}

/// (name, status) of every check in a report dir's checks.json.
pub fn checks(dir: &Path) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checks.json")).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The `mcp-authcheck` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-authcheck");

/// The reference server's binary, built on demand (it is another package of the workspace).
pub fn reference_server() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let st = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "reference-server"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(st.success(), "cargo build -p reference-server failed");
    let exe = Path::new(BIN).with_file_name("reference-server");
    assert!(
        exe.exists(),
        "no reference-server binary at {}",
        exe.display()
    );
    exe
}

/// A free loopback port (the kernel picks; the race until reuse is acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mcp-authcheck run --url … [extra] -- reference-server [--flaw FLAW]` in `dir`, with `env`
/// set and GitHub's variables removed unless given.
pub fn run_against_reference(
    dir: &Path,
    flaw: Option<&str>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let flaw = flaw.map(|f| format!(" --flaw {f}")).unwrap_or_default();
    let cmd = format!(
        "'{}' --issuer \"$MOCK_AS_ISSUER\" --listen 127.0.0.1:{port}{flaw}",
        reference_server().display()
    );
    let mut c = Command::new(BIN);
    c.arg("run")
        .args(["--url", &url])
        .args(extra)
        .arg("--")
        .arg(cmd);
    c.current_dir(dir)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

/// stdout and stderr of a run, for messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
