//! Connection (outbound app) tokens, Descope's management paths for them, third-party consents,
//! and the connect (re-consent) flow (descope-api.md §7, §11).
//!
//! Callers authenticate with `Authorization: Bearer <pid>:<secret>` split on the first `:`
//! (descope-api.md §7.2): a management key (full access, policies bypassed) or an MCP access
//! token issued by mock-as (verified; must carry `outbound.token.fetch`; `userId` must be its
//! `sub`; the Connections Policy applies). Bodies are accepted as every SDK sends them: explicit
//! nulls (descope-py), omitted fields (node-sdk), `options: {}` (descope-mcp), `loginId` for
//! `userId`. Error codes are README "Connections and policies".

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{OUTBOUND_SCOPE, OutboundApp, User};
use crate::error::{DescopeError, OutcomeCode, codes};
use crate::parse::{parse_bearer, split_project_bearer};
use crate::policy::{Subject, decide, roles_of};
use crate::routes::{Credential, JournalConnection, JournalDetail};
use crate::state::AppState;
use crate::store::{ConnToken, ConnectRequest};
use crate::tokens::{VerifyError, token_scopes, verify};

/// The connection routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/outbound/app/user/token", post(user_token))
        .route(
            "/v1/mgmt/outbound/app/user/token/latest",
            post(user_token_latest),
        )
        .route("/v1/mgmt/outbound/app/tenant/token", post(tenant_token))
        .route(
            "/v1/mgmt/outbound/app/tenant/token/latest",
            post(tenant_token_latest),
        )
        .route(
            "/v1/mgmt/outbound/app/user/oauthtoken/upload",
            post(upload_user),
        )
        .route(
            "/v1/mgmt/outbound/app/tenant/oauthtoken/upload",
            post(upload_tenant),
        )
        .route("/v1/mgmt/outbound/user/tokens", delete(delete_user_tokens))
        .route("/v1/mgmt/outbound/token", delete(delete_token))
        .route(
            "/v1/mgmt/outbound/apps-with-user-token",
            get(apps_with_user_token),
        )
        .route("/v1/mgmt/outbound/app/connect", post(connect))
        .route("/v1/outbound/connect/{state}", get(complete_connect))
        .route("/v1/mgmt/thirdparty/consents/search", post(consents_search))
        .route("/v1/mgmt/thirdparty/consents/delete", post(consents_delete))
}

/// Who is calling.
#[derive(Debug)]
enum Caller {
    /// A management key: full access, policies bypassed.
    Management,
    /// A user's MCP access token issued by mock-as.
    User {
        /// Its `sub`.
        sub: String,
        /// Its `client_id` (or `azp`).
        client: Option<String>,
        /// Its scopes.
        scopes: Vec<String>,
        /// Its `dct`, if any.
        dct: Option<String>,
    },
}

fn err(status: StatusCode, code: &'static str, desc: &str, msg: impl Into<String>) -> DescopeError {
    DescopeError::new(status, code, desc, msg)
}

/// Authenticate `Bearer <pid>:<secret>`.
fn caller(st: &AppState, headers: &HeaderMap) -> Result<Caller, DescopeError> {
    let unauthorized = |m: String| {
        err(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "Unauthorized",
            m,
        )
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let tok = auth.and_then(|h| parse_bearer(h).ok()).ok_or_else(|| {
        unauthorized(
            "needs Authorization: Bearer <project id>:<management key or access token>".into(),
        )
    })?;
    let (pid, secret) = split_project_bearer(tok);
    if pid != st.pid() {
        return Err(unauthorized(format!(
            "the bearer names project {pid:?}, not {:?}",
            st.pid()
        )));
    }
    let secret = secret
        .ok_or_else(|| unauthorized("the bearer has no secret after <project id>:".into()))?;
    if st.is_management_key(secret) {
        return Ok(Caller::Management);
    }
    let claims = verify(&st.keys(), secret, st.now()).map_err(|e| match e {
        VerifyError::Expired => err(
            StatusCode::UNAUTHORIZED,
            codes::TOKEN_EXPIRED,
            "Token expired",
            "the access token has expired",
        ),
        other => unauthorized(format!(
            "the bearer is neither a management key nor a valid access token: {other}"
        )),
    })?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let agentic = format!("{}/v1/apps/agentic/{}/", st.base_url, st.pid());
    if !(iss.starts_with(&agentic) || st.is_own_issuer(iss)) {
        return Err(unauthorized(format!(
            "the access token's issuer {iss:?} is not of project {:?}",
            st.pid()
        )));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if st.store().is_revoked(jti) {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            codes::TOKEN_REVOKED,
            "Token revoked",
            "the access token (or the session it belongs to) was revoked",
        ));
    }
    let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Caller::User {
        sub: s("sub").unwrap_or_default(),
        client: s("client_id").or_else(|| s("azp")),
        scopes: token_scopes(&claims),
        dct: s("dct"),
    })
}

