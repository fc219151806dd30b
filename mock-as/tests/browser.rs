//! The interactive consent page and the dashboard, driven in headless Chromium through
//! chromedriver (W3C WebDriver; the client is `common/webdriver.rs`). Without Chromium or
//! chromedriver each test prints `SKIPPED` and passes — except in CI (`CI` set) or with
//! `MCP_AUTHCHECK_REQUIRE_BROWSER=1`, where it fails. `MOCK_AS_UPDATE_SCREENSHOT=1` writes the
//! consent page's screenshot to `mock-as/docs/consent.png` (the README's picture).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use serde_json::{Value, json};

use common::{Mock, RESOURCE, SID, decode_parts, new_verifier, s256};
use webdriver::{Browser, Callback, param};

const CLIENT: &str = "browser-test-client";

/// mock-as in interactive consent mode, with a public client whose redirect URI is `cb`.
async fn interactive(cb: &Callback) -> Mock {
    let mut config = mock_as::Config::embedded_default().unwrap();
    config.project.consent = mock_as::config::ConsentMode::Interactive;
    let m = Mock::start_with(config, None).await;
    let (s, v) = m
        .control(
            "/_mock/clients",
            json!({"id": CLIENT, "name": "Browser Test Client", "type": "public",
                   "redirect_uris": [cb.url]}),
        )
        .await;
    assert!(s == 200 || s == 201, "client registration: {s} {v}");
    m
}

/// The authorization URL for `scope` (and extra parameters); the PKCE verifier.
fn authorize_url(m: &Mock, cb: &Callback, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    let verifier = new_verifier();
    let challenge = s256(&verifier);
    let mut u = url::Url::parse(&m.authorize_url()).unwrap();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", CLIENT)
            .append_pair("redirect_uri", &cb.url)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "browser-state")
            .append_pair("resource", RESOURCE)
            .append_pair("scope", scope);
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    (u.to_string(), verifier)
}

/// Exchange a code at the token endpoint.
async fn exchange(m: &Mock, cb: &Callback, code: &str, verifier: &str) -> Value {
    let (s, v) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("client_id", CLIENT),
                ("redirect_uri", &cb.url),
                ("code_verifier", verifier),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(s, 200, "token exchange: {v}");
    v
}

