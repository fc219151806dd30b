//! The route catalogue: every route of `routes/mod.rs` and its modules with its methods, input
//! kind, credential and field names, plus unknown paths, methods, flaws and edge numbers.

/// How a route takes its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Nothing (GET documents, `/_mock/info`, ...).
    Nothing,
    /// Query parameters.
    Query,
    /// `application/x-www-form-urlencoded` (query parameters on GET).
    Form,
    /// A JSON object.
    Json,
    /// A JSON array of policy rules.
    Rules,
    /// `/_mock/keys/rotate`: only bodies its extractor refuses (see the module doc).
    RotateRefused,
    /// The spy upstream: anything.
    Anything,
}

/// Which credential a route expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cred {
    None,
    /// OAuth client authentication (Basic, or in the body).
    Client,
    /// `Bearer <pid>:<management key>`.
    Mgmt,
    /// `Bearer <pid>:<management key or access token>`.
    Caller,
    /// `Bearer <pid>[:<anything>]` (SDK JWKS).
    Pid,
    /// `Bearer <access token>` (userinfo).
    Access,
    /// `Bearer <connection token>` (spy upstream).
    Connection,
    /// The control API (`Bearer <admin token>` on the admin-token app).
    Control,
}

#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) methods: &'static [&'static str],
    pub(crate) path: &'static str,
    pub(crate) kind: Kind,
    pub(crate) cred: Cred,
    pub(crate) fields: &'static [&'static str],
}

pub(crate) const fn r(
    methods: &'static [&'static str],
    path: &'static str,
    kind: Kind,
    cred: Cred,
    fields: &'static [&'static str],
) -> Route {
    Route {
        methods,
        path,
        kind,
        cred,
        fields,
    }
}

pub(crate) const GET: &[&str] = &["GET"];
pub(crate) const POST: &[&str] = &["POST"];
pub(crate) const DELETE: &[&str] = &["DELETE"];
pub(crate) const GET_POST: &[&str] = &["GET", "POST"];
pub(crate) const ANY: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];

pub(crate) const AUTHZ: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "resource",
    "login_hint",
    "tenant",
    "project_id",
    "mcp_server_id",
];
pub(crate) const TOKEN: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
    "resource",
    "project_id",
    "mcp_server_id",
    "subject_token",
    "subject_token_type",
    "audience",
    "requested_token_type",
    "actor_token",
];
pub(crate) const REVOKE: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];
pub(crate) const FETCH: &[&str] = &[
    "appId", "userId", "loginId", "tenantId", "scopes", "options",
];
pub(crate) const UPLOAD: &[&str] = &[
    "appId",
    "userId",
    "tenantId",
    "scopes",
    "accessToken",
    "refreshToken",
    "accessTokenExpiry",
    "accessTokenType",
    "grantedBy",
];
pub(crate) const CONNECT: &[&str] = &["appId", "userId", "tenantId", "options"];
pub(crate) const SEARCH: &[&str] = &["appId", "userId", "consentId"];
pub(crate) const CONSENT_DELETE: &[&str] = &["consentIds", "appId", "userIds"];
pub(crate) const DCR: &[&str] = &[
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "client_name",
    "client_uri",
    "contacts",
];
pub(crate) const USER: &[&str] = &[
    "id",
    "login_id",
    "name",
    "email",
    "roles",
    "permissions",
    "tenants",
];
pub(crate) const CLIENT: &[&str] = &[
    "id",
    "name",
    "type",
    "secret",
    "redirect_uris",
    "scopes",
    "grant_types",
    "servers",
];
pub(crate) const MINT: &[&str] = &[
    "server",
    "issuer",
    "user",
    "client",
    "scopes",
    "resource",
    "tenant",
    "ttl",
    "claims",
    "flaw",
    "remove_claims",
];
pub(crate) const CONTROL_REVOKE: &[&str] = &["token", "jti", "user", "session"];
pub(crate) const ROTATE: &[&str] = &["generate", "kid"];
pub(crate) const RETIRE: &[&str] = &["kid"];
pub(crate) const FAULT: &[&str] = &[
    "endpoint",
    "path_prefix",
    "method",
    "status",
    "delay_ms",
    "count",
    "headers",
    "user",
];
pub(crate) const JOURNAL: &[&str] = &[
    "endpoint",
    "path",
    "since_ms",
    "since_seq",
    "credential",
    "limit",
];
pub(crate) const CLOCK: &[&str] = &["offset_secs", "advance_secs"];
pub(crate) const MCP_SERVER: &[&str] = &[
    "id",
    "name",
    "audienceWhitelist",
    "approvedScopes",
    "sessionSettings",
    "dynamicRegistration",
    "cimdSettings",
    "server",
];
pub(crate) const RULE: &[&str] = &[
    "name",
    "scopes",
    "roles",
    "users",
    "clients",
    "apps",
    "tenants",
    "resources",
];
pub(crate) const CONNECTION: &[&str] = &[
    "app",
    "user",
    "tenant",
    "scopes",
    "refresh_token",
    "expires_in",
];
pub(crate) const PATCH_SERVER: &[&str] = &[
    "url",
    "scopes",
    "dcr",
    "cimd",
    "access_token_ttl",
    "audience",
    "scope_claims",
    "require_resource",
    "consent_policy",
    "dcr_allowed_redirect_domains",
    "dcr_rate_limit_per_minute",
    "cimd_allowed_domains",
    "consent_ttl",
];
pub(crate) const APP: &[&str] = &["id", "name", "scopes", "token_ttl"];
pub(crate) const CONSENT_FORM: &[&str] = &["request", "csrf", "action", "user", "tenant", "scope"];
pub(crate) const CONNECT_FORM: &[&str] = &["csrf", "action"];

