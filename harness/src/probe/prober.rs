//! The probe's state on mock-as and the requests it makes with tokens: minting a token for a
//! set of scopes, whether such a token is served or makes a tool call work, the smallest set
//! of scopes that does, every page of `tools/list`, and the connection fetches a call caused.

use serde_json::{Value, json};

use crate::as_client::{MintRequest, MockAsClient};
use crate::mcp_client::{Auth, Exchange, McpClient};
use crate::profile::IssuerStyle;

use super::wire::excerpt;
use super::{MAX_TOOL_PAGES, ProbeError};

/// One way of minting the probe tries: an issuer style with a server entry.
#[derive(Debug, Clone)]
pub(super) struct Candidate<'a> {
    pub(super) style: IssuerStyle,
    /// The `iss` its tokens carry.
    pub(super) issuer: String,
    pub(super) entry: &'a Entry,
}

/// A mock-as MCP server entry, from `GET /_mock/info`.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) issuer: String,
    pub(super) scopes: Vec<String>,
}

/// The probe's state: who it is on mock-as and what it learned so far.
pub(super) struct Prober<'a> {
    pub(super) mock: &'a MockAsClient,
    pub(super) mcp: McpClient,
    pub(super) user: String,
    pub(super) client: String,
    pub(super) tenant: Option<String>,
    pub(super) entry: String,
    /// Which of mock-as's issuers the probe's tokens come from.
    pub(super) style: IssuerStyle,
    pub(super) resource: String,
    pub(super) stateful: bool,
    /// Scopes a token "with everything" holds.
    pub(super) all: Vec<String>,
}

impl Prober<'_> {
    pub(super) async fn mint(&self, scopes: &[String]) -> Result<String, ProbeError> {
        let req = MintRequest::new(
            &self.entry,
            &self.user,
            &self.client,
            scopes.to_vec(),
            &self.resource,
        )
        .issuer(
            self.style
                .project_audience()
                .then(|| self.style.as_str().to_string()),
        )
        .tenant(self.tenant.clone());
        self.mock
            .mint(&req)
            .await
            .map_err(|e| ProbeError(format!("mock-as could not mint a token for the probe: {e}")))
    }

    /// Open a session (or, stateless, just initialize): the exchange and the session id.
    pub(super) async fn open(&self, token: &str) -> (Exchange, Option<String>) {
        let auth = Auth::Bearer(token.to_string());
        let ex = self.mcp.open(&auth, "a probe token").await;
        let sid = ex.session_id();
        (ex, sid)
    }

    /// Whether a token with `scopes` is served: initialize, then `tools/list`.
    pub(super) async fn served(&self, scopes: &[String]) -> Result<bool, ProbeError> {
        let token = self.mint(scopes).await?;
        let (init, sid) = self.open(&token).await;
        if !(200..300).contains(&init.status) || init.result().is_none() {
            return Ok(false);
        }
        let list = self
            .mcp
            .list_tools(&Auth::Bearer(token), "a probe token", sid.as_deref())
            .await;
        Ok((200..300).contains(&list.status) && list.result().is_some())
    }

    /// Call a tool with a token holding `scopes`.
    pub(super) async fn call(
        &self,
        scopes: &[String],
        tool: &str,
        args: &serde_json::Map<String, Value>,
    ) -> Result<Exchange, ProbeError> {
        let token = self.mint(scopes).await?;
        let (init, sid) = self.open(&token).await;
        if !(200..300).contains(&init.status) {
            return Ok(init);
        }
        Ok(self
            .mcp
            .call_tool(
                &Auth::Bearer(token),
                "a probe token",
                sid.as_deref(),
                tool,
                Value::Object(args.clone()),
            )
            .await)
    }

    /// The smallest subset of `start` (keeping `keep`) for which `ok` holds, found by leaving
    /// one scope out at a time; `start` itself is known to work.
    pub(super) async fn shrink<F, Fut>(
        &self,
        start: &[String],
        keep: &[String],
        ok: F,
    ) -> Result<Vec<String>, ProbeError>
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<bool, ProbeError>>,
    {
        let mut cur = start.to_vec();
        for s in start {
            if keep.contains(s) {
                continue;
            }
            let without: Vec<String> = cur.iter().filter(|c| *c != s).cloned().collect();
            if ok(without.clone()).await? {
                cur = without;
            }
        }
        Ok(cur)
    }

    /// `tools/list` with every scope, all pages.
    pub(super) async fn list_all_tools(&self) -> Result<Vec<Value>, ProbeError> {
        let token = self.mint(&self.all).await?;
        let (_, sid) = self.open(&token).await;
        let auth = Auth::Bearer(token);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for page in 0..MAX_TOOL_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let msg = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": params});
            let ex = self
                .mcp
                .send(
                    reqwest::Method::POST,
                    &auth,
                    "a probe token",
                    sid.as_deref(),
                    Some(msg),
                    &[],
                )
                .await;
            let Some(r) = ex.result() else {
                if page == 0 {
                    return Err(ProbeError(format!(
                        "{}: tools/list with a valid token holding every scope failed: HTTP {} {}",
                        self.mcp.url,
                        ex.status,
                        excerpt(&ex.body)
                    )));
                }
                break;
            };
            out.extend(
                r.get("tools")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            cursor = r
                .get("nextCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Call a tool and judge the outcome: a successful tool result, or — for a tool that
    /// `lenient`ly counts as working — a connection token the server got from mock-as during
    /// the call (the call itself may fail later, e.g. at the upstream API: the connection
    /// scenarios say why).
    pub(super) async fn works(
        &self,
        scopes: &[String],
        tool: &str,
        args: &serde_json::Map<String, Value>,
        lenient: bool,
    ) -> Result<(bool, Exchange), ProbeError> {
        let mark = self.mock.journal_mark().await.unwrap_or(0);
        let ex = self.call(scopes, tool, args).await?;
        if ex.tool_ok() {
            return Ok((true, ex));
        }
        let fetched = lenient && fetched_ok(&self.connection_fetches(mark).await);
        Ok((fetched, ex))
    }

    /// Connection fetches since `mark` that this probe's user made possible.
    pub(super) async fn connection_fetches(&self, mark: u64) -> Vec<Value> {
        self.mock
            .journal("connections", mark)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                let mut c = e.get("connection").cloned()?;
                // The fetch's outcome, for "the server got its connection token".
                c["status"] = e.get("status").cloned().unwrap_or(Value::Null);
                Some(c)
            })
            .filter(|c| {
                // The subject of the caller's token, when mock-as could read it, is ours.
                c.get("subject")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == self.user)
            })
            .collect()
    }
}

/// Whether one of these journaled connection fetches got a token (HTTP 200).
pub(super) fn fetched_ok(fetches: &[Value]) -> bool {
    fetches
        .iter()
        .any(|c| c.get("status").and_then(Value::as_u64) == Some(200))
}
