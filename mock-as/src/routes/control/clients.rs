//! `/_mock/clients`: list clients (configured, control-API, RFC 7591 dynamically registered and
//! CIMD-fetched) and register one directly (same fields as `[[clients]]`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::{R, ok};
use crate::config::{ClientConfig, check_client};
use crate::error::MockError;
use crate::state::AppState;
use crate::store::{Client, ClientOrigin};

pub(super) async fn list_clients(State(st): State<AppState>) -> R {
    let clients: Vec<Client> = st.store().clients().cloned().collect();
    ok(json!({ "clients": clients }))
}

/// `POST /_mock/clients`: register a client directly (same fields as `[[clients]]`).
pub(super) async fn create_client(State(st): State<AppState>, Json(c): Json<ClientConfig>) -> R {
    check_client(
        &c,
        &st.servers()
            .iter()
            .map(|s| (**s).clone())
            .collect::<Vec<_>>(),
    )
    .map_err(|(f, m)| MockError::bad("invalid_client", format!("{f}: {m}")))?;
    let mut store = st.store();
    if store.client(&c.id).is_some() {
        return Err(MockError::bad(
            "invalid_client",
            format!("id: client {:?} exists", c.id),
        ));
    }
    let client = Client {
        token_endpoint_auth_method: c.kind.default_auth_method(),
        cfg: c,
        origin: ClientOrigin::Control,
        issued_at: st.now(),
    };
    store.put_client(client.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(client))).into_response())
}
