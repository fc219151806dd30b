//! RFC 8693 token exchange at the token endpoints, under the Token Exchange Policy, against a
//! real listener with the embedded default (admins may exchange into MS2notes, nobody else).

mod common;

use common::{CONF_CLIENT, CONF_SECRET, Mock, PID, PUBLIC_CLIENT, SIBLING, decode_parts};
use serde_json::{Value, json};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const NOTES: &str = "http://127.0.0.1:8002/mcp";

async fn subject(m: &Mock, user: &str) -> String {
    m.mint(json!({"user": user, "client": PUBLIC_CLIENT})).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Exchange at the project-level token endpoint as the confidential client.
async fn exchange(m: &Mock, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("client_id", CONF_CLIENT),
        ("client_secret", CONF_SECRET),
    ];
    form.extend_from_slice(extra);
    m.post_form(&m.url("/oauth2/v1/apps/token"), &form).await
}

/// The journal's last `token` line.
async fn last_token_line(m: &Mock) -> Value {
    let (_, j) = m.get_json("/_mock/journal?endpoint=token").await;
    j["entries"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .expect("a token journal line")
}

#[tokio::test]
async fn an_admin_gets_the_target_servers_token_with_the_client_as_actor() {
    let m = Mock::start().await;
    let subj = subject(&m, "U2root").await;
    let (_, subj_claims) = decode_parts(&subj);
    let (s, v) = exchange(
        &m,
        &[
            ("subject_token", &subj),
            ("subject_token_type", ACCESS),
            ("resource", NOTES),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["issued_token_type"], ACCESS);
    assert_eq!(v["token_type"], "Bearer");
    // The subject holds the calendar server's defaults (mcp:read, outbound.token.fetch);
    // the exchange keeps those the notes server knows.
    let (_, held) = decode_parts(&subj);
    let scope = v["scope"].as_str().unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "mcp:read"), "{v}");
    assert!(
        scope
            .split(' ')
            .all(|s| held["scope"].as_str().unwrap().split(' ').any(|h| h == s)),
        "never wider than the subject token: {v} vs {held}"
    );
    assert!(v["expires_in"].as_i64().is_some_and(|e| e > 0), "{v}");
    assert!(v.get("refresh_token").is_none(), "{v}");
    let (_, c) = decode_parts(v["access_token"].as_str().unwrap());
    assert_eq!(c["iss"], m.issuer(SIBLING), "the target's issuer: {c}");
    let aud: Vec<&str> = match &c["aud"] {
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => vec![s.as_str()],
        _ => vec![],
    };
    assert!(aud.contains(&NOTES), "aud names the target: {c}");
    assert_eq!(c["sub"], "U2root");
    assert_eq!(c["act"], json!({"sub": CONF_CLIENT}), "{c}");
    assert!(
        c["exp"].as_i64() <= subj_claims["exp"].as_i64(),
        "never outlives the subject token"
    );
    let line = last_token_line(&m).await;
    assert_eq!(line["status"], 200);
    assert!(
        line["detail"]
            .as_str()
            .is_some_and(|d| d.contains("admins into notes")),
        "the journal names the rule that allowed it: {line}"
    );
    // The exchanged token is one of ours: it can be introspected as active.
    let i = m.introspect(v["access_token"].as_str().unwrap()).await;
    assert_eq!(i["active"], true, "{i}");
}

#[tokio::test]
async fn the_policy_refuses_a_user_without_the_role_and_the_journal_says_which_rule() {
    let m = Mock::start().await;
    let subj = subject(&m, "U2alice").await;
    let (s, v) = exchange(
        &m,
        &[
            ("subject_token", &subj),
            ("subject_token_type", ACCESS),
            ("audience", SIBLING),
        ],
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], "access_denied", "{v}");
    let line = last_token_line(&m).await;
    assert_eq!(line["outcome"], "access_denied");
    let detail = line["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("admins into notes") && detail.contains("roles"),
        "the failed rule and why: {line}"
    );
}

