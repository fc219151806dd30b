//! Steps of `key-rotation.feature`: key rotation (checklist 44) and failing closed when the
//! verifier's dependency is down (23).
//!
//! Rotation changes mock-as for every scenario (new tokens are signed with the new key), so
//! these scenarios are `@serial`, and each one that rotates ends by waiting until the server
//! accepts the new key: the scenarios after it must find a server that knows it. Waits are
//! bounded by the profile's `auth.jwks_cache_seconds` plus a small margin, never open-ended.
//!
//! A fault armed on mock-as is cleared by the very step that armed it, whatever the request
//! did, so a failing scenario never leaves the key set down for the rest of the run; its id is
//! also kept in the World's `armed_fault` until cleared, and the scenario's closing step clears it if still there.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use crate::world::{AuthWorld, Rotation};

/// Slack on top of a declared window, for the requests themselves: as long as the window, at
/// least 1 s and at most 3 s.
fn margin(window: Duration) -> Duration {
    window.clamp(Duration::from_secs(1), Duration::from_secs(3))
}
/// Pause between two tries while waiting for the server to accept a new key.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The pause between tries for a window: a quarter of it, between 100 ms and [`POLL_EVERY`].
fn poll_every(window: Duration) -> Duration {
    (window / 4).clamp(Duration::from_millis(100), POLL_EVERY)
}
/// How often a long wait says where it is.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> Option<String> {
    let h = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(h).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid")?.as_str().map(str::to_string)
}

#[given("the authorization server has rotated its signing key")]
#[when("the authorization server rotates its signing key")]
async fn rotate(w: &mut AuthWorld) {
    let v = match w.ctx.mock.post("/_mock/keys/rotate", json!({})).await {
        Ok(v) => v,
        Err(e) => panic!("mock-as could not rotate its signing key: {e}"),
    };
    let kid = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let (previous, active) = (kid("previous"), kid("active"));
    if active.is_empty() || active == previous {
        panic!("mock-as's rotation answered no new signing key: {v}");
    }
    w.rotation = Some(Rotation {
        previous_kid: previous.to_string(),
        new_kid: active.to_string(),
    });
}

/// Check that the token about to be sent is signed under the rotated-in key: otherwise a pass
/// or a failure would say nothing about rotation.
fn expect_new_kid(w: &AuthWorld) -> String {
    let Some(new_kid) = w.rotation.as_ref().map(|r| r.new_kid.clone()) else {
        panic!("no key was rotated in this scenario (suite bug)");
    };
    let kid = w.token.as_deref().and_then(kid_of);
    if kid.as_deref() != Some(new_kid.as_str()) {
        panic!("mock-as signed the token under kid {kid:?}, not the rotated-in key {new_kid:?}");
    }
    new_kid
}

