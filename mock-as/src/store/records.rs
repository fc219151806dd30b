//! The records the [`Store`](super::Store) keeps: clients, codes, sessions, refresh tokens,
//! journal lines, faults, connection tokens and pending requests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::config::ClientConfig;

/// How a client came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientOrigin {
    /// `[[clients]]` in the configuration.
    Config,
    /// RFC 7591 dynamic registration.
    Dcr,
    /// A client ID metadata document fetched from its URL.
    Cimd,
    /// `POST /_mock/clients`.
    Control,
}

/// A registered client.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    /// Its configuration (shared shape with `[[clients]]`).
    #[serde(flatten)]
    pub cfg: ClientConfig,
    /// RFC 7591 `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: crate::protocol::AuthMethod,
    /// Where it came from.
    pub origin: ClientOrigin,
    /// RFC 7591 `client_id_issued_at`.
    pub issued_at: i64,
}

impl Client {
    /// Whether the client may obtain tokens for this server.
    pub fn serves(&self, sid: &str) -> bool {
        self.cfg.servers.is_empty() || self.cfg.servers.iter().any(|s| s == sid)
    }
}

/// An authorization code (RFC 6749 §4.1.2), bound to everything the token request must repeat.
#[derive(Debug, Clone)]
pub struct AuthCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The MCP server (issuer) it belongs to.
    pub server_id: String,
    /// The `redirect_uri` of the authorization request (must be repeated, RFC 6749 §4.1.3).
    pub redirect_uri: String,
    /// The S256 PKCE challenge.
    pub challenge: String,
    /// The RFC 8707 resources of the authorization request.
    pub resources: Vec<String>,
    /// Granted scopes (after the consent policy).
    pub scopes: Vec<String>,
    /// The consenting user.
    pub user_id: String,
    /// `dct` for the tokens, if a tenant was selected.
    pub tenant: Option<String>,
    /// The session (grant) the tokens will belong to.
    pub session_id: String,
    /// Expiry (mock time).
    pub expires_at: i64,
    /// Set on first exchange; a second exchange revokes the session (RFC 6749 §4.1.2).
    pub used: bool,
}

/// One grant: a user's consent for a client at a server. A refresh-token family.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// The user (none for control-minted client tokens).
    pub user_id: Option<String>,
    /// The client.
    pub client_id: String,
    /// The MCP server.
    pub server_id: String,
    /// The scopes granted (what consents/search reports).
    pub scopes: Vec<String>,
    /// Revoked sessions invalidate every token issued in them.
    pub revoked: bool,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// Creation (mock time).
    pub created: i64,
    /// Which issuer its tokens come from (the flow's endpoints decide; refreshes keep it).
    pub issuer_style: crate::tokens::IssuerStyle,
}

/// A refresh token (opaque).
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// The family = session.
    pub session_id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// The server.
    pub server_id: String,
    /// Scopes of the grant.
    pub scopes: Vec<String>,
    /// The resource of the grant.
    pub resource: Option<String>,
    /// The user.
    pub user_id: String,
    /// `dct`.
    pub tenant: Option<String>,
    /// Expiry (mock time).
    pub expires_at: i64,
    /// Rotated away; presenting it again revokes the family (OAuth 2.1 §4.3.1).
    pub used: bool,
}

/// What the store remembers of an issued access token that belongs to a user or a session.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The session, if issued through a grant.
    pub session_id: Option<String>,
    /// The user.
    pub user_id: Option<String>,
    /// Expiry, for purging.
    pub exp: i64,
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// Sequence number, increasing.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the epoch (not shifted by the clock offset).
    pub time_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// The named endpoint (`jwks`, `token`, `discovery`, ...).
    pub endpoint: String,
    /// Which credential the request carried (`none`, `basic`, `bearer-project`,
    /// `bearer-management-key`, `bearer-jwt`, `bearer-other`, `bearer-admin`).
    pub credential: String,
    /// Response status.
    pub status: u16,
    /// `ok` or the error code.
    pub outcome: String,
    /// Why: the policy rule that allowed a connection fetch, or the denial reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The `Authorization` header as received (spy upstream requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// Spy upstream: the request carried a mock-as MCP access token (token passthrough).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<bool>,
    /// Connection-token fetches: what was asked for, as sent (`app_id`, `level`, `user_id`,
    /// `tenant_id`, `scopes`, `latest`, `subject`), also when the fetch was refused, so a
    /// harness can tell which connection an MCP server requested. Absent unless the body was
    /// a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<serde_json::Value>,
}

/// Maximum journal length; the oldest lines are dropped first.
pub const JOURNAL_CAP: usize = 10_000;

/// A fault armed through the control API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Id, for listing.
    #[serde(default)]
    pub id: u64,
    /// A named endpoint (see [`crate::routes::endpoint_of`]), or absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A path prefix, or absent. One of `endpoint` and `path_prefix` is required.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only this method, if given.
    #[serde(default)]
    pub method: Option<String>,
    /// Answer with this status instead of serving the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// Delay the request this long (before the status, or before serving it).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many requests it applies to; absent = until cleared.
    #[serde(default)]
    pub count: Option<u32>,
    /// Extra headers on the injected error, e.g. `{"Retry-After": "30"}` with a 429
    /// (RFC 9110 §10.2.3); only with `status`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Only requests made for this user: the `sub` of the bearer JWT (`Bearer <jwt>` or
    /// Descope's `Bearer <pid>:<jwt>`) or, on the connection endpoints, the body's `userId`
    /// (a management-key fetch names the user only there); so concurrent tests each fault
    /// their own user's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A stored connection (outbound app) token: what Descope keeps per (app, user[, tenant]) or
