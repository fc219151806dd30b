#![allow(clippy::unwrap_used)]
//! Malformed-input fuzzing of every endpoint: a seeded generator of broken requests (bad and
//! truncated forms, bad JSON, wrong types, huge bodies, invalid UTF-8, bad or duplicated headers,
//! broken Basic and Bearer credentials, wrong methods, path tricks) spread over every route of
//! `routes/mod.rs` and the control API, plus unknown paths. For every answer: no 5xx (a panic
//! would be a 500 from the catch-panic layer), redirects carry a `Location`, 2xx JSON parses,
//! and every error (≥ 400) is JSON in its path family's shape:
//!
//! - `/oauth2/...` and the DCR endpoint `/v1/mgmt/mcp/client/.../register`: `{error, error_description}`;
//! - `/_mock/...` and the spy upstream `/_upstream/...`: `{error, message}`;
//! - other `/v1/...`, `/v2/...` and any path containing `/.well-known/`: `{errorCode, errorDescription, errorMessage}`;
//! - everything else: `{error, message}`.
//!
//! After each batch, valid requests (discovery, JWKS, a `client_credentials` token) must succeed.
//!
//! - `MOCK_AS_FUZZ_CASES` (default 10000): in-process requests (`tower::ServiceExt::oneshot`).
//! - `MOCK_AS_FUZZ_LISTENER_CASES` (default 300): generated requests over a real listener
//!   (reqwest), on top of the fixed raw-byte and duplicated-header cases.
//! - `MOCK_AS_FUZZ_SEED` (default fixed): the generator's seed; a failure report names it.
//!
//! A long run: `ci/fuzz-long.sh [CASES] [SEED]` (default 1,000,000; release optimisations with
//! overflow checks kept on).
//!
//! The generator mixes valid-looking requests with one or two mutations (so that the deep code
//! is reached, not only the first check) with random ones; it feeds on tokens, codes and connect
//! URLs that [`setup`] obtains with valid requests and on the codes and tokens its own requests
//! obtain. Control-API requests go partly to a second app started with an admin token.
//!
//! Faults: the fuzz may arm one through `/_mock/faults`; it is cleared at once, so no 5xx is
//! ever allowed. `/_mock/keys/rotate` only gets requests its extractor refuses (a valid one
//! generates an RSA key once the spares are used up: seconds in debug).
//!
//! The `regression_*` tests pin the defects the fuzz found, deterministically.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{
    CONF_CLIENT, CONF_SECRET, MGMT_KEY, PID, PUBLIC_CLIENT, PUBLIC_REDIRECT, RESOURCE, SIBLING, SID,
};

const ADMIN_TOKEN: &str = "fuzz-admin-token";
const DEFAULT_SEED: u64 = 0x6d6f_636b_2d61_7331;
/// Bodies above this get 413 (routes/mod.rs `BODY_LIMIT`).
const BODY_LIMIT: usize = 64 * 1024;
/// The longest request target generated (`http::Uri` stops below 64 KiB).
const MAX_TARGET: usize = 60_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("MOCK_AS_FUZZ_SEED")
        .ok()
        .and_then(|v| {
            v.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| v.parse().ok())
        })
        .unwrap_or(DEFAULT_SEED)
}

// ---- a small deterministic PRNG (splitmix64) -------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn one(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- the route catalogue (routes/mod.rs and its modules) -------------------------------------

/// How a route takes its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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
enum Cred {
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
struct Route {
    methods: &'static [&'static str],
    path: &'static str,
    kind: Kind,
    cred: Cred,
    fields: &'static [&'static str],
}

const fn r(
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

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const DELETE: &[&str] = &["DELETE"];
const GET_POST: &[&str] = &["GET", "POST"];
const ANY: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];

const AUTHZ: &[&str] = &[
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
const TOKEN: &[&str] = &[
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
];
const REVOKE: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];
const FETCH: &[&str] = &[
    "appId", "userId", "loginId", "tenantId", "scopes", "options",
];
const UPLOAD: &[&str] = &[
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
const CONNECT: &[&str] = &["appId", "userId", "tenantId", "options"];
const SEARCH: &[&str] = &["appId", "userId", "consentId"];
const CONSENT_DELETE: &[&str] = &["consentIds", "appId", "userIds"];
const DCR: &[&str] = &[
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "client_name",
    "client_uri",
    "contacts",
];
const USER: &[&str] = &[
    "id",
    "login_id",
    "name",
    "email",
    "roles",
    "permissions",
    "tenants",
];
const CLIENT: &[&str] = &[
    "id",
    "name",
    "type",
    "secret",
    "redirect_uris",
    "scopes",
    "grant_types",
    "servers",
];
const MINT: &[&str] = &[
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
const CONTROL_REVOKE: &[&str] = &["token", "jti", "user", "session"];
const ROTATE: &[&str] = &["generate", "kid"];
const RETIRE: &[&str] = &["kid"];
const FAULT: &[&str] = &[
    "endpoint",
    "path_prefix",
    "method",
    "status",
    "delay_ms",
    "count",
];
const JOURNAL: &[&str] = &[
    "endpoint",
    "path",
    "since_ms",
    "since_seq",
    "credential",
    "limit",
];
const CLOCK: &[&str] = &["offset_secs", "advance_secs"];
const RULE: &[&str] = &[
    "name", "scopes", "roles", "users", "clients", "apps", "tenants",
];
const CONNECTION: &[&str] = &[
    "app",
    "user",
    "tenant",
    "scopes",
    "refresh_token",
    "expires_in",
];
const PATCH_SERVER: &[&str] = &[
    "url",
    "scopes",
    "dcr",
    "cimd",
    "access_token_ttl",
    "audience",
    "scope_claims",
    "require_resource",
];
const APP: &[&str] = &["id", "name", "scopes", "token_ttl"];
const CONSENT_FORM: &[&str] = &["request", "csrf", "action", "user", "tenant", "scope"];
const CONNECT_FORM: &[&str] = &["csrf", "action"];

use Cred as C;
use Kind as K;

/// Every route of the router, in `routes/mod.rs` order, then the control API.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
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
];

const OTHER_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get",
    "M-SEARCH", "PROPFIND",
];

const UNKNOWN_PATHS: &[&str] = &[
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

const FLAWS: &[&str] = &[
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
fn endpoints() -> Vec<&'static str> {
    mock_as::routes::control::ENDPOINTS
        .iter()
        .copied()
        .chain(["control", "bogus"])
        .collect()
}

/// Numbers in the right JSON type but absurd ranges.
const NUMBERS: &[i128] = &[
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

// ---- what the generator draws valid-looking values from --------------------------------------

/// Tokens, codes and ids created by [`setup`] with valid requests.
#[derive(Debug, Default, Clone)]
struct Pools {
    /// Signed tokens from good to absurd (flaws, extreme claims) and forged ones.
    jwts: Vec<String>,
    /// A valid U2alice token with `outbound.token.fetch`.
    user_jwt: String,
    codes: Vec<String>,
    refresh: Vec<String>,
    verifier: String,
    challenge: String,
    connect_states: Vec<String>,
    conn_ids: Vec<String>,
    conn_tokens: Vec<String>,
}

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    method: Method,
    /// Path and query (or an absolute-form URI, or `*`).
    target: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    /// Send to the app started with `--admin-token`.
    admin: bool,
    /// The catalogue route it was built from (None for unknown paths).
    route: Option<usize>,
}

impl Case {
    /// A hand-written request (not from the catalogue) to the app without an admin token.
    fn plain(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Case {
        Case {
            method: Method::from_bytes(method.as_bytes()).unwrap(),
            target: target.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        HeaderValue::from_str(v).unwrap(),
                    )
                })
                .collect(),
            body: body.to_vec(),
            admin: false,
            route: None,
        }
    }

    fn describe(&self) -> String {
        let t = truncate(&self.target, 300);
        let hs: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes());
                let v: String = v.chars().take(120).collect();
                format!("{k}: {v}")
            })
            .collect();
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        format!(
            "{} {t}{}\n    headers: {hs:?}\n    body ({} bytes): {body:?}",
            self.method,
            if self.admin { " [admin-token app]" } else { "" },
            self.body.len()
        )
    }
}

struct Gen {
    rng: Rng,
    /// Grows with what valid-enough requests obtain (codes, refresh tokens, access tokens).
    pools: Pools,
    /// Only what reqwest can send over a real socket.
    listener: bool,
}

fn s(v: impl AsRef<str>) -> Value {
    Value::String(v.as_ref().to_string())
}

impl Gen {
    fn new(seed: u64, pools: Pools, listener: bool) -> Gen {
        Gen {
            rng: Rng(seed),
            pools,
            listener,
        }
    }

    fn case(&mut self) -> Case {
        let mut c = if self.rng.chance(12) {
            self.path_trick()
        } else {
            let mut i = self.rng.below(ROUTES.len());
            // A valid reset wipes what the fuzz built up (sessions, purge counters): keep it rare.
            if ROUTES[i].path == "/_mock/reset" && self.rng.chance(90) {
                i = self.rng.below(ROUTES.len());
            }
            self.route_case(i)
        };
        // `http::Uri` refuses targets of 64 KiB and more: long, but a request.
        if c.target.len() > MAX_TARGET {
            let mut end = MAX_TARGET;
            while !c.target.is_char_boundary(end) {
                end -= 1;
            }
            c.target.truncate(end);
        }
        c
    }

    /// A random member of a pool, if it has any.
    fn pooled(&mut self, which: fn(&Pools) -> &Vec<String>) -> Option<String> {
        let v = which(&self.pools);
        if v.is_empty() {
            return None;
        }
        let i = self.rng.below(v.len());
        Some(v[i].clone())
    }

