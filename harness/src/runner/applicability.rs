//! Applicability: why a scenario does not apply to the profile (its tags against what the
//! profile says), the reason a SKIPPED record carries.

use crate::profile::{Profile, Validation};

/// Why a scenario does not apply to the profile (`None` = it applies).
pub fn not_applicable(tags: &[String], p: &Profile) -> Option<String> {
    let v = p.server.protocol_version.as_str();
    for t in tags {
        if let Some(since) = t.strip_prefix("since-")
            && v < since
        {
            return Some(format!(
                "applies from revision {since}; the profile speaks {v}"
            ));
        }
        if let Some(until) = t.strip_prefix("until-")
            && v > until
        {
            return Some(format!(
                "applies up to revision {until}; the profile speaks {v}"
            ));
        }
        let why = match t.as_str() {
            "stateful" if !p.stateful() => Some("the server keeps no sessions (no Mcp-Session-Id on initialize, or server.stateful = false)".to_string()),
            "jwt" if p.auth.validation != Validation::Jwt => Some(
                "the profile says the server validates by introspection (auth.validation = \"introspection\"): it does not use the JWKS".to_string(),
            ),
            "introspection" if p.auth.validation != Validation::Introspection => {
                Some("the profile says the server validates JWTs locally (auth.validation = \"jwt\"), not by introspection at the AS".to_string())
            }
            "connection-user" if p.connection_tool("user").is_none() => Some("no tool fetched a user-level connection during the probe; needs `tools[].connection` (level = \"user\") in a profile if one does".to_string()),
            "connection-tenant" if p.connection_tool("tenant").is_none() => {
                Some("no tool fetched a tenant-level connection during the probe; needs `tools[].connection` (level = \"tenant\") in a profile if one does".to_string())
            }
            "required-scope" if p.auth.required_scopes.is_empty() => {
                Some("the server requires no scope (none learned; needs `auth.required_scopes` in a profile if it does)".to_string())
            }
            "tool-scope" if p.scoped_tool().is_none() => Some("no tool needs a scope beyond the required ones (none learned; needs `tools[].scopes` in a profile if one does)".to_string()),
            "origin" if !p.server.validates_origin => Some("the profile says the server does not validate Origin (server.validates_origin = false)".to_string()),
            "oauth-proxy" if !p.auth.oauth_proxy => Some("the server is not an OAuth proxy: its protected resource metadata names no authorization server of its own origin that registers clients (set auth.oauth_proxy = true in a profile if it is one)".to_string()),
            "scope-hierarchy" if p.scoped_tool().and_then(|t| p.broader_scope_for(t)).is_none() => Some(
                if p.auth.scope_hierarchy.is_empty() {
                    "the profile declares no scope hierarchy (`auth.scope_hierarchy`: the wire cannot tell which scope implies which)".to_string()
                } else {
                    "the profile's auth.scope_hierarchy implies none of the scopes of the tool that needs an extra scope".to_string()
                },
            ),
            "key-retirement" if p.auth.jwks_max_age_seconds.is_none() => Some(
                "needs `auth.jwks_max_age_seconds` in a profile: how long the server keeps a key that left the JWKS (the wire cannot tell)"
                    .to_string(),
            ),
            _ => None,
        };
        if why.is_some() {
            return why;
        }
    }
    None
}
