//! Steps of `passthrough.feature`: tokens for other audiences refused, the inbound token never
//! forwarded upstream, an OAuth proxy's consent page (checklist 51-53).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use crate::world::{AuthWorld, UserConnection};

/// The app of the first connection-backed tool of the profile.
fn downstream_app(w: &AuthWorld) -> String {
    let p = w.profile();
    p.connection_tool("user")
        .or_else(|| p.connection_tool("tenant"))
        .and_then(|t| t.connection.as_ref())
        .map(|c| c.app_id.clone())
        .unwrap_or_else(|| "downstream-api".into())
}

/// The claims of a JWT, unverified (`None` = not a JWT).
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, Some(c), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    URL_SAFE_NO_PAD
        .decode(c.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// A claim that may be a string or an array of strings, as a list.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Same URL up to case of scheme/host and one trailing slash.
fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        url::Url::parse(s)
            .map(|u| u.to_string().trim_end_matches('/').to_string())
            .unwrap_or_else(|_| s.trim_end_matches('/').to_string())
    };
    norm(a) == norm(b)
}

#[given("a token issued for the downstream API the server calls")]
async fn downstream_token(w: &mut AuthWorld) {
    let app = downstream_app(w);
    let aud = format!("{}/_upstream/{app}", w.ctx.mock.base);
    let note = format!("a token whose aud is the downstream API {aud}");
    w.mint(None, None, Some(json!({"aud": [aud]})), &note).await;
}

