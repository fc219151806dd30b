//! The probe: before any scenario, learn from the server under test what a profile would say
//! ("the wire decides", design.md). Every learned value carries how it was learned (for
//! `mcp-authcheck init` and the console), and every value can be overridden by a profile field;
//! the result is a profile layer (a TOML table) that [`crate::profile::Profile::from_layers`]
//! merges under the user's file.
//!
//! What it learns, in order (each step's requests are bounded by [`ProbeOptions::timeout`]):
//! 1. that the endpoint answers like an MCP server that wants OAuth (else [`ProbeError`]: one
//!    line naming the URL and what happened);
//! 2. the Protected Resource Metadata (RFC 9728 §3: the challenge's `resource_metadata`, then the
//!    path-suffixed and root well-known locations) and the authorization servers it names;
//! 3. which mock-as MCP server entry the server trusts, and for which audience (the PRM's
//!    `resource`, else the URL): the first whose token opens a session;
//! 4. the revision (`initialize`'s `protocolVersion`) and whether it keeps sessions (an
//!    `Mcp-Session-Id` on the `initialize` answer; never assumed from the revision);
//! 5. the required scopes: what the 401 challenge's `scope=` says (RFC 6750 §3) if a token with
//!    just those is served, else the smallest set found by leaving scopes out one at a time;
//! 6. the tools (`tools/list`, with a token holding every scope, all pages) with arguments
//!    generated from each `inputSchema`, and each tool's extra scopes: scopes the tool declares
//!    (`_meta.securitySchemes` / `securitySchemes`, `oauth2` entries), else what a call with only
//!    the required scopes is refused for (the 403 challenge's `scope=`, verified), else the
//!    smallest set that makes the call succeed;
//! 7. connection-backed tools: the connection-token fetches the server made at mock-as while
//!    the tool ran (mock-as's journal) name the outbound app, the level (user/tenant), the
//!    provider scopes, and — when the tenant id the server sent is one of the generated argument
//!    values — the argument that names the tenant;
//! 8. validation: introspection when the server called mock-as's introspection endpoint during
//!    the probe, else JWT.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::as_client::{MintRequest, MockAsClient};
use crate::breaker::{Breaker, PROBE};
use crate::challenge::Challenge;
use crate::http::{self, Timeouts};
use crate::mcp_client::{Auth, Exchange, McpClient};
use crate::profile::{IssuerStyle, REVISIONS, minus, union};
use crate::schema_args;

/// The scope Descope requires to exchange an MCP token for connection tokens.
const OUTBOUND_SCOPE: &str = "outbound.token.fetch";
/// The revision the probe offers in `initialize` when no profile forces one: the newest the
/// suite's MCP client speaks with `initialize` (2026-07-28 has no `initialize`).
const OFFERED_REVISION: &str = "2025-11-25";
/// Pages of `tools/list` followed at most (a server whose cursor never ends must not hang us).
const MAX_TOOL_PAGES: usize = 20;
/// Tools examined at most (each costs a few calls).
const MAX_TOOLS: usize = 40;

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The MCP endpoint.
    pub url: String,
    /// Bounds of every single request the probe sends, by kind.
    pub timeouts: Timeouts,
}

impl ProbeOptions {
    /// Every kind of wait bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> ProbeOptions {
        ProbeOptions {
            url: url.to_string(),
            timeouts: Timeouts::uniform(timeout),
        }
    }
}

/// Where an issuer's metadata is, in the MCP 2025-11-25 discovery order: RFC 8414 path-inserted,
/// OIDC path-inserted, OIDC suffixed (§Authorization Server Metadata Discovery).
pub fn as_metadata_urls(issuer: &url::Url) -> [String; 3] {
    let base = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    [
        format!("{base}/.well-known/oauth-authorization-server{path}"),
        format!("{base}/.well-known/openid-configuration{path}"),
        format!("{base}{path}/.well-known/openid-configuration"),
    ]
}

/// The metadata URL of the first authorization server in `authorization_servers` that is on the
/// MCP endpoint's own origin and offers a `registration_endpoint` (RFC 8414 §3, path-inserted
/// then OIDC), if any.
async fn own_origin_registrar(
    client: &reqwest::Client,
    timeouts: &Timeouts,
    endpoint: &str,
    authorization_servers: &[String],
) -> Option<String> {
    let origin = url::Url::parse(endpoint).ok()?.origin();
    for issuer in authorization_servers {
        let Ok(u) = url::Url::parse(issuer) else {
            continue;
        };
        if u.origin() != origin {
            continue;
        }
        for at in as_metadata_urls(&u) {
            let Ok(r) = http::fetch(client.get(&at), timeouts).await else {
                continue;
            };
            if !(200..300).contains(&r.status) {
                continue;
            }
            if r.json()
                .get("registration_endpoint")
                .and_then(Value::as_str)
                .is_some()
            {
                return Some(at);
            }
        }
    }
    None
}

/// The modern revision a server asks for when it refuses a legacy request with a modern
/// JSON-RPC error (2026-07-28 Streamable HTTP §Backward Compatibility): `UnsupportedProtocolVersion`
/// (-32022) listing a modern revision the suite speaks, or `HeaderMismatch` (-32020).
pub fn modern_signal(ex: &Exchange) -> Option<String> {
    let err = ex.rpc_error()?;
    match err.get("code").and_then(Value::as_i64)? {
        -32022 => err
            .pointer("/data/supported")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(Value::as_str)
            .filter(|v| crate::mcp_client::is_modern(v) && REVISIONS.contains(v))
            .max()
            .map(str::to_string),
        -32020 => Some(crate::mcp_client::MODERN_REVISION.to_string()),
        _ => None,
    }
}

/// Why the run cannot start: one line that says what to do (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);

/// One learned value and how it was learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// Dotted profile field (`server.stateful`, `tools.admin_action.scopes`).
    pub field: String,
    /// How the probe knows (shown by `init` as the value's comment).
    pub how: String,
}

/// What the probe found about one tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedTool {
    /// The tool's name.
    pub name: String,
    /// Arguments that made a call succeed.
    pub arguments: serde_json::Map<String, Value>,
    /// Scopes beyond the required ones.
    pub scopes: Vec<String>,
    /// How the scopes were learned.
    pub scopes_how: String,
    /// The connection it fetched, if any: (app, level, provider scopes, tenant argument).
    pub connection: Option<ProbedConnection>,
}

