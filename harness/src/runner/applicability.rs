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
        let why = Capability::from_tag(t).and_then(|c| c.missing_in(p));
        if why.is_some() {
            return why;
        }
    }
    None
}

/// What a scenario needs of the server, named by a feature-file tag (`@connection-user`); a
/// scenario whose capability the profile lacks is SKIPPED with [`Capability::missing_in`]'s
/// reason. Tags that name no capability (levels, requirements, revisions) are not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `@stateful`: the server keeps MCP sessions.
    Stateful,
    /// `@jwt`: the server validates JWTs locally with the JWKS.
    Jwt,
    /// `@introspection`: the server validates by introspection at the AS.
    Introspection,
    /// `@connection-user`: a tool fetches a user-level connection.
    ConnectionUser,
    /// `@connection-tenant`: a tool fetches a tenant-level connection.
    ConnectionTenant,
    /// `@required-scope`: the server requires a scope of every caller.
    RequiredScope,
    /// `@tool-scope`: a tool needs a scope beyond the required ones.
    ToolScope,
    /// `@origin`: the server validates `Origin`.
    Origin,
    /// `@oauth-proxy`: the server is an OAuth proxy with an authorization server of its own.
    OauthProxy,
    /// `@scope-hierarchy`: a declared broader scope implies a tool's scope.
    ScopeHierarchy,
    /// `@key-retirement`: how long the server keeps a key that left the JWKS is known.
    KeyRetirement,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 11] = [
        Capability::Stateful,
        Capability::Jwt,
        Capability::Introspection,
        Capability::ConnectionUser,
        Capability::ConnectionTenant,
        Capability::RequiredScope,
        Capability::ToolScope,
        Capability::Origin,
        Capability::OauthProxy,
        Capability::ScopeHierarchy,
        Capability::KeyRetirement,
    ];

    /// The tag (without `@`).
    pub fn tag(self) -> &'static str {
        match self {
            Capability::Stateful => "stateful",
            Capability::Jwt => "jwt",
            Capability::Introspection => "introspection",
            Capability::ConnectionUser => "connection-user",
            Capability::ConnectionTenant => "connection-tenant",
            Capability::RequiredScope => "required-scope",
            Capability::ToolScope => "tool-scope",
            Capability::Origin => "origin",
            Capability::OauthProxy => "oauth-proxy",
            Capability::ScopeHierarchy => "scope-hierarchy",
            Capability::KeyRetirement => "key-retirement",
        }
    }

    /// The capability a tag names, if it names one.
    pub fn from_tag(tag: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.tag() == tag)
    }

    /// Why the profile lacks it (`None` = it has it): the reason a SKIPPED record carries.
    pub fn missing_in(self, p: &Profile) -> Option<String> {
        let why = match self {
            Capability::Stateful if !p.stateful() => {
                "the server keeps no sessions (no Mcp-Session-Id on initialize, or server.stateful = false)"
            }
            Capability::Jwt if p.auth.validation != Validation::Jwt => {
                "the profile says the server validates by introspection (auth.validation = \"introspection\"): it does not use the JWKS"
            }
            Capability::Introspection if p.auth.validation != Validation::Introspection => {
                "the profile says the server validates JWTs locally (auth.validation = \"jwt\"), not by introspection at the AS"
            }
            Capability::ConnectionUser if p.connection_tool("user").is_none() => {
                "no tool fetched a user-level connection during the probe; needs `tools[].connection` (level = \"user\") in a profile if one does"
            }
            Capability::ConnectionTenant if p.connection_tool("tenant").is_none() => {
                "no tool fetched a tenant-level connection during the probe; needs `tools[].connection` (level = \"tenant\") in a profile if one does"
            }
            Capability::RequiredScope if p.auth.required_scopes.is_empty() => {
                "the server requires no scope (none learned; needs `auth.required_scopes` in a profile if it does)"
            }
            Capability::ToolScope if p.scoped_tool().is_none() => {
                "no tool needs a scope beyond the required ones (none learned; needs `tools[].scopes` in a profile if one does)"
            }
            Capability::Origin if !p.server.validates_origin => {
                "the profile says the server does not validate Origin (server.validates_origin = false)"
            }
            Capability::OauthProxy if !p.auth.oauth_proxy => {
                "the server is not an OAuth proxy: its protected resource metadata names no authorization server of its own origin that registers clients (set auth.oauth_proxy = true in a profile if it is one)"
            }
            Capability::ScopeHierarchy
                if p.scoped_tool()
                    .and_then(|t| p.broader_scope_for(t))
                    .is_none() =>
            {
                if p.auth.scope_hierarchy.is_empty() {
                    "the profile declares no scope hierarchy (`auth.scope_hierarchy`: the wire cannot tell which scope implies which)"
                } else {
                    "the profile's auth.scope_hierarchy implies none of the scopes of the tool that needs an extra scope"
                }
            }
            Capability::KeyRetirement if p.auth.jwks_max_age_seconds.is_none() => {
                "needs `auth.jwks_max_age_seconds` in a profile: how long the server keeps a key that left the JWKS (the wire cannot tell)"
            }
            _ => return None,
        };
        Some(why.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_round_trips_through_its_tag() {
        for c in Capability::ALL {
            assert_eq!(Capability::from_tag(c.tag()), Some(c), "{c:?}");
        }
        for other in ["must", "req-24", "since-2025-06-18", "no-such-capability"] {
            assert_eq!(Capability::from_tag(other), None, "{other}");
        }
    }

    #[test]
    fn a_missing_capability_says_what_to_declare() {
        let p = Profile::parse(
            "[server]\nurl = \"http://127.0.0.1:8001/mcp\"\n[mock_as]\nurl = \"http://127.0.0.1:8787\"\n\
             project_id = \"P2mockAsDefaultProject000001\"\nmcp_server_id = \"MS2calendar\"\n",
            "p.toml",
        )
        .unwrap();
        let why = Capability::KeyRetirement.missing_in(&p).unwrap();
        assert!(why.contains("auth.jwks_max_age_seconds"), "{why}");
        assert_eq!(
            not_applicable(&["key-retirement".to_string()], &p),
            Some(why)
        );
    }
}
