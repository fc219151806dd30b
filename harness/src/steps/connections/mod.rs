//! Steps of `connections.feature`: Descope connections (outbound apps), C1-C10 (README
//! "Connections and policies", "Reference server").
//!
//! The connection-backed tool is the profile's first tool with a `user`-level connection (the
//! tenant scenarios: the first with a `tenant`-level one). The scenario's own user gets its own
//! stored connection token (`POST /_mock/connections`) and, where the scenario says the policy
//! allows it, a Connections Policy rule naming only that user — mock-as's default rules only
//! allow the roles `user`/`admin`, which the scenario user does not have, so without the rule its
//! connections are denied. Before each scenario relies on "allowed" or "denied", the step asks
//! mock-as itself (a fetch with a token of the scenario user), so a permissive or broken
//! authorization-server set-up is reported as such instead of as a server defect.
//!
//! The tenant: the profile has no tenant field, so the tenant scenarios use a tenant that already
//! has a tenant-level token of the tool's app on mock-as (mock-as's default configuration:
//! `salesforce` for `T2acme`), else `T2acme` with a token stored for it. The tenant goes into the
//! call as the tool's `tenant_argument` when the profile names one, otherwise into the token's
//! `dct` claim (the "current tenant" Descope puts in tokens).
//!
//! Spy-upstream evidence is attributed to this scenario (others run concurrently): a journal entry
//! is ours when its `Authorization` carries this scenario's MCP token or one of its connection
//! tokens, or its `detail` names one of its connection tokens' ids.

mod rate_limit;

use cucumber::{given, then, when};
use serde_json::{Value, json};

use crate::profile::Tool;
use crate::world::{AuthWorld, ConnectionLevel, ConnectionSetup};

/// The tenant used when mock-as has no tenant-level token of the app yet (default configuration).
const FALLBACK_TENANT: &str = "T2acme";
/// The scope an MCP token needs to be exchanged for connection tokens (Descope).
const OUTBOUND_SCOPE: &str = "outbound.token.fetch";

/// The profile's tool with a connection of `level` (the runner skips the scenario otherwise).
fn conn_tool(w: &AuthWorld, level: &str) -> Tool {
    match w.profile().connection_tool(level) {
        Some(t) => t.clone(),
        None => panic!(
            "the profile has no tool with a {level}-level connection (suite bug: the scenario should have been skipped)"
        ),
    }
}

/// The tool's app and provider scopes.
fn app_and_scopes(t: &Tool) -> (String, Vec<String>) {
    let c = t
        .connection
        .as_ref()
        .expect("connection_tool returns tools with a connection");
    (c.app_id.clone(), c.scopes.clone())
}

