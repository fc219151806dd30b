//! What the probe reads off the wire without learning anything yet: the preflight and its
//! verdict, where metadata lives (RFC 9728 §3.1, RFC 8414 §3), a modern revision's refusal, the
//! scopes a tool declares, and the few-word descriptions of answers used in notes and errors.

use serde_json::Value;

use crate::http::{self, Timeouts};
use crate::mcp_client::{Auth, Exchange, McpClient};
use crate::profile::{REVISIONS, union};

use super::ProbeError;

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
pub(super) async fn own_origin_registrar(
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

pub(super) fn strings(v: &Value) -> Vec<String> {
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

pub(super) fn excerpt(s: &str) -> String {
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

/// A failed call in a few words.
pub(super) fn describe_failure(ex: &Exchange) -> String {
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
    use serde_json::json;

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
