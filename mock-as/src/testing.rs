//! A real mock-as listener for tests (feature `testing`): one place that binds `127.0.0.1:0`,
//! serves a configuration, hands back the base URL and shuts the server down on drop, plus the
//! JSON helpers every test of the control API and the OAuth surface needs.
//!
//! The workspace's own tests (mock-as's, the reference server's, the suite's) use it instead of
//! each keeping a near-copy. It is test support: its helpers panic with a message naming the
//! request when the server cannot be reached, which is what a test wants.
//!
//! ```no_run
//! # async fn demo() {
//! let mock = mock_as::testing::TestServer::start().await;
//! let (status, body) = mock.get_json("/_mock/info").await;
//! assert_eq!(status, 200, "{body}");
//! # }
//! ```

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::Config;

/// The embedded default's ids (`fixtures/mock-as/default.toml`), for tests written against it.
pub mod defaults {
    /// The project id.
    pub const PID: &str = "P2mockAsDefaultProject000001";
    /// The calendar MCP server (`http://127.0.0.1:8001/mcp`).
    pub const SID: &str = "MS2calendar";
    /// The notes MCP server, the calendar's sibling (`http://127.0.0.1:8002/mcp`).
    pub const SIBLING: &str = "MS2notes";
    /// The calendar server's resource URL.
    pub const RESOURCE: &str = "http://127.0.0.1:8001/mcp";
    /// The public (PKCE) client.
    pub const PUBLIC_CLIENT: &str = "mcp-cli";
    /// The public client's registered redirect URI.
    pub const PUBLIC_REDIRECT: &str = "http://127.0.0.1:33418/callback";
    /// The confidential client.
    pub const CONF_CLIENT: &str = "ci-service";
    /// The confidential client's secret (test-only).
    pub const CONF_SECRET: &str = "ci-service-secret-test-only";
    /// The management key (test-only).
    pub const MGMT_KEY: &str = "K2mgmtKeyTestOnly";
}

/// A running mock-as on a loopback port of its own; dropping it shuts the server down.
#[derive(Debug)]
pub struct TestServer {
    base: String,
    project_id: String,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Start with the embedded default configuration and an open control API.
    ///
    /// # Panics
    /// When the embedded default does not load or no loopback port can be bound.
    pub async fn start() -> TestServer {
        let config = Config::embedded_default()
            .unwrap_or_else(|e| panic!("the embedded default config does not load: {e}"));
        TestServer::start_with(config, None).await
    }

    /// Start with `config`; `admin_token`, when set, protects `/_mock/` (as `--admin-token`).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with(config: Config, admin_token: Option<String>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        let base = crate::base_url_for(&config, &listener)
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        let project_id = config.project.id.clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(crate::serve(listener, config, admin_token, async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A safety net against a hung test, not a timing assertion.
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|e| panic!("no HTTP client: {e}"));
        TestServer {
            base,
            project_id,
            http,
            shutdown: Some(tx),
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The HTTP client the helpers use (never follows redirects).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The Descope-style issuer of MCP server `sid`: `<base>/v1/apps/agentic/<pid>/<sid>`.
    pub fn issuer(&self, sid: &str) -> String {
        format!("{}/v1/apps/agentic/{}/{sid}", self.base, self.project_id)
    }

    /// Send a request; return its status and JSON body (`Null` when the body is not JSON).
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> (u16, Value) {
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {} failed: {e}", self.base));
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET path`.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.put(self.url(path)).json(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.patch(self.url(path)).json(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    /// `POST` a form to a full URL (token, revoke, register endpoints).
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.send(self.http.post(url).form(form)).await
    }

    /// Mint a token through the control API (`body` as `POST /_mock/tokens` takes it) and
    /// return the response (`access_token`, …).
    ///
    /// # Panics
    /// When minting is refused.
    pub async fn mint(&self, body: &Value) -> Value {
        let (s, v) = self.post_json("/_mock/tokens", body).await;
        assert_eq!(s, 200, "mint {body} failed: {v}");
        v
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
