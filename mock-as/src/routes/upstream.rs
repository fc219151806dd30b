//! The spy upstream: a stand-in for the third-party API behind an outbound app (a calendar).
//! `ANY /_upstream/{appId}/...` accepts only a currently valid connection token of that app
//! (unknown, revoked, refreshed-away, expired or another app's → 401 JSON) and answers
//! deterministic fake JSON. The journal records each request's `Authorization` header and flags
//! a mock-as-issued MCP access token as *token passthrough* (MCP spec: servers MUST NOT pass
//! their inbound token through to upstream APIs).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use crate::error::MockError;
use crate::parse::parse_bearer;
use crate::routes::{Credential, JournalDetail, Passthrough};
use crate::state::AppState;

/// The spy routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_upstream/{app}", any(spy_root))
        .route("/_upstream/{app}/{*rest}", any(spy))
}

async fn spy_root(
    st: State<AppState>,
    Path(app): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&st, &app, "", &method, &headers, &body)
}

async fn spy(
    st: State<AppState>,
    Path((app, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&st, &app, &rest, &method, &headers, &body)
}

/// Whether a bearer value is an MCP access token of this mock (by its issuer; signature and
/// expiry do not matter: forwarding even a dead inbound token is passthrough).
fn is_mcp_token(st: &AppState, tok: &str) -> bool {
    let Ok(data) = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(tok) else {
        return false;
    };
    let iss = data
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    iss.starts_with(&format!("{}/v1/apps/", st.base_url)) || st.is_own_issuer(iss)
}

fn refuse(error: &str, message: String, passthrough: bool) -> Response {
    let mut r = MockError {
        status: StatusCode::UNAUTHORIZED,
        error: error.into(),
        message: message.clone(),
    }
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r.extensions_mut().insert(Passthrough(passthrough));
    r.extensions_mut().insert(JournalDetail(message));
    r
}

fn handle(
    st: &AppState,
    app: &str,
    rest: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some(tok) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| parse_bearer(h).ok())
    else {
        return refuse(
            "missing_token",
            "the spy upstream needs Authorization: Bearer <connection token>".into(),
            false,
        );
    };
    if is_mcp_token(st, tok) {
        return refuse(
            "token_passthrough",
            "this is an MCP access token issued by mock-as, not a connection token: the MCP server passed its inbound token through".into(),
            true,
        );
    }
    let now = st.now();
    let found = st
        .store()
        .connections()
        .find(|t| t.access_token == tok)
        .cloned();
    let Some(t) = found else {
        return refuse(
            "invalid_token",
            "unknown, revoked or refreshed-away connection token".into(),
            false,
        );
    };
    if t.app_id != app {
        return refuse(
            "invalid_token",
            format!(
                "a connection token of app {:?} was sent to app {app:?}",
                t.app_id
            ),
            false,
        );
    }
    if t.access_token_expiry <= now {
        return refuse(
            "invalid_token",
            "the connection token has expired".into(),
            false,
        );
    }
    let who = t
        .user_id
        .clone()
        .or(t.tenant_id.clone())
        .unwrap_or_default();
    let answer = match *method {
        Method::GET | Method::HEAD => json!({
            "app": app, "path": format!("/{rest}"), "owner": who,
            "items": [
                {"id": "evt-1", "summary": "Team standup", "start": "2026-01-05T09:00:00Z", "end": "2026-01-05T09:15:00Z"},
                {"id": "evt-2", "summary": "Design review", "start": "2026-01-05T14:00:00Z", "end": "2026-01-05T15:00:00Z"}
            ]
        }),
        Method::DELETE => json!({"app": app, "path": format!("/{rest}"), "deleted": true}),
        _ => {
            let sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let n = st.store().next_upstream_serial();
            json!({"app": app, "path": format!("/{rest}"), "owner": who, "created": {"id": format!("evt-new-{n}"), "request": sent}})
        }
    };
    let status = if *method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut r = (status, axum::Json(answer)).into_response();
    r.extensions_mut().insert(Passthrough(false));
    r.extensions_mut().insert(Credential::BearerConnectionToken);
    r.extensions_mut().insert(JournalDetail(format!(
        "connection token {} of app {:?}",
        t.id, t.app_id
    )));
    r
}
