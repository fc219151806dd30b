//! The TOML configuration: an embedded default, file loading, and validation whose errors name
//! the file and the field (`fixtures/mock-as/default.toml: mcp_servers[1].id: must start with "MS"`).
//!
//! The annotated reference is README "Configuration"; `fixtures/mock-as/default.toml` is the
//! embedded default.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::model::Rule;
pub use crate::model::{User, UserTenant};
use crate::parse::parse_scope;

/// The embedded default configuration (`cargo run -p mock-as` with no arguments).
pub const DEFAULT_TOML: &str = include_str!("../../fixtures/mock-as/default.toml");
/// The name the embedded default reports in errors.
pub const DEFAULT_NAME: &str = "<embedded default: fixtures/mock-as/default.toml>";

/// Test-only keys compiled into the binary, usable as `pem = "builtin:NAME"`.
const BUILTIN_KEYS: &[(&str, &str)] = &[
    ("rs256-1", include_str!("../../fixtures/keys/rs256-1.pem")),
    ("rs256-2", include_str!("../../fixtures/keys/rs256-2.pem")),
    ("rs256-3", include_str!("../../fixtures/keys/rs256-3.pem")),
    ("rs256-4", include_str!("../../fixtures/keys/rs256-4.pem")),
    ("es256-1", include_str!("../../fixtures/keys/es256-1.pem")),
    (
        "foreign-rs256",
        include_str!("../../fixtures/keys/foreign-rs256.pem"),
    ),
];

/// The PEM of the key never published in any JWKS (the `foreign_key` flaw signs with it).
pub fn foreign_key_pem() -> &'static str {
    builtin_key("foreign-rs256").unwrap_or_default()
}

fn builtin_key(name: &str) -> Option<&'static str> {
    BUILTIN_KEYS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

/// A configuration error: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or the embedded default's name).
    pub file: String,
    /// The dotted field path, e.g. `mcp_servers[0].scopes[2].name`; empty for syntax errors.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration of one mock project.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Descope project every server, user and key belongs to.
    pub project: Project,
    /// Where to listen and which base URL to advertise.
    #[serde(default)]
    pub listen: Listen,
    /// Signing keys; exactly one is `active`.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Management keys: `Bearer <pid>:<secret>` on `/v1/mgmt/...`.
    #[serde(default)]
    pub management_keys: Vec<ManagementKey>,
    /// The MCP servers (Descope "MCP server" apps) of the project; each has its own issuer.
    pub mcp_servers: Vec<McpServer>,
    /// Users who can consent at `/authorize` and own connection tokens.
    #[serde(default)]
    pub users: Vec<User>,
    /// Tenants users can belong to.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// Pre-registered OAuth clients.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Outbound apps (Descope "connections"): third-party providers users connect.
    #[serde(default)]
    pub outbound_apps: Vec<OutboundApp>,
    /// Connection tokens stored at start-up.
    #[serde(default)]
    pub connections: Vec<ConnectionSeed>,
    /// The Connections Policy: allow-only rules for connection-token fetches made with a user's
    /// access token. Empty = everything allowed.
    #[serde(default)]
    pub connection_policy: Vec<Rule>,
    /// Where the configuration came from (file path or embedded), for messages; not in TOML.
    #[serde(skip)]
    pub source: String,
    /// Directory relative key paths are resolved against; not in TOML.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// `[project]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// 28 characters starting with `P` (keeps Descope SDKs off their region logic, descope-api.md §8).
    pub id: String,
    /// Display name.
    #[serde(default = "default_project_name")]
    pub name: String,
    /// The user who consents at `/authorize` when the request has no `login_hint`.
    #[serde(default)]
    pub default_user: Option<String>,
}

fn default_project_name() -> String {
    "mock-as project".into()
}

/// `[listen]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Address to bind; loopback by default (the control API is unauthenticated on loopback only).
    #[serde(default = "default_bind")]
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The base URL advertised in every document; default `http://{bind}:{bound port}`.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            bind: default_bind(),
            port: default_port(),
            base_url: None,
        }
    }
}

fn default_bind() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_port() -> u16 {
    8787
}

/// Signature algorithms `mock-as` signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum KeyAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Descope's algorithm).
    RS256,
    /// ECDSA P-256 with SHA-256 (optional).
    ES256,
}

/// The lifecycle state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS and signs new tokens. Exactly one key is active.
    Active,
    /// Published in the JWKS (old tokens verify) but does not sign.
    Published,
    /// Not published; `POST /_mock/keys/rotate` takes the first spare.
    Spare,
}

