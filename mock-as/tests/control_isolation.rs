//! Control calls the conformance suite uses to match mock-as to a system under test and to keep
//! concurrent scenarios apart: server entries, outbound apps, and named policy rules.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::{Value, json};

async fn patch(m: &Mock, path: &str, body: Value) -> (u16, Value) {
    let r = m.http.patch(m.url(path)).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn delete(m: &Mock, path: &str) -> (u16, Value) {
    let r = m.http.delete(m.url(path)).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn patching_a_server_entry_changes_discovery_and_token_audience() {
    let m = Mock::start().await;
    let sut = "http://127.0.0.1:45678/mcp";
    let (s, v) = patch(
        &m,
        &format!("/_mock/servers/{SID}"),
        json!({"url": sut, "scopes": [{"name": "mcp:read"}, {"name": "files.read"}],
               "consent_policy": [{"name": "everyone", "scopes": ["mcp:read", "files.read"]}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["url"], sut);
    let (_, doc) = m
        .get_json(&format!(
            "/v1/apps/agentic/{PID}/{SID}/.well-known/openid-configuration"
        ))
        .await;
    assert_eq!(
        doc["scopes_supported"],
        json!(["mcp:read", "files.read", "outbound.token.fetch"])
    );
    // A token minted without a resource now carries the new URL.
    let t = m
        .mint(json!({"user": "U2alice", "scopes": ["files.read"]}))
        .await;
    assert!(
        t["claims"]["aud"].as_array().unwrap().contains(&json!(sut)),
        "{t}"
    );
    // A code flow asking for the new resource works.
    let (r, verifier) = m
        .authorize(&[("resource", sut), ("scope", "files.read")])
        .await;
    assert_eq!(r.status(), 302);
    let code = query_param(&location(&r), "code").expect("code");
    let (s, tok) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", PUBLIC_CLIENT),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("code_verifier", &verifier),
                ("resource", sut),
            ],
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let (_, c) = decode_parts(tok["access_token"].as_str().unwrap());
    assert!(c["aud"].as_array().unwrap().contains(&json!(sut)));
    // Bad patches name the field.
    let (s, v) = patch(
        &m,
        &format!("/_mock/servers/{SID}"),
        json!({"url": "not a url"}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["message"].as_str().unwrap().starts_with("url:"), "{v}");
    let (s, _) = patch(&m, &format!("/_mock/servers/{SID}"), json!({"bogus": 1})).await;
    assert!((400..500).contains(&s));
    let (s, _) = patch(&m, "/_mock/servers/MS2nope", json!({})).await;
    assert_eq!(s, 404);
    // Reset restores the configured entry.
    m.control("/_mock/reset", json!({})).await;
    let (_, v) = m.get_json(&format!("/_mock/servers/{SID}")).await;
    assert_eq!(v["url"], RESOURCE);
}

#[tokio::test]
async fn outbound_apps_can_be_added_at_run_time() {
    let m = Mock::start().await;
    let (s, v) = m
        .control(
            "/_mock/apps",
            json!({"id": "dropbox", "name": "Dropbox", "scopes": ["files.read"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, c) = m
        .control(
            "/_mock/connections",
            json!({"app": "dropbox", "user": "U2alice"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let r = m
        .http
        .post(m.url("/v1/mgmt/outbound/app/user/token/latest"))
        .bearer_auth(format!("{PID}:{MGMT_KEY}"))
        .json(&json!({"appId": "dropbox", "userId": "U2alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token"]["scopes"], json!(["files.read"]));
    let (s, _) = m
        .control("/_mock/apps", json!({"id": "", "scopes": []}))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn named_rules_are_added_and_removed_without_touching_others() {
    let m = Mock::start().await;
    // A user with a role no default rule knows: denied, then allowed by its own rule, then denied again.
    let (s, _) = m
        .control(
            "/_mock/users",
            json!({"id": "U2scn1", "login_id": "scn1@example.com", "roles": ["scn-1"]}),
        )
        .await;
    assert_eq!(s, 201);
    m.control(
        "/_mock/connections",
        json!({"app": "google-calendar", "user": "U2scn1"}),
    )
    .await;
    let tok = m.mint(json!({"user": "U2scn1", "client": "mcp-cli"})).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let fetch = || async {
        m.http
            .post(m.url("/v1/mgmt/outbound/app/user/token"))
            .bearer_auth(format!("{PID}:{tok}"))
            .json(&json!({"appId": "google-calendar", "userId": "U2scn1", "scopes": ["calendar.events"]}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(fetch().await, 403);
    let rule = json!({"name": "scn-1 writes", "apps": ["google-calendar"], "scopes": ["calendar.events"], "users": ["U2scn1"]});
    let (s, v) = m
        .control("/_mock/policies/connections/rules", rule.clone())
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(fetch().await, 200);
    // Duplicate names and nameless rules are refused.
    let (s, _) = m.control("/_mock/policies/connections/rules", rule).await;
    assert_eq!(s, 400);
    let (s, _) = m
        .control(
            "/_mock/policies/connections/rules",
            json!({"scopes": ["*"]}),
        )
        .await;
    assert_eq!(s, 400);
    // The default rules are still there.
    let (_, p) = m.get_json("/_mock/policies").await;
    assert_eq!(p["connections"].as_array().unwrap().len(), 4);
    let (s, _) = delete(&m, "/_mock/policies/connections/rules/scn-1%20writes").await;
    assert_eq!(s, 200);
    assert_eq!(fetch().await, 403);
    let (s, _) = delete(&m, "/_mock/policies/connections/rules/nope").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn consent_rules_can_be_added_per_server() {
    let m = Mock::start().await;
    let (s, _) = m
        .control(
            &format!("/_mock/policies/consent/{SID}/rules"),
            json!({"name": "alice admin", "scopes": ["mcp:admin"], "users": ["U2alice"]}),
        )
        .await;
    assert_eq!(s, 201);
    let tok = m.code_flow(&[("scope", "mcp:read mcp:admin")]).await;
    assert_eq!(tok["scope"], "mcp:read mcp:admin");
    let (s, _) = delete(
        &m,
        &format!("/_mock/policies/consent/{SID}/rules/alice%20admin"),
    )
    .await;
    assert_eq!(s, 200);
    let tok = m.code_flow(&[("scope", "mcp:read mcp:admin")]).await;
    assert_eq!(tok["scope"], "mcp:read");
}
