//! The four connection-token fetch endpoints (mock-as/DESCOPE.md §7.1): user or tenant level, by
//! scopes or the latest token. A user's access token needs `outbound.token.fetch`, may fetch only
//! its own `sub`'s tokens and is subject to the Connections Policy; the journal records what was
//! asked for whether or not the fetch succeeds.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::caller::{Caller, caller, credential};
use super::{
    Level, app, body_object, check_tenant, err, opt_bool, opt_str, opt_strings, policy_check,
    respond, token_json, user,
};
use crate::config::OUTBOUND_SCOPE;
use crate::error::{DescopeError, codes};
use crate::routes::JournalConnection;
use crate::state::AppState;

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

pub(super) async fn user_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::User, true)
}

pub(super) async fn user_token_latest(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::User, false)
}

pub(super) async fn tenant_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_endpoint(&st, &headers, &body, Level::Tenant, true)
}

pub(super) async fn tenant_token_latest(
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

/// The four fetch endpoints (mock-as/DESCOPE.md §7.1).
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
    let found = store.connection_where(|t| {
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
