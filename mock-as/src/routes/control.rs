//! The control API under `/_mock/` — mock-only, never part of Descope. Tests use it to create
//! users and clients, mint (hostile) tokens, revoke, rotate keys, arm faults, read the journal,
//! shift the clock and reset. Unauthenticated on loopback; with `--admin-token` every call needs
//! `Authorization: Bearer <admin token>`. Every call is documented with an example in README.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashSet;

use crate::clock::wall_millis;
use crate::config::{ClientConfig, ClientType, User, check_client, check_user};
use crate::error::MockError;
use crate::policy::Rule;
use crate::routes::token::{Issue, issue_access_token};
use crate::state::AppState;
use crate::store::{Client, ClientOrigin, ConnToken, Fault};
use crate::tokens::{Flaw, IssuerStyle};
use axum::Json;

/// The control routes, nested under `/_mock`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/info", get(info))
        .route("/users", get(list_users).post(upsert_user))
        .route("/users/{id}", get(get_user).delete(delete_user))
        .route("/clients", get(list_clients).post(create_client))
        .route("/tokens", post(mint))
        .route("/flaws", get(flaws))
        .route("/revoke", post(revoke))
        .route("/keys", get(keys))
        .route("/keys/rotate", post(rotate))
        .route("/keys/retire", post(retire))
        .route("/keys/activate", post(activate))
        .route(
            "/faults",
            get(list_faults).post(arm_fault).delete(clear_faults),
        )
        .route("/faults/{id}", delete(delete_fault))
        .route("/journal", get(journal).delete(clear_journal))
        .route("/clock", get(clock).post(set_clock))
        .route("/reset", post(reset))
        .route("/policies", get(policies))
        .route(
            "/policies/connections",
            axum::routing::put(put_connection_policy),
        )
        .route(
            "/policies/consent/{sid}",
            axum::routing::put(put_consent_policy),
        )
        .route(
            "/connections",
            get(list_connections).post(create_connection),
        )
        .route("/connections/{id}", delete(delete_connection))
        .route("/servers", get(list_servers))
        .route("/servers/{sid}", get(get_server).patch(patch_server))
        .route("/apps", get(list_apps).post(put_app))
        .route("/policies/connections/rules", post(add_connection_rule))
        .route(
            "/policies/connections/rules/{name}",
            delete(delete_connection_rule),
        )
        .route("/policies/consent/{sid}/rules", post(add_consent_rule))
        .route(
            "/policies/consent/{sid}/rules/{name}",
            delete(delete_consent_rule),
        )
}

type R = Result<Response, MockError>;

fn ok(v: Value) -> R {
    Ok(axum::Json(v).into_response())
}

/// `GET /_mock/info`: everything a test needs to find its way.
async fn info(State(st): State<AppState>) -> R {
    let servers: Vec<Value> = st
        .servers()
        .iter()
        .map(|s| {
            let iss = st.issuer(&s.id);
            json!({"id": s.id, "name": s.name, "resource": s.url, "issuer": iss,
                   "well_known": format!("{iss}/.well-known/openid-configuration"),
                   "oauth_metadata": format!("{iss}/.well-known/oauth-authorization-server"),
                   "scopes": s.scopes_supported(), "dcr": s.dcr, "cimd": s.cimd})
        })
        .collect();
    let store = st.store();
    ok(json!({
        "project_id": st.pid(),
        "base_url": st.base_url,
        "jwks_uri": st.jwks_uri(),
        "sdk_jwks_uri": format!("{}/v2/keys/{}", st.base_url, st.pid()),
        "servers": servers,
        "issuers": {
            "inbound-app": {
                "issuer": st.issuer_of(IssuerStyle::InboundApp, ""),
                "well_known": format!("{}/.well-known/openid-configuration", st.issuer_of(IssuerStyle::InboundApp, "")),
            },
            "project": {
                "issuer": st.issuer_of(IssuerStyle::Project, ""),
                "well_known": format!("{}/.well-known/openid-configuration", st.issuer_of(IssuerStyle::Project, "")),
            },
        },
        "default_user": st.config.project.default_user,
        "tenants": st.config.tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        "users": store.users.keys().collect::<Vec<_>>(),
        "clients": store.clients.keys().collect::<Vec<_>>(),
        "management_keys": st.config.management_keys.iter().map(|k| json!({"id": k.id, "secret": k.secret})).collect::<Vec<_>>(),
    }))
}

