//! The file model: one serde struct per TOML section (`[project]`, `[listen]`, `[[keys]]`,
//! `[[mcp_servers]]`, `[[users]]` (in [`crate::model`]), `[[clients]]`, `[[outbound_apps]]`,
//! `[[connections]]`, ...), their defaults, and the lookups on them. Unknown fields are refused
//! (`deny_unknown_fields`) so a typo is an error naming the field, not a silent default.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;

use crate::model::{Rule, User};

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
    /// The Token Exchange Policy: allow-only rules for RFC 8693 token exchange into another
    /// server's token. Empty = every exchange refused (Descope: governed only by policies).
    #[serde(default)]
    pub token_exchange_policy: Vec<Rule>,
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
    /// 28 characters starting with `P` (keeps Descope SDKs off their region logic, mock-as/DESCOPE.md §8).
    pub id: String,
    /// Display name.
    #[serde(default = "default_project_name")]
    pub name: String,
    /// The user who consents at `/authorize` when the request has no `login_hint` (headless),
    /// or who is preselected on the consent page (interactive).
    #[serde(default)]
    pub default_user: Option<String>,
    /// How `/authorize` obtains consent: `headless` (CI: no page, policy decides) or
    /// `interactive` (a person approves on an HTML page). Overridden by `--consent`.
    #[serde(default)]
    pub consent: ConsentMode,
}

/// How consent is given at `/authorize` and at the outbound connect URL (RFC 6749 §4.1.1: the
/// authorization server "obtains an authorization decision" — how is its choice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConsentMode {
    /// No page: the user is `login_hint` or `project.default_user`, the consent policy drops what
    /// it denies, and the browser is redirected at once. What CI and the suite use.
    #[default]
    Headless,
    /// An HTML consent page (user and tenant pickers, scopes with their descriptions and the
    /// policy's verdict, Approve / Deny), for people trying a real MCP client locally.
    Interactive,
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
    /// DCR: the host names a registered `redirect_uris` entry may use (`*.example.com` for any
    /// subdomain); empty = any (Descope's "domain whitelisting" for self-service registration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dcr_allowed_redirect_domains: Vec<String>,
    /// DCR: registrations per client IP per minute (mock time); over it, `429` with
    /// `Retry-After`. Absent = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcr_rate_limit_per_minute: Option<u32>,
    /// CIMD: the host names a `client_id` metadata URL may use (`*.` wildcards); others are
    /// refused before any fetch. Empty = any (Descope's CIMD "approved domains").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cimd_allowed_domains: Vec<String>,
    /// Time-based consent: a consent (grant) stops working this many seconds after it was given
    /// (mock time): refresh answers `invalid_grant`, connection fetches with its tokens the
    /// revoked error, `consents/search` marks it `expired`. Absent = consents do not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_ttl: Option<u64>,
}

/// Whether `host` matches one of `patterns`: a host name (case-insensitive, exact) or
/// `*.<domain>` (any subdomain of it, not the domain itself). An empty list allows every host.
pub fn host_allowed(patterns: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    patterns.is_empty()
        || patterns.iter().any(|p| {
            let p = p.to_ascii_lowercase();
            match p.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == p,
            }
        })
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

impl ClientType {
    /// The `token_endpoint_auth_method` a client of this type gets when none is asked for.
    pub fn default_auth_method(self) -> crate::protocol::AuthMethod {
        match self {
            ClientType::Public => crate::protocol::AuthMethod::None,
            ClientType::Confidential => crate::protocol::AuthMethod::ClientSecretBasic,
        }
    }
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

/// Scopes every server accepts in requests without defining them (OIDC and refresh conventions);
/// granted as asked, never listed in `scopes_supported`.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The scope that lets an access token fetch connection tokens (mock-as/DESCOPE.md §7.2).
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
    /// The MCP server with this id.
    pub fn server(&self, sid: &str) -> Option<&McpServer> {
        self.mcp_servers.iter().find(|s| s.id == sid)
    }
}
