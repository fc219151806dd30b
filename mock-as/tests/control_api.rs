#![allow(clippy::unwrap_used)]
//! The `/_mock` control API against a real listener: info, users, clients, key rotation and
//! retirement, faults, the journal, the clock, revocation and reset.

mod common;
use common::*;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

// ---- helpers -------------------------------------------------------------------------------

async fn delete(m: &Mock, path: &str) -> (u16, Value) {
    let r = m.http.delete(m.url(path)).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// GET the discovery `jwks_uri` (no auth).
async fn jwks_oidc(m: &Mock) -> (u16, Value) {
    m.get_json(&format!("/{PID}/.well-known/jwks.json")).await
}

/// GET the SDK JWKS route with `Bearer <pid>`.
async fn jwks_sdk(m: &Mock) -> (u16, Value) {
    let r = m
        .http
        .get(m.url(&format!("/v2/keys/{PID}")))
        .bearer_auth(PID)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The kids both JWKS routes publish (asserting they agree).
async fn published_kids(m: &Mock) -> Vec<String> {
    let (s, a) = jwks_oidc(m).await;
    assert_eq!(s, 200, "{a}");
    let (s, b) = jwks_sdk(m).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(a, b, "both JWKS routes serve the same set");
    kids(&a)
}

async fn mint_jwt(m: &Mock, body: Value) -> String {
    m.mint(body).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

/// Full verification (signature, iss, aud, exp) against the JWKS fetched over HTTP.
async fn verifies_with_jwks(m: &Mock, jwt: &str) -> Result<Value, String> {
    let jwks: JwkSet = m
        .http
        .get(m.url(&format!("/{PID}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = kid_of(jwt);
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in the JWKS"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[RESOURCE]);
    v.set_issuer(&[m.issuer(SID)]);
    jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

fn assert_mock_error(s: u16, v: &Value, status: u16, names: &str) {
    assert_eq!(s, status, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains(names), "message should name {names:?}: {v}");
}

fn assert_descope_shape(v: &Value) {
    for f in ["errorCode", "errorDescription", "errorMessage"] {
        assert!(v[f].is_string(), "Descope error lacks {f}: {v}");
    }
    assert!(v.get("error").is_none(), "not the OAuth/mock shape: {v}");
}

fn assert_oauth_shape(v: &Value) {
    assert!(v["error"].is_string(), "{v}");
    assert!(v["error_description"].is_string(), "{v}");
    assert!(v.get("errorCode").is_none(), "{v}");
}

async fn client_credentials(m: &Mock, id: &str, secret: &str) -> (u16, Value) {
    let r = m
        .http
        .post(m.token_url())
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn journal(m: &Mock, query: &str) -> Value {
    let (s, v) = m.get_json(&format!("/_mock/journal{query}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

// ---- info ----------------------------------------------------------------------------------

#[tokio::test]
async fn info_describes_project_servers_users_and_clients() {
    let m = Mock::start().await;
    let (s, v) = m.get_json("/_mock/info").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["project_id"], PID);
    assert_eq!(v["base_url"], m.base);
    assert_eq!(
        v["jwks_uri"],
        m.url(&format!("/{PID}/.well-known/jwks.json"))
    );
    assert_eq!(v["sdk_jwks_uri"], m.url(&format!("/v2/keys/{PID}")));
    assert_eq!(v["default_user"], "U2alice");
    let servers = v["servers"].as_array().unwrap();
    let ids: Vec<&str> = servers.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, [SID, SIBLING]);
    assert_eq!(servers[0]["resource"], RESOURCE);
    assert_eq!(servers[0]["issuer"], m.issuer(SID));
    assert_eq!(servers[1]["issuer"], m.issuer(SIBLING));
    // The advertised well-known URL works.
    let wk = servers[0]["well_known"].as_str().unwrap();
    let doc: Value = m.http.get(wk).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], m.issuer(SID));
    let users: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for u in ["U2alice", "U2root", "U2mallory"] {
        assert!(users.contains(&u), "{users:?}");
    }
    let clients: Vec<&str> = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        clients.contains(&PUBLIC_CLIENT) && clients.contains(&CONF_CLIENT),
        "{clients:?}"
    );
    assert!(
        v["management_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["secret"] == MGMT_KEY),
        "{v}"
    );
}

// ---- users ---------------------------------------------------------------------------------

#[tokio::test]
async fn users_are_created_updated_and_carried_into_tokens() {
    let m = Mock::start().await;
    let bob = json!({
        "id": "U2bob",
        "login_id": "bob@example.com",
        "name": "Bob",
        "email": "bob@example.com",
        "roles": ["user", "editor"],
        "permissions": ["notes:write"],
        "tenants": [{"id": "T2globex", "roles": ["viewer"]}],
    });
    let (s, v) = m.control("/_mock/users", bob.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["id"], "U2bob");
    let mut renamed = bob.clone();
    renamed["name"] = json!("Robert");
    let (s, v) = m.control("/_mock/users", renamed).await;
    assert_eq!(s, 200, "an update is 200: {v}");
    assert_eq!(v["name"], "Robert");
    let (s, v) = m.get_json("/_mock/users/U2bob").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "Robert");
    let (_, info) = m.get_json("/_mock/info").await;
    assert!(
        info["users"].as_array().unwrap().contains(&json!("U2bob")),
        "{info}"
    );

    // The new user's token carries its roles, permissions and tenants.
    let t = m.mint(json!({"user": "U2bob", "tenant": "T2globex"})).await;
    let c = &t["claims"];
    assert_eq!(c["sub"], "U2bob");
    assert_eq!(c["roles"], json!(["user", "editor"]));
    assert_eq!(c["permissions"], json!(["notes:write"]));
    assert_eq!(c["tenants"]["T2globex"]["roles"], json!(["viewer"]));
    assert!(c["tenants"].get("T2acme").is_none(), "{c}");
    assert_eq!(c["dct"], "T2globex");
    let (_, decoded) = decode_parts(t["access_token"].as_str().unwrap());
    assert_eq!(&decoded, c);
    // By login id too.
    let t = m.mint(json!({"user": "bob@example.com"})).await;
    assert_eq!(t["claims"]["sub"], "U2bob");
    // A tenant the user is not in.
    let (s, v) = m
        .control(
            "/_mock/tokens",
            json!({"user": "U2bob", "tenant": "T2acme"}),
        )
        .await;
    assert_mock_error(s, &v, 400, "tenant");
}

#[tokio::test]
async fn invalid_users_are_refused_naming_the_field() {
    let m = Mock::start().await;
    let (s, v) = m
        .control("/_mock/users", json!({"id": "bob", "login_id": "bob@x"}))
        .await;
    assert_mock_error(s, &v, 400, "id");
    assert!(v["message"].as_str().unwrap().contains("\"U\""), "{v}");
    let (s, v) = m
        .control(
            "/_mock/users",
            json!({"id": "U2bob", "login_id": "bob@x", "tenants": [{"id": "T2nowhere"}]}),
        )
        .await;
    assert_mock_error(s, &v, 400, "tenants[0].id");
    assert!(v["message"].as_str().unwrap().contains("T2nowhere"), "{v}");
    let (s, v) = m
        .control(
            "/_mock/users",
            json!({"id": "U2bob", "login_id": "alice@example.com"}),
        )
        .await;
    assert_mock_error(s, &v, 400, "login_id");
    // Nothing was created.
    let (s, _) = m.get_json("/_mock/users/U2bob").await;
    assert_eq!(s, 404);
    let (s, _) = m.get_json("/_mock/users/bob").await;
    assert_eq!(s, 404);
}

// ---- clients -------------------------------------------------------------------------------

#[tokio::test]
async fn created_client_can_use_client_credentials() {
    let m = Mock::start().await;
    let (s, v) = client_credentials(&m, "ci-extra", "extra-secret").await;
    assert_eq!(s, 401, "unknown before creation: {v}");
    let (s, v) = m
        .control(
            "/_mock/clients",
            json!({"id": "ci-extra", "type": "confidential", "secret": "extra-secret",
                   "grant_types": ["client_credentials"], "scopes": ["mcp:read"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["id"], "ci-extra");
    let (s, tok) = client_credentials(&m, "ci-extra", "extra-secret").await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["scope"], "mcp:read");
    let c = verifies_with_jwks(&m, tok["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(c["sub"], "ci-extra");
    assert_eq!(c["client_id"], "ci-extra");
    let (s, v) = client_credentials(&m, "ci-extra", "wrong").await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "invalid_client");
    // Duplicate and invalid clients.
    let (s, v) = m
        .control(
            "/_mock/clients",
            json!({"id": "ci-extra", "type": "confidential", "secret": "x",
                   "grant_types": ["client_credentials"]}),
        )
        .await;
    assert_mock_error(s, &v, 400, "id");
    let (s, v) = m
        .control(
            "/_mock/clients",
            json!({"id": "ci-nosecret", "type": "confidential", "grant_types": ["client_credentials"]}),
        )
        .await;
    assert_mock_error(s, &v, 400, "secret");
}

// ---- keys ----------------------------------------------------------------------------------

#[tokio::test]
async fn rotation_publishes_new_key_keeps_old_until_retired() {
    let m = Mock::start().await;
    assert_eq!(published_kids(&m).await, ["SKmockDefault1"]);
    let old_tok = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(kid_of(&old_tok), "SKmockDefault1");

    let (s, r) = m.control("/_mock/keys/rotate", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["previous"], "SKmockDefault1");
    let new_kid = r["active"].as_str().unwrap().to_string();
    assert_ne!(new_kid, "SKmockDefault1");
    assert_eq!(r["generated"], false, "a spare was available: {r}");
    let kids = published_kids(&m).await;
    assert!(kids.contains(&new_kid), "{kids:?}");
    assert!(kids.contains(&"SKmockDefault1".to_string()), "{kids:?}");
    let (_, keys) = m.get_json("/_mock/keys").await;
    assert_eq!(keys["active"], new_kid.as_str());

    // New tokens carry the new kid and verify.
    let new_tok = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(kid_of(&new_tok), new_kid);
    verifies_with_jwks(&m, &new_tok).await.unwrap();
    // The token from before rotation still verifies (old key still published) and is active.
    verifies_with_jwks(&m, &old_tok).await.unwrap();
    assert_eq!(m.introspect(&old_tok).await["active"], true);

    // Retire the old key: gone from both JWKS routes, its token stops being active.
    let (s, r) = m
        .control("/_mock/keys/retire", json!({"kid": "SKmockDefault1"}))
        .await;
    assert_eq!(s, 200, "{r}");
    let kids = published_kids(&m).await;
    assert!(!kids.contains(&"SKmockDefault1".to_string()), "{kids:?}");
    assert!(kids.contains(&new_kid), "{kids:?}");
    assert!(verifies_with_jwks(&m, &old_tok).await.is_err());
    assert_eq!(m.introspect(&old_tok).await["active"], false);
    assert_eq!(m.introspect(&new_tok).await["active"], true);

    // The active key cannot be retired; an unknown kid is not found.
    let (s, v) = m
        .control("/_mock/keys/retire", json!({"kid": new_kid}))
        .await;
    assert_mock_error(s, &v, 400, &new_kid);
    assert!(published_kids(&m).await.contains(&new_kid));
    let (s, v) = m
        .control("/_mock/keys/retire", json!({"kid": "SKnoSuchKey"}))
        .await;
    assert_mock_error(s, &v, 404, "SKnoSuchKey");

    // Undo the rotation: the retired key signs again and is back in the JWKS; its old token
    // verifies again; the other key stays published.
    let (s, r) = m
        .control("/_mock/keys/activate", json!({"kid": "SKmockDefault1"}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["previous"].as_str(), r["active"].as_str()),
        (Some(new_kid.as_str()), Some("SKmockDefault1"))
    );
    let kids = published_kids(&m).await;
    assert!(kids.contains(&"SKmockDefault1".to_string()), "{kids:?}");
    assert!(kids.contains(&new_kid), "{kids:?}");
    assert_eq!(
        kid_of(&mint_jwt(&m, json!({"user": "U2alice"})).await),
        "SKmockDefault1"
    );
    verifies_with_jwks(&m, &old_tok).await.unwrap();
    let (s, v) = m
        .control("/_mock/keys/activate", json!({"kid": "SKnoSuchKey"}))
        .await;
    assert_mock_error(s, &v, 404, "SKnoSuchKey");
}

#[tokio::test]
async fn rotate_with_generate_makes_a_fresh_rsa_key() {
    let m = Mock::start().await;
    // A kid already in use is refused before any generation.
    let (s, v) = m
        .control(
            "/_mock/keys/rotate",
            json!({"generate": true, "kid": "SKmockDefault3"}),
        )
        .await;
    assert_mock_error(s, &v, 400, "SKmockDefault3");

    let (s, r) = m
        .control("/_mock/keys/rotate", json!({"generate": true}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["generated"], true);
    let kid = r["active"].as_str().unwrap().to_string();
    assert!(
        ![
            "SKmockDefault1",
            "SKmockDefault2",
            "SKmockDefault3",
            "SKmockDefault4"
        ]
        .contains(&kid.as_str()),
        "a generated key, not a spare: {kid}"
    );
    let kids = published_kids(&m).await;
    assert!(kids.contains(&kid) && kids.contains(&"SKmockDefault1".to_string()));
    let tok = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(kid_of(&tok), kid);
    verifies_with_jwks(&m, &tok).await.unwrap();
    assert_eq!(m.introspect(&tok).await["active"], true);
}

#[tokio::test]
async fn rotating_past_all_spares_generates() {
    let m = Mock::start().await;
    let mut seen = vec!["SKmockDefault1".to_string()];
    for expected in ["SKmockDefault2", "SKmockDefault3", "SKmockDefault4"] {
        let (s, r) = m.control("/_mock/keys/rotate", json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["active"], expected, "{r}");
        assert_eq!(r["generated"], false, "{r}");
        seen.push(expected.to_string());
    }
    let (s, r) = m.control("/_mock/keys/rotate", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["generated"], true, "no spare left: {r}");
    assert_eq!(r["previous"], "SKmockDefault4");
    let kid = r["active"].as_str().unwrap().to_string();
    assert!(!seen.contains(&kid), "{kid}");
    seen.push(kid.clone());
    let mut kids = published_kids(&m).await;
    kids.sort();
    seen.sort();
    assert_eq!(kids, seen, "every rotated key stays published");
    let tok = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(kid_of(&tok), kid);
    verifies_with_jwks(&m, &tok).await.unwrap();
}

// ---- faults --------------------------------------------------------------------------------

#[tokio::test]
async fn jwks_fault_answers_twice_then_recovers() {
    let m = Mock::start().await;
    let (s, f) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "jwks", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    assert!(f["id"].as_u64().unwrap() > 0, "{f}");
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"].as_array().unwrap().len(), 1, "{list}");
    for i in 0..2 {
        let (s, v) = jwks_sdk(&m).await;
        assert_eq!(s, 503, "request {i}: {v}");
        assert_descope_shape(&v);
    }
    let (s, v) = jwks_sdk(&m).await;
    assert_eq!(s, 200, "{v}");
    assert!(!v["keys"].as_array().unwrap().is_empty());
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"], json!([]), "a spent fault is gone");
}

/// The discovery `jwks_uri` is a Descope endpoint whose own errors (unknown project) are
/// Descope-shaped; an injected fault there should look the same.
#[tokio::test]
async fn jwks_uri_fault_is_descope_shaped_like_its_own_errors() {
    let m = Mock::start().await;
    let (s, own) = m
        .get_json("/P2otherProject00000000000000/.well-known/jwks.json")
        .await;
    assert_eq!(s, 404, "{own}");
    assert_descope_shape(&own);
    let (s, _) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "jwks", "status": 503, "count": 1}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = jwks_oidc(&m).await;
    assert_eq!(s, 503, "{v}");
    assert_descope_shape(&v);
    let (s, _) = jwks_oidc(&m).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn delay_only_fault_still_serves_the_request() {
    let m = Mock::start().await;
    let (s, f) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "jwks", "delay_ms": 150, "count": 1}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    let (s, v) = jwks_oidc(&m).await;
    assert_eq!(s, 200, "{v}");
    assert!(!v["keys"].as_array().unwrap().is_empty());
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"], json!([]));
}

#[tokio::test]
async fn a_rate_limit_fault_carries_its_retry_after_header() {
    let m = Mock::start().await;
    let (s, f) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "connections", "status": 429, "count": 1,
                   "headers": {"Retry-After": "30"}}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    assert_eq!(f["headers"], json!({"Retry-After": "30"}), "{f}");
    let fetch = || {
        m.http
            .post(m.url("/v1/mgmt/outbound/app/user/token/latest"))
            .bearer_auth(format!("{PID}:{MGMT_KEY}"))
            .json(&json!({"appId": "google-calendar", "userId": "U2alice"}))
            .send()
    };
    let r = fetch().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let v: Value = r.json().await.unwrap();
    assert_descope_shape(&v);
    // Used up: the next fetch is served, without the header.
    let r = fetch().await.unwrap();
    assert_ne!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn a_user_fault_hits_only_that_users_calls() {
    let m = Mock::start().await;
    let (s, f) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "connections", "status": 429, "user": "U2alice"}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    let fetch = |bearer: String, user: &'static str| {
        m.http
            .post(m.url("/v1/mgmt/outbound/app/user/token/latest"))
            .bearer_auth(bearer)
            .json(&json!({"appId": "google-calendar", "userId": user}))
            .send()
    };
    let token = |user: &'static str| {
        let m = &m;
        async move {
            let v = m
                .mint(json!({"user": user, "client": PUBLIC_CLIENT, "server": SID,
                             "scopes": ["mcp:read", "outbound.token.fetch"]}))
                .await;
            v["access_token"].as_str().unwrap().to_string()
        }
    };
    let alice = token("U2alice").await;
    let bob = token("U2mallory").await;
    let r = fetch(format!("{PID}:{alice}"), "U2alice").await.unwrap();
    assert_eq!(r.status().as_u16(), 429, "alice's own call is faulted");
    let r = fetch(format!("{PID}:{bob}"), "U2mallory").await.unwrap();
    assert_ne!(r.status().as_u16(), 429, "mallory's call is not alice's");
    // A management-key fetch names the user only in its body: that counts too.
    let r = fetch(format!("{PID}:{MGMT_KEY}"), "U2alice").await.unwrap();
    assert_eq!(r.status().as_u16(), 429, "a management-key fetch for alice");
    let r = fetch(format!("{PID}:{MGMT_KEY}"), "U2mallory")
        .await
        .unwrap();
    assert_ne!(
        r.status().as_u16(),
        429,
        "a management-key fetch for mallory"
    );
    let (s, v) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "connections", "status": 429, "user": " "}),
        )
        .await;
    assert_mock_error(s, &v, 400, "user");
}

#[tokio::test]
async fn fault_headers_are_checked_when_armed() {
    let m = Mock::start().await;
    for (body, names) in [
        (
            json!({"endpoint": "jwks", "delay_ms": 10, "headers": {"Retry-After": "1"}}),
            "only with status",
        ),
        (
            json!({"endpoint": "jwks", "status": 429, "headers": {"bad name": "1"}}),
            "not a header name",
        ),
        (
            json!({"endpoint": "jwks", "status": 429, "headers": {"Retry-After": "a\nb"}}),
            "not a header value",
        ),
        (
            json!({"endpoint": "jwks", "status": 429, "headers": {"Content-Length": "1"}}),
            "frames the body",
        ),
    ] {
        let (s, v) = m.control("/_mock/faults", body.clone()).await;
        assert_mock_error(s, &v, 400, names);
    }
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"], json!([]), "a refused fault was armed");
}

#[tokio::test]
async fn token_fault_answers_in_the_oauth_shape() {
    let m = Mock::start().await;
    let (s, _) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "token", "status": 500, "count": 1}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = client_credentials(&m, CONF_CLIENT, CONF_SECRET).await;
    assert_eq!(s, 500, "{v}");
    assert_oauth_shape(&v);
    assert_eq!(v["error"], "server_error");
    let (s, v) = client_credentials(&m, CONF_CLIENT, CONF_SECRET).await;
    assert_eq!(s, 200, "{v}");
    // A 503 is `temporarily_unavailable` (RFC 6749 §5.2 / §4.1.2.1).
    m.control(
        "/_mock/faults",
        json!({"endpoint": "token", "status": 503, "count": 1}),
    )
    .await;
    let (s, v) = client_credentials(&m, CONF_CLIENT, CONF_SECRET).await;
    assert_eq!(s, 503, "{v}");
    assert_oauth_shape(&v);
    assert_eq!(v["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn delete_faults_clears_them() {
    let m = Mock::start().await;
    // No count: until cleared.
    let (s, _) = m
        .control("/_mock/faults", json!({"endpoint": "jwks", "status": 502}))
        .await;
    assert_eq!(s, 201);
    let (s, _) = m
        .control(
            "/_mock/faults",
            json!({"path_prefix": "/v1/mgmt/license", "status": 500}),
        )
        .await;
    assert_eq!(s, 201);
    for _ in 0..3 {
        assert_eq!(jwks_oidc(&m).await.0, 502);
    }
    let (s, v) = delete(&m, "/_mock/faults").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["cleared"], 2);
    assert_eq!(jwks_oidc(&m).await.0, 200);
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"], json!([]));
    // One fault by id.
    let (_, f) = m
        .control("/_mock/faults", json!({"endpoint": "jwks", "status": 502}))
        .await;
    let id = f["id"].as_u64().unwrap();
    let (s, _) = delete(&m, &format!("/_mock/faults/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(jwks_oidc(&m).await.0, 200);
    let (s, _) = delete(&m, &format!("/_mock/faults/{id}")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn invalid_fault_bodies_are_refused() {
    let m = Mock::start().await;
    for (body, names) in [
        (json!({"status": 503}), "endpoint"),
        (json!({"endpoint": "nope", "status": 503}), "endpoint"),
        (json!({"endpoint": "jwks"}), "status"),
        (json!({"endpoint": "jwks", "status": 99}), "status"),
        (json!({"endpoint": "jwks", "status": 600}), "status"),
        (
            json!({"endpoint": "jwks", "status": 503, "count": 0}),
            "count",
        ),
        (
            json!({"endpoint": "jwks", "delay_ms": 10_000_000}),
            "delay_ms",
        ),
    ] {
        let (s, v) = m.control("/_mock/faults", body.clone()).await;
        assert_mock_error(s, &v, 400, names);
    }
    // Nothing was armed.
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"], json!([]), "{list}");
    assert_eq!(jwks_oidc(&m).await.0, 200);
}

/// A misspelt field must not silently arm a different fault (here: one that never runs out).
#[tokio::test]
async fn fault_with_unknown_field_is_refused() {
    let m = Mock::start().await;
    let (s, v) = m
        .control(
            "/_mock/faults",
            json!({"endpoint": "jwks", "status": 503, "cuont": 1}),
        )
        .await;
    assert!((400..500).contains(&s), "status {s}: {v}");
    assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    let (_, list) = m.get_json("/_mock/faults").await;
    assert_eq!(list["faults"], json!([]), "{list}");
}

// ---- journal -------------------------------------------------------------------------------

#[tokio::test]
async fn journal_records_what_the_system_under_test_did() {
    let m = Mock::start().await;
    let (s, _) = jwks_sdk(&m).await;
    assert_eq!(s, 200);
    let (s, v) = client_credentials(&m, CONF_CLIENT, CONF_SECRET).await;
    assert_eq!(s, 200, "{v}");

    let j = journal(&m, "?endpoint=jwks").await;
    let e = j["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1, "{j}");
    assert_eq!(e[0]["method"], "GET");
    assert_eq!(e[0]["path"], format!("/v2/keys/{PID}"));
    assert_eq!(e[0]["endpoint"], "jwks");
    assert_eq!(e[0]["credential"], "bearer-project");
    assert_eq!(e[0]["status"], 200);
    assert_eq!(e[0]["outcome"], "ok");

    let j = journal(&m, "?endpoint=token").await;
    let e = j["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1, "{j}");
    assert_eq!(e[0]["method"], "POST");
    assert_eq!(e[0]["credential"], "basic");
    assert_eq!(e[0]["status"], 200);

    // Filter by path prefix and by credential.
    let j = journal(&m, "?path=/oauth2/").await;
    let e = j["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1, "{j}");
    assert_eq!(
        e[0]["path"],
        format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token")
    );
    let j = journal(&m, "?credential=bearer-project").await;
    assert_eq!(j["entries"].as_array().unwrap().len(), 1, "{j}");

    // The control API is not journaled (all the /_mock calls above included).
    let j = journal(&m, "").await;
    let all = j["entries"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{j}");
    assert!(
        all.iter()
            .all(|e| !e["path"].as_str().unwrap().starts_with("/_mock")),
        "{j}"
    );
    assert!(j["entries"][0]["seq"].as_u64() < j["entries"][1]["seq"].as_u64());

    // since_seq: only what happened after.
    let next = j["next_seq"].as_u64().unwrap();
    let (s, _) = jwks_oidc(&m).await;
    assert_eq!(s, 200);
    let j = journal(&m, &format!("?since_seq={next}")).await;
    let e = j["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1, "{j}");
    assert_eq!(e[0]["seq"], next);
    assert_eq!(e[0]["path"], format!("/{PID}/.well-known/jwks.json"));
    assert_eq!(e[0]["credential"], "none");

    // Failures are journaled with their status.
    let (s, _) = client_credentials(&m, CONF_CLIENT, "wrong").await;
    assert_eq!(s, 401);
    let j = journal(&m, "?endpoint=token").await;
    let last = j["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], 401, "{j}");
    assert_eq!(last["outcome"], "invalid_client", "{j}");

    // DELETE clears.
    let (s, v) = delete(&m, "/_mock/journal").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["cleared"], 4);
    let j = journal(&m, "").await;
    assert_eq!(j["entries"], json!([]), "{j}");
}

// ---- clock ---------------------------------------------------------------------------------

#[tokio::test]
async fn clock_advance_moves_issued_times_and_expires_old_tokens() {
    let m = Mock::start().await;
    let before = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(m.introspect(&before).await["active"], true);
    let (s, v) = m
        .control("/_mock/clock", json!({"advance_secs": 7200}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["offset_secs"], 7200);
    let (_, v) = m.get_json("/_mock/clock").await;
    assert_eq!(v["offset_secs"], 7200);

    let after = m.mint(json!({"user": "U2alice"})).await;
    let iat = after["claims"]["iat"].as_i64().unwrap();
    let expected = now() + 7200;
    assert!(
        (iat - expected).abs() <= 60,
        "iat {iat} should be about now + 7200 = {expected}"
    );
    // The token of an hour-long lifetime minted two hours "ago" is no longer active...
    assert_eq!(m.introspect(&before).await["active"], false);
    // ...while one minted in mock time is.
    let r = m.introspect(after["access_token"].as_str().unwrap()).await;
    assert_eq!(r["active"], true, "{r}");

    let (s, v) = m
        .control("/_mock/clock", json!({"advance_secs": 1, "offset_secs": 0}))
        .await;
    assert_mock_error(s, &v, 400, "offset_secs");
    let (s, v) = m.control("/_mock/clock", json!({"offset_secs": 0})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["offset_secs"], 0);
}

// ---- revoke --------------------------------------------------------------------------------

#[tokio::test]
async fn revoking_a_user_kills_earlier_tokens_only() {
    let m = Mock::start().await;
    let alice = mint_jwt(&m, json!({"user": "U2alice"})).await;
    let root = mint_jwt(&m, json!({"user": "U2root"})).await;
    assert_eq!(m.introspect(&alice).await["active"], true);
    let (s, v) = m.control("/_mock/revoke", json!({"user": "U2alice"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revoked"]["user"], "U2alice");
    assert_eq!(m.introspect(&alice).await["active"], false);
    assert_eq!(
        m.introspect(&root).await["active"],
        true,
        "other users keep theirs"
    );
    let later = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(m.introspect(&later).await["active"], true);
    // Unknown user.
    let (s, v) = m
        .control("/_mock/revoke", json!({"user": "U2nobody"}))
        .await;
    assert_mock_error(s, &v, 400, "U2nobody");
}

#[tokio::test]
async fn revoking_one_token_leaves_the_others() {
    let m = Mock::start().await;
    let a = mint_jwt(&m, json!({"user": "U2alice"})).await;
    let b = mint_jwt(&m, json!({"user": "U2alice"})).await;
    let (s, v) = m.control("/_mock/revoke", json!({"token": a})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(m.introspect(&a).await["active"], false);
    assert_eq!(m.introspect(&b).await["active"], true);
    // By jti.
    let (_, cb) = decode_parts(&b);
    let (s, v) = m.control("/_mock/revoke", json!({"jti": cb["jti"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(m.introspect(&b).await["active"], false);
    // Exactly one field.
    let (s, v) = m
        .control("/_mock/revoke", json!({"token": a, "user": "U2alice"}))
        .await;
    assert_mock_error(s, &v, 400, "exactly one");
    let (s, v) = m.control("/_mock/revoke", json!({})).await;
    assert_mock_error(s, &v, 400, "exactly one");
    let (s, v) = m
        .control("/_mock/revoke", json!({"token": "not-a-token"}))
        .await;
    assert_mock_error(s, &v, 400, "token");
}

// ---- reset ---------------------------------------------------------------------------------

#[tokio::test]
async fn reset_restores_keys_users_faults_and_clock() {
    let m = Mock::start().await;
    let (_, info_before) = m.get_json("/_mock/info").await;
    m.control("/_mock/keys/rotate", json!({})).await;
    let (s, _) = m
        .control("/_mock/keys/retire", json!({"kid": "SKmockDefault1"}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = m
        .control(
            "/_mock/users",
            json!({"id": "U2temp", "login_id": "temp@x"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = m
        .control(
            "/_mock/users",
            json!({"id": "U2alice", "login_id": "alice@example.com", "roles": ["changed"]}),
        )
        .await;
    assert_eq!(s, 200);
    m.control("/_mock/clock", json!({"offset_secs": 999})).await;
    m.control(
        "/_mock/faults",
        json!({"endpoint": "discovery", "status": 500}),
    )
    .await;
    assert_ne!(published_kids(&m).await, ["SKmockDefault1"]);

    let (s, v) = m.control("/_mock/reset", json!({})).await;
    assert_eq!(s, 200, "{v}");

    assert_eq!(published_kids(&m).await, ["SKmockDefault1"]);
    let (_, keys) = m.get_json("/_mock/keys").await;
    assert_eq!(keys["active"], "SKmockDefault1");
    let (s, _) = m.get_json("/_mock/users/U2temp").await;
    assert_eq!(s, 404);
    let (_, alice) = m.get_json("/_mock/users/U2alice").await;
    assert_eq!(alice["roles"], json!(["user"]));
    let (_, info_after) = m.get_json("/_mock/info").await;
    assert_eq!(info_after["users"], info_before["users"]);
    assert_eq!(info_after["clients"], info_before["clients"]);
    let (_, clock) = m.get_json("/_mock/clock").await;
    assert_eq!(clock["offset_secs"], 0);
    let (_, faults) = m.get_json("/_mock/faults").await;
    assert_eq!(faults["faults"], json!([]));
    let tok = mint_jwt(&m, json!({"user": "U2alice"})).await;
    assert_eq!(kid_of(&tok), "SKmockDefault1");
    verifies_with_jwks(&m, &tok).await.unwrap();
}