async fn list_users(State(st): State<AppState>) -> R {
    let users: Vec<User> = st.store().users.values().cloned().collect();
    ok(json!({ "users": users }))
}

async fn get_user(State(st): State<AppState>, Path(id): Path<String>) -> R {
    let u = st
        .store()
        .find_user(&id)
        .cloned()
        .ok_or_else(|| MockError::not_found("unknown_user", format!("no user {id:?}")))?;
    ok(json!(u))
}

/// `POST /_mock/users`: create or replace a user (same fields as `[[users]]`).
async fn upsert_user(State(st): State<AppState>, Json(u): Json<User>) -> R {
    let tenants: HashSet<&str> = st.config.tenants.iter().map(|t| t.id.as_str()).collect();
    check_user(&u, &tenants)
        .map_err(|(f, m)| MockError::bad("invalid_user", format!("{f}: {m}")))?;
    let mut store = st.store();
    if store
        .users
        .values()
        .any(|x| x.login_id == u.login_id && x.id != u.id)
    {
        return Err(MockError::bad(
            "invalid_user",
            format!("login_id: {:?} belongs to another user", u.login_id),
        ));
    }
    let created = store.users.insert(u.id.clone(), u.clone()).is_none();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!(u))).into_response())
}

async fn delete_user(State(st): State<AppState>, Path(id): Path<String>) -> R {
    let mut store = st.store();
    if store.users.remove(&id).is_none() {
        return Err(MockError::not_found(
            "unknown_user",
            format!("no user {id:?}"),
        ));
    }
    store.revoke_user(&id, "user deleted");
    ok(json!({"deleted": id}))
}

async fn list_clients(State(st): State<AppState>) -> R {
    let clients: Vec<Client> = st.store().clients.values().cloned().collect();
    ok(json!({ "clients": clients }))
}

/// `POST /_mock/clients`: register a client directly (same fields as `[[clients]]`).
async fn create_client(State(st): State<AppState>, Json(c): Json<ClientConfig>) -> R {
    check_client(
        &c,
        &st.servers()
            .iter()
            .map(|s| (**s).clone())
            .collect::<Vec<_>>(),
    )
    .map_err(|(f, m)| MockError::bad("invalid_client", format!("{f}: {m}")))?;
    let mut store = st.store();
    if store.clients.contains_key(&c.id) {
        return Err(MockError::bad(
            "invalid_client",
            format!("id: client {:?} exists", c.id),
        ));
    }
    let method = match c.kind {
        ClientType::Public => "none",
        ClientType::Confidential => "client_secret_basic",
    };
    let client = Client {
        cfg: c,
        token_endpoint_auth_method: method.into(),
        origin: ClientOrigin::Control,
        issued_at: st.now(),
    };
    store.clients.insert(client.cfg.id.clone(), client.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(client))).into_response())
}

/// `POST /_mock/tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    /// MCP server id; default: the first configured server.
    #[serde(default)]
    server: Option<String>,
    /// Which issuer: `mcp-server` (default, the server entry's own), `inbound-app`
    /// (`<base>/v1/apps/<pid>`) or `project` (`<base>/<pid>`); descope-api.md §1, §4.1.
    #[serde(default)]
    issuer: IssuerStyle,
    /// User id or login id; absent = a client token (`sub` = client id).
    #[serde(default)]
    user: Option<String>,
    /// Client id (need not be registered); default `mock-as-control`.
    #[serde(default)]
    client: Option<String>,
    /// Scopes; default: every scope of the server.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// RFC 8707 resource for `aud`; default the server's url.
    #[serde(default)]
    resource: Option<String>,
    /// `dct`.
    #[serde(default)]
    tenant: Option<String>,
    /// Lifetime in seconds; default the server's `access_token_ttl`.
    #[serde(default)]
    ttl: Option<i64>,
    /// Claims merged last (override anything).
    #[serde(default)]
    claims: Option<Map<String, Value>>,
    /// A hostile-token flaw from `GET /_mock/flaws`.
    #[serde(default)]
    flaw: Option<Flaw>,
    /// Claims to leave out entirely (e.g. `["aud"]`, `["exp"]`).
    #[serde(default)]
    remove_claims: Vec<String>,
}

