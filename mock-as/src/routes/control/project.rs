//! The project as a whole: `GET /_mock/info` (ids, issuers, discovery and JWKS URLs, users,
//! clients and management keys — everything a test needs to find its way) and
//! `POST /_mock/reset` (back to the configured state: keys, users, clients, sessions, faults,
//! journal, clock).

use axum::extract::State;
use serde_json::{Value, json};

use super::{R, ok};
use crate::error::MockError;
use crate::state::AppState;
use crate::tokens::IssuerStyle;

/// `GET /_mock/info`: everything a test needs to find its way.
pub(super) async fn info(State(st): State<AppState>) -> R {
    let servers: Vec<Value> = st
        .servers()
        .iter()
        .map(|s| {
            let iss = st.issuer(&s.id);
            json!({"id": s.id, "name": s.name, "resource": s.url, "issuer": iss,
                   "well_known": format!("{iss}/.well-known/openid-configuration"),
                   "oauth_metadata": format!("{iss}/.well-known/oauth-authorization-server"),
                   "scopes": s.scopes_supported(), "dcr": s.dcr, "cimd": s.cimd})
        })
        .collect();
    let store = st.store();
    ok(json!({
        "project_id": st.pid(),
        "base_url": st.base_url,
        "jwks_uri": st.jwks_uri(),
        "sdk_jwks_uri": format!("{}/v2/keys/{}", st.base_url, st.pid()),
        "servers": servers,
        "issuers": {
            "inbound-app": {
                "issuer": st.issuer_of(IssuerStyle::InboundApp, ""),
                "well_known": format!("{}/.well-known/openid-configuration", st.issuer_of(IssuerStyle::InboundApp, "")),
            },
            "project": {
                "issuer": st.issuer_of(IssuerStyle::Project, ""),
                "well_known": format!("{}/.well-known/openid-configuration", st.issuer_of(IssuerStyle::Project, "")),
            },
        },
        "default_user": st.config.project.default_user,
        "consent": st.config.project.consent,
        "tenants": st.config.tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        "users": store.user_ids(),
        "clients": store.client_ids(),
        "management_keys": st.config.management_keys.iter().map(|k| json!({"id": k.id, "secret": k.secret})).collect::<Vec<_>>(),
    }))
}

pub(super) async fn reset(State(st): State<AppState>) -> R {
    st.reset()
        .map_err(|e| MockError::bad("reset_failed", e.to_string()))?;
    ok(json!({"reset": true}))
}
