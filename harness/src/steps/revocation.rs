//! Steps of `revocation.feature` (checklist 43, introspecting servers only): revoke a token the
//! server has already accepted — at the authorization server's control API, through RFC 7009 as
//! the client itself would, or by signing the user out everywhere — then send the next request
//! (retried for up to the profile's `auth.introspection_cache_seconds`, default 0: no retry).
//!
//! Each revocation is confirmed at mock-as's userinfo endpoint before the server is asked again,
//! so a 2xx afterwards is the server's doing, never a revocation that did not take.

use std::time::{Duration, Instant};

use cucumber::{given, when};
use serde_json::json;

use crate::world::AuthWorld;

/// A throwaway redirect URI for the public client a scenario registers (never visited).
const REDIRECT_URI: &str = "http://127.0.0.1:33418/callback";

#[given("the server has accepted a valid token")]
async fn accepted_valid_token(w: &mut AuthWorld) {
    w.valid_token().await;
    let status = w.initialize().await.status;
    if !(200..300).contains(&status) {
        w.fail(&format!(
            "the server refused a valid token ({status}); the scenario starts from a server that serves one"
        ));
    }
}

#[given("the client has opened a session with a token that is later revoked")]
async fn session_with_revoked_token(w: &mut AuthWorld) {
    super::expiry::open_session_with_valid_token(w).await;
}

#[when("the authorization server revokes that token")]
async fn as_revokes_token(w: &mut AuthWorld) {
    let token = current_token(w);
    if let Err(e) = w
        .ctx
        .mock
        .post("/_mock/revoke", json!({ "token": token }))
        .await
    {
        panic!("mock-as could not revoke the token: {e}");
    }
    confirm_revoked(w, &token).await;
    w.token_note = format!("{} (revoked at the authorization server)", w.token_note);
}

#[when("the client revokes that token at the authorization server's revocation endpoint")]
async fn client_revokes_token(w: &mut AuthWorld) {
    let token = current_token(w);
    // RFC 7009 §2.1: the client identifies itself; a public client sends its client_id alone.
    // The scenario's client is registered now, under the id its tokens already carry.
    let client = json!({
        "id": w.client_id,
        "name": format!("authcheck scenario {}", w.id),
        "type": "public",
        "redirect_uris": [REDIRECT_URI],
    });
    if let Err(e) = w.ctx.mock.post("/_mock/clients", client).await {
        panic!("mock-as could not register the scenario's client: {e}");
    }
    let url = format!(
        "{}/oauth2/v1/apps/{}/revoke",
        w.ctx.mock.base,
        w.profile().mock_as.project_id
    );
    let form = [
        ("token", token.as_str()),
        ("token_type_hint", "access_token"),
        ("client_id", w.client_id.as_str()),
    ];
    match crate::http::client(&crate::http::Timeouts::default())
        .post(&url)
        .form(&form)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            panic!("the revocation endpoint {url} answered {status}: {body}");
        }
        Err(e) => panic!("POST {url}: {e}"),
    }
    confirm_revoked(w, &token).await;
    w.token_note = format!("{} (revoked by the client, RFC 7009)", w.token_note);
}

#[when("the authorization server revokes all of the user's sessions")]
async fn as_revokes_user(w: &mut AuthWorld) {
    let user = w.user().await;
    if let Err(e) = w
        .ctx
        .mock
        .post("/_mock/revoke", json!({ "user": user }))
        .await
    {
        panic!("mock-as could not revoke the user's sessions: {e}");
    }
    let token = current_token(w);
    confirm_revoked(w, &token).await;
    w.token_note = format!(
        "{} (the user's sessions were revoked at the authorization server)",
        w.token_note
    );
}

/// Send `initialize` (or `tools/list`) until the server refuses it or the profile's
/// `auth.introspection_cache_seconds` has passed; with 0 (the default) exactly once: a revoked
/// token must be refused on the next request. The last exchange is the answer.
#[when(
    regex = r"^the client (sends an initialize request|lists the tools) within the declared introspection cache lifetime$"
)]
async fn request_within_cache_lifetime(w: &mut AuthWorld, what: String) {
    let ttl = Duration::from_secs(w.profile().auth.introspection_cache_seconds);
    let start = Instant::now();
    let mut tries = 0u32;
    let note = w.token_note.clone();
    loop {
        tries += 1;
        let status = if what == "lists the tools" {
            w.list_tools().await.status
        } else {
            w.initialize().await.status
        };
        let waited = start.elapsed();
        if !(200..300).contains(&status) || waited >= ttl {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500).min(ttl - waited)).await;
    }
    if tries > 1
        && let Some(last) = w.exchanges.last_mut()
    {
        last.token_note = format!(
            "{note}; try {tries} after {:.1} s (auth.introspection_cache_seconds = {})",
            start.elapsed().as_secs_f64(),
            ttl.as_secs()
        );
    }
}

/// The token the scenario holds (a step that needs one when there is none is a suite bug).
fn current_token(w: &AuthWorld) -> String {
    match &w.token {
        Some(t) => t.clone(),
        None => panic!("no token to revoke: the scenario holds none"),
    }
}

/// mock-as's own userinfo must refuse the token now (README: a revoked token → 401), else the
/// revocation did not take and the scenario would blame the server for mock-as's defect.
async fn confirm_revoked(w: &AuthWorld, token: &str) {
    let url = format!(
        "{}/oauth2/v1/apps/{}/userinfo",
        w.ctx.mock.base,
        w.profile().mock_as.project_id
    );
    match crate::http::client(&crate::http::Timeouts::default())
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) if r.status().as_u16() == 401 => {}
        Ok(r) => panic!(
            "mock-as still honours the token after revoking it: GET {url} answered {} (expected 401); a mock-as defect, not the server's",
            r.status()
        ),
        Err(e) => panic!("GET {url}: {e}"),
    }
}
