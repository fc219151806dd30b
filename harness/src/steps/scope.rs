//! Steps of `scope.feature`: insufficient-scope answers, their challenge, and the step-up round
//! trip (checklist 30-38).
//!
//! "The tool that needs an extra scope" is the profile's [`Profile::scoped_tool`]; what it needs
//! is `auth.required_scopes` plus the tool's `scopes`. Tokens for the round trip are minted with
//! exactly the scopes the step names (see [`mint_exact`]), read back from the token itself.
//!
//! [`Profile::scoped_tool`]: crate::profile::Profile::scoped_tool

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cucumber::{given, then, when};
use serde_json::Value;

use super::audience::mint_exact;
use crate::profile::{Tool, minus, union};
use crate::refusal::{CallVerdict, classify};
use crate::world::AuthWorld;

/// The profile's tool that needs a scope beyond the required ones (`@tool-scope` scenarios are
/// skipped when there is none, so its absence here is a suite bug).
fn scoped_tool(w: &AuthWorld) -> Tool {
    match w.profile().scoped_tool() {
        Some(t) => t.clone(),
        None => panic!(
            "the profile has no tool that needs a scope beyond required_scopes (the scenario should have been skipped: tag it @tool-scope)"
        ),
    }
}

/// Every scope a call of `tool` needs: the server-wide ones, then the tool's own.
fn needed_scopes(w: &AuthWorld, tool: &Tool) -> Vec<String> {
    union(&w.profile().auth.required_scopes, &tool.scopes)
}

/// The scopes a JWT grants (`scope` string, else a `scopes` array), read without verification:
/// the suite minted it, it only needs to know what it asked for.
fn granted_scopes(token: &str) -> Vec<String> {
    let claims: serde_json::Map<String, Value> = token
        .split('.')
        .nth(1)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    mock_as::tokens::token_scopes(&claims)
}

/// The scopes the current token grants.
fn current_scopes(w: &AuthWorld) -> Vec<String> {
    w.token.as_deref().map(granted_scopes).unwrap_or_default()
}

/// The scopes the scoped tool needs that the current token lacks; fails the step when there
/// are none, since a refusal could then not be about scope (a set-up or profile problem).
#[track_caller]
fn lacking(w: &AuthWorld, tool: &Tool) -> Vec<String> {
    let missing = minus(&needed_scopes(w, tool), &current_scopes(w));
    if missing.is_empty() {
        panic!(
            "set-up: the token ({}) already holds every scope {} needs ({}); check the tool's scopes in the profile",
            w.token_note,
            tool.name,
            needed_scopes(w, tool).join(" ")
        );
    }
    missing
}

/// Make a connection-backed tool able to succeed for the scenario user: store a user-level
/// connection token and allow it by policy (a tool without a connection needs nothing).
async fn prepare_connection(w: &mut AuthWorld, tool: &Tool) {
    let Some(c) = &tool.connection else { return };
    if c.level != "user" {
        // Tenant connections need tenant membership and a tenant token: connections.feature's
        // business; scoped_tool() prefers tools without a connection anyway.
        return;
    }
    let user = w.user().await;
    let scopes = (!c.scopes.is_empty()).then_some(c.scopes.as_slice());
    if let Err(e) = w
        .ctx
        .mock
        .add_connection(&c.app_id, Some(&user), None, scopes)
        .await
    {
        panic!(
            "set-up: could not store a {} connection for the scenario user: {e}",
            c.app_id
        );
    }
    w.allow_connection(&c.app_id, &c.scopes).await;
}

#[given("the client has listed the tools with that token")]
async fn listed_tools(w: &mut AuthWorld) {
    w.list_tools().await;
    let e = w.last();
    if e.result().is_none() || !(200..300).contains(&e.status) {
        w.fail("set-up: tools/list did not succeed with a token that has the required scopes");
    }
}

#[given("the client has been refused the tool that needs an extra scope")]
async fn refused_scoped(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let missing = lacking(w, &tool);
    w.call_tool(&tool.name).await;
    if w.last().tool_ok() {
        w.fail(&format!(
            "{} ran for a token that lacks {}: the server does not enforce the tool's scopes",
            tool.name,
            missing.join(" ")
        ));
    }
    let challenged = w
        .last()
        .bearer_challenge()
        .ok()
        .flatten()
        .map(|c| c.scopes())
        .unwrap_or_default();
    w.challenged = challenged;
}

