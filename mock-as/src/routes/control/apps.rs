//! `/_mock/apps`: list outbound apps (Descope "connections") and create or replace one (fields as
//! `[[outbound_apps]]`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;

pub(super) async fn list_apps(State(st): State<AppState>) -> R {
    let all: Vec<Value> = st.apps().iter().map(|a| json!(**a)).collect();
    ok(json!({ "apps": all }))
}

/// `POST /_mock/apps`: create or replace an outbound app (fields as `[[outbound_apps]]`).
pub(super) async fn put_app(
    State(st): State<AppState>,
    Json(a): Json<crate::config::OutboundApp>,
) -> R {
    crate::config::check_app(&a)
        .map_err(|(field, m)| MockError::bad("invalid_app", format!("{field}: {m}")))?;
    let created = st.app(&a.id).is_none();
    st.put_app(a.clone());
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(json!(a)),
    )
        .into_response())
}
