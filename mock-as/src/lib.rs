//! `mock-as`: a Descope-compatible mock OAuth 2.1 authorization server for testing MCP servers.
//!
//! It serves Descope's URL layout (discovery, JWKS, DCR, authorize, token, revoke, userinfo),
//! signs Descope-shaped access tokens with test keys, and has a control API (`/_mock/`) that
//! makes it misbehave on purpose: hostile tokens, key rotation, revocation, faults, clock shifts.
//!
//! # Layout
//!
//! - [`config`]: TOML configuration, the embedded default, validation naming file and field.
//! - [`keys`]: signing keys from PEM, the JWKS, rotation and retirement.
//! - [`tokens`]: Descope-shaped claims, minting, verification, the hostile-token catalogue.
//! - [`store`]: in-memory state: users, clients, codes, sessions, refresh families, journal.
//! - [`model`]: users and allow rules, shared by `config` (loads them) and `policy` (decides).
//! - [`policy`]: allow-only Access Control Plane rules → decisions with reasons.
//! - [`parse`]: scope strings, Basic credentials, forms, PKCE, `Bearer <pid>:<secret>`.
//! - [`error`]: RFC 6749 and Descope error shapes, picked by path.
//! - [`state`]: what every handler shares.
//! - [`clock`]: wall-clock seconds and milliseconds (mock time adds the control API's offset).
//! - [`routes`]: one module per protocol surface, plus the `/_mock` control API.
//! - [`ui`]: the consent page and the dashboard: embedded HTML/JS, escaping, their CSPs.
//! - [`cli`]: the `mock-as` command line and its run logic, for binaries that serve the same way.
//! - `testing` (feature `testing`): a real listener on a loopback port for tests, with JSON helpers.
//!
//! # Running in-process
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = mock_as::config::Config::embedded_default()?;
//! let (tx, rx) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(mock_as::serve(listener, config, None, async { let _ = rx.await; }));
//! // ... talk to it ...
//! let _ = tx.send(());
//! server.await??;
//! # Ok(()) }
//! ```
#![doc = include_str!("../README.md")]

pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod issue;
pub mod keys;
pub mod model;
pub mod parse;
pub mod policy;
pub mod protocol;
pub mod routes;
pub mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod ui;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;

/// The application for a state (tests drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// The base URL for a bound listener: the configured one, else `http://<local addr>`.
pub fn base_url_for(config: &Config, listener: &TcpListener) -> std::io::Result<String> {
    if let Some(b) = &config.listen.base_url {
        return Ok(b.clone());
    }
    let addr = listener.local_addr()?;
    Ok(format!("http://{addr}"))
}

/// Serve on an already-bound listener until `shutdown` completes (the caller binds, so tests
/// use port 0 and read the address back). `admin_token`, when set, protects `/_mock/`.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    admin_token: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let base = base_url_for(&config, &listener)?;
    let state = AppState::new(config, base, admin_token)?;
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
