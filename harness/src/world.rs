//! The cucumber World: one per scenario, with its own user on mock-as (isolation makes
//! concurrency free), the token it is about to use, the MCP session and every exchange so far.
//! Steps stay in the user's language; HTTP lives in these methods and in [`crate::mcp_client`].

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::as_client::{MintRequest, MockAsClient};
use crate::challenge::Challenge;
use crate::mcp_client::{Auth, Exchange, McpClient};
use crate::profile::Profile;

/// Everything shared by the scenarios of one run.
#[derive(Debug)]
pub struct SuiteCtx {
    /// The profile.
    pub profile: Profile,
    /// mock-as's control API.
    pub mock: MockAsClient,
    /// The MCP client.
    pub mcp: McpClient,
}

/// What one run shares with the scenarios it polls: the context and how loud the progress output
/// is. Held in a task-local for the length of [`in_run`], so that several runs in one process
/// (the kill matrix runs mutants side by side) never see each other's context.
#[derive(Debug, Clone)]
pub struct RunScope {
    /// The run's context, handed to every [`AuthWorld`] it creates.
    pub ctx: Arc<SuiteCtx>,
    /// The run's progress output: 0 quiet, 1 lines, 2 terminal (for waits a step announces).
    pub progress: u8,
}

tokio::task_local! {
    static RUN: RunScope;
}

/// Poll `fut` (a run's scenarios) with `scope` as its run: each [`AuthWorld`] created while it
/// is polled gets `scope.ctx`.
pub async fn in_run<F: std::future::Future>(scope: RunScope, fut: F) -> F::Output {
    RUN.scope(scope, fut).await
}

/// The progress level of the run being polled (0 outside any run).
pub fn run_progress() -> u8 {
    RUN.try_with(|r| r.progress).unwrap_or(0)
}

fn ctx() -> Arc<SuiteCtx> {
    // cucumber creates each World while polling the future the runner wraps in `in_run`.
    RUN.try_with(|r| r.ctx.clone())
        .expect("a World is created only inside a run (runner::run_with)")
}

/// One scenario's state.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct AuthWorld {
    /// The run's shared context.
    pub ctx: Arc<SuiteCtx>,
    /// The run's MCP client, its requests sent by this scenario (set by the runner's `before`
    /// hook): the circuit breaker names where the server stopped answering.
    pub mcp: McpClient,
    /// A short id unique to this scenario.
    pub id: String,
    /// This scenario's user on mock-as (created on first use).
    pub user: Option<String>,
    /// The OAuth client id its tokens name.
    pub client_id: String,
    /// The token the next request sends.
    pub token: Option<String>,
    /// How to send it (default `Authorization: Bearer`).
    pub auth_override: Option<Auth>,
    /// What the token is, for reports.
    pub token_note: String,
    /// The MCP session, once opened.
    pub session: Option<String>,
    /// Every exchange, in order.
    pub exchanges: Vec<Exchange>,
    /// Named Connections Policy rules this scenario added (removed after it).
    pub rules: Vec<String>,
    /// Ids of the mock-as faults this scenario armed (cleared after it).
    pub faults: Vec<u64>,
    /// mock-as journal position when the scenario started its action.
    pub journal_mark: u64,
    /// The protected resource metadata the client fetched (discovery).
    pub prm: Option<FetchedMetadata>,
    /// What the server's origin answered for authorization server metadata (2025-03-26).
    pub origin_as: Option<OriginAnswer>,
    /// The scopes the Bearer challenge of a refused tool call asked for (scope).
    pub challenged: Vec<String>,
    /// The signing keys of the rotation this scenario made (key rotation).
    pub rotation: Option<Rotation>,
    /// The id of a mock-as fault a step armed and has not cleared yet (key rotation).
    pub armed_fault: Option<u64>,
    /// The valid token the scenario's session was opened with (session).
    pub owner_token: Option<String>,
    /// Another user, with a valid token of their own (session).
    pub second_user: Option<SecondUser>,
    /// The ids of the sessions the scenario opened, in order (session).
    pub session_ids: Vec<String>,
    /// The connection-backed tool the scenario set up, and its connection (connections).
    pub connection: Option<ConnectionSetup>,
    /// Ids of the scenario's stored connections seen so far, each once (a revoked or replaced
    /// one still counts as the scenario's in the journal).
    pub connection_ids: Vec<String>,
    /// Access tokens of those connections, each once.
    pub connection_tokens: Vec<String>,
    /// The user-level connection the passthrough scenarios stored.
    pub upstream_connection: Option<UserConnection>,
    /// The OAuth proxy's authorization flow so far (passthrough, checklist 53).
    pub proxy: ProxyFlow,
    /// Scenario start.
    pub started: Instant,
}