    /// Keep what a request obtained: codes from redirects, tokens from token answers.
    fn learn(&mut self, a: &Answer) {
        fn keep(pool: &mut Vec<String>, v: String, slot: usize) {
            if pool.len() < 64 {
                pool.push(v);
            } else {
                pool[slot % 64] = v;
            }
        }
        let slot = self.rng.below(64);
        if a.status == 302
            && let Some(code) = a
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url::Url::parse(l).ok())
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned())
                })
        {
            keep(&mut self.pools.codes, code, slot);
        }
        if a.status == 200 && a.path.starts_with("/oauth2/") && a.path.ends_with("/token") {
            let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
            if let Some(r) = v["refresh_token"].as_str() {
                keep(&mut self.pools.refresh, r.to_string(), slot);
            }
            if let Some(t) = v["access_token"].as_str() {
                keep(&mut self.pools.jwts, t.to_string(), slot);
            }
        }
    }

    fn method(&mut self, allowed: &[&str]) -> Method {
        let m = if self.rng.chance(80) {
            *self.rng.pick(allowed)
        } else {
            *self.rng.pick(OTHER_METHODS)
        };
        let m = if self.listener && m == "CONNECT" {
            "OPTIONS"
        } else {
            m
        };
        Method::from_bytes(m.as_bytes()).unwrap()
    }

    fn route_case(&mut self, i: usize) -> Case {
        let route = &ROUTES[i];
        let method = self.method(route.methods);
        let mut target = self.fill(route.path);
        let mut headers = Vec::new();
        let mut body = Vec::new();
        let admin = route.cred == Cred::Control && self.rng.chance(15);
        self.auth(route.cred, admin, &mut headers);
        let reads_query =
            method == Method::GET || method == Method::HEAD || method == Method::DELETE;
        match route.kind {
            Kind::Nothing => {
                if self.rng.chance(20) {
                    self.random_body(route, &mut headers, &mut body);
                }
            }
            Kind::Query => {
                let q = self.query(route);
                target.push_str(&q);
                if self.rng.chance(10) {
                    self.random_body(route, &mut headers, &mut body);
                }
            }
            Kind::Form if reads_query => {
                let q = self.query(route);
                target.push_str(&q);
            }
            Kind::Form => {
                body = self.form_body(route);
                self.content_type("application/x-www-form-urlencoded", &mut headers);
            }
            Kind::Json | Kind::Rules => {
                if !reads_query || self.rng.chance(30) {
                    body = self.json_body(route);
                    self.content_type("application/json", &mut headers);
                }
            }
            Kind::RotateRefused => {
                body = self.refused_rotate_body();
                headers.push((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ));
            }
            Kind::Anything => self.random_body(route, &mut headers, &mut body),
        }
        if self.rng.chance(8) {
            let q = self.junk_query();
            target.push_str(&q);
        }
        self.extra_headers(&mut headers);
        if self.rng.chance(4) {
            body = self.huge(body);
        }
        Case {
            method,
            target,
            headers,
            body,
            admin,
            route: Some(i),
        }
    }

    /// Any body at all, with a content type that may or may not match.
    fn random_body(
        &mut self,
        route: &Route,
        headers: &mut Vec<(HeaderName, HeaderValue)>,
        body: &mut Vec<u8>,
    ) {
        match self.rng.below(4) {
            0 => {
                *body = self.json_body(route);
                self.content_type("application/json", headers);
            }
            1 => {
                *body = self.form_body(route);
                self.content_type("application/x-www-form-urlencoded", headers);
            }
            2 => {
                let n = self.rng.range(0, 300);
                *body = self.rng.bytes(n);
                self.content_type("application/octet-stream", headers);
            }
            _ => {
                *body = b"\xff\xfe\xfd{\"a\": \"\xc3\x28\"}".to_vec();
                self.content_type("application/json", headers);
            }
        }
    }

    // -- paths ----------------------------------------------------------------------------------

    fn fill(&mut self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            let name = &rest[start + 1..end];
            let v = if self.rng.chance(78) {
                self.param(name)
            } else {
                self.evil_segment()
            };
            out.push_str(&v);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn param(&mut self, name: &str) -> String {
        let v: &str = match name {
            "pid" => self.rng.one(&[PID, PID, PID, "P2otherProject"]),
            "sid" => self.rng.one(&[SID, SID, SIBLING, "MS2nope"]),
            // Users the fuzz may delete: never the ones the valid requests rely on.
            "uid" => self
                .rng
                .one(&["U2fuzz", "fuzz@example.com", "U2mallory", "U2nobody"]),
            "app" => self.rng.one(&["google-calendar", "salesforce", "nope-app"]),
            "rest" => self.rng.one(&[
                "calendar/v3/events",
                "a/b/c",
                "x",
                "deep/er/path/%2e%2e",
                ".well-known/openid-configuration",
            ]),
            "state" => {
                if self.rng.chance(60)
                    && let Some(v) = self.pooled(|p| &p.connect_states)
                {
                    return v;
                }
                "no-such-state"
            }
            "fid" => self.rng.one(&[
                "1",
                "0",
                "2",
                "18446744073709551615",
                "18446744073709551616",
                "-1",
                "1.5",
                "x",
            ]),
            "cid" => {
                if self.rng.chance(50)
                    && let Some(v) = self.pooled(|p| &p.conn_ids)
                {
                    return v;
                }
                "OTnope"
            }
            "rule" => self.rng.one(&[
                "everyone",
                "fuzz-rule",
                "users read calendars",
                "admins%20only",
            ]),
            _ => "x",
        };
        v.to_string()
    }

    fn evil_segment(&mut self) -> String {
        match self.rng.below(18) {
            0 => String::new(),
            1 => "%ff".into(),
            2 => "%00".into(),
            3 => "%2F".into(),
            4 => "..".into(),
            5 => "%2e%2e".into(),
            6 => "a%20b".into(),
            7 => "x".repeat(self.rng.range(256, 20_000)),
            8 => "%c3%28".into(),
            9 => "%ed%a0%80".into(),
            10 => "%F0%9F%98%80".into(),
            11 => "%7Bpid%7D".into(),
            12 => ";".into(),
            13 => "%".into(),
            14 => "%zz".into(),
            15 => format!("{PID}%00"),
            16 => format!("{PID}:{MGMT_KEY}"),
            _ => ".".into(),
        }
    }

    fn path_trick(&mut self) -> Case {
        let i = self.rng.below(ROUTES.len());
        let base = self.fill(ROUTES[i].path);
        let variants = if self.listener { 12 } else { 14 };
        let target = match self.rng.below(variants) {
            0 => format!("/{base}"),
            1 => {
                let slashes: Vec<usize> = base.match_indices('/').map(|(i, _)| i).collect();
                let at = *self.rng.pick(&slashes);
                format!("{}/{}", &base[..at], &base[at..])
            }
            2 => format!("{base}/"),
            3 => format!(
                "{base}{}",
                self.rng
                    .pick(&["/..", "/../_mock/info", "/.", "/%2e%2e/%2e%2e/_mock/reset"])
            ),
            4 => {
                let mut segs: Vec<&str> = base.split('/').collect();
                let k = self.rng.range(1, segs.len() - 1);
                segs[k] = self.rng.one(&["..", "%2e%2e", ".", "%2E", "%2e%2e%2f"]);
                segs.join("/")
            }
            5 => base.to_uppercase(),
            6 => {
                // Percent-encode one letter: routers must not decode the path before matching.
                let letters: Vec<usize> = base
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_alphabetic())
                    .map(|(i, _)| i)
                    .collect();
                match letters.is_empty() {
                    true => base,
                    false => {
                        let at = *self.rng.pick(&letters);
                        format!(
                            "{}%{:02X}{}",
                            &base[..at],
                            base.as_bytes()[at],
                            &base[at + 1..]
                        )
                    }
                }
            }
            7 => format!(
                "{base}{}",
                self.rng
                    .pick(&["%00", "%00.json", "%0a", "%0d%0aX-Injected:%20yes"])
            ),
            8 => format!("{base};jsessionid=x"),
            9 => match self.rng.below(3) {
                0 => format!("{base}/{}", "a".repeat(self.rng.range(1000, 60_000))),
                1 => "/a".repeat(self.rng.range(500, 8000)),
                _ => format!("/{}", "%41".repeat(self.rng.range(1000, 10_000))),
            },
            10 => (*self.rng.pick(UNKNOWN_PATHS)).to_string(),
            11 => {
                let n = self.rng.range(1, 6);
                let mut p = String::new();
                for _ in 0..n {
                    p.push('/');
                    p.push_str(self.rng.one(&[
                        "oauth2",
                        "v1",
                        "v2",
                        "_mock",
                        "_upstream",
                        "apps",
                        "mgmt",
                        ".well-known",
                        "token",
                        PID,
                        "x",
                        "%00",
                        "..",
                        "",
                        "register",
                        "keys",
                    ]));
                }
                p
            }
            12 => format!("http://evil.example{base}"),
            _ => "*".into(),
        };
        let method = self.method(OTHER_METHODS);
        let mut headers = Vec::new();
        let mut body = Vec::new();
        let admin = self.rng.chance(10);
        let cred = *self.rng.pick(&[
            C::None,
            C::Client,
            C::Mgmt,
            C::Caller,
            C::Access,
            C::Control,
        ]);
        self.auth(cred, admin, &mut headers);
        if self.rng.chance(50) {
            self.random_body(&ROUTES[i], &mut headers, &mut body);
        }
        self.extra_headers(&mut headers);
        Case {
            method,
            target,
            headers,
            body,
            admin,
            route: None,
        }
    }

    // -- parameters -----------------------------------------------------------------------------

    /// A complete valid parameter set for the OAuth core (authorize, token), so that one
    /// mutation reaches deep code, not the first check.
    fn recipe(&mut self, route: &Route) -> Option<Vec<(String, Value)>> {
        let kv = |k: &str, v: &str| (k.to_string(), s(v));
        let generic = !route.path.contains("{sid}");
        let mut v = if route.fields == AUTHZ {
            vec![
                kv("response_type", "code"),
                kv("client_id", PUBLIC_CLIENT),
                kv("redirect_uri", PUBLIC_REDIRECT),
                kv("code_challenge", &self.pools.challenge),
                kv("code_challenge_method", "S256"),
                kv("state", "st4te"),
                kv("scope", "mcp:read outbound.token.fetch"),
                kv("resource", RESOURCE),
            ]
        } else if route.fields == TOKEN {
            match self.rng.below(3) {
                0 => vec![
                    kv("grant_type", "client_credentials"),
                    kv("client_id", CONF_CLIENT),
                    kv("client_secret", CONF_SECRET),
                ],
                1 => {
                    let rt = self.pooled(|p| &p.refresh).unwrap_or_default();
                    vec![
                        kv("grant_type", "refresh_token"),
                        kv("refresh_token", &rt),
                        kv("client_id", PUBLIC_CLIENT),
                    ]
                }
                _ => {
                    let code = self.pooled(|p| &p.codes).unwrap_or_default();
                    vec![
                        kv("grant_type", "authorization_code"),
                        kv("code", &code),
                        kv("client_id", PUBLIC_CLIENT),
                        kv("redirect_uri", PUBLIC_REDIRECT),
                        kv("code_verifier", &self.pools.verifier.clone()),
                    ]
                }
            }
        } else {
            return None;
        };
        if generic {
            v.push(kv("project_id", PID));
            v.push(kv("mcp_server_id", SID));
        }
        Some(v)
    }

    /// The route's fields: mostly-valid with a mutation or two, or a random subset.
    fn fields(&mut self, route: &Route) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if self.rng.chance(40) {
            match self.recipe(route) {
                Some(r) if self.rng.chance(60) => out = r,
                _ => {
                    for f in route.fields {
                        let v = self.plausible(route, f);
                        out.push((f.to_string(), v));
                    }
                }
            }
            for _ in 0..self.rng.below(3) {
                if out.is_empty() {
                    break;
                }
                let k = self.rng.below(out.len());
                match self.rng.below(3) {
                    0 => {
                        out.remove(k);
                    }
                    1 => out[k].1 = self.evil_json(2),
                    _ => {
                        let dup = out[k].clone();
                        out.push(dup);
                    }
                }
            }
        } else {
            for f in route.fields {
                if self.rng.chance(50) {
                    let v = if self.rng.chance(50) {
                        self.plausible(route, f)
                    } else {
                        self.evil_json(2)
                    };
                    out.push((f.to_string(), v));
                }
            }
        }
        if self.rng.chance(10) {
            let k = self.evil_string();
            let v = self.evil_json(1);
            out.push((k, v));
        }
        out
    }

    fn plausible(&mut self, route: &Route, field: &str) -> Value {
        let path = route.path;
        let num = |g: &mut Self| -> Value {
            let n = *g.rng.pick(NUMBERS);
            serde_json::from_str(&n.to_string()).unwrap()
        };
        match field {
            "appId" | "app" => s(self.rng.one(&["google-calendar", "salesforce", "nope-app"])),
            "userId" | "loginId" | "login_hint" | "user" => s(self.rng.one(&[
                "U2alice",
                "U2root",
                "alice@example.com",
                "U2mallory",
                "U2nobody",
            ])),
            "tenantId" | "tenant" => s(self.rng.one(&["T2acme", "T2globex", "T2nope"])),
            "tenants" if path == "/_mock/users" => {
                json!([{"id": self.rng.pick(&["T2acme", "T2nope"]), "roles": ["member"]}])
            }
            "tenants" => json!([self.rng.pick(&["T2acme", "T2globex", "T2nope"])]),
            "scopes" if path.starts_with("/_mock/servers") => self
                .rng
                .pick(&[
                    json!([{"name": "mcp:read"}, {"name": "calendar.read", "description": "x"}]),
                    json!([]),
                    json!([{"name": "a b"}]),
                    json!([{"name": "dup"}, {"name": "dup"}]),
                ])
                .clone(),
            "scopes" => self
                .rng
                .pick(&[
                    json!(["calendar.readonly"]),
                    json!(["calendar.events", "calendar.readonly"]),
                    json!(["reports.read"]),
                    json!(["mcp:read", "outbound.token.fetch"]),
                    json!(["*"]),
                    json!([]),
                ])
                .clone(),
            "scope" => s(self.rng.one(&[
                "mcp:read",
                "mcp:read calendar.read",
                "openid outbound.token.fetch",
                "mcp:admin",
                "bad\"scope",
                "notes.read",
            ])),
            "client_id" | "client" => {
                s(self
                    .rng
                    .one(&[PUBLIC_CLIENT, CONF_CLIENT, "unknown-client"]))
            }
            "clients" => json!([PUBLIC_CLIENT]),
            "client_secret" => s(self.rng.one(&[CONF_SECRET, "wrong"])),
            "redirect_uri" => s(self.rng.one(&[
                PUBLIC_REDIRECT,
                "https://client.example.com/callback",
                "http://127.0.0.1:33418/other",
            ])),
            "redirect_uris" => self
                .rng
                .pick(&[
                    json!([PUBLIC_REDIRECT]),
                    json!(["https://client.example.com/cb", "http://localhost:1/x"]),
                    json!(["javascript:alert(1)"]),
                    json!([]),
                ])
                .clone(),
            "code_challenge" => s(&self.pools.challenge),
            "code_challenge_method" => s(self.rng.one(&["S256", "S256", "plain"])),
            "code_verifier" => s(&self.pools.verifier),
            "code" => s(self
                .pooled(|p| &p.codes)
                .unwrap_or_else(|| "no-code".into())),
            "refresh_token" if path == "/_mock/connections" => json!(self.rng.chance(50)),
            "refresh_token" | "refreshToken" => s(self
                .pooled(|p| &p.refresh)
                .unwrap_or_else(|| "no-refresh".into())),
            "grant_type" => s(self.rng.one(&[
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password",
                "urn:ietf:params:oauth:grant-type:device_code",
            ])),
            "grant_types" => self
                .rng
                .pick(&[
                    json!(["authorization_code", "refresh_token"]),
                    json!(["client_credentials"]),
                    json!(["implicit"]),
                    json!([]),
                ])
                .clone(),
            "response_type" => s(self.rng.one(&["code", "code", "token"])),
            "response_types" => json!([self.rng.pick(&["code", "token"])]),
            "resource" => s(self
                .rng
                .one(&[RESOURCE, "http://127.0.0.1:8002/mcp", "not a url"])),
            "state" => s("st4te"),
            "project_id" => s(PID),
            "mcp_server_id" | "server" | "servers" => {
                let v = s(self.rng.one(&[SID, SIBLING, "MS2nope"]));
                if field == "servers" { json!([v]) } else { v }
            }
            "token" => {
                let t = match self.rng.chance(70) {
                    true => self.pooled(|p| &p.jwts),
                    false => self.pooled(|p| &p.refresh),
                };
                s(t.unwrap_or_else(|| "opaque".into()))
            }
            "token_type_hint" => s(self.rng.one(&["access_token", "refresh_token", "bogus"])),
            "options" => {
                let mut o = serde_json::Map::new();
                if self.rng.chance(50) {
                    o.insert("withRefreshToken".into(), json!(self.rng.chance(50)));
                }
                if self.rng.chance(50) {
                    o.insert("forceRefresh".into(), json!(self.rng.chance(50)));
                }
                if self.rng.chance(30) {
                    o.insert(
                        "redirectUrl".into(),
                        s(self.rng.one(&["https://app.example.com/cb", "not a url"])),
                    );
                }
                if self.rng.chance(30) {
                    o.insert("scopes".into(), json!(["calendar.readonly"]));
                }
                Value::Object(o)
            }
            "accessToken" => s("mock-upload-fuzz"),
            "accessTokenExpiry" => match self.rng.chance(30) {
                true => s(self.rng.pick(NUMBERS).to_string()),
                false => num(self),
            },
            "accessTokenType" => s("Bearer"),
            "grantedBy" => s("fuzz"),
            "consentId" => s("no-consent"),
            "consentIds" => json!(["no-consent"]),
            "userIds" | "users" => json!(["U2alice"]),
            "token_endpoint_auth_method" => s(self.rng.one(&[
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ])),
            "client_name" | "name" => s(self.rng.one(&["Fuzz", "fuzz-rule", "everyone"])),
            "client_uri" => s("https://client.example.com"),
            "contacts" => json!(["fuzz@example.com"]),
            "id" if path == "/_mock/users" => s(self.rng.one(&["U2fuzz", "U2mallory"])),
            "id" if path == "/_mock/apps" => {
                s(self.rng.one(&["fuzz-app", "google-calendar", "a/b"]))
            }
            "id" if path == "/_mock/clients" => s(self.rng.one(&["fuzz-client", CONF_CLIENT])),
            "id" => s(self
                .pooled(|p| &p.conn_ids)
                .unwrap_or_else(|| "OTnope".into())),
            "login_id" => s(self.rng.one(&["fuzz@example.com", "alice@example.com"])),
            "email" => s("fuzz@example.com"),
            "roles" => json!([self.rng.pick(&["user", "admin"])]),
            "permissions" => json!(["calendar:manage"]),
            "apps" => json!([self.rng.pick(&["google-calendar", "nope-app"])]),
            "type" => s(self.rng.one(&["public", "confidential", "other"])),
            "secret" => s("fuzz-secret"),
            "ttl" | "expires_in" | "access_token_ttl" | "token_ttl" | "offset_secs"
            | "advance_secs" | "since_ms" | "since_seq" | "limit" => num(self),
            "status" => json!(self.rng.pick(&[400, 401, 503, 200, 99, 600, 65535])),
            "delay_ms" => json!(self.rng.pick(&[1, 0, 120_001])),
            "count" => json!(self.rng.pick(&[1_u64, 0, 4_294_967_295, 4_294_967_296])),
            "claims" => {
                let k = self.rng.one(&[
                    "exp", "nbf", "iat", "aud", "iss", "jti", "scope", "sub", "custom",
                ]);
                let mut o = serde_json::Map::new();
                o.insert(k.to_string(), self.evil_json(1));
                Value::Object(o)
            }
            "flaw" => s(self.rng.pick(FLAWS)),
            "remove_claims" => self
                .rng
                .pick(&[json!(["exp"]), json!(["aud", "iss"]), json!(["jti", "sub"])])
                .clone(),
            "jti" => s("jti-fuzz"),
            "kid" => s(self.rng.one(&[
                "SKmockDefault1",
                "SKmockDefault2",
                "SKmockDefault4",
                "SKnope",
            ])),
            "generate" | "dcr" | "cimd" | "require_resource" => json!(self.rng.chance(50)),
            "endpoint" => s(self.rng.pick(&endpoints())),
            "path_prefix" => s(self.rng.one(&["/oauth2/", "/", "/v1/"])),
            "method" => s(self.rng.one(&["GET", "POST", "fuzz"])),
            "url" => s(self.rng.one(&[
                RESOURCE,
                "http://127.0.0.1:9000/mcp",
                "ftp://x/y",
                "not a url",
            ])),
            "audience" => self
                .rng
                .pick(&[
                    json!(["project", "client", "resource"]),
                    json!(["resource"]),
                    json!([]),
                    json!(["bogus"]),
                ])
                .clone(),
            "scope_claims" => s(self.rng.one(&["both", "scope", "scopes", "none"])),
            "path" => s("/oauth2"),
            "credential" => s("basic"),
            _ => s("x"),
        }
    }

    fn evil_string(&mut self) -> String {
        match self.rng.below(17) {
            0 => String::new(),
            1 => " ".into(),
            2 => "\u{0}".into(),
            3 => "%00".into(),
            4 => "../../etc/passwd".into(),
            5 => "x".repeat(self.rng.range(1000, 20_000)),
            6 => "😀🔥\u{202e}RTL\u{fffd}".into(),
            7 => "\"quoted\\".into(),
            8 => "a b\tc\nd\r\n".into(),
            9 => "<script>alert(1)</script>".into(),
            10 => "%ff%fe".into(),
            11 => "null".into(),
            12 => "9223372036854775808".into(),
            13 => {
                let n = self.rng.range(1, 40);
                (0..n)
                    .map(|_| (b' ' + self.rng.below(95) as u8) as char)
                    .collect()
            }
            14 => "https://127.0.0.1:9/cimd.json".into(),
            15 => format!("{PID}:{MGMT_KEY}"),
            _ => "\u{7f}\u{1}\u{1b}[31m".into(),
        }
    }

    fn evil_json(&mut self, depth: usize) -> Value {
        let top = if depth == 0 { 9 } else { 12 };
        match self.rng.below(top) {
            0 => Value::Null,
            1 => json!(self.rng.chance(50)),
            2 => json!(0),
            3 => json!(-1),
            4 => json!(i64::MAX),
            5 => json!(i64::MIN),
            6 => json!(u64::MAX),
            7 => json!(*self.rng.pick(&[1e300, -0.5, 1.5, -1e300, 5e-324])),
            8 => Value::String(self.evil_string()),
            9 => {
                let n = self.rng.below(4);
                Value::Array((0..n).map(|_| self.evil_json(depth - 1)).collect())
            }
            10 => {
                let n = self.rng.below(4);
                let mut o = serde_json::Map::new();
                for _ in 0..n {
                    let k = self.evil_string();
                    let v = self.evil_json(depth - 1);
                    o.insert(k, v);
                }
                Value::Object(o)
            }
            _ => json!([self.evil_string(), self.evil_string()]),
        }
    }

    fn value_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    // -- bodies ---------------------------------------------------------------------------------

    fn json_body(&mut self, route: &Route) -> Vec<u8> {
        let object = |g: &mut Self| -> String {
            let fields = g.fields(route);
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
                .collect();
            format!("{{{}}}", parts.join(","))
        };
        let text = match self.rng.below(100) {
            // An object (duplicated keys stay duplicated in the text).
            0..=54 => {
                let o = object(self);
                if route.kind == Kind::Rules && self.rng.chance(80) {
                    format!("[{o}]")
                } else {
                    o
                }
            }
            // Truncated.
            55..=62 => {
                let o = object(self);
                let cut = self.rng.below(o.len().max(1));
                let mut end = cut.min(o.len());
                while !o.is_char_boundary(end) {
                    end -= 1;
                }
                o[..end].to_string()
            }
            // Not an object.
            63..=68 => (*self.rng.pick(&[
                "[]", "\"x\"", "1", "null", "true", "[{}]", "{}", "-0", "1e400",
            ]))
            .to_string(),
            // Too deep.
            69..=71 => {
                let d = self.rng.range(100, 400);
                format!("{}{}", "[".repeat(d), "]".repeat(d))
            }
            // Numbers out of every range.
            72..=76 => {
                let f = route.fields.first().copied().unwrap_or("x");
                let lit = self.rng.pick(&[
                    "1e400",
                    "-99999999999999999999999",
                    "18446744073709551616",
                    "1.0",
                    "NaN",
                    "0x10",
                    "+1",
                ]);
                format!("{{\"{f}\": {lit}}}")
            }
            // Invalid UTF-8 and escapes.
            77..=83 => {
                let o = object(self);
                let mut b = o.into_bytes();
                let at = self.rng.below(b.len().max(1));
                let bad: &[u8] = self.rng.pick::<&[u8]>(&[
                    b"\xff".as_slice(),
                    b"\xc3\x28",
                    b"\xed\xa0\x80",
                    b"\xc0\xaf",
                    b"\"\\ud800\"",
                    b"\\u0000",
                ]);
                b.splice(at..at, bad.iter().copied());
                return b;
            }
            84..=87 => String::new(),
            88..=90 => format!("\u{feff}{}", object(self)),
            91..=93 => {
                // A form body where JSON is expected.
                return self.form_body(route);
            }
            _ => {
                let n = self.rng.range(1, 200);
                return self.rng.bytes(n);
            }
        };
        text.into_bytes()
    }

    fn form_body(&mut self, route: &Route) -> Vec<u8> {
        let fields = self.fields(route);
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            ser.append_pair(k, &Self::value_text(v));
        }
        let mut body = ser.finish().into_bytes();
        match self.rng.below(100) {
            0..=59 => {}
            60..=66 => {
                // A repeated parameter.
                if let Some((k, _)) = fields.first() {
                    body.extend_from_slice(format!("&{k}=again").as_bytes());
                }
            }
            67..=72 => {
                let cut = self.rng.below(body.len().max(1));
                body.truncate(cut);
            }
            73..=80 => {
                let bad: &[u8] = self.rng.pick::<&[u8]>(&[
                    b"&%".as_slice(),
                    b"&a=%zz",
                    b"&client_id=%ff%fe",
                    b"&scope=%c3%28",
                    b"&\xff\xfe=\xc3\x28",
                    b"&&&==&=",
                    b"&grant_type",
                    b"&a[]=1&a[]=2",
                    b"&%00=%00",
                ]);
                body.extend_from_slice(bad);
            }
            81..=85 => {
                let at = self.rng.below(body.len().max(1));
                body.splice(at..at, b"\xff\xc0\xaf".iter().copied());
            }
            86..=90 => body = self.json_body_plain(route),
            91..=94 => body.clear(),
            _ => {
                let n = self.rng.range(1, 200);
                body = self.rng.bytes(n);
            }
        }
        body
    }

    /// A JSON object of the route's fields (token endpoints accept JSON too).
    fn json_body_plain(&mut self, route: &Route) -> Vec<u8> {
        let fields = self.fields(route);
        let o: serde_json::Map<String, Value> = fields.into_iter().collect();
        Value::Object(o).to_string().into_bytes()
    }

    /// Bodies `Option<Json<RotateRequest>>` refuses before the handler runs.
    fn refused_rotate_body(&mut self) -> Vec<u8> {
        let b: &[u8] = self.rng.pick::<&[u8]>(&[
            b"{".as_slice(),
            b"{\"generate\": \"yes\"}",
            b"{\"generate\": 1}",
            b"{\"kid\": 5}",
            b"{\"bogus\": true}",
            b"[]",
            b"\xff\xfe",
            b"{\"generate\": true, \"kid\": \"x\", \"extra\": 1}",
            b"1e400",
        ]);
        b.to_vec()
    }

    fn huge(&mut self, mut body: Vec<u8>) -> Vec<u8> {
        let n = self.rng.range(BODY_LIMIT + 1, BODY_LIMIT * 2);
        match self.rng.below(3) {
            // Valid JSON followed by white space.
            0 => body.resize(n, b' '),
            // One enormous value.
            1 => {
                body = format!("{{\"appId\": \"{}\"}}", "a".repeat(n)).into_bytes();
            }
            _ => body = self.rng.bytes(n),
        }
        body
    }

    fn query(&mut self, route: &Route) -> String {
        let fields = self.fields(route);
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            ser.append_pair(k, &Self::value_text(v));
        }
        let mut q = ser.finish();
        if self.rng.chance(15) {
            q.push_str(self.rng.one(&[
                "&%",
                "&a=%zz",
                "&scope=%ff",
                "&limit=-1",
                "&&==",
                "&state=%c3%28",
                "&resource=a&resource=b",
                "&client_id=x&client_id=y",
            ]));
        }
        if q.is_empty() && self.rng.chance(50) {
            String::new()
        } else {
            format!("?{q}")
        }
    }

    fn junk_query(&mut self) -> String {
        let sep = "?";
        let q = self.rng.pick(&[
            "a=1",
            "%ff=%fe",
            "x=%00",
            "=&=&",
            "limit=18446744073709551616",
            "endpoint=token&endpoint=jwks",
            "bogus",
        ]);
        format!("{sep}{q}")
    }

    // -- headers --------------------------------------------------------------------------------

    fn content_type(&mut self, natural: &str, headers: &mut Vec<(HeaderName, HeaderValue)>) {
        let v: Vec<u8> = match self.rng.below(100) {
            0..=64 => natural.as_bytes().to_vec(),
            65..=72 => return,
            73..=76 => b"text/plain".to_vec(),
            77..=80 => self
                .rng
                .pick(&[
                    "application/json; charset=utf-8",
                    "APPLICATION/JSON",
                    "application/x-www-form-urlencoded; charset=latin1",
                    "application/vnd.api+json",
                    "application/json;;;",
                ])
                .as_bytes()
                .to_vec(),
            81..=86 => {
                if natural == "application/json" {
                    b"application/x-www-form-urlencoded".to_vec()
                } else {
                    b"application/json".to_vec()
                }
            }
            87..=90 => b"multipart/form-data; boundary=----x".to_vec(),
            91..=94 => b"application/\xffjson".to_vec(),
            _ => {
                headers.push((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ));
                b"application/x-www-form-urlencoded".to_vec()
            }
        };
        if let Ok(v) = HeaderValue::from_bytes(&v) {
            headers.push((header::CONTENT_TYPE, v));
        }
    }

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
    }

    fn jwt(&mut self) -> String {
        self.pooled(|p| &p.jwts).unwrap_or_else(|| "a.b.c".into())
    }

    fn natural_auth(&mut self, cred: Cred, admin: bool) -> Vec<u8> {
        match cred {
            Cred::Client => match self.rng.below(5) {
                0 | 1 => Self::basic(CONF_CLIENT, CONF_SECRET),
                2 => Self::basic(PUBLIC_CLIENT, ""),
                3 => Self::basic(CONF_CLIENT, "wrong"),
                _ => format!("Bearer {PID}:{MGMT_KEY}").into_bytes(),
            },
            Cred::Mgmt => match self.rng.chance(75) {
                true => format!("Bearer {PID}:{MGMT_KEY}").into_bytes(),
                false => format!("Bearer {PID}:wrong").into_bytes(),
            },
            Cred::Caller => match self.rng.below(4) {
                0 | 1 => format!("Bearer {PID}:{MGMT_KEY}").into_bytes(),
                2 => format!("Bearer {PID}:{}", self.pools.user_jwt).into_bytes(),
                _ => format!("Bearer {PID}:{}", self.jwt()).into_bytes(),
            },
            Cred::Pid => match self.rng.chance(50) {
                true => format!("Bearer {PID}").into_bytes(),
                false => format!("Bearer {PID}:anything").into_bytes(),
            },
            Cred::Access => match self.rng.chance(40) {
                true => format!("Bearer {}", self.pools.user_jwt).into_bytes(),
                false => format!("Bearer {}", self.jwt()).into_bytes(),
            },
            Cred::Connection => match self.pooled(|p| &p.conn_tokens) {
                Some(t) if self.rng.chance(60) => format!("Bearer {t}").into_bytes(),
                _ => format!("Bearer {}", self.pools.user_jwt).into_bytes(),
            },
            Cred::Control if admin => format!("Bearer {ADMIN_TOKEN}").into_bytes(),
            Cred::Control | Cred::None => {
                let other = *self.rng.pick(&[C::Client, C::Mgmt, C::Caller, C::Access]);
                self.natural_auth(other, admin)
            }
        }
    }

    fn evil_auth(&mut self) -> Vec<u8> {
        match self.rng.below(26) {
            0 => b"Basic".to_vec(),
            1 => b"Basic    ".to_vec(),
            2 => b"Basic !!!not-base64!!!".to_vec(),
            3 => format!("Basic {}", STANDARD.encode("nocolon")).into_bytes(),
            4 => format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xc3\x28")).into_bytes(),
            5 => format!("Basic {}", STANDARD.encode("%zz%:%ff")).into_bytes(),
            6 => format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", "a".repeat(5000), "b"))
            )
            .into_bytes(),
            7 => format!(
                "basic {}",
                URL_SAFE_NO_PAD.encode("ci-service:ci-service-secret-test-only")
            )
            .into_bytes(),
            8 => b"Bearer".to_vec(),
            9 => b"Bearer ".to_vec(),
            10 => b"Bearer a b".to_vec(),
            11 => format!("Bearer {PID}").into_bytes(),
            12 => format!("Bearer {PID}:").into_bytes(),
            13 => format!("Bearer :{MGMT_KEY}").into_bytes(),
            14 => format!("Bearer P2other:{MGMT_KEY}").into_bytes(),
            15 => b"Bearer x.y.z".to_vec(),
            16 => format!("Bearer {}", "t".repeat(self.rng.range(1000, 16_000))).into_bytes(),
            17 => b"Bearer \xff\xfe\x80".to_vec(),
            18 => b"\xc3\x28 \xff".to_vec(),
            19 => b"Digest username=\"x\"".to_vec(),
            20 => b"Negotiate YII=".to_vec(),
            21 => format!("bEaReR {PID}:{MGMT_KEY}").into_bytes(),
            22 => format!("Bearer {PID}:{}", self.jwt()).into_bytes(),
            23 => format!("Bearer {}", self.jwt()).into_bytes(),
            24 => format!("Bearer {ADMIN_TOKEN}x").into_bytes(),
            _ => b"".to_vec(),
        }
    }

    fn auth(&mut self, cred: Cred, admin: bool, headers: &mut Vec<(HeaderName, HeaderValue)>) {
        let n = match self.rng.below(100) {
            0..=14 => 0,
            15..=92 => 1,
            _ => 2,
        };
        for _ in 0..n {
            let v = if self.rng.chance(60) {
                self.natural_auth(cred, admin)
            } else {
                self.evil_auth()
            };
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                headers.push((header::AUTHORIZATION, v));
            }
        }
    }

    fn extra_headers(&mut self, headers: &mut Vec<(HeaderName, HeaderValue)>) {
        if !self.rng.chance(20) {
            return;
        }
        let (k, v): (&str, &[u8]) = match self.rng.below(if self.listener { 7 } else { 10 }) {
            0 => ("x-fuzz", b"\xff\xfe\x80"),
            1 => ("accept", b"application/xml"),
            2 => ("cookie", b"session=\xc3\x28"),
            3 => ("x-forwarded-host", b"evil.example"),
            4 => ("origin", b"null"),
            5 => ("accept-encoding", b"gzip, br, zstd, \xff"),
            6 => ("x-long", b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            // In-process only: a real server and client keep these honest.
            7 => ("content-length", b"abc"),
            8 => ("host", b"\xffevil"),
            _ => ("transfer-encoding", b"chunked, gzip"),
        };
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            headers.push((k, v));
        }
    }
}