async fn mint(State(st): State<AppState>, Json(m): Json<MintRequest>) -> R {
    let server = match &m.server {
        Some(s) => st.server(s).ok_or_else(|| {
            MockError::bad("unknown_server", format!("server: no MCP server {s:?}"))
        })?,
        None => st.servers()[0].clone(),
    };
    let user = match &m.user {
        Some(u) => Some(
            st.store()
                .find_user(u)
                .cloned()
                .ok_or_else(|| MockError::bad("unknown_user", format!("user: no user {u:?}")))?,
        ),
        None => None,
    };
    if let (Some(t), Some(u)) = (&m.tenant, &user)
        && !u.tenants.iter().any(|x| &x.id == t)
    {
        return Err(MockError::bad(
            "invalid_tenant",
            format!("tenant: user {:?} is not a member of {t:?}", u.id),
        ));
    }
    let client = m.client.clone().unwrap_or_else(|| "mock-as-control".into());
    let scopes = m
        .scopes
        .clone()
        .unwrap_or_else(|| server.scopes_supported());
    let sub = user
        .as_ref()
        .map(|u| u.id.clone())
        .unwrap_or_else(|| client.clone());
    let (jwt, claims) = issue_access_token(
        &st,
        &Issue {
            server: &server,
            style: m.issuer,
            sub: &sub,
            client_id: &client,
            scopes: &scopes,
            resource: m.resource.as_deref(),
            user: user.as_ref(),
            tenant: m.tenant.as_deref(),
            session: None,
            ttl: m.ttl,
            flaw: m.flaw,
            extra: m.claims.as_ref(),
            remove: &m.remove_claims,
        },
    )
    .map_err(|e| MockError {
        status: e.status,
        error: e.error,
        message: e.description,
    })?;
    let header: Value = jwt
        .split('.')
        .next()
        .and_then(|h| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    ok(
        json!({"access_token": jwt, "header": header, "claims": claims, "flaw": m.flaw,
              "issuer": m.issuer,
              "flaw_description": m.flaw.map(Flaw::describe)}),
    )
}

async fn flaws() -> R {
    let list: Vec<Value> = Flaw::ALL
        .iter()
        .map(|f| json!({"flaw": f, "description": f.describe()}))
        .collect();
    ok(json!({ "flaws": list }))
}

/// `POST /_mock/revoke` body: exactly one of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    /// An access token (JWT) or refresh token.
    #[serde(default)]
    token: Option<String>,
    /// A `jti`.
    #[serde(default)]
    jti: Option<String>,
    /// Every session and token of a user (id or login id).
    #[serde(default)]
    user: Option<String>,
}

async fn revoke(State(st): State<AppState>, Json(r): Json<RevokeRequest>) -> R {
    let n = [r.token.is_some(), r.jti.is_some(), r.user.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if n != 1 {
        return Err(MockError::bad(
            "invalid_request",
            "send exactly one of token, jti, user",
        ));
    }
    if let Some(u) = r.user {
        let mut store = st.store();
        let id = store
            .find_user(&u)
            .map(|x| x.id.clone())
            .ok_or_else(|| MockError::bad("unknown_user", format!("user: no user {u:?}")))?;
        let (sessions, tokens) = store.revoke_user(&id, "revoked through the control API");
        return ok(json!({"revoked": {"user": id, "sessions": sessions, "tokens": tokens}}));
    }
    if let Some(j) = r.jti {
        let exp = st.now() + 86400;
        st.store().revoke_jti(&j, exp);
        return ok(json!({"revoked": {"jti": j}}));
    }
    let token = r.token.unwrap_or_default();
    let rt = st.store().refresh.get(&token).cloned();
    if let Some(rt) = rt {
        st.store()
            .revoke_session(&rt.session_id, "revoked through the control API");
        return ok(json!({"revoked": {"refresh_token_family": rt.session_id}}));
    }
    // Any JWT, valid or not: revoke its jti so introspection and connection fetches refuse it.
    let claims: Map<String, Value> =
        jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(&token)
            .map(|d| d.claims)
            .map_err(|e| {
                MockError::bad(
                    "invalid_token",
                    format!("token: neither a refresh token nor a JWT ({e})"),
                )
            })?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| MockError::bad("invalid_token", "token: the JWT has no jti"))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(st.now() + 86400);
    st.store().revoke_jti(jti, exp);
    ok(json!({"revoked": {"jti": jti}}))
}