#[when("the client calls the tool that needs an extra scope")]
async fn call_scoped(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    // What the call makes the server fetch is evidence of whether the tool ran (crate::refusal).
    w.mark_journal().await;
    w.call_tool(&tool.name).await;
}

#[when("the client calls a tool that needs no extra scope")]
async fn call_plain(w: &mut AuthWorld) {
    // Without such a tool, tools/list is the operation every token with the required scopes
    // must be able to do.
    match w.profile().plain_tool().map(|t| t.name.clone()) {
        Some(name) => w.call_tool(&name).await,
        None => w.list_tools().await,
    };
}

/// The scopes the last challenge asked for; when it named none (checklist 32's business), the
/// ones the profile says the tool needs, as a client falls back to what it knows.
fn challenged_or_needed(w: &AuthWorld, tool: &Tool) -> (Vec<String>, &'static str) {
    let challenged = w.challenged.clone();
    if challenged.is_empty() {
        (
            needed_scopes(w, tool),
            "the challenge named no scope: the profile's",
        )
    } else {
        (challenged, "challenged")
    }
}

#[when("the authorization server grants the token's scopes and the challenged ones")]
async fn grant_union(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let (wanted, source) = challenged_or_needed(w, &tool);
    let scopes = union(&current_scopes(w), &wanted);
    prepare_connection(w, &tool).await;
    let resource = w.profile().resource().to_string();
    let note = format!(
        "a stepped-up token: the first token's scopes plus the {source} ones ({})",
        scopes.join(" ")
    );
    mint_exact(w, &resource, scopes, None, None, &note).await;
}

#[when("the authorization server grants all but one of the challenged scopes")]
async fn grant_partial(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let (wanted, source) = challenged_or_needed(w, &tool);
    let granted = current_scopes(w);
    // Withhold a scope the tool needs and the token lacks, so the new token really falls short.
    let Some(withheld) = lacking(w, &tool).pop() else {
        unreachable!("lacking() fails the step when nothing is missing")
    };
    let scopes = minus(&union(&granted, &wanted), std::slice::from_ref(&withheld));
    let resource = w.profile().resource().to_string();
    let note = format!(
        "a partially stepped-up token: the {source} scopes without {withheld} ({})",
        scopes.join(" ")
    );
    mint_exact(w, &resource, scopes, None, None, &note).await;
}

#[given("a token with a broader scope instead of the one the tool needs")]
async fn broader_scope(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let Some((narrow, broad)) = w.profile().broader_scope_for(&tool) else {
        w.fail(&format!(
            "set-up: the profile's auth.scope_hierarchy implies none of {}'s scopes (the scenario should have been skipped)",
            tool.name
        ));
    };
    // Every scope the call needs, with the narrower one replaced by the broader one.
    let scopes = union(
        &minus(&needed_scopes(w, &tool), std::slice::from_ref(&narrow)),
        std::slice::from_ref(&broad),
    );
    prepare_connection(w, &tool).await;
    let resource = w.profile().resource().to_string();
    let note = format!(
        "a token with {broad} (which the profile says implies {narrow}) instead of {narrow} ({})",
        scopes.join(" ")
    );
    mint_exact(w, &resource, scopes, None, None, &note).await;
}

#[then("the server refuses it with 403")]
async fn refused_403(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let e = w.last();
    let s = e.status;
    if s == 403 {
        return;
    }
    let missing = minus(&needed_scopes(w, &tool), &current_scopes(w)).join(" ");
    if e.tool_ok() {
        w.fail(&format!(
            "{} ran for a token that lacks {missing}; expected HTTP 403",
            tool.name
        ));
    }
    if (200..300).contains(&s) {
        let how = if e.rpc_error().is_some() {
            "a JSON-RPC error"
        } else {
            "a tool error result"
        };
        w.fail(&format!(
            "answered HTTP {s} with {how}; insufficient scope SHOULD be an HTTP 403 with an insufficient_scope challenge (2025-11-25 §Runtime Insufficient Scope Errors), the answer clients step up on"
        ));
    }
    if s == 401 {
        w.fail("answered 401; insufficient scope is a 403 (RFC 6750 §3.1): a 401 tells the client its token is invalid, so it discards a good token instead of asking for more scope");
    }
    w.fail(&format!(
        "expected HTTP 403 for insufficient scope, got {s}"
    ));
}

