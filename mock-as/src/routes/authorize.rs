//! The authorization endpoint (RFC 6749 §4.1.1-§4.1.2.1, OAuth 2.1, RFC 7636 PKCE S256 only,
//! RFC 8707 `resource`, RFC 9207 `iss` in the response) with headless consent for CI: the
//! consenting user is `login_hint` (user id or login id) or the project's default user, and the
//! server's consent policy filters the granted scopes.
//!
//! Errors about the client or the redirect URI are answered directly (400 JSON) and never
//! redirected (§4.1.2.1); every other error is redirected to the validated redirect URI.
//!
//! In interactive consent mode (`--consent interactive`), phase 4 is a page instead
//! ([`crate::routes::consent`]): the checked request waits there for a person's decision.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

use crate::config::{
    ClientConfig, ClientType, McpServer, STANDARD_SCOPES, check_redirect_uri, is_loopback_host,
};
use crate::error::{ErrorCode, OAuthError};
use crate::parse::{Params, check_challenge, parse_scope};
use crate::policy::Subject;
use crate::protocol::{AuthMethod, GrantType};
use crate::routes::client_auth::read_params;
use crate::routes::token::{client_may_request, default_scopes, names_server};
use crate::state::AppState;
use crate::store::{AuthCode, Client, ClientOrigin};
use crate::tokens::{IssuerStyle, random_id};

const REPEATABLE: &[&str] = &["resource"];