/// `[[keys]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The `kid` in the JWKS and in token headers (Descope uses `SK...`).
    pub kid: String,
    /// Algorithm; RS256 by default.
    #[serde(default = "default_alg")]
    pub alg: KeyAlg,
    /// PEM file (PKCS#8 or PKCS#1), relative to the config file, or `builtin:NAME` for the test
    /// keys compiled in from `fixtures/keys/`.
    pub pem: String,
    /// Lifecycle state; `published` by default.
    #[serde(default = "default_key_state")]
    pub state: KeyState,
}

fn default_alg() -> KeyAlg {
    KeyAlg::RS256
}
fn default_key_state() -> KeyState {
    KeyState::Published
}

/// `[[management_keys]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementKey {
    /// A label for the journal.
    pub id: String,
    /// The secret part of `Bearer <pid>:<secret>`.
    pub secret: String,
}

/// One member of the `aud` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AudMember {
    /// The project id (what FastMCP's DescopeProvider and descope-py check).
    Project,
    /// The OAuth client id.
    Client,
    /// The RFC 8707 `resource` of the request, or the server's `url` when none was sent.
    Resource,
}

/// Which claim(s) carry the granted scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeClaims {
    /// `scope` (space-separated string) and `scopes` (array): satisfies every Descope SDK.
    Both,
    /// Only `scope` (RFC 9068 style).
    Scope,
    /// Only `scopes` (what descope-mcp reads).
    Scopes,
}

impl McpServer {
    /// A server entry that stands in for "another MCP server of the same project" when the
    /// configuration has only this one (the `sibling_aud` flaw): id `<id>Sibling`, URL on the same
    /// origin with path `/other/mcp` (`/another/mcp` if this server's path is `/other/mcp`),
    /// everything else copied.
    pub fn stand_in_sibling(&self) -> McpServer {
        let mut s = self.clone();
        s.id = format!("{}Sibling", self.id);
        s.name = format!("{} (sibling stand-in)", self.name);
        s.url = match url::Url::parse(&self.url) {
            Ok(u) => {
                let path = if u.path().trim_end_matches('/') == "/other/mcp" {
                    "/another/mcp"
                } else {
                    "/other/mcp"
                };
                format!("{}{path}", u.origin().ascii_serialization())
            }
            Err(_) => format!("{}/other", self.url.trim_end_matches('/')),
        };
        s
    }
}

/// `[[mcp_servers]]`: a Descope MCP server app with its own issuer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    /// `MS...`; the last segment of the issuer.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The MCP server's canonical URL: the RFC 8707 resource and the default audience.
    pub url: String,
    /// Scopes the server defines (`outbound.token.fetch` is always added).
    #[serde(default)]
    pub scopes: Vec<ScopeDef>,
    /// Dynamic client registration (RFC 7591) on or off.
    #[serde(default = "yes")]
    pub dcr: bool,
    /// Client ID metadata documents on or off.
    #[serde(default)]
    pub cimd: bool,
    /// Access token lifetime, seconds.
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl: u64,
    /// Refresh token lifetime, seconds.
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl: u64,
    /// Authorization code lifetime, seconds.
    #[serde(default = "default_code_ttl")]
    pub code_ttl: u64,
    /// Members of the `aud` array, in order.
    #[serde(default = "default_audience")]
    pub audience: Vec<AudMember>,
    /// Which scope claims tokens carry.
    #[serde(default = "default_scope_claims")]
    pub scope_claims: ScopeClaims,
    /// Reject authorization requests that send no `resource` (MCP clients MUST send it).
    #[serde(default)]
    pub require_resource: bool,
    /// MCP Server Policy applied at consent: allow-only rules. Empty = every requested scope is granted.
    #[serde(default)]
    pub consent_policy: Vec<Rule>,
}

fn yes() -> bool {
    true
}
fn default_access_ttl() -> u64 {
    3600
}
fn default_refresh_ttl() -> u64 {
    30 * 24 * 3600
}
fn default_code_ttl() -> u64 {
    60
}
fn default_audience() -> Vec<AudMember> {
    vec![AudMember::Project, AudMember::Client, AudMember::Resource]
}
fn default_scope_claims() -> ScopeClaims {
    ScopeClaims::Both
}

/// A scope an MCP server defines.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    /// The scope token (RFC 6749 §3.3).
    pub name: String,
    /// Shown to users; informational.
    #[serde(default)]
    pub description: String,
}

/// `[[tenants]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant id (`T...` by convention).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// No secret; PKCE only.
    Public,
    /// Has a secret; may use `client_credentials`.
    Confidential,
}

/// `[[clients]]`: a pre-registered client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// `client_id`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Public or confidential.
    #[serde(rename = "type")]
    pub kind: ClientType,
    /// The secret of a confidential client.
    #[serde(default)]
    pub secret: Option<String>,
    /// Exact-match redirect URIs (https, or http on loopback).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Scopes the client may request; empty = every scope of its servers.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Grants the client may use.
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    /// MCP server ids the client may obtain tokens for; empty = all.
    #[serde(default)]
    pub servers: Vec<String>,
}

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

