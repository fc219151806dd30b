//! Dynamic client registration (RFC 7591) at Descope's path
//! `POST /v1/mgmt/mcp/client/{pid}/{sid}/register`, called without credentials.
//! 201 with the accepted metadata; `invalid_redirect_uri` / `invalid_client_metadata` (RFC 7591
//! §3.2.2) otherwise; 403 `access_denied` when the server has registration turned off.
//!
//! The registered `scope` must name scopes of the server. It is the client's default for an
//! authorization request without `scope`, never a limit: MCP clients step up to scopes they did
//! not register with (see [`crate::routes::token::client_may_request`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::config::{ClientConfig, ClientType, check_redirect_uri};
use crate::error::{ErrorCode, OAuthError, no_store};
use crate::parse::parse_scope;
use crate::protocol::{AuthMethod, GrantType};
use crate::state::AppState;
use crate::store::{Client, ClientOrigin};
use crate::tokens::random_id;

fn meta(m: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, m)
}

/// Metadata fields echoed back as sent (RFC 7591 §2); others are ignored (§2: "MUST ignore").
const ECHOED: &[&str] = &[
    "client_name",
    "client_uri",
    "logo_uri",
    "contacts",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
    "application_type",
];

fn strings(o: &Map<String, Value>, k: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| meta(format!("{k} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(meta(format!("{k} must be an array of strings"))),
    }
}

/// `POST /v1/mgmt/mcp/client/{pid}/{sid}/register`.
pub async fn register(
    State(st): State<AppState>,
    Path((pid, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match do_register(&st, &pid, &sid, &body) {
        Ok(v) => (StatusCode::CREATED, no_store(), axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn do_register(st: &AppState, pid: &str, sid: &str, body: &[u8]) -> Result<Value, OAuthError> {
    let server = (pid == st.pid())
        .then(|| st.server(sid))
        .flatten()
        .ok_or_else(|| {
            OAuthError::invalid_request(format!("no MCP server {sid:?} in project {pid:?}"))
                .with_status(StatusCode::NOT_FOUND)
        })?;
    if !server.dcr {
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            format!("dynamic client registration is disabled for MCP server {sid:?}"),
        )
        .with_status(StatusCode::FORBIDDEN));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| meta(format!("the body is not JSON: {e}")))?;
    let o = v
        .as_object()
        .ok_or_else(|| meta("the body must be a JSON object"))?;
    let grant_types = strings(o, "grant_types")?
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode.to_string()]);
    for g in &grant_types {
        if GrantType::parse(g).is_none() {
            return Err(meta(format!(
                "grant_types: {g:?} is not one of {}",
                GrantType::list()
            )));
        }
    }
    let response_types = strings(o, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if let Some(r) = response_types.iter().find(|r| *r != "code") {
        return Err(meta(format!(
            "response_types: {r:?} is not supported; only code"
        )));
    }
    let wants_code = grant_types.iter().any(|g| g == "authorization_code");
    if wants_code != response_types.iter().any(|r| r == "code") && o.contains_key("response_types")
    {
        return Err(meta(
            "grant_types authorization_code and response_types code go together (RFC 7591 §2.1)",
        ));
    }
    let redirect_uris = strings(o, "redirect_uris")?.unwrap_or_default();
    if wants_code && redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    for r in &redirect_uris {
        check_redirect_uri(r).map_err(|m| OAuthError::new(ErrorCode::InvalidRedirectUri, m))?;
    }
    let method = match o.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => AuthMethod::ClientSecretBasic,
        Some(m) => match m.as_str().and_then(AuthMethod::parse) {
            Some(m) => m,
            None => {
                return Err(meta(format!(
                    "token_endpoint_auth_method {m} is not supported ({})",
                    AuthMethod::list()
                )));
            }
        },
    };
    let kind = if method == AuthMethod::None {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    if kind == ClientType::Public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(meta(
            "client_credentials needs a confidential client (token_endpoint_auth_method none was sent)",
        ));
    }
    let scopes = match o.get("scope") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => parse_scope(s).map_err(|e| meta(e.to_string()))?,
        Some(_) => return Err(meta("scope must be a space-separated string")),
    };
    if let Some(bad) = scopes.iter().find(|s| !server.knows_scope(s)) {
        return Err(meta(format!(
            "scope {bad:?} is not a scope of MCP server {sid:?}"
        )));
    }
    // Descope client ids decode to "<pid>:TPA<id>" (mock-as/DESCOPE.md §5).
    let raw_id = format!("{pid}:TPA{}", random_id());
    let client_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw_id);
    let secret = (kind == ClientType::Confidential).then(random_id);
    let now = st.now();
    let name = o
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let client = Client {
        cfg: ClientConfig {
            id: client_id.clone(),
            name,
            kind,
            secret: secret.clone(),
            redirect_uris: redirect_uris.clone(),
            scopes: scopes.clone(),
            grant_types: grant_types.clone(),
            servers: vec![sid.to_string()],
        },
        token_endpoint_auth_method: method,
        origin: ClientOrigin::Dcr,
        issued_at: now,
    };
    st.store().put_client(client);
    let mut out = json!({
        "client_id": client_id,
        "client_id_issued_at": now,
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": method,
    });
    if let Some(s) = secret {
        out["client_secret"] = json!(s);
        out["client_secret_expires_at"] = json!(0);
    }
    if !scopes.is_empty() {
        out["scope"] = json!(scopes.join(" "));
    }
    for k in ECHOED {
        if let Some(v) = o.get(*k) {
            out[*k] = v.clone();
        }
    }
    Ok(out)
}
