//! The [`Store`]'s accessors, one group per record kind. The fields are private so that the
//! rules about them live here: a client is keyed by its own id, fault ids only grow, a
//! (app, user, tenant) holds one connection token, a named policy rule is unique in its
//! policy, the journal keeps its sequence numbers.

use super::{
    AuthCode, Client, ConnToken, ConnectRequest, Fault, IssuedToken, JournalEntry, PendingConsent,
    REGISTRATIONS_CAP, RefreshToken, Registration, Session, Store,
};
use crate::config::User;
use crate::policy::Rule;

/// Which policy a rule list belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRef<'a> {
    /// The MCP Server Policy of the server entry with this id (mock-as/DESCOPE.md §11).
    Consent(&'a str),
    /// The project's Connections Policy (mock-as/DESCOPE.md §11).
    Connections,
    /// The project's Token Exchange Policy (RFC 8693 exchanges; mock-as/DESCOPE.md §11).
    TokenExchange,
}

/// Why a named rule could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRefused {
    /// A rule added on its own needs a name, to delete it later.
    Unnamed,
    /// The policy already holds a rule of that name.
    Exists(String),
}

impl std::fmt::Display for RuleRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleRefused::Unnamed => {
                f.write_str("name: a rule added on its own needs a name (to delete it later)")
            }
            RuleRefused::Exists(n) => write!(f, "name: a rule {n:?} exists"),
        }
    }
}

impl Store {
    // --- users -------------------------------------------------------------------------

    /// A user by id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    /// Every user, by id.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Every user id, sorted.
    pub fn user_ids(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Add or replace a user (keyed by its id); whether it is new.
    pub fn put_user(&mut self, u: User) -> bool {
        self.users.insert(u.id.clone(), u).is_none()
    }

    /// Remove a user; whether it existed. Its sessions are left to the caller to revoke.
    pub fn remove_user(&mut self, id: &str) -> bool {
        self.users.remove(id).is_some()
    }

    // --- clients -----------------------------------------------------------------------

    /// A client by id.
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// Every client, by id.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    /// Every client id, sorted.
    pub fn client_ids(&self) -> Vec<String> {
        self.clients.keys().cloned().collect()
    }

    /// Add or replace a client (keyed by its own `client_id`).
    pub fn put_client(&mut self, c: Client) {
        self.clients.insert(c.cfg.id.clone(), c);
    }

    // --- authorization codes -----------------------------------------------------------

    /// Keep an authorization code (RFC 6749 §4.1.2) under its value.
    pub fn put_code(&mut self, value: String, code: AuthCode) {
        self.codes.insert(value, code);
    }

    /// An authorization code by value, to mark it used.
    pub fn code_mut(&mut self, value: &str) -> Option<&mut AuthCode> {
        self.codes.get_mut(value)
    }

    // --- sessions ----------------------------------------------------------------------

    /// A session by id.
    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// A session by id, to change it.
    pub fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions.get_mut(id)
    }

    /// Whether a session exists and is not revoked.
    pub fn session_live(&self, id: &str) -> bool {
        self.sessions.get(id).is_some_and(|s| !s.revoked)
    }

    /// The session an access token was issued in, by `jti`.
    pub fn token_session(&self, jti: &str) -> Option<&Session> {
        let sid = self.issued.get(jti)?.session_id.as_deref()?;
        self.sessions.get(sid)
    }

    /// Every session, in no order.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    // --- refresh tokens ----------------------------------------------------------------

    /// A refresh token by value.
    pub fn refresh_token(&self, value: &str) -> Option<&RefreshToken> {
        self.refresh.get(value)
    }

    /// A refresh token by value, to mark it used.
    pub fn refresh_token_mut(&mut self, value: &str) -> Option<&mut RefreshToken> {
        self.refresh.get_mut(value)
    }

    /// Keep a refresh token under its value.
    pub fn put_refresh_token(&mut self, value: String, rt: RefreshToken) {
        self.refresh.insert(value, rt);
    }