/// The JSON body as an object (`null` fields count as absent).
fn body_object(body: &[u8]) -> Result<Map<String, Value>, DescopeError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| DescopeError::invalid(format!("the body is not JSON: {e}")))?;
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(DescopeError::invalid("the body must be a JSON object")),
    }
}

fn opt_str(o: &Map<String, Value>, k: &str) -> Result<Option<String>, DescopeError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DescopeError::invalid(format!("{k} must be a string"))),
    }
}

fn opt_strings(o: &Map<String, Value>, k: &str) -> Result<Option<Vec<String>>, DescopeError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    DescopeError::invalid(format!("{k} must be an array of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(DescopeError::invalid(format!(
            "{k} must be an array of strings"
        ))),
    }
}

fn opt_bool(o: &Map<String, Value>, k: &str) -> Result<bool, DescopeError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(DescopeError::invalid(format!("{k} must be a boolean"))),
    }
}

/// `options`: `withRefreshToken`, `forceRefresh` (null, absent and `{}` all mean defaults).
fn options(o: &Map<String, Value>) -> Result<(bool, bool), DescopeError> {
    match o.get("options") {
        None | Some(Value::Null) => Ok((false, false)),
        Some(Value::Object(opts)) => Ok((
            opt_bool(opts, "withRefreshToken")?,
            opt_bool(opts, "forceRefresh")?,
        )),
        Some(_) => Err(DescopeError::invalid("options must be an object")),
    }
}

fn app(st: &AppState, id: &str) -> Result<std::sync::Arc<OutboundApp>, DescopeError> {
    st.app(id).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_APP,
            "Outbound app not found",
            format!("no outbound app {id:?}"),
        )
    })
}

fn user(st: &AppState, id: &str) -> Result<User, DescopeError> {
    st.store().find_user(id).cloned().ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            codes::USER_NOT_FOUND,
            "User not found",
            format!("no user {id:?}"),
        )
    })
}

/// A required, non-empty `userId` query parameter, resolved to the user's id.
fn required_user(st: &AppState, id: Option<String>) -> Result<String, DescopeError> {
    let id = id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| DescopeError::missing("userId is required"))?;
    Ok(user(st, &id)?.id)
}

fn check_tenant(st: &AppState, id: &str) -> Result<(), DescopeError> {
    if st.config.tenants.iter().any(|t| t.id == id) {
        Ok(())
    } else {
        Err(err(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_TENANT,
            "Tenant not found",
            format!("no tenant {id:?}"),
        ))
    }
}

/// The token object of Descope's responses (descope-api.md §7.4). Times are strings of epoch
/// seconds, as Descope's OpenAPI types them (§13 #6).
fn token_json(t: &ConnToken, with_refresh: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "appId": t.app_id,
        "userId": t.user_id.clone().unwrap_or_default(),
        "tenantId": t.tenant_id.clone().unwrap_or_default(),
        "accessToken": t.access_token,
        "accessTokenType": t.access_token_type,
        "accessTokenExpiry": t.access_token_expiry.to_string(),
        "hasRefreshToken": t.refresh_token.is_some(),
        "lastRefreshTime": t.last_refresh_time.to_string(),
        "lastRefreshError": t.last_refresh_error,
        "scopes": t.scopes,
        "grantedBy": t.granted_by,
        "tokenSub": t.user_id.clone().unwrap_or_default(),
        "externalIdentifier": "",
    });
    if with_refresh && let Some(r) = &t.refresh_token {
        v["refreshToken"] = json!(r);
    }
    v
}

