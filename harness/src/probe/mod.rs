//! The probe: before any scenario, learn from the server under test what a profile would say
//! ("the wire decides": what the server can tell, the suite learns). Every learned value carries how it was learned (for
//! `mcp-authcheck init` and the console), and every value can be overridden by a profile field;
//! the result is a profile layer (a TOML table) that [`crate::profile::Profile::from_layers`]
//! merges under the user's file.
//!
//! What it learns, in order (each step's requests are bounded by [`ProbeOptions::timeouts`]):
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
//!
//! Where it lives: [`probe`] (this file) sets the probe up on mock-as, runs it and cleans up;
//! `model` holds the types of what was learned; `wire` the requests and answers read off the
//! server (preflight, metadata locations, declared scopes); `prober` minting tokens and
//! finding the scopes a request needs; `learn` the learning itself, step by step.

mod learn;
mod model;
mod prober;
mod wire;

pub use model::{Hints, Learned, ProbeError, ProbeReport, ProbedConnection, ProbedTool};
pub use wire::{
    as_metadata_urls, declared_scopes, modern_signal, preflight, preflight_verdict, prm_candidates,
};

use std::time::Duration;

use serde_json::{Value, json};

use crate::as_client::MockAsClient;
use crate::breaker::{Breaker, PROBE};
use crate::challenge::Challenge;
use crate::http::{self, Timeouts};
use crate::mcp_client::McpClient;
use crate::profile::IssuerStyle;

use learn::probe_with;
use prober::{Candidate, Entry, Prober};
use wire::{own_origin_registrar, strings};

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