/// A protected resource metadata document as the client fetched it.
#[derive(Debug, Clone)]
pub struct FetchedMetadata {
    /// Where it was served.
    pub url: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// The document (`null` if the body was not JSON).
    pub doc: Value,
}

/// What the server's origin answered at `/.well-known/oauth-authorization-server`.
#[derive(Debug, Clone)]
pub struct OriginAnswer {
    /// The URL asked.
    pub url: String,
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// The body (or why there was none).
    pub body: String,
}

/// A signing-key rotation at mock-as.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The key it signed with before (may be empty if mock-as named none).
    pub previous_kid: String,
    /// The key it signs with now.
    pub new_kid: String,
}

/// A second user of the scenario, with a valid token of their own.
#[derive(Debug, Clone)]
pub struct SecondUser {
    /// Their user id on mock-as.
    pub id: String,
    /// Their token.
    pub token: String,
}

/// Who a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionLevel {
    /// The scenario's user.
    User,
    /// A tenant (its id).
    Tenant(String),
}

/// The connection-backed tool a connections scenario set up.
#[derive(Debug, Clone)]
pub struct ConnectionSetup {
    /// The tool's name.
    pub tool: String,
    /// Its outbound app.
    pub app: String,
    /// The provider scopes the connection asks for.
    pub scopes: Vec<String>,
    /// User- or tenant-level.
    pub level: ConnectionLevel,
}

impl ConnectionSetup {
    /// The tenant of a tenant-level connection.
    pub fn tenant(&self) -> Option<&str> {
        match &self.level {
            ConnectionLevel::Tenant(t) => Some(t),
            ConnectionLevel::User => None,
        }
    }
}

/// A user-level connection stored for the scenario's user.
#[derive(Debug, Clone)]
pub struct UserConnection {
    /// The tool that uses it.
    pub tool: String,
    /// Its outbound app.
    pub app: String,
    /// The stored access token (may be empty if mock-as answered none).
    pub token: String,
}

/// An authorization flow at the server's OAuth proxy; empty strings until set.
#[derive(Debug, Clone, Default)]
pub struct ProxyFlow {
    /// The client id dynamic registration gave.
    pub client_id: String,
    /// The proxy's authorization endpoint.
    pub authorization_endpoint: String,
    /// The redirect URI registered.
    pub redirect_uri: String,
    /// The `state` sent.
    pub state: String,
    /// The redirect URI the last authorization request sent.
    pub sent_redirect_uri: String,
    /// Every response of the last authorization request, in order (URL, status, `Location`,
    /// content type, framing headers, cookies).
    pub hops: Vec<Value>,
}

