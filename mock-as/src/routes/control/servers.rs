//! `/_mock/servers`: the MCP server entries, and `PATCH` to make one match the system under test
//! (its resource URL, scopes, DCR/CIMD, token lifetime, audience, scope claims).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;

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
        crate::config::check_resource_url(&u)
            .map_err(|m| MockError::bad("invalid_server", format!("url: {m}")))?;
        s.url = u;
    }
    if let Some(sc) = p.scopes {
        let mut seen = HashSet::new();
        for (i, d) in sc.iter().enumerate() {
            if crate::parse::parse_scope(&d.name).map(|v| v.len()) != Ok(1)
                || !seen.insert(d.name.clone())
            {
                return Err(MockError::bad(
                    "invalid_server",
                    format!(
                        "scopes[{i}].name: {:?} is not a single, unique scope token",
                        d.name
                    ),
                ));
            }
        }
        s.scopes = sc;
    }
    if let Some(v) = p.dcr {
        s.dcr = v;
    }
    if let Some(v) = p.cimd {
        s.cimd = v;
    }
    if let Some(v) = p.access_token_ttl {
        if v == 0 {
            return Err(MockError::bad(
                "invalid_server",
                "access_token_ttl: at least 1 second",
            ));
        }
        s.access_token_ttl = v;
    }
    if let Some(v) = p.audience {
        if v.is_empty() {
            return Err(MockError::bad(
                "invalid_server",
                "audience: at least one member",
            ));
        }
        s.audience = v;
    }
    if let Some(v) = p.scope_claims {
        s.scope_claims = v;
    }
    if let Some(v) = p.require_resource {
        s.require_resource = v;
    }
    st.put_server(s.clone());
    ok(json!(s))
}
