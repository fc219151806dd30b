//! Discovery documents and JWKS against a real listener.

mod common;
use common::*;
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;

#[tokio::test]
async fn every_discovery_url_serves_an_issuer_equal_to_its_prefix() {
    let m = Mock::start().await;
    let iss = m.issuer(SID);
    let prefix = format!("/v1/apps/agentic/{PID}/{SID}");
    for path in [
        format!("{prefix}/.well-known/openid-configuration"),
        format!("{prefix}/.well-known/oauth-authorization-server"),
        format!("/.well-known/oauth-authorization-server{prefix}"),
        format!("/.well-known/openid-configuration{prefix}"),
    ] {
        let (s, doc) = m.get_json(&path).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(doc["issuer"], iss, "{path}");
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{}/oauth2/v1/apps/agentic/{PID}/{SID}/authorize", m.base)
        );
        assert_eq!(
            doc["token_endpoint"],
            format!("{}/oauth2/v1/apps/agentic/{PID}/{SID}/token", m.base)
        );
        assert_eq!(
            doc["revocation_endpoint"],
            format!("{}/oauth2/v1/apps/{PID}/revoke", m.base)
        );
        assert_eq!(
            doc["userinfo_endpoint"],
            format!("{}/oauth2/v1/apps/{PID}/userinfo", m.base)
        );
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{}/oauth2/v1/apps/{PID}/introspect", m.base)
        );
        assert_eq!(
            doc["registration_endpoint"],
            format!("{}/v1/mgmt/mcp/client/{PID}/{SID}/register", m.base)
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{}/{PID}/.well-known/jwks.json", m.base)
        );
        let scopes: Vec<&str> = doc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            scopes,
            [
                "mcp:read",
                "calendar.read",
                "calendar.write",
                "mcp:admin",
                "outbound.token.fetch"
            ]
        );
        assert!(
            doc.get("client_id_metadata_document_supported").is_none(),
            "CIMD is off in the default"
        );
    }
}

#[tokio::test]
async fn legacy_project_issuer_and_unknown_ids() {
    let m = Mock::start().await;
    let (s, doc) = m
        .get_json(&format!("/v1/apps/{PID}/.well-known/openid-configuration"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(doc["issuer"], format!("{}/v1/apps/{PID}", m.base));
    let (s, err) = m
        .get_json(&format!(
            "/v1/apps/agentic/{PID}/MS2nope/.well-known/openid-configuration"
        ))
        .await;
    assert_eq!(s, 404);
    assert!(
        err["errorCode"].is_string() && err["errorMessage"].as_str().unwrap().contains("MS2nope"),
        "{err}"
    );
    let (s, _) = m.get_json("/v1/apps/agentic/P2otherProject00000000000000/MS2calendar/.well-known/openid-configuration").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn both_jwks_routes_serve_the_same_keys_with_kid_and_alg() {
    let m = Mock::start().await;
    let (s, a) = m.get_json(&format!("/{PID}/.well-known/jwks.json")).await;
    assert_eq!(s, 200);
    for auth in [PID.to_string(), format!("{PID}:anything")] {
        let r = m
            .http
            .get(m.url(&format!("/v2/keys/{PID}")))
            .bearer_auth(&auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        assert_eq!(a, b);
    }
    for k in a["keys"].as_array().unwrap() {
        for f in ["kid", "alg", "use", "kty", "n", "e"] {
            assert!(k[f].is_string(), "key lacks {f}: {k}");
        }
    }
    // /v2/keys needs the project bearer.
    let r = m
        .http
        .get(m.url(&format!("/v2/keys/{PID}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert!(e["errorCode"].is_string(), "{e}");
    let r = m
        .http
        .get(m.url(&format!("/v2/keys/{PID}")))
        .bearer_auth("P2someoneElse")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A token verifies with jsonwebtoken using only the JWKS fetched over HTTP.
#[tokio::test]
async fn token_verifies_with_jwks_fetched_over_http() {
    let m = Mock::start().await;
    let (s, tok) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CONF_CLIENT),
                ("client_secret", CONF_SECRET),
            ],
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let jwt = tok["access_token"].as_str().unwrap();
    let jwks: JwkSet = m
        .http
        .get(m.url(&format!("/{PID}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let mut v = Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[RESOURCE]);
    v.set_issuer(&[m.issuer(SID)]);
    let data = jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("verifies");
    let c = data.claims;
    assert_eq!(c["sub"], CONF_CLIENT);
    assert_eq!(c["azp"], CONF_CLIENT);
    assert_eq!(c["aud"], serde_json::json!([PID, CONF_CLIENT, RESOURCE]));
    assert!(c["scope"].is_string() && c["scopes"].is_array());
    for f in ["iat", "nbf", "exp", "jti"] {
        assert!(!c[f].is_null(), "missing {f}");
    }
}

/// ES256 is optional: a config whose active key is ES256 signs ES256 tokens that verify
/// against the EC JWK it publishes.
#[tokio::test]
async fn es256_active_key_signs_verifiable_tokens() {
    let text = mock_as::config::DEFAULT_TOML.replacen(
        "[[keys]]\nkid = \"SKmockDefault1\"\npem = \"builtin:rs256-1\"\nstate = \"active\"",
        "[[keys]]\nkid = \"SKmockEC1\"\nalg = \"ES256\"\npem = \"builtin:es256-1\"\nstate = \"active\"\n\n[[keys]]\nkid = \"SKmockDefault1\"\npem = \"builtin:rs256-1\"",
        1,
    );
    let cfg = mock_as::Config::parse(&text, "es256.toml", None).expect("es256 config");
    let m = Mock::start_with(cfg, None).await;
    let tok = m.mint(serde_json::json!({"user": "U2alice"})).await;
    let jwt = tok["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("SKmockEC1"));
    let jwks: JwkSet = m
        .http
        .get(m.url(&format!("/{PID}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find("SKmockEC1").expect("EC key published");
    let mut v = Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[RESOURCE]);
    jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("ES256 token verifies");
    // The RSA key stays published alongside.
    assert!(jwks.find("SKmockDefault1").is_some());
}
