#![allow(clippy::unwrap_used)]
//! Descope's three issuers (mock-as/DESCOPE.md §1, §4.1): the MCP server's own
//! `<base>/v1/apps/agentic/<pid>/<sid>`, the project's Inbound App issuer `<base>/v1/apps/<pid>`
//! and the project OIDC issuer `<base>/<pid>` — their discovery documents, tokens minted in each
//! style (with every hostile flaw), the flows that issue them, and the endpoints that accept them.

mod common;
use common::*;

use serde_json::{Value, json};

const SIBLING_PROJECT: &str = "P2mockAsSiblingProject000001";

fn inbound(m: &Mock) -> String {
    format!("{}/v1/apps/{PID}", m.base)
}

fn project(m: &Mock) -> String {
    format!("{}/{PID}", m.base)
}

#[tokio::test]
async fn the_project_issuer_is_discoverable_at_every_well_known_url() {
    let m = Mock::start().await;
    for path in [
        format!("/{PID}/.well-known/openid-configuration"),
        format!("/{PID}/.well-known/oauth-authorization-server"),
        format!("/.well-known/oauth-authorization-server/{PID}"),
        format!("/.well-known/openid-configuration/{PID}"),
    ] {
        let (s, d) = m.get_json(&path).await;
        assert_eq!(s, 200, "{path}: {d}");
        assert_eq!(
            d["issuer"],
            json!(project(&m)),
            "{path}: byte-identical issuer"
        );
        assert_eq!(
            d["authorization_endpoint"],
            json!(m.url("/oauth2/v1/authorize"))
        );
        assert_eq!(d["token_endpoint"], json!(m.url("/oauth2/v1/token")));
        assert_eq!(d["userinfo_endpoint"], json!(m.url("/oauth2/v1/userinfo")));
        assert_eq!(d["revocation_endpoint"], json!(m.url("/oauth2/v1/revoke")));
        assert_eq!(
            d["jwks_uri"],
            json!(m.url(&format!("/{PID}/.well-known/jwks.json")))
        );
    }
    // Another project: Descope's error body, 404.
    let (s, d) = m
        .get_json(&format!(
            "/{SIBLING_PROJECT}/.well-known/openid-configuration"
        ))
        .await;
    assert_eq!(s, 404, "{d}");
    assert!(d["errorCode"].is_string(), "{d}");
    // The Inbound App issuer's documents are unchanged.
    let (s, d) = m
        .get_json(&format!("/v1/apps/{PID}/.well-known/openid-configuration"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["issuer"], json!(inbound(&m)));
    // /_mock/info names both.
    let (_, info) = m.get_json("/_mock/info").await;
    assert_eq!(info["issuers"]["inbound-app"]["issuer"], json!(inbound(&m)));
    assert_eq!(info["issuers"]["project"]["issuer"], json!(project(&m)));
}

#[tokio::test]
async fn minted_tokens_carry_the_issuer_and_audience_of_their_style() {
    let m = Mock::start().await;
    let v = m.mint(json!({"user": "U2alice"})).await;
    assert_eq!(v["claims"]["iss"], json!(m.issuer(SID)));
    assert_eq!(v["issuer"], json!("mcp-server"));
    for (style, iss) in [("inbound-app", inbound(&m)), ("project", project(&m))] {
        let v = m.mint(json!({"user": "U2alice", "issuer": style})).await;
        assert_eq!(v["claims"]["iss"], json!(iss), "{style}");
        assert_eq!(
            v["claims"]["aud"],
            json!([PID]),
            "{style}: aud is the project id"
        );
        let v = m
            .mint(json!({"user": "U2alice", "issuer": style, "resource": RESOURCE}))
            .await;
        assert_eq!(
            v["claims"]["aud"],
            json!([PID, RESOURCE]),
            "{style}: an explicit resource joins the project id"
        );
        // Accepted where this project's tokens are: introspection says active.
        let tok = v["access_token"].as_str().unwrap();
        assert_eq!(m.introspect(tok).await["active"], json!(true), "{style}");
    }
    let (s, v) = m
        .control("/_mock/tokens", json!({"issuer": "tenant"}))
        .await;
    assert!((400..500).contains(&s), "{s} {v}");
}

#[tokio::test]
async fn every_flaw_works_in_every_style() {
    let m = Mock::start().await;
    let (_, list) = m.get_json("/_mock/flaws").await;
    let flaws: Vec<String> = list["flaws"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flaw"].as_str().unwrap().to_string())
        .collect();
    for (style, iss) in [("inbound-app", inbound(&m)), ("project", project(&m))] {
        let good = m.mint(json!({"user": "U2alice", "issuer": style})).await;
        for flaw in &flaws {
            let v = m
                .mint(json!({"user": "U2alice", "issuer": style, "flaw": flaw}))
                .await;
            let tok = v["access_token"].as_str().unwrap();
            assert_ne!(tok, good["access_token"].as_str().unwrap());
            // Introspection vouches for signature, time and issuer (RFC 7662 leaves the
            // audience and scopes to the resource server): no other flawed token is active.
            let active = m.introspect(tok).await["active"] == json!(true);
            assert_eq!(
                active,
                matches!(flaw.as_str(), "wrong_aud" | "missing_scope"),
                "{style} {flaw}: {}",
                v["claims"]
            );
            let c = &v["claims"];
            match flaw.as_str() {
                "wrong_iss" => {
                    let path = url::Url::parse(&iss).unwrap().path().to_string();
                    assert_eq!(c["iss"], json!(format!("http://evil.invalid{path}")));
                }
                "sibling_aud" => {
                    let other = iss.replace(PID, SIBLING_PROJECT);
                    assert_eq!(c["iss"], json!(other), "{style}: another project's issuer");
                    assert_eq!(c["aud"], json!([SIBLING_PROJECT]));
                }
                "wrong_aud" => assert_eq!(c["aud"], json!(["https://unrelated.invalid/mcp"])),
                _ => assert_eq!(c["iss"], json!(iss), "{style} {flaw}"),
            }
        }
    }
}

/// A PKCE authorization request at `authorize`, exchanged at `token`: the token response.
async fn flow(m: &Mock, authorize: &str, token: &str, extra: &[(&str, &str)]) -> Value {
    let verifier = new_verifier();
    let challenge = s256(&verifier);
    let mut q: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", PUBLIC_CLIENT),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "st4te"),
        ("resource", RESOURCE),
        ("scope", "mcp:read calendar.read offline_access"),
    ];
    q.extend_from_slice(extra);
    let r = m.http.get(m.url(authorize)).query(&q).send().await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        302,
        "{authorize}: {:?}",
        r.text().await
    );
    let loc = location(&r);
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    let (s, v) = m
        .post_form(
            &m.url(token),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", PUBLIC_CLIENT),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("code_verifier", &verifier),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(s, 200, "{token}: {v}");
    let mut v = v;
    v["iss_param"] = json!(query_param(&loc, "iss"));
    v
}

#[tokio::test]
async fn the_project_level_flows_issue_tokens_of_their_issuer_and_refreshes_keep_it() {
    let m = Mock::start().await;
    for (authorize, token, iss) in [
        ("/oauth2/v1/authorize", "/oauth2/v1/token", project(&m)),
        (
            "/oauth2/v1/apps/authorize",
            "/oauth2/v1/apps/token",
            inbound(&m),
        ),
    ] {
        let v = flow(&m, authorize, token, &[]).await;
        assert_eq!(
            v["iss_param"],
            json!(iss),
            "RFC 9207 iss names the flow's issuer"
        );
        let (_, c) = decode_parts(v["access_token"].as_str().unwrap());
        assert_eq!(c["iss"], json!(iss), "{authorize}");
        assert_eq!(c["aud"], json!([PID, RESOURCE]), "{authorize}");
        let rt = v["refresh_token"].as_str().expect("a refresh token");
        let (s, r) = m
            .post_form(
                &m.url(token),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt),
                    ("client_id", PUBLIC_CLIENT),
                ],
            )
            .await;
        assert_eq!(s, 200, "{r}");
        let (_, c) = decode_parts(r["access_token"].as_str().unwrap());
        assert_eq!(c["iss"], json!(iss), "a refreshed token keeps its issuer");
    }
    // With mcp_server_id the generic endpoint stays the MCP server's flow.
    let v = flow(
        &m,
        "/oauth2/v1/apps/authorize",
        "/oauth2/v1/apps/token",
        &[("project_id", PID), ("mcp_server_id", SID)],
    )
    .await;
    let (_, c) = decode_parts(v["access_token"].as_str().unwrap());
    assert_eq!(c["iss"], json!(m.issuer(SID)));
    // Another project's id: refused directly, RFC 6749 body.
    let r = m
        .http
        .get(m.url("/oauth2/v1/authorize"))
        .query(&[
            ("project_id", SIBLING_PROJECT),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn connection_fetches_accept_every_issuer_of_the_project_and_no_other() {
    let m = Mock::start().await;
    let fetch = |tok: String| {
        let m = &m;
        async move {
            let r = m
                .http
                .post(m.url("/v1/mgmt/outbound/app/user/token/latest"))
                .bearer_auth(format!("{PID}:{tok}"))
                .json(&json!({"appId": "google-calendar", "userId": "U2alice"}))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for style in ["mcp-server", "inbound-app", "project"] {
        let v = m
            .mint(json!({"user": "U2alice", "issuer": style,
                         "scopes": ["mcp:read", "calendar.read", "outbound.token.fetch"]}))
            .await;
        let (s, body) = fetch(v["access_token"].as_str().unwrap().to_string()).await;
        assert_ne!(s, 401, "{style}: {body}");
        assert!(s < 500, "{style}: {s} {body}");
    }
    let v = m
        .mint(
            json!({"user": "U2alice", "issuer": "inbound-app", "flaw": "sibling_aud",
                     "scopes": ["mcp:read", "calendar.read", "outbound.token.fetch"]}),
        )
        .await;
    let (s, body) = fetch(v["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!(s, 401, "another project's token: {body}");
    assert!(body["errorCode"].is_string(), "{body}");
}

#[tokio::test]
async fn the_spy_upstream_flags_passthrough_of_every_issuer_of_the_project() {
    // An MCP server that forwards its inbound token upstream is caught whichever of the
    // project's issuers minted it; another project's token is just an invalid token there.
    let m = Mock::start().await;
    let upstream = |tok: String| {
        let m = &m;
        async move {
            let r = m
                .http
                .get(m.url("/_upstream/google-calendar/events"))
                .bearer_auth(tok)
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for style in ["mcp-server", "inbound-app", "project"] {
        let v = m.mint(json!({"user": "U2alice", "issuer": style})).await;
        let (s, body) = upstream(v["access_token"].as_str().unwrap().to_string()).await;
        assert_eq!(s, 401, "{style}: {body}");
        assert_eq!(body["error"], "token_passthrough", "{style}: {body}");
    }
    let v = m
        .mint(json!({"user": "U2alice", "issuer": "project", "flaw": "sibling_aud"}))
        .await;
    let (s, body) = upstream(v["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(
        body["error"], "invalid_token",
        "another project's token: {body}"
    );
}
