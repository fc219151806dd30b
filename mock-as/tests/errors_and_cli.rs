#![allow(clippy::unwrap_used)]
//! Error shapes by path family, the admin token, and the `mock-as` command line (check-config,
//! the ready file, refusing a public bind without an admin token).

mod common;
use common::*;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mock-as");
const DEFAULT_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/mock-as/default.toml"
);

// ---- helpers -------------------------------------------------------------------------------

fn assert_oauth_shape(v: &Value) {
    assert!(
        v["error"].as_str().is_some_and(|e| !e.is_empty()),
        "OAuth error lacks error: {v}"
    );
    assert!(
        v["error_description"].is_string(),
        "OAuth error lacks error_description: {v}"
    );
    assert!(v.get("errorCode").is_none(), "{v}");
}

fn assert_descope_shape(v: &Value) {
    for f in ["errorCode", "errorDescription", "errorMessage"] {
        assert!(v[f].is_string(), "Descope error lacks {f}: {v}");
    }
    assert!(v.get("error").is_none(), "{v}");
}

/// Status, headers and JSON body (Null if the body is not JSON).
async fn send(rb: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    let b = r.bytes().await.unwrap();
    (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn is_json(h: &reqwest::header::HeaderMap) -> bool {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"))
}

/// A fresh scratch directory (no tempfile crate here); removed by the caller.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mock-as-test-{}-{name}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mock_as() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("MOCK_AS_CONFIG")
        .env_remove("MOCK_AS_ADMIN_TOKEN")
        .stdin(Stdio::null());
    c
}

/// Run `mock-as check-config <file>`; (exit success, stdout, stderr).
fn check_config(file: &Path) -> (bool, String, String) {
    let out = mock_as().arg("check-config").arg(file).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Write a variant of the default configuration and check it; returns (file, stderr) of a
/// failed check.
fn failing_config(name: &str, text: &str) -> (PathBuf, String) {
    let dir = scratch(name);
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let (ok, stdout, stderr) = check_config(&file);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok, "{name}: check-config accepted it: {stdout}");
    (file, stderr)
}

// ---- error shapes --------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_get_their_family_shape() {
    let m = Mock::start().await;
    for path in ["/oauth2/v1/apps/nope", "/oauth2/nothing/here"] {
        let (s, h, v) = send(m.http.get(m.url(path))).await;
        assert_eq!(s, 404, "{path}: {v}");
        assert!(is_json(&h), "{path}");
        assert_oauth_shape(&v);
    }
    for path in ["/v1/nope", "/v1/mgmt/nothing", "/v2/nope"] {
        let (s, h, v) = send(m.http.get(m.url(path))).await;
        assert_eq!(s, 404, "{path}: {v}");
        assert!(is_json(&h), "{path}");
        assert_descope_shape(&v);
    }
}

#[tokio::test]
async fn wrong_method_on_the_token_endpoint_is_405_with_allow() {
    let m = Mock::start().await;
    let (s, h, v) = send(m.http.get(m.token_url())).await;
    assert_eq!(s, 405, "{v}");
    assert!(is_json(&h));
    assert_oauth_shape(&v);
    let allow = h
        .get("allow")
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(allow.contains("POST"), "Allow: {allow:?}");
}

#[tokio::test]
async fn oversized_body_to_the_token_endpoint_is_413() {
    let m = Mock::start().await;
    let big = format!(
        "grant_type=client_credentials&client_id={CONF_CLIENT}&client_secret={CONF_SECRET}&pad={}",
        "a".repeat(70 * 1024)
    );
    let (s, h, v) = send(
        m.http
            .post(m.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big),
    )
    .await;
    assert_eq!(s, 413, "{v}");
    assert!(is_json(&h));
    assert_oauth_shape(&v);
}

#[tokio::test]
async fn unsupported_content_type_on_the_token_endpoint_is_415() {
    let m = Mock::start().await;
    let (s, h, v) = send(
        m.http
            .post(m.token_url())
            .header("content-type", "text/plain")
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(s, 415, "{v}");
    assert!(is_json(&h));
    assert_oauth_shape(&v);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("text/plain"),
        "{v}"
    );
}