#[then("the challenge names every scope the tool needs")]
async fn challenge_names_all(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let needed = needed_scopes(w, &tool);
    let c = w.challenge();
    let named = c.scopes();
    if named.is_empty() {
        w.fail(
            "the challenge has no scope parameter: the client cannot tell which scopes to ask for",
        );
    }
    // 2026-07-28 clients add the challenged scopes to those they hold, so a server need not
    // repeat granted ones; earlier clients ask for exactly the challenged scopes, so the
    // challenge must name all the operation needs.
    let accumulate = w.profile().server.protocol_version.as_str() >= "2026-07-28";
    let known = if accumulate {
        union(&named, &current_scopes(w))
    } else {
        named.clone()
    };
    let missing = minus(&needed, &known);
    if !missing.is_empty() {
        w.fail(&format!(
            "the challenge names {:?} but {} needs {:?}: {} missing, so a client that asks for the challenged scopes{} is refused again",
            named.join(" "),
            tool.name,
            needed.join(" "),
            missing.join(" "),
            if accumulate { " on top of its own" } else { "" }
        ));
    }
}

#[then("the tool call succeeds")]
async fn tool_call_succeeds(w: &mut AuthWorld) {
    if !w.last().tool_ok() {
        w.fail("expected the tool call to succeed (HTTP 2xx with a result that is not isError)");
    }
}

#[then("the call succeeds")]
async fn call_succeeds(w: &mut AuthWorld) {
    let e = w.last();
    let ok = if e.rpc_method.as_deref() == Some("tools/call") {
        e.tool_ok()
    } else {
        (200..300).contains(&e.status) && e.result().is_some() && e.rpc_error().is_none()
    };
    if !ok {
        w.fail("expected the call to succeed with a token that has the scopes it needs (the required ones)");
    }
}

#[then("the client can still do what the first token allowed")]
async fn earlier_operations_work(w: &mut AuthWorld) {
    w.list_tools().await;
    let e = w.last();
    if !(200..300).contains(&e.status) || e.result().is_none() {
        w.fail("tools/list no longer works with the stepped-up token");
    }
    if let Some(name) = w.profile().plain_tool().map(|t| t.name.clone()) {
        w.call_tool(&name).await;
        if !w.last().tool_ok() {
            w.fail(&format!(
                "{name}, which the first token could call, fails with the stepped-up token"
            ));
        }
    }
}

#[then("the tool does not run")]
async fn tool_does_not_run(w: &mut AuthWorld) {
    let tool = scoped_tool(w);
    let missing = minus(&needed_scopes(w, &tool), &current_scopes(w));
    // A connection-backed tool fetches its connection token first: that shows it ran.
    let traces = if tool.connection.is_some() {
        Some(w.connection_fetches_since_mark().await)
    } else {
        None
    };
    match classify(w.last(), &missing, traces) {
        CallVerdict::Refused(_) => {}
        CallVerdict::Ran(why) => w.fail(&format!(
            "{} ran for a token that lacks {} ({why}): scope-protected tools must be enforced when called directly",
            tool.name,
            missing.join(" ")
        )),
        CallVerdict::Neither(what) => w.fail(&format!(
            "expected a refusal of {} (HTTP 403 or 401, a JSON-RPC error, or a tool error before it runs), got {what}",
            tool.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_granted_scopes_from_either_claim() {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let t = format!("h.{}.s", enc(serde_json::json!({"scope": "a b"})));
        assert_eq!(granted_scopes(&t), vec!["a", "b"]);
        let t = format!("h.{}.s", enc(serde_json::json!({"scopes": ["c"]})));
        assert_eq!(granted_scopes(&t), vec!["c"]);
        assert!(granted_scopes("garbage").is_empty());
    }

    #[test]
    fn set_arithmetic_keeps_order() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(union(&s(&["a", "b"]), &s(&["b", "c"])), s(&["a", "b", "c"]));
        assert_eq!(minus(&s(&["a", "b", "c"]), &s(&["b"])), s(&["a", "c"]));
    }
}

#[then("the server refuses the request with 403 insufficient_scope")]
async fn refused_403_server_wide(w: &mut AuthWorld) {
    let s = w.last().status;
    if s != 403 {
        w.fail(&format!(
            "expected HTTP 403 for a token that lacks the server-wide scopes {:?}, got {s} (2025-11-25 §Runtime Insufficient Scope Errors)",
            w.profile().auth.required_scopes
        ));
    }
    let c = w.challenge();
    if c.param("error") != Some("insufficient_scope") {
        w.fail(&format!(
            "expected error=\"insufficient_scope\" in the challenge, found {:?}",
            c.param("error")
        ));
    }
}
