//! The probe (`harness::probe`) against real listeners: mock-as in-process and a small fake MCP
//! server (axum, below) configured per test — stateless or stateful, its protected resource
//! metadata at the path-suffixed or the root well-known location, per-tool scope refusals as a
//! 403 challenge or as a tool error, a connection-backed tool that fetches a connection token at
//! mock-as — plus servers the probe must refuse in one line (nothing listening, not MCP, trusting
//! another authorization server). Every assertion is on what the probe returns.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harness::as_client::MockAsClient;
use harness::probe::{Hints, ProbeError, ProbeOptions, ProbeReport, ProbedConnection, ProbedTool};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const PROJECT: &str = "P2mockAsDefaultProject000001";
/// Bound of each request the probe sends.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bound of a whole probe run in these tests (generous: a probe makes a few dozen requests).
const RUN_BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// mock-as, in-process (as `harness::runner::run_reference_in` starts it).

struct Mock {
    base: String,
    client: MockAsClient,
    server: mock_as::testing::TestServer,
}

impl Mock {
    /// The issuer of mock-as's MS2calendar server entry.
    fn issuer(&self) -> String {
        self.server.issuer("MS2calendar")
    }
}

async fn start_mock() -> Mock {
    let server = mock_as::testing::TestServer::start().await;
    let base = server.base().to_string();
    Mock {
        client: MockAsClient::new(&base, None),
        base,
        server,
    }
}

// ---------------------------------------------------------------------------------------------
// The fake MCP server.

/// Where the fake serves its Protected Resource Metadata (RFC 9728 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrmAt {
    /// `/.well-known/oauth-protected-resource/mcp`.
    PathSuffixed,
    /// `/.well-known/oauth-protected-resource` only.
    Root,
    /// Nowhere: no metadata at all (404 at both locations).
    Nowhere,
}

/// How the fake refuses a tool call whose token lacks the tool's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// HTTP 403 with an `insufficient_scope` Bearer challenge naming the scope.
    Forbidden,
    /// HTTP 200, a tool result with `isError: true` ("requires scopes: X").
    ToolError,
    /// HTTP 403 whose challenge names the wrong scope (`calendar.write`).
    ForbiddenNamingAnotherScope,
}

/// A resource identifier, relative to where the fake listens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Res {
    /// The MCP endpoint URL (`http://127.0.0.1:<port>/mcp`).
    Url,
    /// The origin (`http://127.0.0.1:<port>`).
    Origin,
    /// Something else entirely.
    Other(String),
}

