//! The HTTP surface: one module per protocol surface, assembled by [`router`], wrapped in one
//! middleware ([`observe`]) that applies armed faults, guards the control API, turns framework
//! rejections (404, 405, 413, bad JSON) into the path family's error shape and writes the journal.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::clock::wall_millis;
use crate::error::{OutcomeCode, shaped};
use crate::parse::{parse_bearer, split_project_bearer};
use crate::state::AppState;
use crate::store::JournalEntry;

pub mod authorize;
pub mod client_auth;
pub mod connections;
pub mod consent;
pub mod control;
pub mod discovery;
pub mod exchange;
pub mod jwks;
pub mod mcp_servers;
pub mod mgmt;
pub mod register;
pub mod revoke;
pub mod token;
pub mod upstream;
pub mod userinfo;

/// Request bodies larger than this get 413 (in the path family's shape).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The TCP peer's IP address (`unknown` when served without connect info), set by
/// [`observe`] as a request extension for handlers that rate-limit or audit by client.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// A handler's note on which credential a request used, when the header alone does not say
/// (`client_secret_post` lives in the body): set a [`Credential`] as a response extension.
pub use crate::protocol::{Credential, Endpoint};

pub use crate::error::JournalDetail;

/// Spy upstream: whether the request carried a mock-as MCP access token. Response extension.
#[derive(Debug, Clone, Copy)]
pub struct Passthrough(pub bool);

/// A connection-token fetch's request as sent (app, level, user, tenant, scopes, latest, the
/// caller's subject), for the journal's `connection`: the harness learns what an MCP server
/// asked for even when the fetch was refused. Response extension.
#[derive(Debug, Clone)]
pub struct JournalConnection(pub serde_json::Value);

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(discovery::routes())
        .merge(jwks::routes())
        .merge(connections::routes())
        .merge(upstream::routes())
        .route(
            "/v1/mgmt/mcp/client/{pid}/{sid}/register",
            post(register::register),
        )
        .route(
            "/oauth2/v1/apps/agentic/{pid}/{sid}/authorize",
            get(authorize::get_agentic).post(authorize::post_agentic),
        )
        .route(
            "/oauth2/v1/apps/authorize",
            get(authorize::get_generic).post(authorize::post_generic),
        )
        .route(
            "/oauth2/v1/apps/agentic/{pid}/{sid}/token",
            post(token::agentic),
        )
        .route("/oauth2/v1/apps/token", post(token::generic))
        .route("/oauth2/v1/consent", post(consent::submit))
        .route("/oauth2/v1/apps/{pid}/revoke", post(revoke::revoke_project))
        .route("/oauth2/v1/apps/revoke", post(revoke::revoke_generic))
        .route(
            "/oauth2/v1/apps/{pid}/introspect",
            post(revoke::introspect_project),
        )
        .route(
            "/oauth2/v1/apps/introspect",
            post(revoke::introspect_generic),
        )
        .route(
            "/oauth2/v1/apps/{pid}/userinfo",
            get(userinfo::project).post(userinfo::project),
        )
        .route(
            "/oauth2/v1/apps/userinfo",
            get(userinfo::generic).post(userinfo::generic),
        )
        // Descope's project OIDC endpoints (issuer `<base>/<pid>`, discovery.rs `project`).
        .route(
            "/oauth2/v1/authorize",
            get(authorize::get_project).post(authorize::post_project),
        )
        .route("/oauth2/v1/token", post(token::generic))
        .route("/oauth2/v1/revoke", post(revoke::revoke_generic))
        .route(
            "/oauth2/v1/userinfo",
            get(userinfo::generic).post(userinfo::generic),
        )
        .route("/v1/mgmt/license", get(mgmt::license))
        .route(
            "/v1/mgmt/mcp/servers/all",
            get(mcp_servers::all).post(mcp_servers::all),
        )
        .route("/v1/mgmt/mcp/server/load", post(mcp_servers::load))
        .route("/v1/mgmt/mcp/server/create", post(mcp_servers::create))
        .route("/v1/mgmt/mcp/server/update", post(mcp_servers::update))
        .route(
            "/v1/mgmt/mcp/server/clients/search",
            post(mcp_servers::clients_search),
        )
        .nest("/_mock", control::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // A bug must still answer: a panic becomes a 500 (reshaped and journaled by `observe`).
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path().to_string();
    shaped(
        &path,
        StatusCode::NOT_FOUND,
        &format!("no endpoint at {} {path}", req.method()),
    )
}

