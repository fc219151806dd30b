//! The control API under `/_mock/` — mock-only, never part of Descope. Tests use it to create
//! users and clients, mint (hostile) tokens, revoke, rotate keys, arm faults, read the journal,
//! shift the clock and reset. Unauthenticated on loopback; with `--admin-token` every call needs
//! `Authorization: Bearer <admin token>`. Every call is documented with an example in README.
//!
//! One file per resource: `project` (`/info`, `/reset`), `users`, `clients`, `tokens`
//! (`/tokens`, `/flaws`), `revoke`, `keys`, `faults`, `journal`, `clock`,
//! `policies`, `connections`, `servers`, `apps`, `sessions` (`/sessions`, `GET /tokens`), `ui`
//! (the dashboard page and script); the router is here.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::Value;

use crate::error::MockError;
use crate::state::AppState;

mod apps;
mod clients;
mod clock;
mod connections;
mod faults;
mod journal;
mod keys;
mod policies;
mod project;
mod revoke;
pub(crate) mod servers;
mod sessions;
mod tokens;
mod ui;
mod users;

pub use clock::MAX_CLOCK_OFFSET_SECS;

/// The control routes, nested under `/_mock`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/info", get(project::info))
        .route("/users", get(users::list_users).post(users::upsert_user))
        .route(
            "/users/{id}",
            get(users::get_user).delete(users::delete_user),
        )
        .route(
            "/clients",
            get(clients::list_clients).post(clients::create_client),
        )
        .route("/tokens", post(tokens::mint).get(sessions::list_tokens))
        .route("/sessions", get(sessions::list_sessions))
        .route("/registrations", get(sessions::list_registrations))
        .route("/ui", get(ui::dashboard))
        .route("/ui/app.js", get(ui::script))
        .route("/flaws", get(tokens::flaws))
        .route("/revoke", post(revoke::revoke))
        .route("/keys", get(keys::keys))
        .route("/keys/rotate", post(keys::rotate))
        .route("/keys/retire", post(keys::retire))
        .route("/keys/activate", post(keys::activate))
        .route(
            "/faults",
            get(faults::list_faults)
                .post(faults::arm_fault)
                .delete(faults::clear_faults),
        )
        .route("/faults/{id}", delete(faults::delete_fault))
        .route(
            "/journal",
            get(journal::journal).delete(journal::clear_journal),
        )
        .route("/clock", get(clock::clock).post(clock::set_clock))
        .route("/reset", post(project::reset))
        .route("/policies", get(policies::policies))
        .route(
            "/policies/connections",
            axum::routing::put(policies::put_connection_policy),
        )
        .route(
            "/policies/consent/{sid}",
            axum::routing::put(policies::put_consent_policy),
        )
        .route(
            "/connections",
            get(connections::list_connections).post(connections::create_connection),
        )
        .route("/connections/{id}", delete(connections::delete_connection))
        .route("/servers", get(servers::list_servers))
        .route(
            "/servers/{sid}",
            get(servers::get_server).patch(servers::patch_server),
        )
        .route("/apps", get(apps::list_apps).post(apps::put_app))
        .route(
            "/policies/connections/rules",
            post(policies::add_connection_rule),
        )
        .route(
            "/policies/connections/rules/{name}",
            delete(policies::delete_connection_rule),
        )
        .route(
            "/policies/consent/{sid}/rules",
            post(policies::add_consent_rule),
        )
        .route(
            "/policies/consent/{sid}/rules/{name}",
            delete(policies::delete_consent_rule),
        )
        .route(
            "/policies/token-exchange",
            axum::routing::put(policies::put_exchange_policy),
        )
        .route(
            "/policies/token-exchange/rules",
            post(policies::add_exchange_rule),
        )
        .route(
            "/policies/token-exchange/rules/{name}",
            delete(policies::delete_exchange_rule),
        )
}

type R = Result<Response, MockError>;

fn ok(v: Value) -> R {
    Ok(axum::Json(v).into_response())
}
