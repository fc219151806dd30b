//! Management endpoints for connection tokens (management key only): upload a provider token
//! for a user or a tenant (mock-as/DESCOPE.md §7.6), delete a user's tokens or one token, and list
//! the apps a user has a token for.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Level, app, body_object, check_tenant, err, mgmt_response, opt_str, opt_strings, require_mgmt,
    required_user, token_json, user,
};
use crate::error::{DescopeError, codes};
use crate::state::AppState;
use crate::store::ConnToken;

/// `POST /v1/mgmt/outbound/app/user/oauthtoken/upload` (mock-as/DESCOPE.md §7.6).
pub(super) async fn upload_user(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    mgmt_response(upload(&st, &headers, &body, Level::User))
}

/// `POST /v1/mgmt/outbound/app/tenant/oauthtoken/upload`.
pub(super) async fn upload_tenant(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    st.store().put_connection(t.clone());
    Ok(json!({ "token": token_json(&t, false) }))
}

#[derive(Debug, Deserialize)]
pub(super) struct DeleteUserTokens {
    #[serde(rename = "appId", default)]
    app_id: Option<String>,
    #[serde(rename = "userId", default)]
    user_id: Option<String>,
}

/// `DELETE /v1/mgmt/outbound/user/tokens?appId=&userId=`: delete a user's tokens (of one app).
pub(super) async fn delete_user_tokens(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeleteUserTokens>,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let uid = required_user(&st, q.user_id)?;
        let app = q.app_id.filter(|a| !a.is_empty());
        let deleted = st.store().remove_connections_where(|t| {
            t.user_id.as_deref() == Some(uid.as_str())
                && app.as_ref().is_none_or(|a| &t.app_id == a)
        });
        Ok(json!({ "deleted": deleted }))
    })();
    mgmt_response(result)
}

#[derive(Debug, Deserialize)]
pub(super) struct DeleteToken {
    #[serde(default)]
    id: Option<String>,
}

/// `DELETE /v1/mgmt/outbound/token?id=`.
pub(super) async fn delete_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeleteToken>,
) -> Response {
    let result = (|| {
        require_mgmt(&st, &headers)?;
        let id =
            q.id.filter(|i| !i.is_empty())
                .ok_or_else(|| DescopeError::missing("id is required"))?;
        match st.store().remove_connection(&id) {
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
pub(super) struct AppsWithUserToken {
    #[serde(rename = "userId", default)]
    user_id: Option<String>,
    #[serde(rename = "tenantId", default)]
    tenant_id: Option<String>,
}

/// `GET /v1/mgmt/outbound/apps-with-user-token?userId=&tenantId=` → `{"appIds": [...]}`.
pub(super) async fn apps_with_user_token(
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
            .connections()
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