#[tokio::test]
async fn malformed_json_to_the_control_api_is_a_json_error() {
    let m = Mock::start().await;
    for (ct, body) in [
        ("application/json", "{\"id\": \"U2x\", "),
        ("application/json", "[1, 2, 3]"),
        ("application/json", "{\"id\": 42, \"login_id\": \"x\"}"),
    ] {
        let (s, h, v) = send(
            m.http
                .post(m.url("/_mock/users"))
                .header("content-type", ct)
                .body(body),
        )
        .await;
        assert!((400..500).contains(&s), "{body}: status {s}: {v}");
        assert!(is_json(&h), "{body}");
        assert!(v["error"].is_string(), "{body}: {v}");
        assert!(v["message"].is_string(), "{body}: {v}");
    }
    let (_, info) = m.get_json("/_mock/info").await;
    assert_eq!(info["users"].as_array().unwrap().len(), 3, "{info}");
}

#[tokio::test]
async fn license_needs_a_management_key() {
    let m = Mock::start().await;
    let (s, _, v) = send(m.http.get(m.url("/v1/mgmt/license"))).await;
    assert_eq!(s, 401, "{v}");
    assert_descope_shape(&v);
    let (s, _, v) = send(
        m.http
            .get(m.url("/v1/mgmt/license"))
            .bearer_auth(format!("{PID}:wrong-key")),
    )
    .await;
    assert_eq!(s, 401, "{v}");
    assert_descope_shape(&v);
    let (s, _, v) = send(
        m.http
            .get(m.url("/v1/mgmt/license"))
            .bearer_auth(format!("{PID}:{MGMT_KEY}")),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["rateLimitTier"].is_string(), "{v}");
}

// ---- admin token ---------------------------------------------------------------------------

#[tokio::test]
async fn admin_token_guards_the_control_api_only() {
    let m = Mock::start_with(
        mock_as::Config::embedded_default().unwrap(),
        Some("s3cret".into()),
    )
    .await;
    let (s, _, v) = send(m.http.get(m.url("/_mock/info"))).await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    let (s, _, _) = send(m.http.get(m.url("/_mock/info")).bearer_auth("wrong")).await;
    assert_eq!(s, 401);
    let (s, _, v) = send(m.http.get(m.url("/_mock/info")).bearer_auth("s3cret")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["project_id"], PID);
    // Mutating calls too.
    let (s, _, _) = send(
        m.http
            .post(m.url("/_mock/tokens"))
            .json(&json!({"user": "U2alice"})),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, v) = send(
        m.http
            .post(m.url("/_mock/tokens"))
            .bearer_auth("s3cret")
            .json(&json!({"user": "U2alice"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // The OAuth and Descope endpoints need no admin token.
    let (s, doc) = m
        .get_json(&format!(
            "/v1/apps/agentic/{PID}/{SID}/.well-known/openid-configuration"
        ))
        .await;
    assert_eq!(s, 200, "{doc}");
    let (s, jwks) = m.get_json(&format!("/{PID}/.well-known/jwks.json")).await;
    assert_eq!(s, 200, "{jwks}");
    let (s, tok) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CONF_CLIENT),
                ("client_secret", CONF_SECRET),
            ],
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let r = m.introspect(tok["access_token"].as_str().unwrap()).await;
    assert_eq!(r["active"], true, "{r}");
}

// ---- CLI -----------------------------------------------------------------------------------

#[test]
fn check_config_accepts_the_default_fixture() {
    let (ok, stdout, stderr) = check_config(Path::new(DEFAULT_FIXTURE));
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
}

#[test]
fn check_config_names_file_and_unknown_field() {
    let text = mock_as::config::DEFAULT_TOML.replacen(
        "[project]",
        "[project]\nfavourite_colour = \"teal\"",
        1,
    );
    let (file, stderr) = failing_config("unknown-field", &text);
    assert!(
        stderr.contains(&file.display().to_string()),
        "stderr should name {}: {stderr}",
        file.display()
    );
    assert!(stderr.contains("favourite_colour"), "{stderr}");
}

#[test]
fn check_config_names_a_bad_project_id() {
    let text = mock_as::config::DEFAULT_TOML.replace(PID, "Pshort");
    let (file, stderr) = failing_config("bad-project-id", &text);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("project.id"), "{stderr}");
}

#[test]
fn check_config_names_a_missing_key_file() {
    let text = mock_as::config::DEFAULT_TOML.replacen(
        "pem = \"builtin:rs256-1\"",
        "pem = \"keys/does-not-exist.pem\"",
        1,
    );
    assert_ne!(text, mock_as::config::DEFAULT_TOML);
    let (file, stderr) = failing_config("missing-pem", &text);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("keys[0].pem"), "{stderr}");
    assert!(stderr.contains("does-not-exist.pem"), "{stderr}");
}

