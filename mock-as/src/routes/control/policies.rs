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
use crate::store::PolicyRef;

/// `GET /_mock/policies`: the policies in force.
pub(super) async fn policies(State(st): State<AppState>) -> R {
    let store = st.store();
    ok(json!({
        "consent": store.consent_policies(),
        "connections": store.rules(PolicyRef::Connections),
        "token_exchange": store.rules(PolicyRef::TokenExchange),
    }))
}

/// The ids a rule may name right now: users (the store's: the control API adds some), tenants
/// and outbound apps.
pub(super) struct Known {
    users: Vec<String>,
    tenants: Vec<String>,
    apps: Vec<String>,
    urls: Vec<String>,
}

impl Known {
    pub(super) fn now(st: &AppState) -> Known {
        let users = st.store().user_ids();
        Known {
            users,
            tenants: st.config.tenants.iter().map(|t| t.id.clone()).collect(),
            apps: st.apps().iter().map(|a| a.id.clone()).collect(),
            urls: st.servers().iter().map(|s| s.url.clone()).collect(),
        }
    }

    /// Run `f` with the sets [`crate::config::RuleScope`] takes.
    pub(super) fn with<T>(
        &self,
        server: Option<&crate::config::McpServer>,
        f: impl FnOnce(&crate::config::RuleScope<'_>) -> T,
    ) -> T {
        self.with_policy(server, false, f)
    }

    /// As [`Known::with`]; `exchange` for the Token Exchange Policy (rules name resources).
    pub(super) fn with_policy<T>(
        &self,
        server: Option<&crate::config::McpServer>,
        exchange: bool,
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
            resources: exchange.then_some(self.urls.as_slice()),
        })
    }
}

/// Check rules with the config loader's rule check ([`crate::config::check_rule`]); `server`
/// for an MCP Server Policy, `None` for the Connections and Token Exchange Policies.
fn check_rules(
    st: &AppState,
    rules: &[Rule],
    server: Option<&crate::config::McpServer>,
) -> Result<(), MockError> {
    check_policy(st, rules, server, false)
}

fn check_policy(
    st: &AppState,
    rules: &[Rule],
    server: Option<&crate::config::McpServer>,
    exchange: bool,
) -> Result<(), MockError> {
    Known::now(st).with_policy(server, exchange, |ctx| {
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
    st.store().set_rules(PolicyRef::Connections, rules.clone());
    ok(json!({ "connections": rules }))
}

/// The server entry named in the path, or 404.
fn server_or_404(
    st: &AppState,
    sid: &str,
) -> Result<std::sync::Arc<crate::config::McpServer>, MockError> {
    st.server(sid)
        .ok_or_else(|| MockError::not_found("unknown_server", format!("no MCP server {sid:?}")))
}

/// `PUT /_mock/policies/consent/{sid}`: replace a server's MCP Server Policy.
pub(super) async fn put_consent_policy(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    let server = server_or_404(&st, &sid)?;
    check_rules(&st, &rules, Some(&server))?;
    st.store()
        .set_rules(PolicyRef::Consent(&sid), rules.clone());
    ok(json!({ "server": sid, "consent": rules }))
}

/// Add one named rule to a policy (names are unique within it).
fn add_rule(st: &AppState, p: PolicyRef<'_>, r: Rule) -> R {
    st.store()
        .add_rule(p, r.clone())
        .map_err(|e| MockError::bad("invalid_policy", e.to_string()))?;
    Ok((StatusCode::CREATED, axum::Json(json!(r))).into_response())
}

/// `POST /_mock/policies/connections/rules`: add one named rule (others are untouched, so
/// concurrent tests can each manage their own rules).
pub(super) async fn add_connection_rule(State(st): State<AppState>, Json(r): Json<Rule>) -> R {
    check_rules(&st, std::slice::from_ref(&r), None)?;
    add_rule(&st, PolicyRef::Connections, r)
}

/// `DELETE /_mock/policies/connections/rules/{name}`.
pub(super) async fn delete_connection_rule(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> R {
    if !st.store().remove_rule(PolicyRef::Connections, &name) {
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
    let server = server_or_404(&st, &sid)?;
    check_rules(&st, std::slice::from_ref(&r), Some(&server))?;
    add_rule(&st, PolicyRef::Consent(&sid), r)
}

/// `DELETE /_mock/policies/consent/{sid}/rules/{name}`.
pub(super) async fn delete_consent_rule(
    State(st): State<AppState>,
    Path((sid, name)): Path<(String, String)>,
) -> R {
    if !st.store().remove_rule(PolicyRef::Consent(&sid), &name) {
        return Err(MockError::not_found(
            "unknown_rule",
            format!("no consent rule {name:?} for {sid:?}"),
        ));
    }
    ok(json!({ "deleted": name }))
}

/// `PUT /_mock/policies/token-exchange`: replace the Token Exchange Policy (a JSON array of
/// rules; `[]` = every exchange refused). Effective on the next request.
pub(super) async fn put_exchange_policy(
    State(st): State<AppState>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    check_policy(&st, &rules, None, true)?;
    st.store()
        .set_rules(PolicyRef::TokenExchange, rules.clone());
    ok(json!({ "token_exchange": rules }))
}

/// `POST /_mock/policies/token-exchange/rules`: add one named rule.
pub(super) async fn add_exchange_rule(State(st): State<AppState>, Json(r): Json<Rule>) -> R {
    check_policy(&st, std::slice::from_ref(&r), None, true)?;
    add_rule(&st, PolicyRef::TokenExchange, r)
}

/// `DELETE /_mock/policies/token-exchange/rules/{name}`.
pub(super) async fn delete_exchange_rule(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> R {
    if !st.store().remove_rule(PolicyRef::TokenExchange, &name) {
        return Err(MockError::not_found(
            "unknown_rule",
            format!("no token exchange rule {name:?}"),
        ));
    }
    ok(json!({ "deleted": name }))
}
