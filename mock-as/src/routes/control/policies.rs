//! `/_mock/policies`: the Access Control Plane's policies in force (mock-as/DESCOPE.md §11) —
//! replace the Connections Policy or a server's MCP Server (consent) Policy, or add and delete
//! one named rule so concurrent tests each manage their own. Effective on the next request.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::{R, ok};
use crate::error::MockError;
use crate::policy::Rule;
use crate::state::AppState;

/// `GET /_mock/policies`: the policies in force.
pub(super) async fn policies(State(st): State<AppState>) -> R {
    let store = st.store();
    ok(json!({"consent": store.consent_policies, "connections": store.connection_policy}))
}

fn check_rules(st: &AppState, rules: &[Rule], for_connections: bool) -> Result<(), MockError> {
    for (i, r) in rules.iter().enumerate() {
        if !for_connections && !r.apps.is_empty() {
            return Err(MockError::bad(
                "invalid_policy",
                format!("[{i}].apps: apps belong in the connections policy"),
            ));
        }
        if let Some(a) = r
            .apps
            .iter()
            .find(|a| !st.apps().iter().any(|x| &x.id == *a))
        {
            return Err(MockError::bad(
                "invalid_policy",
                format!("[{i}].apps: unknown outbound app {a:?}"),
            ));
        }
        if let Some(t) = r
            .tenants
            .iter()
            .find(|t| !st.config.tenants.iter().any(|x| &x.id == *t))
        {
            return Err(MockError::bad(
                "invalid_policy",
                format!("[{i}].tenants: unknown tenant {t:?}"),
            ));
        }
    }
    Ok(())
}

/// `PUT /_mock/policies/connections`: replace the Connections Policy (a JSON array of rules;
/// `[]` = no policy). Effective on the next request.
pub(super) async fn put_connection_policy(
    State(st): State<AppState>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    check_rules(&st, &rules, true)?;
    st.store().connection_policy = rules.clone();
    ok(json!({ "connections": rules }))
}

/// `PUT /_mock/policies/consent/{sid}`: replace a server's MCP Server Policy.
pub(super) async fn put_consent_policy(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    if st.server(&sid).is_none() {
        return Err(MockError::not_found(
            "unknown_server",
            format!("no MCP server {sid:?}"),
        ));
    }
    check_rules(&st, &rules, false)?;
    st.store()
        .consent_policies
        .insert(sid.clone(), rules.clone());
    ok(json!({ "server": sid, "consent": rules }))
}

fn check_new_rule(rules: &[Rule], r: &Rule) -> Result<(), MockError> {
    if r.name.is_empty() {
        return Err(MockError::bad(
            "invalid_policy",
            "name: a rule added on its own needs a name (to delete it later)",
        ));
    }
    if rules.iter().any(|x| x.name == r.name) {
        return Err(MockError::bad(
            "invalid_policy",
            format!("name: a rule {:?} exists", r.name),
        ));
    }
    Ok(())
}

/// `POST /_mock/policies/connections/rules`: add one named rule (others are untouched, so
/// concurrent tests can each manage their own rules).
pub(super) async fn add_connection_rule(State(st): State<AppState>, Json(r): Json<Rule>) -> R {
    check_rules(&st, std::slice::from_ref(&r), true)?;
    let mut store = st.store();
    check_new_rule(&store.connection_policy, &r)?;
    store.connection_policy.push(r.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(r))).into_response())
}

/// `DELETE /_mock/policies/connections/rules/{name}`.
pub(super) async fn delete_connection_rule(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> R {
    let mut store = st.store();
    let before = store.connection_policy.len();
    store.connection_policy.retain(|r| r.name != name);
    if store.connection_policy.len() == before {
        return Err(MockError::not_found(
            "unknown_rule",
            format!("no connections rule {name:?}"),
        ));
    }
    ok(json!({ "deleted": name }))
}

/// `POST /_mock/policies/consent/{sid}/rules`: add one named rule to a server's consent policy.
pub(super) async fn add_consent_rule(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(r): Json<Rule>,
) -> R {
    if st.server(&sid).is_none() {
        return Err(MockError::not_found(
            "unknown_server",
            format!("no MCP server {sid:?}"),
        ));
    }
    check_rules(&st, std::slice::from_ref(&r), false)?;
    let mut store = st.store();
    let rules = store.consent_policies.entry(sid).or_default();
    check_new_rule(rules, &r)?;
    rules.push(r.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(r))).into_response())
}

/// `DELETE /_mock/policies/consent/{sid}/rules/{name}`.
pub(super) async fn delete_consent_rule(
    State(st): State<AppState>,
    Path((sid, name)): Path<(String, String)>,
) -> R {
    let mut store = st.store();
    let rules = store.consent_policies.entry(sid.clone()).or_default();
    let before = rules.len();
    rules.retain(|r| r.name != name);
    if rules.len() == before {
        return Err(MockError::not_found(
            "unknown_rule",
            format!("no consent rule {name:?} for {sid:?}"),
        ));
    }
    ok(json!({ "deleted": name }))
}