impl AuthWorld {
    fn new() -> AuthWorld {
        let id = scenario_id();
        let ctx = ctx();
        AuthWorld {
            mcp: ctx.mcp.clone(),
            ctx,
            client_id: format!("authcheck-{id}"),
            id,
            user: None,
            token: None,
            auth_override: None,
            token_note: "no token".into(),
            session: None,
            exchanges: Vec::new(),
            rules: Vec::new(),
            faults: Vec::new(),
            journal_mark: 0,
            prm: None,
            origin_as: None,
            challenged: Vec::new(),
            rotation: None,
            armed_fault: None,
            owner_token: None,
            second_user: None,
            session_ids: Vec::new(),
            connection: None,
            connection_ids: Vec::new(),
            connection_tokens: Vec::new(),
            upstream_connection: None,
            proxy: ProxyFlow::default(),
            started: Instant::now(),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.ctx.profile
    }

    /// Fail the step with the last exchange attached (request, token, response).
    #[track_caller]
    pub fn fail(&self, what: &str) -> ! {
        match self.exchanges.last() {
            Some(e) => panic!("{what}\n{}", e.describe()),
            None => panic!("{what}"),
        }
    }

    /// Keep an exchange; once the server stopped answering (the run's circuit breaker tripped),
    /// end the scenario with that line instead of letting it wait on a dead server.
    #[track_caller]
    pub fn record(&mut self, ex: Exchange) -> &Exchange {
        if let Some(line) = self.mcp.stopped() {
            panic!("{line}");
        }
        self.exchanges.push(ex);
        self.last()
    }

    /// The last exchange (a step that needs one when none happened is a suite bug).
    #[track_caller]
    pub fn last(&self) -> &Exchange {
        match self.exchanges.last() {
            Some(e) => e,
            None => panic!("no request was sent yet"),
        }
    }

    /// This scenario's user: created with a role of its own, so policies can be scoped to it.
    pub async fn user(&mut self) -> String {
        if let Some(u) = &self.user {
            return u.clone();
        }
        let id = format!("U2ac{}", self.id);
        let role = self.role();
        if let Err(e) = self.ctx.mock.put_user(&id, &[role], &[]).await {
            panic!("could not create the scenario user: {e}");
        }
        self.user = Some(id.clone());
        id
    }

    /// The scenario's own role.
    pub fn role(&self) -> String {
        format!("authcheck-{}", self.id)
    }

    /// Make the user a member of a tenant (the profile's connection tenant).
    pub async fn join_tenant(&mut self, tenant: &str) {
        let id = self.user().await;
        let role = self.role();
        if let Err(e) = self
            .ctx
            .mock
            .put_user(
                &id,
                std::slice::from_ref(&role),
                &[(tenant.to_string(), vec![role.clone()])],
            )
            .await
        {
            panic!("could not add the scenario user to tenant {tenant}: {e}");
        }
    }

    /// The mint request every token of a scenario starts from: the profile's server entry,
    /// issuer style and resource, this scenario's client, `user` and `scopes`.
    pub fn mint_request(&self, user: &str, scopes: Vec<String>) -> MintRequest {
        let p = self.profile();
        MintRequest::new(
            &p.mock_as.mcp_server_id,
            user,
            &self.client_id,
            scopes,
            p.resource(),
        )
        .issuer(p.mint_issuer())
    }

    /// Mint a token for this scenario's user: `scopes` (default every scope the profile names),
    /// an optional mock-as flaw, extra claims; it becomes the token the next request sends.
    pub async fn mint(
        &mut self,
        scopes: Option<Vec<String>>,
        flaw: Option<&str>,
        claims: Option<Value>,
        note: &str,
    ) -> String {
        let user = self.user().await;
        let p = self.profile().clone();
        let defaulted = scopes.is_none();
        let mut scopes = scopes.unwrap_or_else(|| p.all_scopes());
        if defaulted
            && !scopes.iter().any(|s| s == "outbound.token.fetch")
            && p.tools.iter().any(|t| t.connection.is_some())
        {
            // Connection-backed tools need it to exchange the token; it is part of "valid".
            scopes.push("outbound.token.fetch".into());
        }
        // A claim given as null means "no such claim at all" (mock-as removes it).
        let mut claims = claims;
        let mut remove = Vec::new();
        if let Some(Value::Object(o)) = claims.as_mut() {
            remove = o
                .iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k.clone())
                .collect();
            o.retain(|_, v| !v.is_null());
        }
        let req = self
            .mint_request(&user, scopes)
            .claims(claims)
            .remove_claims(remove)
            .flaw(flaw);
        match self.ctx.mock.mint(&req).await {
            Ok(t) => {
                self.token = Some(t.clone());
                self.token_note = note.to_string();
                t
            }
            Err(e) => panic!("mock-as could not mint a token ({note}): {e}"),
        }
    }