/// Add `value` to `list` unless it is empty or already there.
fn remember(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// The app and provider scopes of the scenario's connection (empty before its set-up).
fn conn_app_scopes(w: &AuthWorld) -> (String, Vec<String>) {
    w.connection
        .as_ref()
        .map(|c| (c.app.clone(), c.scopes.clone()))
        .unwrap_or_default()
}

/// The tenant of the scenario's connection, if it is tenant-level.
fn conn_tenant(w: &AuthWorld) -> Option<&str> {
    w.connection.as_ref().and_then(ConnectionSetup::tenant)
}

/// Whether a stored connection (`GET /_mock/connections`, camelCase) is the scenario's.
fn is_ours(w: &AuthWorld, c: &Value) -> bool {
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    let Some(conn) = &w.connection else {
        return false;
    };
    if s("appId") != Some(conn.app.as_str()) {
        return false;
    }
    match &conn.level {
        ConnectionLevel::Tenant(t) => s("userId").is_none() && s("tenantId") == Some(t.as_str()),
        ConnectionLevel::User => s("userId") == w.user.as_deref() && s("tenantId").is_none(),
    }
}

/// The scenario's connections as mock-as stores them now; their ids and tokens are remembered
/// (a revoked or replaced one still counts as ours in the journal).
async fn our_connections(w: &mut AuthWorld) -> Vec<Value> {
    let all = match w.ctx.mock.connections().await {
        Ok(v) => v,
        Err(e) => panic!("could not list mock-as's connections: {e}"),
    };
    let ours: Vec<Value> = all.into_iter().filter(|c| is_ours(w, c)).collect();
    for c in &ours {
        let id = c
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let tok = c
            .get("accessToken")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        remember(&mut w.connection_ids, &id);
        remember(&mut w.connection_tokens, &tok);
    }
    ours
}

/// A token of the scenario user with `outbound.token.fetch`, for asking mock-as directly; it is
/// not the token the client sends.
async fn probe_token(w: &mut AuthWorld) -> String {
    let user = w.user().await;
    let p = w.profile().clone();
    let mut scopes = p.auth.required_scopes.clone();
    scopes.push(OUTBOUND_SCOPE.into());
    let req = w.mint_request(&user, scopes);
    match w.ctx.mock.mint(&req).await {
        Ok(t) => t,
        Err(e) => panic!("mock-as could not mint a probe token: {e}"),
    }
}

/// POST to a mock-as Descope endpoint with `Bearer <project id>:<token>`: (status, JSON body).
async fn descope_post(w: &AuthWorld, path: &str, token: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", w.ctx.mock.base);
    let bearer = format!("{}:{token}", w.profile().mock_as.project_id);
    match crate::http::client(&crate::http::Timeouts::default())
        .post(&url)
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// Ask mock-as itself whether the scenario user may fetch the connection now, the way the tool
/// would: `Ok` = allowed and stored, `Err((status, body))` otherwise.
async fn fetch_directly(w: &mut AuthWorld) -> Result<(), (u16, Value)> {
    let (app, scopes) = conn_app_scopes(w);
    let (path, body) = match conn_tenant(w) {
        Some(tenant) => (
            "/v1/mgmt/outbound/app/tenant/token/latest",
            json!({"appId": app, "tenantId": tenant, "options": {}}),
        ),
        _ if scopes.is_empty() => (
            "/v1/mgmt/outbound/app/user/token/latest",
            json!({"appId": app, "userId": w.user, "options": {}}),
        ),
        _ => (
            "/v1/mgmt/outbound/app/user/token",
            json!({"appId": app, "userId": w.user, "scopes": scopes, "options": {}}),
        ),
    };
    let tok = probe_token(w).await;
    match descope_post(w, path, &tok, body).await {
        (200, _) => Ok(()),
        other => Err(other),
    }
}

/// Store a user-level connection token of the tool's app for the scenario user.
async fn connect_user(w: &mut AuthWorld) {
    let tool = conn_tool(w, "user");
    let (app, scopes) = app_and_scopes(&tool);
    let user = w.user().await;
    w.connection = Some(ConnectionSetup {
        tool: tool.name.clone(),
        app: app.clone(),
        scopes: scopes.clone(),
        level: ConnectionLevel::User,
    });
    let s = (!scopes.is_empty()).then_some(scopes.as_slice());
    if let Err(e) = w.ctx.mock.add_connection(&app, Some(&user), None, s).await {
        panic!("could not store a {app} connection token for the scenario user: {e}");
    }
    our_connections(w).await;
}

/// Add the policy rule that allows the scenario user the tool's connection.
async fn allow(w: &mut AuthWorld) {
    let (app, scopes) = conn_app_scopes(w);
    w.allow_connection(&app, &scopes).await;
}

#[given("the user has connected the tool's app and the policy allows it")]
async fn connected_and_allowed(w: &mut AuthWorld) {
    connect_user(w).await;
    allow(w).await;
    if let Err((s, b)) = fetch_directly(w).await {
        panic!(
            "set-up: mock-as itself refuses the scenario user's connection although a policy rule allows it ({s}: {b})"
        );
    }
}

#[given("the user has connected the tool's app but the policy does not allow it")]
async fn connected_not_allowed(w: &mut AuthWorld) {
    connect_user(w).await;
    match fetch_directly(w).await {
        Err((403, _)) => {}
        Ok(()) => panic!(
            "set-up: mock-as's Connections Policy already allows the scenario user's connection (a rule without role, user or tenant conditions?), so a denial cannot be tested"
        ),
        Err((s, b)) => panic!(
            "set-up: mock-as refuses the connection with {s}, expected a policy denial (403): {b}"
        ),
    }
}

/// The tenant that has a tenant-level token of `app` on mock-as (stored for the fallback tenant
/// if none has one).
async fn tenant_with_connection(w: &mut AuthWorld, app: &str) -> String {
    let all = match w.ctx.mock.connections().await {
        Ok(v) => v,
        Err(e) => panic!("could not list mock-as's connections: {e}"),
    };
    let found = all.iter().find_map(|c| {
        let s = |k: &str| c.get(k).and_then(Value::as_str);
        (s("appId") == Some(app) && s("userId").is_none())
            .then(|| s("tenantId").map(str::to_string))
            .flatten()
    });
    if let Some(t) = found {
        return t;
    }
    if let Err(e) = w
        .ctx
        .mock
        .add_connection(app, None, Some(FALLBACK_TENANT), None)
        .await
    {
        panic!("could not store a tenant-level {app} connection token for {FALLBACK_TENANT}: {e}");
    }
    FALLBACK_TENANT.to_string()
}

async fn tenant_setup(w: &mut AuthWorld, member: bool) {
    let tool = conn_tool(w, "tenant");
    let (app, scopes) = app_and_scopes(&tool);
    let tenant = tenant_with_connection(w, &app).await;
    w.connection = Some(ConnectionSetup {
        tool: tool.name.clone(),
        app,
        scopes,
        level: ConnectionLevel::Tenant(tenant.clone()),
    });
    if member {
        w.join_tenant(&tenant).await;
    } else {
        // A user of its own with no tenant at all.
        w.user().await;
    }
    our_connections(w).await;
}

#[given("the user belongs to a tenant that has connected the tenant tool's app")]
async fn tenant_member(w: &mut AuthWorld) {
    tenant_setup(w, true).await;
}

#[given("the user does not belong to a tenant that has connected the tenant tool's app")]
async fn tenant_outsider(w: &mut AuthWorld) {
    tenant_setup(w, false).await;
}

#[given("the policy allows the user that tenant connection")]
async fn allow_tenant_connection(w: &mut AuthWorld) {
    allow(w).await;
    let member = w
        .ctx
        .mock
        .get(&format!(
            "/_mock/users/{}",
            w.user.clone().unwrap_or_default()
        ))
        .await
        .ok()
        .and_then(|u| u.get("tenants").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .any(|t| t.get("id").and_then(Value::as_str) == conn_tenant(w));
    match (member, fetch_directly(w).await) {
        (true, Ok(())) | (false, Err((403, _))) => {}
        (true, Err((s, b))) => panic!(
            "set-up: mock-as itself refuses the tenant connection to a member whom a policy rule allows ({s}: {b})"
        ),
        (false, Ok(())) => {
            panic!("set-up: mock-as hands the tenant's connection to a user outside the tenant")
        }
        (false, Err((s, b))) => panic!(
            "set-up: mock-as refuses the outsider with {s}, expected 403 (not a member): {b}"
        ),
    }
}

#[given("a valid token that lacks outbound.token.fetch")]
async fn token_without_outbound(w: &mut AuthWorld) {
    // `AuthWorld::mint` adds outbound.token.fetch whenever the profile has connection tools.
    let user = w.user().await;
    let p = w.profile().clone();
    let scopes: Vec<String> = p
        .all_scopes()
        .into_iter()
        .filter(|s| s != OUTBOUND_SCOPE)
        .collect();
    let req = w.mint_request(&user, scopes);
    match w.ctx.mock.mint(&req).await {
        Ok(t) => {
            w.token = Some(t);
            w.token_note = format!("a valid token without {OUTBOUND_SCOPE}");
        }
        Err(e) => panic!("mock-as could not mint a token without {OUTBOUND_SCOPE}: {e}"),
    }
}

/// Call the scenario's connection-backed tool, marking the journal first.
async fn call_connection_tool(w: &mut AuthWorld) {
    let name = match &w.connection {
        Some(c) => c.tool.clone(),
        None => conn_tool(w, "user").name,
    };
    w.mark_journal().await;
    w.call_tool(&name).await;
}

#[when("the client calls the connection-backed tool")]
async fn call_user_tool(w: &mut AuthWorld) {
    call_connection_tool(w).await;
}

#[given("the client has called the connection-backed tool successfully")]
async fn called_successfully(w: &mut AuthWorld) {
    call_connection_tool(w).await;
    if !w.last().tool_ok() {
        w.fail("set-up: the connection-backed tool should succeed before anything is revoked (see req-C1)");
    }
}

#[when("the client calls the tenant's connection-backed tool for that tenant")]
async fn call_tenant_tool(w: &mut AuthWorld) {
    let tool = conn_tool(w, "tenant");
    let tenant = conn_tenant(w).unwrap_or_default().to_string();
    let mut args = serde_json::to_value(&tool.arguments).unwrap_or(json!({}));
    let arg = tool
        .connection
        .as_ref()
        .and_then(|c| c.tenant_argument.clone());
    match arg {
        Some(a) => args[a.as_str()] = json!(tenant),
        None => {
            // No argument names the tenant: make it the token's current tenant (dct).
            w.mint(
                None,
                None,
                Some(json!({"dct": tenant})),
                &format!("a valid token with dct {tenant}"),
            )
            .await;
        }
    }
    if w.session.is_none() && w.profile().stateful() {
        let st = w.open().await.status;
        if !(200..300).contains(&st) {
            w.fail("could not open an MCP session with the token");
        }
    }
    w.mark_journal().await;
    let ex = w
        .mcp
        .call_tool(
            &w.auth(),
            &w.token_note,
            w.session.as_deref(),
            &tool.name,
            args,
        )
        .await;
    w.record(ex);
}

#[when("the policy starts allowing the connection")]
async fn policy_allows(w: &mut AuthWorld) {
    allow(w).await;
}

#[when("the policy stops allowing the connection")]
async fn policy_denies(w: &mut AuthWorld) {
    w.remove_rules().await;
}

#[given("the user's connection is revoked at the authorization server")]
#[when("the user's connection is revoked at the authorization server")]
async fn revoke_connection(w: &mut AuthWorld) {
    let ours = our_connections(w).await;
    if ours.is_empty() {
        panic!("set-up: the scenario user has no stored connection to revoke");
    }
    for c in ours {
        let id = c.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Err(e) = w.ctx.mock.delete(&format!("/_mock/connections/{id}")).await {
            panic!("could not revoke connection {id}: {e}");
        }
    }
}

#[when("the user re-consents through the connect URL")]
async fn reconsent(w: &mut AuthWorld) {
    let Some(token) = w.token.clone() else {
        panic!("set-up: the client holds no MCP token to start the connect flow with");
    };
    let (app, scopes) = conn_app_scopes(w);
    let options = if scopes.is_empty() {
        json!({})
    } else {
        json!({"scopes": scopes})
    };
    let (status, v) = descope_post(
        w,
        "/v1/mgmt/outbound/app/connect",
        &token,
        json!({"appId": app, "options": options}),
    )
    .await;
    let Some(url) = v
        .get("url")
        .and_then(Value::as_str)
        .filter(|_| status == 200)
    else {
        panic!("mock-as did not start the connect flow: {status} {v}");
    };
    // mock-as completes the provider's consent headlessly on GET.
    let r = match crate::http::client(&crate::http::Timeouts::default())
        .get(url)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    if status != 200 {
        panic!("the connect URL {url} did not complete the consent: {status} {body}");
    }
    if our_connections(w).await.is_empty() {
        panic!("the connect flow completed but mock-as stores no connection for the user: {body}");
    }
}

#[when("the user's MCP sessions are revoked at the authorization server")]
async fn revoke_sessions(w: &mut AuthWorld) {
    let user = w.user().await;
    if let Err(e) = w
        .ctx
        .mock
        .post("/_mock/revoke", json!({"user": user}))
        .await
    {
        panic!("could not revoke the user's sessions at mock-as: {e}");
    }
}

#[then("the connection-backed tool succeeds")]
async fn tool_succeeds(w: &mut AuthWorld) {
    let e = w.last();
    if e.tool_ok() {
        return;
    }
    let why = if !(200..300).contains(&e.status) {
        format!("HTTP {}", e.status)
    } else if let Some(err) = e.rpc_error() {
        format!("a JSON-RPC error {err}")
    } else if e.tool_error() {
        "a tool result with isError: true".to_string()
    } else {
        "no tool result".to_string()
    };
    // Say so when the spy upstream refused the call as token passthrough.
    let mcp = w.token.clone().unwrap_or_default();
    let passthrough = our_upstream_entries(w).await.iter().any(|e| {
        e.get("passthrough").and_then(Value::as_bool) == Some(true)
            || e.get("authorization")
                .and_then(Value::as_str)
                .is_some_and(|a| !mcp.is_empty() && a.contains(&mcp))
    });
    let hint = if passthrough {
        "; the server sent the caller's MCP access token to the third-party API (token passthrough), which refused it"
    } else {
        ""
    };
    w.fail(&format!(
        "the connection-backed tool should succeed (the connection is stored and the policy allows it), got {why}{hint}"
    ));
}

#[then("the connection-backed tool does not succeed")]
async fn tool_does_not_succeed(w: &mut AuthWorld) {
    let e = w.last();
    if e.status == 0 {
        w.fail("the server did not answer");
    }
    if e.tool_ok() {
        w.fail("the connection-backed tool succeeded, but the connection should have been refused");
    }
}

#[then("the connection-backed tool fails with a re-consent signal")]
async fn tool_asks_reconsent(w: &mut AuthWorld) {
    let e = w.last();
    if e.status >= 500 {
        w.fail(&format!(
            "a denied connection answered HTTP {}: a server error gives the user nothing to act on; expected a tool result with isError: true",
            e.status
        ));
    }
    if !(200..300).contains(&e.status) {
        w.fail(&format!(
            "a denied connection answered HTTP {}, expected HTTP 200 with a tool result with isError: true",
            e.status
        ));
    }
    if let Some(err) = e.rpc_error() {
        w.fail(&format!(
            "a denied connection answered a JSON-RPC error ({err}), which is no re-consent signal: expected a tool result with isError: true"
        ));
    }
    if e.result().is_none() {
        w.fail("no tool result in the response");
    }
    if !e.tool_error() {
        w.fail("the tool result does not have isError: true although the connection is denied");
    }
}

/// Spy-upstream entries since the mark that belong to this scenario.
pub(super) async fn our_upstream_entries(w: &mut AuthWorld) -> Vec<Value> {
    our_connections(w).await;
    let ids = w.connection_ids.clone();
    let toks = w.connection_tokens.clone();
    let mcp = w.token.clone().unwrap_or_default();
    w.journal_since_mark("upstream")
        .await
        .into_iter()
        .filter(|e| {
            let auth = e
                .get("authorization")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or_default();
            (!mcp.is_empty() && auth.contains(&mcp))
                || toks.iter().any(|t| auth.contains(t.as_str()))
                || ids
                    .iter()
                    .any(|i| detail.contains(&format!("connection token {i} ")))
        })
        .collect()
}

#[then("the third-party API saw the connection token, not the MCP token")]
async fn upstream_saw_connection_token(w: &mut AuthWorld) {
    let mcp = w.token.clone().unwrap_or_default();
    let entries = our_upstream_entries(w).await;
    let passthrough: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e.get("passthrough").and_then(Value::as_bool) == Some(true)
                || e.get("authorization")
                    .and_then(Value::as_str)
                    .is_some_and(|a| !mcp.is_empty() && a.contains(&mcp))
        })
        .collect();
    if !passthrough.is_empty() {
        w.fail(&format!(
            "the server sent the caller's MCP access token to the third-party API (token passthrough): {}",
            json!(passthrough)
        ));
    }
    if !entries.iter().any(|e| {
        e.get("passthrough").and_then(Value::as_bool) == Some(false)
            && e.get("status")
                .and_then(Value::as_u64)
                .is_some_and(|s| s < 400)
    }) {
        w.fail(&format!(
            "the third-party API (mock-as's spy upstream) was not called with the user's connection token during the call; entries of this scenario: {}",
            json!(entries)
        ));
    }
}

#[then("the third-party API was not called")]
async fn upstream_not_called(w: &mut AuthWorld) {
    let entries = our_upstream_entries(w).await;
    if !entries.is_empty() {
        w.fail(&format!(
            "the third-party API (mock-as's spy upstream) was called although the connection was refused: {}",
            json!(entries)
        ));
    }
}
