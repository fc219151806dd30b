//! Descope's management API for MCP server objects (management key): `/v1/mgmt/mcp/servers/all`,
//! `/v1/mgmt/mcp/server/{load,create,update}` and `/v1/mgmt/mcp/server/clients/search`. The
//! objects map onto mock-as's server entries, and a change takes effect on the next request, as
//! the control API's `PATCH /_mock/servers` does.
//!
//! Descope documents the routes and the fields' meaning (approved scopes, an audience allow-list,
//! session settings), not their JSON; the shape below is mock-as's decision (mock-as/README.md,
//! decisions table): `audienceWhitelist` ↔ `url` (one resource per server entry),
//! `approvedScopes` ↔ `scopes`, `sessionSettings.{accessToken,refreshToken}Expiration` `{value,
//! unit}` ↔ the TTLs, `dynamicRegistration.enabled` ↔ `dcr`, `cimdSettings.enabled` ↔ `cimd`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{McpServer, ScopeDef};
use crate::error::DescopeError;
use crate::routes::mgmt::require_management_key;
use crate::state::AppState;

/// A lifetime as Descope's console states it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Duration {
    /// How many units.
    pub value: u64,
    /// `seconds`, `minutes`, `hours`, `days` or `weeks`.
    pub unit: String,
}

impl Duration {
    fn seconds(&self) -> Result<u64, String> {
        let per = match self.unit.as_str() {
            "seconds" => 1,
            "minutes" => 60,
            "hours" => 3600,
            "days" => 86_400,
            "weeks" => 7 * 86_400,
            u => {
                return Err(format!(
                    "unit {u:?} is not one of seconds, minutes, hours, days, weeks"
                ));
            }
        };
        self.value
            .checked_mul(per)
            .ok_or_else(|| format!("{} {} is too long", self.value, self.unit))
    }

    fn from_seconds(s: u64) -> Duration {
        Duration {
            value: s,
            unit: "seconds".into(),
        }
    }
}

/// `sessionSettings`: token lifetimes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionSettings {
    /// Access token lifetime.
    pub access_token_expiration: Option<Duration>,
    /// Refresh token lifetime.
    pub refresh_token_expiration: Option<Duration>,
}

/// `{"enabled": bool}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Toggle {
    /// On or off.
    pub enabled: bool,
}

/// An MCP server object as the management API shows and takes it. On create and update every
/// field is optional: what is absent keeps its value (or the default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerObject {
    /// `MS...` (create: generated when absent).
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The resource URLs tokens may name: exactly one, the server entry's `url`.
    pub audience_whitelist: Option<Vec<String>>,
    /// The scopes clients may be granted.
    pub approved_scopes: Option<Vec<ScopeDef>>,
    /// Token lifetimes.
    pub session_settings: Option<SessionSettings>,
    /// RFC 7591 registration.
    pub dynamic_registration: Option<Toggle>,
    /// Client ID metadata documents.
    pub cimd_settings: Option<Toggle>,
}

fn object_of(s: &McpServer) -> ServerObject {
    ServerObject {
        id: Some(s.id.clone()),
        name: Some(s.name.clone()),
        audience_whitelist: Some(vec![s.url.clone()]),
        approved_scopes: Some(s.scopes.clone()),
        session_settings: Some(SessionSettings {
            access_token_expiration: Some(Duration::from_seconds(s.access_token_ttl)),
            refresh_token_expiration: Some(Duration::from_seconds(s.refresh_token_ttl)),
        }),
        dynamic_registration: Some(Toggle { enabled: s.dcr }),
        cimd_settings: Some(Toggle { enabled: s.cimd }),
    }
}

/// Apply the object's fields to an entry, then check the result: its resource is its own, and
/// it passes the control API's check (the config loader's, with the policy in force).
fn apply(st: &AppState, s: &mut McpServer, o: ServerObject) -> Result<(), DescopeError> {
    if let Some(n) = o.name {
        s.name = n;
    }
    if let Some(a) = o.audience_whitelist {
        match a.as_slice() {
            [one] => s.url = one.clone(),
            _ => {
                return Err(DescopeError::invalid(
                    "audienceWhitelist: exactly one resource URL (mock-as models one per server)",
                ));
            }
        }
    }
    if let Some(sc) = o.approved_scopes {
        s.scopes = sc;
    }
    if let Some(ss) = o.session_settings {
        if let Some(d) = ss.access_token_expiration {
            s.access_token_ttl = d
                .seconds()
                .map_err(|m| DescopeError::invalid(format!("accessTokenExpiration: {m}")))?;
        }
        if let Some(d) = ss.refresh_token_expiration {
            s.refresh_token_ttl = d
                .seconds()
                .map_err(|m| DescopeError::invalid(format!("refreshTokenExpiration: {m}")))?;
        }
    }
    if let Some(t) = o.dynamic_registration {
        s.dcr = t.enabled;
    }
    if let Some(t) = o.cimd_settings {
        s.cimd = t.enabled;
    }
    if st.servers().iter().any(|x| x.id != s.id && x.url == s.url) {
        return Err(DescopeError::invalid(format!(
            "audienceWhitelist: another MCP server has the resource {:?}",
            s.url
        )));
    }
    let mut checked = s.clone();
    checked.consent_policy = st
        .store()
        .rules(crate::store::PolicyRef::Consent(&s.id))
        .to_vec();
    crate::routes::control::servers::check_entry(st, &checked)
        .map_err(|(field, m)| DescopeError::invalid(format!("{}: {m}", api_name(&field))))
}

