//! `/_mock/keys`: the key ring and JWKS; rotate (take a spare or generate an RSA key), retire (drop
//! a key from the JWKS) and activate (sign with a loaded key again).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;

pub(super) async fn keys(State(st): State<AppState>) -> R {
    let k = st.keys();
    ok(json!({"active": k.active().kid, "keys": k.list(), "jwks": k.jwks()}))
}

/// `POST /_mock/keys/rotate` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateRequest {
    /// Generate a fresh RSA key even if a spare exists.
    #[serde(default)]
    generate: bool,
    /// `kid` for a generated key; default `SKmockGen<random>`.
    #[serde(default)]
    kid: Option<String>,
}

pub(super) async fn rotate(State(st): State<AppState>, body: Option<Json<RotateRequest>>) -> R {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    let need_new = req.generate || !st.keys().has_spare();
    let generated = if need_new {
        let kid = req
            .kid
            .clone()
            .unwrap_or_else(|| format!("SKmockGen{}", &crate::tokens::random_id()[..10]));
        if st.keys().contains(&kid) {
            return Err(MockError::bad(
                "invalid_kid",
                format!("kid: {kid:?} is already in use"),
            ));
        }
        // RSA generation takes a noticeable time: off the async executor.
        let key = tokio::task::spawn_blocking(move || crate::keys::generate_rsa(&kid))
            .await
            .map_err(|e| MockError::bad("generation_failed", e.to_string()))?
            .map_err(|e| MockError::bad("generation_failed", e))?;
        Some(key)
    } else {
        None
    };
    let (old, new) = st
        .keys_mut()
        .rotate(generated)
        .map_err(|e| MockError::bad("rotation_failed", e.to_string()))?;
    let jwks = st.keys().jwks();
    ok(json!({"previous": old, "active": new, "generated": need_new, "jwks": jwks}))
}

/// `POST /_mock/keys/retire` and `/_mock/keys/activate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetireRequest {
    /// The key to remove from the JWKS, or to sign with again.
    kid: String,
}

pub(super) async fn retire(State(st): State<AppState>, Json(r): Json<RetireRequest>) -> R {
    st.keys_mut().retire(&r.kid).map_err(|e| match e {
        crate::keys::KeyError::Unknown(_) => MockError::not_found("unknown_kid", e.to_string()),
        _ => MockError::bad("retire_failed", e.to_string()),
    })?;
    let jwks = st.keys().jwks();
    ok(json!({"retired": r.kid, "jwks": jwks}))
}

/// `POST /_mock/keys/activate`: sign with a loaded key again (undo a rotation); it is published
/// if it was retired or spare, the previous signing key stays published.
pub(super) async fn activate(State(st): State<AppState>, Json(r): Json<RetireRequest>) -> R {
    let (old, new) = st.keys_mut().activate(&r.kid).map_err(|e| match e {
        crate::keys::KeyError::Unknown(_) => MockError::not_found("unknown_kid", e.to_string()),
        _ => MockError::bad("activate_failed", e.to_string()),
    })?;
    let jwks = st.keys().jwks();
    ok(json!({"previous": old, "active": new, "jwks": jwks}))
}
