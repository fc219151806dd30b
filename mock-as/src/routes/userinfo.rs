//! OIDC userinfo (OpenID Connect Core §5.3) at `/oauth2/v1/apps/{pid}/userinfo` and
//! `/oauth2/v1/apps/userinfo`: `Bearer <access token>`; the profile of the token's user.
//! Descope's content is unconfirmed (mock-as/DESCOPE.md §6); this is the natural OIDC shape.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ErrorCode, OAuthError};
use crate::parse::parse_bearer;
use crate::state::AppState;
use crate::tokens::verify;

/// `GET|POST /oauth2/v1/apps/{pid}/userinfo`.
pub async fn project(
    State(st): State<AppState>,
    Path(pid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if pid != st.pid() {
        return OAuthError::invalid_request(format!("unknown project {pid:?}"))
            .with_status(StatusCode::NOT_FOUND)
            .into_response();
    }
    userinfo(&st, &headers)
}

/// `GET|POST /oauth2/v1/apps/userinfo`.
pub async fn generic(State(st): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&st, &headers)
}

/// RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
fn invalid_token(msg: &str) -> Response {
    let mut r = OAuthError::new(ErrorCode::InvalidToken, msg)
        .with_status(StatusCode::UNAUTHORIZED)
        .into_response();
    let ch = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        msg.replace('"', "'")
    );
    if let Ok(v) = HeaderValue::from_str(&ch) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn userinfo(st: &AppState, headers: &HeaderMap) -> Response {
    let Some(tok) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| parse_bearer(h).ok())
    else {
        let mut r = OAuthError::invalid_request("needs Authorization: Bearer <access token>")
            .with_status(StatusCode::UNAUTHORIZED)
            .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let claims = match verify(&st.keys(), tok, st.now()) {
        Ok(c) => c,
        Err(e) => return invalid_token(&e.to_string()),
    };
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if st.store().is_revoked(jti) {
        return invalid_token("the token was revoked");
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let user = st.store().user(&sub).cloned();
    let body = match user {
        Some(u) => {
            json!({"sub": u.id, "name": u.name, "email": u.email, "email_verified": !u.email.is_empty(),
                          "preferred_username": u.login_id})
        }
        None => json!({"sub": sub}),
    };
    axum::Json(body).into_response()
}