/// Send `initialize` with the current token until `done(status)` holds or `window` plus the
/// margin has passed, pausing between tries and saying every few seconds what it waits for
/// (`waiting(status)`, e.g. "still answers 401 to ..."). The last exchange is the answer; its
/// token note says how many tries and how long the server was given.
async fn initialize_until(
    w: &mut AuthWorld,
    window: Duration,
    done: impl Fn(u16) -> bool,
    waiting: impl Fn(u16) -> String,
    note_suffix: &str,
) {
    let deadline = window + margin(window);
    crate::runner::announce_wait(&format!("[{}] a token {note_suffix}", w.id), deadline);
    let start = Instant::now();
    let mut last_report = start;
    let mut tries = 0u32;
    let note = w.token_note.clone();
    loop {
        tries += 1;
        let status = w.initialize().await.status;
        let waited = start.elapsed();
        if done(status) || waited >= deadline {
            break;
        }
        if last_report.elapsed() >= REPORT_EVERY {
            eprintln!(
                "[{}] {} after {:.0} s; waiting up to {} s",
                w.id,
                waiting(status),
                waited.as_secs_f64(),
                deadline.as_secs(),
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(poll_every(window).min(deadline - waited)).await;
    }
    if let Some(last) = w.exchanges.last_mut() {
        last.token_note = format!(
            "{note} {note_suffix}, try {tries} after {:.1} s",
            start.elapsed().as_secs_f64(),
        );
    }
}

/// Send `initialize` with the current token until the server serves it or the declared key-cache
/// window (plus a margin) has passed; the last exchange is the answer.
async fn retry_for_key_window(w: &mut AuthWorld) {
    let new_kid = expect_new_kid(w);
    let secs = w.profile().auth.jwks_cache_seconds;
    initialize_until(
        w,
        Duration::from_secs(secs),
        |s| (200..300).contains(&s),
        |s| format!("key rotation: the server still answers {s} to a token signed under the new kid {new_kid} (auth.jwks_cache_seconds = {secs})"),
        &format!("signed under the new kid {new_kid} (declared window {secs} s)"),
    )
    .await;
}

#[when("the client sends an initialize request, retrying for up to the declared key-cache window")]
async fn initialize_retrying(w: &mut AuthWorld) {
    retry_for_key_window(w).await;
}

#[then("the server accepts a token signed with the new key within the declared key-cache window")]
async fn new_key_accepted(w: &mut AuthWorld) {
    w.mint(None, None, None, "a valid token").await;
    retry_for_key_window(w).await;
    let status = w.last().status;
    if !(200..300).contains(&status) {
        w.fail(&format!(
            "the server did not accept a token signed with the rotated-in key within auth.jwks_cache_seconds = {} s (+{} s margin): last answer {status}",
            w.profile().auth.jwks_cache_seconds,
            margin(Duration::from_secs(w.profile().auth.jwks_cache_seconds)).as_secs()
        ));
    }
}

#[given("the authorization server has removed the previous key from its key set")]
async fn retire_previous(w: &mut AuthWorld) {
    let Some(previous) = w.rotation.as_ref().map(|r| r.previous_kid.clone()) else {
        panic!("no key was rotated out in this scenario (suite bug)");
    };
    if let Err(e) = w
        .ctx
        .mock
        .post("/_mock/keys/retire", json!({ "kid": previous }))
        .await
    {
        panic!("mock-as could not remove key {previous} from its JWKS: {e}");
    }
}

/// Send `initialize` with the token signed under the retired key until the server refuses it
/// or `auth.jwks_max_age_seconds` (plus a margin) has passed; the last exchange is the answer.
#[when("the client sends that token again, retrying for up to the declared key cache age")]
async fn resend_until_refused(w: &mut AuthWorld) {
    let Some(previous) = w.rotation.as_ref().map(|r| r.previous_kid.clone()) else {
        panic!("no key was rotated out in this scenario (suite bug)");
    };
    let kid = w.token.as_deref().and_then(kid_of);
    if kid.as_deref() != Some(previous.as_str()) {
        panic!(
            "the token is signed under kid {kid:?}, not the retired key {previous:?} (suite bug)"
        );
    }
    let Some(max_age) = w.profile().auth.jwks_max_age_seconds else {
        panic!(
            "the profile declares no auth.jwks_max_age_seconds (the scenario should be skipped)"
        );
    };
    initialize_until(
        w,
        Duration::from_secs(max_age),
        |s| !(200..300).contains(&s),
        |_| format!("key retirement: the server still serves a token signed under the removed kid {previous} (auth.jwks_max_age_seconds = {max_age})"),
        &format!("signed under kid {previous}, removed from the JWKS (declared max age {max_age} s)"),
    )
    .await;
}

/// Arm a fault on a mock-as endpoint, send `initialize`, clear the fault — in one step, so the
/// fault never outlives it even when the request fails.
#[when(
    regex = r"^the client sends an initialize request while the authorization server's (key set|introspection endpoint) is unavailable$"
)]
async fn initialize_during_outage(w: &mut AuthWorld, what: String) {
    let endpoint = if what == "key set" {
        "jwks"
    } else {
        "introspect"
    };
    let armed = w
        .ctx
        .mock
        .post(
            "/_mock/faults",
            json!({"endpoint": endpoint, "status": 503}),
        )
        .await;
    let id = match armed {
        Ok(v) => match v.get("id").and_then(Value::as_u64) {
            Some(id) => id,
            None => panic!("mock-as armed a fault but answered no id: {v}"),
        },
        Err(e) => panic!("mock-as could not make its {what} unavailable: {e}"),
    };
    w.armed_fault = Some(id);
    w.token_note = format!("{} (while mock-as answers 503 on its {what})", w.token_note);
    w.initialize().await;
    clear_fault(w).await;
}

/// Clear the fault this scenario armed, if any is still armed (idempotent).
async fn clear_fault(w: &mut AuthWorld) {
    let Some(id) = w.armed_fault else {
        return;
    };
    let path = format!("/_mock/faults/{id}");
    let mut last_err = None;
    for _ in 0..3 {
        match w.ctx.mock.delete(&path).await {
            // 404: already gone.
            Ok(_) => {
                last_err = None;
                break;
            }
            Err(e) if e.status == 404 => {
                last_err = None;
                break;
            }
            Err(e) => {
                last_err = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    if let Some(e) = last_err {
        panic!("could not clear fault {id} on mock-as; the rest of the run may see it: {e}");
    }
    w.armed_fault = None;
}

#[then(
    regex = r"^the server serves valid tokens again once the (key set|introspection endpoint) is back$"
)]
async fn served_again(w: &mut AuthWorld, what: String) {
    clear_fault(w).await;
    w.mint(
        None,
        None,
        None,
        &format!("a valid token, once the {what} is back"),
    )
    .await;
    // A server may back off after a failed fetch: give it the declared window, no more.
    let secs = w.profile().auth.jwks_cache_seconds;
    initialize_until(
        w,
        Duration::from_secs(secs),
        |s| (200..300).contains(&s),
        |s| {
            format!(
                "outage: the server still answers {s} to a valid token after the {what} came back"
            )
        },
        &format!("after the {what} came back (auth.jwks_cache_seconds = {secs} s)"),
    )
    .await;
    let status = w.last().status;
    if !(200..300).contains(&status) {
        w.fail(&format!(
            "the server still refuses a valid token after the {what} came back (auth.jwks_cache_seconds = {secs} s, +{} s margin): last answer {status}",
            margin(Duration::from_secs(secs)).as_secs()
        ));
    }
}
