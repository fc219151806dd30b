//! Validation: every rule the TOML types cannot express (id shapes, uniqueness, references
//! between sections, lifetimes, exactly one active key), each error naming the file and the
//! dotted field. The per-item checks (`check_user`, `check_client`, the URL checks) are shared
//! with the control API.

use std::collections::HashSet;

use super::{ClientConfig, ClientType, Config, ConfigError, KeyState, McpServer, User};
use crate::model::Rule;
use crate::parse::parse_scope;

impl Config {
    /// Check every rule the TOML types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.project;
        if p.id.len() != 28
            || !p.id.starts_with('P')
            || !p.id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(self.err(
                "project.id",
                format!(
                    "must be 28 ASCII letters and digits starting with \"P\" (got {:?}, {} chars)",
                    p.id,
                    p.id.len()
                ),
            ));
        }
        if let Some(b) = &self.listen.base_url {
            check_base_url(b).map_err(|m| self.err("listen.base_url", m))?;
        }
        self.validate_keys()?;
        let mut seen = HashSet::new();
        for (i, m) in self.management_keys.iter().enumerate() {
            if m.secret.is_empty() || m.secret.contains(char::is_whitespace) {
                return Err(self.err(
                    format!("management_keys[{i}].secret"),
                    "must be non-empty and contain no white space",
                ));
            }
            if !seen.insert(&m.secret) {
                return Err(self.err(format!("management_keys[{i}].secret"), "duplicate secret"));
            }
        }
        if self.mcp_servers.is_empty() {
            return Err(self.err("mcp_servers", "at least one MCP server is required"));
        }
        let tids: HashSet<&str> = self.tenants.iter().map(|t| t.id.as_str()).collect();
        let uids_all: HashSet<&str> = self.users.iter().map(|u| u.id.as_str()).collect();
        let apps_all: HashSet<&str> = self.outbound_apps.iter().map(|a| a.id.as_str()).collect();
        let mut ids = HashSet::new();
        for (i, s) in self.mcp_servers.iter().enumerate() {
            let f = |x: &str| format!("mcp_servers[{i}].{x}");
            check_server(s, &uids_all, &tids, &apps_all)
                .map_err(|(field, m)| self.err(f(&field), m))?;
            if !ids.insert(s.id.as_str()) {
                return Err(self.err(f("id"), format!("duplicate MCP server id {:?}", s.id)));
            }
        }
        let mut seen_tenants = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.id.is_empty() || !seen_tenants.insert(t.id.as_str()) {
                return Err(self.err(
                    format!("tenants[{i}].id"),
                    format!("empty or duplicate tenant id {:?}", t.id),
                ));
            }
        }
        let mut uids = HashSet::new();
        let mut logins = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            check_user(u, &tids)
                .map_err(|(field, m)| self.err(format!("users[{i}].{field}"), m))?;
            if !uids.insert(u.id.as_str()) {
                return Err(self.err(
                    format!("users[{i}].id"),
                    format!("duplicate user id {:?}", u.id),
                ));
            }
            if !logins.insert(u.login_id.as_str()) {
                return Err(self.err(
                    format!("users[{i}].login_id"),
                    format!("duplicate login id {:?}", u.login_id),
                ));
            }
        }
        if let Some(d) = &p.default_user
            && !uids.contains(d.as_str())
        {
            return Err(self.err("project.default_user", format!("unknown user {d:?}")));
        }
        let mut cids = HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            if !cids.insert(c.id.as_str()) {
                return Err(self.err(
                    format!("clients[{i}].id"),
                    format!("duplicate client id {:?}", c.id),
                ));
            }
            check_client(c, &self.mcp_servers)
                .map_err(|(field, m)| self.err(format!("clients[{i}].{field}"), m))?;
        }
        self.validate_connections(&uids, &tids)
    }

    /// `[[outbound_apps]]`, `[[connections]]`, `[[connection_policy]]`,
    /// `[[token_exchange_policy]]`, and no `apps` in consent policies.
    fn validate_connections(
        &self,
        uids: &HashSet<&str>,
        tids: &HashSet<&str>,
    ) -> Result<(), ConfigError> {
        let mut apps = HashSet::new();
        for (i, a) in self.outbound_apps.iter().enumerate() {
            check_app(a)
                .map_err(|(field, m)| self.err(format!("outbound_apps[{i}].{field}"), m))?;
            if !apps.insert(a.id.as_str()) {
                return Err(self.err(
                    format!("outbound_apps[{i}].id"),
                    format!("duplicate outbound app id {:?}", a.id),
                ));
            }
        }
        for (i, c) in self.connections.iter().enumerate() {
            check_connection(c, &self.outbound_apps, uids, tids)
                .map_err(|(field, m)| self.err(format!("connections[{i}].{field}"), m))?;
        }
        let ctx = RuleScope {
            users: uids,
            tenants: tids,
            apps: &apps,
            server: None,
            resources: None,
        };
        for (i, r) in self.connection_policy.iter().enumerate() {
            check_rule(r, &ctx)
                .map_err(|(field, m)| self.err(format!("connection_policy[{i}].{field}"), m))?;
        }
        let urls: Vec<String> = self.mcp_servers.iter().map(|s| s.url.clone()).collect();
        let ctx = RuleScope {
            resources: Some(&urls),
            ..ctx
        };
        for (i, r) in self.token_exchange_policy.iter().enumerate() {
            check_rule(r, &ctx)
                .map_err(|(field, m)| self.err(format!("token_exchange_policy[{i}].{field}"), m))?;
        }
        Ok(())
    }

    fn validate_keys(&self) -> Result<(), ConfigError> {
        if self.keys.is_empty() {
            return Err(self.err("keys", "at least one signing key is required"));
        }
        let active = self
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        if active != 1 {
            return Err(self.err(
                "keys",
                format!("exactly one key must have state = \"active\" (found {active})"),
            ));
        }
        let mut kids = HashSet::new();
        for (i, k) in self.keys.iter().enumerate() {
            if k.kid.is_empty() || !k.kid.chars().all(|c| c.is_ascii_graphic()) {
                return Err(self.err(
                    format!("keys[{i}].kid"),
                    "must be non-empty printable ASCII",
                ));
            }
            if !kids.insert(k.kid.as_str()) {
                return Err(self.err(
                    format!("keys[{i}].kid"),
                    format!("duplicate kid {:?}", k.kid),
                ));
            }
        }
        Ok(())
    }
}

