//! The connect (re-consent) flow (mock-as/DESCOPE.md §7, §11): `POST /v1/mgmt/outbound/app/connect`
//! returns a URL whose GET completes the provider's OAuth dance headlessly — storing or updating
//! the connection token, subject to the Connections Policy — and redirects to `redirectUrl` when
//! one was given.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::caller::{Caller, caller, credential};
use super::{
    app, body_object, check_tenant, err, opt_str, opt_strings, policy_check, respond, token_json,
    user,
};
use crate::config::{ConsentMode, OUTBOUND_SCOPE, User};
use crate::error::{DescopeError, OutcomeCode, codes};
use crate::policy::{Decision, Subject, decide, roles_of};
use crate::routes::JournalDetail;
use crate::state::AppState;
use crate::store::{ConnToken, ConnectRequest};

/// `POST /v1/mgmt/outbound/app/connect` → `{"url"}`: a GET of the URL completes the provider's
/// OAuth dance headlessly (stores or updates the connection token, subject to policy).
pub(super) async fn connect(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    st.store().put_connect(
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
            csrf: None,
        },
    );
    Ok(json!({ "url": format!("{}/v1/outbound/connect/{state}", st.base_url) }))
}

/// `GET /v1/outbound/connect/{state}`: the user "completes the provider's consent" — at once
/// (headless), or on a consent page whose form posts back here (interactive).
pub(super) async fn complete_connect(
    State(st): State<AppState>,
    Path(state): Path<String>,
) -> Response {
    let now = st.now();
    if st.config.project.consent == ConsentMode::Interactive {
        // The page does not consume the request; its form does. Each page gets a new token.
        let csrf = crate::tokens::random_id();
        let req = {
            let mut store = st.store();
            match store.connect_mut(&state).filter(|r| r.expires_at >= now) {
                Some(r) => {
                    r.csrf = Some(csrf.clone());
                    Some(r.clone())
                }
                None => None,
            }
        };
        return match req {
            Some(r) => connect_page(&st, &state, &csrf, &r),
            None => gone(),
        };
    }
    let req = st.store().take_connect(&state);
    match req.filter(|r| r.expires_at >= now) {
        Some(req) => finish_connect(&st, req, now),
        None => gone(),
    }
}

fn gone() -> Response {
    err(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        "Not found",
        "unknown, used or expired connect URL",
    )
    .into_response()
}

/// `POST /v1/outbound/connect/{state}` (interactive mode): the connect page's form, `csrf` and
/// `action` (`approve` or `deny`). The first POST consumes the request; a missing or wrong
/// token is `400 E011003` and the request is gone (RFC 6749 §10.12, as the consent page).
pub(super) async fn decide_connect(
    State(st): State<AppState>,
    Path(state): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match crate::routes::client_auth::read_params(&headers, &body, &[]) {
        Ok(p) => p,
        Err(e) => return DescopeError::invalid(e.description).into_response(),
    };
    let now = st.now();
    let req = st.store().take_connect(&state);
    let Some(req) = req.filter(|r| r.expires_at >= now) else {
        return gone();
    };
    let token_ok = match (&req.csrf, p.get("csrf")) {
        (Some(want), Some(got)) => {
            crate::routes::consent::constant_time_eq(want.as_bytes(), got.as_bytes())
        }
        _ => false,
    };
    if !token_ok {
        return DescopeError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "Invalid request",
            "the connect form's csrf token does not belong to this connect request; it is discarded",
        )
        .into_response();
    }
    match p.get("action") {
        Some("approve") => finish_connect(&st, req, now),
        Some("deny") => {
            let message = "the user denied the connection";
            let mut r = match &req.redirect_url {
                Some(url) => redirect(
                    url,
                    &[
                        ("error", "access_denied"),
                        ("error_description", message),
                        ("appId", &req.app_id),
                    ],
                ),
                None => err(
                    StatusCode::FORBIDDEN,
                    codes::FORBIDDEN,
                    "Forbidden",
                    message,
                )
                .into_response(),
            };
            r.extensions_mut()
                .insert(JournalDetail("denied on the connect page".into()));
            r
        }
        other => DescopeError::invalid(format!(
            "action must be approve or deny (got {:?})",
            other.unwrap_or_default()
        ))
        .into_response(),
    }
}

