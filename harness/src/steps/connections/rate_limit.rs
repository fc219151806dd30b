//! Steps of `connections.feature`'s rate-limit scenarios (C9, C10): the authorization server
//! answers the user's connection fetches with 429 and `Retry-After` (a mock-as fault on the
//! scenario's own user); the tool must fail cleanly, never send the MCP token upstream, and
//! should say when to retry.

use cucumber::{given, then};
use serde_json::{Value, json};

use super::our_upstream_entries;
use crate::world::AuthWorld;

#[given(
    regex = r"^the authorization server rate-limits the user's connection fetches, asking to retry after (\d+) seconds$"
)]
async fn connection_fetches_rate_limited(w: &mut AuthWorld, secs: u64) {
    w.arm_user_fault(json!({
        "endpoint": "connections",
        "status": 429,
        "headers": {"Retry-After": secs.to_string()},
    }))
    .await;
}

/// JSON-RPC's "Internal error" (JSON-RPC 2.0 §5.1): the MCP form of a server error.
const JSONRPC_INTERNAL_ERROR: i64 = -32603;

#[then("the connection-backed tool fails cleanly")]
async fn tool_fails_cleanly(w: &mut AuthWorld) {
    let e = w.last();
    if e.status == 0 {
        w.fail("the server did not answer");
    }
    if !(200..300).contains(&e.status) {
        w.fail(&format!(
            "a rate-limited connection fetch answered HTTP {}: the caller's authorization is fine, so expected HTTP 200 with a tool error (the authorization server only asked to retry later)",
            e.status
        ));
    }
    if let Some(err) = e.rpc_error()
        && err.get("code").and_then(Value::as_i64) == Some(JSONRPC_INTERNAL_ERROR)
    {
        w.fail(&format!(
            "a rate-limited connection fetch became a JSON-RPC internal error ({err}): a server error, where a tool error would tell the user what happened"
        ));
    }
    if e.tool_ok() {
        w.fail(
            "the connection-backed tool succeeded although the authorization server refused every connection fetch of the user (429)",
        );
    }
}

#[then("the third-party API did not see the MCP token")]
async fn upstream_did_not_see_mcp_token(w: &mut AuthWorld) {
    let mcp = w.token.clone().unwrap_or_default();
    let passthrough: Vec<Value> = our_upstream_entries(w)
        .await
        .into_iter()
        .filter(|e| {
            e.get("passthrough").and_then(Value::as_bool) == Some(true)
                || e.get("authorization")
                    .and_then(Value::as_str)
                    .is_some_and(|a| !mcp.is_empty() && a.contains(&mcp))
        })
        .collect();
    if !passthrough.is_empty() {
        w.fail(&format!(
            "with the connection fetch refused, the server sent the caller's MCP access token to the third-party API (token passthrough): {}",
            json!(passthrough)
        ));
    }
}

/// Words that tell a user to try again later.
const RETRY_WORDS: [&str; 6] = [
    "retry",
    "try again",
    "again in",
    "later",
    "wait",
    "retry-after",
];

#[then("the tool error says when to retry")]
async fn tool_error_says_when_to_retry(w: &mut AuthWorld) {
    let e = w.last();
    if e.tool_ok() {
        w.fail(
            "the connection-backed tool succeeded although every connection fetch was rate-limited",
        );
    }
    // What the user reads: the tool result's text content, or a JSON-RPC error's message.
    let mut said: Vec<String> = e
        .result()
        .and_then(|r| r.get("content"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    if let Some(m) = e
        .rpc_error()
        .and_then(|err| err.get("message"))
        .and_then(Value::as_str)
    {
        said.push(m.to_string());
    }
    let said = said.join(" ").to_lowercase();
    if !RETRY_WORDS.iter().any(|k| said.contains(k)) {
        w.fail(&format!(
            "the error of a rate-limited connection fetch does not say to retry (none of {RETRY_WORDS:?}; the authorization server sent Retry-After): {}",
            e.describe()
        ));
    }
}
