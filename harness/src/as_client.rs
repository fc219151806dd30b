//! A typed client for mock-as's control API (`/_mock/`, README "Control API"): everything the
//! steps ask of the authorization server goes through here.

use serde::Serialize;
use serde_json::{Value, json};

/// A control-API failure: which call, what mock-as answered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("mock-as {call} answered {status}: {body}")]
pub struct AsError {
    /// Method and path.
    pub call: String,
    /// HTTP status (0 = unreachable).
    pub status: u16,
    /// Body excerpt.
    pub body: String,
}

/// `POST /_mock/tokens` body (README "Mint").
#[derive(Debug, Clone, Default, Serialize)]
pub struct MintRequest {
    /// MCP server id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Issuer style (`inbound-app`, `project`); absent = the server entry's own issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// RFC 8707 resource (→ `aud`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `dct`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Lifetime, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Claims merged last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
    /// A hostile-token flaw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flaw: Option<String>,
    /// Claims to leave out entirely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_claims: Option<Vec<String>>,
}

impl MintRequest {
    /// A token of `user` for `client` at mock-as's MCP server entry `server`, with `scopes` and
    /// the audience `resource` (RFC 8707); chain the setters below for the rest. The one way the
    /// suite builds a mint request (scenarios start from [`crate::world::AuthWorld::mint_request`]).
    pub fn new(
        server: &str,
        user: &str,
        client: &str,
        scopes: Vec<String>,
        resource: &str,
    ) -> MintRequest {
        MintRequest {
            server: Some(server.to_string()),
            user: Some(user.to_string()),
            client: Some(client.to_string()),
            scopes: Some(scopes),
            resource: Some(resource.to_string()),
            ..MintRequest::default()
        }
    }

    /// The issuer style (`None` = the server entry's own issuer).
    pub fn issuer(mut self, style: Option<String>) -> MintRequest {
        self.issuer = style;
        self
    }

    /// Another audience.
    pub fn resource(mut self, resource: &str) -> MintRequest {
        self.resource = Some(resource.to_string());
        self
    }

    /// The current tenant (`dct`).
    pub fn tenant(mut self, tenant: Option<String>) -> MintRequest {
        self.tenant = tenant;
        self
    }

    /// Claims merged last.
    pub fn claims(mut self, claims: Option<Value>) -> MintRequest {
        self.claims = claims;
        self
    }

    /// Claims left out entirely (none = keep every claim).
    pub fn remove_claims(mut self, names: Vec<String>) -> MintRequest {
        self.remove_claims = (!names.is_empty()).then_some(names);
        self
    }

    /// One of mock-as's hostile-token flaws.
    pub fn flaw(mut self, flaw: Option<&str>) -> MintRequest {
        self.flaw = flaw.map(str::to_string);
        self
    }
}

/// The control-API client.
#[derive(Debug, Clone)]
pub struct MockAsClient {
    /// mock-as base URL, no trailing slash.
    pub base: String,
    /// `--admin-token`, if mock-as has one.
    admin: Option<String>,
    http: reqwest::Client,
}

impl MockAsClient {
    /// A client for `base`.
    pub fn new(base: &str, admin: Option<String>) -> MockAsClient {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        MockAsClient {
            base: base.trim_end_matches('/').to_string(),
            admin,
            http,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, AsError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(a) = &self.admin {
            req = req.bearer_auth(a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let call = format!("{method} {path}");
        let resp = req.send().await.map_err(|e| AsError {
            call: call.clone(),
            status: 0,
            body: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(AsError {
                call,
                status,
                body: text.chars().take(400).collect(),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET a control path.
    pub async fn get(&self, path: &str) -> Result<Value, AsError> {
        self.call(reqwest::Method::GET, path, None).await
    }
    /// POST JSON to a control path.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value, AsError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    /// PATCH JSON.
    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, AsError> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    /// DELETE.
    pub async fn delete(&self, path: &str) -> Result<Value, AsError> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Mint a token; returns the JWT.
    pub async fn mint(&self, req: &MintRequest) -> Result<String, AsError> {
        let v = self
            .post(
                "/_mock/tokens",
                serde_json::to_value(req).unwrap_or_default(),
            )
            .await?;
        // No token is no evidence: every "the server refuses it" scenario would pass.
        match v["access_token"].as_str() {
            Some(t) if !t.is_empty() => Ok(t.to_string()),
            _ => Err(AsError {
                call: "POST /_mock/tokens".into(),
                status: 200,
                body: format!(
                    "the answer has no access_token: {}",
                    v.to_string().chars().take(300).collect::<String>()
                ),
            }),
        }
    }

    /// Create (or replace) a user.
    pub async fn put_user(
        &self,
        id: &str,
        roles: &[String],
        tenants: &[(String, Vec<String>)],
    ) -> Result<(), AsError> {
        let tenants: Vec<Value> = tenants
            .iter()
            .map(|(t, r)| json!({"id": t, "roles": r}))
            .collect();
        self.post("/_mock/users", json!({"id": id, "login_id": format!("{id}@authcheck.test"), "name": id, "email": format!("{id}@authcheck.test"), "roles": roles, "tenants": tenants}))
            .await
            .map(|_| ())
    }

    /// Store a connection token; returns it (mock-as camelCase: `id`, `accessToken`, ...).
    pub async fn add_connection(
        &self,
        app: &str,
        user: Option<&str>,
        tenant: Option<&str>,
        scopes: Option<&[String]>,
    ) -> Result<Value, AsError> {
        let mut b = json!({"app": app});
        if let Some(u) = user {
            b["user"] = json!(u);
        }
        if let Some(t) = tenant {
            b["tenant"] = json!(t);
        }
        if let Some(s) = scopes {
            b["scopes"] = json!(s);
        }
        self.post("/_mock/connections", b).await
    }

    /// Every stored connection token.
    pub async fn connections(&self) -> Result<Vec<Value>, AsError> {
        Ok(self.get("/_mock/connections").await?["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Add a named Connections Policy rule.
    pub async fn add_rule(&self, rule: Value) -> Result<(), AsError> {
        self.post("/_mock/policies/connections/rules", rule)
            .await
            .map(|_| ())
    }

    /// Remove a named Connections Policy rule.
    pub async fn delete_rule(&self, name: &str) -> Result<(), AsError> {
        let enc: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        self.delete(&format!(
            "/_mock/policies/connections/rules/{}",
            enc.replace('+', "%20")
        ))
        .await
        .map(|_| ())
    }

    /// The journal since `since_seq`, for one endpoint.
    pub async fn journal(&self, endpoint: &str, since_seq: u64) -> Result<Vec<Value>, AsError> {
        let v = self
            .get(&format!(
                "/_mock/journal?endpoint={endpoint}&since_seq={since_seq}"
            ))
            .await?;
        Ok(v["entries"].as_array().cloned().unwrap_or_default())
    }

    /// The next journal sequence number (entries after "now" have at least this).
    pub async fn journal_mark(&self) -> Result<u64, AsError> {
        Ok(self.get("/_mock/journal?limit=0").await?["next_seq"]
            .as_u64()
            .unwrap_or(0))
    }
}
