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

use crate::config::{ClientConfig, ClientType, check_redirect_uri, host_allowed};
use crate::error::{ErrorCode, OAuthError, no_store};
use crate::parse::parse_scope;
use crate::protocol::{AuthMethod, GrantType};
use crate::routes::ClientIp;
use crate::state::AppState;
use crate::store::{Client, ClientOrigin, Registration};
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

/// `POST /v1/mgmt/mcp/client/{pid}/{sid}/register`. Every attempt, accepted or not, goes into
/// the registration audit (`GET /_mock/registrations`).
pub async fn register(
    State(st): State<AppState>,
    Path((pid, sid)): Path<(String, String)>,
    axum::Extension(ClientIp(ip)): axum::Extension<ClientIp>,
    body: Bytes,
) -> Response {
    let limit = (pid == st.pid())
        .then(|| st.server(&sid))
        .flatten()
        .and_then(|s| s.dcr_rate_limit_per_minute);
    let now = st.now();
    let limited = limit.and_then(|l| st.store().admit_registration(&sid, &ip, l, now).err());
    let result = match limited {
        Some(secs) => Err(Refused::Limited(secs)),
        None => do_register(&st, &pid, &sid, &body).map_err(Refused::Error),
    };
    let (status, answer, retry_after) = match result {
        Ok(v) => (StatusCode::CREATED, v, None),
        Err(Refused::Limited(secs)) => {
            let e = OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!("too many registrations from {ip}: try again in {secs} s"),
            )
            .with_status(StatusCode::TOO_MANY_REQUESTS);
            (e.status, e.body(), Some(secs))
        }
        Err(Refused::Error(e)) => (e.status, e.body(), None),
    };
    audit(&st, &sid, &ip, &body, status, &answer);
    let outcome = answer["error"].as_str().unwrap_or("ok").to_string();
    let mut r = (status, no_store(), axum::Json(answer)).into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    if status != StatusCode::CREATED {
        r.extensions_mut()
            .insert(crate::error::OutcomeCode(outcome));
    }
    r
}

/// Why a registration was not accepted.
enum Refused {
    /// Over `dcr_rate_limit_per_minute`: retry after this many seconds.
    Limited(i64),
    /// An RFC 7591 §3.2.2 error.
    Error(OAuthError),
}

/// `client_secret` values anywhere in a JSON object, masked for the audit.
fn masked(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for (k, x) in o.iter_mut() {
            if k == "client_secret" && !x.is_null() {
                *x = json!("***");
            }
        }
    }
    v
}

fn audit(st: &AppState, sid: &str, ip: &str, body: &[u8], status: StatusCode, answer: &Value) {
    let request = match serde_json::from_slice::<Value>(body) {
        Ok(v) => masked(v),
        Err(_) => json!({"unparsed": String::from_utf8_lossy(body)}),
    };
    st.store().log_registration(Registration {
        seq: 0,
        time_ms: crate::clock::wall_millis(),
        server_id: sid.to_string(),
        client_ip: ip.to_string(),
        request,
        response: json!({"status": status.as_u16(), "body": masked(answer.clone())}),
    });
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
        let host = url::Url::parse(r)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        if !host_allowed(&server.dcr_allowed_redirect_domains, &host) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                format!(
                    "redirect_uri {r:?}: host {host:?} is not an allowed domain of MCP server {sid:?} ({})",
                    server.dcr_allowed_redirect_domains.join(", ")
                ),
            ));
        }
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
