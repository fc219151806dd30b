//! In-memory state: users, clients, authorization codes, sessions (one per grant; a refresh
//! family is a session), refresh tokens, revocations, armed faults, the clock offset and the
//! bounded request journal. Expired entries are purged as new ones arrive, so memory stays flat.

mod access;
mod records;

pub use access::{PolicyRef, RuleRefused};
pub use records::*;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::config::{Config, User};
use crate::policy::Rule;

/// All mutable state.
#[derive(Debug, Default)]
pub struct Store {
    /// Users by id.
    users: BTreeMap<String, User>,
    /// Clients by id.
    clients: BTreeMap<String, Client>,
    /// Authorization codes.
    codes: HashMap<String, AuthCode>,
    /// Sessions (grants).
    sessions: HashMap<String, Session>,
    /// Refresh tokens.
    refresh: HashMap<String, RefreshToken>,
    /// User- or session-bound access tokens by `jti`.
    issued: HashMap<String, IssuedToken>,
    /// Individually revoked access tokens: `jti` → `exp` (kept until expiry).
    revoked_jtis: HashMap<String, i64>,
    /// Armed faults.
    faults: Vec<Fault>,
    /// MCP Server Policies by server id (seeded from config, replaced through the control API).
    consent_policies: HashMap<String, Vec<Rule>>,
    /// The Connections Policy (seeded from config, replaced through the control API).
    connection_policy: Vec<Rule>,
    /// The Token Exchange Policy (seeded from config, replaced through the control API).
    token_exchange_policy: Vec<Rule>,
    /// Stored connection (outbound app) tokens by id.
    connections: BTreeMap<String, ConnToken>,
    /// Pending connect (re-consent) requests by state.
    connects: HashMap<String, ConnectRequest>,
    /// Authorization requests waiting on the interactive consent page, by request id.
    pending_consents: HashMap<String, PendingConsent>,
    /// Objects the spy upstream "created" (for deterministic ids).
    upstream_created: u64,
    /// The DCR audit, oldest first (at most [`REGISTRATIONS_CAP`]).
    registrations: VecDeque<Registration>,
    /// Next registration sequence number.
    next_registration: u64,
    /// DCR attempts per (server, client IP) in the last minute (mock time), for the rate limit.
    dcr_hits: HashMap<(String, String), VecDeque<i64>>,
    /// The journal.
    journal: VecDeque<JournalEntry>,
    /// Next journal sequence number.
    next_seq: u64,
    /// Next fault id.
    next_fault: u64,
    /// Inserts since the last purge.
    inserts: u32,
}

impl Store {
    /// A fresh store seeded from the configuration.
    pub fn from_config(cfg: &Config) -> Store {
        let mut s = Store::default();
        for u in &cfg.users {
            s.users.insert(u.id.clone(), u.clone());
        }
        for m in &cfg.mcp_servers {
            s.consent_policies
                .insert(m.id.clone(), m.consent_policy.clone());
        }
        s.connection_policy = cfg.connection_policy.clone();
        s.token_exchange_policy = cfg.token_exchange_policy.clone();
        for c in &cfg.connections {
            let app = cfg.outbound_apps.iter().find(|a| a.id == c.app);
            let ttl = app.map(|a| a.token_ttl).unwrap_or(3600) as i64;
            let scopes = if c.scopes.is_empty() {
                app.map(|a| a.scopes.clone()).unwrap_or_default()
            } else {
                c.scopes.clone()
            };
            let t = ConnToken::new(
                &c.app,
                c.user.as_deref(),
                c.tenant.as_deref(),
                scopes,
                c.refresh_token,
                ttl,
                crate::clock::wall_secs(),
                "config",
            );
            s.connections.insert(t.id.clone(), t);
        }
        for c in &cfg.clients {
            s.clients.insert(
                c.id.clone(),
                Client {
                    cfg: c.clone(),
                    token_endpoint_auth_method: c.kind.default_auth_method(),
                    origin: ClientOrigin::Config,
                    issued_at: 0,
                },
            );
        }
        s
    }

    /// Find a user by id or login id (`login_hint` accepts both).
    pub fn find_user(&self, hint: &str) -> Option<&User> {
        self.users
            .get(hint)
            .or_else(|| self.users.values().find(|u| u.login_id == hint))
    }