/// A connection a tool fetched at mock-as while it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedConnection {
    /// The outbound app.
    pub app_id: String,
    /// `user` or `tenant`.
    pub level: String,
    /// Provider scopes the server asked for.
    pub scopes: Vec<String>,
    /// The argument that carried the tenant id, if one did.
    pub tenant_argument: Option<String>,
}

impl ProbedConnection {
    /// As a profile's `tools[].connection` table.
    pub fn to_toml(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("app_id".into(), toml::Value::String(self.app_id.clone()));
        t.insert("level".into(), toml::Value::String(self.level.clone()));
        t.insert(
            "scopes".into(),
            toml::Value::Array(
                self.scopes
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect(),
            ),
        );
        if let Some(a) = &self.tenant_argument {
            t.insert("tenant_argument".into(), toml::Value::String(a.clone()));
        }
        t
    }
}

/// Everything the probe learned.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The profile layer: `[server]`, `[mock_as]`, `[auth]`, `[[tools]]`.
    pub table: toml::Table,
    /// How each value was learned, in the order learned.
    pub learned: Vec<Learned>,
    /// Things a person should know (a tool that could not be called, a PRM that names another
    /// resource, …); none of them stops the run.
    pub notes: Vec<String>,
    /// The tools, as found.
    pub tools: Vec<ProbedTool>,
}

/// What the user's profile already says, consulted while probing (the probe uses a forced
/// revision, audience, server entry, required scopes and tool arguments instead of guessing).
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// `server.resource`.
    pub resource: Option<String>,
    /// `server.protocol_version`.
    pub protocol_version: Option<String>,
    /// `mock_as.mcp_server_id`.
    pub mcp_server_id: Option<String>,
    /// `mock_as.issuer` (unknown names are left to the profile's own validation).
    pub issuer: Option<IssuerStyle>,
    /// `auth.required_scopes`.
    pub required_scopes: Option<Vec<String>>,
    /// `tools[].arguments` by tool name.
    pub arguments: BTreeMap<String, serde_json::Map<String, Value>>,
}

impl Hints {
    /// The hints in a profile file's table.
    pub fn from_table(t: &toml::Table) -> Hints {
        let s = |sec: &str, k: &str| {
            t.get(sec)
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let required_scopes = t
            .get("auth")
            .and_then(|a| a.get("required_scopes"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
        let mut arguments = BTreeMap::new();
        for tool in t
            .get("tools")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(args)) = (
                tool.get("name").and_then(|v| v.as_str()),
                tool.get("arguments"),
            ) && let Ok(Value::Object(o)) = serde_json::to_value(args)
            {
                arguments.insert(name.to_string(), o);
            }
        }
        Hints {
            resource: s("server", "resource"),
            protocol_version: s("server", "protocol_version"),
            mcp_server_id: s("mock_as", "mcp_server_id"),
            issuer: s("mock_as", "issuer")
                .and_then(|v| IssuerStyle::ALL.into_iter().find(|st| st.as_str() == v)),
            required_scopes,
            arguments,
        }
    }
}

/// One way of minting the probe tries: an issuer style with a server entry.
#[derive(Debug, Clone)]
struct Candidate<'a> {
    style: IssuerStyle,
    /// The `iss` its tokens carry.
    issuer: String,
    entry: &'a Entry,
}

/// A mock-as MCP server entry, from `GET /_mock/info`.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    issuer: String,
    scopes: Vec<String>,
}

/// The probe's state: who it is on mock-as and what it learned so far.
struct Prober<'a> {
    mock: &'a MockAsClient,
    mcp: McpClient,
    user: String,
    client: String,
    tenant: Option<String>,
    entry: String,
    /// Which of mock-as's issuers the probe's tokens come from.
    style: IssuerStyle,
    resource: String,
    stateful: bool,
    /// Scopes a token "with everything" holds.
    all: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The PRM locations for a resource URL (RFC 9728 §3.1: path-suffixed, then root).
