//! OAuth flows end to end against a real listener: authorization code with PKCE, consent,
//! token exchange, refresh rotation, client credentials, dynamic client registration, client ID
//! metadata documents, revocation, introspection and userinfo.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.
// ---------------------------------------------------------------------------------------------

/// The embedded default with `from` replaced by `to` (the replacement must happen).
fn config_with(from: &str, to: &str) -> mock_as::Config {
    let text = mock_as::config::DEFAULT_TOML;
    assert!(text.contains(from), "default config lacks {from:?}");
    mock_as::Config::parse(&text.replace(from, to), "t.toml", None).expect("config parses")
}

/// Authorize and return (Location, verifier), asserting the redirect carries a code.
async fn code_for(m: &Mock, extra: &[(&str, &str)]) -> (String, String) {
    let (r, verifier) = m.authorize(extra).await;
    assert_eq!(r.status().as_u16(), 302, "authorize did not redirect");
    let loc = location(&r);
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    (code, verifier)
}

/// Exchange a code for the public client with the default parameters, overridden by `extra`
/// (an empty value removes the parameter).
async fn exchange(m: &Mock, code: &str, verifier: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", PUBLIC_CLIENT),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("code_verifier", verifier),
        ("resource", RESOURCE),
    ];
    for (k, v) in extra {
        form.retain(|(fk, _)| fk != k);
        form.push((k, v));
    }
    form.retain(|(_, v)| !v.is_empty());
    m.post_form(&m.token_url(), &form).await
}

/// Refresh for the public client.
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

/// Error redirect: assert a 302 to the registered redirect URI carrying `error`, the state and iss.
fn assert_error_redirect(m: &Mock, r: &reqwest::Response, error: &str) {
    assert_eq!(
        r.status().as_u16(),
        302,
        "expected a redirect carrying {error}"
    );
    let loc = location(r);
    assert!(
        loc.starts_with(PUBLIC_REDIRECT),
        "redirected elsewhere: {loc}"
    );
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some(error),
        "Location: {loc}"
    );
    assert!(
        query_param(&loc, "code").is_none(),
        "error with a code: {loc}"
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st4te"));
    assert_eq!(query_param(&loc, "iss"), Some(m.issuer(SID)));
}

/// A direct (never redirected) error: 400 JSON with `error`, no Location.
async fn assert_direct_error(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert!(
        r.headers().get("location").is_none(),
        "an error about the client or redirect URI must not redirect (RFC 6749 §4.1.2.1)"
    );
    let v: Value = r.json().await.expect("JSON error body");
    assert!(v["error"].is_string(), "{v}");
    v
}

fn claims_of(token_response: &Value) -> Value {
    decode_parts(
        token_response["access_token"]
            .as_str()
            .expect("access_token"),
    )
    .1
}