    /// Every refresh token, in no order.
    pub fn refresh_tokens(&self) -> impl Iterator<Item = &RefreshToken> {
        self.refresh.values()
    }

    // --- issued access tokens ----------------------------------------------------------

    /// The remembered access tokens, `(jti, record)`, in no order.
    pub fn issued_tokens(&self) -> impl Iterator<Item = (&String, &IssuedToken)> {
        self.issued.iter()
    }

    // --- faults ------------------------------------------------------------------------

    /// The armed faults, oldest first.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Arm a fault; it gets the next id (ids only grow, so a disarmed id is never reused).
    pub fn arm_fault(&mut self, mut f: Fault) -> Fault {
        self.next_fault += 1;
        f.id = self.next_fault;
        self.faults.push(f.clone());
        f
    }

    /// Disarm every fault; how many there were.
    pub fn clear_faults(&mut self) -> usize {
        std::mem::take(&mut self.faults).len()
    }

    /// Disarm one fault; whether it was armed.
    pub fn disarm_fault(&mut self, id: u64) -> bool {
        let before = self.faults.len();
        self.faults.retain(|f| f.id != id);
        self.faults.len() != before
    }

    // --- policies ----------------------------------------------------------------------

    /// The rules of a policy (none: an empty list).
    pub fn rules(&self, p: PolicyRef<'_>) -> &[Rule] {
        match p {
            PolicyRef::Consent(sid) => self.consent_policies.get(sid).map_or(&[], Vec::as_slice),
            PolicyRef::Connections => &self.connection_policy,
            PolicyRef::TokenExchange => &self.token_exchange_policy,
        }
    }

    /// Every MCP Server Policy, by server id.
    pub fn consent_policies(&self) -> &std::collections::HashMap<String, Vec<Rule>> {
        &self.consent_policies
    }

    fn rules_mut(&mut self, p: PolicyRef<'_>) -> &mut Vec<Rule> {
        match p {
            PolicyRef::Consent(sid) => self.consent_policies.entry(sid.to_string()).or_default(),
            PolicyRef::Connections => &mut self.connection_policy,
            PolicyRef::TokenExchange => &mut self.token_exchange_policy,
        }
    }

    /// Replace a policy's rules (checked by the caller against the configuration).
    pub fn set_rules(&mut self, p: PolicyRef<'_>, rules: Vec<Rule>) {
        *self.rules_mut(p) = rules;
    }

    /// Add one named rule; names are unique within a policy.
    pub fn add_rule(&mut self, p: PolicyRef<'_>, r: Rule) -> Result<(), RuleRefused> {
        if r.name.is_empty() {
            return Err(RuleRefused::Unnamed);
        }
        let rules = self.rules_mut(p);
        if rules.iter().any(|x| x.name == r.name) {
            return Err(RuleRefused::Exists(r.name));
        }
        rules.push(r);
        Ok(())
    }

    /// Remove the rule of that name; whether there was one.
    pub fn remove_rule(&mut self, p: PolicyRef<'_>, name: &str) -> bool {
        let rules = match p {
            PolicyRef::Consent(sid) => match self.consent_policies.get_mut(sid) {
                Some(rules) => rules,
                None => return false,
            },
            PolicyRef::Connections => &mut self.connection_policy,
            PolicyRef::TokenExchange => &mut self.token_exchange_policy,
        };
        let before = rules.len();
        rules.retain(|r| r.name != name);
        rules.len() != before
    }

    // --- connection tokens -------------------------------------------------------------

    /// Every stored connection token, by id.
    pub fn connections(&self) -> impl Iterator<Item = &ConnToken> {
        self.connections.values()
    }

    /// Store a connection token, replacing the one of the same (app, user, tenant): mock-as keeps
    /// one token per connection.
    pub fn put_connection(&mut self, t: ConnToken) {
        self.connections.retain(|_, x| {
            !(x.app_id == t.app_id && x.user_id == t.user_id && x.tenant_id == t.tenant_id)
        });
        self.connections.insert(t.id.clone(), t);
    }