pub fn prm_candidates(resource: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(resource) else {
        return Vec::new();
    };
    let origin = u.origin().ascii_serialization();
    let path = u.path().trim_end_matches('/');
    let mut v = Vec::new();
    if !path.is_empty() {
        v.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    v.push(format!("{origin}/.well-known/oauth-protected-resource"));
    v
}

fn excerpt(s: &str) -> String {
    let one: String = s.chars().take(160).collect();
    one.replace(['\n', '\r'], " ")
}

fn content_type(ex: &Exchange) -> String {
    ex.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type")
        .to_string()
}

/// The preflight's verdict on the first answer (an MCP opening request without a token): `Ok`
/// for an MCP endpoint that asks for OAuth (401/403) or answers JSON-RPC, else the one line
/// naming the URL and the problem.
pub fn preflight_verdict(url: &str, ex: &Exchange) -> Result<(), String> {
    let wants_oauth = matches!(ex.status, 401 | 403);
    let speaks_jsonrpc = (200..300).contains(&ex.status) && ex.message.is_some();
    if wants_oauth || speaks_jsonrpc {
        return Ok(());
    }
    if ex.status == 0 {
        let why = match &ex.failure {
            Some(f) => f.describe(),
            None => format!("{} — is the server running?", excerpt(&ex.body)),
        };
        return Err(format!("{url}: {why}"));
    }
    let what = if ex.rpc_method.as_deref() == Some("server/discover") {
        "an MCP server/discover without a token"
    } else {
        "an MCP initialize without a token"
    };
    if (300..400).contains(&ex.status) {
        let to = ex
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        let here = url::Url::parse(url).ok();
        let there = here.as_ref().and_then(|h| h.join(to).ok());
        let elsewhere = match (&here, &there) {
            (Some(h), Some(t)) => h.origin() != t.origin(),
            _ => false,
        };
        let shown = there
            .map(|t| t.to_string())
            .unwrap_or_else(|| to.to_string());
        return Err(if elsewhere {
            format!(
                "{url}: answered {} redirecting to another origin ({shown}); the suite never follows redirects with a token (it would hand the token to another server) — give the final MCP endpoint with --url",
                ex.status
            )
        } else {
            format!(
                "{url}: answered {} redirecting to {shown}; the suite never follows redirects with a token — give the final MCP endpoint with --url",
                ex.status
            )
        });
    }
    if ex.status >= 500 {
        return Err(format!(
            "{url}: answered HTTP {} to {what} ({}: {}) — the server is failing; check its log",
            ex.status,
            content_type(ex),
            excerpt(&ex.body)
        ));
    }
    if (200..300).contains(&ex.status) {
        let ct = content_type(ex);
        let why = if let Some(c) = &ex.cut {
            format!(
                "answered HTTP {} ({ct}) to {what}, but no JSON-RPC answer came: {}",
                ex.status,
                c.note()
                    .trim_start_matches("[mcp-authcheck: ")
                    .trim_end_matches(']')
            )
        } else if ct.contains("html") || ex.body.trim_start().starts_with('<') {
            format!(
                "answered an HTML page (HTTP {}) to {what}, not JSON-RPC: {}",
                ex.status,
                excerpt(&ex.body)
            )
        } else if ct.starts_with("text/event-stream") {
            format!(
                "answered an event stream (HTTP {}) to {what} that ended without the JSON-RPC answer: {}",
                ex.status,
                excerpt(&ex.body)
            )
        } else if serde_json::from_str::<Value>(&ex.body).is_err() {
            format!(
                "answered HTTP {} to {what} with invalid JSON ({ct}): {}",
                ex.status,
                excerpt(&ex.body)
            )
        } else {
            format!(
                "answered HTTP {} to {what} with JSON that is not a JSON-RPC response to it: {}",
                ex.status,
                excerpt(&ex.body)
            )
        };
        return Err(format!(
            "{url}: not an MCP endpoint: it {why} — check the URL (the path of the MCP endpoint, e.g. /mcp)"
        ));
    }
    Err(format!(
        "{url}: not an MCP endpoint that asks for OAuth — {what} got HTTP {} ({}: {}); expected 401 with a Bearer challenge (or a JSON-RPC answer). Check the URL (the path of the MCP endpoint, e.g. /mcp)",
        ex.status,
        content_type(ex),
        excerpt(&ex.body)
    ))
}

/// The preflight: one bounded request to the endpoint before anything else — the revision's
/// opening request without a token. `Ok` = the answer (for the probe's challenge), `Err` = the
/// one line that ends the run (exit code 2).
pub async fn preflight(mcp: &McpClient) -> Result<Exchange, ProbeError> {
    let first = mcp.initialize(&Auth::None, "no token", &[]).await;
    preflight_verdict(&mcp.url, &first).map_err(ProbeError)?;
    Ok(first)
}

impl Prober<'_> {
    async fn mint(&self, scopes: &[String]) -> Result<String, ProbeError> {
        let req = MintRequest {
            server: Some(self.entry.clone()),
            issuer: self
                .style
                .project_audience()
                .then(|| self.style.as_str().to_string()),
            user: Some(self.user.clone()),
            client: Some(self.client.clone()),
            scopes: Some(scopes.to_vec()),
            resource: Some(self.resource.clone()),
            tenant: self.tenant.clone(),
            ..Default::default()
        };
        self.mock
            .mint(&req)
            .await
            .map_err(|e| ProbeError(format!("mock-as could not mint a token for the probe: {e}")))
    }

    /// Open a session (or, stateless, just initialize): the exchange and the session id.
    async fn open(&self, token: &str) -> (Exchange, Option<String>) {
        let auth = Auth::Bearer(token.to_string());
        let ex = self.mcp.open(&auth, "a probe token").await;
        let sid = ex.session_id();
        (ex, sid)
    }

    /// Whether a token with `scopes` is served: initialize, then `tools/list`.
    async fn served(&self, scopes: &[String]) -> Result<bool, ProbeError> {
        let token = self.mint(scopes).await?;
        let (init, sid) = self.open(&token).await;
        if !(200..300).contains(&init.status) || init.result().is_none() {
            return Ok(false);
        }
        let list = self
            .mcp
            .list_tools(&Auth::Bearer(token), "a probe token", sid.as_deref())
            .await;
        Ok((200..300).contains(&list.status) && list.result().is_some())
    }

    /// Call a tool with a token holding `scopes`.
    async fn call(
        &self,
        scopes: &[String],
        tool: &str,
        args: &serde_json::Map<String, Value>,
    ) -> Result<Exchange, ProbeError> {
        let token = self.mint(scopes).await?;
        let (init, sid) = self.open(&token).await;
        if !(200..300).contains(&init.status) {
            return Ok(init);
        }
        Ok(self
            .mcp
            .call_tool(
                &Auth::Bearer(token),
                "a probe token",
                sid.as_deref(),
                tool,
                Value::Object(args.clone()),
            )
            .await)
    }

    /// The smallest subset of `start` (keeping `keep`) for which `ok` holds, found by leaving
    /// one scope out at a time; `start` itself is known to work.
    async fn shrink<F, Fut>(
        &self,
        start: &[String],
        keep: &[String],
        ok: F,
    ) -> Result<Vec<String>, ProbeError>
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<bool, ProbeError>>,
    {
        let mut cur = start.to_vec();
        for s in start {
            if keep.contains(s) {
                continue;
            }
            let without: Vec<String> = cur.iter().filter(|c| *c != s).cloned().collect();
            if ok(without.clone()).await? {
                cur = without;
            }
        }
        Ok(cur)
    }

    /// `tools/list` with every scope, all pages.
    async fn list_all_tools(&self) -> Result<Vec<Value>, ProbeError> {
        let token = self.mint(&self.all).await?;
        let (_, sid) = self.open(&token).await;
        let auth = Auth::Bearer(token);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for page in 0..MAX_TOOL_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let msg = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": params});
            let ex = self
                .mcp
                .send(
                    reqwest::Method::POST,
                    &auth,
                    "a probe token",
                    sid.as_deref(),
                    Some(msg),
                    &[],
                )
                .await;
            let Some(r) = ex.result() else {
                if page == 0 {
                    return Err(ProbeError(format!(
                        "{}: tools/list with a valid token holding every scope failed: HTTP {} {}",
                        self.mcp.url,
                        ex.status,
                        excerpt(&ex.body)
                    )));
                }
                break;
            };
            out.extend(
                r.get("tools")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            cursor = r
                .get("nextCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Call a tool and judge the outcome: a successful tool result, or — for a tool that
    /// `lenient`ly counts as working — a connection token the server got from mock-as during
    /// the call (the call itself may fail later, e.g. at the upstream API: the connection
    /// scenarios say why).
    async fn works(
        &self,
        scopes: &[String],
        tool: &str,
        args: &serde_json::Map<String, Value>,
        lenient: bool,
    ) -> Result<(bool, Exchange), ProbeError> {
        let mark = self.mock.journal_mark().await.unwrap_or(0);
        let ex = self.call(scopes, tool, args).await?;
        if ex.tool_ok() {
            return Ok((true, ex));
        }
        let fetched = lenient && fetched_ok(&self.connection_fetches(mark).await);
        Ok((fetched, ex))
    }

    /// Connection fetches since `mark` that this probe's user made possible.
    async fn connection_fetches(&self, mark: u64) -> Vec<Value> {
        self.mock
            .journal("connections", mark)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                let mut c = e.get("connection").cloned()?;
                // The fetch's outcome, for "the server got its connection token".
                c["status"] = e.get("status").cloned().unwrap_or(Value::Null);
                Some(c)
            })
            .filter(|c| {
                // The subject of the caller's token, when mock-as could read it, is ours.
                c.get("subject")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == self.user)
            })
            .collect()
    }
}

