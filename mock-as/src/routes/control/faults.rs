//! `/_mock/faults`: arm, list and clear faults — an error status and/or a delay on a named
//! endpoint or a path prefix, for a count of requests or until cleared.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::{R, ok};
use crate::error::MockError;
use crate::protocol::Endpoint;
use crate::state::AppState;
use crate::store::Fault;

/// The endpoint names a fault accepts, comma-separated.
fn endpoint_names() -> String {
    Endpoint::faultable()
        .map(Endpoint::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn list_faults(State(st): State<AppState>) -> R {
    let f = st.store().faults().to_vec();
    ok(json!({ "faults": f }))
}

pub(super) async fn arm_fault(State(st): State<AppState>, Json(f): Json<Fault>) -> R {
    if f.endpoint.is_none() && f.path_prefix.is_none() {
        return Err(MockError::bad(
            "invalid_fault",
            format!("send endpoint (one of {}) or path_prefix", endpoint_names()),
        ));
    }
    if let Some(e) = &f.endpoint
        && !Endpoint::faultable().any(|x| x.as_str() == e)
    {
        return Err(MockError::bad(
            "invalid_fault",
            format!("endpoint: {e:?} is not one of {}", endpoint_names()),
        ));
    }
    if f.status.is_none() && f.delay_ms.is_none() {
        return Err(MockError::bad(
            "invalid_fault",
            "send status, delay_ms or both",
        ));
    }
    if let Some(s) = f.status
        && !(400..=599).contains(&s)
    {
        return Err(MockError::bad(
            "invalid_fault",
            format!("status: {s} is not an HTTP error status (400 to 599)"),
        ));
    }
    if f.delay_ms.is_some_and(|d| d > 120_000) {
        return Err(MockError::bad("invalid_fault", "delay_ms: at most 120000"));
    }
    check_fault_headers(&f)?;
    if f.user.as_deref().is_some_and(|u| u.trim().is_empty()) {
        return Err(MockError::bad(
            "invalid_fault",
            "user: a user id (the bearer JWT's sub), or omit it",
        ));
    }
    if f.count == Some(0) {
        return Err(MockError::bad(
            "invalid_fault",
            "count: at least 1 (omit it for until-cleared)",
        ));
    }
    let f = st.store().arm_fault(f);
    Ok((StatusCode::CREATED, axum::Json(json!(f))).into_response())
}

/// Headers a fault may add to its error: valid names and values (RFC 9110 §5), at most
/// [`MAX_FAULT_HEADERS`], none that frame the body (mock-as writes the body in its path's shape).
fn check_fault_headers(f: &Fault) -> Result<(), MockError> {
    let bad = |m: String| Err(MockError::bad("invalid_fault", m));
    if f.headers.is_empty() {
        return Ok(());
    }
    if f.status.is_none() {
        return bad("headers: only with status (they go on the injected error)".into());
    }
    if f.headers.len() > MAX_FAULT_HEADERS {
        return bad(format!("headers: at most {MAX_FAULT_HEADERS}"));
    }
    for (k, v) in &f.headers {
        let Ok(name) = axum::http::HeaderName::from_bytes(k.as_bytes()) else {
            return bad(format!("headers: {k:?} is not a header name"));
        };
        if FRAMING_HEADERS.contains(&name.as_str()) {
            return bad(format!(
                "headers: {k:?} frames the body, which mock-as writes itself"
            ));
        }
        if axum::http::HeaderValue::from_str(v).is_err() {
            return bad(format!("headers.{k}: {v:?} is not a header value"));
        }
    }
    Ok(())
}

/// The most headers one fault adds.
pub const MAX_FAULT_HEADERS: usize = 16;

/// Headers a fault may not set: the body's framing and the connection's.
const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "content-encoding",
];

pub(super) async fn clear_faults(State(st): State<AppState>) -> R {
    let n = st.store().clear_faults();
    ok(json!({ "cleared": n }))
}

pub(super) async fn delete_fault(State(st): State<AppState>, Path(id): Path<u64>) -> R {
    if !st.store().disarm_fault(id) {
        return Err(MockError::not_found(
            "unknown_fault",
            format!("no fault {id}"),
        ));
    }
    ok(json!({ "cleared": 1 }))
}