    /// A valid token with every scope the profile names.
    pub async fn valid_token(&mut self) -> String {
        self.mint(None, None, None, "a valid token").await
    }

    /// A valid token with only the required scopes.
    pub async fn minimal_token(&mut self) -> String {
        let req = self.profile().auth.required_scopes.clone();
        self.mint(
            Some(req),
            None,
            None,
            "a token with only the required scopes",
        )
        .await
    }

    /// How the next request authenticates.
    pub fn auth(&self) -> Auth {
        if let Some(a) = &self.auth_override {
            return a.clone();
        }
        match &self.token {
            Some(t) => Auth::Bearer(t.clone()),
            None => Auth::None,
        }
    }

    /// Send `initialize` (no session yet).
    pub async fn initialize(&mut self) -> &Exchange {
        let ex = self
            .mcp
            .initialize(&self.auth(), &self.token_note, &[])
            .await;
        self.record(ex)
    }

    /// Open a session: initialize + initialized; keeps the session id.
    pub async fn open(&mut self) -> &Exchange {
        let ex = self.mcp.open(&self.auth(), &self.token_note).await;
        if (200..300).contains(&ex.status) {
            self.session = ex.session_id();
        }
        self.record(ex)
    }

    /// `tools/list`, opening a session first if the server keeps them and none is open.
    pub async fn list_tools(&mut self) -> &Exchange {
        if self.session.is_none() && self.profile().stateful() {
            let st = self.open().await.status;
            if !(200..300).contains(&st) {
                return self.last();
            }
        }
        let ex = self
            .mcp
            .list_tools(&self.auth(), &self.token_note, self.session.as_deref())
            .await;
        self.record(ex)
    }

    /// `tools/call` with the profile's arguments for that tool.
    pub async fn call_tool(&mut self, name: &str) -> &Exchange {
        if self.session.is_none() && self.profile().stateful() {
            let st = self.open().await.status;
            if !(200..300).contains(&st) {
                return self.last();
            }
        }
        let args = self
            .profile()
            .tool(name)
            .map(|t| serde_json::to_value(&t.arguments).unwrap_or(json!({})))
            .unwrap_or(json!({}));
        let ex = self
            .mcp
            .call_tool(
                &self.auth(),
                &self.token_note,
                self.session.as_deref(),
                name,
                args,
            )
            .await;
        self.record(ex)
    }