/// The named endpoint a path belongs to: what faults and journal filters match on.
pub fn endpoint_of(path: &str) -> Endpoint {
    if path.starts_with("/_mock/") || path == "/_mock" {
        Endpoint::Control
    } else if path.ends_with("/.well-known/jwks.json") || path.starts_with("/v2/keys/") {
        Endpoint::Jwks
    } else if path.contains("/.well-known/openid-configuration")
        || path.contains("/.well-known/oauth-authorization-server")
    {
        Endpoint::Discovery
    } else if path.starts_with("/v1/mgmt/mcp/client/") && path.ends_with("/register") {
        Endpoint::Register
    } else if path.starts_with("/oauth2/") {
        match path.rsplit('/').next().unwrap_or_default() {
            // The consent form belongs to the authorization request it finishes.
            "authorize" | "consent" => Endpoint::Authorize,
            "token" => Endpoint::Token,
            "revoke" => Endpoint::Revoke,
            "introspect" => Endpoint::Introspect,
            "userinfo" => Endpoint::Userinfo,
            _ => Endpoint::Oauth2,
        }
    } else if path == "/v1/mgmt/license" {
        Endpoint::License
    } else if path.starts_with("/v1/mgmt/outbound/") || path.starts_with("/v1/outbound/") {
        Endpoint::Connections
    } else if path.starts_with("/v1/mgmt/thirdparty/") {
        Endpoint::Consents
    } else if path.starts_with("/v1/mgmt/") {
        Endpoint::Mgmt
    } else if path.starts_with("/_upstream/") {
        Endpoint::Upstream
    } else {
        Endpoint::Other
    }
}

/// Classify the Authorization header for the journal.
fn credential_of(state: &AppState, headers: &HeaderMap) -> Credential {
    let Some(h) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return if headers.contains_key(header::AUTHORIZATION) {
            Credential::Other
        } else {
            Credential::None
        };
    };
    if h.trim_start()
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
    {
        return Credential::Basic;
    }
    let Ok(tok) = parse_bearer(h) else {
        return Credential::Other;
    };
    let looks_jwt = |s: &str| s.matches('.').count() == 2;
    match split_project_bearer(tok) {
        (_, Some(secret)) if state.is_management_key(secret) => Credential::BearerManagementKey,
        (_, Some(secret)) if looks_jwt(secret) => Credential::BearerProjectJwt,
        (_, Some(_)) => Credential::BearerProjectOther,
        (t, None) if looks_jwt(t) => Credential::BearerJwt,
        (t, None) if t == state.pid() => Credential::BearerProject,
        _ => Credential::BearerOther,
    }
}

/// The `sub` of the bearer JWT a request carries (`Bearer <jwt>` or `Bearer <pid>:<jwt>`),
/// unverified: it only picks which armed faults apply (a fault's `user`).
fn bearer_subject(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = rest.trim();
    let jwt = rest.split_once(':').map_or(rest, |(_, j)| j);
    let data =
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Map<String, serde_json::Value>>(jwt)
            .ok()?;
    data.claims.get("sub")?.as_str().map(str::to_string)
}

