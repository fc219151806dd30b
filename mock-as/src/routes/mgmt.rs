//! Management endpoints the Descope SDKs call at start-up (mock-as/DESCOPE.md §7.7).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::DescopeError;
use crate::parse::{parse_bearer, split_project_bearer};
use crate::state::AppState;

/// Check `Authorization: Bearer <pid>:<management key>`.
pub fn require_management_key(st: &AppState, headers: &HeaderMap) -> Result<(), DescopeError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let tok = auth.and_then(|h| parse_bearer(h).ok()).ok_or_else(|| {
        DescopeError::unauthorized("needs Authorization: Bearer <project id>:<management key>")
    })?;
    match split_project_bearer(tok) {
        (pid, _) if pid != st.pid() => Err(DescopeError::unauthorized(format!(
            "unknown project {pid:?} in the bearer"
        ))),
        (_, Some(secret)) if st.is_management_key(secret) => Ok(()),
        _ => Err(DescopeError::unauthorized(
            "the bearer does not carry a valid management key",
        )),
    }
}

/// `GET /v1/mgmt/license` → `{"rateLimitTier": "free"}` (mock-as/DESCOPE.md §7.7).
pub async fn license(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match require_management_key(&st, &headers) {
        Ok(()) => axum::Json(json!({"rateLimitTier": "free"})).into_response(),
        Err(e) => e.into_response(),
    }
}