/// Which kind of fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    User,
    Tenant,
}

/// A fetch outcome plus the reason the journal keeps.
fn respond(result: Result<(Value, String), (DescopeError, String)>, cred: Credential) -> Response {
    let mut r = match result {
        Ok((v, detail)) => {
            let mut r = axum::Json(v).into_response();
            r.extensions_mut().insert(JournalDetail(detail));
            r
        }
        Err((e, detail)) => {
            let mut r = e.into_response();
            r.extensions_mut().insert(JournalDetail(detail));
            r
        }
    };
    r.extensions_mut().insert(cred);
    r
}

fn credential(c: &Result<Caller, DescopeError>) -> Credential {
    match c {
        Ok(Caller::Management) => Credential("bearer-management-key"),
        Ok(Caller::User { .. }) => Credential("bearer-project-jwt"),
        Err(_) => Credential("bearer-invalid"),
    }
}

async fn user_token(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::User, true)
}
async fn user_token_latest(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::User, false)
}
async fn tenant_token(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::Tenant, true)
}
async fn tenant_token_latest(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::Tenant, false)
}

fn fetch_endpoint(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    level: Level,
    by_scopes: bool,
) -> Response {
    let c = caller(st, headers);
    let cred = credential(&c);
    let asked = asked_for(body, level, by_scopes, &c);
    let result = match c {
        Ok(c) => fetch(st, &c, body, level, by_scopes),
        Err(e) => {
            let d = e.message.clone();
            Err((e, d))
        }
    };
    let mut r = respond(result, cred);
    if let Some(a) = asked {
        r.extensions_mut().insert(JournalConnection(a));
    }
    r
}

/// What a fetch asked for, for the journal: the values as the body sent them (strings verbatim,
/// other types as `null`), whether or not the fetch succeeds, so a harness can check which
/// connection an MCP server requested. `user_id` is `userId`, or `loginId` when `userId` is
/// absent or empty (as the fetch resolves it); `scopes` only on the by-scopes endpoints;
/// `subject` is the `sub` of a user access token (`null` for a management key or a refused
/// bearer). `None` when the body is not a JSON object.
fn asked_for(
    body: &[u8],
    level: Level,
    by_scopes: bool,
    caller: &Result<Caller, DescopeError>,
) -> Option<Value> {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let user_id = s("userId")
        .filter(|u| !u.is_empty())
        .or_else(|| s("loginId"))
        .or_else(|| s("userId"));
    let scopes: Vec<Value> = match o.get("scopes") {
        Some(Value::Array(a)) if by_scopes => a
            .iter()
            .map(|v| match v {
                Value::String(_) => v.clone(),
                _ => Value::Null,
            })
            .collect(),
        _ => Vec::new(),
    };
    let subject = match caller {
        Ok(Caller::User { sub, .. }) => Some(sub.as_str()),
        _ => None,
    };
    Some(json!({
        "app_id": s("appId"),
        "level": match level {
            Level::User => "user",
            Level::Tenant => "tenant",
        },
        "user_id": user_id,
        "tenant_id": s("tenantId"),
        "scopes": scopes,
        "latest": !by_scopes,
        "subject": subject,
    }))
}

