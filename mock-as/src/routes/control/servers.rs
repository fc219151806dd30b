//! `/_mock/servers`: the MCP server entries, and `PATCH` to make one match the system under test
//! (its resource URL, scopes, DCR/CIMD and their allow-lists and rate limit, token lifetime,
//! audience, scope claims).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;
use crate::store::PolicyRef;

pub(super) async fn list_servers(State(st): State<AppState>) -> R {
    let all: Vec<Value> = st.servers().iter().map(|s| json!(**s)).collect();
    ok(json!({ "servers": all }))
}

pub(super) async fn get_server(State(st): State<AppState>, Path(sid): Path<String>) -> R {
    let s = st
        .server(&sid)
        .ok_or_else(|| MockError::not_found("unknown_server", format!("no MCP server {sid:?}")))?;
    ok(json!(*s))
}

/// `PATCH /_mock/servers/{sid}` body: the fields to change (same names as `[[mcp_servers]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerPatch {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<crate::config::ScopeDef>>,
    #[serde(default)]
    dcr: Option<bool>,
    #[serde(default)]
    cimd: Option<bool>,
    #[serde(default)]
    access_token_ttl: Option<u64>,
    #[serde(default)]
    audience: Option<Vec<crate::config::AudMember>>,
    #[serde(default)]
    scope_claims: Option<crate::config::ScopeClaims>,
    #[serde(default)]
    require_resource: Option<bool>,
    /// Replaces the server's MCP Server Policy in the same step (as `PUT
    /// /_mock/policies/consent/{sid}`), so scopes and the rules that grant them change together.
    #[serde(default)]
    consent_policy: Option<Vec<crate::policy::Rule>>,
    #[serde(default)]
    dcr_allowed_redirect_domains: Option<Vec<String>>,
    /// `null` removes the limit; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    dcr_rate_limit_per_minute: Option<Option<u32>>,
    #[serde(default)]
    cimd_allowed_domains: Option<Vec<String>>,
    /// `null` makes consents last forever again; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    consent_ttl: Option<Option<u64>>,
}

/// A field that may be sent as `null` (Some(None)) as well as omitted (None).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Check a changed server entry (its `consent_policy` = the MCP Server Policy that will be in
/// force) with the config loader's [`crate::config::check_server`], against the users, tenants
/// and apps that exist now. Returns (field, message). The control API's PATCH and Descope's
/// MCP server management API both change entries through it.
pub(crate) fn check_entry(
    st: &AppState,
    s: &crate::config::McpServer,
) -> Result<(), (String, String)> {
    super::policies::Known::now(st).with(None, |ctx| {
        crate::config::check_server(s, ctx.users, ctx.tenants, ctx.apps)
    })
}

/// Make a server entry match the system under test (its resource URL, its scopes, ...).
pub(super) async fn patch_server(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(p): Json<ServerPatch>,
) -> R {
    let cur = st
        .server(&sid)
        .ok_or_else(|| MockError::not_found("unknown_server", format!("no MCP server {sid:?}")))?;
    let mut s = (*cur).clone();
    if let Some(u) = p.url {
        s.url = u;
    }
    if let Some(sc) = p.scopes {
        s.scopes = sc;
    }
    if let Some(v) = p.dcr {
        s.dcr = v;
    }
    if let Some(v) = p.cimd {
        s.cimd = v;
    }
    if let Some(v) = p.access_token_ttl {
        s.access_token_ttl = v;
    }
    if let Some(v) = p.audience {
        s.audience = v;
    }
    if let Some(v) = p.scope_claims {
        s.scope_claims = v;
    }
    if let Some(v) = p.require_resource {
        s.require_resource = v;
    }
    if let Some(v) = p.dcr_allowed_redirect_domains {
        s.dcr_allowed_redirect_domains = v;
    }
    if let Some(v) = p.dcr_rate_limit_per_minute {
        s.dcr_rate_limit_per_minute = v;
    }
    if let Some(v) = p.cimd_allowed_domains {
        s.cimd_allowed_domains = v;
    }
    if let Some(v) = p.consent_ttl {
        s.consent_ttl = v;
    }
    // The patched entry passes the config loader's check (crate::config::check_server), with
    // the MCP Server Policy in force (its scopes must stay the server's); else nothing changes.
    let policy_given = p.consent_policy.is_some();
    let mut checked = s.clone();
    checked.consent_policy = match p.consent_policy {
        Some(rules) => rules,
        None => st.store().rules(PolicyRef::Consent(&sid)).to_vec(),
    };
    check_entry(&st, &checked).map_err(|(field, m)| {
            let hint = if field.starts_with("consent_policy") && !policy_given {
                " (the MCP Server Policy in force names it: send the new consent_policy in the same PATCH)"
            } else {
                ""
            };
        MockError::bad("invalid_server", format!("{field}: {m}{hint}"))
    })?;
    if policy_given {
        st.store()
            .set_rules(PolicyRef::Consent(&sid), checked.consent_policy.clone());
    }
    st.put_server(s.clone());
    ok(json!(s))
}