/// The most a lifetime may be: lifetimes are added to epoch seconds; ten years is beyond any test.
pub const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

/// Validate one MCP server entry (config or control API): id shape, resource URL (RFC 8707 §2),
/// scope tokens (RFC 6749 §3.3), lifetimes, audience, and its MCP Server (consent) Policy
/// against the users, tenants and apps that exist. Returns (field, message) on error.
pub fn check_server(
    s: &McpServer,
    users: &HashSet<&str>,
    tenants: &HashSet<&str>,
    apps: &HashSet<&str>,
) -> Result<(), (String, String)> {
    if !s.id.starts_with("MS") || s.id.len() < 4 || !s.id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err((
            "id".into(),
            format!(
                "must start with \"MS\" and be ASCII letters and digits (got {:?})",
                s.id
            ),
        ));
    }
    check_resource_url(&s.url).map_err(|m| ("url".to_string(), m))?;
    let mut names = HashSet::new();
    for (j, sc) in s.scopes.iter().enumerate() {
        if parse_scope(&sc.name).map(|v| v.len()) != Ok(1) {
            return Err((
                format!("scopes[{j}].name"),
                format!("{:?} is not a single RFC 6749 scope token", sc.name),
            ));
        }
        if !names.insert(sc.name.as_str()) {
            return Err((
                format!("scopes[{j}].name"),
                format!("duplicate scope {:?}", sc.name),
            ));
        }
    }
    for (name, v) in [
        ("access_token_ttl", s.access_token_ttl),
        ("code_ttl", s.code_ttl),
        ("refresh_token_ttl", s.refresh_token_ttl),
    ] {
        check_ttl(v).map_err(|m| (name.to_string(), m))?;
    }
    for (field, list) in [
        (
            "dcr_allowed_redirect_domains",
            &s.dcr_allowed_redirect_domains,
        ),
        ("cimd_allowed_domains", &s.cimd_allowed_domains),
    ] {
        for (j, d) in list.iter().enumerate() {
            check_domain_pattern(d).map_err(|m| (format!("{field}[{j}]"), m))?;
        }
    }
    if let Some(v) = s.consent_ttl {
        check_ttl(v).map_err(|m| ("consent_ttl".to_string(), m))?;
    }
    if s.dcr_rate_limit_per_minute == Some(0) {
        return Err((
            "dcr_rate_limit_per_minute".into(),
            "at least 1 (omit it for no limit)".into(),
        ));
    }
    if s.audience.is_empty() {
        return Err((
            "audience".into(),
            "needs at least one member (project, client, resource)".into(),
        ));
    }
    let ctx = RuleScope {
        users,
        tenants,
        apps,
        server: Some(s),
        resources: None,
    };
    for (j, r) in s.consent_policy.iter().enumerate() {
        check_rule(r, &ctx).map_err(|(field, m)| (format!("consent_policy[{j}].{field}"), m))?;
    }
    Ok(())
}

