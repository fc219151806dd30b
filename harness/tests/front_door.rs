//! The `mcp-authcheck` binary as a user runs it: from an empty directory, against the reference
//! server started through `-- COMMAND`, with no profile; the one-line refusals for a server
//! that is down, a URL that is not an MCP endpoint and a server that trusts another issuer; and
//! `init`'s profile read back giving the same verdicts as the run without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod support;
use support::{BIN, reference_server};
/// A refusal must come well within this (the bound is 30 s; start-up included).
const REFUSAL_BOUND: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn empty_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mcp-authcheck-front-door-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_in(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("CI", "true")
        .output()
        .expect("the binary runs");
    (out, start.elapsed())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Verdict per scenario from a report dir's checks.json.
fn verdicts(dir: &Path) -> BTreeMap<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checks.json")).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn reference_command(port: u16) -> String {
    format!(
        "'{}' --issuer \"$MOCK_AS_ISSUER\" --listen 127.0.0.1:{port}",
        reference_server().display()
    )
}

#[test]
fn the_reference_server_passes_with_no_profile_and_init_reads_back_the_same() {
    let dir = empty_dir();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let cmd = reference_command(port);
    let (out, _) = run_in(
        &dir,
        &["run", "--url", &url, "--report-dir", "wire", "--", &cmd],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("learned from the wire"), "{t}");
    assert!(t.contains("MUST failed          |     0"), "{t}");
    let wire = verdicts(&dir.join("wire"));
    assert!(wire.len() > 50, "{wire:?}");

    // init → profile → run with it: the same verdicts.
    let port = free_port();
    let url2 = format!("http://127.0.0.1:{port}/mcp");
    let cmd2 = reference_command(port);
    let (out, _) = run_in(
        &dir,
        &["init", "--url", &url2, "-o", "server.toml", "--", &cmd2],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let profile = std::fs::read_to_string(dir.join("server.toml")).unwrap();
    assert!(
        profile.contains("stateful = true  # initialize answered with an Mcp-Session-Id"),
        "{profile}"
    );
    assert!(profile.contains("name = \"admin_action\""), "{profile}");
    // init refuses to overwrite.
    let (out, _) = run_in(
        &dir,
        &["init", "--url", &url2, "-o", "server.toml", "--", &cmd2],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"));
    let (out, _) = run_in(
        &dir,
        &[
            "run",
            "--url",
            &url2,
            "--profile",
            "server.toml",
            "--report-dir",
            "init",
            "--",
            &cmd2,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let with_init = verdicts(&dir.join("init"));
    assert_eq!(wire, with_init, "init's profile gives other verdicts");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_that_is_down_ends_the_run_with_one_line() {
    let dir = empty_dir();
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let (out, took) = run_in(&dir, &["run", "--url", &url, "--mock-as-port", "0"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(took < REFUSAL_BOUND, "took {took:?}");
    assert!(
        err.contains(&url) && err.contains("is the server running"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_url_that_is_not_an_mcp_endpoint_ends_the_run_with_one_line() {
    // A listener that answers every request with a 404 HTML page.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<html><body>Not Found</body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = empty_dir();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let (out, took) = run_in(&dir, &["run", "--url", &url, "--mock-as-port", "0"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(took < REFUSAL_BOUND, "took {took:?}");
    assert!(
        err.contains("not an MCP endpoint") && err.contains("404"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_that_trusts_another_issuer_is_told_where_to_point() {
    let dir = empty_dir();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    // Its issuer is on a closed loopback port: it can fetch no key and refuses every token.
    let other = format!(
        "http://127.0.0.1:{}/v1/apps/agentic/P2mockAsDefaultProject000001/MS2other",
        free_port()
    );
    let cmd = format!(
        "'{}' --issuer '{other}' --listen 127.0.0.1:{port}",
        reference_server().display()
    );
    let (out, took) = run_in(&dir, &["run", "--url", &url, "--", &cmd]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(took < REFUSAL_BOUND, "took {took:?}");
    let last = err.trim().lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains(&other) && last.contains("point your server at"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = empty_dir();
    let (out, _) = run_in(&dir, &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--url"), "{}", text(&out));
    let (out, _) = run_in(&dir, &["run", "--url", "ftp://x/mcp"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let (out, _) = run_in(
        &dir,
        &[
            "run",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--profile",
            "missing.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_is_mock_as_and_run_uses_it_with_mock_as_base() {
    let dir = empty_dir();
    let ready = dir.join("ready.json");
    let mut serve = Command::new(BIN)
        .args(["serve", "--port", "0", "--ready-file"])
        .arg(&ready)
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ready).expect("serve wrote its ready file"))
            .unwrap();
    let base = info["base_url"].as_str().unwrap().to_string();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let cmd = reference_command(port);
    let (out, _) = run_in(
        &dir,
        &[
            "run",
            "--url",
            &url,
            "--mock-as",
            &base,
            "--filter",
            "req-24",
            "--",
            &cmd,
        ],
    );
    let t = text(&out);
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(out.status.code(), Some(0), "{t}");
    // The probe and the scenarios used the running mock-as: its issuer is the trusted one.
    assert!(
        t.contains(&format!("(issuer {base}/v1/apps/agentic/")),
        "{t}"
    );
    assert!(t.contains("MUST passed"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}
