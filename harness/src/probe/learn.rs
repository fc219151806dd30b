//! The learning itself, given the candidates and the probe's user on mock-as: which server
//! entry, issuer and audience the server accepts, its revision and sessions, the required
//! scopes, and each tool's arguments, extra scopes and connection — as a profile layer.

use serde_json::Value;

use crate::as_client::MockAsClient;
use crate::mcp_client::{Auth, Exchange};
use crate::profile::{IssuerStyle, REVISIONS, minus, union};
use crate::schema_args;

use super::prober::{Candidate, Prober, fetched_ok};
use super::wire::{declared_scopes, describe_failure, modern_signal, strings};
use super::{Hints, MAX_TOOLS, OUTBOUND_SCOPE, ProbeError, ProbedConnection, ProbedTool};

#[allow(clippy::too_many_arguments)]
pub(super) async fn probe_with(
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