/// A host-name pattern for an allow-list: `example.com` or `*.example.com` (letters, digits,
/// `-` and `.`; no scheme, port or path).
pub fn check_domain_pattern(d: &str) -> Result<(), String> {
    let host = d.strip_prefix("*.").unwrap_or(d);
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{d:?} is not a host name or *.<domain> (no scheme, port or path)"
        ))
    }
}

/// A lifetime in seconds: from 1 to [`MAX_TTL`].
pub fn check_ttl(v: u64) -> Result<(), String> {
    if v == 0 || v > MAX_TTL {
        return Err(format!(
            "must be from 1 second to {MAX_TTL} seconds (ten years), got {v}"
        ));
    }
    Ok(())
}

/// Validate an outbound app (config or control API). Returns (field, message) on error.
pub fn check_app(a: &crate::config::OutboundApp) -> Result<(), (String, String)> {
    if a.id.is_empty() || a.id.contains(char::is_whitespace) || a.id.contains('/') {
        return Err((
            "id".into(),
            format!("{:?} must be non-empty, without white space or '/'", a.id),
        ));
    }
    check_ttl(a.token_ttl).map_err(|m| ("token_ttl".to_string(), m))
}

/// What a policy rule may name: the users, tenants and outbound apps that exist and, for an MCP
/// Server Policy, its server (whose scopes it may grant; it names no apps).
#[derive(Debug, Clone, Copy)]
pub struct RuleScope<'a> {
    /// User ids.
    pub users: &'a HashSet<&'a str>,
    /// Tenant ids.
    pub tenants: &'a HashSet<&'a str>,
    /// Outbound app ids.
    pub apps: &'a HashSet<&'a str>,
    /// The server of an MCP Server Policy; `None` for the Connections Policy.
    pub server: Option<&'a McpServer>,
    /// The Token Exchange Policy: the configured servers' URLs its rules may target; `None`
    /// for the other policies (which name no resources).
    pub resources: Option<&'a [String]>,
}

/// Validate one allow rule (config or control API; mock-as/DESCOPE.md §11). Returns
/// (field, message) on error.
pub fn check_rule(r: &Rule, ctx: &RuleScope<'_>) -> Result<(), (String, String)> {
    if ctx.server.is_some() && !r.apps.is_empty() {
        return Err((
            "apps".into(),
            "apps belong in connection_policy, not in a consent policy".into(),
        ));
    }
    match ctx.resources {
        None if !r.resources.is_empty() => {
            return Err((
                "resources".into(),
                "resources belong in token_exchange_policy".into(),
            ));
        }
        Some(_) if !r.apps.is_empty() => {
            return Err((
                "apps".into(),
                "apps belong in connection_policy, not in the token exchange policy".into(),
            ));
        }
        Some(urls) => {
            if let Some(x) = r.resources.iter().find(|x| !urls.contains(x)) {
                return Err((
                    "resources".into(),
                    format!("{x:?} is not the url of a configured MCP server"),
                ));
            }
        }
        None => {}
    }
    if let Some(a) = r.apps.iter().find(|a| !ctx.apps.contains(a.as_str())) {
        return Err(("apps".into(), format!("unknown outbound app {a:?}")));
    }
    if let Some(t) = r.tenants.iter().find(|t| !ctx.tenants.contains(t.as_str())) {
        return Err(("tenants".into(), format!("unknown tenant {t:?}")));
    }
    if let Some(u) = r.users.iter().find(|u| !ctx.users.contains(u.as_str())) {
        return Err(("users".into(), format!("unknown user {u:?}")));
    }
    if let Some(s) = ctx.server
        && let Some(sc) = r.scopes.iter().find(|sc| *sc != "*" && !s.knows_scope(sc))
    {
        return Err((
            "scopes".into(),
            format!("{sc:?} is not a scope of this server"),
        ));
    }
    Ok(())
}