/// The interactive connect page: the app, who connects, the scopes and the Connections
/// Policy's verdict on each, Approve / Deny.
/// The Connections Policy's decision on one scope of a connect request by `u` for `app_id`: the
/// connect page shows it, the grant ([`finish_connect`]) applies it.
fn connection_decision(
    st: &AppState,
    req: &ConnectRequest,
    u: &User,
    app_id: &str,
    scope: &str,
) -> Decision {
    let rules = st
        .store()
        .rules(crate::store::PolicyRef::Connections)
        .to_vec();
    let roles = roles_of(u, req.tenant_id.as_deref());
    let subject = Subject {
        user: Some(&u.id),
        roles: &roles,
        client: req.client_id.as_deref(),
        tenant: req.tenant_id.as_deref(),
        app: Some(app_id),
        resource: None,
    };
    decide(&rules, &subject, Some(scope))
}

fn connect_page(st: &AppState, state: &str, csrf: &str, req: &ConnectRequest) -> Response {
    use crate::ui::{esc, form_csp, html, page};
    let Ok(app) = app(st, &req.app_id) else {
        return gone();
    };
    let scopes = if req.scopes.is_empty() {
        app.scopes.clone()
    } else {
        req.scopes.clone()
    };
    let u = user(st, &req.user_id).ok();
    let mut rows = String::new();
    for s in &scopes {
        let verdict = match (&u, req.by_management_key) {
            (_, true) => ("granted", "management key: policies bypassed".to_string()),
            (Some(u), false) => {
                let d = connection_decision(st, req, u, &app.id, s);
                (if d.allowed { "granted" } else { "dropped" }, d.reason)
            }
            (None, false) => ("dropped", "unknown user".to_string()),
        };
        rows.push_str(&format!(
            "<tr class=\"{}\" data-scope=\"{}\"><td><code>{}</code></td><td class=\"verdict\">{}: {}</td></tr>\n",
            verdict.0,
            esc(s),
            esc(s),
            if verdict.0 == "granted" { "allowed" } else { "denied" },
            esc(&verdict.1)
        ));
    }
    let name = if app.name.is_empty() {
        &app.id
    } else {
        &app.name
    };
    let body = format!(
        "<h1 id=\"heading\">Connect <span id=\"app-name\">{}</span></h1>\n<p class=\"muted\">app <code>{}</code> · for user <code id=\"user\">{}</code>{}{}</p>\n<form method=\"post\" action=\"{}\" id=\"connect\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n<div class=\"card\"><h2>Provider scopes</h2><table id=\"scopes\"><tr><th>scope</th><th>Connections Policy</th></tr>\n{rows}</table></div>\n<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"approve\" class=\"primary\" id=\"approve\">Approve</button><button type=\"submit\" name=\"action\" value=\"deny\" class=\"danger\" id=\"deny\">Deny</button></div>\n</form>\n",
        esc(name),
        esc(&app.id),
        esc(&req.user_id),
        req.tenant_id
            .as_deref()
            .map(|t| format!(" in tenant <code>{}</code>", esc(t)))
            .unwrap_or_default(),
        req.redirect_url
            .as_deref()
            .map(|r| format!(
                "<br>afterwards you go to <code id=\"redirect-url\">{}</code>",
                esc(r)
            ))
            .unwrap_or_default(),
        esc(&format!("{}/v1/outbound/connect/{state}", st.base_url)),
        esc(csrf),
    );
    let origin = req
        .redirect_url
        .as_deref()
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.origin().ascii_serialization());
    html(
        page(&format!("Connect {name}"), &body, ""),
        &form_csp(origin.as_deref()),
    )
}

/// Store or replace the connection token the request asks for, subject to the Connections
/// Policy, and answer as the connect URL does (redirect or JSON).
fn finish_connect(st: &AppState, req: ConnectRequest, now: i64) -> Response {
    let st = st.clone();
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
            scopes.retain(|s| connection_decision(&st, &req, &u, &app.id, s).allowed);
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
        let existing = store.connection_where(|t| {
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
                store.put_connection(t.clone());
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