async fn keys(State(st): State<AppState>) -> R {
    let k = st.keys();
    ok(json!({"active": k.active().kid, "keys": k.list(), "jwks": k.jwks()}))
}

/// `POST /_mock/keys/rotate` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// Generate a fresh RSA key even if a spare exists.
    #[serde(default)]
    generate: bool,
    /// `kid` for a generated key; default `SKmockGen<random>`.
    #[serde(default)]
    kid: Option<String>,
}

async fn rotate(State(st): State<AppState>, body: Option<Json<RotateRequest>>) -> R {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    let need_new = req.generate || !st.keys().has_spare();
    let generated = if need_new {
        let kid = req
            .kid
            .clone()
            .unwrap_or_else(|| format!("SKmockGen{}", &crate::tokens::random_id()[..10]));
        if st.keys().contains(&kid) {
            return Err(MockError::bad(
                "invalid_kid",
                format!("kid: {kid:?} is already in use"),
            ));
        }
        // RSA generation takes a noticeable time: off the async executor.
        let key = tokio::task::spawn_blocking(move || crate::keys::generate_rsa(&kid))
            .await
            .map_err(|e| MockError::bad("generation_failed", e.to_string()))?
            .map_err(|e| MockError::bad("generation_failed", e))?;
        Some(key)
    } else {
        None
    };
    let (old, new) = st
        .keys_mut()
        .rotate(generated)
        .map_err(|e| MockError::bad("rotation_failed", e.to_string()))?;
    let jwks = st.keys().jwks();
    ok(json!({"previous": old, "active": new, "generated": need_new, "jwks": jwks}))
}

/// `POST /_mock/keys/retire` and `/_mock/keys/activate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetireRequest {
    /// The key to remove from the JWKS, or to sign with again.
    kid: String,
}

async fn retire(State(st): State<AppState>, Json(r): Json<RetireRequest>) -> R {
    st.keys_mut().retire(&r.kid).map_err(|e| match e {
        crate::keys::KeyError::Unknown(_) => MockError::not_found("unknown_kid", e.to_string()),
        _ => MockError::bad("retire_failed", e.to_string()),
    })?;
    let jwks = st.keys().jwks();
    ok(json!({"retired": r.kid, "jwks": jwks}))
}

/// `POST /_mock/keys/activate`: sign with a loaded key again (undo a rotation); it is published
/// if it was retired or spare, the previous signing key stays published.
async fn activate(State(st): State<AppState>, Json(r): Json<RetireRequest>) -> R {
    let (old, new) = st.keys_mut().activate(&r.kid).map_err(|e| match e {
        crate::keys::KeyError::Unknown(_) => MockError::not_found("unknown_kid", e.to_string()),
        _ => MockError::bad("activate_failed", e.to_string()),
    })?;
    let jwks = st.keys().jwks();
    ok(json!({"previous": old, "active": new, "jwks": jwks}))
}

/// Named endpoints faults and journal filters accept.
pub const ENDPOINTS: &[&str] = &[
    "discovery",
    "jwks",
    "register",
    "authorize",
    "token",
    "revoke",
    "introspect",
    "userinfo",
    "license",
    "connections",
    "consents",
    "mgmt",
    "upstream",
    "oauth2",
    "other",
];

async fn list_faults(State(st): State<AppState>) -> R {
    let f = st.store().faults.clone();
    ok(json!({ "faults": f }))
}

