//! Wall-clock time, in the units the mock records: epoch seconds (token `iat`/`exp`, expiries)
//! and epoch milliseconds (journal timestamps). Mock time — the wall clock plus the control
//! API's offset — is [`crate::state::AppState::now`]; this module is the layer below it, so that
//! the store can read the time without depending on the state that owns it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock epoch seconds.
pub fn wall_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Wall-clock epoch milliseconds.
pub fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