/// Whether one of these journaled connection fetches got a token (HTTP 200).
fn fetched_ok(fetches: &[Value]) -> bool {
    fetches
        .iter()
        .any(|c| c.get("status").and_then(Value::as_u64) == Some(200))
}

/// Scopes a tool declares in `tools/list` (`securitySchemes`, top level or in `_meta`, as the
/// OpenAI Apps SDK convention and MCP SEP-1488 put them): every `oauth2` entry's scopes.
pub fn declared_scopes(tool: &Value) -> Option<Vec<String>> {
    let schemes = tool
        .get("securitySchemes")
        .or_else(|| tool.get("_meta").and_then(|m| m.get("securitySchemes")))?
        .as_array()?;
    let mut out = Vec::new();
    for s in schemes {
        if s.get("type").and_then(Value::as_str) == Some("oauth2") {
            out = union(&out, &strings(s.get("scopes").unwrap_or(&Value::Null)));
        }
    }
    Some(out)
}

/// Probe the server at `opts.url`, with mock-as reachable through `mock`.
pub async fn probe(
    opts: &ProbeOptions,
    mock: &MockAsClient,
    hints: &Hints,
) -> Result<ProbeReport, ProbeError> {
    let url = opts.url.clone();
    let mut learned: Vec<Learned> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut learn = |field: &str, how: String| {
        learned.push(Learned {
            field: field.to_string(),
            how,
        })
    };

    // 1. The endpoint answers like MCP (the preflight), before anything else.
    let offered = hints
        .protocol_version
        .clone()
        .unwrap_or_else(|| OFFERED_REVISION.to_string());
    // The probe's own circuit breaker: a server that stops answering mid-probe ends it at once.
    let breaker = std::sync::Arc::new(Breaker::new(&url, opts.timeouts));
    let mcp = McpClient::with_timeouts(&url, &offered, opts.timeouts)
        .with_breaker(breaker.clone())
        .sent_by(PROBE);
    let first = preflight(&mcp).await?;
    let challenge: Option<Challenge> = first.bearer_challenge().ok().flatten();
    if first.message.is_some() && (200..300).contains(&first.status) {
        notes.push(format!(
            "{url} served initialize without any token: it does not ask for OAuth, so the authentication scenarios will fail"
        ));
    }

    // mock-as: project, server entries, tenants, apps.
    let info = mock.get("/_mock/info").await.map_err(|e| {
        ProbeError(format!(
            "cannot read mock-as's control API at {}: {e}",
            mock.base
        ))
    })?;
    let pid = info["project_id"].as_str().unwrap_or_default().to_string();
    let entries: Vec<Entry> = info["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Entry {
            id: s["id"].as_str().unwrap_or_default().to_string(),
            issuer: s["issuer"].as_str().unwrap_or_default().to_string(),
            scopes: strings(&s["scopes"]),
        })
        .filter(|e| !e.id.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(ProbeError(format!(
            "mock-as at {} has no MCP server entry to mint tokens for (add [[mcp_servers]] to its configuration)",
            mock.base
        )));
    }
    let tenant = strings(&info["tenants"]).into_iter().next();
    let apps: Vec<(String, Vec<String>)> = mock
        .get("/_mock/apps")
        .await
        .map(|v| {
            v["apps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["id"].as_str().unwrap_or_default().to_string(),
                        strings(&a["scopes"]),
                    )
                })
                .filter(|(id, _)| !id.is_empty())
                .collect()
        })
        .unwrap_or_default();

    let challenge_scopes = challenge
        .as_ref()
        .map(Challenge::scopes)
        .unwrap_or_default();

    // 2. Protected Resource Metadata.
    let http = http::client(&opts.timeouts);
    let mut prm_urls: Vec<String> = challenge
        .as_ref()
        .and_then(|c| c.param("resource_metadata").map(str::to_string))
        .into_iter()
        .collect();
    prm_urls.extend(prm_candidates(&url));
    let mut prm: Option<(String, Value)> = None;
    for u in prm_urls {
        let Ok(resp) = http::fetch(http.get(&u), &opts.timeouts).await else {
            continue;
        };
        if !(200..300).contains(&resp.status) {
            continue;
        }
        let v = resp.json();
        if v.get("resource").and_then(Value::as_str).is_some() {
            prm = Some((u, v));
            break;
        }
    }
    let prm_resource = prm
        .as_ref()
        .and_then(|(_, v)| v["resource"].as_str().map(str::to_string));
    let prm_as = prm
        .as_ref()
        .map(|(_, v)| strings(&v["authorization_servers"]))
        .unwrap_or_default();
    let prm_scopes = prm
        .as_ref()
        .map(|(_, v)| strings(&v["scopes_supported"]))
        .unwrap_or_default();

    // 3. Which entry, which audience.
    let mut resources: Vec<(String, String)> = Vec::new();
    if let Some(r) = &hints.resource {
        resources.push((r.clone(), "the profile's server.resource".into()));
    } else {
        if let (Some(r), Some((u, _))) = (&prm_resource, &prm) {
            resources.push((
                r.clone(),
                format!("the resource named by the protected resource metadata at {u}"),
            ));
        }
        if prm_resource.as_deref() != Some(url.as_str()) {
            resources.push((
                url.clone(),
                if prm.is_some() {
                    "the MCP endpoint URL (the server accepts tokens for it, not for its metadata's resource)".into()
                } else {
                    "the MCP endpoint URL (the server serves no protected resource metadata)"
                        .into()
                },
            ));
        }
    }
    let norm = |s: &str| s.trim_end_matches('/').to_string();
    let mut order: Vec<&Entry> = Vec::new();
    if let Some(id) = &hints.mcp_server_id {
        match entries.iter().find(|e| &e.id == id) {
            Some(e) => order.push(e),
            None => {
                return Err(ProbeError(format!(
                    "the profile's mock_as.mcp_server_id {id:?} is not a server entry of mock-as at {} (it has {})",
                    mock.base,
                    entries
                        .iter()
                        .map(|e| e.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    } else {
        order.extend(
            entries
                .iter()
                .filter(|e| prm_as.iter().any(|a| norm(a) == norm(&e.issuer))),
        );
        order.extend(
            entries
                .iter()
                .filter(|e| !prm_as.iter().any(|a| norm(a) == norm(&e.issuer))),
        );
    }

    // Which issuer: the one the PRM names first, then the others (or only the profile's). The
    // issuer of a project-level style does not depend on the entry: one entry is enough there.
    let base = mock.base.trim_end_matches('/').to_string();
    let style_of = |a: &str| -> Option<IssuerStyle> {
        if entries.iter().any(|e| norm(a) == norm(&e.issuer)) {
            return Some(IssuerStyle::McpServer);
        }
        [IssuerStyle::InboundApp, IssuerStyle::Project]
            .into_iter()
            .find(|st| norm(a) == norm(&st.issuer(&base, &pid, "")))
    };
    let mut styles: Vec<IssuerStyle> = Vec::new();
    match hints.issuer {
        Some(st) => styles.push(st),
        None => {
            for st in prm_as
                .iter()
                .filter_map(|a| style_of(a))
                .chain(IssuerStyle::ALL)
            {
                if !styles.contains(&st) {
                    styles.push(st);
                }
            }
        }
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for st in &styles {
        let of_style: Vec<&Entry> = if *st == IssuerStyle::McpServer {
            order.clone()
        } else {
            order.iter().take(1).copied().collect()
        };
        for e in of_style {
            candidates.push(Candidate {
                style: *st,
                issuer: if *st == IssuerStyle::McpServer {
                    e.issuer.clone()
                } else {
                    st.issuer(&base, &pid, &e.id)
                },
                entry: e,
            });
        }
    }

    // The probe's own user on mock-as: its own role, a member of the first tenant, a stored
    // connection of every app and a policy rule allowing them, so connection-backed tools work.
    let tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0)
            & 0xffff_ffff
    );
    let user = format!("U2acprobe{tag}");
    let role = format!("authcheck-probe-{tag}");
    let tenants: Vec<(String, Vec<String>)> = tenant
        .iter()
        .map(|t| (t.clone(), vec![role.clone()]))
        .collect();
    mock.put_user(&user, std::slice::from_ref(&role), &tenants)
        .await
        .map_err(|e| ProbeError(format!("mock-as could not create the probe's user: {e}")))?;
    let existing = mock.connections().await.unwrap_or_default();
    let mut added_conns: Vec<String> = Vec::new();
    for (app, scopes) in &apps {
        if let Ok(c) = mock
            .add_connection(app, Some(&user), None, Some(scopes))
            .await
            && let Some(id) = c["id"].as_str()
        {
            added_conns.push(id.to_string());
        }
        if let Some(t) = &tenant {
            let has = existing.iter().any(|c| {
                c["appId"].as_str() == Some(app.as_str())
                    && c["tenantId"].as_str() == Some(t.as_str())
                    && c["userId"].as_str().is_none_or(str::is_empty)
            });
            if !has
                && let Ok(c) = mock.add_connection(app, None, Some(t), Some(scopes)).await
                && let Some(id) = c["id"].as_str()
            {
                added_conns.push(id.to_string());
            }
        }
    }
    let rule = format!("authcheck-probe-{tag}");
    let app_ids: Vec<&String> = apps.iter().map(|(a, _)| a).collect();
    let have_rule = !app_ids.is_empty()
        && mock
            .add_rule(json!({"name": rule, "apps": app_ids, "scopes": ["*"], "users": [user]}))
            .await
            .is_ok();

    let mark = mock.journal_mark().await.unwrap_or(0);
    let result = probe_with(
        &url,
        mock,
        hints,
        Prober {
            mock,
            mcp,
            user: user.clone(),
            client: format!("authcheck-probe-{tag}"),
            tenant: tenant.clone(),
            entry: String::new(),
            style: IssuerStyle::McpServer,
            resource: String::new(),
            stateful: false,
            all: Vec::new(),
        },
        &candidates,
        &resources,
        &challenge_scopes,
        &prm_scopes,
        &prm_as,
        prm.as_ref()
            .zip(prm_resource.as_deref())
            .map(|((u, _), r)| (u.as_str(), r)),
        &mut learn,
        &mut notes,
    )
    .await;

    // Clean up what the probe added on mock-as, whatever happened.
    if have_rule {
        let _ = mock.delete_rule(&rule).await;
    }
    for id in added_conns {
        let _ = mock.delete(&format!("/_mock/connections/{id}")).await;
    }
    let _ = mock.delete(&format!("/_mock/users/{user}")).await;
    // A server that stopped answering makes every later finding meaningless: say that instead.
    if let Some(line) = breaker.message() {
        return Err(ProbeError(line));
    }
    let (mut table, tools, entry_id, style) = result?;

    // 8. Validation mode.
    let introspected = mock
        .journal("introspect", mark)
        .await
        .map(|v| !v.is_empty())
        .unwrap_or(false);
    let auth = table
        .entry("auth")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(a) = auth.as_table_mut() {
        a.insert(
            "validation".into(),
            toml::Value::String(if introspected { "introspection" } else { "jwt" }.into()),
        );
    }
    learn(
        "auth.validation",
        if introspected {
            "the server called mock-as's introspection endpoint during the probe".into()
        } else {
            "the server never called mock-as's introspection endpoint during the probe: it validates JWTs locally".into()
        },
    );
    // 9. OAuth proxy: the PRM names an authorization server on the MCP server's own origin that
    // registers clients dynamically — the server is the AS its clients see, in front of the one
    // whose tokens it accepts (mock-as's, as the probe just saw).
    let proxy = own_origin_registrar(&http, &opts.timeouts, &url, &prm_as).await;
    if let Some(a) = table.get_mut("auth").and_then(toml::Value::as_table_mut) {
        a.insert("oauth_proxy".into(), toml::Value::Boolean(proxy.is_some()));
    }
    learn(
        "auth.oauth_proxy",
        match &proxy {
            Some(at) => format!(
                "the protected resource metadata names an authorization server on the server's own origin, whose metadata ({at}) offers dynamic registration, while the server accepts mock-as's tokens: it is an OAuth proxy"
            ),
            None => "no authorization server of the server's own origin with dynamic registration in its protected resource metadata: not an OAuth proxy".into(),
        },
    );
    let mut m = toml::Table::new();
    m.insert("url".into(), toml::Value::String(mock.base.clone()));
    m.insert("project_id".into(), toml::Value::String(pid.clone()));
    m.insert("mcp_server_id".into(), toml::Value::String(entry_id));
    m.insert(
        "issuer".into(),
        toml::Value::String(style.as_str().to_string()),
    );
    table.insert("mock_as".into(), toml::Value::Table(m));
    Ok(ProbeReport {
        table,
        learned,
        notes,
        tools,
    })
}

#[allow(clippy::too_many_arguments)]
async fn probe_with(
    url: &str,
    mock: &MockAsClient,
    hints: &Hints,
    mut p: Prober<'_>,
    order: &[Candidate<'_>],
    resources: &[(String, String)],
    challenge_scopes: &[String],
    prm_scopes: &[String],
    prm_as: &[String],
    prm_seen: Option<(&str, &str)>,
    learn: &mut impl FnMut(&str, String),
    notes: &mut Vec<String>,
) -> Result<(toml::Table, Vec<ProbedTool>, String, IssuerStyle), ProbeError> {
    let mut found: Option<(Exchange, String)> = None;
    let mut last: Option<Exchange> = None;
    'search: for c in order {
        let e = c.entry;
        for (r, r_how) in resources {
            p.entry = e.id.clone();
            p.style = c.style;
            p.resource = r.clone();
            p.all = union(&union(&e.scopes, prm_scopes), challenge_scopes);
            p.all = union(&p.all, &[OUTBOUND_SCOPE.to_string()]);
            if let Some(req) = &hints.required_scopes {
                p.all = union(&p.all, req);
            }
            // Up to twice: a 403 naming scopes the token lacks adds them.
            for _ in 0..2 {
                let token = p.mint(&p.all).await?;
                let (mut init, _) = p.open(&token).await;
                // A modern-only server refuses the handshake with a modern JSON-RPC error
                // (2026-07-28 §Versioning, Backward Compatibility): speak its revision instead.
                if init.result().is_none()
                    && hints.protocol_version.is_none()
                    && !p.mcp.modern()
                    && let Some(v) = modern_signal(&init)
                {
                    p.mcp.protocol_version = v;
                    init = p.open(&token).await.0;
                }
                if (200..300).contains(&init.status) && init.result().is_some() {
                    found = Some((init, r_how.clone()));
                    break 'search;
                }
                let more = init
                    .bearer_challenge()
                    .ok()
                    .flatten()
                    .filter(|c| {
                        init.status == 403 && c.param("error") == Some("insufficient_scope")
                    })
                    .map(|c| c.scopes())
                    .unwrap_or_default();
                let grow = minus(&more, &p.all);
                last = Some(init);
                if grow.is_empty() {
                    break;
                }
                p.all = union(&p.all, &grow);
            }
        }
    }
    let Some((init, resource_how)) = found else {
        let issuers: Vec<&str> = order.iter().map(|c| c.issuer.as_str()).collect();
        let first = issuers.first().copied().unwrap_or_default();
        let named_other = !prm_as.is_empty()
            && !prm_as.iter().any(|a| {
                issuers
                    .iter()
                    .any(|i| a.trim_end_matches('/') == i.trim_end_matches('/'))
            });
        let answer = last
            .as_ref()
            .map(|l| {
                format!(
                    "HTTP {}{}",
                    l.status,
                    l.www_authenticate()
                        .first()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        // The metadata names one of mock-as's own issuers that the profile ruled out.
        let ruled_out = prm_as.iter().find(|a| {
            a.starts_with(mock.base.trim_end_matches('/'))
                && !issuers
                    .iter()
                    .any(|i| a.trim_end_matches('/') == i.trim_end_matches('/'))
        });
        return Err(ProbeError(
            if let (Some(a), Some(st)) = (ruled_out, hints.issuer) {
                format!(
                    "{url}: refuses tokens of {first} (last answer {answer}); its protected resource metadata names mock-as's issuer {a}, but the profile's mock_as.issuer = {:?} rules that one out — remove mock_as.issuer (the probe then uses the issuer the server names) or change it, and run again",
                    st.as_str()
                )
            } else if named_other {
                format!(
                    "{url}: the server trusts {} (its protected resource metadata says so), not this mock-as — point your server at the issuer {first} (well-known {first}/.well-known/openid-configuration) and run again",
                    prm_as.join(", ")
                )
            } else {
                let mut tried: Vec<&str> = Vec::new();
                for i in &issuers {
                    if !tried.contains(i) {
                        tried.push(i);
                    }
                }
                format!(
                    "{url}: refuses every token of mock-as (issuers tried: {}; last answer {answer}) — point your server at the issuer {first} (well-known {first}/.well-known/openid-configuration, JWKS {}/{}/.well-known/jwks.json) with its own URL as the audience, and run again",
                    tried.join(", "),
                    mock.base,
                    first
                        .split('/')
                        .find(|s| s.len() == 28 && s.starts_with('P'))
                        .unwrap_or_default()
                )
            },
        ));
    };
    let accepted = order
        .iter()
        .find(|c| c.entry.id == p.entry && c.style == p.style)
        .map(|c| c.issuer.as_str())
        .unwrap_or_default();
    learn(
        "mock_as.mcp_server_id",
        format!(
            "the server accepted a token of mock-as's server entry {} (issuer {accepted})",
            p.entry,
        ),
    );
    learn(
        "mock_as.issuer",
        if hints.issuer.is_some() {
            format!("the profile's mock_as.issuer: tokens of {accepted}")
        } else if prm_as
            .iter()
            .any(|a| a.trim_end_matches('/') == accepted.trim_end_matches('/'))
        {
            format!(
                "{:?}: the protected resource metadata names {accepted}, and the server accepts its tokens",
                p.style.as_str()
            )
        } else {
            format!(
                "{:?}: the server accepts tokens of {accepted} (tried in turn: {})",
                p.style.as_str(),
                order
                    .iter()
                    .map(|c| c.issuer.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    );
    let mut server = toml::Table::new();
    server.insert("url".into(), toml::Value::String(url.to_string()));
    if let Some((u, r)) = prm_seen
        && r != p.resource
    {
        notes.push(format!(
            "the protected resource metadata at {u} names the resource {r}, but the server accepts tokens for {} — clients must reject such metadata (RFC 9728 §3.3), so real MCP clients will fail against this server",
            p.resource
        ));
    }
    if p.resource != url {
        server.insert("resource".into(), toml::Value::String(p.resource.clone()));
        learn("server.resource", resource_how.clone());
    } else if hints.resource.is_none() {
        learn("server.resource", format!("default = url: {resource_how}"));
    }

    // 4. Revision and sessions.
    let modern = p.mcp.modern();
    let negotiated = if modern {
        // server/discover lists what the server speaks; the client speaks one of them.
        let supported = init
            .result()
            .map(|r| strings(&r["supportedVersions"]))
            .unwrap_or_default();
        if supported.contains(&p.mcp.protocol_version) {
            p.mcp.protocol_version.clone()
        } else {
            supported.into_iter().max().unwrap_or_default()
        }
    } else {
        init.result()
            .and_then(|r| r.get("protocolVersion"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let version = match &hints.protocol_version {
        Some(v) => v.clone(),
        None if REVISIONS.contains(&negotiated.as_str()) => {
            learn(
                "server.protocol_version",
                if modern {
                    format!(
                        "the server refused initialize with a modern error, and server/discover lists {negotiated:?} (no handshake, no sessions)"
                    )
                } else {
                    format!("initialize answered protocolVersion {negotiated:?}")
                },
            );
            negotiated.clone()
        }
        None => {
            return Err(ProbeError(format!(
                "{url}: initialize answered protocolVersion {negotiated:?}, which the suite does not speak ({}); force one with server.protocol_version in a profile",
                REVISIONS.join(", ")
            )));
        }
    };
    server.insert(
        "protocol_version".into(),
        toml::Value::String(version.clone()),
    );
    p.mcp.protocol_version = version;
    if !p.mcp.modern() && hints.protocol_version.is_none() {
        // A dual-era server: say which era this run tests, and how to test the other.
        let token = p.mint(&p.all).await?;
        let mut modern_client = p.mcp.clone();
        modern_client.protocol_version = crate::mcp_client::MODERN_REVISION.to_string();
        let d = modern_client
            .initialize(&Auth::Bearer(token), "a probe token", &[])
            .await;
        let also: Vec<String> = d
            .result()
            .map(|r| strings(&r["supportedVersions"]))
            .unwrap_or_default()
            .into_iter()
            .filter(|v| crate::mcp_client::is_modern(v) && REVISIONS.contains(&v.as_str()))
            .collect();
        if let Some(v) = also.iter().max() {
            notes.push(format!(
                "the server also speaks {v} (server/discover answers it); this run tests {}, the revision initialize negotiated — run again with --protocol-version {v} (or server.protocol_version = \"{v}\") to test the other",
                p.mcp.protocol_version
            ));
        }
    }
    p.stateful = !p.mcp.modern() && init.session_id().is_some();
    server.insert("stateful".into(), toml::Value::Boolean(p.stateful));
    learn(
        "server.stateful",
        if p.mcp.modern() {
            "2026-07-28 has no sessions".into()
        } else if p.stateful {
            "initialize answered with an Mcp-Session-Id header".into()
        } else {
            "initialize answered without an Mcp-Session-Id header: no sessions".into()
        },
    );

    // 5. Required scopes.
    let required: Vec<String> = if let Some(r) = &hints.required_scopes {
        r.clone()
    } else if !challenge_scopes.is_empty() && p.served(challenge_scopes).await? {
        learn(
            "auth.required_scopes",
            format!(
                "the 401 challenge asks for scope=\"{}\", and a token with just that is served",
                challenge_scopes.join(" ")
            ),
        );
        challenge_scopes.to_vec()
    } else if p.served(&[]).await? {
        learn(
            "auth.required_scopes",
            "a token with no scope at all is served (initialize and tools/list)".into(),
        );
        Vec::new()
    } else {
        let all = p.all.clone();
        let r = p
            .shrink(&all, &[], |s| {
                let p = &p;
                async move { p.served(&s).await }
            })
            .await?;
        learn(
            "auth.required_scopes",
            format!(
                "the smallest set of scopes a token needs to be served (each other scope left out once){}",
                if challenge_scopes.is_empty() {
                    ": the 401 challenge names none"
                } else {
                    ""
                }
            ),
        );
        r
    };
    let mut auth = toml::Table::new();
    auth.insert(
        "required_scopes".into(),
        toml::Value::Array(required.iter().cloned().map(toml::Value::String).collect()),
    );

    // 6 and 7. Tools, their scopes and connections.
    let listed = p.list_all_tools().await?;
    let mut tools: Vec<ProbedTool> = Vec::new();
    for t in listed.iter().take(MAX_TOOLS) {
        let Some(name) = t.get("name").and_then(Value::as_str) else {
            continue;
        };
        let generated = !hints.arguments.contains_key(name);
        let mut args = hints.arguments.get(name).cloned().unwrap_or_else(|| {
            schema_args::minimal_arguments(t.get("inputSchema").unwrap_or(&Value::Null))
        });
        // A call with every scope must succeed, or the tool cannot be used by the scenarios.
        let mark = mock.journal_mark().await.unwrap_or(0);
        let mut full = p.call(&p.all, name, &args).await?;
        let mut fetches = p.connection_fetches(mark).await;
        let schema = t.get("inputSchema").unwrap_or(&Value::Null);
        if generated && !full.tool_ok() {
            // Maybe an optional argument is what it needs (a tenant, say): fill them all.
            let more = schema_args::all_arguments(schema);
            if more.len() > args.len() {
                let mark = mock.journal_mark().await.unwrap_or(0);
                let retry = p.call(&p.all, name, &more).await?;
                let retry_fetches = p.connection_fetches(mark).await;
                if retry.tool_ok() || !retry_fetches.is_empty() {
                    (args, full, fetches) = (more, retry, retry_fetches);
                }
            }
        }
        let mut tenant_argument: Option<String> = None;
        let sent_tenant = fetches
            .iter()
            .find_map(|c| c.get("tenant_id").and_then(Value::as_str))
            .map(str::to_string);
        let tenant_arg = sent_tenant.and_then(|tid| {
            args.iter()
                .find(|(k, v)| v.as_str() == Some(tid.as_str()) && schema_args::marker(k) == tid)
                .map(|(k, _)| k.clone())
        });
        if generated
            && let Some(k) = tenant_arg
            && let Some(real) = &p.tenant
        {
            // The server sent a generated argument as the tenant id: that argument names the
            // tenant. Call again with a real one.
            args.insert(k.clone(), Value::String(real.clone()));
            tenant_argument = Some(k);
            let mark = mock.journal_mark().await.unwrap_or(0);
            full = p.call(&p.all, name, &args).await?;
            fetches = p.connection_fetches(mark).await;
        }
        let lenient = !full.tool_ok() && fetched_ok(&fetches);
        if lenient {
            notes.push(format!(
                "tool {name}: the server got its connection token from mock-as, but a call with every scope did not succeed ({}); the connection scenarios use it and will say why",
                describe_failure(&full)
            ));
        } else if !full.tool_ok() {
            notes.push(format!(
                "tool {name}: a call with every scope did not succeed ({}), so no scenario uses it; give its arguments in a profile ([[tools]] name = {name:?}, arguments = {{…}}) if they were the reason",
                describe_failure(&full)
            ));
            continue;
        }
        let connection = fetches.iter().find_map(|c| {
            let app = c.get("app_id").and_then(Value::as_str)?;
            Some(ProbedConnection {
                app_id: app.to_string(),
                level: c
                    .get("level")
                    .and_then(Value::as_str)
                    .unwrap_or("user")
                    .to_string(),
                scopes: strings(c.get("scopes").unwrap_or(&Value::Null)),
                tenant_argument: tenant_argument.clone(),
            })
        });

        // Extra scopes.
        let declared = declared_scopes(t).map(|d| minus(&d, &required));
        let (minimal_ok, minimal) = p.works(&required, name, &args, lenient).await?;
        let (scopes, how) = if let Some(d) = declared.filter(|d| !d.is_empty()) {
            (
                d.clone(),
                format!(
                    "the tool declares the scopes {} (securitySchemes in tools/list)",
                    d.join(" ")
                ),
            )
        } else if minimal_ok {
            (
                Vec::new(),
                "a call with only the required scopes succeeds".into(),
            )
        } else {
            let named = minimal
                .bearer_challenge()
                .ok()
                .flatten()
                .map(|c| c.scopes())
                .unwrap_or_default();
            let challenged = minus(&named, &required);
            let with_challenged = union(&required, &challenged);
            if !challenged.is_empty() && p.works(&with_challenged, name, &args, lenient).await?.0 {
                (
                    challenged.clone(),
                    format!(
                        "a call with only the required scopes is refused with HTTP {} naming scope=\"{}\" (beyond the required ones: {})",
                        minimal.status,
                        named.join(" "),
                        challenged.join(" ")
                    ),
                )
            } else {
                let all = p.all.clone();
                let found = p
                    .shrink(&all, &required, |s| {
                        let (p, args) = (&p, &args);
                        async move { Ok(p.works(&s, name, args, lenient).await?.0) }
                    })
                    .await?;
                let extra = minus(&found, &required);
                (
                    extra,
                    format!(
                        "a call with only the required scopes does not succeed ({}); these are the scopes it needs beyond them (each other scope left out once)",
                        describe_failure(&minimal)
                    ),
                )
            }
        };
        tools.push(ProbedTool {
            name: name.to_string(),
            arguments: args,
            scopes,
            scopes_how: how,
            connection,
        });
    }
    if listed.len() > MAX_TOOLS {
        notes.push(format!(
            "the server lists {} tools; the probe examined the first {MAX_TOOLS}",
            listed.len()
        ));
    }
    if tools.is_empty() {
        notes.push(
            "no tool could be called successfully: the scenarios that call tools are skipped"
                .into(),
        );
    }
    let mut tool_values = Vec::new();
    for t in &tools {
        let mut tt = toml::Table::new();
        tt.insert("name".into(), toml::Value::String(t.name.clone()));
        tt.insert(
            "scopes".into(),
            toml::Value::Array(t.scopes.iter().cloned().map(toml::Value::String).collect()),
        );
        if !t.arguments.is_empty()
            && let Ok(toml::Value::Table(a)) =
                toml::Value::try_from(Value::Object(t.arguments.clone()))
        {
            tt.insert("arguments".into(), toml::Value::Table(a));
        }
        if let Some(c) = &t.connection {
            tt.insert("connection".into(), toml::Value::Table(c.to_toml()));
        }
        tool_values.push(toml::Value::Table(tt));
    }
    let mut table = toml::Table::new();
    table.insert("server".into(), toml::Value::Table(server));
    table.insert("auth".into(), toml::Value::Table(auth));
    table.insert("tools".into(), toml::Value::Array(tool_values));
    let entry = p.entry.clone();
    Ok((table, tools, entry, p.style))
}

/// A failed call in a few words.
fn describe_failure(ex: &Exchange) -> String {
    if ex.status == 0 {
        return excerpt(&ex.body);
    }
    if let Some(e) = ex.rpc_error() {
        return format!(
            "JSON-RPC error {}",
            excerpt(e.get("message").and_then(Value::as_str).unwrap_or_default())
        );
    }
    if ex.tool_error() {
        let text = ex
            .result()
            .and_then(|r| r.get("content"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        return format!("tool error: {}", excerpt(text));
    }
    format!("HTTP {}", ex.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prm_locations_path_first_then_root() {
        assert_eq!(
            prm_candidates("http://h:1/mcp/"),
            vec![
                "http://h:1/.well-known/oauth-protected-resource/mcp",
                "http://h:1/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            prm_candidates("http://h:1"),
            vec!["http://h:1/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn declared_scopes_from_security_schemes() {
        let t = json!({"name": "x", "_meta": {"securitySchemes": [{"type": "noauth"}, {"type": "oauth2", "scopes": ["a", "b"]}]}});
        assert_eq!(declared_scopes(&t), Some(vec!["a".into(), "b".into()]));
        let t = json!({"name": "x", "securitySchemes": [{"type": "oauth2", "scopes": ["c"]}]});
        assert_eq!(declared_scopes(&t), Some(vec!["c".into()]));
        assert_eq!(declared_scopes(&json!({"name": "x"})), None);
    }
}