async fn arm_fault(State(st): State<AppState>, Json(mut f): Json<Fault>) -> R {
    if f.endpoint.is_none() && f.path_prefix.is_none() {
        return Err(MockError::bad(
            "invalid_fault",
            format!(
                "send endpoint (one of {}) or path_prefix",
                ENDPOINTS.join(", ")
            ),
        ));
    }
    if let Some(e) = &f.endpoint
        && !ENDPOINTS.contains(&e.as_str())
    {
        return Err(MockError::bad(
            "invalid_fault",
            format!("endpoint: {e:?} is not one of {}", ENDPOINTS.join(", ")),
        ));
    }
    if f.status.is_none() && f.delay_ms.is_none() {
        return Err(MockError::bad(
            "invalid_fault",
            "send status, delay_ms or both",
        ));
    }
    if let Some(s) = f.status
        && !(400..=599).contains(&s)
    {
        return Err(MockError::bad(
            "invalid_fault",
            format!("status: {s} is not an HTTP error status (400 to 599)"),
        ));
    }
    if f.delay_ms.is_some_and(|d| d > 120_000) {
        return Err(MockError::bad("invalid_fault", "delay_ms: at most 120000"));
    }
    if f.count == Some(0) {
        return Err(MockError::bad(
            "invalid_fault",
            "count: at least 1 (omit it for until-cleared)",
        ));
    }
    let mut store = st.store();
    store.next_fault += 1;
    f.id = store.next_fault;
    store.faults.push(f.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(f))).into_response())
}

async fn clear_faults(State(st): State<AppState>) -> R {
    let n = std::mem::take(&mut st.store().faults).len();
    ok(json!({ "cleared": n }))
}

async fn delete_fault(State(st): State<AppState>, Path(id): Path<u64>) -> R {
    let mut store = st.store();
    let before = store.faults.len();
    store.faults.retain(|f| f.id != id);
    if store.faults.len() == before {
        return Err(MockError::not_found(
            "unknown_fault",
            format!("no fault {id}"),
        ));
    }
    ok(json!({ "cleared": 1 }))
}

/// `GET /_mock/journal` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalQuery {
    /// Only this named endpoint.
    #[serde(default)]
    endpoint: Option<String>,
    /// Only paths starting with this.
    #[serde(default)]
    path: Option<String>,
    /// Only entries at or after this wall-clock time (ms since the epoch).
    #[serde(default)]
    since_ms: Option<u64>,
    /// Only entries with a sequence number at or after this.
    #[serde(default)]
    since_seq: Option<u64>,
    /// Only this credential mode.
    #[serde(default)]
    credential: Option<String>,
    /// At most this many (the newest); default 1000.
    #[serde(default)]
    limit: Option<usize>,
}

/// One page of the journal, serialized straight from the store (no copy of the entries).
#[derive(serde::Serialize)]
struct JournalPage<'a> {
    entries: Vec<&'a crate::store::JournalEntry>,
    next_seq: u64,
    now_ms: u64,
}

async fn journal(State(st): State<AppState>, Query(q): Query<JournalQuery>) -> R {
    let store = st.store();
    let mut entries: Vec<_> = store
        .journal
        .iter()
        .filter(|e| q.endpoint.as_deref().is_none_or(|x| e.endpoint == x))
        .filter(|e| q.path.as_deref().is_none_or(|p| e.path.starts_with(p)))
        .filter(|e| q.since_ms.is_none_or(|t| e.time_ms >= t))
        .filter(|e| q.since_seq.is_none_or(|s| e.seq >= s))
        .filter(|e| q.credential.as_deref().is_none_or(|c| e.credential == c))
        .collect();
    let limit = q.limit.unwrap_or(1000);
    if entries.len() > limit {
        entries.drain(..entries.len() - limit);
    }
    let page = JournalPage {
        entries,
        next_seq: store.next_seq,
        now_ms: wall_millis(),
    };
    Ok(axum::Json(page).into_response())
}

async fn clear_journal(State(st): State<AppState>) -> R {
    let mut store = st.store();
    let n = store.journal.len();
    store.journal.clear();
    ok(json!({ "cleared": n, "next_seq": store.next_seq }))
}

async fn clock(State(st): State<AppState>) -> R {
    ok(json!({"offset_secs": st.clock_offset(), "now": st.now()}))
}

/// `POST /_mock/clock` body: set or advance the offset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    /// Set the offset to this many seconds.
    #[serde(default)]
    offset_secs: Option<i64>,
    /// Add this many seconds to the offset.
    #[serde(default)]
    advance_secs: Option<i64>,
}

/// The largest clock offset either way: 100 years. Mock time is `wall clock + offset` and every
/// handler adds lifetimes to it; an offset near `i64::MAX` made `AppState::now` overflow, so
/// every later request panicked until a reset (found by fuzzing).
pub const MAX_CLOCK_OFFSET_SECS: i64 = 100 * 366 * 86_400;