impl Res {
    fn resolve(&self, origin: &str, url: &str) -> String {
        match self {
            Res::Url => url.to_string(),
            Res::Origin => origin.to_string(),
            Res::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct FakeConfig {
    /// What `initialize` answers as `protocolVersion`.
    protocol_version: String,
    /// Answer `initialize` with an `Mcp-Session-Id` (and require it afterwards).
    stateful: bool,
    prm_at: PrmAt,
    /// The 401 challenge carries `resource_metadata=` (else the probe must find the PRM at a
    /// well-known location on its own).
    challenge_names_prm: bool,
    /// The PRM's `resource`.
    prm_resource: Res,
    /// The audience the fake accepts.
    audience: Res,
    /// The issuer the fake trusts and names in its PRM; `None` = mock-as's MS2calendar.
    issuer: Option<String>,
    refusal: Refusal,
    /// List `list_events`, which fetches a Google Calendar connection token at mock-as.
    connection_tool: bool,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            protocol_version: "2025-11-25".into(),
            stateful: false,
            prm_at: PrmAt::PathSuffixed,
            challenge_names_prm: true,
            prm_resource: Res::Url,
            audience: Res::Url,
            issuer: None,
            refusal: Refusal::Forbidden,
            connection_tool: false,
        }
    }
}

struct FakeState {
    cfg: FakeConfig,
    prm_url: String,
    prm_resource: String,
    audience: String,
    issuer: String,
    mock_base: String,
    sessions: Mutex<HashSet<String>>,
    next_session: AtomicU64,
    http: reqwest::Client,
}

struct Fake {
    origin: String,
    url: String,
    prm_url: String,
    _stop: oneshot::Sender<()>,
}

async fn start_fake(mock: &Mock, cfg: FakeConfig) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", l.local_addr().unwrap());
    let url = format!("{origin}/mcp");
    let prm_path = match cfg.prm_at {
        PrmAt::PathSuffixed => "/.well-known/oauth-protected-resource/mcp",
        PrmAt::Root | PrmAt::Nowhere => "/.well-known/oauth-protected-resource",
    };
    let prm_url = format!("{origin}{prm_path}");
    let state = Arc::new(FakeState {
        prm_resource: cfg.prm_resource.resolve(&origin, &url),
        audience: cfg.audience.resolve(&origin, &url),
        issuer: cfg.issuer.clone().unwrap_or_else(|| mock.issuer()),
        mock_base: mock.base.clone(),
        prm_url: prm_url.clone(),
        cfg,
        sessions: Mutex::new(HashSet::new()),
        next_session: AtomicU64::new(1),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    });
    let mut app = Router::new().route("/mcp", post(mcp));
    if state.cfg.prm_at != PrmAt::Nowhere {
        app = app.route(prm_path, get(prm));
    }
    let app = app
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(l, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Fake {
        origin,
        url,
        prm_url,
        _stop: tx,
    }
}

async fn prm(State(s): State<Arc<FakeState>>) -> Response {
    axum::Json(json!({
        "resource": s.prm_resource,
        "authorization_servers": [s.issuer],
        "scopes_supported": ["mcp:read", "mcp:admin"],
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

/// The claims of a bearer JWT, read WITHOUT verifying its signature: enough for a fake that
/// only exists to exercise the probe (every token it sees comes from the test's own mock-as).
/// A real server must verify (that is what the cucumber scenarios check).
fn claims(headers: &HeaderMap) -> Option<Value> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = h.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn token_scopes(claims: &Value) -> Vec<String> {
    claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn bearer_token(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

fn with_challenge(status: StatusCode, challenge: String, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).unwrap(),
    );
    r
}

fn rpc_result(id: &Value, result: Value) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
        .into_response()
}

fn text_result(id: &Value, text: &str, is_error: bool) -> Response {
    rpc_result(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
    )
}

impl FakeState {
    fn resource_metadata_param(&self) -> String {
        if self.cfg.challenge_names_prm {
            format!(", resource_metadata=\"{}\"", self.prm_url)
        } else {
            String::new()
        }
    }

    /// 401 for a missing or unacceptable token (RFC 6750 §3, RFC 9728 §5.1).
    fn unauthorized(&self, had_token: bool) -> Response {
        let error = if had_token {
            "error=\"invalid_token\", "
        } else {
            ""
        };
        with_challenge(
            StatusCode::UNAUTHORIZED,
            format!(
                "Bearer {error}scope=\"mcp:read\"{}",
                self.resource_metadata_param()
            ),
            json!({"error": "unauthorized"}),
        )
    }

    fn insufficient_scope(&self, scope: &str) -> Response {
        with_challenge(
            StatusCode::FORBIDDEN,
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"{scope}\"{}",
                self.resource_metadata_param()
            ),
            json!({"error": "insufficient_scope"}),
        )
    }

    fn tools(&self) -> Vec<Value> {
        let mut v = vec![
            json!({"name": "whoami", "description": "Who the token is for",
                   "inputSchema": {"type": "object", "properties": {}}}),
            json!({"name": "admin_action", "description": "Needs mcp:admin",
                   "inputSchema": {"type": "object",
                                   "properties": {"reason": {"type": "string"}},
                                   "required": ["reason"]}}),
        ];
        if self.cfg.connection_tool {
            v.push(json!({"name": "list_events",
                          "description": "Lists events through the user's Google Calendar connection",
                          "inputSchema": {"type": "object", "properties": {}}}));
        }
        v
    }

    async fn call_tool(&self, id: &Value, params: &Value, claims: &Value, token: &str) -> Response {
        let scopes = token_scopes(claims);
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        match params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "whoami" => text_result(id, sub, false),
            "admin_action" => {
                if !scopes.iter().any(|s| s == "mcp:admin") {
                    return match self.cfg.refusal {
                        Refusal::Forbidden => self.insufficient_scope("mcp:admin"),
                        Refusal::ToolError => text_result(id, "requires scopes: mcp:admin", true),
                        Refusal::ForbiddenNamingAnotherScope => {
                            self.insufficient_scope("calendar.write")
                        }
                    };
                }
                if args.get("reason").and_then(Value::as_str).is_none() {
                    return rpc_error(id, -32602, "reason: a string is required");
                }
                text_result(id, "done", false)
            }
            "list_events" if self.cfg.connection_tool => {
                // Descope's user-level connection fetch, with the caller's own access token.
                let resp = self
                    .http
                    .post(format!(
                        "{}/v1/mgmt/outbound/app/user/token",
                        self.mock_base
                    ))
                    .header(header::AUTHORIZATION, format!("Bearer {PROJECT}:{token}"))
                    .json(&json!({"appId": "google-calendar", "userId": sub,
                                  "scopes": ["calendar.readonly"]}))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => text_result(id, "no events", false),
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        text_result(
                            id,
                            &format!("connection fetch failed: {status} {body}"),
                            true,
                        )
                    }
                    Err(e) => text_result(id, &format!("connection fetch failed: {e}"), true),
                }
            }
            other => rpc_error(id, -32602, &format!("unknown tool {other:?}")),
        }
    }
}