pub(crate) use self::Cred as C;
pub(crate) use self::Kind as K;

/// Every route of the router, in `routes/mod.rs` order, then the control API.
#[rustfmt::skip]
pub(crate) const ROUTES: &[Route] = &[
    // discovery
    r(GET, "/v1/apps/agentic/{pid}/{sid}/.well-known/openid-configuration", K::Nothing, C::None, &[]),
    r(GET, "/v1/apps/agentic/{pid}/{sid}/.well-known/oauth-authorization-server", K::Nothing, C::None, &[]),
    r(GET, "/.well-known/oauth-authorization-server/v1/apps/agentic/{pid}/{sid}", K::Nothing, C::None, &[]),
    r(GET, "/.well-known/openid-configuration/v1/apps/agentic/{pid}/{sid}", K::Nothing, C::None, &[]),
    r(GET, "/v1/apps/{pid}/.well-known/openid-configuration", K::Nothing, C::None, &[]),
    r(GET, "/v1/apps/{pid}/.well-known/oauth-authorization-server", K::Nothing, C::None, &[]),
    r(GET, "/.well-known/oauth-authorization-server/v1/apps/{pid}", K::Nothing, C::None, &[]),
    r(GET, "/.well-known/openid-configuration/v1/apps/{pid}", K::Nothing, C::None, &[]),
    r(GET, "/{pid}/.well-known/openid-configuration", K::Nothing, C::None, &[]),
    r(GET, "/{pid}/.well-known/oauth-authorization-server", K::Nothing, C::None, &[]),
    r(GET, "/.well-known/oauth-authorization-server/{pid}", K::Nothing, C::None, &[]),
    r(GET, "/.well-known/openid-configuration/{pid}", K::Nothing, C::None, &[]),
    // jwks
    r(GET, "/{pid}/.well-known/jwks.json", K::Nothing, C::None, &[]),
    r(GET, "/v2/keys/{pid}", K::Nothing, C::Pid, &[]),
    // connections
    r(POST, "/v1/mgmt/outbound/app/user/token", K::Json, C::Caller, FETCH),
    r(POST, "/v1/mgmt/outbound/app/user/token/latest", K::Json, C::Caller, FETCH),
    r(POST, "/v1/mgmt/outbound/app/tenant/token", K::Json, C::Caller, FETCH),
    r(POST, "/v1/mgmt/outbound/app/tenant/token/latest", K::Json, C::Caller, FETCH),
    r(POST, "/v1/mgmt/outbound/app/user/oauthtoken/upload", K::Json, C::Mgmt, UPLOAD),
    r(POST, "/v1/mgmt/outbound/app/tenant/oauthtoken/upload", K::Json, C::Mgmt, UPLOAD),
    r(DELETE, "/v1/mgmt/outbound/user/tokens", K::Query, C::Mgmt, &["appId", "userId"]),
    r(DELETE, "/v1/mgmt/outbound/token", K::Query, C::Mgmt, &["id"]),
    r(GET, "/v1/mgmt/outbound/apps-with-user-token", K::Query, C::Mgmt, &["userId", "tenantId"]),
    r(POST, "/v1/mgmt/outbound/app/connect", K::Json, C::Caller, CONNECT),
    r(GET_POST, "/v1/outbound/connect/{state}", K::Form, C::None, CONNECT_FORM),
    r(POST, "/v1/mgmt/thirdparty/consents/search", K::Json, C::Mgmt, SEARCH),
    r(POST, "/v1/mgmt/thirdparty/consents/delete", K::Json, C::Mgmt, CONSENT_DELETE),
    // spy upstream
    r(ANY, "/_upstream/{app}", K::Anything, C::Connection, &[]),
    r(ANY, "/_upstream/{app}/{rest}", K::Anything, C::Connection, &[]),
    // OAuth
    r(POST, "/v1/mgmt/mcp/client/{pid}/{sid}/register", K::Json, C::None, DCR),
    r(GET_POST, "/oauth2/v1/apps/agentic/{pid}/{sid}/authorize", K::Form, C::None, AUTHZ),
    r(GET_POST, "/oauth2/v1/apps/authorize", K::Form, C::None, AUTHZ),
    r(POST, "/oauth2/v1/apps/agentic/{pid}/{sid}/token", K::Form, C::Client, TOKEN),
    r(POST, "/oauth2/v1/apps/token", K::Form, C::Client, TOKEN),
    r(POST, "/oauth2/v1/consent", K::Form, C::None, CONSENT_FORM),
    r(POST, "/oauth2/v1/apps/{pid}/revoke", K::Form, C::Client, REVOKE),
    r(POST, "/oauth2/v1/apps/revoke", K::Form, C::Client, REVOKE),
    r(POST, "/oauth2/v1/apps/{pid}/introspect", K::Form, C::Client, REVOKE),
    r(POST, "/oauth2/v1/apps/introspect", K::Form, C::Client, REVOKE),
    r(GET_POST, "/oauth2/v1/apps/{pid}/userinfo", K::Nothing, C::Access, &[]),
    r(GET_POST, "/oauth2/v1/apps/userinfo", K::Nothing, C::Access, &[]),
    r(GET_POST, "/oauth2/v1/authorize", K::Form, C::None, AUTHZ),
    r(POST, "/oauth2/v1/token", K::Form, C::Client, TOKEN),
    r(POST, "/oauth2/v1/revoke", K::Form, C::Client, REVOKE),
    r(GET_POST, "/oauth2/v1/userinfo", K::Nothing, C::Access, &[]),
    r(GET, "/v1/mgmt/license", K::Nothing, C::Mgmt, &[]),
    r(&["GET", "POST"], "/v1/mgmt/mcp/servers/all", K::Nothing, C::Mgmt, &[]),
    r(POST, "/v1/mgmt/mcp/server/load", K::Json, C::Mgmt, MCP_SERVER),
    r(POST, "/v1/mgmt/mcp/server/create", K::Json, C::Mgmt, MCP_SERVER),
    r(POST, "/v1/mgmt/mcp/server/update", K::Json, C::Mgmt, MCP_SERVER),
    r(POST, "/v1/mgmt/mcp/server/clients/search", K::Json, C::Mgmt, &["serverId", "id"]),
    // control API
    r(GET, "/_mock/info", K::Nothing, C::Control, &[]),
    r(GET_POST, "/_mock/users", K::Json, C::Control, USER),
    r(&["GET", "DELETE"], "/_mock/users/{uid}", K::Nothing, C::Control, &[]),
    r(GET_POST, "/_mock/clients", K::Json, C::Control, CLIENT),
    r(GET_POST, "/_mock/tokens", K::Json, C::Control, MINT),
    r(GET, "/_mock/sessions", K::Nothing, C::Control, &[]),
    r(GET, "/_mock/ui", K::Nothing, C::Control, &[]),
    r(GET, "/_mock/ui/app.js", K::Nothing, C::Control, &[]),
    r(GET, "/_mock/flaws", K::Nothing, C::Control, &[]),
    r(POST, "/_mock/revoke", K::Json, C::Control, CONTROL_REVOKE),
    r(GET, "/_mock/keys", K::Nothing, C::Control, &[]),
    r(POST, "/_mock/keys/rotate", K::RotateRefused, C::Control, ROTATE),
    r(POST, "/_mock/keys/retire", K::Json, C::Control, RETIRE),
    r(POST, "/_mock/keys/activate", K::Json, C::Control, RETIRE),
    r(&["GET", "POST", "DELETE"], "/_mock/faults", K::Json, C::Control, FAULT),
    r(DELETE, "/_mock/faults/{fid}", K::Nothing, C::Control, &[]),
    r(&["GET", "DELETE"], "/_mock/journal", K::Query, C::Control, JOURNAL),
    r(GET_POST, "/_mock/clock", K::Json, C::Control, CLOCK),
    r(POST, "/_mock/reset", K::Nothing, C::Control, &[]),
    r(GET, "/_mock/policies", K::Nothing, C::Control, &[]),
    r(GET, "/_mock/registrations", K::Nothing, C::Control, &[]),
    r(&["PUT"], "/_mock/policies/connections", K::Rules, C::Control, RULE),
    r(&["PUT"], "/_mock/policies/consent/{sid}", K::Rules, C::Control, RULE),
    r(GET_POST, "/_mock/connections", K::Json, C::Control, CONNECTION),
    r(DELETE, "/_mock/connections/{cid}", K::Nothing, C::Control, &[]),
    r(GET, "/_mock/servers", K::Nothing, C::Control, &[]),
    r(&["GET", "PATCH"], "/_mock/servers/{sid}", K::Json, C::Control, PATCH_SERVER),
    r(GET_POST, "/_mock/apps", K::Json, C::Control, APP),
    r(POST, "/_mock/policies/connections/rules", K::Json, C::Control, RULE),
    r(DELETE, "/_mock/policies/connections/rules/{rule}", K::Nothing, C::Control, &[]),
    r(POST, "/_mock/policies/consent/{sid}/rules", K::Json, C::Control, RULE),
    r(DELETE, "/_mock/policies/consent/{sid}/rules/{rule}", K::Nothing, C::Control, &[]),
    r(&["PUT"], "/_mock/policies/token-exchange", K::Rules, C::Control, RULE),
    r(POST, "/_mock/policies/token-exchange/rules", K::Json, C::Control, RULE),
    r(DELETE, "/_mock/policies/token-exchange/rules/{rule}", K::Nothing, C::Control, &[]),
];