async fn set_clock(State(st): State<AppState>, Json(c): Json<ClockRequest>) -> R {
    let offset = match (c.offset_secs, c.advance_secs) {
        (Some(o), None) => o,
        (None, Some(a)) => st.clock_offset().saturating_add(a),
        _ => {
            return Err(MockError::bad(
                "invalid_clock",
                "send exactly one of offset_secs, advance_secs",
            ));
        }
    };
    if offset.unsigned_abs() > MAX_CLOCK_OFFSET_SECS.unsigned_abs() {
        return Err(MockError::bad(
            "invalid_clock",
            format!(
                "the offset would be {offset} s; at most {MAX_CLOCK_OFFSET_SECS} s (100 years) either way"
            ),
        ));
    }
    st.set_clock_offset(offset);
    ok(json!({"offset_secs": st.clock_offset(), "now": st.now()}))
}

async fn reset(State(st): State<AppState>) -> R {
    st.reset()
        .map_err(|e| MockError::bad("reset_failed", e.to_string()))?;
    ok(json!({"reset": true}))
}

/// `GET /_mock/policies`: the policies in force.
async fn policies(State(st): State<AppState>) -> R {
    let store = st.store();
    ok(json!({"consent": store.consent_policies, "connections": store.connection_policy}))
}

fn check_rules(st: &AppState, rules: &[Rule], for_connections: bool) -> Result<(), MockError> {
    for (i, r) in rules.iter().enumerate() {
        if !for_connections && !r.apps.is_empty() {
            return Err(MockError::bad(
                "invalid_policy",
                format!("[{i}].apps: apps belong in the connections policy"),
            ));
        }
        if let Some(a) = r
            .apps
            .iter()
            .find(|a| !st.apps().iter().any(|x| &x.id == *a))
        {
            return Err(MockError::bad(
                "invalid_policy",
                format!("[{i}].apps: unknown outbound app {a:?}"),
            ));
        }
        if let Some(t) = r
            .tenants
            .iter()
            .find(|t| !st.config.tenants.iter().any(|x| &x.id == *t))
        {
            return Err(MockError::bad(
                "invalid_policy",
                format!("[{i}].tenants: unknown tenant {t:?}"),
            ));
        }
    }
    Ok(())
}

/// `PUT /_mock/policies/connections`: replace the Connections Policy (a JSON array of rules;
/// `[]` = no policy). Effective on the next request.
async fn put_connection_policy(State(st): State<AppState>, Json(rules): Json<Vec<Rule>>) -> R {
    check_rules(&st, &rules, true)?;
    st.store().connection_policy = rules.clone();
    ok(json!({ "connections": rules }))
}

/// `PUT /_mock/policies/consent/{sid}`: replace a server's MCP Server Policy.
async fn put_consent_policy(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(rules): Json<Vec<Rule>>,
) -> R {
    if st.server(&sid).is_none() {
        return Err(MockError::not_found(
            "unknown_server",
            format!("no MCP server {sid:?}"),
        ));
    }
    check_rules(&st, &rules, false)?;
    st.store()
        .consent_policies
        .insert(sid.clone(), rules.clone());
    ok(json!({ "server": sid, "consent": rules }))
}

async fn list_connections(State(st): State<AppState>) -> R {
    let list: Vec<ConnToken> = st.store().connections.values().cloned().collect();
    ok(json!({ "connections": list }))
}

/// `POST /_mock/connections` body: store a connection token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionRequest {
    /// The outbound app.
    app: String,
    /// The user (id or login id); absent with `tenant` = a tenant-level token.
    #[serde(default)]
    user: Option<String>,
    /// The tenant.
    #[serde(default)]
    tenant: Option<String>,
    /// Provider scopes; default all of the app's.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Whether it has a refresh token (default true).
    #[serde(default)]
    refresh_token: Option<bool>,
    /// Seconds until the provider token expires (negative = already expired); default the app's ttl.
    #[serde(default)]
    expires_in: Option<i64>,
}

