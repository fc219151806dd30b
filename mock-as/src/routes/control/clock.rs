//! `/_mock/clock`: read, set or advance the mock clock's offset (every time the mock issues or
//! checks is wall clock plus offset), bounded to 100 years either way.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;

pub(super) async fn clock(State(st): State<AppState>) -> R {
    ok(json!({"offset_secs": st.clock_offset(), "now": st.now()}))
}

/// `POST /_mock/clock` body: set or advance the offset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockRequest {
    /// Set the offset to this many seconds.
    #[serde(default)]
    offset_secs: Option<i64>,
    /// Add this many seconds to the offset.
    #[serde(default)]
    advance_secs: Option<i64>,
}

/// The largest clock offset either way: 100 years. Mock time is `wall clock + offset` and every
/// handler adds lifetimes to it; an offset near `i64::MAX` made `AppState::now` overflow, so
/// every later request panicked until a reset (found by fuzzing).
pub const MAX_CLOCK_OFFSET_SECS: i64 = 100 * 366 * 86_400;

pub(super) async fn set_clock(State(st): State<AppState>, Json(c): Json<ClockRequest>) -> R {
    let offset = match (c.offset_secs, c.advance_secs) {
        (Some(o), None) => o,
        (None, Some(a)) => st.clock_offset().saturating_add(a),
        _ => {
            return Err(MockError::bad(
                "invalid_clock",
                "send exactly one of offset_secs, advance_secs",
            ));
        }
    };
    if offset.unsigned_abs() > MAX_CLOCK_OFFSET_SECS.unsigned_abs() {
        return Err(MockError::bad(
            "invalid_clock",
            format!(
                "the offset would be {offset} s; at most {MAX_CLOCK_OFFSET_SECS} s (100 years) either way"
            ),
        ));
    }
    st.set_clock_offset(offset);
    ok(json!({"offset_secs": st.clock_offset(), "now": st.now()}))
}
