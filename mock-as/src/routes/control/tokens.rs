//! `POST /_mock/tokens`: mint an access token as the token endpoint would (any server, issuer
//! style, user, client, scopes, tenant, lifetime, extra or removed claims), optionally with a
//! hostile-token flaw; `GET /_mock/flaws`: the flaw catalogue with descriptions.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{R, ok};
use crate::error::MockError;
use crate::issue::{Issue, issue_access_token};
use crate::state::AppState;
use crate::tokens::{Flaw, IssuerStyle};

/// `POST /_mock/tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MintRequest {
    /// MCP server id; default: the first configured server.
    #[serde(default)]
    server: Option<String>,
    /// Which issuer: `mcp-server` (default, the server entry's own), `inbound-app`
    /// (`<base>/v1/apps/<pid>`) or `project` (`<base>/<pid>`); mock-as/DESCOPE.md §1, §4.1.
    #[serde(default)]
    issuer: IssuerStyle,
    /// User id or login id; absent = a client token (`sub` = client id).
    #[serde(default)]
    user: Option<String>,
    /// Client id (need not be registered); default `mock-as-control`.
    #[serde(default)]
    client: Option<String>,
    /// Scopes; default: every scope of the server.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// RFC 8707 resource for `aud`; default the server's url.
    #[serde(default)]
    resource: Option<String>,
    /// `dct`.
    #[serde(default)]
    tenant: Option<String>,
    /// Lifetime in seconds; default the server's `access_token_ttl`.
    #[serde(default)]
    ttl: Option<i64>,
    /// Claims merged last (override anything).
    #[serde(default)]
    claims: Option<Map<String, Value>>,
    /// A hostile-token flaw from `GET /_mock/flaws`.
    #[serde(default)]
    flaw: Option<Flaw>,
    /// Claims to leave out entirely (e.g. `["aud"]`, `["exp"]`).
    #[serde(default)]
    remove_claims: Vec<String>,
}

pub(super) async fn mint(State(st): State<AppState>, Json(m): Json<MintRequest>) -> R {
    let server = match &m.server {
        Some(s) => st.server(s).ok_or_else(|| {
            MockError::bad("unknown_server", format!("server: no MCP server {s:?}"))
        })?,
        None => st.servers()[0].clone(),
    };
    let user = match &m.user {
        Some(u) => Some(
            st.store()
                .find_user(u)
                .cloned()
                .ok_or_else(|| MockError::bad("unknown_user", format!("user: no user {u:?}")))?,
        ),
        None => None,
    };
    if let (Some(t), Some(u)) = (&m.tenant, &user)
        && !u.tenants.iter().any(|x| &x.id == t)
    {
        return Err(MockError::bad(
            "invalid_tenant",
            format!("tenant: user {:?} is not a member of {t:?}", u.id),
        ));
    }
    let client = m.client.clone().unwrap_or_else(|| "mock-as-control".into());
    let scopes = m
        .scopes
        .clone()
        .unwrap_or_else(|| server.scopes_supported());
    let sub = user
        .as_ref()
        .map(|u| u.id.clone())
        .unwrap_or_else(|| client.clone());
    let (jwt, claims) = issue_access_token(
        &st,
        &Issue {
            server: &server,
            style: m.issuer,
            sub: &sub,
            client_id: &client,
            scopes: &scopes,
            resource: m.resource.as_deref(),
            user: user.as_ref(),
            tenant: m.tenant.as_deref(),
            session: None,
            ttl: m.ttl,
            flaw: m.flaw,
            extra: m.claims.as_ref(),
            remove: &m.remove_claims,
        },
    )
    .map_err(|e| MockError {
        status: e.status,
        error: e.error.as_str().to_string(),
        message: e.description,
    })?;
    let header: Value = jwt
        .split('.')
        .next()
        .and_then(|h| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    ok(
        json!({"access_token": jwt, "header": header, "claims": claims, "flaw": m.flaw,
              "issuer": m.issuer,
              "flaw_description": m.flaw.map(Flaw::describe)}),
    )
}

pub(super) async fn flaws() -> R {
    let list: Vec<Value> = Flaw::ALL
        .iter()
        .map(|f| json!({"flaw": f, "description": f.describe()}))
        .collect();
    ok(json!({ "flaws": list }))
}