/// per (app, tenant) after the user connected the third-party account (mock-as/DESCOPE.md §7.4).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnToken {
    /// Token id (`DELETE /v1/mgmt/outbound/token?id=`).
    pub id: String,
    /// The outbound app.
    pub app_id: String,
    /// The user, for user-level tokens.
    pub user_id: Option<String>,
    /// The tenant, for tenant-level tokens (or a user's token in a tenant).
    pub tenant_id: Option<String>,
    /// The provider access token the spy upstream accepts.
    pub access_token: String,
    /// Always `Bearer`.
    pub access_token_type: String,
    /// Expiry, epoch seconds (mock time).
    pub access_token_expiry: i64,
    /// The provider refresh token, if any.
    pub refresh_token: Option<String>,
    /// Last refresh, epoch seconds (mock time).
    pub last_refresh_time: i64,
    /// Last refresh error (always empty: the mock provider never fails to refresh).
    pub last_refresh_error: String,
    /// Provider scopes the token holds.
    pub scopes: Vec<String>,
    /// Who connected it (`config`, `upload`, `connect`, `control`).
    pub granted_by: String,
    /// Lifetime used on refresh, seconds.
    #[serde(skip)]
    pub ttl: i64,
}

impl ConnToken {
    /// A fresh token.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        app: &str,
        user: Option<&str>,
        tenant: Option<&str>,
        scopes: Vec<String>,
        with_refresh: bool,
        ttl: i64,
        now: i64,
        granted_by: &str,
    ) -> ConnToken {
        ConnToken {
            id: format!("OT{}", crate::tokens::random_id()),
            app_id: app.into(),
            user_id: user.map(str::to_string),
            tenant_id: tenant.map(str::to_string),
            access_token: new_provider_token(app),
            access_token_type: "Bearer".into(),
            // Saturating: `ttl` comes from an outbound app's `token_ttl` (any u64 through
            // `POST /_mock/apps`, cast) and may be absurd (found by fuzzing).
            access_token_expiry: now.saturating_add(ttl),
            refresh_token: with_refresh
                .then(|| format!("mock-refresh-{}", crate::tokens::random_id())),
            last_refresh_time: now,
            last_refresh_error: String::new(),
            scopes,
            granted_by: granted_by.into(),
            ttl,
        }
    }

    /// `forceRefresh`: a new access token value; the old one stops working at the spy upstream.
    pub fn refresh(&mut self, now: i64) {
        self.access_token = new_provider_token(&self.app_id);
        self.access_token_expiry = now.saturating_add(self.ttl);
        self.last_refresh_time = now;
    }
}

/// A provider access token value: recognisable in journals, unguessable.
pub fn new_provider_token(app: &str) -> String {
    format!("mock-conn-{app}-{}", crate::tokens::random_id())
}

/// A pending `POST /v1/mgmt/outbound/app/connect`, completed by a GET of its URL.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The app to connect.
    pub app_id: String,
    /// The user connecting.
    pub user_id: String,
    /// The tenant, if given.
    pub tenant_id: Option<String>,
    /// Provider scopes asked for (empty = all of the app's).
    pub scopes: Vec<String>,
    /// Where to send the browser afterwards.
    pub redirect_url: Option<String>,
    /// The MCP client whose token asked (for the policy), if a user token asked.
    pub client_id: Option<String>,
    /// Whether a management key asked (policies bypassed).
    pub by_management_key: bool,
    /// Expiry (mock time).
    pub expires_at: i64,
    /// Interactive mode: the CSRF token of the consent page last shown for this request; its
    /// form must send it back (one page, one token; the POST consumes the request).
    pub csrf: Option<String>,
}

/// An authorization request checked by `/authorize` (client, redirect URI, PKCE, scopes,
/// resources) that waits for a person's decision on the interactive consent page. The page's
/// form names it by `request` and proves it was rendered for it by `csrf`; the first POST
/// consumes it (RFC 6749 §10.12: the consent form must not be forgeable cross-site).
#[derive(Debug, Clone)]
pub struct PendingConsent {
    /// The per-page CSRF token: random, bound to this request, single use.
    pub csrf: String,
    /// The MCP server entry.
    pub server_id: String,
    /// Which issuer the flow's tokens carry.
    pub issuer_style: crate::tokens::IssuerStyle,
    /// The client.
    pub client_id: String,
    /// The validated redirect URI.
    pub redirect_uri: String,
    /// The client's `state`, echoed on the redirect.
    pub state: Option<String>,
    /// The PKCE S256 challenge.
    pub challenge: String,
    /// The requested (or default) scopes.
    pub requested: Vec<String>,
    /// The RFC 8707 resources.
    pub resources: Vec<String>,
    /// The user preselected on the page (`login_hint`, else `project.default_user`).
    pub user: Option<String>,
    /// The tenant preselected on the page (`tenant`).
    pub tenant: Option<String>,
    /// Expiry (mock time): ten minutes to decide.
    pub expires_at: i64,
}

/// One dynamic client registration attempt (RFC 7591 §3), accepted or not, as
/// `GET /_mock/registrations` lists it: Descope's "auditing for all inbound app registrations,
/// with request and response logs".
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Sequence number, increasing.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the epoch.
    pub time_ms: u64,
    /// The MCP server entry registered at (as the path named it).
    pub server_id: String,
    /// The client's IP address (the TCP peer).
    pub client_ip: String,
    /// The metadata sent: the JSON body, or `{"unparsed": "<text>"}` when it was not JSON.
    pub request: serde_json::Value,
    /// `{"status", "body"}` of the answer, `client_secret` masked.
    pub response: serde_json::Value,
}

/// How many registration attempts the audit keeps; the oldest go first.
pub const REGISTRATIONS_CAP: usize = 1000;
