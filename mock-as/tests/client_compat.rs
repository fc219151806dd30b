//! What real MCP clients need from mock-as beyond the happy path, one test per behaviour fixed
//! while running an SDK's OAuth client against it (rmcp 3.9:
//! `fixtures/reference-server/tests/rmcp_oauth_client.rs`).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::{Value, json};

/// A redirect URI for the clients registered here (never visited).
const REDIRECT: &str = "http://127.0.0.1:33421/callback";

/// Register a public client dynamically (RFC 7591) the way rmcp does: `scope` = the scopes of
/// its first authorization (here the 401 challenge's `mcp:read`), `application_type` native.
async fn register_public(m: &Mock, scope: &str) -> String {
    let r = m
        .http
        .post(m.url(&format!("/v1/mgmt/mcp/client/{PID}/{SID}/register")))
        .json(&json!({
            "client_name": "step-up client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "response_types": ["code"],
            "scope": scope,
            "application_type": "native",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scope"], scope, "the registered scope is echoed: {v}");
    v["client_id"].as_str().unwrap().to_string()
}

/// Authorize `client` for `scope` (`""` = no `scope` parameter) and exchange the code; returns
/// the token response, or the error redirect's `error`.
async fn code_flow_for(m: &Mock, client: &str, scope: &str) -> Result<Value, String> {
    let (r, verifier) = m
        .authorize(&[
            ("client_id", client),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
        ])
        .await;
    assert_eq!(r.status().as_u16(), 302, "authorize did not redirect");
    let loc = location(&r);
    assert!(loc.starts_with(REDIRECT), "redirected elsewhere: {loc}");
    if let Some(e) = query_param(&loc, "error") {
        return Err(e);
    }
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    let (s, v) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", client),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(s, 200, "token exchange failed: {v}");
    Ok(v)
}

/// MCP step-up (2025-11-25 / 2026-07-28 §Scope Challenge Handling): after a 403
/// `insufficient_scope`, the client re-authorizes the same registration for the union of its
/// scopes and the challenged ones. RFC 7591 §2 `scope` lists what the client "can use" and is
/// not a limit on later requests, so a client registered with `mcp:read` gets `calendar.read`
/// when it asks (mock-as answered `invalid_scope`, which broke rmcp's `request_scope_upgrade`).
/// The registered scope stays the default for a request without `scope` (RFC 6749 §3.3), and
/// the server's scopes and consent policy still bound the grant.
#[tokio::test]
async fn a_dynamically_registered_client_may_step_up_beyond_its_registered_scope() {
    let m = Mock::start().await;
    let client = register_public(&m, "mcp:read").await;

    // The first authorization: what it registered with.
    let first = code_flow_for(&m, &client, "mcp:read").await.unwrap();
    assert_eq!(first["scope"], "mcp:read", "{first}");

    // Step-up: the union of mcp:read and the challenge's scopes.
    let stepped = code_flow_for(&m, &client, "mcp:read calendar.read outbound.token.fetch")
        .await
        .unwrap_or_else(|e| panic!("step-up refused with {e}"));
    assert_eq!(
        stepped["scope"], "mcp:read calendar.read outbound.token.fetch",
        "{stepped}"
    );
    let (_, claims) = decode_parts(stepped["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], client.as_str(), "{claims}");
    assert_eq!(claims["sub"], "U2alice", "{claims}");

    // Without `scope`, the registered scope is the default.
    let default = code_flow_for(&m, &client, "").await.unwrap();
    assert_eq!(default["scope"], "mcp:read", "{default}");

    // Still bounded: a scope of another server is invalid_scope, and the consent policy
    // silently drops mcp:admin for U2alice (role user).
    assert_eq!(
        code_flow_for(&m, &client, "mcp:read notes.read")
            .await
            .err(),
        Some("invalid_scope".to_string())
    );
    let admin = code_flow_for(&m, &client, "mcp:read mcp:admin")
        .await
        .unwrap();
    assert_eq!(admin["scope"], "mcp:read", "{admin}");
}

/// A client created with an explicit `scopes` allow-list (configuration or control API) keeps
/// it: only dynamic registration's `scope` is advisory.
#[tokio::test]
async fn a_configured_clients_scopes_remain_an_allow_list() {
    let m = Mock::start().await;
    let (s, v) = m
        .control(
            "/_mock/clients",
            json!({
                "id": "narrow-cli",
                "type": "public",
                "redirect_uris": [REDIRECT],
                "scopes": ["mcp:read"],
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        code_flow_for(&m, "narrow-cli", "mcp:read calendar.read")
            .await
            .err(),
        Some("invalid_scope".to_string())
    );
    let ok = code_flow_for(&m, "narrow-cli", "mcp:read").await.unwrap();
    assert_eq!(ok["scope"], "mcp:read", "{ok}");
}