/// Validate a stored connection token (a `[[connections]]` seed or `POST /_mock/connections`):
/// its app, user and tenant exist, it names a user or a tenant, and its scopes are the app's.
/// Returns (field, message) on error.
pub fn check_connection(
    c: &crate::config::ConnectionSeed,
    apps: &[crate::config::OutboundApp],
    users: &HashSet<&str>,
    tenants: &HashSet<&str>,
) -> Result<(), (String, String)> {
    let Some(app) = apps.iter().find(|a| a.id == c.app) else {
        return Err(("app".into(), format!("unknown outbound app {:?}", c.app)));
    };
    if c.user.is_none() && c.tenant.is_none() {
        return Err((
            "user".into(),
            "a connection needs a user, a tenant, or both".into(),
        ));
    }
    if let Some(u) = &c.user
        && !users.contains(u.as_str())
    {
        return Err(("user".into(), format!("unknown user {u:?}")));
    }
    if let Some(t) = &c.tenant
        && !tenants.contains(t.as_str())
    {
        return Err(("tenant".into(), format!("unknown tenant {t:?}")));
    }
    if let Some(bad) = c.scopes.iter().find(|s| !app.scopes.contains(s)) {
        return Err((
            "scopes".into(),
            format!("{bad:?} is not a scope of app {:?}", app.id),
        ));
    }
    Ok(())
}

