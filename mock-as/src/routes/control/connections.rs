//! `/_mock/connections`: list, store (as if the user had connected the outbound app) and revoke
//! connection tokens (mock-as/DESCOPE.md §7).

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;
use crate::store::ConnToken;

pub(super) async fn list_connections(State(st): State<AppState>) -> R {
    let list: Vec<ConnToken> = st.store().connections().cloned().collect();
    ok(json!({ "connections": list }))
}

/// `POST /_mock/connections` body: store a connection token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConnectionRequest {
    /// The outbound app.
    app: String,
    /// The user (id or login id); absent with `tenant` = a tenant-level token.
    #[serde(default)]
    user: Option<String>,
    /// The tenant.
    #[serde(default)]
    tenant: Option<String>,
    /// Provider scopes; default all of the app's.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Whether it has a refresh token (default true).
    #[serde(default)]
    refresh_token: Option<bool>,
    /// Seconds until the provider token expires (negative = already expired); default the app's ttl.
    #[serde(default)]
    expires_in: Option<i64>,
}

pub(super) async fn create_connection(
    State(st): State<AppState>,
    Json(c): Json<ConnectionRequest>,
) -> R {
    // A user may be named by login id here; the seed check wants its id.
    let user = c.user.as_ref().map(|u| {
        st.store()
            .find_user(u)
            .map(|x| x.id.clone())
            .unwrap_or_else(|| u.clone())
    });
    let apps: Vec<crate::config::OutboundApp> = st.apps().iter().map(|a| (**a).clone()).collect();
    let Some(app) = apps.iter().find(|a| a.id == c.app).cloned() else {
        return Err(MockError::bad(
            "unknown_app",
            format!("app: unknown outbound app {:?}", c.app),
        ));
    };
    let scopes = c.scopes.clone().unwrap_or_else(|| app.scopes.clone());
    let seed = crate::config::ConnectionSeed {
        app: c.app.clone(),
        user: user.clone(),
        tenant: c.tenant.clone(),
        scopes: scopes.clone(),
        refresh_token: c.refresh_token.unwrap_or(true),
    };
    // The config loader's check for `[[connections]]` (crate::config::check_connection).
    let users: Vec<String> = st.store().user_ids();
    let users: HashSet<&str> = users.iter().map(String::as_str).collect();
    let tenants: HashSet<&str> = st.config.tenants.iter().map(|t| t.id.as_str()).collect();
    crate::config::check_connection(&seed, &apps, &users, &tenants).map_err(|(field, m)| {
        let code = match field.as_str() {
            "user" if seed.user.is_some() => "unknown_user",
            "tenant" => "unknown_tenant",
            _ => "invalid_connection",
        };
        MockError::bad(code, format!("{field}: {m}"))
    })?;
    let now = st.now();
    let ttl = c.expires_in.unwrap_or(app.token_ttl as i64);
    let mut t = ConnToken::new(
        &app.id,
        user.as_deref(),
        c.tenant.as_deref(),
        scopes,
        c.refresh_token.unwrap_or(true),
        app.token_ttl as i64,
        now,
        "control",
    );
    // Saturating: `expires_in` is any i64 the caller sends (found by fuzzing).
    t.access_token_expiry = now.saturating_add(ttl);
    st.store().put_connection(t.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(t))).into_response())
}

/// `DELETE /_mock/connections/{id}`: revoke a connection token (the next fetch fails at once).
pub(super) async fn delete_connection(State(st): State<AppState>, Path(id): Path<String>) -> R {
    match st.store().remove_connection(&id) {
        Some(t) => ok(json!({ "deleted": t.id })),
        None => Err(MockError::not_found(
            "unknown_connection",
            format!("no connection token {id:?}"),
        )),
    }
}