/// The management API's name for a server entry field in an error message.
fn api_name(field: &str) -> String {
    let head = field.split(['[', '.']).next().unwrap_or(field);
    let mapped = match head {
        "url" => "audienceWhitelist",
        "scopes" => "approvedScopes",
        "access_token_ttl" => "sessionSettings.accessTokenExpiration",
        "refresh_token_ttl" => "sessionSettings.refreshTokenExpiration",
        "consent_policy" => "approvedScopes (the MCP Server Policy in force names a scope)",
        other => other,
    };
    format!("{mapped}{}", &field[head.len()..])
}

/// Body: either the object itself or `{"server": {...}}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Body {
    Wrapped { server: ServerObject },
    Flat(ServerObject),
}

fn read(body: &[u8]) -> Result<ServerObject, DescopeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ServerObject::default());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| DescopeError::invalid(format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(DescopeError::invalid("the body must be a JSON object"));
    }
    match serde_json::from_value::<Body>(v) {
        Ok(Body::Wrapped { server } | Body::Flat(server)) => Ok(server),
        Err(e) => Err(DescopeError::invalid(format!("bad MCP server object: {e}"))),
    }
}

fn answer(r: Result<Value, DescopeError>) -> Response {
    match r {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn unknown(id: &str) -> DescopeError {
    DescopeError::not_found(format!("no MCP server {id:?}"))
}

/// `GET` or `POST /v1/mgmt/mcp/servers/all` → `{"servers": [...]}`.
pub async fn all(State(st): State<AppState>, headers: HeaderMap) -> Response {
    answer((|| {
        require_management_key(&st, &headers)?;
        let list: Vec<ServerObject> = st.servers().iter().map(|s| object_of(s)).collect();
        Ok(json!({ "servers": list }))
    })())
}

/// `POST /v1/mgmt/mcp/server/load` `{"id"}` → `{"server"}`.
pub async fn load(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer((|| {
        require_management_key(&st, &headers)?;
        let id = read(&body)?
            .id
            .ok_or_else(|| DescopeError::missing("id is required"))?;
        let s = st.server(&id).ok_or_else(|| unknown(&id))?;
        Ok(json!({ "server": object_of(&s) }))
    })())
}

/// `POST /v1/mgmt/mcp/server/create` → `{"server"}`: a new entry (defaults as a
/// `[[mcp_servers]]` entry with only `id`, `name` and `url`).
pub async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer((|| {
        require_management_key(&st, &headers)?;
        let o = read(&body)?;
        let id = o.id.clone().unwrap_or_else(|| {
            format!("MS2{}", crate::tokens::random_id().replace(['-', '_'], ""))
        });
        if st.server(&id).is_some() {
            return Err(DescopeError::invalid(format!(
                "id: MCP server {id:?} exists"
            )));
        }
        let url = match o.audience_whitelist.as_deref() {
            Some([one]) => one.clone(),
            _ => {
                return Err(DescopeError::missing(
                    "audienceWhitelist: the server's one resource URL is required",
                ));
            }
        };
        let seed = format!(
            "id = {id:?}\nname = {:?}\nurl = {url:?}\n",
            o.name.clone().unwrap_or_default()
        );
        let mut s: McpServer = toml::from_str(&seed)
            .map_err(|e| DescopeError::invalid(format!("bad MCP server: {e}")))?;
        apply(&st, &mut s, o)?;
        st.put_server(s.clone());
        Ok(json!({ "server": object_of(&s) }))
    })())
}

/// `POST /v1/mgmt/mcp/server/update` `{"server": {"id", ...}}` → `{"server"}`.
pub async fn update(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer((|| {
        require_management_key(&st, &headers)?;
        let o = read(&body)?;
        let id =
            o.id.clone()
                .ok_or_else(|| DescopeError::missing("id is required"))?;
        let mut s = (*st.server(&id).ok_or_else(|| unknown(&id))?).clone();
        apply(&st, &mut s, o)?;
        st.put_server(s.clone());
        Ok(json!({ "server": object_of(&s) }))
    })())
}

/// `clients/search` filters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ClientSearch {
    /// Only clients that may use this server (`id` works too).
    server_id: Option<String>,
    id: Option<String>,
}

/// `POST /v1/mgmt/mcp/server/clients/search` `{"serverId"}` → `{"clients", "total"}`: the
/// clients that may obtain tokens for the server (configured, control-API, DCR and CIMD ones).
pub async fn clients_search(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer((|| {
        require_management_key(&st, &headers)?;
        let q: ClientSearch = if body.iter().all(u8::is_ascii_whitespace) {
            ClientSearch::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| DescopeError::invalid(format!("bad search: {e}")))?
        };
        let sid = q
            .server_id
            .or(q.id)
            .ok_or_else(|| DescopeError::missing("serverId is required"))?;
        if st.server(&sid).is_none() {
            return Err(unknown(&sid));
        }
        let store = st.store();
        let clients: Vec<Value> = store
            .clients()
            .filter(|c| c.serves(&sid))
            .map(|c| {
                json!({"id": c.cfg.id, "name": c.cfg.name, "type": c.cfg.kind,
                       "redirectUris": c.cfg.redirect_uris, "scopes": c.cfg.scopes,
                       "origin": c.origin, "createdTime": c.issued_at,
                       "tokenEndpointAuthMethod": c.token_endpoint_auth_method})
            })
            .collect();
        Ok(json!({ "total": clients.len(), "clients": clients }))
    })())
}
