//! `/_mock/policies`: the Access Control Plane's policies in force (mock-as/DESCOPE.md §11) —
//! replace the Connections Policy or a server's MCP Server (consent) Policy, or add and delete
//! one named rule so concurrent tests each manage their own. Effective on the next request.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use std::collections::HashSet;

use super::{R, ok};
use crate::error::MockError;
use crate::policy::Rule;
use crate::state::AppState;

/// `GET /_mock/policies`: the policies in force.
pub(super) async fn policies(State(st): State<AppState>) -> R {
    let store = st.store();
    ok(json!({"consent": store.consent_policies, "connections": store.connection_policy}))
}

/// The ids a rule may name right now: users (the store's: the control API adds some), tenants
/// and outbound apps.
pub(super) struct Known {
    users: Vec<String>,
    tenants: Vec<String>,
    apps: Vec<String>,
}

impl Known {
    pub(super) fn now(st: &AppState) -> Known {
        let users = st.store().users.keys().cloned().collect();
        Known {
            users,
            tenants: st.config.tenants.iter().map(|t| t.id.clone()).collect(),
            apps: st.apps().iter().map(|a| a.id.clone()).collect(),
        }
    }

    /// Run `f` with the sets [`crate::config::RuleScope`] takes.
    pub(super) fn with<T>(
        &self,
        server: Option<&crate::config::McpServer>,
        f: impl FnOnce(&crate::config::RuleScope<'_>) -> T,
    ) -> T {
        fn set(v: &[String]) -> HashSet<&str> {
            v.iter().map(String::as_str).collect()
        }
        let (users, tenants, apps) = (set(&self.users), set(&self.tenants), set(&self.apps));
        f(&crate::config::RuleScope {
            users: &users,
            tenants: &tenants,
            apps: &apps,
            server,
        })
    }
}

/// Check rules with the config loader's rule check ([`crate::config::check_rule`]); `server`
/// for an MCP Server Policy, `None` for the Connections Policy.
fn check_rules(
    st: &AppState,
    rules: &[Rule],
    server: Option<&crate::config::McpServer>,
) -> Result<(), MockError> {
    Known::now(st).with(server, |ctx| {
        for (i, r) in rules.iter().enumerate() {
            crate::config::check_rule(r, ctx).map_err(|(field, m)| {
                MockError::bad("invalid_policy", format!("[{i}].{field}: {m}"))
            })?;
        }
        Ok(())
    })
}

/// `PUT /_mock/policies/connections`: replace the Connections Policy (a JSON array of rules;
/// `[]` = no policy). Effective on the next request.
pub(super) async fn put_connection_policy(
    State(st): State<AppState>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    check_rules(&st, &rules, None)?;
    st.store().connection_policy = rules.clone();
    ok(json!({ "connections": rules }))
}

/// `PUT /_mock/policies/consent/{sid}`: replace a server's MCP Server Policy.
pub(super) async fn put_consent_policy(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    let Some(server) = st.server(&sid) else {
        return Err(MockError::not_found(
            "unknown_server",
            format!("no MCP server {sid:?}"),
        ));
    };
    check_rules(&st, &rules, Some(&server))?;
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
    check_rules(&st, std::slice::from_ref(&r), None)?;
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
    let Some(server) = st.server(&sid) else {
        return Err(MockError::not_found(
            "unknown_server",
            format!("no MCP server {sid:?}"),
        ));
    };
    check_rules(&st, std::slice::from_ref(&r), Some(&server))?;
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