/// `GET /oauth2/v1/apps/agentic/{pid}/{sid}/authorize`.
pub async fn get_agentic(
    State(st): State<AppState>,
    Path((pid, sid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    match Params::parse(q.unwrap_or_default().as_bytes(), REPEATABLE) {
        Ok(p) => authorize(st, Target::Agentic(pid, sid), p).await,
        Err(e) => OAuthError::invalid_request(e.to_string()).into_response(),
    }
}

/// `POST /oauth2/v1/apps/agentic/{pid}/{sid}/authorize` (form body).
pub async fn post_agentic(
    State(st): State<AppState>,
    Path((pid, sid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match read_params(&headers, &body, REPEATABLE) {
        Ok(p) => authorize(st, Target::Agentic(pid, sid), p).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /oauth2/v1/apps/authorize`: with `mcp_server_id` (and `project_id`) a flow of that MCP
/// server; without, the project's Inbound App flow (issuer `<base>/v1/apps/<pid>`).
pub async fn get_generic(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    match Params::parse(q.unwrap_or_default().as_bytes(), REPEATABLE) {
        Ok(p) => authorize(st, Target::Generic, p).await,
        Err(e) => OAuthError::invalid_request(e.to_string()).into_response(),
    }
}

/// `POST /oauth2/v1/apps/authorize`.
pub async fn post_generic(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match read_params(&headers, &body, REPEATABLE) {
        Ok(p) => authorize(st, Target::Generic, p).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /oauth2/v1/authorize`: the project OIDC flow (issuer `<base>/<pid>`, Descope's "OIDC
/// Endpoints Quickstart").
pub async fn get_project(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    match Params::parse(q.unwrap_or_default().as_bytes(), REPEATABLE) {
        Ok(p) => authorize(st, Target::Project, p).await,
        Err(e) => OAuthError::invalid_request(e.to_string()).into_response(),
    }
}

/// `POST /oauth2/v1/authorize`.
pub async fn post_project(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match read_params(&headers, &body, REPEATABLE) {
        Ok(p) => authorize(st, Target::Project, p).await,
        Err(e) => e.into_response(),
    }
}

/// Which endpoint an authorization request came to.
enum Target {
    /// `/oauth2/v1/apps/agentic/{pid}/{sid}/authorize`.
    Agentic(String, String),
    /// `/oauth2/v1/apps/authorize`.
    Generic,
    /// `/oauth2/v1/authorize`.
    Project,
}

/// The server entry of a project-level flow: the one a `resource` names, else the client's first
/// server, else the first configured one. `project_id`, when given, must be this project's.
fn project_flow_server(st: &AppState, p: &Params) -> Result<(String, String), OAuthError> {
    let pid = p.get("project_id").unwrap_or(st.pid()).to_string();
    let servers = st.servers();
    let by_resource = p
        .all("resource")
        .iter()
        .find_map(|r| servers.iter().find(|s| names_server(s, r)));
    let by_client = p.get("client_id").and_then(|c| {
        let store = st.store();
        let first = store.client(c)?.cfg.servers.first()?.clone();
        servers.iter().find(|s| s.id == first).cloned()
    });
    let server = by_resource
        .cloned()
        .or(by_client)
        .or_else(|| servers.first().cloned())
        .ok_or_else(|| OAuthError::invalid_request("the project has no MCP server entry"))?;
    Ok((pid, server.id.clone()))
}

/// The flow an authorization request names: the MCP server entry and the issuer style of the
/// endpoint it came to.
pub(crate) struct Flow {
    /// The server entry's id (`sid`).
    pub(crate) sid: String,
    /// Which issuer the tokens of this flow carry.
    pub(crate) style: IssuerStyle,
    /// The server entry.
    pub(crate) server: Arc<McpServer>,
}

/// Where errors and the code go once the client and its redirect URI are trusted
/// (RFC 6749 §4.1.2, RFC 9207 `iss`).
pub(crate) struct Back<'a> {
    /// The validated, registered redirect URI.
    pub(crate) redirect_uri: &'a str,
    /// The client's `state`, echoed.
    pub(crate) state: Option<&'a str>,
    /// The flow's issuer, sent as `iss`.
    pub(crate) issuer: String,
}

impl Back<'_> {
    /// An error redirected to the client (RFC 6749 §4.1.2.1).
    pub(crate) fn fail(&self, error: &str, description: String) -> Response {
        redirect_error(
            self.redirect_uri,
            error,
            &description,
            self.state,
            &self.issuer,
        )
    }
}

/// What the request asks for, once checked.
pub(crate) struct CodeRequest<'a> {
    /// The PKCE S256 challenge (RFC 7636 §4.3).
    pub(crate) challenge: &'a str,
    /// The requested (or default) scopes.
    pub(crate) requested: Vec<String>,
    /// The RFC 8707 resources.
    pub(crate) resources: Vec<String>,
}

/// What the consenting user granted.
pub(crate) struct Consent {
    /// The consenting user.
    pub(crate) user: crate::config::User,
    /// The tenant the request is made in, if any.
    pub(crate) tenant: Option<String>,
    /// The scopes the consent policy allows, in request order.
    pub(crate) granted: Vec<String>,
}

/// A redirected error: the `error` code and its description.
type Refusal = (&'static str, String);

async fn authorize(st: AppState, target: Target, p: Params) -> Response {
    // 1. Which server. Errors here are direct: no redirect URI is trusted yet.
    let flow = match resolve_flow(&st, target, &p) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    // 2. The client and its redirect URI.
    let (client, client_id, redirect_uri) = match check_client(&st, &flow, &p).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let back = Back {
        redirect_uri,
        state: p.get("state"),
        issuer: st.issuer_of(flow.style, &flow.sid),
    };
    // 3. Everything else is reported to the client through the redirect.
    let req = match parse_request(&p, &client, &flow, client_id) {
        Ok(r) => r,
        Err((error, description)) => return back.fail(error, description),
    };
    // 4. Consent: a page for a person in interactive mode (its form finishes the flow in
    //    `consent::submit`), else headless.
    if st.config.project.consent == crate::config::ConsentMode::Interactive {
        return crate::routes::consent::start(&st, &flow, client_id, &back, &p, req);
    }
    let consent = match headless_consent(&st, &p, &flow.sid, client_id, &req.requested) {
        Ok(c) => c,
        Err((error, description)) => return back.fail(error, description),
    };
    // 5. The code.
    issue_code(&st, &flow, client_id, &back, req, consent)
}

/// Phase 1: the server entry and issuer style the endpoint and its parameters name.
fn resolve_flow(st: &AppState, target: Target, p: &Params) -> Result<Flow, OAuthError> {
    let (pid, sid, style) = match target {
        Target::Agentic(pid, sid) => (pid, sid, IssuerStyle::McpServer),
        Target::Generic => match (p.get("project_id"), p.get("mcp_server_id")) {
            (Some(pid), Some(sid)) => (pid.to_string(), sid.to_string(), IssuerStyle::McpServer),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "project_id is required with mcp_server_id on /oauth2/v1/apps/authorize",
                ));
            }
            _ => project_flow_server(st, p).map(|(a, b)| (a, b, IssuerStyle::InboundApp))?,
        },
        Target::Project => project_flow_server(st, p).map(|(a, b)| (a, b, IssuerStyle::Project))?,
    };
    let Some(server) = (pid == st.pid()).then(|| st.server(&sid)).flatten() else {
        return Err(OAuthError::invalid_request(format!(
            "no MCP server {sid:?} in project {pid:?}"
        ))
        .with_status(StatusCode::NOT_FOUND));
    };
    Ok(Flow { sid, style, server })
}

/// Phase 2: the client (registered, or fetched from its CIMD document), that it may use this
/// server, and its exact-match redirect URI. Errors are direct, never redirected (§4.1.2.1).
async fn check_client<'p>(
    st: &AppState,
    flow: &Flow,
    p: &'p Params,
) -> Result<(Client, &'p str, &'p str), OAuthError> {
    let sid = &flow.sid;
    let Some(client_id) = p.get("client_id") else {
        return Err(OAuthError::invalid_request("client_id is required"));
    };
    let client = find_or_fetch_client(st, &flow.server, client_id).await?;
    if !client.serves(sid) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("client {client_id:?} is not registered for MCP server {sid:?}"),
        ));
    }
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return Err(OAuthError::invalid_request("redirect_uri is required"));
    };
    if !client.cfg.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(OAuthError::invalid_request(format!(
            "redirect_uri {redirect_uri:?} is not registered for client {client_id:?} (exact match required); not redirecting"
        )));
    }
    Ok((client, client_id, redirect_uri))
}