pub(crate) const OTHER_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get",
    "M-SEARCH", "PROPFIND",
];

pub(crate) const UNKNOWN_PATHS: &[&str] = &[
    "/",
    "/favicon.ico",
    "/oauth2",
    "/oauth2/",
    "/oauth2/v1/apps/nope",
    "/oauth2/.well-known/jwks.json",
    "/_mock",
    "/_mock/",
    "/_mock/nope",
    "/_mock/.well-known/jwks.json",
    "/_upstream",
    "/_upstream/",
    "/_upstream/.well-known/jwks.json",
    "/_upstream/google-calendar/.well-known/oauth-authorization-server",
    "/_mock/x/.well-known/openid-configuration",
    "/v1",
    "/v1/",
    "/v1/mgmt/",
    "/v1/mgmt/mcp/client/register",
    "/v1/mgmt/mcp/client/x/register",
    "/v2/keys/",
    "/v3/keys/x",
    "/.well-known/",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f_mock/info",
    "/%00",
    "/v1/apps/%00/.well-known/openid-configuration",
    "/_mock/users/%ff%fe",
    "/_mock/faults/18446744073709551616",
    "/_mock/faults/-1",
    "/_mock/faults/%31",
];

pub(crate) const FLAWS: &[&str] = &[
    "expired",
    "nbf_future",
    "no_exp",
    "wrong_iss",
    "wrong_aud",
    "sibling_aud",
    "missing_scope",
    "alg_none",
    "hs256_public_key",
    "unknown_kid",
    "foreign_key",
    "tampered_signature",
];

/// Fault endpoint names: the real ones (from the control API) plus two it must refuse.
pub(crate) fn endpoints() -> Vec<&'static str> {
    mock_as::protocol::Endpoint::faultable()
        .map(mock_as::protocol::Endpoint::as_str)
        .chain(["control", "bogus"])
        .collect()
}

/// Numbers in the right JSON type but absurd ranges.
pub(crate) const NUMBERS: &[i128] = &[
    0,
    1,
    -1,
    60,
    3600,
    -3600,
    86_400 * 365 * 10,
    4_294_967_295,
    i32::MAX as i128,
    i64::MAX as i128,
    i64::MIN as i128,
    u64::MAX as i128,
    (i64::MAX as i128) - 1,
];
