//! Steps of `expiry.feature` (checklist 39-42). Expired, not-yet-valid and exp-less tokens use
//! the shared flaw phrases of `common`; what lives here is the mid-session expiry (42).
//!
//! A token that expires mid-session is played without sleeping: the session is opened with a
//! valid token, then the next request carries a token for the same user and client whose `exp`
//! is an hour in the past (mock-as's `expired` flaw) — to the server, exactly what the first
//! token looks like once it has expired, far beyond any clock leeway.

use cucumber::{given, when};

use crate::world::AuthWorld;

/// Open a session with a valid token; fails the step unless the server served it with a
/// session id (the scenarios that call this are `@stateful`).
pub(crate) async fn open_session_with_valid_token(w: &mut AuthWorld) {
    w.valid_token().await;
    let status = w.open().await.status;
    if !(200..300).contains(&status) {
        w.fail(&format!(
            "the server refused to open a session with a valid token ({status})"
        ));
    }
    if w.session.is_none() {
        w.fail("the server opened no session (no Mcp-Session-Id), although the profile says it keeps sessions");
    }
}

/// Send the next request on the open session with the user's token after its expiry.
async fn request_with_expired_token(w: &mut AuthWorld) {
    w.mint(
        None,
        Some("expired"),
        None,
        "the session's token after it expired (exp an hour ago, same user and client)",
    )
    .await;
    w.list_tools().await;
}

#[given("the client has opened a session with a token that later expires")]
async fn session_with_expiring_token(w: &mut AuthWorld) {
    open_session_with_valid_token(w).await;
}

#[when("the client sends its next request on that session after the token has expired")]
async fn next_request_expired(w: &mut AuthWorld) {
    request_with_expired_token(w).await;
}

#[given("the server has refused the expired token on that session")]
async fn expired_refused(w: &mut AuthWorld) {
    request_with_expired_token(w).await;
    let status = w.last().status;
    if status != 401 {
        w.fail(&format!(
            "expected the expired token to be refused with 401 on the session, got {status}"
        ));
    }
}

#[when("the client sends the next request on that session with a fresh token for the same user")]
async fn next_request_fresh(w: &mut AuthWorld) {
    w.mint(
        None,
        None,
        None,
        "a fresh valid token for the session's user (after the first one expired)",
    )
    .await;
    w.list_tools().await;
}