/// Phase 3: `response_type`, the client's grant, PKCE (S256 only), scopes and resources.
fn parse_request<'p>(
    p: &'p Params,
    client: &Client,
    flow: &Flow,
    client_id: &str,
) -> Result<CodeRequest<'p>, Refusal> {
    let (server, sid) = (&flow.server, &flow.sid);
    match p.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err((
                "unsupported_response_type",
                format!("response_type {other:?} is not supported; use code"),
            ));
        }
        None => return Err(("invalid_request", "response_type is required".into())),
    }
    if !client
        .cfg
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err((
            "unauthorized_client",
            format!("client {client_id:?} may not use the authorization_code grant"),
        ));
    }
    let Some(challenge) = p.get("code_challenge") else {
        return Err((
            "invalid_request",
            "code_challenge is required: PKCE with S256 is mandatory".into(),
        ));
    };
    match p.get("code_challenge_method") {
        Some("S256") => {}
        Some(m) => {
            return Err((
                "invalid_request",
                format!("code_challenge_method {m:?} is not supported; only S256"),
            ));
        }
        None => {
            return Err((
                "invalid_request",
                "code_challenge_method is required and must be S256 (plain is not accepted)".into(),
            ));
        }
    }
    if let Err(e) = check_challenge(challenge) {
        return Err(("invalid_request", e.to_string()));
    }
    let requested = match p.get("scope") {
        Some(s) => match parse_scope(s) {
            Ok(v) => v,
            Err(e) => return Err(("invalid_scope", e.to_string())),
        },
        None => default_scopes(client, server),
    };
    if let Some(bad) = requested
        .iter()
        .find(|s| !client_may_request(client, server, s))
    {
        return Err((
            "invalid_scope",
            format!("scope {bad:?} is not available to client {client_id:?} at MCP server {sid:?}"),
        ));
    }
    let resources = p.all("resource").to_vec();
    if let Some(bad) = resources.iter().find(|r| !names_server(server, r)) {
        return Err((
            "invalid_target",
            format!(
                "resource {bad:?} does not name MCP server {sid:?} ({})",
                server.url
            ),
        ));
    }
    if resources.is_empty() && server.require_resource {
        return Err((
            "invalid_target",
            format!("resource is required by MCP server {sid:?} (RFC 8707)"),
        ));
    }
    Ok(CodeRequest {
        challenge,
        requested,
        resources,
    })
}