async fn mcp(State(s): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    // Authentication first, as a protected resource does.
    let Some(claims) = claims(&headers) else {
        return s.unauthorized(headers.contains_key(header::AUTHORIZATION));
    };
    let iss_ok = claims.get("iss").and_then(Value::as_str) == Some(s.issuer.as_str());
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == s.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(s.audience.as_str())),
        _ => false,
    };
    if !iss_ok || !aud_ok {
        return s.unauthorized(true);
    }
    if !token_scopes(&claims).iter().any(|x| x == "mcp:read") {
        return s.insufficient_scope("mcp:read");
    }

    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    if method == "initialize" {
        let mut r = rpc_result(
            &id,
            json!({
                "protocolVersion": s.cfg.protocol_version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "probe-fake", "version": "0.0.0"},
            }),
        );
        if s.cfg.stateful {
            let sid = format!("sess-{}", s.next_session.fetch_add(1, Ordering::Relaxed));
            s.sessions.lock().unwrap().insert(sid.clone());
            r.headers_mut()
                .insert("mcp-session-id", HeaderValue::from_str(&sid).unwrap());
        }
        return r;
    }
    if s.cfg.stateful {
        // Streamable HTTP: after initialize, every request carries the session id.
        let sid = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match sid {
            None => return (StatusCode::BAD_REQUEST, "Mcp-Session-Id required").into_response(),
            Some(sid) if !s.sessions.lock().unwrap().contains(&sid) => {
                return (StatusCode::NOT_FOUND, "unknown session").into_response();
            }
            Some(_) => {}
        }
    }
    if method == "notifications/initialized" {
        return StatusCode::ACCEPTED.into_response();
    }
    if method.starts_with("tools/") {
        // After initialize the client speaks the negotiated revision.
        let v = headers
            .get("mcp-protocol-version")
            .and_then(|v| v.to_str().ok());
        if v.is_some_and(|v| v != s.cfg.protocol_version) {
            return (
                StatusCode::BAD_REQUEST,
                format!("MCP-Protocol-Version {v:?} is not the negotiated one"),
            )
                .into_response();
        }
    }
    match method {
        "tools/list" => rpc_result(&id, json!({"tools": s.tools()})),
        "tools/call" => {
            let params = msg.get("params").cloned().unwrap_or(json!({}));
            s.call_tool(&id, &params, &claims, &bearer_token(&headers))
                .await
        }
        _ => rpc_error(&id, -32601, "method not found"),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

async fn run_probe(mock: &Mock, url: &str) -> Result<ProbeReport, ProbeError> {
    let opts = ProbeOptions::new(url, TIMEOUT);
    tokio::time::timeout(
        RUN_BOUND,
        harness::probe::probe(&opts, &mock.client, &Hints::default()),
    )
    .await
    .unwrap_or_else(|_| panic!("the probe of {url} did not end within {RUN_BOUND:?}"))
}

/// Probe a fake with `cfg`; the report must be `Ok`.
async fn probe_fake(cfg: FakeConfig) -> (Mock, Fake, ProbeReport) {
    let mock = start_mock().await;
    let fake = start_fake(&mock, cfg).await;
    let report = run_probe(&mock, &fake.url)
        .await
        .unwrap_or_else(|e| panic!("probe of {} failed: {e}", fake.url));
    (mock, fake, report)
}

fn table_str<'a>(r: &'a ProbeReport, section: &str, key: &str) -> Option<&'a str> {
    r.table.get(section)?.get(key)?.as_str()
}