fn str_list(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn scope_set(v: &Value) -> Vec<&str> {
    let mut s: Vec<&str> = v.as_str().unwrap_or_default().split(' ').collect();
    s.retain(|x| !x.is_empty());
    s.sort_unstable();
    s
}

async fn userinfo(m: &Mock, bearer: &str) -> reqwest::Response {
    m.http
        .get(m.url(&format!("/oauth2/v1/apps/{PID}/userinfo")))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

async fn revoke(m: &Mock, token: &str) -> (u16, Value) {
    m.post_form(
        &m.url(&format!("/oauth2/v1/apps/{PID}/revoke")),
        &[("token", token), ("client_id", PUBLIC_CLIENT)],
    )
    .await
}

async fn register(m: &Mock, sid: &str, body: &str) -> (u16, Value) {
    let r = m
        .http
        .post(m.url(&format!("/v1/mgmt/mcp/client/{PID}/{sid}/register")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn assert_www_authenticate_invalid_token(r: &reqwest::Response) {
    let ch = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        ch.starts_with("Bearer") && ch.contains("invalid_token"),
        "WWW-Authenticate: {ch:?} (RFC 6750 §3)"
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint and code exchange.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authorize_redirects_with_code_state_and_iss_then_code_exchanges_for_tokens() {
    let m = Mock::start().await;
    let (r, verifier) = m.authorize(&[]).await;
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(PUBLIC_REDIRECT), "{loc}");
    let code = query_param(&loc, "code").expect("code");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st4te"));
    assert_eq!(query_param(&loc, "iss"), Some(m.issuer(SID)), "RFC 9207");
    assert!(query_param(&loc, "error").is_none());

    let r = m
        .http
        .post(m.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", PUBLIC_CLIENT),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_verifier", &verifier),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cc = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        cc.contains("no-store"),
        "Cache-Control: {cc:?} (RFC 6749 §5.1)"
    );
    let tok: Value = r.json().await.unwrap();
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["expires_in"].as_i64().unwrap() > 0);
    assert!(
        tok["refresh_token"].as_str().is_some_and(|s| !s.is_empty()),
        "{tok}"
    );
    assert_eq!(scope_set(&tok["scope"]), ["calendar.read", "mcp:read"]);

    let c = claims_of(&tok);
    assert_eq!(c["iss"], m.issuer(SID));
    assert_eq!(c["sub"], "U2alice");
    assert_eq!(c["aud"], json!([PID, PUBLIC_CLIENT, RESOURCE]));
    assert_eq!(c["azp"], PUBLIC_CLIENT);
    assert_eq!(scope_set(&c["scope"]), ["calendar.read", "mcp:read"]);
    let mut scopes = str_list(&c["scopes"]);
    scopes.sort_unstable();
    assert_eq!(scopes, ["calendar.read", "mcp:read"]);
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
}

#[tokio::test]
async fn login_hint_selects_the_consenting_user_by_id_or_login_id() {
    let m = Mock::start().await;
    for hint in ["U2root", "admin@example.com"] {
        let tok = m.code_flow(&[("login_hint", hint)]).await;
        assert_eq!(claims_of(&tok)["sub"], "U2root", "login_hint {hint}");
    }
    let (r, _) = m.authorize(&[("login_hint", "nobody@example.com")]).await;
    assert_error_redirect(&m, &r, "access_denied");
}

#[tokio::test]
async fn consent_policy_drops_admin_scope_for_users_and_grants_it_to_admins() {
    let m = Mock::start().await;
    let asked = [("scope", "mcp:read mcp:admin")];
    let tok = m.code_flow(&asked).await;
    let c = claims_of(&tok);
    assert_eq!(c["sub"], "U2alice");
    assert_eq!(scope_set(&c["scope"]), ["mcp:read"], "{c}");
    assert!(!str_list(&c["scopes"]).contains(&"mcp:admin"));
    assert_eq!(scope_set(&tok["scope"]), ["mcp:read"]);

    let tok = m
        .code_flow(&[("scope", "mcp:read mcp:admin"), ("login_hint", "U2root")])
        .await;
    let c = claims_of(&tok);
    assert_eq!(scope_set(&c["scope"]), ["mcp:admin", "mcp:read"], "{c}");
    assert!(str_list(&c["scopes"]).contains(&"mcp:admin"));
}

#[tokio::test]
async fn pkce_is_mandatory_s256_only_and_verified_at_the_token_endpoint() {
    let m = Mock::start().await;
    // plain (RFC 7636 allows it; OAuth 2.1 and this server do not).
    let v = new_verifier();
    let (r, _) = m
        .authorize(&[("code_challenge", &v), ("code_challenge_method", "plain")])
        .await;
    assert_error_redirect(&m, &r, "invalid_request");
    // No challenge at all.
    let (r, _) = m.authorize(&[("code_challenge", "")]).await;
    assert_error_redirect(&m, &r, "invalid_request");
    // Wrong verifier.
    let (code, _verifier) = code_for(&m, &[]).await;
    let (s, e) = exchange(&m, &code, &new_verifier(), &[]).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_grant", "RFC 7636 §4.6: {e}");
}

#[tokio::test]
async fn unregistered_redirect_uri_or_unknown_client_is_answered_directly_never_redirected() {
    let m = Mock::start().await;
    let (r, _) = m
        .authorize(&[("redirect_uri", "http://127.0.0.1:9999/evil")])
        .await;
    let e = assert_direct_error(r, 400).await;
    assert_eq!(e["error"], "invalid_request", "{e}");

    let (r, _) = m.authorize(&[("client_id", "no-such-client")]).await;
    assert_direct_error(r, 400).await;
}

#[tokio::test]
async fn authorize_errors_after_redirect_validation_are_redirected() {
    let m = Mock::start().await;
    let (r, _) = m.authorize(&[("response_type", "token")]).await;
    assert_error_redirect(&m, &r, "unsupported_response_type");
    // notes.read belongs to the sibling server only.
    let (r, _) = m.authorize(&[("scope", "mcp:read notes.read")]).await;
    assert_error_redirect(&m, &r, "invalid_scope");
    let (r, _) = m
        .authorize(&[("resource", "http://127.0.0.1:8002/mcp")])
        .await;
    assert_error_redirect(&m, &r, "invalid_target");
}

#[tokio::test]
async fn replayed_code_is_refused_and_revokes_the_tokens_issued_with_it() {
    let m = Mock::start().await;
    let (code, verifier) = code_for(&m, &[]).await;
    let (s, first) = exchange(&m, &code, &verifier, &[]).await;
    assert_eq!(s, 200, "{first}");
    let at = first["access_token"].as_str().unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    assert_eq!(m.introspect(at).await["active"], true);

    let (s, e) = exchange(&m, &code, &verifier, &[]).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_grant");
    // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: tokens issued from the code should be revoked.
    assert_eq!(m.introspect(at).await["active"], false);
    let (s, e) = refresh(&m, rt).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn token_request_must_repeat_the_authorization_requests_redirect_uri_and_resource() {
    let m = Mock::start().await;
    // Another URI registered for the same client is still not the one authorized.
    let (code, verifier) = code_for(&m, &[]).await;
    let (s, e) = exchange(
        &m,
        &code,
        &verifier,
        &[("redirect_uri", "http://localhost:33418/callback")],
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_grant", "RFC 6749 §4.1.3: {e}");

    let (code, verifier) = code_for(&m, &[]).await;
    let (s, e) = exchange(
        &m,
        &code,
        &verifier,
        &[("resource", "http://127.0.0.1:8002/mcp")],
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_target", "RFC 8707 §2.2: {e}");
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_whole_family() {
    let m = Mock::start().await;
    let first = m.code_flow(&[]).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();

    let (s, second) = refresh(&m, &rt1).await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(
        rt1, rt2,
        "refresh tokens of public clients rotate (OAuth 2.1 §4.3.1)"
    );
    let c = claims_of(&second);
    assert_eq!(c["sub"], "U2alice");
    assert_eq!(c["aud"], json!([PID, PUBLIC_CLIENT, RESOURCE]));

    let (s, third) = refresh(&m, &rt2).await;
    assert_eq!(s, 200, "the rotated token works: {third}");
    let rt3 = third["refresh_token"].as_str().unwrap().to_string();

    // Reuse of rt1 (already rotated): refused, and the family goes with it.
    let (s, e) = refresh(&m, &rt1).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_grant");
    let (s, e) = refresh(&m, &rt3).await;
    assert_eq!(s, 400, "newest of the family must be revoked too: {e}");
    assert_eq!(e["error"], "invalid_grant");
    for t in [&first, &second, &third] {
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(m.introspect(at).await["active"], false, "{t}");
    }
}

// ---------------------------------------------------------------------------------------------
// Client credentials and token-endpoint request handling.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_with_basic_and_post_authentication() {
    let m = Mock::start().await;
    let r = m
        .http
        .post(m.token_url())
        .basic_auth(CONF_CLIENT, Some(CONF_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "mcp:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let tok: Value = r.json().await.unwrap();
    let c = claims_of(&tok);
    assert_eq!(c["sub"], CONF_CLIENT);
    assert_eq!(c["azp"], CONF_CLIENT);
    assert_eq!(scope_set(&c["scope"]), ["mcp:read"]);
    assert!(tok.get("refresh_token").is_none(), "RFC 6749 §4.4.3: {tok}");

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
    assert_eq!(claims_of(&tok)["sub"], CONF_CLIENT);
}

#[tokio::test]
async fn client_credentials_refuses_wrong_secrets_and_public_clients() {
    let m = Mock::start().await;
    let r = m
        .http
        .post(m.token_url())
        .basic_auth(CONF_CLIENT, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let ch = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ch.to_ascii_lowercase().starts_with("basic"),
        "RFC 6749 §5.2: a Basic 401 carries WWW-Authenticate; got {ch:?}"
    );
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client");

    let (s, e) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CONF_CLIENT),
                ("client_secret", "wrong"),
            ],
        )
        .await;
    assert_eq!(s, 401, "{e}");
    assert_eq!(e["error"], "invalid_client");

    let (s, e) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", PUBLIC_CLIENT),
            ],
        )
        .await;
    assert!(s == 400 || s == 401, "{s} {e}");
    assert!(
        e["error"] == "unauthorized_client" || e["error"] == "invalid_client",
        "{e}"
    );
}

#[tokio::test]
async fn token_endpoint_rejects_unknown_grants_and_repeated_parameters_and_accepts_json() {
    let m = Mock::start().await;
    let (s, e) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "password"),
                ("client_id", CONF_CLIENT),
                ("client_secret", CONF_SECRET),
                ("username", "alice@example.com"),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "unsupported_grant_type");

    let (s, e) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
                ("client_id", CONF_CLIENT),
                ("client_secret", CONF_SECRET),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_request", "RFC 6749 §3.2: {e}");

    let r = m
        .http
        .post(m.token_url())
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": CONF_CLIENT,
            "client_secret": CONF_SECRET,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let tok: Value = r.json().await.unwrap();
    assert_eq!(claims_of(&tok)["sub"], CONF_CLIENT);
}

#[tokio::test]
async fn generic_authorize_and_token_endpoints_work() {
    let m = Mock::start().await;
    let verifier = new_verifier();
    let challenge = s256(&verifier);
    let r = m
        .http
        .get(m.url("/oauth2/v1/apps/authorize"))
        .query(&[
            ("project_id", PID),
            ("mcp_server_id", SID),
            ("response_type", "code"),
            ("client_id", PUBLIC_CLIENT),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
            ("resource", RESOURCE),
            ("scope", "mcp:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert_eq!(query_param(&loc, "iss"), Some(m.issuer(SID)), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st4te"));
    let code = query_param(&loc, "code").expect("code");

    let (s, tok) = m
        .post_form(
            &m.url("/oauth2/v1/apps/token"),
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
    assert_eq!(s, 200, "{tok}");
    let c = claims_of(&tok);
    assert_eq!(c["iss"], m.issuer(SID));
    assert_eq!(c["sub"], "U2alice");
    assert_eq!(c["aud"], json!([PID, PUBLIC_CLIENT, RESOURCE]));
    assert!(tok["refresh_token"].is_string());
}

// ---------------------------------------------------------------------------------------------
// Dynamic client registration (RFC 7591).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dcr_registers_a_public_client_that_completes_a_code_flow() {
    let m = Mock::start().await;
    let redirect = "http://127.0.0.1:40123/cb";
    let (s, reg) = register(
        &m,
        SID,
        &json!({
            "client_name": "Test Agent",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "mcp:read calendar.read",
        })
        .to_string(),
    )
    .await;
    assert_eq!(s, 201, "{reg}");
    let client_id = reg["client_id"].as_str().expect("client_id").to_string();
    assert!(!client_id.is_empty());
    assert!(reg["client_id_issued_at"].as_i64().unwrap() > 0, "{reg}");
    assert_eq!(reg["client_name"], "Test Agent");
    assert_eq!(reg["redirect_uris"], json!([redirect]));
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert!(reg.get("client_secret").is_none(), "public client: {reg}");

    // A full code flow with the registered client.
    let verifier = new_verifier();
    let challenge = s256(&verifier);
    let r = m
        .http
        .get(m.authorize_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "dcr"),
            ("resource", RESOURCE),
            ("scope", "mcp:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(redirect), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("dcr"));
    let code = query_param(&loc, "code").expect("code");
    let (s, tok) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client_id),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let c = claims_of(&tok);
    assert_eq!(c["azp"], client_id.as_str());
    assert_eq!(c["sub"], "U2alice");
    assert_eq!(c["aud"], json!([PID, client_id, RESOURCE]));
    assert!(tok["refresh_token"].is_string());
}

#[tokio::test]
async fn dcr_confidential_client_gets_a_secret_that_authenticates() {
    let m = Mock::start().await;
    let (s, reg) = register(
        &m,
        SID,
        &json!({
            "client_name": "Backend",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        })
        .to_string(),
    )
    .await;
    assert_eq!(s, 201, "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_post");
    let id = reg["client_id"].as_str().unwrap();
    let secret = reg["client_secret"].as_str().expect("client_secret");
    assert!(!secret.is_empty());
    let (s, tok) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(claims_of(&tok)["sub"], id);
}

#[tokio::test]
async fn dcr_rejects_bad_metadata_with_rfc7591_error_codes() {
    let m = Mock::start().await;
    let cases: [(&str, String); 6] = [
        (
            "invalid_redirect_uri",
            json!({"redirect_uris": ["http://client.example.com/cb"]}).to_string(),
        ),
        (
            "invalid_redirect_uri",
            json!({"redirect_uris": ["https://client.example.com/cb#frag"]}).to_string(),
        ),
        (
            "invalid_client_metadata",
            json!({"redirect_uris": [PUBLIC_REDIRECT], "grant_types": ["authorization_code", "urn:example:magic"]})
                .to_string(),
        ),
        (
            "invalid_client_metadata",
            json!({"redirect_uris": [PUBLIC_REDIRECT], "response_types": ["token"]}).to_string(),
        ),
        (
            "invalid_client_metadata",
            json!({"redirect_uris": [PUBLIC_REDIRECT], "scope": "mcp:read notes.read"})
                .to_string(),
        ),
        ("invalid_client_metadata", "this is not json".to_string()),
    ];
    for (want, body) in cases {
        let (s, e) = register(&m, SID, &body).await;
        assert_eq!(s, 400, "{body}: {e}");
        assert_eq!(e["error"], want, "{body}: {e}");
    }
}

#[tokio::test]
async fn dcr_disabled_answers_403() {
    let cfg = config_with("dcr = true", "dcr = false");
    let m = Mock::start_with(cfg, None).await;
    let (s, e) = register(
        &m,
        SID,
        &json!({"redirect_uris": [PUBLIC_REDIRECT], "token_endpoint_auth_method": "none"})
            .to_string(),
    )
    .await;
    assert_eq!(s, 403, "{e}");
}

// ---------------------------------------------------------------------------------------------
// Client ID metadata documents.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cimd_client_fetched_from_its_url_completes_a_code_flow() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock as WireMock, MockServer, ResponseTemplate};

    let docs = MockServer::start().await;
    let client_id = format!("{}/client.json", docs.uri());
    let other_url = format!("{}/other.json", docs.uri());
    let redirect = "http://127.0.0.1:40777/callback";
    WireMock::given(method("GET"))
        .and(path("/client.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "client_id": client_id,
            "client_name": "CIMD client",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })))
        .mount(&docs)
        .await;
    WireMock::given(method("GET"))
        .and(path("/other.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "client_id": "https://elsewhere.example.com/client.json",
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
        })))
        .mount(&docs)
        .await;

    let m = Mock::start_with(config_with("cimd = false", "cimd = true"), None).await;
    let (s, doc) = m
        .get_json(&format!(
            "/v1/apps/agentic/{PID}/{SID}/.well-known/oauth-authorization-server"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(doc["client_id_metadata_document_supported"], true, "{doc}");

    let verifier = new_verifier();
    let challenge = s256(&verifier);
    let query = |cid: &str| {
        vec![
            ("response_type", "code".to_string()),
            ("client_id", cid.to_string()),
            ("redirect_uri", redirect.to_string()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_string()),
            ("state", "cimd".to_string()),
            ("resource", RESOURCE.to_string()),
            ("scope", "mcp:read".to_string()),
        ]
    };
    let r = m
        .http
        .get(m.authorize_url())
        .query(&query(&client_id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(redirect), "{loc}");
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code: {loc}"));
    let (s, tok) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client_id),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
                ("resource", RESOURCE),
            ],
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let c = claims_of(&tok);
    assert_eq!(c["azp"], client_id.as_str());
    assert_eq!(c["sub"], "U2alice");

    // A document that names another client_id is refused without redirecting.
    let r = m
        .http
        .get(m.authorize_url())
        .query(&query(&other_url))
        .send()
        .await
        .unwrap();
    assert_direct_error(r, 400).await;
}

