//! `GET /_mock/sessions` and `GET /_mock/tokens`: what has been issued, for the dashboard and
//! for tests — the grants (sessions = refresh-token families, RFC 6749 §10.4 / OAuth 2.1 §4.3.1)
//! and the user- or session-bound access tokens the store remembers. Revoking is
//! `POST /_mock/revoke` (`session`, `jti`, `token` or `user`).

use axum::extract::State;
use serde_json::{Value, json};

use super::{R, ok};
use crate::state::AppState;

/// `GET /_mock/sessions`: every session, newest first, with its live refresh tokens counted and
/// its access tokens listed (`jti`, `exp`, `revoked`).
pub(super) async fn list_sessions(State(st): State<AppState>) -> R {
    let now = st.now();
    let store = st.store();
    let mut sessions: Vec<_> = store.sessions().collect();
    sessions.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    let list: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            let refresh = store
                .refresh_tokens()
                .filter(|r| r.session_id == s.id && !r.used && r.expires_at > now)
                .count();
            let mut tokens: Vec<Value> = store
                .issued_tokens()
                .filter(|(_, t)| t.session_id.as_deref() == Some(s.id.as_str()))
                .map(|(j, t)| json!({"jti": j, "exp": t.exp, "revoked": store.is_revoked(j), "expired": t.exp <= now}))
                .collect();
            tokens.sort_by_key(|t| std::cmp::Reverse(t["exp"].as_i64()));
            json!({
                "id": s.id, "user_id": s.user_id, "client_id": s.client_id,
                "server_id": s.server_id, "scopes": s.scopes, "created": s.created,
                "revoked": s.revoked, "revoked_reason": s.revoked_reason,
                "issuer_style": s.issuer_style, "refresh_tokens": refresh,
                "access_tokens": tokens,
            })
        })
        .collect();
    ok(json!({ "sessions": list, "now": now }))
}

/// `GET /_mock/tokens`: the access tokens bound to a user or a session (control-minted client
/// tokens are not remembered), newest expiry first.
pub(super) async fn list_tokens(State(st): State<AppState>) -> R {
    let now = st.now();
    let store = st.store();
    let mut list: Vec<Value> = store
        .issued_tokens()
        .map(|(j, t)| {
            json!({"jti": j, "session_id": t.session_id, "user_id": t.user_id, "exp": t.exp,
                   "revoked": store.is_revoked(j), "expired": t.exp <= now})
        })
        .collect();
    list.sort_by(|a, b| {
        b["exp"]
            .as_i64()
            .cmp(&a["exp"].as_i64())
            .then(a["jti"].as_str().cmp(&b["jti"].as_str()))
    });
    ok(json!({ "tokens": list, "now": now }))
}

/// `GET /_mock/registrations[?server=<sid>]`: every dynamic client registration attempt,
/// accepted or not, oldest first (`seq`, `time_ms`, `server_id`, `client_ip`, `request`,
/// `response: {status, body}`; `client_secret` masked). The last 1,000 are kept.
pub(super) async fn list_registrations(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<RegistrationQuery>,
) -> R {
    let store = st.store();
    let list: Vec<&crate::store::Registration> = store
        .registrations()
        .filter(|r| q.server.as_deref().is_none_or(|s| r.server_id == s))
        .collect();
    ok(json!({ "registrations": list }))
}

/// `GET /_mock/registrations` filters.
#[derive(Debug, serde::Deserialize)]
pub(super) struct RegistrationQuery {
    #[serde(default)]
    server: Option<String>,
}
