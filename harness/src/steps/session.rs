//! Steps of `session.feature`: every request authenticated, sessions bound to their user and
//! unguessable, `Origin` validated, metadata URLs on https (checklist 22, 45-50).

use cucumber::{given, then, when};
use reqwest::Method;
use serde_json::{Value, json};

use crate::mcp_client::{Auth, Exchange};
use crate::world::{AuthWorld, SecondUser};

/// A JSON-RPC `tools/list` request.
fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
}

/// A session id no server minted.
fn made_up_session(w: &AuthWorld) -> String {
    format!("authcheck-made-up-session-{}", w.id)
}

fn ok(e: &Exchange) -> bool {
    (200..300).contains(&e.status) && e.rpc_error().is_none()
}

/// Mint a valid token (every scope the profile names) for another user than the scenario's.
async fn mint_for(w: &AuthWorld, user: &str) -> String {
    let p = w.profile().clone();
    let mut scopes = p.all_scopes();
    if !scopes.iter().any(|s| s == "outbound.token.fetch")
        && p.tools.iter().any(|t| t.connection.is_some())
    {
        scopes.push("outbound.token.fetch".into());
    }
    let req = w.mint_request(user, scopes);
    match w.ctx.mock.mint(&req).await {
        Ok(t) => t,
        Err(e) => panic!("mock-as could not mint a token for the second user {user}: {e}"),
    }
}

#[given("the client has opened a session with a valid token")]
async fn opened_session(w: &mut AuthWorld) {
    let token = w.valid_token().await;
    w.owner_token = Some(token);
    if w.profile().stateful() {
        let e = w.open().await;
        if !(200..300).contains(&e.status) {
            let s = e.status;
            w.fail(&format!(
                "could not open a session with a valid token: initialize answered {s}"
            ));
        }
        if w.session.is_none() {
            w.fail("the server keeps sessions (per the profile) but initialize returned no Mcp-Session-Id");
        }
    }
    // Positive control: the token and the session work before anything is taken away.
    let e = w.list_tools().await;
    if !ok(e) {
        w.fail("tools/list with a valid token on the freshly opened session was not served");
    }
}

#[given("another user holds a valid token of their own")]
async fn other_user_token(w: &mut AuthWorld) {
    // Make sure the first user exists, then a second one with the same role.
    w.user().await;
    let other = format!("U2ac{}b", w.id);
    let role = w.role();
    if let Err(e) = w.ctx.mock.put_user(&other, &[role], &[]).await {
        panic!("could not create the second scenario user: {e}");
    }
    let token = mint_for(w, &other).await;
    w.second_user = Some(SecondUser { id: other, token });
}

#[when("the client sends a notification on its session")]
async fn send_notification(w: &mut AuthWorld) {
    let msg = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 99, "reason": "mcp-authcheck"}});
    w.raw(Method::POST, Some(msg), &[]).await;
}

#[when("the client opens its session's event stream")]
async fn open_stream(w: &mut AuthWorld) {
    w.raw(Method::GET, None, &[]).await;
}

#[when("the client ends its session")]
async fn end_session(w: &mut AuthWorld) {
    w.raw(Method::DELETE, None, &[]).await;
}

#[when("the other user lists the tools on the first user's session")]
async fn other_user_lists(w: &mut AuthWorld) {
    let token = other_token(w);
    let ex = w
        .mcp
        .list_tools(
            &Auth::Bearer(token),
            "another user's valid token, on the first user's session",
            w.session.as_deref(),
        )
        .await;
    w.record(ex);
}

#[when(expr = "the client opens {int} sessions")]
async fn open_sessions(w: &mut AuthWorld, n: usize) {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let e = w.open().await;
        if !(200..300).contains(&e.status) {
            let s = e.status;
            w.fail(&format!("opening session {} answered {s}", i + 1));
        }
        match e.session_id() {
            Some(id) => ids.push(id),
            None => w.fail(&format!(
                "session {} was opened without an Mcp-Session-Id",
                i + 1
            )),
        }
    }
    w.session_ids = ids;
}

#[when("the client lists the tools with a made-up session id")]
async fn list_with_made_up_session(w: &mut AuthWorld) {
    let sid = made_up_session(w);
    let ex = w
        .mcp
        .send(
            Method::POST,
            &w.auth(),
            &format!("{} and a made-up Mcp-Session-Id", w.token_note),
            Some(&sid),
            Some(tools_list()),
            &[],
        )
        .await;
    w.record(ex);
}