// ---- what an answer must look like -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    OAuth,
    Descope,
    Mock,
}

/// The documented rule (error.rs, README "Error codes").
fn family(path: &str) -> Family {
    let dcr = path.starts_with("/v1/mgmt/mcp/client/") && path.ends_with("/register");
    if path.starts_with("/oauth2/") || path == "/oauth2" || dcr {
        Family::OAuth
    } else if path == "/_mock" || path.starts_with("/_mock/") || path.starts_with("/_upstream/") {
        Family::Mock
    } else if path.starts_with("/v1/") || path.starts_with("/v2/") || path.contains("/.well-known/")
    {
        Family::Descope
    } else {
        Family::Mock
    }
}

/// One answer, as the client saw it.
#[derive(Debug)]
struct Answer {
    /// The path the server saw (what picks the error shape).
    path: String,
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

fn check(method: &Method, a: &Answer) -> Result<(), String> {
    let status = a.status;
    if status >= 500 {
        return Err(format!("{status}: a server error"));
    }
    if (300..400).contains(&status) && !a.headers.contains_key(header::LOCATION) {
        return Err(format!("{status} without Location"));
    }
    if *method == Method::HEAD {
        return Ok(());
    }
    let is_json = a
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if status < 400 {
        if is_json && !a.body.is_empty() {
            serde_json::from_slice::<Value>(&a.body)
                .map_err(|e| format!("{status}: JSON body does not parse: {e}"))?;
        }
        return Ok(());
    }
    if !is_json {
        return Err(format!(
            "{status}: error without Content-Type application/json ({:?})",
            a.headers.get(header::CONTENT_TYPE)
        ));
    }
    let v: Value = serde_json::from_slice(&a.body)
        .map_err(|e| format!("{status}: error body is not JSON: {e}"))?;
    let o = v
        .as_object()
        .ok_or_else(|| format!("{status}: error body is not an object: {v}"))?;
    let fam = family(&a.path);
    let (needed, forbidden): (&[&str], &[&str]) = match fam {
        Family::OAuth => (&["error", "error_description"], &["errorCode", "message"]),
        Family::Descope => (
            &["errorCode", "errorDescription", "errorMessage"],
            &["error", "message"],
        ),
        Family::Mock => (&["error", "message"], &["errorCode", "error_description"]),
    };
    for k in needed {
        if !o.get(*k).is_some_and(Value::is_string) {
            return Err(format!(
                "{status}: {fam:?}-family error lacks string {k:?}: {v}"
            ));
        }
    }
    for k in forbidden {
        if o.contains_key(*k) {
            return Err(format!("{status}: {fam:?}-family error carries {k:?}: {v}"));
        }
    }
    Ok(())
}

// ---- transports --------------------------------------------------------------------------------

/// Where requests go: the app in process, or a real listener.
enum Target {
    App(Router),
    Http {
        client: reqwest::Client,
        base: String,
    },
}

/// Make a target URI acceptable to `http::Uri`: percent-encode what it refuses.
fn sanitize(target: &str) -> String {
    if Uri::try_from(target).is_ok() {
        return target.to_string();
    }
    let mut out = String::new();
    for b in target.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Target {
    async fn send(&self, c: &Case) -> Result<Answer, String> {
        match self {
            Target::App(app) => {
                let uri = Uri::try_from(sanitize(&c.target)).map_err(|e| format!("uri: {e}"))?;
                let path = uri.path().to_string();
                let mut b = Request::builder().method(c.method.clone()).uri(uri);
                for (k, v) in &c.headers {
                    b = b.header(k, v);
                }
                let req = b
                    .body(Body::from(c.body.clone()))
                    .map_err(|e| format!("request: {e}"))?;
                let resp = app
                    .clone()
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|e| match e {});
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?
                    .to_bytes();
                Ok(Answer {
                    path,
                    status,
                    headers,
                    body,
                })
            }
            Target::Http { client, base } => {
                let url = reqwest::Url::parse(&format!("{base}{}", sanitize(&c.target)))
                    .map_err(|e| format!("url: {e}"))?;
                let mut headers = HeaderMap::new();
                for (k, v) in &c.headers {
                    headers.append(k.clone(), v.clone());
                }
                let req = client
                    .request(c.method.clone(), url)
                    .headers(headers)
                    .body(c.body.clone())
                    .build()
                    .map_err(|e| format!("build: {e}"))?;
                let path = req.url().path().to_string();
                let retry = req.try_clone();
                // A server may close a keep-alive connection after answering a request whose
                // body it did not read (a 405 to a HEAD with 80 KiB); the client learns it on
                // the next request. Retry once on a fresh connection: a request that itself
                // breaks the connection fails twice.
                let resp = match client.execute(req).await {
                    Ok(r) => r,
                    Err(first) => {
                        let req = retry.ok_or_else(|| format!("send: {first:?}"))?;
                        client
                            .execute(req)
                            .await
                            .map_err(|e| format!("send (twice): {first:?}; {e:?}"))?
                    }
                };
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
                Ok(Answer {
                    path,
                    status,
                    headers,
                    body,
                })
            }
        }
    }

    /// A well-formed request; the answer must be the expected status.
    async fn valid(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        want: u16,
    ) -> Value {
        let c = Case::plain(method, target, headers, body);
        let a = self.send(&c).await.unwrap();
        assert_eq!(
            a.status,
            want,
            "{method} {target}: {}",
            String::from_utf8_lossy(&a.body)
        );
        serde_json::from_slice(&a.body).unwrap_or(Value::Null)
    }

    async fn control(&self, target: &str, body: Value, admin: bool, want: u16) -> Value {
        let mut h = vec![("content-type", "application/json")];
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        if admin {
            h.push(("authorization", &bearer));
        }
        self.valid("POST", target, &h, body.to_string().as_bytes(), want)
            .await
    }
}

// ---- setup and the valid requests afterwards -------------------------------------------------

/// Valid requests that fill the generator's pools: tokens good and absurd, codes, refresh
/// tokens, connect URLs, connection tokens.
async fn setup(t: &Target, admin: bool) -> Pools {
    let mut p = Pools::default();
    let outbound = json!(["mcp:read", "calendar.read", "outbound.token.fetch"]);
    let mint = |body: Value| async move {
        let v = t.control("/_mock/tokens", body, admin, 200).await;
        v["access_token"].as_str().unwrap().to_string()
    };
    p.user_jwt = mint(json!({"user": "U2alice", "scopes": outbound})).await;
    p.jwts.push(p.user_jwt.clone());
    p.jwts
        .push(mint(json!({"user": "U2root", "scopes": outbound})).await);
    p.jwts.push(mint(json!({})).await);
    for flaw in FLAWS {
        p.jwts
            .push(mint(json!({"user": "U2alice", "scopes": outbound, "flaw": flaw})).await);
    }
    // Signed, but with claims no real token has.
    for claims in [
        json!({"exp": i64::MAX}),
        json!({"exp": i64::MIN}),
        json!({"nbf": i64::MAX}),
        json!({"nbf": i64::MIN, "iat": i64::MIN}),
        json!({"exp": u64::MAX}),
        json!({"exp": 1e300}),
        json!({"exp": "tomorrow"}),
        json!({"iss": 5, "jti": 7, "scope": 1, "scopes": "x", "sub": null, "aud": {}}),
        json!({"jti": "", "sub": "U2nobody"}),
    ] {
        p.jwts
            .push(mint(json!({"user": "U2alice", "scopes": outbound, "claims": claims})).await);
    }
    // Forged: our kid, no valid signature; and things that are barely JWTs.
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = enc(json!({"alg": "RS256", "kid": "SKmockDefault1", "typ": "JWT"}));
    p.jwts.push(format!(
        "{header}.{}.AAAA",
        enc(json!({"exp": i64::MAX, "nbf": i64::MIN, "sub": "U2alice"}))
    ));
    p.jwts.push(format!(
        "{}.{}.",
        enc(json!({"alg": "none"})),
        enc(json!({"exp": i64::MAX, "jti": "forged"}))
    ));
    p.jwts.push(format!(
        "{}.{}.sig",
        enc(json!({"alg": "HS256", "kid": 5})),
        enc(json!([]))
    ));
    for junk in ["a.b.c", "eyJ.eyJ.", "...", "e30.e30.e30.e30", "%00.%00.%00"] {
        p.jwts.push(junk.to_string());
    }

    // Authorization codes for the public client (one verifier for all).
    p.verifier = "fuzz-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".into();
    p.challenge = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(
        p.verifier.as_bytes(),
    ));
    let authorize = format!(
        "/oauth2/v1/apps/agentic/{PID}/{SID}/authorize?response_type=code&client_id={PUBLIC_CLIENT}\
         &redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s&resource={}\
         &scope=mcp%3Aread+outbound.token.fetch",
        form_urlencoded::byte_serialize(PUBLIC_REDIRECT.as_bytes()).collect::<String>(),
        p.challenge,
        form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>(),
    );
    for i in 0..24 {
        let c = Case::plain("GET", &authorize, &[], b"");
        let a = t.send(&c).await.unwrap();
        assert_eq!(a.status, 302, "setup authorize: {:?}", a.body);
        let loc = a.headers[header::LOCATION].to_str().unwrap();
        let code = url::Url::parse(loc)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        if i < 6 {
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", &code)
                .append_pair("client_id", PUBLIC_CLIENT)
                .append_pair("redirect_uri", PUBLIC_REDIRECT)
                .append_pair("code_verifier", &p.verifier)
                .finish();
            let v = t
                .valid(
                    "POST",
                    &format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token"),
                    &[("content-type", "application/x-www-form-urlencoded")],
                    form.as_bytes(),
                    200,
                )
                .await;
            p.refresh
                .push(v["refresh_token"].as_str().unwrap().to_string());
            p.jwts.push(v["access_token"].as_str().unwrap().to_string());
        } else {
            p.codes.push(code);
        }
    }