fn scopes_of(claims: &Value) -> Vec<String> {
    claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_with_a_scope_unticked_ends_in_a_token_for_the_chosen_user_and_scopes() {
    let Some(b) = Browser::start("consent page: approve").await else {
        return;
    };
    let cb = Callback::start().await;
    let m = interactive(&cb).await;
    let (url, verifier) = authorize_url(
        &m,
        &cb,
        "mcp:read calendar.read calendar.write",
        &[("login_hint", "alice@example.com")],
    );
    b.goto(&url).await;
    assert!(
        b.text_of("#heading").await.contains("Browser Test Client"),
        "the page names the client"
    );
    assert_eq!(
        b.text_of("tr[data-scope='mcp:read'] .description").await,
        "Use the server's tools",
        "the configured description of mcp:read"
    );
    let alice = b.find("#user option[value='U2alice']").await;
    assert!(b.selected(&alice).await, "login_hint preselects alice");
    // Choose another user, untick calendar.write, approve.
    b.click_css("#user option[value='U2root']").await;
    b.click_css("tr[data-scope='calendar.write'] input[type=checkbox]")
        .await;
    b.click_css("#approve").await;
    let q = cb.wait().await;
    assert_eq!(param(&q, "state"), Some("browser-state"));
    assert_eq!(param(&q, "iss"), Some(m.issuer(SID).as_str()));
    let code = param(&q, "code").unwrap_or_else(|| panic!("no code in {q:?}"));
    let t = exchange(&m, &cb, code, &verifier).await;
    let (_, claims) = decode_parts(t["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "U2root", "the user chosen on the page");
    assert_eq!(
        scopes_of(&claims),
        ["mcp:read", "calendar.read"],
        "the scopes left ticked"
    );
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_ends_in_access_denied_at_the_redirect_uri() {
    let Some(b) = Browser::start("consent page: deny").await else {
        return;
    };
    let cb = Callback::start().await;
    let m = interactive(&cb).await;
    let (url, _) = authorize_url(&m, &cb, "mcp:read", &[]);
    b.goto(&url).await;
    b.click_css("#deny").await;
    let q = cb.wait().await;
    assert_eq!(param(&q, "error"), Some("access_denied"), "{q:?}");
    assert_eq!(param(&q, "state"), Some("browser-state"));
    assert_eq!(param(&q, "code"), None);
    b.wait_text("#callback", "callback received").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_the_consent_policy_drops_is_shown_dropped_and_checking_an_admin_grants_it() {
    let Some(b) = Browser::start("consent page: policy-dropped scope").await else {
        return;
    };
    let cb = Callback::start().await;
    let m = interactive(&cb).await;
    let (url, verifier) = authorize_url(&m, &cb, "mcp:read mcp:admin", &[]);
    b.goto(&url).await;
    // The default user (alice, role "user") may not have mcp:admin: "admins only".
    let row = b.find("tr[data-scope='mcp:admin']").await;
    assert_eq!(b.attribute(&row, "class").await.as_deref(), Some("dropped"));
    let verdict = b.text_of("tr[data-scope='mcp:admin'] .verdict").await;
    assert!(
        verdict.starts_with("dropped") && verdict.contains("admins only"),
        "{verdict}"
    );
    let boxed = b
        .find("tr[data-scope='mcp:admin'] input[type=checkbox]")
        .await;
    assert!(!b.enabled(&boxed).await, "a dropped scope cannot be ticked");
    if std::env::var("MOCK_AS_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        b.window_size(820, 800).await;
        let png = b.screenshot().await;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/consent.png");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
        eprintln!("wrote {}", path.display());
    }
    assert_eq!(
        b.attribute(&b.find("tr[data-scope='mcp:read']").await, "class")
            .await
            .as_deref(),
        Some("granted")
    );
    // Another user, checked without JavaScript: the page is rendered again for them.
    b.click_css("#user option[value='U2root']").await;
    b.click_css("#check").await;
    b.wait_text("#verdict-for", "U2root").await;
    let verdict = b.text_of("tr[data-scope='mcp:admin'] .verdict").await;
    assert!(verdict.starts_with("granted"), "{verdict}");
    b.click_css("#approve").await;
    let q = cb.wait().await;
    let t = exchange(&m, &cb, param(&q, "code").unwrap(), &verifier).await;
    let (_, claims) = decode_parts(t["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "U2root");
    assert_eq!(scopes_of(&claims), ["mcp:read", "mcp:admin"]);
    b.quit().await;
}

/// The session a refresh token's grant belongs to, by its access token's `jti`.
async fn session_of(m: &Mock, access_token: &str) -> String {
    let (_, claims) = decode_parts(access_token);
    let (s, v) = m.get_json("/_mock/tokens").await;
    assert_eq!(s, 200);
    v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["jti"] == claims["jti"])
        .and_then(|t| t["session_id"].as_str())
        .unwrap_or_else(|| panic!("no session for jti {} in {v}", claims["jti"]))
        .to_string()
}

async fn refresh(m: &Mock, refresh_token: &str) -> (u16, Value) {
    m.post_form(
        &m.token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", common::PUBLIC_CLIENT),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_journal_entry_made_after_it_was_opened() {
    let Some(b) = Browser::start("dashboard: live journal").await else {
        return;
    };
    let m = Mock::start().await;
    b.goto(&m.url("/_mock/ui")).await;
    b.wait_text("#live", "live").await;
    let marker = format!("/dashboard-probe-{}", new_verifier());
    assert!(
        !b.text_of("#journal").await.contains(&marker),
        "not there before the request"
    );
    let (s, _) = m.get_json(&marker).await;
    assert_eq!(s, 404);
    // No reload: the page polls the journal.
    let row = b.wait_text("#journal tbody", &marker).await;
    assert!(row.contains("404"), "{row}");
    // For a look at the page: target/tmp/dashboard.png.
    let png = b.screenshot().await;
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"),
        png,
    )
    .unwrap();
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_session_on_the_dashboard_makes_its_refresh_fail() {
    let Some(b) = Browser::start("dashboard: revoke a session").await else {
        return;
    };
    let m = Mock::start().await;
    let revoked = m.code_flow(&[]).await;
    let kept = m.code_flow(&[]).await;
    let sid = session_of(&m, revoked["access_token"].as_str().unwrap()).await;
    let other = session_of(&m, kept["access_token"].as_str().unwrap()).await;
    assert_ne!(sid, other);
    b.goto(&m.url("/_mock/ui")).await;
    let row = format!("#sessions tr[data-session='{sid}']");
    b.wait_text(&format!("{row} .state"), "active").await;
    b.click_css(&format!("{row} button.revoke")).await;
    b.wait_text(&format!("{row} .state"), "revoked").await;
    // The click revoked that session, and only it.
    let (s, v) = refresh(&m, revoked["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], "invalid_grant");
    let (s, v) = refresh(&m, kept["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "the other session still refreshes: {v}");
    b.wait_text(
        &format!("#sessions tr[data-session='{other}'] .state"),
        "active",
    )
    .await;
    b.quit().await;
}
