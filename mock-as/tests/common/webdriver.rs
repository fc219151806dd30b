//! A tiny W3C WebDriver client (plain HTTP + JSON over `reqwest`) driving Debian's headless
//! Chromium through `chromedriver`, for the consent-page and dashboard tests.
//!
//! Why not a crate: fantoccini or chromiumoxide would add a dependency tree to a workspace
//! whose CI compile time is over budget, for the dozen commands used here (new session,
//! navigate, find, click, text, attribute, execute, screenshot, delete session), each one
//! request of the W3C WebDriver spec (<https://www.w3.org/TR/webdriver2/>).
//!
//! The browser is `MCP_AUTHCHECK_CHROMIUM` or `chromium` on `PATH`, the driver
//! `MCP_AUTHCHECK_CHROMEDRIVER` or `chromedriver` (Debian's `chromium-driver` package;
//! `ci/reports.sh --install-browser` installs both). Missing either: the test fails when `CI`
//! is set or `MCP_AUTHCHECK_REQUIRE_BROWSER=1`, else [`Browser::start`] prints `SKIPPED` and
//! returns `None` — the convention of `harness/tests/support/mod.rs` for report.html.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free loopback port with a fresh
//! profile directory, and stops both when dropped (session deleted first, so no Chromium is
//! left behind; the driver is killed by its own process handle).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C key of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long waits poll before failing the test.
pub const WAIT: Duration = Duration::from_secs(15);

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// Chromium: `MCP_AUTHCHECK_CHROMIUM`, else `chromium` (or `chromium-browser`) on `PATH`.
pub fn chromium() -> Option<PathBuf> {
    std::env::var_os("MCP_AUTHCHECK_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromium", "chromium-browser"]))
}

/// chromedriver: `MCP_AUTHCHECK_CHROMEDRIVER`, else `chromedriver` on `PATH`.
pub fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("MCP_AUTHCHECK_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromedriver"]))
}

/// Whether a missing browser fails the test: in CI (`CI` set, not `false`/`0`) or with
/// `MCP_AUTHCHECK_REQUIRE_BROWSER=1`.
pub fn browser_required() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    ci || std::env::var("MCP_AUTHCHECK_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// A WebDriver session in headless Chromium, with the chromedriver it runs on.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>` of the driver.
    driver_url: String,
    /// `/session/<id>`.
    session: String,
    driver: Child,
    profile: PathBuf,
    quit: bool,
}