    // Connect URLs (management key).
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}");
    for _ in 0..6 {
        let v = t
            .valid(
                "POST",
                "/v1/mgmt/outbound/app/connect",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &mgmt),
                ],
                json!({"appId": "google-calendar", "userId": "U2alice"})
                    .to_string()
                    .as_bytes(),
                200,
            )
            .await;
        let url = v["url"].as_str().unwrap();
        p.connect_states
            .push(url.rsplit('/').next().unwrap().to_string());
    }

    // Stored connection tokens (ids for deletes, values for the spy upstream).
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let h: &[(&str, &str)] = if admin {
        &[("authorization", &bearer)]
    } else {
        &[]
    };
    let v = t.valid("GET", "/_mock/connections", h, b"", 200).await;
    for c in v["connections"].as_array().unwrap() {
        p.conn_ids.push(c["id"].as_str().unwrap().to_string());
        p.conn_tokens
            .push(c["accessToken"].as_str().unwrap().to_string());
    }
    p
}

/// The server still answers valid requests: discovery, JWKS, a client_credentials token.
async fn still_serves(t: &Target) {
    let doc = t
        .valid(
            "GET",
            &format!("/v1/apps/agentic/{PID}/{SID}/.well-known/openid-configuration"),
            &[],
            b"",
            200,
        )
        .await;
    assert!(
        doc["issuer"].as_str().is_some_and(|i| i.ends_with(SID)),
        "discovery after the fuzz: {doc}"
    );
    let jwks = t
        .valid(
            "GET",
            &format!("/{PID}/.well-known/jwks.json"),
            &[],
            b"",
            200,
        )
        .await;
    assert!(
        jwks["keys"].as_array().is_some_and(|k| !k.is_empty()),
        "JWKS after the fuzz: {jwks}"
    );
    let basic = String::from_utf8(Gen::basic(CONF_CLIENT, CONF_SECRET)).unwrap();
    let tok = t
        .valid(
            "POST",
            &format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token"),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic),
            ],
            b"grant_type=client_credentials",
            200,
        )
        .await;
    assert!(
        tok["access_token"]
            .as_str()
            .is_some_and(|a| a.split('.').count() == 3),
        "client_credentials after the fuzz: {tok}"
    );
}

