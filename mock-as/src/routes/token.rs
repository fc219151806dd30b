//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; OAuth 2.1 §4.3.1 refresh rotation;
//! RFC 7636 §4.6 PKCE; RFC 8707 §2.2 resource), plus what a client may ask of a server (the
//! authorization endpoint shares it). Access tokens are composed and signed in [`crate::issue`].
//! Reading the request and authenticating the client are in [`crate::routes::client_auth`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::{ClientType, McpServer, STANDARD_SCOPES};
use crate::error::{ErrorCode, JournalDetail, OAuthError, no_store};
use crate::issue::{Issue, issue_access_token};
use crate::parse::{Params, check_verifier, parse_scope, s256};
use crate::protocol::GrantType;
use crate::routes::client_auth::{AuthedClient, authenticate, read_params};
use crate::state::AppState;
use crate::store::{Client, ClientOrigin, RefreshToken};
use crate::tokens::{IssuerStyle, random_id};

/// Whether `r` names the server (RFC 8707): URL-equal to its `url`.
pub fn names_server(server: &McpServer, r: &str) -> bool {
    match (url::Url::parse(r), url::Url::parse(&server.url)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether a client may ask this server for a scope.
///
/// A configured or control-API client's `scopes` is an allow-list. A dynamically registered
/// client's `scope` is not: RFC 7591 §2 defines it as values the client "can use when requesting
/// access tokens" and leaves their semantics "service specific", and MCP step-up authorization
/// (2025-11-25 and 2026-07-28 §Scope Challenge Handling, Step-Up Authorization Flow) re-authorizes
/// the same registration for scopes it did not register with (SEP-2350: the union of what it
/// asked before and what the 403 challenge names). So a DCR client may ask for any scope of its
/// server; the server's scopes and its consent policy still decide what is granted.
pub fn client_may_request(client: &Client, server: &McpServer, scope: &str) -> bool {
    server.knows_scope(scope)
        && (STANDARD_SCOPES.contains(&scope)
            || client.origin == ClientOrigin::Dcr
            || client.cfg.scopes.is_empty()
            || client.cfg.scopes.iter().any(|s| s == scope))
}

/// The scopes a client gets when it asks for none (RFC 6749 §3.3: "a pre-defined default
/// value"): a dynamically registered client's registered `scope` (RFC 7591 §2), else every server
/// scope it may request.
pub fn default_scopes(client: &Client, server: &McpServer) -> Vec<String> {
    if client.origin == ClientOrigin::Dcr && !client.cfg.scopes.is_empty() {
        return client
            .cfg
            .scopes
            .iter()
            .filter(|s| server.knows_scope(s))
            .cloned()
            .collect();
    }
    server
        .scopes_supported()
        .into_iter()
        .filter(|s| client_may_request(client, server, s))
        .collect()
}

/// The issuer style of a grant (the authorization request's endpoints chose it).
fn session_style(st: &AppState, session_id: &str) -> IssuerStyle {
    st.store()
        .session(session_id)
        .map(|s| s.issuer_style)
        .unwrap_or_default()
}

/// `POST /oauth2/v1/apps/agentic/{pid}/{sid}/token`.
pub async fn agentic(
    State(st): State<AppState>,
    Path((pid, sid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if pid != st.pid() || st.server(&sid).is_none() {
        return OAuthError::invalid_request(format!("no MCP server {sid:?} in project {pid:?}"))
            .with_status(StatusCode::NOT_FOUND)
            .into_response();
    }
    token(st, Some(sid), headers, body)
}

/// `POST /oauth2/v1/apps/token` (the server comes from the code, the refresh token or `mcp_server_id`).
pub async fn generic(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    token(st, None, headers, body)
}

fn token(st: AppState, sid: Option<String>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match read_params(&headers, &body, &[]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let authed = match authenticate(&st, &headers, &p, false) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let cred = authed.credential();
    let mut resp = match grant(&st, sid, &p, &authed) {
        Ok((v, detail)) => {
            let mut r = (StatusCode::OK, no_store(), axum::Json(v)).into_response();
            if let Some(d) = detail {
                r.extensions_mut().insert(JournalDetail(d));
            }
            r
        }
        Err(e) => e.into_response(),
    };
    resp.extensions_mut().insert(cred);
    resp
}

fn grant(
    st: &AppState,
    sid: Option<String>,
    p: &Params,
    authed: &AuthedClient,
) -> Result<(Value, Option<String>), OAuthError> {
    if let Some(pid) = p.get("project_id")
        && pid != st.pid()
    {
        return Err(OAuthError::invalid_request(format!(
            "project_id {pid:?} is not this project"
        )));
    }
    let sid = match (sid, p.get("mcp_server_id")) {
        (Some(s), Some(m)) if s != m => {
            return Err(OAuthError::invalid_request(
                "mcp_server_id differs from the server in the path",
            ));
        }
        (Some(s), _) => Some(s),
        (None, m) => m.map(str::to_string),
    };
    let gt = p
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let known = GrantType::parse(gt);
    // Token exchange is open to every client and decided by the Token Exchange Policy alone
    // (Descope: "governed only by Policies"; mock-as/DESCOPE.md §11).
    if known.is_some_and(|g| g != GrantType::TokenExchange)
        && !authed.client.cfg.grant_types.iter().any(|g| g == gt)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "client {:?} may not use the {gt} grant",
                authed.client.cfg.id
            ),
        ));
    }
    match known {
        Some(GrantType::AuthorizationCode) => code_grant(st, sid, p, authed).map(|v| (v, None)),
        Some(GrantType::RefreshToken) => refresh_grant(st, sid, p, authed).map(|v| (v, None)),
        Some(GrantType::ClientCredentials) => {
            client_credentials(st, sid, p, authed).map(|v| (v, None))
        }
        Some(GrantType::TokenExchange) => {
            let (body, detail) = super::exchange::token_exchange(st, p, authed)?;
            Ok((body, Some(detail)))
        }
        None => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {gt:?} is not supported"),
        )),
    }
}