    /// Start a session.
    pub fn new_session(
        &mut self,
        user_id: Option<&str>,
        client_id: &str,
        server_id: &str,
        scopes: &[String],
        now: i64,
    ) -> String {
        let id = crate::tokens::random_id();
        self.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                user_id: user_id.map(str::to_string),
                client_id: client_id.into(),
                server_id: server_id.into(),
                scopes: scopes.to_vec(),
                revoked: false,
                revoked_reason: None,
                created: now,
                issuer_style: crate::tokens::IssuerStyle::McpServer,
            },
        );
        self.maybe_purge(now);
        id
    }

    /// Remember an access token that belongs to a user or session.
    pub fn record(
        &mut self,
        jti: &str,
        session_id: Option<&str>,
        user_id: Option<&str>,
        exp: i64,
        now: i64,
    ) {
        if session_id.is_none() && user_id.is_none() {
            return;
        }
        self.issued.insert(
            jti.into(),
            IssuedToken {
                session_id: session_id.map(str::to_string),
                user_id: user_id.map(str::to_string),
                exp,
            },
        );
        self.maybe_purge(now);
    }

    /// Whether an access token is revoked (itself, its session, or its user's sessions).
    pub fn is_revoked(&self, jti: &str) -> bool {
        if self.revoked_jtis.contains_key(jti) {
            return true;
        }
        match self.issued.get(jti).and_then(|t| t.session_id.as_ref()) {
            Some(sid) => self.sessions.get(sid).is_none_or(|s| s.revoked),
            None => false,
        }
    }

    /// Revoke a session and every refresh token of it. Returns whether it existed.
    pub fn revoke_session(&mut self, sid: &str, reason: &str) -> bool {
        let Some(s) = self.sessions.get_mut(sid) else {
            return false;
        };
        s.revoked = true;
        s.revoked_reason = Some(reason.to_string());
        self.refresh.retain(|_, r| r.session_id != sid);
        true
    }

    /// Revoke one access token by `jti`.
    pub fn revoke_jti(&mut self, jti: &str, exp: i64) {
        self.revoked_jtis.insert(jti.into(), exp);
    }

    /// Revoke every session and user-bound token of a user. Returns (sessions, tokens) revoked.
    pub fn revoke_user(&mut self, user_id: &str, reason: &str) -> (usize, usize) {
        let sids: Vec<String> = self
            .sessions
            .values()
            .filter(|s| !s.revoked && s.user_id.as_deref() == Some(user_id))
            .map(|s| s.id.clone())
            .collect();
        for s in &sids {
            self.revoke_session(s, reason);
        }
        let jtis: Vec<(String, i64)> = self
            .issued
            .iter()
            .filter(|(j, t)| {
                t.user_id.as_deref() == Some(user_id) && !self.revoked_jtis.contains_key(*j)
            })
            .map(|(j, t)| (j.clone(), t.exp))
            .collect();
        for (j, exp) in &jtis {
            self.revoked_jtis.insert(j.clone(), *exp);
        }
        (sids.len(), jtis.len())
    }

    fn maybe_purge(&mut self, now: i64) {
        self.inserts += 1;
        if self.inserts >= 1024 {
            self.inserts = 0;
            self.purge(now);
        }
    }

    /// Drop expired codes, refresh tokens, token records and revocations, and sessions nothing
    /// refers to any more.
    pub fn purge(&mut self, now: i64) {
        // Saturating: `exp` values come from token claims (a minted token's `claims`, or an
        // unverified JWT revoked through the control API) and may be `i64::MAX`; an overflow
        // here panicked whichever later request triggered the purge (found by fuzzing).
        self.codes
            .retain(|_, c| c.expires_at.saturating_add(300) > now);
        self.refresh.retain(|_, r| r.expires_at > now);
        self.connects.retain(|_, c| c.expires_at > now);
        self.pending_consents.retain(|_, c| c.expires_at > now);
        self.issued.retain(|_, t| t.exp.saturating_add(60) > now);
        self.revoked_jtis
            .retain(|_, exp| exp.saturating_add(60) > now);
        let live: HashSet<&String> = self
            .refresh
            .values()
            .map(|r| &r.session_id)
            .chain(self.codes.values().map(|c| &c.session_id))
            .chain(self.issued.values().filter_map(|t| t.session_id.as_ref()))
            .collect();
        let keep: HashSet<String> = live.into_iter().cloned().collect();
        self.sessions
            .retain(|id, s| keep.contains(id) || s.created + 3600 > now);
    }

    /// Append a journal line, dropping the oldest beyond [`JOURNAL_CAP`].
    pub fn log(&mut self, mut e: JournalEntry) {
        e.seq = self.next_seq;
        self.next_seq += 1;
        if self.journal.len() >= JOURNAL_CAP {
            self.journal.pop_front();
        }
        self.journal.push_back(e);
    }

    /// The first armed fault matching a request (`users`: who the request is for — the bearer
    /// JWT's `sub`, the body's `userId`); consumes one use.
    pub fn take_fault(
        &mut self,
        method: &str,
        path: &str,
        endpoint: &str,
        users: &[&str],
    ) -> Option<Fault> {
        let idx = self.faults.iter().position(|f| {
            f.user.as_deref().is_none_or(|u| users.contains(&u))
                && f.endpoint.as_deref().is_none_or(|e| e == endpoint)
                && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let f = self.faults[idx].clone();
        if let Some(n) = self.faults[idx].count.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(idx);
            }
        }
        Some(f)
    }
}