fn fresh_state(admin: Option<&str>) -> mock_as::AppState {
    mock_as::AppState::new(
        mock_as::Config::embedded_default().unwrap(),
        "http://mock-as.test".into(),
        admin.map(str::to_string),
    )
    .unwrap()
}

// ---- the runs ----------------------------------------------------------------------------------

/// Counts for the summary line.
#[derive(Debug, Default)]
struct Tally {
    statuses: BTreeMap<u16, usize>,
    families: BTreeMap<String, usize>,
    routes: Vec<usize>,
    unknown: usize,
    failures: Vec<String>,
    failed: usize,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            routes: vec![0; ROUTES.len()],
            ..Tally::default()
        }
    }

    fn record(&mut self, i: usize, c: &Case, a: Result<Answer, String>) -> Option<Answer> {
        match c.route {
            Some(r) => self.routes[r] += 1,
            None => self.unknown += 1,
        }
        let verdict = match &a {
            Ok(a) => {
                *self.statuses.entry(a.status).or_default() += 1;
                *self
                    .families
                    .entry(format!("{:?}", family(&a.path)))
                    .or_default() += 1;
                check(&c.method, a).map_err(|e| {
                    let body = String::from_utf8_lossy(&a.body);
                    let body: String = body.chars().take(400).collect();
                    format!(
                        "{e}\n    path seen: {:?}\n    answer body: {body}",
                        truncate(&a.path, 200)
                    )
                })
            }
            Err(e) => Err(format!("transport: {e}")),
        };
        if let Err(e) = verdict {
            self.failed += 1;
            if self.failures.len() < 25 {
                self.failures
                    .push(format!("case {i}: {e}\n    request: {}", c.describe()));
            }
        }
        a.ok()
    }

    fn summary(&self, what: &str, n: usize, secs: f64) -> String {
        let classes = self.statuses.iter().fold(BTreeMap::new(), |mut m, (s, n)| {
            *m.entry(format!("{}xx", s / 100)).or_insert(0) += n;
            m
        });
        let min_route = self.routes.iter().min().copied().unwrap_or(0);
        format!(
            "{what}: {n} requests in {secs:.2}s; {} routes (≥ {min_route} each) + {} path tricks; status classes {classes:?}; shape families {:?}; {} failures",
            ROUTES.len(),
            self.unknown,
            self.families,
            self.failed
        )
    }

    fn assert_clean(&self, seed: u64) {
        assert!(
            self.failed == 0,
            "{} malformed requests got a bad answer (seed {seed:#x}; reproduce with MOCK_AS_FUZZ_SEED={seed:#x}):\n{}",
            self.failed,
            self.failures.join("\n")
        );
    }
}