fn server_of(st: &AppState, sid: &str) -> Result<std::sync::Arc<McpServer>, OAuthError> {
    st.server(sid)
        .ok_or_else(|| OAuthError::invalid_request(format!("unknown MCP server {sid:?}")))
}

/// The token request's `scope`, which may only narrow the grant (RFC 6749 §6).
fn narrowed(p: &Params, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    match p.get("scope") {
        None => Ok(granted.to_vec()),
        Some(s) => {
            let asked = parse_scope(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            if let Some(extra) = asked.iter().find(|a| !granted.contains(a)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {extra:?} was not granted"
                )));
            }
            Ok(asked)
        }
    }
}

fn token_response(access: String, scopes: &[String], ttl: u64, refresh: Option<String>) -> Value {
    let mut v = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scopes.join(" "),
    });
    if let Some(r) = refresh {
        v["refresh_token"] = json!(r);
    }
    v
}

fn code_grant(
    st: &AppState,
    sid: Option<String>,
    p: &Params,
    authed: &AuthedClient,
) -> Result<Value, OAuthError> {
    let code_value = p
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let now = st.now();
    let code = {
        let mut store = st.store();
        let Some(code) = store.code_mut(code_value) else {
            return Err(OAuthError::invalid_grant("unknown authorization code"));
        };
        if code.client_id != authed.client.cfg.id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if code.used {
            let session = code.session_id.clone();
            store.revoke_session(&session, "authorization code replayed");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; every token issued with it is now revoked (RFC 6749 §4.1.2)",
            ));
        }
        code.used = true;
        code.clone()
    };
    if sid.as_deref().is_some_and(|s| s != code.server_id) {
        return Err(OAuthError::invalid_grant(
            "the code was issued by another MCP server",
        ));
    }
    if code.expires_at < now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    match p.get("redirect_uri") {
        Some(r) if r == code.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is required: the authorization request had one",
            ));
        }
    }
    let verifier = p
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    check_verifier(verifier).map_err(|e| OAuthError::invalid_grant(e.to_string()))?;
    if s256(verifier) != code.challenge {
        return Err(OAuthError::invalid_grant(
            "PKCE verification failed: S256(code_verifier) does not match code_challenge",
        ));
    }
    let server_arc = server_of(st, &code.server_id)?;
    let server = &*server_arc;
    let resource = match p.get("resource") {
        Some(r) if code.resources.is_empty() && names_server(server, r) => Some(r.to_string()),
        Some(r) if code.resources.iter().any(|c| c == r) => Some(r.to_string()),
        Some(r) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("resource {r:?} was not part of the authorization request"),
            ));
        }
        None => code.resources.first().cloned(),
    };
    let scopes = narrowed(p, &code.scopes)?;
    let user = st.store().user(&code.user_id).cloned();
    let style = session_style(st, &code.session_id);
    let (access, _) = issue_access_token(
        st,
        &Issue {
            server,
            style,
            sub: &code.user_id,
            client_id: &code.client_id,
            scopes: &scopes,
            resource: resource.as_deref(),
            user: user.as_ref(),
            tenant: code.tenant.as_deref(),
            session: Some(&code.session_id),
            ttl: None,
            flaw: None,
            extra: None,
            remove: &[],
        },
    )?;
    let refresh = authed
        .client
        .cfg
        .grant_types
        .iter()
        .any(|g| g == GrantType::RefreshToken.as_str())
        .then(|| {
            let rt = random_id();
            st.store().put_refresh_token(
                rt.clone(),
                RefreshToken {
                    session_id: code.session_id.clone(),
                    client_id: code.client_id.clone(),
                    server_id: code.server_id.clone(),
                    scopes: code.scopes.clone(),
                    resource: resource.clone(),
                    user_id: code.user_id.clone(),
                    tenant: code.tenant.clone(),
                    expires_at: now + server.refresh_token_ttl as i64,
                    used: false,
                },
            );
            rt
        });
    Ok(token_response(
        access,
        &scopes,
        server.access_token_ttl,
        refresh,
    ))
}