/// Phase 4: the consenting user (`login_hint` or the project's default user), their tenant,
/// and the scopes the server's consent policy grants them.
fn headless_consent(
    st: &AppState,
    p: &Params,
    sid: &str,
    client_id: &str,
    requested: &[String],
) -> Result<Consent, Refusal> {
    let hint = p
        .get("login_hint")
        .or(p.get("loginHint"))
        .map(str::to_string)
        .or_else(|| st.config.project.default_user.clone());
    let Some(hint) = hint else {
        return Err((
            "access_denied",
            "no login_hint and no project.default_user: nobody can consent".into(),
        ));
    };
    let Some(user) = st.store().find_user(&hint).cloned() else {
        return Err((
            "access_denied",
            format!("no user with id or login id {hint:?}"),
        ));
    };
    let tenant = p.get("tenant").map(str::to_string);
    if let Some(t) = &tenant
        && !user.tenants.iter().any(|m| &m.id == t)
    {
        return Err((
            "access_denied",
            format!("user {:?} is not a member of tenant {t:?}", user.id),
        ));
    }
    let rules = consent_rules(st, sid);
    let granted = consent(&rules, &user, client_id, tenant.as_deref(), requested);
    Ok(Consent {
        user,
        tenant,
        granted,
    })
}

/// Phase 5: a session and a single-use authorization code, redirected with `state` and `iss`.
pub(crate) fn issue_code(
    st: &AppState,
    flow: &Flow,
    client_id: &str,
    back: &Back<'_>,
    req: CodeRequest<'_>,
    consent: Consent,
) -> Response {
    let Consent {
        user,
        tenant,
        granted,
    } = consent;
    let now = st.now();
    let code = random_id();
    {
        let mut store = st.store();
        let session = store.new_session(Some(&user.id), client_id, &flow.sid, &granted, now);
        if let Some(s) = store.session_mut(&session) {
            s.issuer_style = flow.style;
        }
        store.put_code(
            code.clone(),
            AuthCode {
                client_id: client_id.to_string(),
                server_id: flow.sid.clone(),
                redirect_uri: back.redirect_uri.to_string(),
                challenge: req.challenge.to_string(),
                resources: req.resources,
                scopes: granted,
                user_id: user.id.clone(),
                tenant,
                session_id: session,
                expires_at: now + flow.server.code_ttl as i64,
                used: false,
            },
        );
    }
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = back.state {
        params.push(("state", s));
    }
    params.push(("iss", &back.issuer));
    redirect(back.redirect_uri, &params)
}

/// The MCP server's consent policy rules (none configured: an empty list, i.e. no policy).
pub(crate) fn consent_rules(st: &AppState, sid: &str) -> Vec<crate::policy::Rule> {
    st.store()
        .rules(crate::store::PolicyRef::Consent(sid))
        .to_vec()
}

/// The MCP Server Policy's verdict on each requested scope, in order: `(scope, granted, why)`.
/// Standard scopes pass; the rest must be allowed by a rule. The consent page shows these; the
/// grant ([`consent`]) keeps the granted ones.
pub(crate) fn scope_verdicts(
    rules: &[crate::policy::Rule],
    user: &crate::config::User,
    client_id: &str,
    tenant: Option<&str>,
    requested: &[String],
) -> Vec<(String, bool, String)> {
    let roles = crate::policy::roles_of(user, tenant);
    let subject = Subject {
        user: Some(&user.id),
        roles: &roles,
        client: Some(client_id),
        tenant,
        app: None,
        resource: None,
    };
    requested
        .iter()
        .map(|s| {
            if STANDARD_SCOPES.contains(&s.as_str()) {
                (s.clone(), true, "standard scope".to_string())
            } else {
                let d = crate::policy::decide(rules, &subject, Some(s));
                (s.clone(), d.allowed, d.reason)
            }
        })
        .collect()
}

