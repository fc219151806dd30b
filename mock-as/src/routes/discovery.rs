//! Authorization server metadata (RFC 8414) and OpenID discovery, in Descope's layout
//! (mock-as/DESCOPE.md §1-§2), at every URL MCP clients try ([MCP §Authorization Server Metadata Discovery](https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization#authorization-server-metadata-discovery)):
//! `<issuer>/.well-known/{openid-configuration,oauth-authorization-server}`, the RFC 8414 §3.1
//! path-inserted forms, the legacy project issuer `/v1/apps/<pid>/.well-known/...` (Inbound
//! Apps), and the project OIDC issuer `/<pid>/.well-known/...`.
//! `issuer` is byte-identical to the prefix the document was fetched under (RFC 8414 §3.3).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::DescopeError;
use crate::protocol::{AuthMethod, GrantType};
use crate::state::AppState;

/// The discovery routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/apps/agentic/{pid}/{sid}/.well-known/openid-configuration",
            get(agentic),
        )
        .route(
            "/v1/apps/agentic/{pid}/{sid}/.well-known/oauth-authorization-server",
            get(agentic),
        )
        .route(
            "/.well-known/oauth-authorization-server/v1/apps/agentic/{pid}/{sid}",
            get(agentic),
        )
        .route(
            "/.well-known/openid-configuration/v1/apps/agentic/{pid}/{sid}",
            get(agentic),
        )
        .route(
            "/v1/apps/{pid}/.well-known/openid-configuration",
            get(legacy),
        )
        .route(
            "/v1/apps/{pid}/.well-known/oauth-authorization-server",
            get(legacy),
        )
        .route(
            "/.well-known/oauth-authorization-server/v1/apps/{pid}",
            get(legacy),
        )
        .route(
            "/.well-known/openid-configuration/v1/apps/{pid}",
            get(legacy),
        )
        .route("/{pid}/.well-known/openid-configuration", get(project))
        .route(
            "/{pid}/.well-known/oauth-authorization-server",
            get(project),
        )
        .route(
            "/.well-known/oauth-authorization-server/{pid}",
            get(project),
        )
        .route("/.well-known/openid-configuration/{pid}", get(project))
}

/// The project OIDC issuer `<base>/<pid>` (Descope's published API: `/{projectId}/.well-known/
/// openid-configuration`, `/{projectId}/.well-known/oauth-authorization-server`,
/// `/.well-known/oauth-authorization-server/{projectId}`), with Descope's OIDC endpoints
/// (`/oauth2/v1/{authorize,token,userinfo,revoke}`, docs "OIDC Endpoints Quickstart"). Tokens
/// of this issuer: [`crate::tokens::IssuerStyle::Project`].
async fn project(State(st): State<AppState>, Path(pid): Path<String>) -> Response {
    if pid != st.pid() {
        return unknown(&format!("unknown project {pid:?}"));
    }
    let base = &st.base_url;
    let mut doc = common(&st);
    let o = doc.as_object_mut().expect("object literal");
    o.insert("issuer".into(), json!(format!("{base}/{pid}")));
    for (k, path) in [
        ("authorization_endpoint", "authorize"),
        ("token_endpoint", "token"),
        ("userinfo_endpoint", "userinfo"),
        ("revocation_endpoint", "revoke"),
    ] {
        o.insert(k.into(), json!(format!("{base}/oauth2/v1/{path}")));
    }
    o.insert("scopes_supported".into(), json!(project_scopes(&st)));
    axum::Json(doc).into_response()
}

/// Every scope of every server entry, sorted.
fn project_scopes(st: &AppState) -> Vec<String> {
    let mut scopes: Vec<String> = st
        .servers()
        .iter()
        .flat_map(|s| s.scopes_supported())
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

fn unknown(what: &str) -> Response {
    DescopeError::not_found(what.to_string()).into_response()
}

async fn agentic(State(st): State<AppState>, Path((pid, sid)): Path<(String, String)>) -> Response {
    if pid != st.pid() {
        return unknown(&format!("unknown project {pid:?}"));
    }
    let Some(server) = st.server(&sid) else {
        return unknown(&format!("project {pid} has no MCP server {sid:?}"));
    };
    let base = &st.base_url;
    let mut doc = common(&st);
    let o = doc.as_object_mut().expect("object literal");
    o.insert("issuer".into(), json!(st.issuer(&sid)));
    o.insert(
        "authorization_endpoint".into(),
        json!(format!(
            "{base}/oauth2/v1/apps/agentic/{pid}/{sid}/authorize"
        )),
    );
    o.insert(
        "token_endpoint".into(),
        json!(format!("{base}/oauth2/v1/apps/agentic/{pid}/{sid}/token")),
    );
    o.insert("scopes_supported".into(), json!(server.scopes_supported()));
    if server.dcr {
        o.insert(
            "registration_endpoint".into(),
            json!(format!("{base}/v1/mgmt/mcp/client/{pid}/{sid}/register")),
        );
    }
    if server.cimd {
        o.insert("client_id_metadata_document_supported".into(), json!(true));
    }
    axum::Json(doc).into_response()
}

async fn legacy(State(st): State<AppState>, Path(pid): Path<String>) -> Response {
    if pid != st.pid() {
        return unknown(&format!("unknown project {pid:?}"));
    }
    let base = &st.base_url;
    let mut doc = common(&st);
    let o = doc.as_object_mut().expect("object literal");
    o.insert("issuer".into(), json!(format!("{base}/v1/apps/{pid}")));
    o.insert(
        "authorization_endpoint".into(),
        json!(format!("{base}/oauth2/v1/apps/authorize")),
    );
    o.insert(
        "token_endpoint".into(),
        json!(format!("{base}/oauth2/v1/apps/token")),
    );
    o.insert("scopes_supported".into(), json!(project_scopes(&st)));
    axum::Json(doc).into_response()
}

/// Fields shared by every document. `introspection_endpoint` is a mock-as extension: real
/// Descope documents have none (mock-as/DESCOPE.md §2).
fn common(st: &AppState) -> Value {
    let base = &st.base_url;
    let pid = st.pid();
    json!({
        "jwks_uri": st.jwks_uri(),
        "userinfo_endpoint": format!("{base}/oauth2/v1/apps/{pid}/userinfo"),
        "revocation_endpoint": format!("{base}/oauth2/v1/apps/{pid}/revoke"),
        "introspection_endpoint": format!("{base}/oauth2/v1/apps/{pid}/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "aud", "iat", "exp", "sub", "name", "email", "email_verified"],
        "token_endpoint_auth_methods_supported": AuthMethod::ALL,
        "revocation_endpoint_auth_methods_supported": AuthMethod::ALL,
        "introspection_endpoint_auth_methods_supported": [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": GrantType::ALL,
        "authorization_response_iss_parameter_supported": true,
    })
}