/// `[[outbound_apps]]`: a third-party provider (Google Calendar, Salesforce, ...).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundApp {
    /// The app id (`appId` in Descope's API).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The provider scopes a token of this app can hold.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime of the provider access tokens, seconds.
    #[serde(default = "default_access_ttl")]
    pub token_ttl: u64,
}

/// `[[connections]]`: a stored connection token at start-up.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSeed {
    /// The outbound app.
    pub app: String,
    /// The user (user-level token); absent with `tenant` = a tenant-level token.
    #[serde(default)]
    pub user: Option<String>,
    /// The tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Provider scopes; empty = all of the app's.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the token has a refresh token.
    #[serde(default = "yes")]
    pub refresh_token: bool,
}

/// Grant types `mock-as` implements.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// Scopes every server accepts in requests without defining them (OIDC and refresh conventions);
/// granted as asked, never listed in `scopes_supported`.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The scope that lets an access token fetch connection tokens (descope-api.md §7.2).
pub const OUTBOUND_SCOPE: &str = "outbound.token.fetch";

impl McpServer {
    /// The scopes the server advertises: its own plus `outbound.token.fetch`.
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut v: Vec<String> = self.scopes.iter().map(|s| s.name.clone()).collect();
        if !v.iter().any(|s| s == OUTBOUND_SCOPE) {
            v.push(OUTBOUND_SCOPE.into());
        }
        v
    }
    /// Whether a scope can be requested from this server at all.
    pub fn knows_scope(&self, s: &str) -> bool {
        STANDARD_SCOPES.contains(&s)
            || s == OUTBOUND_SCOPE
            || self.scopes.iter().any(|d| d.name == s)
    }
}