async fn create_connection(State(st): State<AppState>, Json(c): Json<ConnectionRequest>) -> R {
    let app = st.app(&c.app).ok_or_else(|| {
        MockError::bad("unknown_app", format!("app: no outbound app {:?}", c.app))
    })?;
    let user = match &c.user {
        Some(u) => Some(
            st.store()
                .find_user(u)
                .map(|x| x.id.clone())
                .ok_or_else(|| MockError::bad("unknown_user", format!("user: no user {u:?}")))?,
        ),
        None => None,
    };
    if user.is_none() && c.tenant.is_none() {
        return Err(MockError::bad(
            "invalid_connection",
            "send user, tenant, or both",
        ));
    }
    if let Some(t) = &c.tenant
        && !st.config.tenants.iter().any(|x| &x.id == t)
    {
        return Err(MockError::bad(
            "unknown_tenant",
            format!("tenant: no tenant {t:?}"),
        ));
    }
    let scopes = c.scopes.clone().unwrap_or_else(|| app.scopes.clone());
    if let Some(bad) = scopes.iter().find(|s| !app.scopes.contains(s)) {
        return Err(MockError::bad(
            "invalid_connection",
            format!("scopes: {bad:?} is not a scope of app {:?}", app.id),
        ));
    }
    let now = st.now();
    let ttl = c.expires_in.unwrap_or(app.token_ttl as i64);
    let mut t = ConnToken::new(
        &app.id,
        user.as_deref(),
        c.tenant.as_deref(),
        scopes,
        c.refresh_token.unwrap_or(true),
        app.token_ttl as i64,
        now,
        "control",
    );
    // Saturating: `expires_in` is any i64 the caller sends (found by fuzzing).
    t.access_token_expiry = now.saturating_add(ttl);
    let mut store = st.store();
    store.connections.retain(|_, x| {
        !(x.app_id == t.app_id && x.user_id == t.user_id && x.tenant_id == t.tenant_id)
    });
    store.connections.insert(t.id.clone(), t.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(t))).into_response())
}

/// `DELETE /_mock/connections/{id}`: revoke a connection token (the next fetch fails at once).
async fn delete_connection(State(st): State<AppState>, Path(id): Path<String>) -> R {
    match st.store().connections.remove(&id) {
        Some(t) => ok(json!({ "deleted": t.id })),
        None => Err(MockError::not_found(
            "unknown_connection",
            format!("no connection token {id:?}"),
        )),
    }
}

async fn list_servers(State(st): State<AppState>) -> R {
    let all: Vec<Value> = st.servers().iter().map(|s| json!(**s)).collect();
    ok(json!({ "servers": all }))
}

async fn get_server(State(st): State<AppState>, Path(sid): Path<String>) -> R {
    let s = st
        .server(&sid)
        .ok_or_else(|| MockError::not_found("unknown_server", format!("no MCP server {sid:?}")))?;
    ok(json!(*s))
}

/// `PATCH /_mock/servers/{sid}` body: the fields to change (same names as `[[mcp_servers]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerPatch {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<crate::config::ScopeDef>>,
    #[serde(default)]
    dcr: Option<bool>,
    #[serde(default)]
    cimd: Option<bool>,
    #[serde(default)]
    access_token_ttl: Option<u64>,
    #[serde(default)]
    audience: Option<Vec<crate::config::AudMember>>,
    #[serde(default)]
    scope_claims: Option<crate::config::ScopeClaims>,
    #[serde(default)]
    require_resource: Option<bool>,
}

/// Make a server entry match the system under test (its resource URL, its scopes, ...).
async fn patch_server(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(p): Json<ServerPatch>,
) -> R {
    let cur = st
        .server(&sid)
        .ok_or_else(|| MockError::not_found("unknown_server", format!("no MCP server {sid:?}")))?;
    let mut s = (*cur).clone();
    if let Some(u) = p.url {
        crate::config::check_resource_url(&u)
            .map_err(|m| MockError::bad("invalid_server", format!("url: {m}")))?;
        s.url = u;
    }
    if let Some(sc) = p.scopes {
        let mut seen = HashSet::new();
        for (i, d) in sc.iter().enumerate() {
            if crate::parse::parse_scope(&d.name).map(|v| v.len()) != Ok(1)
                || !seen.insert(d.name.clone())
            {
                return Err(MockError::bad(
                    "invalid_server",
                    format!(
                        "scopes[{i}].name: {:?} is not a single, unique scope token",
                        d.name
                    ),
                ));
            }
        }
        s.scopes = sc;
    }
    if let Some(v) = p.dcr {
        s.dcr = v;
    }
    if let Some(v) = p.cimd {
        s.cimd = v;
    }
    if let Some(v) = p.access_token_ttl {
        if v == 0 {
            return Err(MockError::bad(
                "invalid_server",
                "access_token_ttl: at least 1 second",
            ));
        }
        s.access_token_ttl = v;
    }
    if let Some(v) = p.audience {
        if v.is_empty() {
            return Err(MockError::bad(
                "invalid_server",
                "audience: at least one member",
            ));
        }
        s.audience = v;
    }
    if let Some(v) = p.scope_claims {
        s.scope_claims = v;
    }
    if let Some(v) = p.require_resource {
        s.require_resource = v;
    }
    st.put_server(s.clone());
    ok(json!(s))
}