/// The four fetch endpoints (descope-api.md §7.1).
fn fetch(
    st: &AppState,
    c: &Caller,
    body: &[u8],
    level: Level,
    by_scopes: bool,
) -> Result<(Value, String), (DescopeError, String)> {
    let plain = |e: DescopeError| {
        let d = e.message.clone();
        (e, d)
    };
    if let Caller::User { scopes, .. } = c
        && !scopes.iter().any(|s| s == OUTBOUND_SCOPE)
    {
        return Err(plain(err(
            StatusCode::FORBIDDEN,
            codes::MISSING_OUTBOUND_SCOPE,
            "Missing scope",
            format!(
                "the access token lacks the scope {OUTBOUND_SCOPE:?} needed to fetch connection tokens"
            ),
        )));
    }
    let o = body_object(body).map_err(plain)?;
    let app_id = opt_str(&o, "appId")
        .map_err(plain)?
        .ok_or_else(|| plain(DescopeError::missing("appId is required")))?;
    let tenant = opt_str(&o, "tenantId").map_err(plain)?;
    let scopes = if by_scopes {
        opt_strings(&o, "scopes")
            .map_err(plain)?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let (with_refresh, force_refresh) = options(&o).map_err(plain)?;
    let app = app(st, &app_id).map_err(plain)?;

    // Whose token: the user's (user level) or the tenant's.
    let user_id = match level {
        Level::User => {
            let id = opt_str(&o, "userId")
                .map_err(plain)?
                .or(opt_str(&o, "loginId").map_err(plain)?);
            let id =
                id.ok_or_else(|| plain(DescopeError::missing("userId (or loginId) is required")))?;
            Some(user(st, &id).map_err(plain)?.id)
        }
        Level::Tenant => None,
    };
    if level == Level::Tenant && tenant.is_none() {
        return Err(plain(DescopeError::missing("tenantId is required")));
    }
    if let Some(t) = &tenant {
        check_tenant(st, t).map_err(plain)?;
    }
    let mut detail = String::from("management key: policies bypassed");
    if let Caller::User {
        sub, client, dct, ..
    } = c
    {
        if let Some(u) = &user_id
            && u != sub
        {
            return Err(plain(err(
                StatusCode::FORBIDDEN,
                codes::USER_MISMATCH,
                "Forbidden",
                format!("userId {u:?} is not the access token's subject {sub:?}"),
            )));
        }
        let me = user(st, sub).map_err(plain)?;
        if let Some(t) = &tenant
            && !me.tenants.iter().any(|m| &m.id == t)
        {
            return Err(plain(err(
                StatusCode::FORBIDDEN,
                codes::NOT_TENANT_MEMBER,
                "Forbidden",
                format!("user {sub:?} is not a member of tenant {t:?}"),
            )));
        }
        let policy_tenant = tenant.as_deref().or(dct.as_deref());
        detail = policy_check(st, &me, client.as_deref(), policy_tenant, &app_id, &scopes)?;
    }

    let now = st.now();
    let mut store = st.store();
    let found = store.connections.values_mut().find(|t| {
        t.app_id == app_id
            && match level {
                Level::User => t.user_id == user_id && t.tenant_id == tenant,
                Level::Tenant => t.user_id.is_none() && t.tenant_id == tenant,
            }
    });
    let Some(t) = found else {
        let who = match (&user_id, &tenant) {
            (Some(u), Some(t)) => format!("user {u:?} in tenant {t:?}"),
            (Some(u), None) => format!("user {u:?}"),
            (None, Some(t)) => format!("tenant {t:?}"),
            (None, None) => "nobody".into(),
        };
        return Err(plain(err(
            StatusCode::NOT_FOUND,
            codes::NO_STORED_TOKEN,
            "Connection token not found",
            format!(
                "no stored {} token for {who}: connect first (POST /v1/mgmt/outbound/app/connect)",
                app.id
            ),
        )));
    };
    let missing: Vec<&String> = scopes.iter().filter(|s| !t.scopes.contains(s)).collect();
    if !missing.is_empty() {
        return Err(plain(err(
            StatusCode::NOT_FOUND,
            codes::SCOPES_NOT_GRANTED,
            "Connection token not found",
            format!(
                "the stored {} token lacks the scopes {missing:?}: reconnect with them",
                app.id
            ),
        )));
    }
    // The mock provider refreshes on request, and when an expired token has a refresh token.
    if force_refresh || (t.access_token_expiry <= now && t.refresh_token.is_some()) {
        t.refresh(now);
    }
    Ok((json!({ "token": token_json(t, with_refresh) }), detail))
}

/// Apply the Connections Policy; the allowing rule (or the denial reason) goes to the journal.
fn policy_check(
    st: &AppState,
    user: &User,
    client: Option<&str>,
    tenant: Option<&str>,
    app: &str,
    scopes: &[String],
) -> Result<String, (DescopeError, String)> {
    let rules = st.store().connection_policy.clone();
    let roles = roles_of(user, tenant);
    let subject = Subject {
        user: Some(&user.id),
        roles: &roles,
        client,
        tenant,
        app: Some(app),
    };
    let decisions: Vec<_> = if scopes.is_empty() {
        vec![decide(&rules, &subject, None)]
    } else {
        scopes
            .iter()
            .map(|s| decide(&rules, &subject, Some(s)))
            .collect()
    };
    match decisions.iter().find(|d| !d.allowed) {
        Some(d) => {
            let e = err(
                StatusCode::FORBIDDEN,
                codes::POLICY_DENIED,
                &format!("Denied by Connections Policy: {}", d.reason),
                format!(
                    "the Connections Policy does not allow user {:?} this {app:?} connection",
                    user.id
                ),
            );
            Err((e, format!("policy denied: {}", d.reason)))
        }
        None => Ok(decisions
            .iter()
            .map(|d| d.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

fn require_mgmt(st: &AppState, headers: &HeaderMap) -> Result<(), DescopeError> {
    crate::routes::mgmt::require_management_key(st, headers)
}

fn mgmt_response(result: Result<Value, DescopeError>) -> Response {
    let mut r = match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    r.extensions_mut()
        .insert(Credential("bearer-management-key"));
    r
}

/// `POST /v1/mgmt/outbound/app/user/oauthtoken/upload` (descope-api.md §7.6).
async fn upload_user(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    mgmt_response(upload(&st, &headers, &body, Level::User))
}

/// `POST /v1/mgmt/outbound/app/tenant/oauthtoken/upload`.
async fn upload_tenant(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    mgmt_response(upload(&st, &headers, &body, Level::Tenant))
}

fn upload(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    level: Level,
) -> Result<Value, DescopeError> {
    require_mgmt(st, headers)?;
    let o = body_object(body)?;
    let app_id = opt_str(&o, "appId")?.ok_or_else(|| DescopeError::missing("appId is required"))?;
    let app = app(st, &app_id)?;
    let tenant = opt_str(&o, "tenantId")?;
    let user_id = match level {
        Level::User => {
            let id = opt_str(&o, "userId")?
                .ok_or_else(|| DescopeError::missing("userId is required"))?;
            Some(user(st, &id)?.id)
        }
        Level::Tenant => None,
    };
    if level == Level::Tenant && tenant.is_none() {
        return Err(DescopeError::missing("tenantId is required"));
    }
    if let Some(t) = &tenant {
        check_tenant(st, t)?;
    }
    let scopes = opt_strings(&o, "scopes")?.unwrap_or_else(|| app.scopes.clone());
    let now = st.now();
    let expiry = match o.get("accessTokenExpiry") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => Some(
            s.parse::<i64>()
                .map_err(|_| DescopeError::invalid("accessTokenExpiry must be epoch seconds"))?,
        ),
        Some(_) => {
            return Err(DescopeError::invalid(
                "accessTokenExpiry must be epoch seconds",
            ));
        }
    };
    let mut t = ConnToken::new(
        &app_id,
        user_id.as_deref(),
        tenant.as_deref(),
        scopes,
        false,
        app.token_ttl as i64,
        now,
        "upload",
    );
    if let Some(a) = opt_str(&o, "accessToken")? {
        t.access_token = a;
    }
    t.refresh_token = opt_str(&o, "refreshToken")?;
    if let Some(e) = expiry {
        t.access_token_expiry = e;
    }
    if let Some(tt) = opt_str(&o, "accessTokenType")? {
        t.access_token_type = tt;
    }
    if let Some(g) = opt_str(&o, "grantedBy")? {
        t.granted_by = g;
    }
    let mut store = st.store();
    store.connections.retain(|_, x| {
        !(x.app_id == t.app_id && x.user_id == t.user_id && x.tenant_id == t.tenant_id)
    });
    store.connections.insert(t.id.clone(), t.clone());
    Ok(json!({ "token": token_json(&t, false) }))
}

#[derive(Debug, Deserialize)]
struct DeleteUserTokens {
    #[serde(rename = "appId", default)]
    app_id: Option<String>,
    #[serde(rename = "userId", default)]
    user_id: Option<String>,
}

/// `DELETE /v1/mgmt/outbound/user/tokens?appId=&userId=`: delete a user's tokens (of one app).
async fn delete_user_tokens(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeleteUserTokens>,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let uid = required_user(&st, q.user_id)?;
        let app = q.app_id.filter(|a| !a.is_empty());
        let mut store = st.store();
        let before = store.connections.len();
        store.connections.retain(|_, t| {
            !(t.user_id.as_deref() == Some(uid.as_str())
                && app.as_ref().is_none_or(|a| &t.app_id == a))
        });
        Ok(json!({ "deleted": before - store.connections.len() }))
    })();
    mgmt_response(result)
}

#[derive(Debug, Deserialize)]
struct DeleteToken {
    #[serde(default)]
    id: Option<String>,
}

/// `DELETE /v1/mgmt/outbound/token?id=`.
async fn delete_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeleteToken>,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let id =
            q.id.filter(|i| !i.is_empty())
                .ok_or_else(|| DescopeError::missing("id is required"))?;
        match st.store().connections.remove(&id) {
            Some(_) => Ok(json!({ "deleted": 1 })),
            None => Err(err(
                StatusCode::NOT_FOUND,
                codes::NO_STORED_TOKEN,
                "Connection token not found",
                format!("no token {id:?}"),
            )),
        }
    })();
    mgmt_response(result)
}