    /// The first connection token (by id) that matches, to refresh it in place.
    pub fn connection_where(
        &mut self,
        matches: impl Fn(&ConnToken) -> bool,
    ) -> Option<&mut ConnToken> {
        self.connections.values_mut().find(|t| matches(t))
    }

    /// Delete a connection token by id.
    pub fn remove_connection(&mut self, id: &str) -> Option<ConnToken> {
        self.connections.remove(id)
    }

    /// Delete every connection token that matches; how many went.
    pub fn remove_connections_where(&mut self, matches: impl Fn(&ConnToken) -> bool) -> usize {
        let before = self.connections.len();
        self.connections.retain(|_, t| !matches(t));
        before - self.connections.len()
    }

    // --- pending requests --------------------------------------------------------------

    /// Keep a connect (re-consent) request under its `state`.
    pub fn put_connect(&mut self, state: String, req: ConnectRequest) {
        self.connects.insert(state, req);
    }

    /// A pending connect request, to stamp the page's CSRF token on it.
    pub fn connect_mut(&mut self, state: &str) -> Option<&mut ConnectRequest> {
        self.connects.get_mut(state)
    }

    /// Consume a pending connect request.
    pub fn take_connect(&mut self, state: &str) -> Option<ConnectRequest> {
        self.connects.remove(state)
    }

    /// Keep an authorization request that waits on the consent page.
    pub fn put_pending_consent(&mut self, id: String, p: PendingConsent) {
        self.pending_consents.insert(id, p);
    }

    /// Consume an authorization request waiting on the consent page.
    pub fn take_pending_consent(&mut self, id: &str) -> Option<PendingConsent> {
        self.pending_consents.remove(id)
    }

    // --- spy upstream ------------------------------------------------------------------

    /// The next serial number for an object the spy upstream "creates" (1, 2, ...).
    pub fn next_upstream_serial(&mut self) -> u64 {
        self.upstream_created = self.upstream_created.wrapping_add(1);
        self.upstream_created
    }

    // --- registrations -----------------------------------------------------------------

    /// Keep a registration attempt in the audit (it gets the next sequence number).
    pub fn log_registration(&mut self, mut r: Registration) {
        r.seq = self.next_registration;
        self.next_registration += 1;
        if self.registrations.len() >= REGISTRATIONS_CAP {
            self.registrations.pop_front();
        }
        self.registrations.push_back(r);
    }

    /// The registration audit, oldest first.
    pub fn registrations(&self) -> impl Iterator<Item = &Registration> {
        self.registrations.iter()
    }

    /// Count one DCR attempt from `ip` at server `sid` against `limit` per minute (mock time
    /// `now`). `Err(seconds)`: over the limit, retry after that long (the attempt is not counted).
    pub fn admit_registration(
        &mut self,
        sid: &str,
        ip: &str,
        limit: u32,
        now: i64,
    ) -> Result<(), i64> {
        // Bounded: a window per (server, IP) that has seen an attempt in the last minute.
        self.dcr_hits
            .retain(|_, w| w.back().is_some_and(|t| *t > now.saturating_sub(60)));
        let w = self
            .dcr_hits
            .entry((sid.to_string(), ip.to_string()))
            .or_default();
        while w.front().is_some_and(|t| *t <= now.saturating_sub(60)) {
            w.pop_front();
        }
        if w.len() >= limit as usize {
            let oldest = w.front().copied().unwrap_or(now);
            return Err((oldest.saturating_add(60).saturating_sub(now)).max(1));
        }
        w.push_back(now);
        Ok(())
    }

    // --- journal -----------------------------------------------------------------------

    /// The journal, oldest first.
    pub fn journal(&self) -> impl Iterator<Item = &JournalEntry> {
        self.journal.iter()
    }

    /// The sequence number the next journal line will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Empty the journal (sequence numbers go on); how many lines went.
    pub fn clear_journal(&mut self) -> usize {
        let n = self.journal.len();
        self.journal.clear();
        n
    }
}