fn refresh_grant(
    st: &AppState,
    sid: Option<String>,
    p: &Params,
    authed: &AuthedClient,
) -> Result<Value, OAuthError> {
    let presented = p
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = st.now();
    let rt = {
        let mut store = st.store();
        let Some(rt) = store.refresh_token_mut(presented) else {
            return Err(OAuthError::invalid_grant(
                "unknown, revoked or expired refresh token",
            ));
        };
        if rt.client_id != authed.client.cfg.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if rt.used {
            let session = rt.session_id.clone();
            store.revoke_session(&session, "refresh token reused");
            return Err(OAuthError::invalid_grant(
                "refresh token reuse detected: it was already rotated, so its whole family is now revoked (OAuth 2.1 §4.3.1)",
            ));
        }
        if rt.expires_at < now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        rt.used = true;
        let rt = rt.clone();
        if !store.session_live(&rt.session_id) {
            return Err(OAuthError::invalid_grant(
                "the grant behind this refresh token was revoked",
            ));
        }
        rt
    };
    if sid.as_deref().is_some_and(|s| s != rt.server_id) {
        return Err(OAuthError::invalid_grant(
            "the refresh token belongs to another MCP server",
        ));
    }
    let server_arc = server_of(st, &rt.server_id)?;
    let server = &*server_arc;
    let created = st.store().session(&rt.session_id).map(|s| s.created);
    if created.is_some_and(|c| crate::issue::consent_expired(st, &server.id, c)) {
        return Err(OAuthError::invalid_grant(
            "the consent behind this refresh token expired (consent_ttl): authorize again",
        ));
    }
    if let Some(r) = p.get("resource") {
        let same = match &rt.resource {
            Some(g) => g == r,
            None => names_server(server, r),
        };
        if !same {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("resource {r:?} differs from the original grant"),
            ));
        }
    }
    let scopes = narrowed(p, &rt.scopes)?;
    let user = st.store().user(&rt.user_id).cloned();
    let style = session_style(st, &rt.session_id);
    let (access, _) = issue_access_token(
        st,
        &Issue {
            server,
            style,
            sub: &rt.user_id,
            client_id: &rt.client_id,
            scopes: &scopes,
            resource: rt.resource.as_deref(),
            user: user.as_ref(),
            tenant: rt.tenant.as_deref(),
            session: Some(&rt.session_id),
            ttl: None,
            flaw: None,
            extra: None,
            remove: &[],
        },
    )?;
    let next = random_id();
    st.store().put_refresh_token(
        next.clone(),
        RefreshToken {
            used: false,
            expires_at: now + server.refresh_token_ttl as i64,
            ..rt
        },
    );
    Ok(token_response(
        access,
        &scopes,
        server.access_token_ttl,
        Some(next),
    ))
}

fn client_credentials(
    st: &AppState,
    sid: Option<String>,
    p: &Params,
    authed: &AuthedClient,
) -> Result<Value, OAuthError> {
    if authed.client.cfg.kind != ClientType::Confidential {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials needs a confidential client",
        ));
    }
    let sid = match sid {
        Some(s) => s,
        None => match authed.client.cfg.servers.as_slice() {
            [only] => only.clone(),
            _ if st.servers().len() == 1 => st.servers()[0].id.clone(),
            _ => {
                return Err(OAuthError::invalid_request(
                    "mcp_server_id is required on /oauth2/v1/apps/token for client_credentials",
                ));
            }
        },
    };
    let server_arc = server_of(st, &sid)?;
    let server = &*server_arc;
    let client = &authed.client;
    if !client.serves(&sid) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("client {:?} may not use MCP server {sid:?}", client.cfg.id),
        ));
    }
    let scopes = match p.get("scope") {
        None => default_scopes(client, server),
        Some(s) => {
            let asked = parse_scope(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            if let Some(bad) = asked
                .iter()
                .find(|a| !client_may_request(client, server, a))
            {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad:?} is not allowed for this client at this server"
                )));
            }
            asked
        }
    };
    let resource = p.get("resource");
    if let Some(r) = resource
        && !names_server(server, r)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!(
                "resource {r:?} does not name MCP server {sid:?} ({})",
                server.url
            ),
        ));
    }
    let (access, _) = issue_access_token(
        st,
        &Issue {
            server,
            style: IssuerStyle::McpServer,
            sub: &client.cfg.id,
            client_id: &client.cfg.id,
            scopes: &scopes,
            resource,
            user: None,
            tenant: None,
            session: None,
            ttl: None,
            flaw: None,
            extra: None,
            remove: &[],
        },
    )?;
    Ok(token_response(
        access,
        &scopes,
        server.access_token_ttl,
        None,
    ))
}
