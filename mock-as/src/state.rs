//! The state every handler shares: immutable configuration and base URL, the key ring, the
//! store, and the HTTP client used to fetch client ID metadata documents.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::clock::wall_secs;
use crate::config::{Config, ConfigError, McpServer, OutboundApp};
use crate::keys::KeyRing;
use crate::store::Store;

/// Cheap to clone; handed to every handler.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
#[derive(Debug)]
pub struct Shared {
    /// The validated configuration (immutable; runtime changes live in the store).
    pub config: Config,
    /// The advertised base URL, no trailing slash.
    pub base_url: String,
    /// Signing keys.
    keys: RwLock<KeyRing>,
    /// Mutable state.
    store: Mutex<Store>,
    /// When set, `/_mock/` requires `Authorization: Bearer <admin_token>`.
    pub admin_token: Option<String>,
    /// Client for CIMD fetches: short timeouts, no redirects.
    pub http: reqwest::Client,
    /// MCP server entries (from the config; the control API can change them).
    servers: RwLock<Vec<Arc<McpServer>>>,
    /// Outbound apps (from the config; the control API can add or replace them).
    apps: RwLock<Vec<Arc<OutboundApp>>>,
    /// Seconds added to the wall clock for every time the mock issues or checks. Atomic, not in
    /// the store, so that reading the time never needs the store lock.
    clock_offset: AtomicI64,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Build the state: loads the keys (no generation) and seeds the store.
    pub fn new(
        config: Config,
        base_url: String,
        admin_token: Option<String>,
    ) -> Result<AppState, ConfigError> {
        let keys = KeyRing::from_config(&config)?;
        let store = Store::from_config(&config);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError {
                file: config.source.clone(),
                field: String::new(),
                message: e.to_string(),
            })?;
        let base_url = base_url.trim_end_matches('/').to_string();
        Ok(AppState(Arc::new(Shared {
            config,
            base_url,
            keys: RwLock::new(keys),
            store: Mutex::new(store),
            admin_token,
            http,
            clock_offset: AtomicI64::new(0),
            servers: RwLock::new(Vec::new()),
            apps: RwLock::new(Vec::new()),
        })))
        .inspect(|st| st.reload_entries())
    }

    /// Lock the store. A poisoned lock (a panic elsewhere) is recovered: the data is plain
    /// maps with no invariant a half-finished write could break badly.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.0.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read the keys.
    pub fn keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.0.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the keys.
    pub fn keys_mut(&self) -> RwLockWriteGuard<'_, KeyRing> {
        self.0.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Back to the configured state: keys, users, clients, sessions, faults, journal, clock.
    pub fn reset(&self) -> Result<(), ConfigError> {
        let keys = KeyRing::from_config(&self.config)?;
        *self.keys_mut() = keys;
        *self.store() = Store::from_config(&self.config);
        self.set_clock_offset(0);
        self.reload_entries();
        Ok(())
    }

    fn reload_entries(&self) {
        *self.0.servers.write().unwrap_or_else(|p| p.into_inner()) = self
            .config
            .mcp_servers
            .iter()
            .cloned()
            .map(Arc::new)
            .collect();
        *self.0.apps.write().unwrap_or_else(|p| p.into_inner()) = self
            .config
            .outbound_apps
            .iter()
            .cloned()
            .map(Arc::new)
            .collect();
    }

    /// Every MCP server entry, in order.
    pub fn servers(&self) -> Vec<Arc<McpServer>> {
        self.0
            .servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace (or add) a server entry.
    pub fn put_server(&self, s: McpServer) {
        let mut all = self.0.servers.write().unwrap_or_else(|p| p.into_inner());
        match all.iter_mut().find(|x| x.id == s.id) {
            Some(slot) => *slot = Arc::new(s),
            None => all.push(Arc::new(s)),
        }
    }

    /// Every outbound app.
    pub fn apps(&self) -> Vec<Arc<OutboundApp>> {
        self.0
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// An outbound app by id.
    pub fn app(&self, id: &str) -> Option<Arc<OutboundApp>> {
        self.0
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|a| a.id == id)
            .cloned()
    }

    /// Replace (or add) an outbound app.
    pub fn put_app(&self, a: OutboundApp) {
        let mut all = self.0.apps.write().unwrap_or_else(|p| p.into_inner());
        match all.iter_mut().find(|x| x.id == a.id) {
            Some(slot) => *slot = Arc::new(a),
            None => all.push(Arc::new(a)),
        }
    }

    /// Mock time in epoch seconds: the wall clock plus the control API's offset.
    pub fn now(&self) -> i64 {
        wall_secs() + self.clock_offset()
    }

    /// The clock offset in seconds.
    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    /// Set the clock offset in seconds.
    pub fn set_clock_offset(&self, secs: i64) {
        self.clock_offset.store(secs, Ordering::Relaxed);
    }

    /// The project id.
    pub fn pid(&self) -> &str {
        &self.config.project.id
    }

    /// An MCP server of this project.
    pub fn server(&self, sid: &str) -> Option<Arc<McpServer>> {
        self.0
            .servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|s| s.id == sid)
            .cloned()
    }

    /// The agentic issuer of a server: `<base>/v1/apps/agentic/<pid>/<sid>` (mock-as/DESCOPE.md §1).
    pub fn issuer(&self, sid: &str) -> String {
        format!("{}/v1/apps/agentic/{}/{}", self.base_url, self.pid(), sid)
    }

    /// The issuer of `style` for server `sid` (mock-as/DESCOPE.md §1).
    pub fn issuer_of(&self, style: crate::tokens::IssuerStyle, sid: &str) -> String {
        style.issuer(&self.base_url, self.pid(), sid)
    }

    /// Whether `iss` is one of this project's issuers: a server entry's, the Inbound App
    /// issuer `<base>/v1/apps/<pid>`, or the project OIDC issuer `<base>/<pid>`.
    pub fn is_own_issuer(&self, iss: &str) -> bool {
        use crate::tokens::IssuerStyle;
        self.servers().iter().any(|s| self.issuer(&s.id) == iss)
            || iss == self.issuer_of(IssuerStyle::InboundApp, "")
            || iss == self.issuer_of(IssuerStyle::Project, "")
    }

    /// The project's JWKS URL (discovery `jwks_uri`).
    pub fn jwks_uri(&self) -> String {
        format!("{}/{}/.well-known/jwks.json", self.base_url, self.pid())
    }

    /// Whether `secret` is one of the management keys.
    pub fn is_management_key(&self, secret: &str) -> bool {
        self.config
            .management_keys
            .iter()
            .any(|k| k.secret == secret)
    }
}