#[derive(Debug, Deserialize)]
struct AppsWithUserToken {
    #[serde(rename = "userId", default)]
    user_id: Option<String>,
    #[serde(rename = "tenantId", default)]
    tenant_id: Option<String>,
}

/// `GET /v1/mgmt/outbound/apps-with-user-token?userId=&tenantId=` → `{"appIds": [...]}`.
async fn apps_with_user_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AppsWithUserToken>,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let uid = required_user(&st, q.user_id)?;
        let tenant = q.tenant_id.filter(|t| !t.is_empty());
        let store = st.store();
        let mut ids: Vec<&String> = store
            .connections
            .values()
            .filter(|t| {
                t.user_id.as_deref() == Some(uid.as_str())
                    && (tenant.is_none() || t.tenant_id == tenant)
            })
            .map(|t| &t.app_id)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(json!({ "appIds": ids }))
    })();
    mgmt_response(result)
}

/// `POST /v1/mgmt/outbound/app/connect` → `{"url"}`: a GET of the URL completes the provider's
/// OAuth dance headlessly (stores or updates the connection token, subject to policy).
async fn connect(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let c = caller(&st, &headers);
    let cred = credential(&c);
    let result = c
        .and_then(|c| start_connect(&st, &c, &body))
        .map(|v| (v, "connect started".to_string()))
        .map_err(|e| {
            let d = e.message.clone();
            (e, d)
        });
    respond(result, cred)
}