    /// Send a raw request (method, session, body, headers) and record it.
    pub async fn raw(
        &mut self,
        method: reqwest::Method,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> &Exchange {
        let ex = self
            .mcp
            .send(
                method,
                &self.auth(),
                &self.token_note,
                self.session.as_deref(),
                body,
                headers,
            )
            .await;
        self.record(ex)
    }

    /// Assert the last status.
    #[track_caller]
    pub fn expect_status(&self, want: u16) {
        if self.last().status != want {
            self.fail(&format!("expected HTTP {want}, got {}", self.last().status));
        }
    }

    /// Assert a rejection: 401 (or, where `also_400`, a 400 for a malformed header).
    #[track_caller]
    pub fn expect_rejected(&self, also_400: bool) {
        let s = self.last().status;
        if !(s == 401 || (also_400 && s == 400)) {
            self.fail(&format!(
                "expected the server to reject the request with 401{}, got {s}",
                if also_400 { " (or 400)" } else { "" }
            ));
        }
    }

    /// The last response's Bearer challenge (fails the step if absent or unparsable).
    #[track_caller]
    pub fn challenge(&self) -> Challenge {
        match self.last().bearer_challenge() {
            Ok(Some(c)) => c,
            Ok(None) => {
                self.fail("expected a WWW-Authenticate header with a Bearer challenge, found none")
            }
            Err(e) => self.fail(&format!("the WWW-Authenticate header does not parse: {e}")),
        }
    }

    /// Remember the journal position before an action, to read what happened after it. A
    /// journal that cannot be read fails the step: "nothing happened" needs evidence.
    pub async fn mark_journal(&mut self) {
        match self.ctx.mock.journal_mark().await {
            Ok(m) => self.journal_mark = m,
            Err(e) => panic!("cannot read mock-as's journal, so nothing can be told from it: {e}"),
        }
    }

    /// Journal entries for `endpoint` since the mark (an unreadable journal fails the step).
    pub async fn journal_since_mark(&self, endpoint: &str) -> Vec<Value> {
        match self.ctx.mock.journal(endpoint, self.journal_mark).await {
            Ok(v) => v,
            Err(e) => panic!("cannot read mock-as's journal, so nothing can be told from it: {e}"),
        }
    }

    /// Connection-token fetches made with this scenario user's tokens since the mark.
    pub async fn connection_fetches_since_mark(&mut self) -> usize {
        let user = self.user().await;
        self.journal_since_mark("connections")
            .await
            .iter()
            .filter(|e| {
                e.pointer("/connection/subject").and_then(Value::as_str) == Some(user.as_str())
            })
            .count()
    }

    /// Add a Connections Policy rule scoped to this scenario's user (removed after it).
    pub async fn allow_connection(&mut self, app: &str, scopes: &[String]) {
        let user = self.user().await;
        let name = format!("authcheck-{}-{}", self.id, self.rules.len());
        let scopes: Vec<String> = if scopes.is_empty() {
            vec!["*".into()]
        } else {
            scopes.to_vec()
        };
        let rule = json!({"name": name, "apps": [app], "scopes": scopes, "users": [user]});
        if let Err(e) = self.ctx.mock.add_rule(rule).await {
            panic!("could not add a policy rule: {e}");
        }
        self.rules.push(name);
    }

    /// After a failed scenario that rotated mock-as's signing key: sign with the previous key
    /// again (re-published if the scenario retired it), so a server that never learned the new
    /// key does not fail every later scenario too. Errors are printed, not raised: the scenario
    /// has already failed for its own reason.
    pub async fn undo_rotation(&mut self) {
        let Some(previous) = self.rotation.as_ref().map(|r| r.previous_kid.clone()) else {
            return;
        };
        match self
            .ctx
            .mock
            .post(
                "/_mock/keys/activate",
                serde_json::json!({ "kid": previous }),
            )
            .await
        {
            Ok(_) => eprintln!(
                "[{}] the scenario failed after a key rotation: mock-as signs with {previous} again",
                self.id
            ),
            Err(e) => eprintln!(
                "[{}] the scenario failed after a key rotation, and mock-as could not go back to {previous}: {e}; later scenarios may fail because of it",
                self.id
            ),
        }
    }

    /// Remove this scenario's policy rules (denies its connections again) and the faults it
    /// armed.
    pub async fn remove_rules(&mut self) {
        for r in std::mem::take(&mut self.rules) {
            let _ = self.ctx.mock.delete_rule(&r).await;
        }
        for id in std::mem::take(&mut self.faults) {
            let _ = self.ctx.mock.delete(&format!("/_mock/faults/{id}")).await;
        }
    }

    /// Arm a mock-as fault on this scenario's own user's requests (`fault` as `POST
    /// /_mock/faults` takes it, without `user`); cleared after the scenario.
    pub async fn arm_user_fault(&mut self, mut fault: Value) {
        fault["user"] = Value::String(self.user().await);
        match self.ctx.mock.post("/_mock/faults", fault.clone()).await {
            Ok(v) => match v["id"].as_u64() {
                Some(id) => self.faults.push(id),
                None => panic!("mock-as armed the fault {fault} but answered no id: {v}"),
            },
            Err(e) => panic!("could not arm the fault {fault} at mock-as: {e}"),
        }
    }
}

/// A scenario id unique in this process (a counter) and across runs (the clock).
fn scenario_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    format!("{:06x}{n:05x}", t & 0xff_ffff)
}
