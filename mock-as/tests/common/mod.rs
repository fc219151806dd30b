//! Test support: a real `mock-as` listener on 127.0.0.1:0 with the embedded default config,
//! plus small helpers for PKCE and the authorization-code dance.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The embedded default's ids (fixtures/mock-as/default.toml).
pub const PID: &str = "P2mockAsDefaultProject000001";
pub const SID: &str = "MS2calendar";
pub const SIBLING: &str = "MS2notes";
pub const RESOURCE: &str = "http://127.0.0.1:8001/mcp";
pub const PUBLIC_CLIENT: &str = "mcp-cli";
pub const PUBLIC_REDIRECT: &str = "http://127.0.0.1:33418/callback";
pub const CONF_CLIENT: &str = "ci-service";
pub const CONF_SECRET: &str = "ci-service-secret-test-only";
pub const MGMT_KEY: &str = "K2mgmtKeyTestOnly";

/// A running server; dropping it shuts the server down.
pub struct Mock {
    pub base: String,
    pub http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Mock {
    /// Start with the embedded default configuration.
    pub async fn start() -> Mock {
        Mock::start_with(
            mock_as::Config::embedded_default().expect("default config"),
            None,
        )
        .await
    }

    /// Start with a given configuration and optional admin token.
    pub async fn start_with(config: mock_as::Config, admin: Option<String>) -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mock_as::serve(listener, config, admin, async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Mock {
            base,
            http,
            _shutdown: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    pub fn issuer(&self, sid: &str) -> String {
        format!("{}/v1/apps/agentic/{PID}/{sid}", self.base)
    }
    pub fn authorize_url(&self) -> String {
        self.url(&format!("/oauth2/v1/apps/agentic/{PID}/{SID}/authorize"))
    }
    pub fn token_url(&self) -> String {
        self.url(&format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token"))
    }

    /// GET a path, return (status, JSON body).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON to a control path, return (status, JSON body).
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// POST a form to a URL, return (status, JSON body).
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(url).form(form).send().await.expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Mint a token through the control API.
    pub async fn mint(&self, body: Value) -> Value {
        let (s, v) = self.control("/_mock/tokens", body).await;
        assert_eq!(s, 200, "mint failed: {v}");
        v
    }

    /// Run /authorize for the public client with PKCE; return (redirect Location, verifier).
    pub async fn authorize(&self, extra: &[(&str, &str)]) -> (reqwest::Response, String) {
        let verifier = new_verifier();
        let challenge = s256(&verifier);
        let mut q: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", PUBLIC_CLIENT),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
            ("resource", RESOURCE),
            ("scope", "mcp:read calendar.read"),
        ];
        for (k, v) in extra {
            q.retain(|(qk, _)| qk != k);
            q.push((k, v));
        }
        q.retain(|(_, v)| !v.is_empty());
        let r = self
            .http
            .get(self.authorize_url())
            .query(&q)
            .send()
            .await
            .expect("send");
        (r, verifier)
    }

    /// A full authorization-code flow for the public client; returns the token response.
    pub async fn code_flow(&self, extra: &[(&str, &str)]) -> Value {
        let (r, verifier) = self.authorize(extra).await;
        assert_eq!(r.status().as_u16(), 302, "authorize did not redirect");
        let code = query_param(&location(&r), "code").expect("code in redirect");
        let (s, v) = self
            .post_form(
                &self.token_url(),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", PUBLIC_CLIENT),
                    ("redirect_uri", PUBLIC_REDIRECT),
                    ("code_verifier", &verifier),
                    ("resource", RESOURCE),
                ],
            )
            .await;
        assert_eq!(s, 200, "token exchange failed: {v}");
        v
    }

    /// Introspect with the confidential client's credentials.
    pub async fn introspect(&self, token: &str) -> Value {
        let r = self
            .http
            .post(self.url(&format!("/oauth2/v1/apps/{PID}/introspect")))
            .basic_auth(CONF_CLIENT, Some(CONF_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.expect("json")
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn new_verifier() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn s256(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

/// Decode a JWT's header and claims without verifying.
pub fn decode_parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    let dec = |s: Option<&str>| -> Value {
        let b = URL_SAFE_NO_PAD.decode(s.unwrap_or_default()).expect("b64");
        serde_json::from_slice(&b).expect("json")
    };
    let h = dec(it.next());
    let c = dec(it.next());
    (h, c)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn empty() -> Value {
    json!({})
}