#[when("the client opens a subscription stream with a made-up session id")]
async fn listen_with_made_up_session(w: &mut AuthWorld) {
    let sid = made_up_session(w);
    let msg = json!({"jsonrpc": "2.0", "id": 5, "method": "subscriptions/listen", "params": {}});
    let ex = w
        .mcp
        .send(
            Method::POST,
            &w.auth(),
            &format!("{} and a made-up Mcp-Session-Id", w.token_note),
            Some(&sid),
            Some(msg),
            &[],
        )
        .await;
    w.record(ex);
}

#[when(expr = "the client lists the tools from the web origin {string}")]
async fn list_from_origin(w: &mut AuthWorld, origin: String) {
    w.token_note = format!("{} from Origin {origin}", w.token_note);
    w.raw(
        Method::POST,
        Some(tools_list()),
        &[("origin", origin.as_str())],
    )
    .await;
}

#[when(expr = "the client sends an initialize request from the web origin {string}")]
async fn initialize_from_origin(w: &mut AuthWorld, origin: String) {
    let note = format!("{} from Origin {origin}", w.token_note);
    let ex = w
        .mcp
        .initialize(&w.auth(), &note, &[("origin", origin.as_str())])
        .await;
    w.record(ex);
}

#[then("the session still serves the user who opened it")]
async fn still_serves_owner(w: &mut AuthWorld) {
    let token = w.owner_token.clone().unwrap_or_default();
    let ex = w
        .mcp
        .list_tools(
            &Auth::Bearer(token),
            "the valid token of the user who opened the session",
            w.session.as_deref(),
        )
        .await;
    w.record(ex);
    if !ok(w.last()) {
        w.fail("the session no longer serves the user who opened it with a valid token");
    }
}

#[then("the server does not serve the session to the other user")]
async fn session_refused_to_other(w: &mut AuthWorld) {
    let s = w.last().status;
    if (200..300).contains(&s) {
        w.fail(&format!(
            "the server served another user's request on this session (HTTP {s}): sessions must be bound to the user who opened them (SBP Session Hijacking)"
        ));
    }
    if !matches!(s, 401 | 403 | 404) {
        w.fail(&format!(
            "expected the session to be refused to another user with 404, 403 or 401, got {s}"
        ));
    }
}

#[then("the other user's token works on a session of their own")]
async fn other_user_own_session(w: &mut AuthWorld) {
    // Proves the refusal was about the session, not about the other user's token.
    let token = other_token(w);
    let auth = Auth::Bearer(token);
    let note = "another user's valid token, on a session of their own";
    let init = w.mcp.open(&auth, note).await;
    let sid = init.session_id();
    let init_ok = (200..300).contains(&init.status);
    w.record(init);
    if !init_ok {
        w.fail("the other user's valid token could not open a session of its own: the refusal proves nothing about session binding");
    }
    let ex = w.mcp.list_tools(&auth, note, sid.as_deref()).await;
    w.record(ex);
    if !ok(w.last()) {
        w.fail("the other user's valid token is not served on its own session: the refusal proves nothing about session binding");
    }
}

/// The second user's token ("" before a step made one).
fn other_token(w: &AuthWorld) -> String {
    w.second_user
        .as_ref()
        .map(|u| u.token.clone())
        .unwrap_or_default()
}

#[then("no two session ids are the same")]
async fn ids_unique(w: &mut AuthWorld) {
    let ids = w.session_ids.clone();
    for (i, a) in ids.iter().enumerate() {
        if let Some(j) = ids[i + 1..].iter().position(|b| b == a) {
            w.fail(&format!(
                "sessions {} and {} got the same id {a:?}",
                i + 1,
                i + j + 2
            ));
        }
    }
}

#[then("every session id is at least 16 visible ASCII characters long")]
async fn ids_shape(w: &mut AuthWorld) {
    for id in w.session_ids.clone() {
        if id.len() < 16 {
            w.fail(&format!(
                "session id {id:?} has {} characters: too short to be unguessable (want at least 16)",
                id.len()
            ));
        }
        if let Some(c) = id.chars().find(|c| !('\x21'..='\x7e').contains(c)) {
            w.fail(&format!(
                "session id {id:?} contains {c:?}: session ids must be visible ASCII (0x21-0x7E)"
            ));
        }
    }
}

/// The length of the part where two ids differ, once their common prefix and suffix are removed
/// (the longer of the two remainders).
fn differing_span(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (a.len() - suffix).max(b.len() - suffix)
}