/// An element reference.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Start chromedriver and a headless Chromium session, or `None` (after printing
    /// `SKIPPED (no chromium/chromedriver): what`) when they are missing outside CI.
    pub async fn start(what: &str) -> Option<Browser> {
        let (browser, driver) = match (chromium(), chromedriver()) {
            (Some(b), Some(d)) => (b, d),
            (b, d) => {
                let missing = match (b, d) {
                    (None, None) => "chromium and chromedriver",
                    (None, _) => "chromium",
                    _ => "chromedriver",
                };
                if browser_required() {
                    panic!(
                        "{what}: no {missing} (required: CI or MCP_AUTHCHECK_REQUIRE_BROWSER=1); `bash ci/reports.sh --install-browser` installs Debian's chromium and chromium-driver"
                    );
                }
                eprintln!(
                    "SKIPPED (no {missing}): {what} — the browser checks did not run; `bash ci/reports.sh --install-browser` installs them"
                );
                return None;
            }
        };
        Some(Browser::launch(&browser, &driver).await)
    }

    async fn launch(browser: &Path, driver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let profile =
            std::env::temp_dir().join(format!("mock-as-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut b = Browser {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            driver_url: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            driver: child,
            profile,
            quit: false,
        };
        // Ready when /status says so.
        let started = Instant::now();
        loop {
            let ready = b
                .http
                .get(format!("{}/status", b.driver_url))
                .send()
                .await
                .ok();
            let ready = match ready {
                Some(r) => r.json::<Value>().await.ok(),
                None => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                break;
            }
            if let Ok(Some(status)) = b.driver.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not become ready on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The closed network here: without the background-networking flags Chromium hangs on
        // its own update and sync requests.
        let args = json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--window-size=900,1000",
            format!("--user-data-dir={}", b.profile.display()),
        ]);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {"binary": browser.display().to_string(), "args": args},
        }}});
        let v = b
            .raw("POST", "/session", Some(caps))
            .await
            .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        let id = v["sessionId"].as_str().expect("sessionId").to_string();
        b.session = format!("/session/{id}");
        b
    }

    /// One WebDriver command; its `value`, or the error the driver answered.
    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.driver_url);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let r = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{method} {path}: {status}: {} {}",
                v["value"]["error"], v["value"]["message"]
            ));
        }
        Ok(v["value"].clone())
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("{}{path}", self.session);
        self.raw(method, &p, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    /// Navigate and wait for the load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_string())))
            .collect()
    }

    /// The first element matching, waiting up to [`WAIT`] for it.
    pub async fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                started.elapsed() < WAIT,
                "no element {css:?} within {WAIT:?} at {}; page:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click an element.
    pub async fn click(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), None)
            .await;
    }

    /// Click the first element matching `css` (waiting for it).
    pub async fn click_css(&self, css: &str) {
        let e = self.find(css).await;
        self.click(&e).await;
    }

    /// An element's rendered text.
    pub async fn text(&self, e: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", e.0), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The rendered text of the first element matching `css` (waiting for it).
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    /// An element's attribute, if it has it.
    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/attribute/{name}", e.0), None)
            .await
            .as_str()
            .map(str::to_string)
    }

    /// Whether an element is selected (checkboxes, options).
    pub async fn selected(&self, e: &Element) -> bool {
        self.cmd("GET", &format!("/element/{}/selected", e.0), None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// Whether an element is enabled.
    pub async fn enabled(&self, e: &Element) -> bool {
        self.cmd("GET", &format!("/element/{}/enabled", e.0), None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// Clear a text field and type into it.
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.cmd("POST", &format!("/element/{}/clear", e.0), None)
            .await;
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Run a synchronous script in the page; its return value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Wait until the text of the first element matching `css` contains `needle`; the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let els = self.find_all(css).await;
            let mut last = String::new();
            for e in &els {
                // The element may be replaced between the find and the read: try again.
                if let Ok(v) = self
                    .raw(
                        "GET",
                        &format!("{}/element/{}/text", self.session, e.0),
                        None,
                    )
                    .await
                {
                    last = v.as_str().unwrap_or_default().to_string();
                    if last.contains(needle) {
                        return last;
                    }
                }
            }
            assert!(
                started.elapsed() < WAIT,
                "{css:?} never contained {needle:?} within {WAIT:?} (last: {last:?}); page:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Resize the window (CSS pixels).
    pub async fn window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// End the session (closes Chromium) and stop the driver.
    pub async fn quit(mut self) {
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &self.session.clone(), None).await;
        }
        self.quit = true;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked never called `quit`: delete the session with a plain blocking
        // request (no runtime in a destructor), so Chromium does not outlive the test.
        if !self.quit && !self.session.is_empty() {
            let addr = self.driver_url.trim_start_matches("http://").to_string();
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A loopback HTTP server standing in for an OAuth client's redirect URI: it records every
/// request target it gets and answers a small page.
pub struct Callback {
    /// `http://127.0.0.1:<port>/callback`.
    pub url: String,
    hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Callback {
    /// Start it.
    pub async fn start() -> Callback {
        use axum::extract::{OriginalUri, State};
        use axum::response::Html;
        type Hits = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
        async fn hit(State(h): State<Hits>, OriginalUri(u): OriginalUri) -> Html<&'static str> {
            h.lock().unwrap().push(u.to_string());
            Html("<!doctype html><title>callback</title><h1 id=\"callback\">callback received</h1>")
        }
        let hits: Hits = Default::default();
        let app = axum::Router::new()
            .route("/callback", axum::routing::get(hit))
            .with_state(hits.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", l.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Callback {
            url,
            hits,
            _stop: tx,
        }
    }

    /// The query parameters of the first request, waiting up to [`WAIT`] for it.
    pub async fn wait(&self) -> Vec<(String, String)> {
        let started = Instant::now();
        loop {
            if let Some(target) = self.hits.lock().unwrap().first().cloned() {
                let u = url::Url::parse(&format!("http://x{target}")).unwrap();
                return u.query_pairs().into_owned().collect();
            }
            assert!(
                started.elapsed() < WAIT,
                "the redirect URI was never reached"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The value of `name` in query pairs.
pub fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
