//! Interactive consent over plain HTTP (the browser tests are in `browser.rs`): the page, its
//! form's CSRF token (bound to one request, single use), bad submissions answered in the RFC
//! 6749 shape, escaping of client-controlled names, `prompt=none`, the outbound connect page,
//! and headless mode unchanged.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{Value, json};

use common::{MGMT_KEY, Mock, PID, PUBLIC_CLIENT, PUBLIC_REDIRECT, location, query_param};

async fn interactive() -> Mock {
    let mut config = mock_as::Config::embedded_default().unwrap();
    config.project.consent = mock_as::config::ConsentMode::Interactive;
    Mock::start_with(config, None).await
}

/// The value of `<input type="hidden" name="NAME" value="...">` on a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[i..].split('"').next().unwrap().to_string()
}

/// GET the consent page for the public client; (status, content type, body).
async fn page(m: &Mock, extra: &[(&str, &str)]) -> (u16, String, String) {
    let (r, _) = m.authorize(extra).await;
    let s = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, ct, r.text().await.unwrap())
}

async fn submit(m: &Mock, form: &[(&str, &str)]) -> reqwest::Response {
    m.http
        .post(m.url("/oauth2/v1/consent"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_page_is_html_with_the_scope_descriptions_approve_and_deny() {
    let m = interactive().await;
    let (s, ct, body) = page(&m, &[]).await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(
        body.contains("Use the server&#39;s tools"),
        "mcp:read's description"
    );
    assert!(body.contains("Read calendar events"));
    assert!(body.contains("id=\"approve\"") && body.contains("id=\"deny\""));
    assert!(
        !body.contains("<script"),
        "the consent page works without JavaScript"
    );
}

#[tokio::test]
async fn approve_by_form_post_redirects_with_a_code_and_the_token_is_the_chosen_users() {
    let m = interactive().await;
    let (r, verifier) = m.authorize(&[("scope", "mcp:read calendar.read")]).await;
    let body = r.text().await.unwrap();
    let (request, csrf) = (hidden(&body, "request"), hidden(&body, "csrf"));
    let r = submit(
        &m,
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "U2root"),
            ("tenant", "T2acme"),
            ("scope", "mcp:read"),
            ("scope", "mcp:admin"), // not requested: ignored
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(PUBLIC_REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st4te"));
    let code = query_param(&loc, "code").unwrap();
    let (s, t) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", PUBLIC_CLIENT),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let (_, c) = common::decode_parts(t["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "U2root");
    assert_eq!(c["scope"], "mcp:read");
    assert_eq!(c["dct"], "T2acme");

    // Single use: the same form again is refused, JSON, RFC 6749 shape, no redirect.
    let (s, v) = json_of(
        submit(
            &m,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("user", "U2root"),
                ("action", "approve"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "invalid_request", "{v}");
    assert!(v["error_description"].as_str().unwrap().contains("used"));
}

#[tokio::test]
async fn a_wrong_csrf_token_is_refused_and_discards_the_request() {
    let m = interactive().await;
    let (_, _, body) = page(&m, &[]).await;
    let (request, csrf) = (hidden(&body, "request"), hidden(&body, "csrf"));
    // Another page's token does not fit this request.
    let (_, _, other) = page(&m, &[]).await;
    let other_csrf = hidden(&other, "csrf");
    assert_ne!(csrf, other_csrf, "one token per page");
    let (s, v) = json_of(
        submit(
            &m,
            &[
                ("request", &request),
                ("csrf", &other_csrf),
                ("user", "U2alice"),
                ("action", "approve"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "invalid_request");
    assert!(
        v["error_description"].as_str().unwrap().contains("csrf"),
        "{v}"
    );
    // The forged attempt consumed the request: the right token no longer works either.
    let (s, _) = json_of(
        submit(
            &m,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("user", "U2alice"),
                ("action", "approve"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn bad_submissions_get_rfc6749_errors_never_a_5xx() {
    let m = interactive().await;
    let (s, v) = json_of(submit(&m, &[]).await).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
    let (s, v) = json_of(
        m.http
            .post(m.url("/oauth2/v1/consent"))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 415, "{v}");
    assert!(v["error_description"].is_string());
    let (s, v) =
        json_of(submit(&m, &[("request", "a"), ("request", "b"), ("csrf", "c")]).await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    // An unknown action on a real request.
    let (_, _, body) = page(&m, &[]).await;
    let (request, csrf) = (hidden(&body, "request"), hidden(&body, "csrf"));
    let (s, v) = json_of(
        submit(
            &m,
            &[("request", &request), ("csrf", &csrf), ("action", "launch")],
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = m.get_json("/oauth2/v1/consent").await;
    assert_eq!(s, 405);
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn an_unknown_user_or_a_foreign_tenant_renders_the_page_again_with_the_problem() {
    let m = interactive().await;
    let (_, _, body) = page(&m, &[]).await;
    let r = submit(
        &m,
        &[
            ("request", &hidden(&body, "request")),
            ("csrf", &hidden(&body, "csrf")),
            ("user", "U2mallory"),
            ("tenant", "T2acme"),
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let again = r.text().await.unwrap();
    assert!(again.contains("id=\"error\""), "{again}");
    assert!(again.contains("not a member of tenant"));
    // A fresh token for the fresh page; the old one is gone.
    assert_ne!(hidden(&again, "csrf"), hidden(&body, "csrf"));
    // The new page's form works.
    let r = submit(
        &m,
        &[
            ("request", &hidden(&again, "request")),
            ("csrf", &hidden(&again, "csrf")),
            ("user", "U2alice"),
            ("action", "deny"),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test]
async fn a_login_hint_naming_nobody_is_said_on_the_page() {
    let m = interactive().await;
    let (s, _, body) = page(&m, &[("login_hint", "nobody@example.com")]).await;
    assert_eq!(s, 200);
    assert!(body.contains("names no configured user"), "{body}");
}

#[tokio::test]
async fn client_controlled_names_are_escaped() {
    let m = interactive().await;
    let evil = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
    let (s, v) = m
        .control(
            "/_mock/clients",
            json!({"id": "evil-client", "name": evil, "type": "public",
                   "redirect_uris": ["http://127.0.0.1:9/cb"]}),
        )
        .await;
    assert!(s == 200 || s == 201, "{v}");
    let (r, _) = m
        .authorize(&[
            ("client_id", "evil-client"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("state", "\"><b>state</b>"),
        ])
        .await;
    let body = r.text().await.unwrap();
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img"));
}

#[tokio::test]
async fn the_page_forbids_framing_caching_and_scripts() {
    let m = interactive().await;
    let (r, _) = m.authorize(&[]).await;
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:33418"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
}

#[tokio::test]
async fn prompt_none_cannot_show_a_page_and_is_refused_with_consent_required() {
    let m = interactive().await;
    let (r, _) = m.authorize(&[("prompt", "none")]).await;
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("consent_required")
    );
}

#[tokio::test]
async fn headless_stays_the_default_and_redirects_at_once() {
    let m = Mock::start().await;
    let (r, _) = m.authorize(&[]).await;
    assert_eq!(r.status().as_u16(), 302);
    assert!(query_param(&location(&r), "code").is_some());
    let (_, info) = m.get_json("/_mock/info").await;
    assert_eq!(info["consent"], "headless");
    let (s, v) = json_of(submit(&m, &[("request", "x"), ("csrf", "y")]).await).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
}

/// Start a connect flow with the management key; the connect URL.
async fn connect_url(m: &Mock, redirect: Option<&str>) -> String {
    let mut options = json!({});
    if let Some(r) = redirect {
        options["redirectUrl"] = json!(r);
    }
    let r = m
        .http
        .post(m.url("/v1/mgmt/outbound/app/connect"))
        .bearer_auth(format!("{PID}:{MGMT_KEY}"))
        .json(&json!({"appId": "google-calendar", "userId": "U2alice", "options": options}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    v["url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_connect_url_is_a_page_whose_form_connects_or_denies() {
    let m = interactive().await;
    let url = connect_url(&m, Some("https://app.example.com/done")).await;
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Google Calendar") && body.contains("calendar.readonly"),
        "{body}"
    );
    // The page does not consume the request; the form does.
    let csrf = hidden(&body, "csrf");
    let r = m
        .http
        .post(&url)
        .form(&[("csrf", csrf.as_str()), ("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        query_param(&location(&r), "connected").as_deref(),
        Some("google-calendar")
    );
    // Used: gone (Descope shape on /v1/...).
    let r = m
        .http
        .post(&url)
        .form(&[("csrf", csrf.as_str()), ("action", "approve")])
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, 404);
    assert!(v["errorCode"].is_string(), "{v}");

    // Deny.
    let url = connect_url(&m, Some("https://app.example.com/done")).await;
    let body = m.http.get(&url).send().await.unwrap().text().await.unwrap();
    let r = m
        .http
        .post(&url)
        .form(&[("csrf", hidden(&body, "csrf").as_str()), ("action", "deny")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );

    // A wrong token: 400 in Descope's shape, and the request is gone.
    let url = connect_url(&m, None).await;
    let _ = m.http.get(&url).send().await.unwrap();
    let (s, v) = json_of(
        m.http
            .post(&url)
            .form(&[("csrf", "forged"), ("action", "approve")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["errorCode"], "E011003", "{v}");
    let (s, _) = json_of(m.http.get(&url).send().await.unwrap()).await;
    assert_eq!(s, 404);
}

#[test]
fn the_mode_is_a_project_setting_in_the_configuration() {
    let default = mock_as::config::DEFAULT_TOML;
    let with = |line: &str| default.replacen("[project]\n", &format!("[project]\n{line}\n"), 1);
    let c = mock_as::Config::parse(&with("consent = \"interactive\""), "t.toml", None).unwrap();
    assert_eq!(c.project.consent, mock_as::config::ConsentMode::Interactive);
    let c = mock_as::Config::parse(default, "t.toml", None).unwrap();
    assert_eq!(c.project.consent, mock_as::config::ConsentMode::Headless);
    let e = mock_as::Config::parse(&with("consent = \"maybe\""), "t.toml", None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("consent") && msg.contains("interactive"),
        "{msg}"
    );
}

/// Browser-based clients (MCP Inspector) call the OAuth surface cross-origin; the control API
/// and the management API stay same-origin only.
#[tokio::test]
async fn cors_covers_the_oauth_surface_and_not_the_control_api() {
    let m = Mock::start().await;
    let preflight = |path: String| {
        m.http
            .request(reqwest::Method::OPTIONS, m.url(&path))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, mcp-protocol-version",
            )
            .send()
    };
    let token = format!("/oauth2/v1/apps/agentic/{PID}/MS2calendar/token");
    let r = preflight(token.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "content-type, mcp-protocol-version"
    );
    let r = m
        .http
        .get(m.url(&format!(
            "/v1/apps/agentic/{PID}/MS2calendar/.well-known/oauth-authorization-server"
        )))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    for path in ["/_mock/info".to_string(), "/v1/mgmt/license".to_string()] {
        let r = preflight(path.clone()).await.unwrap();
        assert_ne!(r.status().as_u16(), 204, "{path}");
        assert!(
            !r.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    let r = m.http.get(m.url("/_mock/info")).send().await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}
