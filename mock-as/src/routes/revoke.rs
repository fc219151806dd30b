//! Token revocation (RFC 7009) and introspection (RFC 7662; a mock-as extension, advertised
//! as `introspection_endpoint`). Revoking a refresh token revokes its whole grant (RFC 7009 §2.1);
//! revoking an access token revokes that token. Unknown tokens: 200 (RFC 7009 §2.2).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ErrorCode, OAuthError, no_store};
use crate::parse::{parse_bearer, split_project_bearer};
use crate::routes::Credential;
use crate::routes::client_auth::{authenticate, read_params};
use crate::state::AppState;
use crate::tokens::verify;

fn wrong_project(pid: &str) -> Response {
    OAuthError::invalid_request(format!("unknown project {pid:?}"))
        .with_status(StatusCode::NOT_FOUND)
        .into_response()
}

/// `POST /oauth2/v1/apps/{pid}/revoke`.
pub async fn revoke_project(
    State(st): State<AppState>,
    Path(pid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if pid != st.pid() {
        return wrong_project(&pid);
    }
    revoke(st, headers, body)
}

/// `POST /oauth2/v1/apps/revoke`.
pub async fn revoke_generic(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    revoke(st, headers, body)
}

fn revoke(st: AppState, headers: HeaderMap, body: Bytes) -> Response {
    let p = match read_params(&headers, &body, &[]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let authed = match authenticate(&st, &headers, &p, false) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let Some(token) = p.get("token") else {
        return OAuthError::invalid_request("token is required").into_response();
    };
    let client_id = authed.client.cfg.id.clone();
    let now = st.now();
    // A refresh token?
    let rt = st.store().refresh_token(token).cloned();
    if let Some(rt) = rt {
        if rt.client_id != client_id {
            return OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the token was issued to another client",
            )
            .into_response();
        }
        st.store()
            .revoke_session(&rt.session_id, "refresh token revoked (RFC 7009)");
    } else if let Ok(c) = verify(&st.keys(), token, now) {
        // Expired, foreign or garbage tokens fall through: nothing to revoke, still 200.
        if c.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
            return OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the token was issued to another client",
            )
            .into_response();
        }
        let jti = c.get("jti").and_then(Value::as_str).unwrap_or_default();
        let exp = c.get("exp").and_then(Value::as_i64).unwrap_or(now);
        st.store().revoke_jti(jti, exp);
    }
    let mut r = (StatusCode::OK, no_store(), axum::Json(json!({}))).into_response();
    r.extensions_mut().insert(authed.credential());
    r
}

/// `POST /oauth2/v1/apps/{pid}/introspect`.
pub async fn introspect_project(
    State(st): State<AppState>,
    Path(pid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if pid != st.pid() {
        return wrong_project(&pid);
    }
    introspect(st, headers, body)
}

/// `POST /oauth2/v1/apps/introspect`.
pub async fn introspect_generic(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    introspect(st, headers, body)
}

/// RFC 7662 §2.1: the caller authenticates as a confidential client, or with a management key
/// (`Bearer <pid>:<key>`), which is how a resource server would hold credentials here.
fn introspect(st: AppState, headers: HeaderMap, body: Bytes) -> Response {
    let p = match read_params(&headers, &body, &[]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| parse_bearer(h).ok());
    let cred = match bearer {
        Some(tok) => match split_project_bearer(tok) {
            (pid, Some(secret)) if pid == st.pid() && st.is_management_key(secret) => {
                Credential::BearerManagementKey
            }
            _ => {
                return OAuthError::invalid_client(
                    "the bearer is not <project id>:<management key>",
                    false,
                )
                .into_response();
            }
        },
        None => match authenticate(&st, &headers, &p, true) {
            Ok(a) => a.credential(),
            Err(e) => return e.into_response(),
        },
    };
    let Some(token) = p.get("token") else {
        return OAuthError::invalid_request("token is required").into_response();
    };
    let now = st.now();
    let inactive = json!({"active": false});
    let rt = st.store().refresh_token(token).cloned();
    let answer = if let Some(rt) = rt {
        let store = st.store();
        let live = !rt.used && rt.expires_at > now && store.session_live(&rt.session_id);
        if live {
            json!({"active": true, "token_type": "refresh_token", "client_id": rt.client_id, "sub": rt.user_id,
                   "scope": rt.scopes.join(" "), "exp": rt.expires_at, "iss": st.issuer(&rt.server_id)})
        } else {
            inactive
        }
    } else {
        match verify(&st.keys(), token, now) {
            Ok(c) => {
                let jti = c.get("jti").and_then(Value::as_str).unwrap_or_default();
                let iss = c.get("iss").and_then(Value::as_str).unwrap_or_default();
                // A token with someone else's issuer is foreign, whoever signed it.
                let ours = st.is_own_issuer(iss);
                if !ours || st.store().is_revoked(jti) {
                    inactive
                } else {
                    let mut out = json!({"active": true, "token_type": "Bearer"});
                    for k in [
                        "scope",
                        "client_id",
                        "sub",
                        "aud",
                        "iss",
                        "exp",
                        "iat",
                        "nbf",
                        "jti",
                    ] {
                        if let Some(v) = c.get(k) {
                            out[k] = v.clone();
                        }
                    }
                    if out.get("scope").is_none() {
                        out["scope"] = json!(crate::tokens::token_scopes(&c).join(" "));
                    }
                    out
                }
            }
            Err(_) => inactive,
        }
    };
    let mut r = (StatusCode::OK, no_store(), axum::Json(answer)).into_response();
    r.extensions_mut().insert(cred);
    r
}
