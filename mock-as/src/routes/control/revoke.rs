//! `POST /_mock/revoke`: revoke one token (a refresh token's whole family, or any JWT by its
//! `jti`), a `jti`, one session, or every session and token of a user — as if the AS had revoked it
//! (RFC 7009 semantics without the client authentication).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;

/// `POST /_mock/revoke` body: exactly one of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeRequest {
    /// An access token (JWT) or refresh token.
    #[serde(default)]
    token: Option<String>,
    /// A `jti`.
    #[serde(default)]
    jti: Option<String>,
    /// Every session and token of a user (id or login id).
    #[serde(default)]
    user: Option<String>,
    /// One session (grant) by id (`GET /_mock/sessions`): its refresh family and every access
    /// token issued in it.
    #[serde(default)]
    session: Option<String>,
}

pub(super) async fn revoke(State(st): State<AppState>, Json(r): Json<RevokeRequest>) -> R {
    let n = [
        r.token.is_some(),
        r.jti.is_some(),
        r.user.is_some(),
        r.session.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if n != 1 {
        return Err(MockError::bad(
            "invalid_request",
            "send exactly one of token, jti, user, session",
        ));
    }
    if let Some(sid) = r.session {
        if !st
            .store()
            .revoke_session(&sid, "revoked through the control API")
        {
            return Err(MockError::not_found(
                "unknown_session",
                format!("session: no session {sid:?}"),
            ));
        }
        return ok(json!({"revoked": {"session": sid}}));
    }
    if let Some(u) = r.user {
        let mut store = st.store();
        let id = store
            .find_user(&u)
            .map(|x| x.id.clone())
            .ok_or_else(|| MockError::bad("unknown_user", format!("user: no user {u:?}")))?;
        let (sessions, tokens) = store.revoke_user(&id, "revoked through the control API");
        return ok(json!({"revoked": {"user": id, "sessions": sessions, "tokens": tokens}}));
    }
    if let Some(j) = r.jti {
        let exp = st.now() + 86400;
        st.store().revoke_jti(&j, exp);
        return ok(json!({"revoked": {"jti": j}}));
    }
    let token = r.token.unwrap_or_default();
    let rt = st.store().refresh_token(&token).cloned();
    if let Some(rt) = rt {
        st.store()
            .revoke_session(&rt.session_id, "revoked through the control API");
        return ok(json!({"revoked": {"refresh_token_family": rt.session_id}}));
    }
    // Any JWT, valid or not: revoke its jti so introspection and connection fetches refuse it.
    let claims: Map<String, Value> =
        jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(&token)
            .map(|d| d.claims)
            .map_err(|e| {
                MockError::bad(
                    "invalid_token",
                    format!("token: neither a refresh token nor a JWT ({e})"),
                )
            })?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| MockError::bad("invalid_token", "token: the JWT has no jti"))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(st.now() + 86400);
    st.store().revoke_jti(jti, exp);
    ok(json!({"revoked": {"jti": jti}}))
}