/// Fewest characters in which any two random ids of at least 16 characters differ, in practice;
/// counters and clocks change only their last few characters.
const MIN_DIFFERING_SPAN: usize = 8;

#[then("the session ids do not follow a sequence")]
async fn ids_not_sequential(w: &mut AuthWorld) {
    let ids = w.session_ids.clone();
    if ids.len() < 2 {
        w.fail("fewer than two session ids to compare");
    }
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            let span = differing_span(a, b);
            if span < MIN_DIFFERING_SPAN {
                w.fail(&format!(
                    "session ids {a:?} and {b:?} differ in only {span} consecutive characters: they look like a counter or a clock, not random (SBP: secure, non-deterministic session ids)"
                ));
            }
        }
    }
    // Numeric ids: equal or tiny steps between consecutive ones give the sequence away.
    let nums: Vec<u128> = ids
        .iter()
        .filter_map(|s| s.replace('-', "").parse::<u128>().ok())
        .collect();
    if nums.len() == ids.len() {
        let steps: Vec<u128> = nums.windows(2).map(|p| p[0].abs_diff(p[1])).collect();
        if steps.iter().all(|d| *d < 1 << 32) {
            w.fail(&format!(
                "the session ids are numbers that step by at most 2^32 ({steps:?}): a sequence"
            ));
        }
    }
}

#[then("the response carries no session id")]
async fn no_session_id(w: &mut AuthWorld) {
    if let Some(s) = w.last().session_id() {
        w.fail(&format!(
            "a 2026-07-28 server must neither mint nor echo Mcp-Session-Id, got {s:?}"
        ));
    }
}

#[then("the server refuses the cross-origin request with 403")]
async fn cross_origin_403(w: &mut AuthWorld) {
    let s = w.last().status;
    if s != 403 {
        w.fail(&format!(
            "a request with an invalid Origin must get 403 even with a valid token (DNS rebinding protection), got {s}"
        ));
    }
}

/// Whether a URL may use plain http: its host is this machine.
fn loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[then("every URL in the metadata uses https or names a loopback host")]
async fn prm_urls_https(w: &mut AuthWorld) {
    let prm: Value = w.prm.as_ref().map(|m| m.doc.clone()).unwrap_or(Value::Null);
    if !prm.is_object() {
        w.fail("no protected resource metadata was fetched");
    }
    let mut urls: Vec<(String, String)> = Vec::new();
    if let Some(m) = &w.prm {
        urls.push(("the metadata's own URL".into(), m.url.clone()));
    }
    for key in [
        "resource",
        "jwks_uri",
        "resource_documentation",
        "resource_policy_uri",
        "resource_tos_uri",
    ] {
        if let Some(u) = prm.get(key).and_then(Value::as_str) {
            urls.push((key.into(), u.to_string()));
        }
    }
    for u in prm
        .get("authorization_servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        urls.push(("authorization_servers".into(), u.to_string()));
    }
    if !urls.iter().any(|(k, _)| k == "resource") {
        w.fail("the metadata has no resource");
    }
    let mut bad = Vec::new();
    for (key, raw) in &urls {
        match url::Url::parse(raw) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && loopback(&u) => {}
            Ok(u) => bad.push(format!(
                "{key} {raw:?} uses {}:// on a host that is not loopback",
                u.scheme()
            )),
            Err(e) => bad.push(format!("{key} {raw:?} is not a URL: {e}")),
        }
    }
    if !bad.is_empty() {
        w.fail(&format!(
            "metadata URLs must use https unless the host is loopback: {}",
            bad.join("; ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_differ_widely_and_counters_do_not() {
        assert_eq!(
            differing_span(
                "7f1c2a9e-0b6d-4e1f-9a3c-5d2b8e4f6a10",
                "c3e85b21-9f4a-4d07-8b6e-1a2c3d4e5f6b"
            ),
            36
        );
        assert_eq!(differing_span("sess-000000000041", "sess-000000000042"), 1);
        assert_eq!(differing_span("abc", "abc"), 0);
        assert_eq!(differing_span("abc", "abcd"), 1);
    }

    #[test]
    fn loopback_hosts() {
        let l = |s: &str| loopback(&url::Url::parse(s).unwrap());
        assert!(l("http://127.0.0.1:8001/mcp"));
        assert!(l("http://localhost/mcp"));
        assert!(l("http://[::1]:80/"));
        assert!(!l("http://example.com/mcp"));
        assert!(!l("http://10.0.0.1/mcp"));
    }
}