/// The listen address's base URL: absolute http(s), no query, fragment or trailing slash.
pub fn check_base_url(b: &str) -> Result<(), String> {
    let u = url::Url::parse(b).map_err(|e| format!("{b:?} is not an absolute URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https")
        || u.query().is_some()
        || u.fragment().is_some()
        || b.ends_with('/')
    {
        return Err(format!(
            "{b:?} must be an http(s) URL without query, fragment or trailing slash"
        ));
    }
    Ok(())
}

/// An RFC 8707 resource: absolute http(s) URI without a fragment.
pub fn check_resource_url(r: &str) -> Result<(), String> {
    let u = url::Url::parse(r).map_err(|e| format!("{r:?} is not an absolute URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.fragment().is_some() {
        return Err(format!(
            "{r:?} must be an http(s) URL without a fragment (RFC 8707 §2)"
        ));
    }
    Ok(())
}

/// Whether a host is loopback (`localhost`, 127.0.0.0/8, `[::1]`).
pub fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A redirect URI: https, or http on a loopback host (RFC 8252 §7.3); no fragment (RFC 6749 §3.1.2).
pub fn check_redirect_uri(r: &str) -> Result<(), String> {
    let u = url::Url::parse(r).map_err(|e| format!("{r:?} is not an absolute URI: {e}"))?;
    if u.fragment().is_some() {
        return Err(format!(
            "{r:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&u) => Ok(()),
        "http" => Err(format!(
            "{r:?} uses http on a non-loopback host; use https (OAuth 2.1 §7.5.1)"
        )),
        s => Err(format!(
            "{r:?} has scheme {s:?}; only https and loopback http are accepted"
        )),
    }
}

/// Validate a user (config or control API). Returns (field, message) on error.
pub fn check_user(u: &User, tenants: &HashSet<&str>) -> Result<(), (String, String)> {
    if !u.id.starts_with('U') || u.id.len() < 2 || !u.id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err((
            "id".into(),
            format!(
                "must start with \"U\" and be ASCII letters and digits (got {:?})",
                u.id
            ),
        ));
    }
    if u.login_id.trim().is_empty() {
        return Err(("login_id".into(), "must not be empty".into()));
    }
    for (k, t) in u.tenants.iter().enumerate() {
        if !tenants.contains(t.id.as_str()) {
            return Err((
                format!("tenants[{k}].id"),
                format!("unknown tenant {:?}", t.id),
            ));
        }
    }
    Ok(())
}

/// Validate a client (config or control API) against the servers. Returns (field, message).
pub fn check_client(c: &ClientConfig, servers: &[McpServer]) -> Result<(), (String, String)> {
    if c.id.is_empty() || !c.id.chars().all(|ch| ch.is_ascii_graphic()) {
        return Err(("id".into(), "must be non-empty printable ASCII".into()));
    }
    match (c.kind, &c.secret) {
        (ClientType::Confidential, None) => {
            return Err((
                "secret".into(),
                "a confidential client needs a secret".into(),
            ));
        }
        (ClientType::Confidential, Some(s)) if s.is_empty() => {
            return Err(("secret".into(), "must not be empty".into()));
        }
        (ClientType::Public, Some(_)) => {
            return Err(("secret".into(), "a public client has no secret".into()));
        }
        _ => {}
    }
    for (j, g) in c.grant_types.iter().enumerate() {
        if crate::protocol::GrantType::parse(g).is_none() {
            return Err((
                format!("grant_types[{j}]"),
                format!("{g:?} is not one of {}", crate::protocol::GrantType::list()),
            ));
        }
        if g == "client_credentials" && c.kind == ClientType::Public {
            return Err((
                format!("grant_types[{j}]"),
                "client_credentials needs a confidential client".into(),
            ));
        }
    }
    for (j, r) in c.redirect_uris.iter().enumerate() {
        check_redirect_uri(r).map_err(|m| (format!("redirect_uris[{j}]"), m))?;
    }
    if c.grant_types.iter().any(|g| g == "authorization_code") && c.redirect_uris.is_empty() {
        return Err((
            "redirect_uris".into(),
            "authorization_code needs at least one redirect URI".into(),
        ));
    }
    for (j, s) in c.servers.iter().enumerate() {
        if !servers.iter().any(|m| &m.id == s) {
            return Err((format!("servers[{j}]"), format!("unknown MCP server {s:?}")));
        }
    }
    for (j, sc) in c.scopes.iter().enumerate() {
        let known = servers
            .iter()
            .filter(|m| c.servers.is_empty() || c.servers.contains(&m.id))
            .any(|m| m.knows_scope(sc));
        if !known {
            return Err((
                format!("scopes[{j}]"),
                format!("{sc:?} is not a scope of the client's MCP servers"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TOML;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::embedded_default().expect("default config");
        assert!(c.mcp_servers.len() >= 2);
        assert!(
            c.users
                .iter()
                .map(|u| &u.roles)
                .collect::<HashSet<_>>()
                .len()
                >= 2
        );
    }

    #[test]
    fn unknown_field_names_field_and_file() {
        let text = DEFAULT_TOML.replacen("[project]", "[project]\nbogus = 1", 1);
        let e = Config::parse(&text, "x.toml", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml: "), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn connection_sections_are_validated() {
        let e = Config::parse(
            &DEFAULT_TOML.replace(
                "app = \"salesforce\"\ntenant = \"T2acme\"",
                "app = \"nope\"\ntenant = \"T2acme\"",
            ),
            "c.toml",
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "connections[2].app", "{e}");
        let e = Config::parse(
            &DEFAULT_TOML.replace("apps = [\"salesforce\"]", "apps = [\"nope\"]"),
            "c.toml",
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "connection_policy[2].apps", "{e}");
        let e = Config::parse(
            &DEFAULT_TOML.replace("code_ttl = 60", "code_ttl = 9223372036854775807"),
            "c.toml",
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "mcp_servers[0].code_ttl", "{e}");
    }

    #[test]
    fn bad_project_id_names_field() {
        let c = Config::embedded_default().expect("default");
        let text = DEFAULT_TOML.replace(&c.project.id, "Pshort");
        let e = Config::parse(&text, "y.toml", None).unwrap_err();
        assert_eq!(e.field, "project.id");
    }
}