/// The MCP Server Policy's grant: the requested scopes it allows, in order. Denied scopes are
/// dropped silently, as Descope does (mock-as/DESCOPE.md §11).
pub(crate) fn consent(
    rules: &[crate::policy::Rule],
    user: &crate::config::User,
    client_id: &str,
    tenant: Option<&str>,
    requested: &[String],
) -> Vec<String> {
    scope_verdicts(rules, user, client_id, tenant, requested)
        .into_iter()
        .filter(|(_, granted, _)| *granted)
        .map(|(scope, _, _)| scope)
        .collect()
}

fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut u) = url::Url::parse(uri) else {
        return OAuthError::invalid_request("redirect_uri does not parse").into_response();
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, u.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

fn redirect_error(
    uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    let mut r = redirect(uri, &params);
    r.extensions_mut()
        .insert(crate::error::OutcomeCode(error.to_string()));
    r
}

/// A registered client, or (CIMD enabled, URL-shaped id) one fetched from its metadata document.
async fn find_or_fetch_client(
    st: &AppState,
    server: &McpServer,
    client_id: &str,
) -> Result<Client, OAuthError> {
    if let Some(c) = st.store().client(client_id) {
        return Ok(c.clone());
    }
    let is_url = client_id.starts_with("https://") || client_id.starts_with("http://");
    if !(server.cimd && is_url) {
        return Err(OAuthError::invalid_request(format!(
            "unknown client_id {client_id:?}; not redirecting"
        )));
    }
    // Approved domains are checked before anything is fetched.
    let host = url::Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    if !crate::config::host_allowed(&server.cimd_allowed_domains, &host) {
        return Err(OAuthError::invalid_request(format!(
            "client_id {client_id:?}: host {host:?} is not an approved CIMD domain of MCP server {:?} ({}); not redirecting",
            server.id,
            server.cimd_allowed_domains.join(", ")
        )));
    }
    let c = fetch_cimd(st, server, client_id).await?;
    st.store().put_client(c.clone());
    Ok(c)
}

/// Client ID metadata document: the `client_id` URL is fetched (https, or http on loopback);
/// the document's `client_id` must equal the URL; its `redirect_uris` are honoured.
pub async fn fetch_cimd(
    st: &AppState,
    server: &McpServer,
    url: &str,
) -> Result<Client, OAuthError> {
    let bad = |m: String| {
        OAuthError::invalid_request(format!(
            "client metadata document {url:?}: {m}; not redirecting"
        ))
    };
    let u = url::Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
    if u.scheme() == "http" && !is_loopback_host(&u) {
        return Err(bad(
            "must be https (http is allowed on loopback only)".into()
        ));
    }
    if u.fragment().is_some() || u.path() == "/" || u.path().is_empty() {
        return Err(bad("must have a path and no fragment".into()));
    }
    let resp = st
        .http
        .get(u.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| bad(format!("fetch failed: {e}")))?;
    if !resp.status().is_success() {
        return Err(bad(format!("fetch answered {}", resp.status())));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| bad(format!("read failed: {e}")))?;
    if bytes.len() > 5 * 1024 {
        return Err(bad("larger than 5 KiB".into()));
    }
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    if doc.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(bad("its client_id does not equal the document URL".into()));
    }
    let redirect_uris: Vec<String> = doc
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(bad("redirect_uris is missing or empty".into()));
    }
    for r in &redirect_uris {
        check_redirect_uri(r).map_err(bad)?;
    }
    match doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(m) => {
            return Err(bad(format!(
                "token_endpoint_auth_method {m:?} is not supported for CIMD clients (use none)"
            )));
        }
    }
    Ok(Client {
        cfg: ClientConfig {
            id: url.to_string(),
            name: doc
                .get("client_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            kind: ClientType::Public,
            secret: None,
            redirect_uris,
            scopes: Vec::new(),
            grant_types: vec![
                GrantType::AuthorizationCode.to_string(),
                GrantType::RefreshToken.to_string(),
            ],
            servers: vec![server.id.clone()],
        },
        token_endpoint_auth_method: AuthMethod::None,
        origin: ClientOrigin::Cimd,
        issued_at: st.now(),
    })
}
