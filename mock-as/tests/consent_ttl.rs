//! Time-based consent: a server entry's `consent_ttl`, on mock time, ends the consents given
//! to it — refresh, connection fetches and the consent list all say so — and a new consent at
//! `/authorize` works again. Against a real listener.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Mock, PID, PUBLIC_CLIENT, SID};
use serde_json::{Value, json};

async fn refresh(m: &Mock, rt: &str) -> (u16, Value) {
    m.post_form(
        &m.token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", PUBLIC_CLIENT),
        ],
    )
    .await
}

async fn fetch_connection(m: &Mock, access: &str) -> (u16, Value) {
    let r = m
        .http
        .post(m.url("/v1/mgmt/outbound/app/user/token/latest"))
        .header("authorization", format!("Bearer {PID}:{access}"))
        .json(&json!({"appId": "google-calendar", "userId": "U2alice"}))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn consents(m: &Mock) -> Vec<Value> {
    let (s, v) = m
        .mgmt(
            "/v1/mgmt/thirdparty/consents/search",
            json!({"userId": "U2alice"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["consents"].as_array().cloned().unwrap_or_default()
}

async fn patch_ttl(m: &Mock, ttl: Value) -> u16 {
    m.patch(
        &format!("/_mock/servers/{SID}"),
        json!({ "consent_ttl": ttl }),
    )
    .await
    .0
}

#[tokio::test]
async fn an_expired_consent_stops_refresh_and_connection_fetches_until_the_user_consents_again() {
    let m = Mock::start().await;
    assert_eq!(patch_ttl(&m, json!(600)).await, 200);
    let login = [
        ("login_hint", "U2alice"),
        ("scope", "mcp:read outbound.token.fetch offline_access"),
    ];
    let t = m.code_flow(&login).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();

    // Within the window everything works, and the consent says when it ends.
    assert_eq!(fetch_connection(&m, &access).await.0, 200);
    let c = consents(&m).await;
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0]["expired"], false);
    let until = c[0]["expiresTime"].as_i64().unwrap();
    assert_eq!(until, c[0]["createdTime"].as_i64().unwrap() + 600);
    let (s, v) = refresh(&m, &rt).await;
    assert_eq!(s, 200, "{v}");
    let rt = v["refresh_token"].as_str().unwrap().to_string();

    // Past it (mock time): refresh is an invalid_grant, fetches answer the revoked error.
    let (s, _) = m
        .control("/_mock/clock", json!({"advance_secs": 601}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = refresh(&m, &rt).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert!(
        v["error_description"].as_str().unwrap().contains("consent"),
        "{v}"
    );
    let (s, v) = fetch_connection(&m, &access).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["errorCode"], "E061004", "{v}");
    assert!(
        v["errorMessage"].as_str().unwrap().contains("consent"),
        "{v}"
    );
    let c = consents(&m).await;
    assert_eq!(c[0]["expired"], true, "{c:?}");

    // A new consent at /authorize works again.
    let t = m.code_flow(&login).await;
    let fresh = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(fetch_connection(&m, &fresh).await.0, 200);
    let (s, _) = refresh(&m, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn consent_ttl_is_checked_and_can_be_lifted() {
    let m = Mock::start().await;
    assert_eq!(patch_ttl(&m, json!(0)).await, 400, "at least one second");
    assert_eq!(
        patch_ttl(&m, json!(20 * 365 * 24 * 3600)).await,
        400,
        "at most ten years"
    );
    assert_eq!(patch_ttl(&m, json!(60)).await, 200);
    let login = [
        ("login_hint", "U2alice"),
        ("scope", "mcp:read outbound.token.fetch offline_access"),
    ];
    let t = m.code_flow(&login).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    m.control("/_mock/clock", json!({"advance_secs": 61})).await;
    assert_eq!(fetch_connection(&m, &access).await.0, 401);
    // null: consents last again (the rule is the server's current setting).
    assert_eq!(patch_ttl(&m, Value::Null).await, 200);
    assert_eq!(fetch_connection(&m, &access).await.0, 200);
    let c = consents(&m).await;
    assert_eq!(c[0]["expired"], false);
    assert!(c[0].get("expiresTime").is_none(), "{c:?}");
    // The config loader takes it too.
    let text = mock_as::config::DEFAULT_TOML.replace(
        "id = \"MS2calendar\"",
        "id = \"MS2calendar\"\nconsent_ttl = 0",
    );
    let e = mock_as::Config::parse(&text, "t.toml", None).unwrap_err();
    assert!(e.to_string().contains("consent_ttl"), "{e}");
}
