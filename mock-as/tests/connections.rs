#![allow(clippy::unwrap_used)]
//! Connections (outbound app tokens) end to end against a real listener: the four fetch
//! endpoints with user access tokens and the management key, the Connections Policy, revocation
//! of the caller's access token and of the connection itself, the connect (re-consent) flow,
//! forceRefresh / withRefreshToken, the spy upstream, the management paths and bad input.

mod common;
use common::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.
// ---------------------------------------------------------------------------------------------

const USER_TOKEN: &str = "/v1/mgmt/outbound/app/user/token";
const USER_LATEST: &str = "/v1/mgmt/outbound/app/user/token/latest";
const TENANT_LATEST: &str = "/v1/mgmt/outbound/app/tenant/token/latest";
const CONNECT: &str = "/v1/mgmt/outbound/app/connect";
const UPLOAD_USER: &str = "/v1/mgmt/outbound/app/user/oauthtoken/upload";
const DONE_URL: &str = "http://127.0.0.1:9/done";

/// An MCP access token for `user`, minted for the public client with the server's default
/// scopes (which include `outbound.token.fetch`).
async fn token_for(m: &Mock, user: &str) -> String {
    let v = m.mint(json!({"user": user, "client": PUBLIC_CLIENT})).await;
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// `Bearer <project id>:<secret>`.
fn auth(secret: &str) -> String {
    format!("Bearer {PID}:{secret}")
}

/// POST a raw body with an optional Authorization header; (status, JSON body).
async fn post_raw(m: &Mock, path: &str, authorization: Option<&str>, body: &str) -> (u16, Value) {
    let mut rb = m
        .http
        .post(m.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(a) = authorization {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// POST JSON with `Bearer <pid>:<secret>`.
async fn post_as(m: &Mock, path: &str, secret: &str, body: Value) -> (u16, Value) {
    post_raw(m, path, Some(&auth(secret)), &body.to_string()).await
}

/// DELETE with an optional Authorization header; (status, JSON body).
async fn delete_as(m: &Mock, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut rb = m.http.delete(m.url(path));
    if let Some(a) = authorization {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// GET with an optional Authorization header; (status, JSON body).
async fn get_as(m: &Mock, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut rb = m.http.get(m.url(path));
    if let Some(a) = authorization {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// The by-scopes user fetch for google-calendar, as descope-mcp sends it.
fn calendar_body(user: &str, scopes: &[&str]) -> Value {
    json!({"appId": "google-calendar", "userId": user, "scopes": scopes, "options": {}})
}

/// Assert a Descope-shaped error with the given status and code.
fn assert_descope(s: u16, v: &Value, status: u16, code: &str) {
    assert_eq!(s, status, "expected {status} {code}, got {s}: {v}");
    assert_eq!(v["errorCode"], code, "{v}");
    assert!(
        v["errorDescription"].is_string(),
        "no errorDescription: {v}"
    );
    assert!(v["errorMessage"].is_string(), "no errorMessage: {v}");
    assert!(v.get("error").is_none(), "not the Descope shape: {v}");
}

/// Both human-readable parts of a Descope error.
fn error_text(v: &Value) -> String {
    format!(
        "{} {}",
        v["errorDescription"].as_str().unwrap_or_default(),
        v["errorMessage"].as_str().unwrap_or_default()
    )
}

/// Replace the Connections Policy.
async fn put_policy(m: &Mock, rules: Value) {
    let r = m
        .http
        .put(m.url("/_mock/policies/connections"))
        .json(&rules)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(s, 200, "policy not accepted: {v}");
}

async fn advance(m: &Mock, secs: i64) {
    let (s, v) = m
        .control("/_mock/clock", json!({"advance_secs": secs}))
        .await;
    assert_eq!(s, 200, "{v}");
}

/// Journal entries for a named endpoint.
async fn journal(m: &Mock, endpoint: &str) -> Vec<Value> {
    let (s, v) = m
        .get_json(&format!("/_mock/journal?endpoint={endpoint}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["entries"].as_array().cloned().unwrap_or_default()
}

/// Stored connections (control API view).
async fn stored(m: &Mock) -> Vec<Value> {
    let (s, v) = m.get_json("/_mock/connections").await;
    assert_eq!(s, 200, "{v}");
    v["connections"].as_array().cloned().unwrap_or_default()
}

/// The stored user-level connection of `app` for `user`, if any.
async fn stored_for(m: &Mock, app: &str, user: &str) -> Option<Value> {
    stored(m)
        .await
        .into_iter()
        .find(|c| c["appId"] == app && c["userId"] == user)
}

/// A request to the spy upstream with `Authorization: Bearer <token>`.
async fn upstream(
    m: &Mock,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = m.http.request(method, m.url(path)).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn upstream_get(m: &Mock, app: &str, token: &str) -> u16 {
    upstream(
        m,
        reqwest::Method::GET,
        &format!("/_upstream/{app}/events"),
        token,
        None,
    )
    .await
    .0
}

/// A number that Descope types as a string of epoch seconds (or a plain number).
fn epoch(v: &Value) -> i64 {
    match v {
        Value::String(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("not epoch seconds: {v}")),
        Value::Number(n) => n.as_i64().unwrap(),
        _ => panic!("not epoch seconds: {v}"),
    }
}

fn str_list(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn access_token(v: &Value) -> String {
    v["token"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no token.accessToken: {v}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Allowed fetches.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn allowed_user_level_fetch_returns_the_descope_token_object() {
    let m = Mock::start().await;
    let jwt = token_for(&m, "U2alice").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &jwt,
        calendar_body("U2alice", &["calendar.readonly"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let t = &v["token"];
    assert!(t["id"].as_str().is_some_and(|x| !x.is_empty()), "{v}");
    assert_eq!(t["appId"], "google-calendar", "{v}");
    assert_eq!(t["userId"], "U2alice", "{v}");
    assert!(
        t["accessToken"].as_str().is_some_and(|x| !x.is_empty()),
        "{v}"
    );
    assert_eq!(t["accessTokenType"], "Bearer", "{v}");
    assert!(epoch(&t["accessTokenExpiry"]) > now(), "{v}");
    assert!(t["hasRefreshToken"].is_boolean(), "{v}");
    epoch(&t["lastRefreshTime"]);
    assert!(t.get("lastRefreshError").is_some(), "{v}");
    assert!(str_list(&t["scopes"]).contains(&"calendar.readonly"), "{v}");
    assert!(t["grantedBy"].is_string(), "{v}");
    assert!(
        t.get("refreshToken").is_none(),
        "refreshToken without withRefreshToken: {v}"
    );
    // It is the connection token the spy upstream accepts.
    assert_eq!(
        upstream_get(&m, "google-calendar", &access_token(&v)).await,
        200
    );
}

#[tokio::test]
async fn tenant_level_fetch_is_allowed_for_members_and_forbidden_to_outsiders() {
    let m = Mock::start().await;
    let body = json!({"appId": "salesforce", "tenantId": "T2acme"});

    let alice = token_for(&m, "U2alice").await;
    let (s, v) = post_as(&m, TENANT_LATEST, &alice, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token"]["appId"], "salesforce", "{v}");
    assert_eq!(v["token"]["tenantId"], "T2acme", "{v}");
    assert!(v["token"]["accessToken"].is_string(), "{v}");

    let mallory = token_for(&m, "U2mallory").await;
    let (s, v) = post_as(&m, TENANT_LATEST, &mallory, body).await;
    assert_descope(s, &v, 403, "E063007");
}

// ---------------------------------------------------------------------------------------------
// 2. latest vs by-scopes.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn latest_returns_the_stored_token() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let want = stored_for(&m, "google-calendar", "U2alice")
        .await
        .expect("alice's seeded connection");
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        &alice,
        json!({"appId": "google-calendar", "userId": "U2alice"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token"]["id"], want["id"], "{v}");
    assert_eq!(v["token"]["accessToken"], want["accessToken"], "{v}");
}

#[tokio::test]
async fn by_scopes_fetch_of_a_scope_the_stored_token_lacks_is_not_found_and_names_it() {
    let m = Mock::start().await;
    // U2root is allowed calendar.events by policy; store a token that only has calendar.readonly.
    let (s, v) = m
        .control(
            "/_mock/connections",
            json!({"app": "google-calendar", "user": "U2root", "scopes": ["calendar.readonly"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let root = token_for(&m, "U2root").await;

    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &root,
        calendar_body("U2root", &["calendar.readonly"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &root,
        calendar_body("U2root", &["calendar.events"]),
    )
    .await;
    assert_descope(s, &v, 404, "E063005");
    assert!(error_text(&v).contains("calendar.events"), "{v}");

    // latest does not care about scopes.
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        &root,
        json!({"appId": "google-calendar", "userId": "U2root"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        str_list(&v["token"]["scopes"]),
        ["calendar.readonly"],
        "{v}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3.-6. Denials.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn policy_denies_by_role_names_the_rule_and_journals_the_reason() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        calendar_body("U2alice", &["calendar.events"]),
    )
    .await;
    assert_descope(s, &v, 403, "E063002");
    let desc = v["errorDescription"].as_str().unwrap();
    assert!(desc.contains("admins write calendars"), "{v}");

    let entries = journal(&m, "connections").await;
    let e = entries
        .iter()
        .find(|e| e["outcome"] == "E063002")
        .unwrap_or_else(|| panic!("no E063002 in the journal: {entries:?}"));
    assert_eq!(e["status"], 403, "{e}");
    let detail = e["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("admins write calendars") && detail.contains("calendar.events"),
        "the journal detail should give the reason: {e}"
    );

    let root = token_for(&m, "U2root").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &root,
        calendar_body("U2root", &["calendar.events"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn the_journal_records_what_each_fetch_asked_for_also_when_refused() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    // Allowed, by scopes, the user named by loginId.
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        json!({"appId": "google-calendar", "loginId": "alice@example.com",
               "scopes": ["calendar.readonly"], "options": {}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Refused: the tenant does not exist.
    let (s, v) = post_as(
        &m,
        "/v1/mgmt/outbound/app/tenant/token",
        &alice,
        json!({"appId": "salesforce", "tenantId": "T2nowhere", "scopes": ["reports.read"]}),
    )
    .await;
    assert_descope(s, &v, 404, "E063008");
    // Refused for bad input (a non-string tenantId), by a management key, /latest.
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        MGMT_KEY,
        json!({"appId": "nope", "userId": "U2alice", "tenantId": 7, "scopes": ["x"]}),
    )
    .await;
    assert_descope(s, &v, 400, "E011004");
    // Not a JSON object: nothing to record.
    let (s, v) = post_raw(&m, USER_TOKEN, Some(&auth(&alice)), "[1]").await;
    assert_eq!(s, 400, "{v}");

    let entries = journal(&m, "connections").await;
    assert_eq!(entries.len(), 4, "{entries:?}");
    let c: Vec<&Value> = entries.iter().map(|e| &e["connection"]).collect();
    assert_eq!(
        *c[0],
        json!({"app_id": "google-calendar", "level": "user", "user_id": "alice@example.com",
               "tenant_id": null, "scopes": ["calendar.readonly"], "latest": false,
               "subject": "U2alice"}),
        "{entries:?}"
    );
    assert_eq!(entries[1]["outcome"], "E063008", "{entries:?}");
    assert_eq!(
        *c[1],
        json!({"app_id": "salesforce", "level": "tenant", "user_id": null,
               "tenant_id": "T2nowhere", "scopes": ["reports.read"], "latest": false,
               "subject": "U2alice"}),
        "{entries:?}"
    );
    assert_eq!(
        *c[2],
        json!({"app_id": "nope", "level": "user", "user_id": "U2alice", "tenant_id": null,
               "scopes": [], "latest": true, "subject": null}),
        "{entries:?}"
    );
    assert!(entries[3].get("connection").is_none(), "{entries:?}");
}

#[tokio::test]
async fn policy_denies_by_scope_even_for_admins() {
    let m = Mock::start().await;
    put_policy(
        &m,
        json!([{"name": "read only", "apps": ["google-calendar"], "scopes": ["calendar.readonly"]}]),
    )
    .await;
    let root = token_for(&m, "U2root").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &root,
        calendar_body("U2root", &["calendar.events"]),
    )
    .await;
    assert_descope(s, &v, 403, "E063002");
    assert!(error_text(&v).contains("calendar.events"), "{v}");
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &root,
        calendar_body("U2root", &["calendar.readonly"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn access_token_without_outbound_token_fetch_is_forbidden() {
    let m = Mock::start().await;
    let v = m
        .mint(json!({"user": "U2alice", "client": PUBLIC_CLIENT, "scopes": ["mcp:read"]}))
        .await;
    let jwt = v["access_token"].as_str().unwrap();
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        jwt,
        calendar_body("U2alice", &["calendar.readonly"]),
    )
    .await;
    assert_descope(s, &v, 403, "E063001");
    assert!(error_text(&v).contains("outbound.token.fetch"), "{v}");
}

#[tokio::test]
async fn policy_is_checked_before_the_store_so_denials_do_not_reveal_connections() {
    // Order: authentication → outbound.token.fetch → policy → stored token. U2mallory has no
    // roles, so the default policy refuses her before the (absent) token is looked up.
    let m = Mock::start().await;
    let mallory = token_for(&m, "U2mallory").await;
    let body = json!({"appId": "google-calendar", "userId": "U2mallory"});
    let (s, v) = post_as(&m, USER_LATEST, &mallory, body.clone()).await;
    assert_descope(s, &v, 403, "E063002");
    // U2root has a stored token, U2mallory not: both get the same policy answer for a scope
    // neither may have under a policy that allows nobody.
    put_policy(
        &m,
        json!([{"name": "nobody", "scopes": ["*"], "users": ["U2alice"]}]),
    )
    .await;
    let (s, v) = post_as(&m, USER_LATEST, &mallory, body).await;
    assert_descope(s, &v, 403, "E063002");
}

#[tokio::test]
async fn no_stored_token_says_how_to_connect() {
    let m = Mock::start().await;
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        MGMT_KEY,
        json!({"appId": "google-calendar", "userId": "U2mallory"}),
    )
    .await;
    assert_descope(s, &v, 404, "E063004");
    assert!(
        error_text(&v).contains("connect"),
        "should say how to fix it: {v}"
    );
}

#[tokio::test]
async fn no_stored_token_is_not_found_without_a_policy() {
    let m = Mock::start().await;
    let mallory = token_for(&m, "U2mallory").await;
    put_policy(&m, json!([])).await;
    let body = json!({"appId": "google-calendar", "userId": "U2mallory"});
    let (s, v) = post_as(&m, USER_LATEST, &mallory, body.clone()).await;
    assert_descope(s, &v, 404, "E063004");
    // The management key gets the same answer.
    let (s, v) = post_as(&m, USER_LATEST, MGMT_KEY, body).await;
    assert_descope(s, &v, 404, "E063004");
}

// ---------------------------------------------------------------------------------------------
// 7. Revoked MCP access tokens.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn access_token_revoked_through_the_control_api_is_refused() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let body = calendar_body("U2alice", &["calendar.readonly"]);
    let (s, v) = post_as(&m, USER_TOKEN, &alice, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = m.control("/_mock/revoke", json!({"token": alice})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_as(&m, USER_TOKEN, &alice, body).await;
    assert_descope(s, &v, 401, "E061004");
}

#[tokio::test]
async fn consent_deletion_revokes_a_real_access_token() {
    let m = Mock::start().await;
    let tr = m
        .code_flow(&[("scope", "mcp:read calendar.read outbound.token.fetch")])
        .await;
    let jwt = tr["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let body = calendar_body("U2alice", &["calendar.readonly"]);
    let (s, v) = post_as(&m, USER_TOKEN, &jwt, body.clone()).await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = post_as(
        &m,
        "/v1/mgmt/thirdparty/consents/search",
        MGMT_KEY,
        json!({"userId": "U2alice"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let consents = v["consents"].as_array().cloned().unwrap_or_default();
    assert!(
        consents
            .iter()
            .any(|c| c["appId"] == PUBLIC_CLIENT && c["userId"] == "U2alice"),
        "the grant is not listed: {v}"
    );

    let (s, v) = post_as(
        &m,
        "/v1/mgmt/thirdparty/consents/delete",
        MGMT_KEY,
        json!({"userIds": ["U2alice"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = post_as(&m, USER_TOKEN, &jwt, body).await;
    assert_descope(s, &v, 401, "E061004");

    let (s, v) = post_as(
        &m,
        "/v1/mgmt/thirdparty/consents/search",
        MGMT_KEY,
        json!({"userId": "U2alice"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        !v["consents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["appId"] == PUBLIC_CLIENT),
        "the deleted grant is still listed: {v}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Bearer and body checks.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn expired_bearer_is_refused() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    advance(&m, 7200).await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        calendar_body("U2alice", &["calendar.readonly"]),
    )
    .await;
    assert_descope(s, &v, 401, "E061003");
}

#[tokio::test]
async fn bearer_for_another_project_is_refused() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let body = calendar_body("U2alice", &["calendar.readonly"]).to_string();
    for a in [
        format!("Bearer P2someOtherProject0000000001:{alice}"),
        format!("Bearer P2someOtherProject0000000001:{MGMT_KEY}"),
    ] {
        let (s, v) = post_raw(&m, USER_TOKEN, Some(&a), &body).await;
        assert_eq!(s, 401, "{a}: {v}");
        assert!(v["errorCode"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn user_id_must_be_the_token_subject() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        calendar_body("U2root", &["calendar.readonly"]),
    )
    .await;
    assert_descope(s, &v, 403, "E063003");
}

#[tokio::test]
async fn sdk_body_variants_are_accepted() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let bodies = [
        // loginId as an alias of userId.
        json!({"appId": "google-calendar", "loginId": "alice@example.com",
               "scopes": ["calendar.readonly"], "options": {}}),
        // descope-py: explicit nulls.
        json!({"appId": "google-calendar", "userId": "U2alice", "scopes": ["calendar.readonly"],
               "tenantId": null, "options": null}),
        // node-sdk: no options at all.
        json!({"appId": "google-calendar", "userId": "U2alice", "scopes": ["calendar.readonly"]}),
    ];
    for b in bodies {
        let (s, v) = post_as(&m, USER_TOKEN, &alice, b.clone()).await;
        assert_eq!(s, 200, "{b} -> {v}");
        assert_eq!(v["token"]["userId"], "U2alice", "{b} -> {v}");
    }
    // The same variants on latest.
    for b in [
        json!({"appId": "google-calendar", "loginId": "alice@example.com"}),
        json!({"appId": "google-calendar", "userId": "U2alice", "tenantId": null, "options": null}),
    ] {
        let (s, v) = post_as(&m, USER_LATEST, &alice, b.clone()).await;
        assert_eq!(s, 200, "{b} -> {v}");
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Revoked connections.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleted_user_tokens_are_gone_for_fetch_and_upstream() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let body = json!({"appId": "google-calendar", "userId": "U2alice"});
    let (s, v) = post_as(&m, USER_LATEST, &alice, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    let old = access_token(&v);
    assert_eq!(upstream_get(&m, "google-calendar", &old).await, 200);

    let (s, v) = delete_as(
        &m,
        "/v1/mgmt/outbound/user/tokens?appId=google-calendar&userId=U2alice",
        Some(&auth(MGMT_KEY)),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = post_as(&m, USER_LATEST, &alice, body).await;
    assert_descope(s, &v, 404, "E063004");
    assert_eq!(upstream_get(&m, "google-calendar", &old).await, 401);
}

#[tokio::test]
async fn a_connection_can_be_deleted_by_id_and_through_the_control_api() {
    let m = Mock::start().await;
    let root = token_for(&m, "U2root").await;
    let alice = token_for(&m, "U2alice").await;

    // DELETE /v1/mgmt/outbound/token?id=
    let body = json!({"appId": "google-calendar", "userId": "U2alice"});
    let (s, v) = post_as(&m, USER_LATEST, &alice, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    let id = v["token"]["id"].as_str().unwrap().to_string();
    let old = access_token(&v);
    let (s, v) = delete_as(
        &m,
        &format!("/v1/mgmt/outbound/token?id={id}"),
        Some(&auth(MGMT_KEY)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_as(&m, USER_LATEST, &alice, body).await;
    assert_descope(s, &v, 404, "E063004");
    assert_eq!(upstream_get(&m, "google-calendar", &old).await, 401);
    // Deleting it again: gone.
    let (s, v) = delete_as(
        &m,
        &format!("/v1/mgmt/outbound/token?id={id}"),
        Some(&auth(MGMT_KEY)),
    )
    .await;
    assert_eq!(s, 404, "{v}");

    // DELETE /_mock/connections/{id}
    let body = json!({"appId": "google-calendar", "userId": "U2root"});
    let (s, v) = post_as(&m, USER_LATEST, &root, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    let id = v["token"]["id"].as_str().unwrap().to_string();
    let old = access_token(&v);
    let (s, v) = delete_as(&m, &format!("/_mock/connections/{id}"), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_as(&m, USER_LATEST, &root, body).await;
    assert_descope(s, &v, 404, "E063004");
    assert_eq!(upstream_get(&m, "google-calendar", &old).await, 401);
}

// ---------------------------------------------------------------------------------------------
// 10. Re-consent through the connect flow.
// ---------------------------------------------------------------------------------------------

async fn start_connect(m: &Mock, secret: &str, scopes: &[&str]) -> String {
    let (s, v) = post_as(
        m,
        CONNECT,
        secret,
        json!({"appId": "google-calendar",
               "options": {"redirectUrl": DONE_URL, "scopes": scopes}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["url"].as_str().expect("url").to_string()
}

async fn delete_alice_calendar(m: &Mock) {
    let (s, v) = delete_as(
        m,
        "/v1/mgmt/outbound/user/tokens?appId=google-calendar&userId=U2alice",
        Some(&auth(MGMT_KEY)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn reconsent_through_connect_stores_a_new_token() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    delete_alice_calendar(&m).await;
    let latest = json!({"appId": "google-calendar", "userId": "U2alice"});
    let (s, v) = post_as(&m, USER_LATEST, &alice, latest.clone()).await;
    assert_descope(s, &v, 404, "E063004");

    let url = start_connect(&m, &alice, &["calendar.readonly"]).await;
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(DONE_URL), "redirected elsewhere: {loc}");
    assert_eq!(
        query_param(&loc, "connected").as_deref(),
        Some("google-calendar"),
        "{loc}"
    );
    assert!(query_param(&loc, "error").is_none(), "{loc}");

    let (s, v) = post_as(&m, USER_LATEST, &alice, latest).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        str_list(&v["token"]["scopes"]),
        ["calendar.readonly"],
        "{v}"
    );
    assert_eq!(
        upstream_get(&m, "google-calendar", &access_token(&v)).await,
        200
    );

    // The URL is single-use.
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["errorCode"].is_string(), "{v}");
}

#[tokio::test]
async fn connect_denied_by_policy_redirects_with_access_denied_and_stores_nothing() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    delete_alice_calendar(&m).await;

    let url = start_connect(&m, &alice, &["calendar.events"]).await;
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(DONE_URL), "redirected elsewhere: {loc}");
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("access_denied"),
        "{loc}"
    );
    assert!(query_param(&loc, "connected").is_none(), "{loc}");

    assert!(
        stored_for(&m, "google-calendar", "U2alice").await.is_none(),
        "a denied connect stored a token: {:?}",
        stored(&m).await
    );
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        &alice,
        json!({"appId": "google-calendar", "userId": "U2alice"}),
    )
    .await;
    assert_descope(s, &v, 404, "E063004");
}

#[tokio::test]
async fn a_used_connect_url_is_not_found() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let url = start_connect(&m, &alice, &["calendar.readonly"]).await;
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // An invented one too.
    let (s, v) = get_as(&m, "/v1/outbound/connect/not-a-real-state", None).await;
    assert_eq!(s, 404, "{v}");
}

// ---------------------------------------------------------------------------------------------
// 11. Policy changes.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn policy_change_is_effective_on_the_next_request() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let body = calendar_body("U2alice", &["calendar.events"]);
    let (s, v) = post_as(&m, USER_TOKEN, &alice, body.clone()).await;
    assert_descope(s, &v, 403, "E063002");

    put_policy(
        &m,
        json!([{"name": "users write calendars", "apps": ["google-calendar"],
                "scopes": ["calendar.readonly", "calendar.events"], "roles": ["user"]}]),
    )
    .await;
    let (s, v) = post_as(&m, USER_TOKEN, &alice, body.clone()).await;
    assert_eq!(s, 200, "{v}");

    // Back to a policy that does not allow it.
    put_policy(
        &m,
        json!([{"name": "read only", "apps": ["google-calendar"], "scopes": ["calendar.readonly"]}]),
    )
    .await;
    let (s, v) = post_as(&m, USER_TOKEN, &alice, body.clone()).await;
    assert_descope(s, &v, 403, "E063002");

    // No policy at all: everything allowed.
    put_policy(&m, json!([])).await;
    let (s, v) = post_as(&m, USER_TOKEN, &alice, body).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_as(
        &m,
        TENANT_LATEST,
        &alice,
        json!({"appId": "salesforce", "tenantId": "T2acme"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

// ---------------------------------------------------------------------------------------------
// 12.-13. Options.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn force_refresh_rotates_the_provider_token() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        calendar_body("U2alice", &["calendar.readonly"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let old = access_token(&v);
    let old_time = epoch(&v["token"]["lastRefreshTime"]);

    advance(&m, 60).await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        json!({"appId": "google-calendar", "userId": "U2alice", "scopes": ["calendar.readonly"],
               "options": {"forceRefresh": true}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let new = access_token(&v);
    assert_ne!(new, old, "forceRefresh kept the access token");
    assert!(
        epoch(&v["token"]["lastRefreshTime"]) > old_time,
        "lastRefreshTime did not move: {v}"
    );
    assert_eq!(upstream_get(&m, "google-calendar", &old).await, 401);
    assert_eq!(upstream_get(&m, "google-calendar", &new).await, 200);

    // Without forceRefresh the same (new) token comes back.
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        &alice,
        json!({"appId": "google-calendar", "userId": "U2alice"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(access_token(&v), new);
}

#[tokio::test]
async fn with_refresh_token_option_controls_the_refresh_token() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let with = |opts: Value| {
        json!({"appId": "google-calendar", "userId": "U2alice",
               "scopes": ["calendar.readonly"], "options": opts})
    };

    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        with(json!({"withRefreshToken": true})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token"]["hasRefreshToken"], true, "{v}");
    assert!(
        v["token"]["refreshToken"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{v}"
    );

    for opts in [json!({"withRefreshToken": false}), json!({}), Value::Null] {
        let (s, v) = post_as(&m, USER_TOKEN, &alice, with(opts.clone())).await;
        assert_eq!(s, 200, "{opts}: {v}");
        assert!(v["token"].get("refreshToken").is_none(), "{opts}: {v}");
    }

    // Also on latest.
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        &alice,
        json!({"appId": "google-calendar", "userId": "U2alice",
               "options": {"withRefreshToken": true}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["token"]["refreshToken"].is_string(), "{v}");
}

// ---------------------------------------------------------------------------------------------
// 14. The spy upstream.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn spy_upstream_serves_connection_tokens_and_journals_the_header() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let (s, v) = post_as(
        &m,
        USER_LATEST,
        &alice,
        json!({"appId": "google-calendar", "userId": "U2alice"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let conn = access_token(&v);

    let (s, a) = upstream(
        &m,
        reqwest::Method::GET,
        "/_upstream/google-calendar/events",
        &conn,
        None,
    )
    .await;
    assert_eq!(s, 200, "{a}");
    assert!(a["items"].as_array().is_some_and(|i| !i.is_empty()), "{a}");
    let (s, b) = upstream(
        &m,
        reqwest::Method::GET,
        "/_upstream/google-calendar/events",
        &conn,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(a, b, "the spy's answers are not deterministic");

    let (s, v) = upstream(
        &m,
        reqwest::Method::POST,
        "/_upstream/google-calendar/events",
        &conn,
        Some(json!({"summary": "Lunch"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert!(v["created"].is_object(), "{v}");

    // A salesforce connection token sent to google-calendar.
    let sf = stored(&m)
        .await
        .into_iter()
        .find(|c| c["appId"] == "salesforce")
        .expect("seeded salesforce connection");
    let sf_token = sf["accessToken"].as_str().unwrap();
    assert_eq!(upstream_get(&m, "salesforce", sf_token).await, 200);
    assert_eq!(upstream_get(&m, "google-calendar", sf_token).await, 401);

    let entries = journal(&m, "upstream").await;
    let ok = entries
        .iter()
        .find(|e| e["status"] == 200 && e["authorization"] == format!("Bearer {conn}"))
        .unwrap_or_else(|| panic!("no journal entry with the verbatim header: {entries:?}"));
    assert_eq!(ok["passthrough"], false, "{ok}");
}

#[tokio::test]
async fn spy_upstream_flags_token_passthrough() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let (s, v) = upstream(
        &m,
        reqwest::Method::GET,
        "/_upstream/google-calendar/events",
        &alice,
        None,
    )
    .await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "token_passthrough", "{v}");

    let entries = journal(&m, "upstream").await;
    let e = entries
        .iter()
        .find(|e| e["authorization"] == format!("Bearer {alice}"))
        .unwrap_or_else(|| panic!("no journal entry for the passthrough: {entries:?}"));
    assert_eq!(e["passthrough"], true, "{e}");
    assert_eq!(e["status"], 401, "{e}");
}

// ---------------------------------------------------------------------------------------------
// 15. The management key and the management paths.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn management_key_bypasses_the_policy() {
    let m = Mock::start().await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        MGMT_KEY,
        calendar_body("U2alice", &["calendar.events"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        str_list(&v["token"]["scopes"]).contains(&"calendar.events"),
        "{v}"
    );
    // Even with a policy that allows nothing for anyone.
    put_policy(
        &m,
        json!([{"name": "nobody", "roles": ["no-such-role"], "scopes": ["*"]}]),
    )
    .await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        MGMT_KEY,
        calendar_body("U2alice", &["calendar.events"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn management_paths_need_a_management_key() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let upload = json!({"appId": "google-calendar", "userId": "U2alice",
                        "accessToken": "stolen", "scopes": ["calendar.readonly"]})
    .to_string();
    for a in [None, Some(auth(&alice)), Some(auth("wrong-key"))] {
        let a = a.as_deref();
        let (s, v) = post_raw(&m, UPLOAD_USER, a, &upload).await;
        assert_descope(s, &v, 401, "E061001");
        let (s, v) = delete_as(
            &m,
            "/v1/mgmt/outbound/user/tokens?appId=google-calendar&userId=U2alice",
            a,
        )
        .await;
        assert_descope(s, &v, 401, "E061001");
        let (s, v) = delete_as(&m, "/v1/mgmt/outbound/token?id=OTx", a).await;
        assert_descope(s, &v, 401, "E061001");
        let (s, v) = get_as(
            &m,
            "/v1/mgmt/outbound/apps-with-user-token?userId=U2alice",
            a,
        )
        .await;
        assert_descope(s, &v, 401, "E061001");
        let (s, v) = post_raw(
            &m,
            "/v1/mgmt/thirdparty/consents/search",
            a,
            r#"{"userId":"U2alice"}"#,
        )
        .await;
        assert_descope(s, &v, 401, "E061001");
        let (s, v) = post_raw(
            &m,
            "/v1/mgmt/thirdparty/consents/delete",
            a,
            r#"{"userIds":["U2alice"]}"#,
        )
        .await;
        assert_descope(s, &v, 401, "E061001");
    }
    // Nothing was changed by the refused calls.
    let c = stored_for(&m, "google-calendar", "U2alice")
        .await
        .expect("alice's connection survived");
    assert_ne!(c["accessToken"], "stolen");
}

#[tokio::test]
async fn an_uploaded_token_is_fetched_and_accepted_upstream() {
    let m = Mock::start().await;
    let (s, v) = post_as(
        &m,
        UPLOAD_USER,
        MGMT_KEY,
        json!({"appId": "google-calendar", "userId": "U2alice", "accessToken": "my-token",
               "scopes": ["calendar.readonly"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let alice = token_for(&m, "U2alice").await;
    let (s, v) = post_as(
        &m,
        USER_TOKEN,
        &alice,
        calendar_body("U2alice", &["calendar.readonly"]),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token"]["accessToken"], "my-token", "{v}");
    assert_eq!(
        str_list(&v["token"]["scopes"]),
        ["calendar.readonly"],
        "{v}"
    );
    assert_eq!(upstream_get(&m, "google-calendar", "my-token").await, 200);
}

#[tokio::test]
async fn apps_with_user_token_lists_connected_apps() {
    let m = Mock::start().await;
    let path = "/v1/mgmt/outbound/apps-with-user-token?userId=U2alice";
    let (s, v) = get_as(&m, path, Some(&auth(MGMT_KEY))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"appIds": ["google-calendar"]}));

    delete_alice_calendar(&m).await;
    let (s, v) = get_as(&m, path, Some(&auth(MGMT_KEY))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"appIds": []}));
}

// ---------------------------------------------------------------------------------------------
// 16. Bad input.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_gets_descope_errors_and_never_a_5xx() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    for secret in [alice.as_str(), MGMT_KEY] {
        let a = auth(secret);
        let (s, v) = post_raw(&m, USER_TOKEN, Some(&a), "this is not json").await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["errorCode"].is_string() && v["errorDescription"].is_string(),
            "{v}"
        );

        let (s, v) = post_as(
            &m,
            USER_TOKEN,
            secret,
            json!({"userId": "U2alice", "scopes": ["calendar.readonly"]}),
        )
        .await;
        assert_descope(s, &v, 400, "E011002");
        assert!(error_text(&v).contains("appId"), "{v}");

        let (s, v) = post_as(
            &m,
            USER_TOKEN,
            secret,
            json!({"appId": "no-such-app", "userId": "U2alice", "scopes": []}),
        )
        .await;
        assert_descope(s, &v, 404, "E063006");

        let (s, v) = post_as(
            &m,
            USER_TOKEN,
            secret,
            json!({"appId": "google-calendar", "userId": "U2alice",
                   "scopes": "calendar.readonly"}),
        )
        .await;
        assert_descope(s, &v, 400, "E011004");
        assert!(error_text(&v).contains("scopes"), "{v}");
    }

    // A grab bag of odd bodies on every endpoint: 4xx, never 5xx.
    let paths = [
        USER_TOKEN,
        USER_LATEST,
        "/v1/mgmt/outbound/app/tenant/token",
        TENANT_LATEST,
        UPLOAD_USER,
        "/v1/mgmt/outbound/app/tenant/oauthtoken/upload",
        CONNECT,
        "/v1/mgmt/thirdparty/consents/search",
        "/v1/mgmt/thirdparty/consents/delete",
    ];
    let bodies = [
        "",
        "null",
        "[]",
        "42",
        "{",
        r#"{"appId": 7}"#,
        r#"{"appId": "google-calendar", "userId": ["U2alice"]}"#,
        r#"{"appId": "google-calendar", "userId": "U2alice", "options": "yes"}"#,
        r#"{"appId": "google-calendar", "userId": "U2alice", "options": {"forceRefresh": "true"}}"#,
        r#"{"appId": "google-calendar", "userId": "U2nobody"}"#,
        r#"{"appId": "salesforce", "tenantId": "T2nowhere"}"#,
        r#"{"appId": "google-calendar", "scopes": [1, 2]}"#,
        r#"{"userIds": "U2alice"}"#,
    ];
    for p in paths {
        for secret in [alice.as_str(), MGMT_KEY] {
            for b in bodies {
                let (s, v) = post_raw(&m, p, Some(&auth(secret)), b).await;
                assert!(s < 500, "{p} {b:?} -> {s} {v}");
                if s >= 400 {
                    assert!(v["errorCode"].is_string(), "{p} {b:?} -> {s} {v}");
                }
            }
        }
    }
}

/// A connect that names no scopes stores only the app scopes the policy allows the user.
#[tokio::test]
async fn connect_without_scopes_stores_only_what_the_policy_allows() {
    let m = Mock::start().await;
    let alice = token_for(&m, "U2alice").await;
    let r = m
        .http
        .post(m.url("/v1/mgmt/outbound/app/connect"))
        .bearer_auth(format!("{PID}:{alice}"))
        .json(&json!({"appId": "google-calendar", "options": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let url = r.json::<serde_json::Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let done = m.http.get(&url).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let v: serde_json::Value = done.json().await.unwrap();
    assert_eq!(v["token"]["scopes"], json!(["calendar.readonly"]), "{v}");
}

/// A connect in a tenant the user does not belong to is refused like a fetch would be.
#[tokio::test]
async fn connect_in_a_foreign_tenant_is_refused() {
    let m = Mock::start().await;
    let mallory = token_for(&m, "U2mallory").await;
    let r = m
        .http
        .post(m.url("/v1/mgmt/outbound/app/connect"))
        .bearer_auth(format!("{PID}:{mallory}"))
        .json(&json!({"appId": "salesforce", "tenantId": "T2acme", "options": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errorCode"], "E063007", "{v}");
}