impl Config {
    /// The embedded default, parsed and validated.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_TOML, DEFAULT_NAME, None)
    }

    /// Load and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, &path.display().to_string(), Some(dir))
    }

    /// Parse TOML text and validate it.
    pub fn parse(
        text: &str,
        source: &str,
        base_dir: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            // toml's message names the offending key and shows the line.
            ConfigError {
                file: source.to_string(),
                field: String::new(),
                message: e.to_string().trim_end().to_string(),
            }
        })?;
        cfg.source = source.to_string();
        cfg.base_dir = base_dir;
        cfg.validate()?;
        Ok(cfg)
    }

    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Read a key's PEM text (from `builtin:` or a file relative to the config).
    pub fn read_pem(&self, index: usize) -> Result<String, ConfigError> {
        let k = &self.keys[index];
        let field = format!("keys[{index}].pem");
        if let Some(name) = k.pem.strip_prefix("builtin:") {
            return builtin_key(name).map(str::to_string).ok_or_else(|| {
                let names: Vec<&str> = BUILTIN_KEYS.iter().map(|(n, _)| *n).collect();
                self.err(
                    field,
                    format!(
                        "no built-in key {name:?}; built-in keys: {}",
                        names.join(", ")
                    ),
                )
            });
        }
        let p = Path::new(&k.pem);
        let full = match (&self.base_dir, p.is_absolute()) {
            (Some(dir), false) => dir.join(p),
            _ => p.to_path_buf(),
        };
        std::fs::read_to_string(&full)
            .map_err(|e| self.err(field, format!("cannot read {}: {e}", full.display())))
    }

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
        let mut ids = HashSet::new();
        for (i, s) in self.mcp_servers.iter().enumerate() {
            let f = |x: &str| format!("mcp_servers[{i}].{x}");
            if !s.id.starts_with("MS")
                || s.id.len() < 4
                || !s.id.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(self.err(
                    f("id"),
                    format!(
                        "must start with \"MS\" and be ASCII letters and digits (got {:?})",
                        s.id
                    ),
                ));
            }
            if !ids.insert(s.id.as_str()) {
                return Err(self.err(f("id"), format!("duplicate MCP server id {:?}", s.id)));
            }
            check_resource_url(&s.url).map_err(|m| self.err(f("url"), m))?;
            let mut names = HashSet::new();
            for (j, sc) in s.scopes.iter().enumerate() {
                if parse_scope(&sc.name).map(|v| v.len()) != Ok(1) {
                    return Err(self.err(
                        f(&format!("scopes[{j}].name")),
                        format!("{:?} is not a single RFC 6749 scope token", sc.name),
                    ));
                }
                if !names.insert(sc.name.as_str()) {
                    return Err(self.err(
                        f(&format!("scopes[{j}].name")),
                        format!("duplicate scope {:?}", sc.name),
                    ));
                }
            }
            // Upper bound: lifetimes are added to epoch seconds; ten years is beyond any test.
            const MAX_TTL: u64 = 10 * 365 * 24 * 3600;
            for (name, v) in [
                ("access_token_ttl", s.access_token_ttl),
                ("code_ttl", s.code_ttl),
                ("refresh_token_ttl", s.refresh_token_ttl),
            ] {
                if v == 0 || v > MAX_TTL {
                    return Err(self.err(
                        f(name),
                        format!("must be from 1 second to {MAX_TTL} seconds (ten years), got {v}"),
                    ));
                }
            }
            if s.audience.is_empty() {
                return Err(self.err(
                    f("audience"),
                    "needs at least one member (project, client, resource)",
                ));
            }
            for (j, r) in s.consent_policy.iter().enumerate() {
                for sc in &r.scopes {
                    if sc != "*" && !s.knows_scope(sc) {
                        return Err(self.err(
                            f(&format!("consent_policy[{j}].scopes")),
                            format!("{sc:?} is not a scope of this server"),
                        ));
                    }
                }
                for u in &r.users {
                    if !self.users.iter().any(|x| &x.id == u) {
                        return Err(self.err(
                            f(&format!("consent_policy[{j}].users")),
                            format!("unknown user {u:?}"),
                        ));
                    }
                }
            }
        }
        let mut tids = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.id.is_empty() || !tids.insert(t.id.as_str()) {
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

    /// `[[outbound_apps]]`, `[[connections]]`, `[[connection_policy]]`, and no `apps` in consent
    /// policies.
    fn validate_connections(
        &self,
        uids: &HashSet<&str>,
        tids: &HashSet<&str>,
    ) -> Result<(), ConfigError> {
        const MAX_TTL: u64 = 10 * 365 * 24 * 3600;
        let mut apps = HashSet::new();
        for (i, a) in self.outbound_apps.iter().enumerate() {
            if a.id.is_empty()
                || a.id.contains(char::is_whitespace)
                || a.id.contains('/')
                || !apps.insert(a.id.as_str())
            {
                return Err(self.err(
                    format!("outbound_apps[{i}].id"),
                    format!(
                        "empty, duplicate, or containing white space or '/': {:?}",
                        a.id
                    ),
                ));
            }
            if a.token_ttl == 0 || a.token_ttl > MAX_TTL {
                return Err(self.err(
                    format!("outbound_apps[{i}].token_ttl"),
                    format!("must be from 1 to {MAX_TTL} seconds"),
                ));
            }
        }
        for (i, c) in self.connections.iter().enumerate() {
            let f = |x: &str| format!("connections[{i}].{x}");
            let Some(app) = self.outbound_apps.iter().find(|a| a.id == c.app) else {
                return Err(self.err(f("app"), format!("unknown outbound app {:?}", c.app)));
            };
            if c.user.is_none() && c.tenant.is_none() {
                return Err(self.err(f("user"), "a connection needs a user, a tenant, or both"));
            }
            if let Some(u) = &c.user
                && !uids.contains(u.as_str())
            {
                return Err(self.err(f("user"), format!("unknown user {u:?}")));
            }
            if let Some(t) = &c.tenant
                && !tids.contains(t.as_str())
            {
                return Err(self.err(f("tenant"), format!("unknown tenant {t:?}")));
            }
            if let Some(bad) = c.scopes.iter().find(|s| !app.scopes.contains(s)) {
                return Err(self.err(
                    f("scopes"),
                    format!("{bad:?} is not a scope of app {:?}", app.id),
                ));
            }
        }
        for (i, r) in self.connection_policy.iter().enumerate() {
            if let Some(a) = r.apps.iter().find(|a| !apps.contains(a.as_str())) {
                return Err(self.err(
                    format!("connection_policy[{i}].apps"),
                    format!("unknown outbound app {a:?}"),
                ));
            }
            if let Some(t) = r.tenants.iter().find(|t| !tids.contains(t.as_str())) {
                return Err(self.err(
                    format!("connection_policy[{i}].tenants"),
                    format!("unknown tenant {t:?}"),
                ));
            }
            if let Some(u) = r.users.iter().find(|u| !uids.contains(u.as_str())) {
                return Err(self.err(
                    format!("connection_policy[{i}].users"),
                    format!("unknown user {u:?}"),
                ));
            }
        }
        for (i, s) in self.mcp_servers.iter().enumerate() {
            if let Some(j) = s.consent_policy.iter().position(|r| !r.apps.is_empty()) {
                return Err(self.err(
                    format!("mcp_servers[{i}].consent_policy[{j}].apps"),
                    "apps belong in connection_policy, not in a consent policy",
                ));
            }
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

    /// The MCP server with this id.
    pub fn server(&self, sid: &str) -> Option<&McpServer> {
        self.mcp_servers.iter().find(|s| s.id == sid)
    }
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
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err((
                format!("grant_types[{j}]"),
                format!("{g:?} is not one of {}", GRANT_TYPES.join(", ")),
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
