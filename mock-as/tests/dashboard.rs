//! The dashboard over plain HTTP (the browser drives it in `browser.rs`): it is HTML under the
//! control API's guard, its script only calls `/_mock/...`, and the control endpoints it added
//! (`GET /_mock/sessions`, `GET /_mock/tokens`, `POST /_mock/revoke {"session"}`) behave.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::json;

use common::Mock;

#[tokio::test]
async fn the_dashboard_is_html_and_its_script_calls_only_the_control_api() {
    let m = Mock::start().await;
    let r = m.http.get(m.url("/_mock/ui")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("<script src=\"/_mock/ui/app.js\" defer></script>"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );
    let r = m.http.get(m.url("/_mock/ui/app.js")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let js = r.text().await.unwrap();
    // One fetch, to "/_mock" + path: the dashboard has no second code path.
    assert_eq!(
        js.matches("fetch(").count(),
        1,
        "one place calls the server"
    );
    assert!(js.contains("fetch(\"/_mock\" + path"));
    assert!(
        !js.contains("innerHTML"),
        "data reaches the page as text only"
    );
}

#[tokio::test]
async fn with_an_admin_token_the_dashboard_is_guarded_like_the_control_api() {
    let m = Mock::start_with(
        mock_as::Config::embedded_default().unwrap(),
        Some("dash-admin".into()),
    )
    .await;
    for path in ["/_mock/ui", "/_mock/ui/app.js", "/_mock/sessions"] {
        let r = m.http.get(m.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        let r = m
            .http
            .get(m.url(path))
            .bearer_auth("dash-admin")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
}

#[tokio::test]
async fn sessions_and_tokens_list_what_was_issued_and_a_session_can_be_revoked() {
    let m = Mock::start().await;
    let t = m.code_flow(&[]).await;
    let (_, claims) = common::decode_parts(t["access_token"].as_str().unwrap());
    let (s, tokens) = m.get_json("/_mock/tokens").await;
    assert_eq!(s, 200);
    let mine = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["jti"] == claims["jti"])
        .unwrap()
        .clone();
    assert_eq!(mine["user_id"], "U2alice");
    assert_eq!(mine["revoked"], false);
    let sid = mine["session_id"].as_str().unwrap().to_string();
    let (_, sessions) = m.get_json("/_mock/sessions").await;
    let session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == sid.as_str())
        .unwrap()
        .clone();
    assert_eq!(session["client_id"], common::PUBLIC_CLIENT);
    assert_eq!(session["refresh_tokens"], 1);
    assert_eq!(session["revoked"], false);

    let (s, v) = m.control("/_mock/revoke", json!({"session": sid})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revoked"]["session"], sid.as_str());
    let (_, sessions) = m.get_json("/_mock/sessions").await;
    let session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == sid.as_str())
        .unwrap()
        .clone();
    assert_eq!(session["revoked"], true);
    assert_eq!(session["refresh_tokens"], 0);
    assert_eq!(session["access_tokens"][0]["revoked"], true);
    let intro = m.introspect(t["access_token"].as_str().unwrap()).await;
    assert_eq!(intro["active"], false, "its access token is revoked too");

    let (s, v) = m.control("/_mock/revoke", json!({"session": "nope"})).await;
    assert_eq!(s, 404);
    assert_eq!(v["error"], "unknown_session");
    let (s, v) = m
        .control("/_mock/revoke", json!({"session": sid, "user": "U2alice"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "invalid_request");
}