// ---------------------------------------------------------------------------------------------
// Revocation (RFC 7009) and introspection (RFC 7662).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn revoking_an_access_token_makes_it_inactive() {
    let m = Mock::start().await;
    let tok = m.code_flow(&[]).await;
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(m.introspect(at).await["active"], true);
    let (s, v) = revoke(&m, at).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(m.introspect(at).await["active"], false);
}

#[tokio::test]
async fn revoking_a_refresh_token_stops_refresh() {
    let m = Mock::start().await;
    let tok = m.code_flow(&[]).await;
    let rt = tok["refresh_token"].as_str().unwrap();
    let (s, v) = revoke(&m, rt).await;
    assert_eq!(s, 200, "{v}");
    let (s, e) = refresh(&m, rt).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn revoking_an_unknown_token_answers_200_with_json() {
    let m = Mock::start().await;
    let r = m
        .http
        .post(m.url(&format!("/oauth2/v1/apps/{PID}/revoke")))
        .form(&[
            ("token", "not-a-token-we-know"),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "RFC 7009 §2.2");
    let v: Value = r.json().await.expect("JSON body");
    assert!(v.is_object(), "{v}");
}

#[tokio::test]
async fn introspection_reports_active_tokens_and_requires_client_auth() {
    let m = Mock::start().await;
    let tok = m.code_flow(&[]).await;
    let at = tok["access_token"].as_str().unwrap();
    let i = m.introspect(at).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["sub"], "U2alice");
    assert_eq!(i["client_id"], PUBLIC_CLIENT);
    assert_eq!(scope_set(&i["scope"]), ["calendar.read", "mcp:read"]);

    let (s, e) = m
        .post_form(
            &m.url(&format!("/oauth2/v1/apps/{PID}/introspect")),
            &[("token", at)],
        )
        .await;
    assert_eq!(s, 401, "{e}");
    assert_eq!(e["error"], "invalid_client");
}

#[tokio::test]
async fn introspection_reports_expired_and_foreign_key_tokens_inactive() {
    let m = Mock::start().await;
    let tok = m.code_flow(&[]).await;
    let at = tok["access_token"].as_str().unwrap();
    let (s, v) = m
        .control("/_mock/clock", json!({"advance_secs": 7200}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(m.introspect(at).await["active"], false, "expired");

    let forged = m
        .mint(json!({"user": "U2alice", "flaw": "foreign_key"}))
        .await;
    let jwt = forged["access_token"].as_str().unwrap();
    assert_eq!(m.introspect(jwt).await["active"], false, "foreign key");
}

// ---------------------------------------------------------------------------------------------
// Userinfo.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn userinfo_returns_the_tokens_user_and_refuses_revoked_or_garbage_tokens() {
    let m = Mock::start().await;
    let tok = m.code_flow(&[]).await;
    let at = tok["access_token"].as_str().unwrap();
    let r = userinfo(&m, at).await;
    assert_eq!(r.status().as_u16(), 200);
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["sub"], "U2alice");
    assert_eq!(u["email"], "alice@example.com");

    let (s, _) = revoke(&m, at).await;
    assert_eq!(s, 200);
    let r = userinfo(&m, at).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_www_authenticate_invalid_token(&r);

    let r = userinfo(&m, "garbage.token.value").await;
    assert_eq!(r.status().as_u16(), 401);
    assert_www_authenticate_invalid_token(&r);
}