fn start_connect(st: &AppState, c: &Caller, body: &[u8]) -> Result<Value, DescopeError> {
    let o = body_object(body)?;
    let app_id = opt_str(&o, "appId")?.ok_or_else(|| DescopeError::missing("appId is required"))?;
    let app = app(st, &app_id)?;
    let (redirect_url, scopes) = match o.get("options") {
        None | Some(Value::Null) => (None, Vec::new()),
        Some(Value::Object(opts)) => (
            opt_str(opts, "redirectUrl")?,
            opt_strings(opts, "scopes")?.unwrap_or_default(),
        ),
        Some(_) => return Err(DescopeError::invalid("options must be an object")),
    };
    if let Some(r) = &redirect_url {
        url::Url::parse(r)
            .map_err(|e| DescopeError::invalid(format!("options.redirectUrl is not a URL: {e}")))?;
    }
    if let Some(bad) = scopes.iter().find(|s| !app.scopes.contains(s)) {
        return Err(DescopeError::invalid(format!(
            "scope {bad:?} is not a scope of app {app_id:?}"
        )));
    }
    let tenant = opt_str(&o, "tenantId")?;
    if let Some(t) = &tenant {
        check_tenant(st, t)?;
    }
    let (user_id, client_id, by_key) = match c {
        Caller::Management => {
            let id = opt_str(&o, "userId")?
                .ok_or_else(|| DescopeError::missing("userId is required with a management key"))?;
            (user(st, &id)?.id, None, true)
        }
        Caller::User {
            sub,
            client,
            scopes,
            ..
        } => {
            if !scopes.iter().any(|s| s == OUTBOUND_SCOPE) {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    codes::MISSING_OUTBOUND_SCOPE,
                    "Missing scope",
                    format!("the access token lacks the scope {OUTBOUND_SCOPE:?}"),
                ));
            }
            (user(st, sub)?.id, client.clone(), false)
        }
    };
    // A user's connection in a tenant needs membership, as fetches do (E063007).
    if let Some(t) = &tenant
        && !user(st, &user_id)?.tenants.iter().any(|m| &m.id == t)
    {
        return Err(err(
            StatusCode::FORBIDDEN,
            codes::NOT_TENANT_MEMBER,
            "Forbidden",
            format!("user {user_id:?} is not a member of tenant {t:?}"),
        ));
    }
    let state = crate::tokens::random_id();
    let now = st.now();
    st.store().connects.insert(
        state.clone(),
        ConnectRequest {
            app_id,
            user_id,
            tenant_id: tenant,
            scopes,
            redirect_url,
            client_id,
            by_management_key: by_key,
            expires_at: now + 600,
        },
    );
    Ok(json!({ "url": format!("{}/v1/outbound/connect/{state}", st.base_url) }))
}