#[tokio::test]
async fn bad_requests_get_the_rfc_8693_errors() {
    let m = Mock::start().await;
    let subj = subject(&m, "U2root").await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("subject_token_type", ACCESS), ("resource", NOTES)],
            "invalid_request",
        ),
        (
            vec![("subject_token", &subj), ("resource", NOTES)],
            "invalid_request",
        ),
        (
            vec![
                ("subject_token", &subj),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                ("resource", NOTES),
            ],
            "invalid_request",
        ),
        (
            vec![("subject_token", &subj), ("subject_token_type", ACCESS)],
            "invalid_request",
        ),
        (
            vec![
                ("subject_token", &subj),
                ("subject_token_type", ACCESS),
                ("resource", "https://elsewhere.example/mcp"),
            ],
            "invalid_target",
        ),
        (
            vec![
                ("subject_token", &subj),
                ("subject_token_type", ACCESS),
                ("resource", NOTES),
                ("audience", "MS2calendar"),
            ],
            "invalid_target",
        ),
        (
            vec![
                ("subject_token", "not-a-jwt"),
                ("subject_token_type", ACCESS),
                ("resource", NOTES),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("subject_token", &subj),
                ("subject_token_type", ACCESS),
                ("resource", NOTES),
                ("scope", "notes.read"),
            ],
            "invalid_scope",
        ),
    ];
    for (form, want) in cases {
        let (s, v) = exchange(&m, &form).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(want)), "{form:?}: {v}");
        assert!(
            v["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    // An unauthenticated client is refused before anything else.
    let (s, v) = m
        .post_form(
            &m.url("/oauth2/v1/apps/token"),
            &[
                ("grant_type", EXCHANGE),
                ("client_id", CONF_CLIENT),
                ("client_secret", "wrong"),
                ("subject_token", &subj),
                ("subject_token_type", ACCESS),
                ("resource", NOTES),
            ],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn a_revoked_or_expired_subject_token_is_an_invalid_grant() {
    let m = Mock::start().await;
    let revoked = subject(&m, "U2root").await;
    let (s, _) = m.control("/_mock/revoke", json!({"token": revoked})).await;
    assert_eq!(s, 200);
    let (s, v) = ask(&m, &revoked).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert!(
        v["error_description"].as_str().unwrap().contains("revoked"),
        "{v}"
    );

    let expiring = subject(&m, "U2root").await;
    let (s, _) = m
        .control("/_mock/clock", json!({"advance_secs": 86_400}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = ask(&m, &expiring).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert!(
        v["error_description"].as_str().unwrap().contains("expired"),
        "{v}"
    );
}

async fn ask(m: &Mock, t: &str) -> (u16, Value) {
    exchange(
        m,
        &[
            ("subject_token", t),
            ("subject_token_type", ACCESS),
            ("resource", NOTES),
        ],
    )
    .await
}

#[tokio::test]
async fn the_policy_is_managed_through_the_control_api_and_no_rules_deny() {
    let m = Mock::start().await;
    let alice = subject(&m, "U2alice").await;
    let root = subject(&m, "U2root").await;
    // A named rule for users lets Alice in; deleting it shuts her out again.
    let (s, v) = m
        .control(
            "/_mock/policies/token-exchange/rules",
            json!({"name": "users into notes", "roles": ["user"], "resources": [NOTES], "scopes": ["mcp:read"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(ask(&m, &alice).await.0, 200);
    let (s, v) = m
        .control(
            "/_mock/policies/token-exchange/rules",
            json!({"name": "users into notes", "roles": ["user"]}),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_policy")),
        "{v}"
    );
    let (s, _) = m
        .delete("/_mock/policies/token-exchange/rules/users%20into%20notes")
        .await;
    assert_eq!(s, 200);
    assert_eq!(ask(&m, &alice).await.1["error"], "access_denied");

    // The policy in force is listed; bad rules are refused with the loader's words.
    let (_, p) = m.get_json("/_mock/policies").await;
    assert_eq!(p["token_exchange"][0]["name"], "admins into notes", "{p}");
    for (rule, field) in [
        (
            json!({"name": "x", "resources": ["https://nowhere.example/mcp"]}),
            "resources",
        ),
        (json!({"name": "x", "apps": ["google-calendar"]}), "apps"),
        (json!({"name": "x", "users": ["U2nobody"]}), "users"),
    ] {
        let (s, v) = m
            .control("/_mock/policies/token-exchange/rules", rule.clone())
            .await;
        assert_eq!(s, 400, "{rule}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{rule}: {v}"
        );
    }
    let (s, _) = m
        .put(
            "/_mock/policies/connections",
            json!([{"name": "x", "resources": [NOTES]}]),
        )
        .await;
    assert_eq!(s, 400, "resources belong to the token exchange policy only");

    // No rules at all: every exchange is refused, admins included.
    let (s, _) = m.put("/_mock/policies/token-exchange", json!([])).await;
    assert_eq!(s, 200);
    let (s, v) = ask(&m, &root).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("access_denied")),
        "{v}"
    );
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("no token exchange policy")
    );
}

#[tokio::test]
async fn exchange_works_at_a_servers_own_token_endpoint_for_any_client() {
    let m = Mock::start().await;
    let subj = subject(&m, "U2root").await;
    // The public client has no token-exchange grant type registered: Descope governs exchange by
    // policy alone.
    let (s, v) = m
        .post_form(
            &m.token_url(),
            &[
                ("grant_type", EXCHANGE),
                ("client_id", PUBLIC_CLIENT),
                ("subject_token", &subj),
                ("subject_token_type", ACCESS),
                ("resource", NOTES),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, c) = decode_parts(v["access_token"].as_str().unwrap());
    assert_eq!(c["act"]["sub"], PUBLIC_CLIENT);
    // Discovery advertises the grant.
    let (_, d) = m
        .get_json(&format!(
            "/v1/apps/agentic/{PID}/MS2calendar/.well-known/oauth-authorization-server"
        ))
        .await;
    assert!(
        d["grant_types_supported"]
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x == EXCHANGE)),
        "{d}"
    );
}
