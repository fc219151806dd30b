//! The project's JWKS (RFC 7517) at both Descope paths (mock-as/DESCOPE.md §3.1): the discovery
//! `jwks_uri` `/<pid>/.well-known/jwks.json` (no auth) and the SDKs' `/v2/keys/<pid>`
//! (`Bearer <pid>` or `Bearer <pid>:<anything>`). Same key set on both.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{DescopeError, shaped};
use crate::parse::{parse_bearer, split_project_bearer};
use crate::state::AppState;

/// The JWKS routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{pid}/.well-known/jwks.json", get(oidc))
        .route("/v2/keys/{pid}", get(sdk))
}

/// `{pid}` is the first path segment, so this route also matches `/oauth2/.well-known/jwks.json`
/// (and `/_mock/...`): the unknown-project 404 takes the shape of the path's family, as the
/// fallback's does, not always Descope's (found by fuzzing).
async fn oidc(State(st): State<AppState>, Path(pid): Path<String>, uri: Uri) -> Response {
    if pid != st.pid() {
        return shaped(
            uri.path(),
            StatusCode::NOT_FOUND,
            &format!("unknown project {pid:?}"),
        );
    }
    let doc = st.keys().jwks();
    axum::Json(doc).into_response()
}

async fn sdk(State(st): State<AppState>, Path(pid): Path<String>, headers: HeaderMap) -> Response {
    if pid != st.pid() {
        return DescopeError::not_found(format!("unknown project {pid:?}")).into_response();
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(tok) = auth.and_then(|h| parse_bearer(h).ok()) else {
        return DescopeError::unauthorized("GET /v2/keys needs Authorization: Bearer <project id>")
            .into_response();
    };
    let (bearer_pid, _) = split_project_bearer(tok);
    if bearer_pid != pid {
        return DescopeError::unauthorized(format!(
            "the bearer names project {bearer_pid:?}, the path {pid:?}"
        ))
        .into_response();
    }
    let doc = st.keys().jwks();
    axum::Json(doc).into_response()
}
