//! Regressions: each defect the fuzz found, pinned deterministically, and the check that the
//! route catalogue covers every route in the source.

use super::*;

/// In-process app with the default configuration.
pub(crate) fn open_app() -> Target {
    Target::App(mock_as::app(fresh_state(None)))
}

pub(crate) async fn answer(
    t: &Target,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let c = Case::plain(method, target, headers, body);
    let a = t.send(&c).await.unwrap();
    if let Err(e) = check(&c.method, &a) {
        panic!(
            "{method} {target}: {e}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    a
}

/// `POST /_mock/clock` with an offset near `i64::MAX` made every later request panic (mock
/// time overflowed) until a reset. Offsets are now bounded to ±100 years.
#[tokio::test]
pub(crate) async fn regression_clock_offset_is_bounded() {
    let t = open_app();
    for body in [
        json!({"advance_secs": i64::MAX}),
        json!({"advance_secs": i64::MIN}),
        json!({"offset_secs": i64::MAX - 1}),
        json!({"offset_secs": i64::MIN}),
        json!({"offset_secs": 200 * 366 * 86_400_i64}),
    ] {
        let v = t.control("/_mock/clock", body.clone(), false, 400).await;
        assert_eq!(v["error"], "invalid_clock", "{body}: {v}");
    }
    let ninety_years = 90 * 366 * 86_400_i64;
    let v = t
        .control(
            "/_mock/clock",
            json!({"offset_secs": ninety_years}),
            false,
            200,
        )
        .await;
    assert_eq!(v["offset_secs"], ninety_years);
    // Advancing past the bound is refused and leaves the offset alone.
    t.control(
        "/_mock/clock",
        json!({"advance_secs": ninety_years}),
        false,
        400,
    )
    .await;
    let v = t.valid("GET", "/_mock/clock", &[], b"", 200).await;
    assert_eq!(v["offset_secs"], ninety_years);
    still_serves(&t).await;
    t.control(
        "/_mock/clock",
        json!({"offset_secs": -ninety_years}),
        false,
        200,
    )
    .await;
    still_serves(&t).await;
}

/// A signed token may carry any `exp`/`nbf` (minted `claims`); `exp + 5` overflowed and every
/// endpoint that verifies bearers panicked (userinfo, introspect, revoke, connection fetches).
#[tokio::test]
pub(crate) async fn regression_extreme_exp_and_nbf_claims() {
    let t = open_app();
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}");
    let basic = String::from_utf8(Gen::basic(CONF_CLIENT, CONF_SECRET)).unwrap();
    for claims in [
        json!({"exp": i64::MAX}),
        json!({"exp": i64::MAX - 3, "nbf": i64::MAX}),
        json!({"nbf": i64::MIN, "exp": i64::MIN}),
    ] {
        let v = t
            .control(
                "/_mock/tokens",
                json!({"user": "U2alice", "client": CONF_CLIENT,
                       "scopes": ["mcp:read", "outbound.token.fetch"], "claims": claims}),
                false,
                200,
            )
            .await;
        let tok = v["access_token"].as_str().unwrap();
        let bearer = format!("Bearer {tok}");
        answer(
            &t,
            "GET",
            &format!("/oauth2/v1/apps/{PID}/userinfo"),
            &[("authorization", &bearer)],
            b"",
        )
        .await;
        let form = format!("token={tok}");
        answer(
            &t,
            "POST",
            &format!("/oauth2/v1/apps/{PID}/introspect"),
            &[("authorization", &mgmt)],
            form.as_bytes(),
        )
        .await;
        answer(
            &t,
            "POST",
            &format!("/oauth2/v1/apps/{PID}/revoke"),
            &[("authorization", &basic)],
            form.as_bytes(),
        )
        .await;
        let caller = format!("Bearer {PID}:{tok}");
        answer(
            &t,
            "POST",
            "/v1/mgmt/outbound/app/user/token",
            &[("authorization", &caller), ("content-type", "application/json")],
            br#"{"appId": "google-calendar", "userId": "U2alice", "scopes": ["calendar.readonly"]}"#,
        )
        .await;
    }
    still_serves(&t).await;
}

/// Lifetimes are added to mock time: a minted `ttl`, a patched `access_token_ttl`, an app's
/// `token_ttl` and a stored connection's `expires_in` near the integer limits overflowed.
#[tokio::test]
pub(crate) async fn regression_absurd_lifetimes() {
    let t = open_app();
    let v = t
        .control(
            "/_mock/tokens",
            json!({"user": "U2alice", "ttl": i64::MAX}),
            false,
            200,
        )
        .await;
    assert_eq!(v["claims"]["exp"], i64::MAX, "{v}");
    t.control("/_mock/tokens", json!({"ttl": i64::MIN}), false, 200)
        .await;

    let patch = json!({"access_token_ttl": i64::MAX as u64}).to_string();
    answer(
        &t,
        "PATCH",
        &format!("/_mock/servers/{SID}"),
        &[("content-type", "application/json")],
        patch.as_bytes(),
    )
    .await;
    still_serves(&t).await;

    let app = json!({"id": "google-calendar", "name": "G", "scopes": ["calendar.readonly"],
                     "token_ttl": i64::MAX as u64});
    // Refused like the config loader refuses it (the ten-year cap); the app stays as it was.
    let v = t.control("/_mock/apps", app, false, 400).await;
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("token_ttl"),
        "{v}"
    );
    t.control(
        "/_mock/connections",
        json!({"app": "google-calendar", "user": "U2root"}),
        false,
        201,
    )
    .await;
    t.control(
        "/_mock/connections",
        json!({"app": "google-calendar", "user": "U2alice", "expires_in": i64::MAX}),
        false,
        201,
    )
    .await;
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}");
    for body in [
        r#"{"appId": "google-calendar", "userId": "U2alice", "options": {"forceRefresh": true}}"#,
        r#"{"appId": "google-calendar", "userId": "U2root", "options": {"forceRefresh": true}}"#,
    ] {
        let a = answer(
            &t,
            "POST",
            "/v1/mgmt/outbound/app/user/token/latest",
            &[
                ("authorization", &mgmt),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }
}

/// The store purges expired records every 1024 inserts using `exp + 60`; an `exp` of
/// `i64::MAX` (a minted token's claims, or any JWT revoked through the control API) overflowed
/// in whichever request triggered the purge.
#[tokio::test]
pub(crate) async fn regression_purge_with_extreme_exp() {
    let t = open_app();
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let forged = format!(
        "{}.{}.x",
        enc(json!({"alg": "RS256", "kid": "nope"})),
        enc(json!({"jti": "forged-jti", "exp": i64::MAX}))
    );
    t.control("/_mock/revoke", json!({"token": forged}), false, 200)
        .await;
    t.control(
        "/_mock/tokens",
        json!({"user": "U2alice", "claims": {"exp": i64::MAX}}),
        false,
        200,
    )
    .await;
    // Enough user-bound tokens to run the purge (alg none: no RSA signing, fast).
    for _ in 0..1100 {
        t.control(
            "/_mock/tokens",
            json!({"user": "U2alice", "flaw": "alg_none"}),
            false,
            200,
        )
        .await;
    }
    still_serves(&t).await;
}

/// Error shapes follow the path family even where a route's pattern reaches across families:
/// `/{pid}/.well-known/jwks.json` matched `/oauth2/.well-known/jwks.json` and answered
/// Descope's shape; the spy upstream below a `.well-known` segment answered `{error, message}`
/// under a path the family rule gave to Descope.
#[tokio::test]
pub(crate) async fn regression_error_shape_by_path_family() {
    let t = open_app();
    for (path, status, fam) in [
        ("/oauth2/.well-known/jwks.json", 404, Family::OAuth),
        ("/P2other/.well-known/jwks.json", 404, Family::Descope),
        ("/_mock/.well-known/jwks.json", 404, Family::Mock),
        (
            "/_upstream/google-calendar/.well-known/openid-configuration",
            401,
            Family::Mock,
        ),
        ("/_upstream/.well-known/jwks.json", 401, Family::Mock),
    ] {
        let a = answer(&t, "GET", path, &[], b"").await;
        assert_eq!(
            (a.status, family(&a.path)),
            (status, fam),
            "{path}: {:?}",
            a.body
        );
    }
    // The same through the error module the server uses.
    use mock_as::error::{Family as F, family as server_family};
    assert_eq!(server_family("/_upstream/a/.well-known/x"), F::Mock);
    assert_eq!(server_family("/_mock/.well-known/x"), F::Mock);
    assert_eq!(server_family("/x/.well-known/jwks.json"), F::Descope);
    assert_eq!(server_family("/oauth2/.well-known/jwks.json"), F::OAuth);
}

/// Two axum path patterns match whatever their parameters are named (`{id}` ~ `{uid}`,
/// `{*rest}` ~ `{rest}`).
pub(crate) fn same_pattern(a: &str, b: &str) -> bool {
    let norm = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|seg| {
                if seg.starts_with('{') && seg.ends_with('}') {
                    "{}".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect()
    };
    norm(a) == norm(b)
}

/// Every `.route("PATH", ...)` in `src/routes/` (control routes under `/_mock`) is in the table
/// above: a route added to the server without a line here would never be fuzzed.
#[test]
pub(crate) fn the_route_table_covers_every_route_in_the_source() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut missing = Vec::new();
    let mut seen = 0;
    // Route modules are files or directories of files (`routes/control/`, one file per resource).
    let mut files = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("src/routes") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("route source");
        let in_control = path.file_name().is_some_and(|n| n == "control.rs")
            || path.parent().is_some_and(|p| p.ends_with("control"));
        let prefix = if in_control { "/_mock" } else { "" };
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let Some(open) = rest.find('"') else { break };
            let after = &rest[open + 1..];
            let Some(close) = after.find('"') else { break };
            let p = format!("{prefix}{}", &after[..close]);
            seen += 1;
            if !ROUTES.iter().any(|r| same_pattern(r.path, &p)) {
                missing.push(p);
            }
        }
    }
    assert!(
        seen >= 60,
        "only {seen} routes found in {}: the scan is broken",
        dir.display()
    );
    assert!(
        missing.is_empty(),
        "routes the fuzz table lacks: {missing:?}"
    );
}