#[given("the user has connected the upstream app of the user-connected tool")]
async fn user_connected(w: &mut AuthWorld) {
    let Some(tool) = w.profile().connection_tool("user").cloned() else {
        w.fail("the profile has no tool with a user-level connection");
    };
    let Some(conn) = tool.connection.clone() else {
        w.fail("the tool has no connection");
    };
    let user = w.user().await;
    let stored = match w
        .ctx
        .mock
        .add_connection(&conn.app_id, Some(&user), None, None)
        .await
    {
        Ok(v) => v,
        Err(e) => panic!(
            "could not store a {} connection for the scenario user: {e}",
            conn.app_id
        ),
    };
    let token = stored
        .get("accessToken")
        .or_else(|| stored.get("access_token"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    w.allow_connection(&conn.app_id, &conn.scopes).await;
    w.upstream_connection = Some(UserConnection {
        tool: tool.name.clone(),
        app: conn.app_id.clone(),
        token,
    });
}

#[when("the client calls the user-connected tool while the upstream API is watched")]
async fn call_connection_tool(w: &mut AuthWorld) {
    let Some(name) = w.upstream_connection.as_ref().map(|c| c.tool.clone()) else {
        w.fail("no tool with a user connection was prepared");
    };
    if w.profile().stateful() && w.session.is_none() {
        // Open the session first: only the tool call belongs after the journal mark.
        w.open().await;
    }
    w.mark_journal().await;
    w.call_tool(&name).await;
}

#[then("the upstream API was called with a token of its own, never the client's MCP token")]
async fn upstream_never_saw_mcp_token(w: &mut AuthWorld) {
    let entries = w.journal_since_mark("upstream").await;
    let mcp_token = w.token.clone().unwrap_or_default();
    let user = w.user().await;
    let resource = w.profile().resource().to_string();
    let issuer = w.profile().issuer();
    let app = w
        .upstream_connection
        .as_ref()
        .map(|c| c.app.clone())
        .unwrap_or_default();
    // The connection tokens of (app, user): the stored one, and any it was refreshed into.
    let mut conn_tokens: Vec<String> = w
        .upstream_connection
        .iter()
        .map(|c| c.token.clone())
        .collect();
    for c in w.ctx.mock.connections().await.unwrap_or_default() {
        if c.get("appId").and_then(Value::as_str) == Some(app.as_str())
            && c.get("userId").and_then(Value::as_str) == Some(user.as_str())
            && let Some(t) = c.get("accessToken").and_then(Value::as_str)
        {
            conn_tokens.push(t.to_string());
        }
    }
    conn_tokens.retain(|t| !t.is_empty());
    let mut ours = 0;
    for e in &entries {
        let path = e.get("path").and_then(Value::as_str).unwrap_or_default();
        let authz = e
            .get("authorization")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bearer = authz
            .split_once(' ')
            .map(|(_, t)| t.trim())
            .unwrap_or(authz.trim());
        let claims = jwt_claims(bearer);
        let sub = claims
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(Value::as_str);
        let for_user = sub == Some(user.as_str());
        if !mcp_token.is_empty() && authz.contains(&mcp_token) {
            w.fail(&format!(
                "token passthrough: the upstream API received the client's MCP access token (in {path}); the server must exchange it for a token of the upstream's own (MUST NOT pass through)"
            ));
        }
        if for_user && e.get("passthrough").and_then(Value::as_bool) == Some(true) {
            w.fail(&format!(
                "token passthrough: the upstream API received an MCP access token of this user (in {path})"
            ));
        }
        if let Some(c) = claims.as_ref().filter(|_| for_user) {
            let auds = strings(c.get("aud"));
            let iss = c.get("iss").and_then(Value::as_str).unwrap_or_default();
            if auds.iter().any(|a| same_url(a, &resource)) || iss == issuer {
                w.fail(&format!(
                    "the upstream API received a token of this user issued for the MCP server (iss {iss:?}, aud {auds:?}) in {path}"
                ));
            }
        }
        if for_user || conn_tokens.iter().any(|t| authz.contains(t.as_str())) {
            ours += 1;
        }
    }
    if ours == 0 {
        w.fail(&format!(
            "the tool call never reached the upstream API with this user's connection ({} upstream requests since the call, none of them this user's), so passthrough cannot be ruled out",
            entries.len()
        ));
    }
}

// ---- OAuth proxy (checklist 53) ----

/// The user agent's client: bounded like every request of the suite, never following a
/// redirect by itself (the authorization flow follows same-origin hops explicitly).
fn http() -> reqwest::Client {
    crate::http::client(&crate::http::Timeouts::default())
}

async fn get_json(url: &str) -> Option<Value> {
    let r = crate::http::fetch(http().get(url), &crate::http::Timeouts::default())
        .await
        .ok()?;
    if r.status != 200 {
        return None;
    }
    Some(r.json()).filter(Value::is_object)
}

/// The well-known URLs of a URL: path-inserted, then at the root.
fn well_known(url: &str, name: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(url) else {
        return Vec::new();
    };
    let origin = u.origin().ascii_serialization();
    let path = u.path().trim_end_matches('/');
    let mut v = Vec::new();
    if !path.is_empty() {
        v.push(format!("{origin}/.well-known/{name}{path}"));
    }
    v.push(format!("{origin}/.well-known/{name}"));
    v
}

#[given("a client registered dynamically at the server's OAuth proxy")]
async fn proxy_client(w: &mut AuthWorld) {
    let resource = w.profile().resource().to_string();
    let mut prm = None;
    for u in well_known(&resource, "oauth-protected-resource") {
        if let Some(v) = get_json(&u).await {
            prm = Some(v);
            break;
        }
    }
    let Some(prm) = prm else {
        w.fail("no protected resource metadata: cannot find the OAuth proxy");
    };
    let Some(issuer) = prm
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        w.fail("the protected resource metadata names no authorization server");
    };
    let mut meta = None;
    let mut tries = well_known(&issuer, "oauth-authorization-server");
    tries.extend(well_known(&issuer, "openid-configuration"));
    for u in &tries {
        if let Some(v) = get_json(u).await {
            meta = Some(v);
            break;
        }
    }
    let Some(meta) = meta else {
        w.fail(&format!(
            "no authorization server metadata for the proxy {issuer:?} at {tries:?}"
        ));
    };
    let field = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(authorize), Some(register)) = (
        field("authorization_endpoint"),
        field("registration_endpoint"),
    ) else {
        w.fail("the OAuth proxy's metadata lacks authorization_endpoint or registration_endpoint");
    };
    let redirect = format!("http://127.0.0.1:9/authcheck-{}/callback", w.id);
    let body = json!({
        "redirect_uris": [redirect],
        "client_name": format!("mcp-authcheck {}", w.id),
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "application_type": "native",
    });
    let req = http().post(&register).json(&body);
    let resp = match crate::http::fetch(req, &w.profile().timeouts).await {
        Ok(r) => r,
        Err(e) => w.fail(&format!("dynamic registration at {register} failed: {e}")),
    };
    let status = resp.status;
    let v: Value = resp.json();
    let Some(client_id) = v.get("client_id").and_then(Value::as_str) else {
        w.fail(&format!(
            "dynamic registration at {register} answered {status} without a client_id: {v}"
        ));
    };
    w.proxy.client_id = client_id.to_string();
    w.proxy.authorization_endpoint = authorize;
    w.proxy.redirect_uri = redirect;
    w.proxy.state = format!("authcheck-state-{}", w.id);
}