/// Faults, admin gate, error reshaping and the journal, around every request.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    req.extensions_mut().insert(ClientIp(peer));
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let endpoint = endpoint_of(&path);
    let mut credential = credential_of(&state, req.headers());
    // The spy upstream records the Authorization header verbatim: the passthrough evidence.
    let authorization = (endpoint == Endpoint::Upstream).then(|| {
        req.headers()
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    });

    if endpoint == Endpoint::Control {
        if let Some(admin) = &state.admin_token {
            let ok = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| parse_bearer(h).ok())
                .is_some_and(|t| t == admin);
            if !ok {
                return shaped(
                    &path,
                    StatusCode::UNAUTHORIZED,
                    "the control API needs Authorization: Bearer <admin token> (--admin-token)",
                );
            }
        }
        // The control API is not journaled: the journal shows what the system under test did.
        return reshape(&path, next.run(req).await).await;
    }

    // Browser-based MCP clients (MCP Inspector) fetch discovery, JWKS, registration and tokens
    // from their own origin: a CORS preflight gets its answer here, before faults.
    let cors = cors_endpoint(endpoint);
    let preflight = cors
        && method == "OPTIONS"
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // A fault for one user on the connection endpoints also matches the body's `userId` (a
    // management-key fetch names the user only there): read the body once, hand it on.
    let mut unreadable = None;
    let mut body_user = None;
    let mut req = req;
    if endpoint == Endpoint::Connections && state.store().faults().iter().any(|f| f.user.is_some())
    {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                unreadable = Some(shaped(
                    &path,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("request body over {BODY_LIMIT} bytes, or unreadable"),
                ));
                axum::body::Bytes::new()
            }
        };
        body_user = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("userId")?.as_str().map(str::to_string));
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    let fault = if preflight || unreadable.is_some() {
        None
    } else {
        let sub = bearer_subject(req.headers());
        let users: Vec<&str> = [sub.as_deref(), body_user.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        state
            .store()
            .take_fault(&method, &path, endpoint.as_str(), &users)
    };
    let resp = match fault {
        _ if preflight => preflight_response(req.headers()),
        _ if unreadable.is_some() => unreadable
            .take()
            .unwrap_or_else(|| shaped(&path, StatusCode::BAD_REQUEST, "request body unreadable")),
        Some(f) => {
            if let Some(ms) = f.delay_ms {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            match f.status.and_then(|s| StatusCode::from_u16(s).ok()) {
                Some(st) => {
                    let mut r = shaped(
                        &path,
                        st,
                        &format!("fault injected by the mock-as control API (fault {})", f.id),
                    );
                    r.extensions_mut().insert(OutcomeCode("fault".into()));
                    // Checked when the fault was armed (control/faults.rs).
                    for (k, v) in &f.headers {
                        if let (Ok(k), Ok(v)) = (
                            header::HeaderName::from_bytes(k.as_bytes()),
                            header::HeaderValue::from_str(v),
                        ) {
                            r.headers_mut().insert(k, v);
                        }
                    }
                    r
                }
                None => next.run(req).await,
            }
        }
        None => next.run(req).await,
    };
    let mut resp = reshape(&path, resp).await;
    if cors {
        allow_any_origin(&mut resp);
    }
    if let Some(c) = resp.extensions().get::<Credential>() {
        credential = *c;
    }
    let status = resp.status().as_u16();
    let outcome = match resp.extensions().get::<OutcomeCode>() {
        Some(c) => c.0.clone(),
        None if status < 400 => "ok".into(),
        None => format!("http_{status}"),
    };
    state.store().log(JournalEntry {
        seq: 0,
        time_ms: wall_millis(),
        method,
        path,
        endpoint: endpoint.as_str().to_string(),
        credential: credential.as_str().to_string(),
        status,
        outcome,
        detail: resp
            .extensions()
            .get::<JournalDetail>()
            .map(|d| d.0.clone()),
        authorization,
        passthrough: resp.extensions().get::<Passthrough>().map(|p| p.0),
        connection: resp
            .extensions()
            .get::<JournalConnection>()
            .map(|c| c.0.clone()),
    });
    resp
}

/// The endpoints a browser-based client calls cross-origin (Fetch standard, CORS protocol):
/// the OAuth surface only. Never the control API (a web page must not drive the mock), the
/// management and connection APIs, the spy upstream, or `/authorize` and the consent form
/// (top-level navigations, not fetches).
fn cors_endpoint(endpoint: Endpoint) -> bool {
    use Endpoint::*;
    matches!(
        endpoint,
        Discovery | Jwks | Register | Token | Revoke | Introspect | Userinfo
    )
}

/// `204` to a CORS preflight: any origin, the methods the OAuth surface has, the headers asked
/// for (no credentials: `*` suffices; bearer tokens and client secrets travel in headers).
fn preflight_response(h: &HeaderMap) -> Response {
    let asked = h
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 1024)
        .and_then(|v| axum::http::HeaderValue::from_str(v).ok())
        .unwrap_or_else(|| axum::http::HeaderValue::from_static("authorization, content-type"));
    let mut r = StatusCode::NO_CONTENT.into_response();
    let out = r.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        axum::http::HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        axum::http::HeaderValue::from_static("600"),
    );
    r
}

/// `Access-Control-Allow-Origin: *`, and `WWW-Authenticate` readable by the page (RFC 6750 §3
/// challenges on userinfo).
fn allow_any_origin(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        axum::http::HeaderValue::from_static("WWW-Authenticate"),
    );
}

/// Error responses that are not JSON (axum's own rejections) get the path family's shape,
/// keeping axum's message as the description.
async fn reshape(path: &str, resp: Response) -> Response {
    let status = resp.status();
    if status.as_u16() < 400 {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let bytes = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if text.is_empty() {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => format!("method not allowed on {path}"),
            _ => status.canonical_reason().unwrap_or("error").to_string(),
        }
    } else {
        text
    };
    let mut r = shaped(path, status, &message);
    if let Some(a) = allow {
        r.headers_mut().insert(header::ALLOW, a);
    }
    r
}

/// An empty 200 JSON object (Descope SDKs parse every body).
pub fn empty_json() -> Response {
    (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response()
}