#[test]
fn public_bind_without_admin_token_is_refused() {
    let out = mock_as()
        .args(["--bind", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "it started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--admin-token"), "{stderr}");
}

/// Kills the child (by its own process id, through the handle) even if an assertion fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn ready_file_describes_a_running_server() {
    let dir = scratch("ready");
    let ready = dir.join("ready.json");
    let mut child = Child(
        mock_as()
            .arg("--port")
            .arg("0")
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Bounded wait: up to 10 s in 50 ms steps.
    let mut found = false;
    for _ in 0..200 {
        if ready.exists() {
            found = true;
            break;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("mock-as exited before it was ready: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "no ready file after 10 s");
    let summary: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
    let base = summary["base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{summary}");
    assert_eq!(summary["project_id"], PID);
    assert_eq!(summary["pid"], child.0.id());
    let servers = summary["servers"].as_array().unwrap();
    assert_eq!(servers[0]["id"], SID);
    let wk = servers[0]["well_known"].as_str().unwrap();
    assert!(wk.starts_with(base), "{wk}");

    let r = reqwest::get(wk).await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], servers[0]["issuer"]);
    assert_eq!(doc["issuer"], format!("{base}/v1/apps/agentic/{PID}/{SID}"));

    child.0.kill().unwrap();
    child.0.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// `mock-as --consent interactive`: `/authorize` is an HTML page with the scope descriptions and
/// Approve / Deny, `/_mock/ui` is HTML, and the start-up output says so.
#[tokio::test]
async fn consent_interactive_flag_serves_the_consent_page_and_the_dashboard() {
    let dir = scratch("consent");
    let ready = dir.join("ready.json");
    let out = dir.join("stdout.txt");
    let mut child = Child(
        mock_as()
            .args(["--consent", "interactive", "--port", "0", "--ready-file"])
            .arg(&ready)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..200 {
        if ready.exists() {
            break;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("mock-as exited before it was ready: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
    let base = summary["base_url"].as_str().unwrap();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGp9kmuGn0";
    let r = reqwest::get(format!(
        "{base}/oauth2/v1/apps/agentic/{PID}/{SID}/authorize?response_type=code&client_id=mcp-cli\
         &redirect_uri=http%3A%2F%2F127.0.0.1%3A33418%2Fcallback&code_challenge={challenge}\
         &code_challenge_method=S256&scope=mcp%3Aread"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("Use the server&#39;s tools"), "{page}");
    assert!(page.contains(">Approve</button>") && page.contains(">Deny</button>"));
    let r = reqwest::get(format!("{base}/_mock/ui")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let stdout = std::fs::read_to_string(&out).unwrap();
    assert!(stdout.contains("consent:    interactive"), "{stdout}");
    assert!(
        stdout.contains(&format!("dashboard:  {base}/_mock/ui")),
        "{stdout}"
    );
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn consent_flag_refuses_an_unknown_mode() {
    let out = mock_as()
        .args(["--consent", "sometimes", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("headless") && stderr.contains("interactive"),
        "{stderr}"
    );
}