/// `GET /v1/outbound/connect/{state}`: the user "completes the provider's consent".
async fn complete_connect(State(st): State<AppState>, Path(state): Path<String>) -> Response {
    let now = st.now();
    let req = st.store().connects.remove(&state);
    let Some(req) = req.filter(|r| r.expires_at >= now) else {
        return err(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "Not found",
            "unknown, used or expired connect URL",
        )
        .into_response();
    };
    let app = match app(&st, &req.app_id) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let mut scopes = if req.scopes.is_empty() {
        app.scopes.clone()
    } else {
        req.scopes.clone()
    };
    let mut detail = "management key: policies bypassed".to_string();
    if !req.by_management_key {
        let u = match user(&st, &req.user_id) {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        };
        // A connect that names no scopes gets the app's scopes the policy allows (least
        // privilege) and is denied only if it allows none; named scopes must all be allowed.
        if req.scopes.is_empty() {
            let rules = st.store().connection_policy.clone();
            let roles = roles_of(&u, req.tenant_id.as_deref());
            let subject = Subject {
                user: Some(&u.id),
                roles: &roles,
                client: req.client_id.as_deref(),
                tenant: req.tenant_id.as_deref(),
                app: Some(&app.id),
            };
            scopes.retain(|s| decide(&rules, &subject, Some(s)).allowed);
        }
        let asked = if req.scopes.is_empty() && !scopes.is_empty() {
            scopes.clone()
        } else {
            req.scopes.clone()
        };
        match policy_check(
            &st,
            &u,
            req.client_id.as_deref(),
            req.tenant_id.as_deref(),
            &app.id,
            &asked,
        ) {
            Ok(d) => detail = d,
            Err((e, d)) => {
                let mut r = match &req.redirect_url {
                    Some(url) => redirect(
                        url,
                        &[
                            ("error", "access_denied"),
                            ("error_description", &e.message),
                            ("appId", &app.id),
                        ],
                    ),
                    None => e.clone().into_response(),
                };
                r.extensions_mut().insert(JournalDetail(d));
                r.extensions_mut().insert(OutcomeCode(e.code.to_string()));
                return r;
            }
        }
    }
    let token = {
        let mut store = st.store();
        let existing = store.connections.values_mut().find(|t| {
            t.app_id == req.app_id
                && t.user_id.as_deref() == Some(req.user_id.as_str())
                && t.tenant_id == req.tenant_id
        });
        match existing {
            Some(t) => {
                t.scopes = scopes;
                t.granted_by = "connect".into();
                t.refresh(now);
                t.clone()
            }
            None => {
                let t = ConnToken::new(
                    &app.id,
                    Some(&req.user_id),
                    req.tenant_id.as_deref(),
                    scopes,
                    true,
                    app.token_ttl as i64,
                    now,
                    "connect",
                );
                store.connections.insert(t.id.clone(), t.clone());
                t
            }
        }
    };
    let mut r = match &req.redirect_url {
        Some(url) => redirect(url, &[("connected", &app.id)]),
        None => axum::Json(json!({"connected": true, "token": token_json(&token, false)}))
            .into_response(),
    };
    r.extensions_mut().insert(JournalDetail(detail));
    r
}