/// Send the user agent to the authorization endpoint and follow redirects that stay on the
/// proxy's origin; every response is recorded as a hop.
async fn authorize(w: &mut AuthWorld, redirect_uri: &str) {
    let endpoint = w.proxy.authorization_endpoint.clone();
    let Ok(mut url) = url::Url::parse(&endpoint) else {
        w.fail(&format!(
            "the authorization endpoint {endpoint:?} is not a URL"
        ));
    };
    let scope = w.profile().auth.required_scopes.join(" ");
    let resource = w.profile().resource().to_string();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &w.proxy.client_id);
        q.append_pair("redirect_uri", redirect_uri);
        q.append_pair("state", &w.proxy.state);
        // RFC 7636 Appendix B's verifier/challenge pair.
        q.append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        );
        q.append_pair("code_challenge_method", "S256");
        q.append_pair("resource", &resource);
        if !scope.is_empty() {
            q.append_pair("scope", &scope);
        }
    }
    let origin = url.origin();
    let client = http();
    let mut hops = Vec::new();
    let mut next = Some(url);
    for _ in 0..6 {
        let Some(u) = next.take() else { break };
        let r = match client.get(u.clone()).send().await {
            Ok(r) => r,
            Err(e) => w.fail(&format!("GET {u} failed: {e}")),
        };
        let h = |k: &str| -> Vec<String> {
            r.headers()
                .get_all(k)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect()
        };
        let location = h("location")
            .first()
            .and_then(|l| u.join(l).ok())
            .map(|l| l.to_string());
        let status = r.status().as_u16();
        hops.push(json!({
            "url": u.to_string(),
            "status": status,
            "location": location,
            "content_type": h("content-type").join(", "),
            "x_frame_options": h("x-frame-options").join(", "),
            "csp": h("content-security-policy").join(", "),
            "set_cookie": h("set-cookie"),
        }));
        if (300..400).contains(&status)
            && let Some(l) = location.and_then(|l| url::Url::parse(&l).ok())
            && l.origin() == origin
        {
            next = Some(l);
        }
    }
    w.proxy.sent_redirect_uri = redirect_uri.to_string();
    w.proxy.hops = hops;
}

