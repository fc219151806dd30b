//! Connection (outbound app) tokens, Descope's management paths for them, third-party consents,
//! and the connect (re-consent) flow (mock-as/DESCOPE.md §7, §11).
//!
//! Callers authenticate with `Authorization: Bearer <pid>:<secret>` split on the first `:`
//! (mock-as/DESCOPE.md §7.2): a management key (full access, policies bypassed) or an MCP access
//! token issued by mock-as (verified; must carry `outbound.token.fetch`; `userId` must be its
//! `sub`; the Connections Policy applies). Bodies are accepted as every SDK sends them: explicit
//! nulls (descope-py), omitted fields (node-sdk), `options: {}` (descope-mcp), `loginId` for
//! `userId`. Error codes are README "Connections and policies".
//!
//! Layout: `caller` (who is calling), `fetch` (the four token fetches), `manage` (uploads,
//! deletes, apps with a user token), `connect` (the connect flow), `consents` (third-party
//! consents); the router and what they share (body fields, lookups, the token object, the
//! Connections Policy check, responses) are here.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

use crate::config::{OutboundApp, User};
use crate::error::{DescopeError, codes};
use crate::policy::{Subject, decide, roles_of};
use crate::routes::{Credential, JournalDetail};
use crate::state::AppState;
use crate::store::ConnToken;

mod caller;
mod connect;
mod consents;
mod fetch;
mod manage;

/// The connection routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/outbound/app/user/token", post(fetch::user_token))
        .route(
            "/v1/mgmt/outbound/app/user/token/latest",
            post(fetch::user_token_latest),
        )
        .route(
            "/v1/mgmt/outbound/app/tenant/token",
            post(fetch::tenant_token),
        )
        .route(
            "/v1/mgmt/outbound/app/tenant/token/latest",
            post(fetch::tenant_token_latest),
        )
        .route(
            "/v1/mgmt/outbound/app/user/oauthtoken/upload",
            post(manage::upload_user),
        )
        .route(
            "/v1/mgmt/outbound/app/tenant/oauthtoken/upload",
            post(manage::upload_tenant),
        )
        .route(
            "/v1/mgmt/outbound/user/tokens",
            delete(manage::delete_user_tokens),
        )
        .route("/v1/mgmt/outbound/token", delete(manage::delete_token))
        .route(
            "/v1/mgmt/outbound/apps-with-user-token",
            get(manage::apps_with_user_token),
        )
        .route("/v1/mgmt/outbound/app/connect", post(connect::connect))
        .route(
            "/v1/outbound/connect/{state}",
            get(connect::complete_connect).post(connect::decide_connect),
        )
        .route(
            "/v1/mgmt/thirdparty/consents/search",
            post(consents::consents_search),
        )
        .route(
            "/v1/mgmt/thirdparty/consents/delete",
            post(consents::consents_delete),
        )
}

/// Which kind of fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    User,
    Tenant,
}

fn err(status: StatusCode, code: &'static str, desc: &str, msg: impl Into<String>) -> DescopeError {
    DescopeError::new(status, code, desc, msg)
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

/// The token object of Descope's responses (mock-as/DESCOPE.md §7.4). Times are strings of epoch
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

/// Apply the Connections Policy; the allowing rule (or the denial reason) goes to the journal.
fn policy_check(
    st: &AppState,
    user: &User,
    client: Option<&str>,
    tenant: Option<&str>,
    app: &str,
    scopes: &[String],
) -> Result<String, (DescopeError, String)> {
    let rules = st
        .store()
        .rules(crate::store::PolicyRef::Connections)
        .to_vec();
    let roles = roles_of(user, tenant);
    let subject = Subject {
        user: Some(&user.id),
        roles: &roles,
        client,
        tenant,
        app: Some(app),
        resource: None,
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
    r.extensions_mut().insert(Credential::BearerManagementKey);
    r
}
