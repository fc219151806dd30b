//! Test support: a real `mock-as` listener on 127.0.0.1:0 with the embedded default config,
//! plus small helpers for PKCE and the authorization-code dance.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use mock_as::testing::TestServer;
// Not every test crate that includes this module uses each id.
#[allow(unused_imports)]
pub use mock_as::testing::defaults::{
    CONF_CLIENT, CONF_SECRET, MGMT_KEY, PID, PUBLIC_CLIENT, PUBLIC_REDIRECT, RESOURCE, SIBLING, SID,
};

/// A running server (`mock_as::testing::TestServer`); dropping it shuts the server down.
pub struct Mock {
    pub base: String,
    pub http: reqwest::Client,
    server: TestServer,
}

impl Mock {
    /// Start with the embedded default configuration.
    pub async fn start() -> Mock {
        Mock::wrap(TestServer::start().await)
    }

    /// Start with a given configuration and optional admin token.
    pub async fn start_with(config: mock_as::Config, admin: Option<String>) -> Mock {
        Mock::wrap(TestServer::start_with(config, admin).await)
    }

    fn wrap(server: TestServer) -> Mock {
        Mock {
            base: server.base().to_string(),
            http: server.http().clone(),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
    pub fn issuer(&self, sid: &str) -> String {
        self.server.issuer(sid)
    }
    pub fn authorize_url(&self) -> String {
        self.url(&format!("/oauth2/v1/apps/agentic/{PID}/{SID}/authorize"))
    }
    pub fn token_url(&self) -> String {
        self.url(&format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token"))
    }

    /// GET a path, return (status, JSON body).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.server.get_json(path).await
    }

    /// POST JSON to a control path, return (status, JSON body).
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        self.server.post_json(path, &body).await
    }

    /// PUT JSON to a path, return (status, JSON body).
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.server.put_json(path, &body).await
    }

    /// PATCH JSON to a path, return (status, JSON body).
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.server.patch_json(path, &body).await
    }

    /// DELETE a path, return (status, JSON body).
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.server.delete(path).await
    }

    /// POST JSON to a management endpoint with the management key, return (status, JSON body).
    pub async fn mgmt(&self, path: &str, body: Value) -> (u16, Value) {
        self.server
            .send(
                self.http
                    .post(self.url(path))
                    .header("authorization", format!("Bearer {PID}:{MGMT_KEY}"))
                    .json(&body),
            )
            .await
    }

    /// POST a form to a URL, return (status, JSON body).
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.server.post_form(url, form).await
    }

    /// Mint a token through the control API.
    pub async fn mint(&self, body: Value) -> Value {
        self.server.mint(&body).await
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