async fn list_apps(State(st): State<AppState>) -> R {
    let all: Vec<Value> = st.apps().iter().map(|a| json!(**a)).collect();
    ok(json!({ "apps": all }))
}

/// `POST /_mock/apps`: create or replace an outbound app (fields as `[[outbound_apps]]`).
async fn put_app(State(st): State<AppState>, Json(a): Json<crate::config::OutboundApp>) -> R {
    if a.id.is_empty() || a.id.contains(char::is_whitespace) || a.id.contains('/') {
        return Err(MockError::bad(
            "invalid_app",
            format!(
                "id: {:?} must be non-empty, without white space or '/'",
                a.id
            ),
        ));
    }
    if a.token_ttl == 0 {
        return Err(MockError::bad(
            "invalid_app",
            "token_ttl: at least 1 second",
        ));
    }
    let created = st.app(&a.id).is_none();
    st.put_app(a.clone());
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(json!(a)),
    )
        .into_response())
}

fn check_new_rule(rules: &[Rule], r: &Rule) -> Result<(), MockError> {
    if r.name.is_empty() {
        return Err(MockError::bad(
            "invalid_policy",
            "name: a rule added on its own needs a name (to delete it later)",
        ));
    }
    if rules.iter().any(|x| x.name == r.name) {
        return Err(MockError::bad(
            "invalid_policy",
            format!("name: a rule {:?} exists", r.name),
        ));
    }
    Ok(())
}

/// `POST /_mock/policies/connections/rules`: add one named rule (others are untouched, so
/// concurrent tests can each manage their own rules).
async fn add_connection_rule(State(st): State<AppState>, Json(r): Json<Rule>) -> R {
    check_rules(&st, std::slice::from_ref(&r), true)?;
    let mut store = st.store();
    check_new_rule(&store.connection_policy, &r)?;
    store.connection_policy.push(r.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(r))).into_response())
}

/// `DELETE /_mock/policies/connections/rules/{name}`.
async fn delete_connection_rule(State(st): State<AppState>, Path(name): Path<String>) -> R {
    let mut store = st.store();
    let before = store.connection_policy.len();
    store.connection_policy.retain(|r| r.name != name);
    if store.connection_policy.len() == before {
        return Err(MockError::not_found(
            "unknown_rule",
            format!("no connections rule {name:?}"),
        ));
    }
    ok(json!({ "deleted": name }))
}

/// `POST /_mock/policies/consent/{sid}/rules`: add one named rule to a server's consent policy.
async fn add_consent_rule(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    Json(r): Json<Rule>,
) -> R {
    if st.server(&sid).is_none() {
        return Err(MockError::not_found(
            "unknown_server",
            format!("no MCP server {sid:?}"),
        ));
    }
    check_rules(&st, std::slice::from_ref(&r), false)?;
    let mut store = st.store();
    let rules = store.consent_policies.entry(sid).or_default();
    check_new_rule(rules, &r)?;
    rules.push(r.clone());
    Ok((StatusCode::CREATED, axum::Json(json!(r))).into_response())
}

/// `DELETE /_mock/policies/consent/{sid}/rules/{name}`.
async fn delete_consent_rule(
    State(st): State<AppState>,
    Path((sid, name)): Path<(String, String)>,
) -> R {
    let mut store = st.store();
    let rules = store.consent_policies.entry(sid.clone()).or_default();
    let before = rules.len();
    rules.retain(|r| r.name != name);
    if rules.len() == before {
        return Err(MockError::not_found(
            "unknown_rule",
            format!("no consent rule {name:?} for {sid:?}"),
        ));
    }
    ok(json!({ "deleted": name }))
}
