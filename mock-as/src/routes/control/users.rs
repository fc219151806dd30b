//! `/_mock/users`: list, read, create or replace (same fields as `[[users]]`, checked like the
//! config's) and delete users; deleting a user revokes their sessions and tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use std::collections::HashSet;

use super::{R, ok};
use crate::config::{User, check_user};
use crate::error::MockError;
use crate::state::AppState;

pub(super) async fn list_users(State(st): State<AppState>) -> R {
    let users: Vec<User> = st.store().users().cloned().collect();
    ok(json!({ "users": users }))
}

pub(super) async fn get_user(State(st): State<AppState>, Path(id): Path<String>) -> R {
    let u = st
        .store()
        .find_user(&id)
        .cloned()
        .ok_or_else(|| MockError::not_found("unknown_user", format!("no user {id:?}")))?;
    ok(json!(u))
}

/// `POST /_mock/users`: create or replace a user (same fields as `[[users]]`).
pub(super) async fn upsert_user(State(st): State<AppState>, Json(u): Json<User>) -> R {
    let tenants: HashSet<&str> = st.config.tenants.iter().map(|t| t.id.as_str()).collect();
    check_user(&u, &tenants)
        .map_err(|(f, m)| MockError::bad("invalid_user", format!("{f}: {m}")))?;
    let mut store = st.store();
    if store
        .users()
        .any(|x| x.login_id == u.login_id && x.id != u.id)
    {
        return Err(MockError::bad(
            "invalid_user",
            format!("login_id: {:?} belongs to another user", u.login_id),
        ));
    }
    let created = store.put_user(u.clone());
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!(u))).into_response())
}

pub(super) async fn delete_user(State(st): State<AppState>, Path(id): Path<String>) -> R {
    let mut store = st.store();
    if !store.remove_user(&id) {
        return Err(MockError::not_found(
            "unknown_user",
            format!("no user {id:?}"),
        ));
    }
    store.revoke_user(&id, "user deleted");
    ok(json!({"deleted": id}))
}