/// At most `n` characters, saying how long the whole was.
fn truncate(s: &str, n: usize) -> String {
    match s.chars().count() > n {
        true => format!(
            "{}...[{} bytes]",
            s.chars().take(n).collect::<String>(),
            s.len()
        ),
        false => s.to_string(),
    }
}

/// After an armed fault, clear every fault: the fuzz must leave none behind.
async fn clear_faults_if_armed(t: &Target, c: &Case, a: &Answer) {
    if a.path.contains("fault") && (200..300).contains(&a.status) && c.method == Method::POST {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let h: &[(&str, &str)] = if c.admin {
            &[("authorization", &bearer)]
        } else {
            &[]
        };
        t.valid("DELETE", "/_mock/faults", h, b"", 200).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_in_process() {
    let n = env_usize("MOCK_AS_FUZZ_CASES", 10_000);
    let seed = seed();
    let open = Target::App(mock_as::app(fresh_state(None)));
    let admin = Target::App(mock_as::app(fresh_state(Some(ADMIN_TOKEN))));
    let pools = setup(&open, false).await;
    let mut g = Gen::new(seed, pools, false);
    let mut tally = Tally::new();
    let started = Instant::now();
    for i in 0..n {
        let c = g.case();
        let t = if c.admin { &admin } else { &open };
        let a = t.send(&c).await;
        if let Some(a) = tally.record(i, &c, a) {
            clear_faults_if_armed(t, &c, &a).await;
            if !c.admin {
                g.learn(&a);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{}", tally.summary("fuzz in process", n, secs));
    tally.assert_clean(seed);
    if n >= 2_000 {
        let missed: Vec<&str> = ROUTES
            .iter()
            .zip(&tally.routes)
            .filter(|(_, n)| **n == 0)
            .map(|(r, _)| r.path)
            .collect();
        assert!(
            missed.is_empty(),
            "routes the fuzz never reached: {missed:?}"
        );
    }
    still_serves(&open).await;
    still_serves(&admin).await;
}

/// Requests only a real socket carries as sent: raw invalid UTF-8 bodies with real
/// Content-Length, duplicated headers through hyper, bodies over the limit, obs-text headers.
fn listener_cases(pools: &Pools) -> Vec<Case> {
    let mk = |method: Method, target: String, headers: Vec<(&str, &[u8])>, body: &[u8]| Case {
        method,
        target,
        headers: headers
            .into_iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(v).unwrap(),
                )
            })
            .collect(),
        body: body.to_vec(),
        admin: false,
        route: None,
    };
    let basic = Gen::basic(CONF_CLIENT, CONF_SECRET);
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}").into_bytes();
    let user = format!("Bearer {PID}:{}", pools.user_jwt).into_bytes();
    let token = format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token");
    let register = format!("/v1/mgmt/mcp/client/{PID}/{SID}/register");
    let form = "application/x-www-form-urlencoded".as_bytes();
    let jsn = "application/json".as_bytes();
    let invalid: &[&[u8]] = &[
        b"\xff\xfe\xfd",
        b"grant_type=client_credentials&scope=\xc3\x28",
        b"{\"appId\": \"google-\xff\"}",
        b"{\"redirect_uris\": [\"http://127.0.0.1/\xed\xa0\x80\"]}",
        b"\xef\xbb\xbf{}",
        b"\x00\x00\x00\x00",
    ];
    let mut out = Vec::new();
    let posts: Vec<(String, &[u8], &[u8])> = vec![
        (token.clone(), form, &basic),
        ("/oauth2/v1/apps/token".into(), jsn, &basic),
        (format!("/oauth2/v1/apps/{PID}/revoke"), form, &basic),
        (format!("/oauth2/v1/apps/{PID}/introspect"), form, &mgmt),
        (
            format!("/oauth2/v1/apps/agentic/{PID}/{SID}/authorize"),
            form,
            b"",
        ),
        (register.clone(), jsn, b""),
        ("/v1/mgmt/outbound/app/user/token".into(), jsn, &user),
        (
            "/v1/mgmt/outbound/app/user/oauthtoken/upload".into(),
            jsn,
            &mgmt,
        ),
        ("/v1/mgmt/outbound/app/connect".into(), jsn, &mgmt),
        ("/v1/mgmt/thirdparty/consents/search".into(), jsn, &mgmt),
        ("/_mock/users".into(), jsn, b""),
        ("/_mock/tokens".into(), jsn, b""),
        ("/_mock/clock".into(), jsn, b""),
        ("/_upstream/google-calendar/x".into(), jsn, b""),
    ];
    for (path, ct, auth) in &posts {
        for body in invalid {
            let mut h: Vec<(&str, &[u8])> = vec![("content-type", ct)];
            if !auth.is_empty() {
                h.push(("authorization", auth));
            }
            out.push(mk(Method::POST, path.clone(), h, body));
        }
        // Over the body limit, with a real Content-Length.
        let mut h: Vec<(&str, &[u8])> = vec![("content-type", ct)];
        if !auth.is_empty() {
            h.push(("authorization", auth));
        }
        out.push(mk(
            Method::POST,
            path.clone(),
            h,
            &vec![b' '; BODY_LIMIT + 1],
        ));
        // Duplicated headers: two content types, two credentials.
        let h: Vec<(&str, &[u8])> = vec![
            ("content-type", jsn),
            ("content-type", form),
            ("authorization", &basic),
            ("authorization", &mgmt),
            ("authorization", b"Bearer \xff\xfe"),
        ];
        out.push(mk(
            Method::POST,
            path.clone(),
            h,
            b"grant_type=client_credentials",
        ));
    }
    for path in [
        format!("/v2/keys/{PID}"),
        "/v1/mgmt/license".to_string(),
        format!("/oauth2/v1/apps/{PID}/userinfo"),
        "/_mock/info".to_string(),
        "/oauth2/.well-known/jwks.json".to_string(),
    ] {
        let h: Vec<(&str, &[u8])> = vec![
            ("authorization", b"Bearer \xc3\x28"),
            ("authorization", &mgmt),
            ("x-fuzz", b"\x80\x81\xff"),
        ];
        out.push(mk(Method::GET, path.clone(), h, b""));
        out.push(mk(Method::DELETE, path.clone(), vec![], b"\xff"));
        out.push(mk(Method::from_bytes(b"FOO").unwrap(), path, vec![], b""));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_over_a_real_listener() {
    let n = env_usize("MOCK_AS_FUZZ_LISTENER_CASES", 300);
    let seed = seed() ^ 0x5eed;
    let mock = common::Mock::start().await;
    let t = Target::Http {
        client: mock.http.clone(),
        base: mock.base.clone(),
    };
    let pools = setup(&t, false).await;
    let mut cases = listener_cases(&pools);
    let mut g = Gen::new(seed, pools, true);
    for _ in 0..n {
        let mut c = g.case();
        // This run has no admin-token server.
        c.admin = false;
        cases.push(c);
    }
    let mut tally = Tally::new();
    let started = Instant::now();
    for (i, c) in cases.iter().enumerate() {
        let a = t.send(c).await;
        if let Some(a) = tally.record(i, c, a) {
            clear_faults_if_armed(&t, c, &a).await;
        }
    }
    eprintln!(
        "{}",
        tally.summary(
            "fuzz over a listener",
            cases.len(),
            started.elapsed().as_secs_f64()
        )
    );
    tally.assert_clean(seed);
    still_serves(&t).await;
}

// ---- regressions: each defect the fuzz found, pinned --------------------------------------------

/// In-process app with the default configuration.
fn open_app() -> Target {
    Target::App(mock_as::app(fresh_state(None)))
}

async fn answer(
    t: &Target,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let c = Case::plain(method, target, headers, body);
    let a = t.send(&c).await.unwrap();
    if let Err(e) = check(&c.method, &a) {
        panic!(
            "{method} {target}: {e}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    a
}

/// `POST /_mock/clock` with an offset near `i64::MAX` made every later request panic (mock
/// time overflowed) until a reset. Offsets are now bounded to ±100 years.
#[tokio::test]
async fn regression_clock_offset_is_bounded() {
    let t = open_app();
    for body in [
        json!({"advance_secs": i64::MAX}),
        json!({"advance_secs": i64::MIN}),
        json!({"offset_secs": i64::MAX - 1}),
        json!({"offset_secs": i64::MIN}),
        json!({"offset_secs": 200 * 366 * 86_400_i64}),
    ] {
        let v = t.control("/_mock/clock", body.clone(), false, 400).await;
        assert_eq!(v["error"], "invalid_clock", "{body}: {v}");
    }
    let ninety_years = 90 * 366 * 86_400_i64;
    let v = t
        .control(
            "/_mock/clock",
            json!({"offset_secs": ninety_years}),
            false,
            200,
        )
        .await;
    assert_eq!(v["offset_secs"], ninety_years);
    // Advancing past the bound is refused and leaves the offset alone.
    t.control(
        "/_mock/clock",
        json!({"advance_secs": ninety_years}),
        false,
        400,
    )
    .await;
    let v = t.valid("GET", "/_mock/clock", &[], b"", 200).await;
    assert_eq!(v["offset_secs"], ninety_years);
    still_serves(&t).await;
    t.control(
        "/_mock/clock",
        json!({"offset_secs": -ninety_years}),
        false,
        200,
    )
    .await;
    still_serves(&t).await;
}

/// A signed token may carry any `exp`/`nbf` (minted `claims`); `exp + 5` overflowed and every
/// endpoint that verifies bearers panicked (userinfo, introspect, revoke, connection fetches).
#[tokio::test]
async fn regression_extreme_exp_and_nbf_claims() {
    let t = open_app();
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}");
    let basic = String::from_utf8(Gen::basic(CONF_CLIENT, CONF_SECRET)).unwrap();
    for claims in [
        json!({"exp": i64::MAX}),
        json!({"exp": i64::MAX - 3, "nbf": i64::MAX}),
        json!({"nbf": i64::MIN, "exp": i64::MIN}),
    ] {
        let v = t
            .control(
                "/_mock/tokens",
                json!({"user": "U2alice", "client": CONF_CLIENT,
                       "scopes": ["mcp:read", "outbound.token.fetch"], "claims": claims}),
                false,
                200,
            )
            .await;
        let tok = v["access_token"].as_str().unwrap();
        let bearer = format!("Bearer {tok}");
        answer(
            &t,
            "GET",
            &format!("/oauth2/v1/apps/{PID}/userinfo"),
            &[("authorization", &bearer)],
            b"",
        )
        .await;
        let form = format!("token={tok}");
        answer(
            &t,
            "POST",
            &format!("/oauth2/v1/apps/{PID}/introspect"),
            &[("authorization", &mgmt)],
            form.as_bytes(),
        )
        .await;
        answer(
            &t,
            "POST",
            &format!("/oauth2/v1/apps/{PID}/revoke"),
            &[("authorization", &basic)],
            form.as_bytes(),
        )
        .await;
        let caller = format!("Bearer {PID}:{tok}");
        answer(
            &t,
            "POST",
            "/v1/mgmt/outbound/app/user/token",
            &[("authorization", &caller), ("content-type", "application/json")],
            br#"{"appId": "google-calendar", "userId": "U2alice", "scopes": ["calendar.readonly"]}"#,
        )
        .await;
    }
    still_serves(&t).await;
}

/// Lifetimes are added to mock time: a minted `ttl`, a patched `access_token_ttl`, an app's
/// `token_ttl` and a stored connection's `expires_in` near the integer limits overflowed.
#[tokio::test]
async fn regression_absurd_lifetimes() {
    let t = open_app();
    let v = t
        .control(
            "/_mock/tokens",
            json!({"user": "U2alice", "ttl": i64::MAX}),
            false,
            200,
        )
        .await;
    assert_eq!(v["claims"]["exp"], i64::MAX, "{v}");
    t.control("/_mock/tokens", json!({"ttl": i64::MIN}), false, 200)
        .await;

    let patch = json!({"access_token_ttl": i64::MAX as u64}).to_string();
    answer(
        &t,
        "PATCH",
        &format!("/_mock/servers/{SID}"),
        &[("content-type", "application/json")],
        patch.as_bytes(),
    )
    .await;
    still_serves(&t).await;

    let app = json!({"id": "google-calendar", "name": "G", "scopes": ["calendar.readonly"],
                     "token_ttl": i64::MAX as u64});
    t.control("/_mock/apps", app, false, 200).await;
    t.control(
        "/_mock/connections",
        json!({"app": "google-calendar", "user": "U2root"}),
        false,
        201,
    )
    .await;
    t.control(
        "/_mock/connections",
        json!({"app": "google-calendar", "user": "U2alice", "expires_in": i64::MAX}),
        false,
        201,
    )
    .await;
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}");
    for body in [
        r#"{"appId": "google-calendar", "userId": "U2alice", "options": {"forceRefresh": true}}"#,
        r#"{"appId": "google-calendar", "userId": "U2root", "options": {"forceRefresh": true}}"#,
    ] {
        let a = answer(
            &t,
            "POST",
            "/v1/mgmt/outbound/app/user/token/latest",
            &[
                ("authorization", &mgmt),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }
}

/// The store purges expired records every 1024 inserts using `exp + 60`; an `exp` of
/// `i64::MAX` (a minted token's claims, or any JWT revoked through the control API) overflowed
/// in whichever request triggered the purge.
#[tokio::test]
async fn regression_purge_with_extreme_exp() {
    let t = open_app();
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let forged = format!(
        "{}.{}.x",
        enc(json!({"alg": "RS256", "kid": "nope"})),
        enc(json!({"jti": "forged-jti", "exp": i64::MAX}))
    );
    t.control("/_mock/revoke", json!({"token": forged}), false, 200)
        .await;
    t.control(
        "/_mock/tokens",
        json!({"user": "U2alice", "claims": {"exp": i64::MAX}}),
        false,
        200,
    )
    .await;
    // Enough user-bound tokens to run the purge (alg none: no RSA signing, fast).
    for _ in 0..1100 {
        t.control(
            "/_mock/tokens",
            json!({"user": "U2alice", "flaw": "alg_none"}),
            false,
            200,
        )
        .await;
    }
    still_serves(&t).await;
}

/// Error shapes follow the path family even where a route's pattern reaches across families:
/// `/{pid}/.well-known/jwks.json` matched `/oauth2/.well-known/jwks.json` and answered
/// Descope's shape; the spy upstream below a `.well-known` segment answered `{error, message}`
/// under a path the family rule gave to Descope.
#[tokio::test]
async fn regression_error_shape_by_path_family() {
    let t = open_app();
    for (path, status, fam) in [
        ("/oauth2/.well-known/jwks.json", 404, Family::OAuth),
        ("/P2other/.well-known/jwks.json", 404, Family::Descope),
        ("/_mock/.well-known/jwks.json", 404, Family::Mock),
        (
            "/_upstream/google-calendar/.well-known/openid-configuration",
            401,
            Family::Mock,
        ),
        ("/_upstream/.well-known/jwks.json", 401, Family::Mock),
    ] {
        let a = answer(&t, "GET", path, &[], b"").await;
        assert_eq!(
            (a.status, family(&a.path)),
            (status, fam),
            "{path}: {:?}",
            a.body
        );
    }
    // The same through the error module the server uses.
    use mock_as::error::{Family as F, family as server_family};
    assert_eq!(server_family("/_upstream/a/.well-known/x"), F::Mock);
    assert_eq!(server_family("/_mock/.well-known/x"), F::Mock);
    assert_eq!(server_family("/x/.well-known/jwks.json"), F::Descope);
    assert_eq!(server_family("/oauth2/.well-known/jwks.json"), F::OAuth);
}

/// Two axum path patterns match whatever their parameters are named (`{id}` ~ `{uid}`,
/// `{*rest}` ~ `{rest}`).
fn same_pattern(a: &str, b: &str) -> bool {
    let norm = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|seg| {
                if seg.starts_with('{') && seg.ends_with('}') {
                    "{}".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect()
    };
    norm(a) == norm(b)
}

/// Every `.route("PATH", ...)` in `src/routes/` (control routes under `/_mock`) is in the table
/// above: a route added to the server without a line here would never be fuzzed.
#[test]
fn the_route_table_covers_every_route_in_the_source() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut missing = Vec::new();
    let mut seen = 0;
    // Route modules are files or directories of files (`routes/control/`, one file per resource).
    let mut files = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("src/routes") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("route source");
        let in_control = path.file_name().is_some_and(|n| n == "control.rs")
            || path.parent().is_some_and(|p| p.ends_with("control"));
        let prefix = if in_control { "/_mock" } else { "" };
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let Some(open) = rest.find('"') else { break };
            let after = &rest[open + 1..];
            let Some(close) = after.find('"') else { break };
            let p = format!("{prefix}{}", &after[..close]);
            seen += 1;
            if !ROUTES.iter().any(|r| same_pattern(r.path, &p)) {
                missing.push(p);
            }
        }
    }
    assert!(
        seen >= 60,
        "only {seen} routes found in {}: the scan is broken",
        dir.display()
    );
    assert!(
        missing.is_empty(),
        "routes the fuzz table lacks: {missing:?}"
    );
}