fn redirect(url: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut u) = url::Url::parse(url) else {
        return DescopeError::invalid("redirectUrl does not parse").into_response();
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
}

/// `POST /v1/mgmt/thirdparty/consents/search`: a user's consents to MCP clients are the grants
/// (sessions) mock-as holds; `appId` is the OAuth client id.
async fn consents_search(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let o = if body.is_empty() {
            Map::new()
        } else {
            body_object(&body)?
        };
        let app = opt_str(&o, "appId")?;
        let user = opt_str(&o, "userId")?;
        let id = opt_str(&o, "consentId")?;
        let store = st.store();
        let mut consents: Vec<Value> = store
            .sessions
            .values()
            .filter(|s| !s.revoked && s.user_id.is_some())
            .filter(|s| app.as_ref().is_none_or(|a| &s.client_id == a))
            .filter(|s| user.as_ref().is_none_or(|u| s.user_id.as_ref() == Some(u)))
            .filter(|s| id.as_ref().is_none_or(|i| &s.id == i))
            .map(|s| {
                json!({"id": s.id, "appId": s.client_id, "userId": s.user_id, "scopes": s.scopes,
                       "grantedBy": s.user_id, "createdTime": s.created, "mcpServerId": s.server_id})
            })
            .collect();
        consents.sort_by(|a, b| a["createdTime"].as_i64().cmp(&b["createdTime"].as_i64()));
        Ok(json!({ "consents": consents }))
    })();
    mgmt_response(result)
}

/// `POST /v1/mgmt/thirdparty/consents/delete`: revoke the matching grants; their refresh tokens
/// and access tokens stop working at once (connection fetches included).
async fn consents_delete(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let o = body_object(&body)?;
        let ids = opt_strings(&o, "consentIds")?;
        let app = opt_str(&o, "appId")?;
        let users = opt_strings(&o, "userIds")?;
        if ids.is_none() && app.is_none() && users.is_none() {
            return Err(DescopeError::missing("send consentIds, appId or userIds"));
        }
        let mut store = st.store();
        let matching: Vec<String> = store
            .sessions
            .values()
            .filter(|s| !s.revoked)
            .filter(|s| ids.as_ref().is_none_or(|i| i.contains(&s.id)))
            .filter(|s| app.as_ref().is_none_or(|a| &s.client_id == a))
            .filter(|s| {
                users
                    .as_ref()
                    .is_none_or(|u| s.user_id.as_ref().is_some_and(|x| u.contains(x)))
            })
            .map(|s| s.id.clone())
            .collect();
        for id in &matching {
            store.revoke_session(id, "consent deleted");
        }
        Ok(json!({ "deleted": matching.len() }))
    })();
    mgmt_response(result)
}