fn table_bool(r: &ProbeReport, section: &str, key: &str) -> Option<bool> {
    r.table.get(section)?.get(key)?.as_bool()
}

fn table_strings(r: &ProbeReport, section: &str, key: &str) -> Option<Vec<String>> {
    Some(
        r.table
            .get(section)?
            .get(key)?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

/// How `field` was learned (the last line for it).
fn how<'a>(r: &'a ProbeReport, field: &str) -> &'a str {
    r.learned
        .iter()
        .rev()
        .find(|l| l.field == field)
        .map(|l| l.how.as_str())
        .unwrap_or_else(|| panic!("nothing learned for {field}: {:#?}", r.learned))
}

fn tool<'a>(r: &'a ProbeReport, name: &str) -> &'a ProbedTool {
    r.tools.iter().find(|t| t.name == name).unwrap_or_else(|| {
        panic!(
            "tool {name} not among the probed tools {:?} (notes: {:?})",
            r.tools.iter().map(|t| &t.name).collect::<Vec<_>>(),
            r.notes
        )
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Sessions: learned from the initialize answer, never assumed.

#[tokio::test]
async fn a_stateless_server_is_learned_stateless() {
    let (_m, _f, r) = probe_fake(FakeConfig::default()).await;
    assert_eq!(table_bool(&r, "server", "stateful"), Some(false), "{r:#?}");
    assert!(how(&r, "server.stateful").contains("without an Mcp-Session-Id"));
    // The rest of the probe worked without sessions.
    assert_eq!(tool(&r, "whoami").scopes, Vec::<String>::new());
}

#[tokio::test]
async fn a_stateful_server_is_learned_stateful_and_its_sessions_are_used() {
    let (_m, _f, r) = probe_fake(FakeConfig {
        stateful: true,
        ..FakeConfig::default()
    })
    .await;
    assert_eq!(table_bool(&r, "server", "stateful"), Some(true), "{r:#?}");
    assert!(how(&r, "server.stateful").contains("with an Mcp-Session-Id"));
    // The fake answers 400 to tools/* without its session id: the tools were found, so the
    // probe sent the session it was given.
    assert_eq!(tool(&r, "whoami").scopes, Vec::<String>::new());
    assert_eq!(tool(&r, "admin_action").scopes, strings(&["mcp:admin"]));
}

// ---------------------------------------------------------------------------------------------
// 2. Protected Resource Metadata: at either well-known location; its resource, or the URL.

#[tokio::test]
async fn prm_only_at_the_root_location_is_found() {
    // The challenge does not name the metadata, so the probe must look at the well-known
    // locations itself: the path-suffixed one answers 404, the root one has it. Its `resource`
    // (the origin) is the audience the fake accepts, so the learned resource shows it was read.
    let (_m, f, r) = probe_fake(FakeConfig {
        prm_at: PrmAt::Root,
        challenge_names_prm: false,
        prm_resource: Res::Origin,
        audience: Res::Origin,
        ..FakeConfig::default()
    })
    .await;
    assert!(f.prm_url.ends_with("/.well-known/oauth-protected-resource"));
    assert_eq!(
        table_str(&r, "server", "resource"),
        Some(f.origin.as_str()),
        "{r:#?}"
    );
    let h = how(&r, "server.resource");
    assert!(
        h.contains("protected resource metadata") && h.contains(&f.prm_url),
        "{h}"
    );
}

#[tokio::test]
async fn prm_at_the_path_suffixed_location_is_found() {
    let (_m, f, r) = probe_fake(FakeConfig {
        prm_at: PrmAt::PathSuffixed,
        challenge_names_prm: false,
        ..FakeConfig::default()
    })
    .await;
    assert!(
        f.prm_url
            .ends_with("/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(table_str(&r, "server", "url"), Some(f.url.as_str()));
    // The resource is the URL: the layer leaves server.resource to its default.
    assert_eq!(table_str(&r, "server", "resource"), None, "{r:#?}");
    let h = how(&r, "server.resource");
    assert!(
        h.contains("protected resource metadata") && h.contains(&f.prm_url),
        "{h}"
    );
}

#[tokio::test]
async fn a_prm_resource_the_server_does_not_accept_gives_way_to_the_url() {
    // The metadata names another resource, but the server accepts tokens for its own URL.
    let (_m, f, r) = probe_fake(FakeConfig {
        prm_resource: Res::Other("https://calendar.example/mcp".into()),
        ..FakeConfig::default()
    })
    .await;
    assert_eq!(table_str(&r, "server", "url"), Some(f.url.as_str()));
    assert!(
        table_str(&r, "server", "resource").is_none_or(|res| res == f.url),
        "{r:#?}"
    );
    let h = how(&r, "server.resource");
    assert!(
        h.contains("the MCP endpoint URL")
            && h.contains("accepts tokens for it, not for its metadata's resource"),
        "{h}"
    );
    assert_eq!(
        table_str(&r, "mock_as", "mcp_server_id"),
        Some("MS2calendar")
    );
}

#[tokio::test]

async fn a_prm_naming_another_resource_is_noted() {
    let (_m, _f, r) = probe_fake(FakeConfig {
        prm_resource: Res::Other("https://calendar.example/mcp".into()),
        ..FakeConfig::default()
    })
    .await;
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("https://calendar.example/mcp")),
        "{:?}",
        r.notes
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Required and per-tool scopes.

#[tokio::test]
async fn a_tool_refused_with_a_403_challenge_needs_the_scope_it_names() {
    let (_m, _f, r) = probe_fake(FakeConfig {
        refusal: Refusal::Forbidden,
        ..FakeConfig::default()
    })
    .await;
    assert_eq!(
        table_strings(&r, "auth", "required_scopes"),
        Some(strings(&["mcp:read"])),
        "{r:#?}"
    );
    assert!(how(&r, "auth.required_scopes").contains("401 challenge"));

    let admin = tool(&r, "admin_action");
    assert_eq!(admin.scopes, strings(&["mcp:admin"]), "{admin:#?}");
    assert!(
        admin
            .scopes_how
            .contains("refused with HTTP 403 naming scope=\"mcp:admin\""),
        "{}",
        admin.scopes_how
    );
    // Its required argument was generated from the input schema.
    assert_eq!(
        Value::Object(admin.arguments.clone()),
        json!({"reason": "authcheck-reason"})
    );
    assert_eq!(admin.connection, None);

    let who = tool(&r, "whoami");
    assert_eq!(who.scopes, Vec::<String>::new(), "{who:#?}");
    assert!(who.arguments.is_empty());

    // The profile layer says the same.
    let layer_admin = r.table["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str() == Some("admin_action"))
        .unwrap();
    assert_eq!(
        layer_admin["scopes"],
        toml::Value::Array(vec![toml::Value::String("mcp:admin".into())])
    );
    // The fake validates nothing at mock-as: local JWT validation.
    assert_eq!(table_str(&r, "auth", "validation"), Some("jwt"));
}

#[tokio::test]
async fn a_tool_refused_with_a_tool_error_needs_the_scope_found_by_shrinking() {
    let (_m, _f, r) = probe_fake(FakeConfig {
        refusal: Refusal::ToolError,
        ..FakeConfig::default()
    })
    .await;
    assert_eq!(
        table_strings(&r, "auth", "required_scopes"),
        Some(strings(&["mcp:read"]))
    );
    let admin = tool(&r, "admin_action");
    assert_eq!(admin.scopes, strings(&["mcp:admin"]), "{admin:#?}");
    assert!(
        admin.scopes_how.contains("each other scope left out once"),
        "{}",
        admin.scopes_how
    );
    assert_eq!(tool(&r, "whoami").scopes, Vec::<String>::new());
}

#[tokio::test]
async fn a_403_challenge_naming_the_wrong_scope_is_verified_not_believed() {
    let (_m, _f, r) = probe_fake(FakeConfig {
        refusal: Refusal::ForbiddenNamingAnotherScope,
        ..FakeConfig::default()
    })
    .await;
    let admin = tool(&r, "admin_action");
    assert_eq!(admin.scopes, strings(&["mcp:admin"]), "{admin:#?}");
    assert!(
        admin.scopes_how.contains("each other scope left out once"),
        "{}",
        admin.scopes_how
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Connection-backed tools, through mock-as's journal.

#[tokio::test]
async fn a_connection_backed_tool_is_found_through_the_journal() {
    let (_m, _f, r) = probe_fake(FakeConfig {
        connection_tool: true,
        ..FakeConfig::default()
    })
    .await;
    let ev = tool(&r, "list_events");
    assert_eq!(
        ev.connection,
        Some(ProbedConnection {
            app_id: "google-calendar".into(),
            level: "user".into(),
            scopes: strings(&["calendar.readonly"]),
            tenant_argument: None,
        }),
        "{r:#?}"
    );
    // Fetching a connection token takes Descope's outbound scope beyond the required ones.
    assert_eq!(ev.scopes, strings(&["outbound.token.fetch"]), "{ev:#?}");
    // Tools that fetch nothing have no connection.
    assert_eq!(tool(&r, "whoami").connection, None);
    assert_eq!(tool(&r, "admin_action").connection, None);
    // The profile layer carries it.
    let layer = r.table["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str() == Some("list_events"))
        .unwrap();
    assert_eq!(
        layer["connection"]["app_id"].as_str(),
        Some("google-calendar")
    );
    assert_eq!(layer["connection"]["level"].as_str(), Some("user"));
    assert!(layer["connection"].get("tenant_argument").is_none());
}

// ---------------------------------------------------------------------------------------------
// 5. Servers the run cannot start with: one line that says what to do.

#[tokio::test]
async fn nothing_listening_is_refused_quickly_naming_the_url() {
    let mock = start_mock().await;
    // A port that was just free: bound, then released.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    drop(l);
    let started = std::time::Instant::now();
    let e = run_probe(&mock, &url).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30), "{e}");
    assert!(e.0.contains(&url), "{e}");
    assert!(e.0.contains("is the server running"), "{e}");
    assert!(!e.0.contains('\n'), "one line: {e}");
}

#[tokio::test]
async fn a_listener_answering_404_html_is_not_an_mcp_endpoint() {
    let mock = start_mock().await;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    let app = Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html>\n<html><body><h1>404 Not Found</h1></body></html>",
        )
    });
    let (_tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(l, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    let e = run_probe(&mock, &url).await.unwrap_err();
    assert!(e.0.contains(&url), "{e}");
    assert!(e.0.contains("not an MCP endpoint"), "{e}");
    assert!(e.0.contains("404"), "{e}");
    assert!(!e.0.contains('\n'), "one line: {e}");
}

#[tokio::test]
async fn a_server_trusting_another_issuer_is_told_to_point_at_mock_as() {
    let elsewhere = "https://elsewhere.example/v1/apps/agentic/P2elsewhere00000000000000000/MS2x";
    let mock = start_mock().await;
    let fake = start_fake(
        &mock,
        FakeConfig {
            issuer: Some(elsewhere.into()),
            ..FakeConfig::default()
        },
    )
    .await;
    let e = run_probe(&mock, &fake.url).await.unwrap_err();
    assert!(e.0.contains(&fake.url), "{e}");
    assert!(e.0.contains("point your server at"), "{e}");
    assert!(e.0.contains(elsewhere), "names what it trusts: {e}");
    assert!(e.0.contains(&mock.issuer()), "names the issuer to use: {e}");
    assert!(!e.0.contains('\n'), "one line: {e}");
}

/// A listener that accepts connections and never answers; its URL.
async fn start_hanging() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    url
}

async fn probe_with_timeout(mock: &Mock, url: &str, timeout: Duration) -> ProbeError {
    let opts = ProbeOptions::new(url, timeout);
    tokio::time::timeout(
        RUN_BOUND,
        harness::probe::probe(&opts, &mock.client, &Hints::default()),
    )
    .await
    .unwrap_or_else(|_| panic!("the probe of {url} did not end within {RUN_BOUND:?}"))
    .unwrap_err()
}

#[tokio::test]
async fn a_server_that_never_answers_is_refused_in_bounded_time() {
    let mock = start_mock().await;
    let url = start_hanging().await;
    let started = std::time::Instant::now();
    let e = probe_with_timeout(&mock, &url, Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{e}");
    assert!(e.0.contains(&url), "{e}");
    assert!(e.0.contains("is the server running"), "{e}");
    assert!(!e.0.contains('\n'), "one line: {e}");
}

#[tokio::test]

async fn a_server_that_never_answers_is_said_to_not_answer_in_time() {
    let mock = start_mock().await;
    let url = start_hanging().await;
    let e = probe_with_timeout(&mock, &url, Duration::from_secs(1)).await;
    assert!(e.0.contains("no response within 1 s"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// 6. The revision is what initialize answered.

#[tokio::test]
async fn the_revision_is_the_one_initialize_answers() {
    // The fake also refuses tools/* sent with another MCP-Protocol-Version than the one it
    // answered: the tools being found shows the probe speaks the negotiated revision.
    let (_m, _f, r) = probe_fake(FakeConfig {
        protocol_version: "2025-06-18".into(),
        ..FakeConfig::default()
    })
    .await;
    assert_eq!(
        table_str(&r, "server", "protocol_version"),
        Some("2025-06-18"),
        "{r:#?}"
    );
    assert!(how(&r, "server.protocol_version").contains("2025-06-18"));
    assert_eq!(tool(&r, "admin_action").scopes, strings(&["mcp:admin"]));
}

// ---------------------------------------------------------------------------------------------
// Which of Descope's issuers the server trusts: its own MCP-server issuer, the project's
// Inbound App issuer, or the project OIDC issuer (mock-as/DESCOPE.md §1, §4.1).

#[tokio::test]
async fn an_inbound_app_issuer_named_by_the_prm_is_learned() {
    let mock = start_mock().await;
    let inbound = format!("{}/v1/apps/{PROJECT}", mock.base);
    let fake = start_fake(
        &mock,
        FakeConfig {
            issuer: Some(inbound.clone()),
            // Descope's Inbound App tokens name the project in `aud`.
            audience: Res::Other(PROJECT.into()),
            ..FakeConfig::default()
        },
    )
    .await;
    let r = run_probe(&mock, &fake.url).await.unwrap();
    assert_eq!(
        table_str(&r, "mock_as", "issuer"),
        Some("inbound-app"),
        "{r:#?}"
    );
    let h = how(&r, "mock_as.issuer");
    assert!(
        h.contains("protected resource metadata names") && h.contains(&inbound),
        "{h}"
    );
    // The rest of the probe ran on those tokens.
    assert_eq!(tool(&r, "admin_action").scopes, strings(&["mcp:admin"]));
}

#[tokio::test]
async fn without_metadata_each_issuer_is_offered_and_the_accepted_one_kept() {
    let mock = start_mock().await;
    let project = format!("{}/{PROJECT}", mock.base);
    let fake = start_fake(
        &mock,
        FakeConfig {
            issuer: Some(project.clone()),
            audience: Res::Other(PROJECT.into()),
            prm_at: PrmAt::Nowhere,
            challenge_names_prm: false,
            ..FakeConfig::default()
        },
    )
    .await;
    let r = run_probe(&mock, &fake.url).await.unwrap();
    assert_eq!(
        table_str(&r, "mock_as", "issuer"),
        Some("project"),
        "{r:#?}"
    );
    let h = how(&r, "mock_as.issuer");
    assert!(
        h.contains(&project) && h.contains("tried in turn") && h.contains(&mock.issuer()),
        "says what it tried: {h}"
    );
}

#[tokio::test]
async fn the_profiles_issuer_is_the_only_one_tried() {
    // The fake trusts the Inbound App issuer; the profile insists on the project issuer: the
    // probe must not fall back to another style behind the user's back.
    let mock = start_mock().await;
    let fake = start_fake(
        &mock,
        FakeConfig {
            issuer: Some(format!("{}/v1/apps/{PROJECT}", mock.base)),
            audience: Res::Other(PROJECT.into()),
            ..FakeConfig::default()
        },
    )
    .await;
    let hints = Hints {
        issuer: Some(harness::profile::IssuerStyle::Project),
        ..Hints::default()
    };
    let opts = ProbeOptions::new(&fake.url.clone(), TIMEOUT);
    let e = tokio::time::timeout(
        RUN_BOUND,
        harness::probe::probe(&opts, &mock.client, &hints),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(e.0.contains(&fake.url), "{e}");
    assert!(
        e.0.contains("mock_as.issuer = \"project\"") && e.0.contains("/v1/apps/"),
        "names the issuer the server wants and the field that ruled it out: {e}"
    );
    assert!(!e.0.contains('\n'), "one line: {e}");
}

// ---------------------------------------------------------------------------------------------
// The revision: the reference server speaking only 2026-07-28, and both eras at once.

/// The reference server trusting mock-as's MS2calendar issuer, configured by `f`; its URL.
async fn start_reference(
    mock: &Mock,
    f: impl FnOnce(&mut reference_server::Config),
) -> (String, oneshot::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    let mut cfg = reference_server::Config::for_issuer(&mock.issuer(), &url).unwrap();
    f(&mut cfg);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(reference_server::serve(l, cfg, async {
        let _ = rx.await;
    }));
    (url, tx)
}

#[tokio::test]
async fn a_2026_only_server_is_spoken_to_in_2026() {
    let mock = start_mock().await;
    let (url, _stop) = start_reference(&mock, |c| c.revision_2026_07_28 = true).await;
    let r = run_probe(&mock, &url).await.unwrap();
    assert_eq!(
        table_str(&r, "server", "protocol_version"),
        Some("2026-07-28"),
        "{r:#?}"
    );
    assert_eq!(table_bool(&r, "server", "stateful"), Some(false));
    assert!(how(&r, "server.protocol_version").contains("server/discover"));
    // It learned the rest through the 2026 wire too.
    assert_eq!(
        table_strings(&r, "auth", "required_scopes"),
        Some(strings(&["mcp:read"]))
    );
    assert_eq!(tool(&r, "admin_action").scopes, strings(&["mcp:admin"]));
}

#[tokio::test]
async fn a_dual_era_server_is_tested_in_the_handshake_era_and_the_other_is_named() {
    let mock = start_mock().await;
    let (url, _stop) = start_reference(&mock, |c| c.also_2026_07_28 = true).await;
    let r = run_probe(&mock, &url).await.unwrap();
    assert_eq!(
        table_str(&r, "server", "protocol_version"),
        Some("2025-11-25"),
        "{r:#?}"
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("also speaks 2026-07-28")
                && n.contains("--protocol-version 2026-07-28")),
        "{:?}",
        r.notes
    );
    // A handshake-only server gets no such note.
    let (url, _stop2) = start_reference(&mock, |_| {}).await;
    let r = run_probe(&mock, &url).await.unwrap();
    assert!(
        !r.notes.iter().any(|n| n.contains("also speaks")),
        "{:?}",
        r.notes
    );
}

#[tokio::test]
async fn a_forced_revision_is_the_one_spoken() {
    let mock = start_mock().await;
    let (url, _stop) = start_reference(&mock, |c| c.also_2026_07_28 = true).await;
    let hints = Hints {
        protocol_version: Some("2026-07-28".into()),
        ..Hints::default()
    };
    let opts = ProbeOptions::new(&url.clone(), TIMEOUT);
    let r = tokio::time::timeout(
        RUN_BOUND,
        harness::probe::probe(&opts, &mock.client, &hints),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        table_str(&r, "server", "protocol_version"),
        Some("2026-07-28")
    );
    assert_eq!(table_bool(&r, "server", "stateful"), Some(false));
}
