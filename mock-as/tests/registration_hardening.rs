//! DCR and CIMD hardening per server entry — redirect-domain allow-list, per-IP rate limit,
//! approved CIMD domains — and the registration audit, against a real listener.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Mock, PID, RESOURCE, SID, new_verifier, s256};
use serde_json::{Value, json};

async fn register(m: &Mock, body: &Value) -> (u16, Value, Option<String>) {
    let r = m
        .http
        .post(m.url(&format!("/v1/mgmt/mcp/client/{PID}/{SID}/register")))
        .json(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (s, r.json().await.unwrap_or(Value::Null), retry)
}

fn client(redirect: &str) -> Value {
    json!({"client_name": "t", "redirect_uris": [redirect], "token_endpoint_auth_method": "none"})
}

async fn patch(m: &Mock, body: Value) -> (u16, Value) {
    m.patch(&format!("/_mock/servers/{SID}"), body).await
}

#[tokio::test]
async fn redirect_uris_outside_the_allowed_domains_are_refused() {
    let m = Mock::start().await;
    let (s, v) = patch(
        &m,
        json!({"dcr_allowed_redirect_domains": ["app.example.com", "*.corp.example"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    for ok in [
        "https://app.example.com/cb",
        "https://APP.example.com/cb",
        "https://a.corp.example/cb",
        "https://x.y.corp.example/cb",
    ] {
        let (s, v, _) = register(&m, &client(ok)).await;
        assert_eq!(s, 201, "{ok}: {v}");
    }
    for bad in [
        "https://evil.example.com/cb",
        "https://corp.example/cb",
        "https://app.example.com.evil.net/cb",
        "http://127.0.0.1:5555/cb",
    ] {
        let (s, v, _) = register(&m, &client(bad)).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_redirect_uri")),
            "{bad}: {v}"
        );
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("allowed domain"),
            "{v}"
        );
    }
    // Bad patterns are refused with the loader's words; nothing changes.
    let (s, v) = patch(
        &m,
        json!({"dcr_allowed_redirect_domains": ["https://x.example/"]}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("dcr_allowed_redirect_domains[0]"),
        "{v}"
    );
    let (s, _, _) = register(&m, &client("https://app.example.com/cb")).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn registrations_over_the_rate_limit_get_429_with_retry_after_until_the_minute_passes() {
    let m = Mock::start().await;
    let (s, v) = patch(&m, json!({"dcr_rate_limit_per_minute": 2})).await;
    assert_eq!(s, 200, "{v}");
    let good = client("http://127.0.0.1:5555/cb");
    assert_eq!(register(&m, &good).await.0, 201);
    // A refused registration counts too: the limit is on attempts.
    assert_eq!(register(&m, &json!({"redirect_uris": "nope"})).await.0, 400);
    let (s, v, retry) = register(&m, &good).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(
        v["error"], "temporarily_unavailable",
        "an RFC 6749 body: {v}"
    );
    let secs: i64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // Mock time decides the window.
    let (s, _) = m.control("/_mock/clock", json!({"advance_secs": 61})).await;
    assert_eq!(s, 200);
    assert_eq!(register(&m, &good).await.0, 201);
    // null lifts the limit.
    let (s, v) = patch(&m, json!({"dcr_rate_limit_per_minute": null})).await;
    assert_eq!(s, 200, "{v}");
    for _ in 0..4 {
        assert_eq!(register(&m, &good).await.0, 201);
    }
    let (s, v) = patch(&m, json!({"dcr_rate_limit_per_minute": 0})).await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn the_registration_audit_lists_every_attempt_with_secrets_masked() {
    let m = Mock::start().await;
    let (s, ok, _) = register(
        &m,
        &json!({"client_name": "conf", "redirect_uris": ["http://127.0.0.1:5555/cb"]}),
    )
    .await;
    assert_eq!(s, 201);
    assert!(ok["client_secret"].as_str().is_some_and(|x| x != "***"));
    let (s, _, _) = register(&m, &json!({"redirect_uris": ["javascript:alert(1)"]})).await;
    assert_eq!(s, 400);
    let r = m
        .http
        .post(m.url(&format!("/v1/mgmt/mcp/client/{PID}/{SID}/register")))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let (s, a) = m.get_json("/_mock/registrations").await;
    assert_eq!(s, 200);
    let list = a["registrations"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{a}");
    let first = &list[0];
    assert_eq!(first["server_id"], SID);
    assert_eq!(first["client_ip"], "127.0.0.1");
    assert!(first["time_ms"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(first["request"]["client_name"], "conf");
    assert_eq!(first["response"]["status"], 201);
    assert_eq!(first["response"]["body"]["client_id"], ok["client_id"]);
    assert_eq!(
        first["response"]["body"]["client_secret"], "***",
        "masked: {first}"
    );
    assert!(
        !a.to_string()
            .contains(ok["client_secret"].as_str().unwrap())
    );
    assert_eq!(list[1]["response"]["status"], 400);
    assert_eq!(list[1]["response"]["body"]["error"], "invalid_redirect_uri");
    assert_eq!(list[2]["request"]["unparsed"], "not json");
    assert!(list[0]["seq"].as_u64() < list[1]["seq"].as_u64());
    let (_, none) = m.get_json("/_mock/registrations?server=MS2notes").await;
    assert_eq!(none["registrations"], json!([]));
}

#[tokio::test]
async fn a_cimd_client_outside_the_approved_domains_is_refused_before_any_fetch() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock as WireMock, MockServer, ResponseTemplate};

    let docs = MockServer::start().await;
    let client_id = format!("{}/client.json", docs.uri());
    let redirect = "http://127.0.0.1:40777/callback";
    let m = Mock::start().await;
    let (s, v) = patch(
        &m,
        json!({"cimd": true, "cimd_allowed_domains": ["*.approved.example"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let guard = WireMock::given(method("GET"))
        .and(path("/client.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "client_id": client_id,
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
        })))
        .expect(0)
        .mount_as_scoped(&docs)
        .await;
    let verifier = new_verifier();
    let query = [
        ("response_type", "code".to_string()),
        ("client_id", client_id.clone()),
        ("redirect_uri", redirect.to_string()),
        ("code_challenge", s256(&verifier)),
        ("code_challenge_method", "S256".to_string()),
        ("resource", RESOURCE.to_string()),
    ];
    let r = m
        .http
        .get(m.authorize_url())
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "not redirected");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("approved CIMD domain"),
        "{v}"
    );
    drop(guard); // verifies no fetch happened

    // Approving the host lets the same client through (fetched once).
    let _fetched = WireMock::given(method("GET"))
        .and(path("/client.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "client_id": client_id,
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
        })))
        .expect(1)
        .mount_as_scoped(&docs)
        .await;
    let (s, v) = patch(&m, json!({"cimd_allowed_domains": ["127.0.0.1"]})).await;
    assert_eq!(s, 200, "{v}");
    let r = m
        .http
        .get(m.authorize_url())
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
}