fn hop_str<'a>(h: &'a Value, k: &str) -> &'a str {
    h.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn describe_hops(hs: &[Value]) -> String {
    hs.iter()
        .map(|h| {
            format!(
                "{} → {}{}",
                hop_str(h, "url"),
                h.get("status").and_then(Value::as_u64).unwrap_or(0),
                h.get("location")
                    .and_then(Value::as_str)
                    .map(|l| format!(" Location: {l}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[when("the user is sent to the proxy's authorization endpoint")]
async fn to_authorize(w: &mut AuthWorld) {
    let redirect = w.proxy.redirect_uri.clone();
    authorize(w, &redirect).await;
}

#[when("the user is sent to the proxy's authorization endpoint with an unregistered redirect URI")]
async fn to_authorize_bad_redirect(w: &mut AuthWorld) {
    // A prefix-match of the registered URI: only exact matching refuses it.
    let redirect = format!("{}/evil", w.proxy.redirect_uri);
    authorize(w, &redirect).await;
}

#[then("the proxy shows its own consent page instead of redirecting upstream")]
async fn consent_page(w: &mut AuthWorld) {
    let hs = w.proxy.hops.clone();
    let Some(last) = hs.last() else {
        w.fail("the authorization endpoint was not reached");
    };
    let status = last.get("status").and_then(Value::as_u64).unwrap_or(0);
    if (300..400).contains(&status) {
        w.fail(&format!(
            "the proxy redirected off its own origin before showing a consent page (Confused Deputy: an MCP-owned consent page must come first): {}",
            describe_hops(&hs)
        ));
    }
    if status != 200 || !hop_str(last, "content_type").starts_with("text/html") {
        w.fail(&format!(
            "expected the proxy's consent page (200 text/html), got: {} ({})",
            describe_hops(&hs),
            hop_str(last, "content_type")
        ));
    }
}

#[then("the consent page cannot be framed by another site")]
async fn not_frameable(w: &mut AuthWorld) {
    let hs = w.proxy.hops.clone();
    let Some(last) = hs.last() else {
        w.fail("the authorization endpoint was not reached");
    };
    let xfo = hop_str(last, "x_frame_options").trim().to_ascii_lowercase();
    let csp = hop_str(last, "csp").to_ascii_lowercase();
    let frame_ancestors_ok = csp.split([';', ',']).any(|d| {
        let mut it = d.split_whitespace();
        it.next() == Some("frame-ancestors") && {
            let srcs: Vec<&str> = it.collect();
            !srcs.is_empty() && srcs.iter().all(|s| *s == "'none'" || *s == "'self'")
        }
    });
    if !(xfo == "deny" || xfo == "sameorigin" || frame_ancestors_ok) {
        w.fail(&format!(
            "the consent page can be framed (clickjacking): X-Frame-Options {xfo:?}, Content-Security-Policy {csp:?}; send X-Frame-Options: DENY or frame-ancestors 'none'"
        ));
    }
}

#[then("no state cookie is set before the user consents")]
async fn no_state_cookie(w: &mut AuthWorld) {
    let state = w.proxy.state.clone();
    for h in w.proxy.hops.clone() {
        for c in h
            .get("set_cookie")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let (name, value) = c
                .split(';')
                .next()
                .unwrap_or_default()
                .split_once('=')
                .unwrap_or((c, ""));
            if name.to_ascii_lowercase().contains("state")
                || (!state.is_empty() && value.contains(&state))
            {
                w.fail(&format!(
                    "the proxy set the state cookie {name:?} before the user consented (at {})",
                    hop_str(&h, "url")
                ));
            }
        }
    }
}

#[then("the proxy refuses the request without redirecting anywhere")]
async fn refuses_bad_redirect(w: &mut AuthWorld) {
    let hs = w.proxy.hops.clone();
    let bad = w.proxy.sent_redirect_uri.clone();
    let Some(last) = hs.last() else {
        w.fail("the authorization endpoint was not reached");
    };
    let proxy = url::Url::parse(hop_str(last, "url"))
        .map(|u| u.origin())
        .ok();
    for h in &hs {
        let Some(l) = h.get("location").and_then(Value::as_str) else {
            continue;
        };
        if l.starts_with(&bad) || url::Url::parse(l).ok().map(|u| u.origin()) != proxy {
            w.fail(&format!(
                "the proxy redirected away for a redirect_uri that was never registered (it must match exactly and the user must not be redirected): {}",
                describe_hops(&hs)
            ));
        }
    }
    let status = last.get("status").and_then(Value::as_u64).unwrap_or(0);
    if !(400..500).contains(&status) {
        w.fail(&format!(
            "expected the proxy to refuse an unregistered redirect_uri with a 4xx error page, got: {}",
            describe_hops(&hs)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jwt_claims() {
        let c = URL_SAFE_NO_PAD.encode(br#"{"sub":"U2x","aud":["a","b"]}"#);
        let v = jwt_claims(&format!("eyJhbGciOiJSUzI1NiJ9.{c}.sig")).unwrap();
        assert_eq!(v["sub"], "U2x");
        assert_eq!(strings(v.get("aud")), vec!["a", "b"]);
        assert!(jwt_claims("mock-conn-google-calendar-abc").is_none());
    }

    #[test]
    fn compares_urls_loosely() {
        assert!(same_url(
            "HTTP://127.0.0.1:1/mcp/",
            "http://127.0.0.1:1/mcp"
        ));
        assert!(!same_url(
            "http://127.0.0.1:1/mcp",
            "http://127.0.0.1:1/other"
        ));
    }
}
