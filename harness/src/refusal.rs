//! Was a tool call refused, or did the tool run? One place decides, for every MUST item that
//! asks for a refusal (checklist 36, 38). The *form* of a refusal — HTTP 403 with an
//! `insufficient_scope` challenge — is judged only by items 30–33 (SHOULD); here a server that
//! enforces the rule in another form (a JSON-RPC error, or an `isError` result given before the
//! tool runs, as Descope's Express SDK does) is not failed at MUST level.
//!
//! Rules, in order:
//! 1. HTTP 401 or 403: refused.
//! 2. A JSON-RPC error: refused (the protocol answered; no tool result exists).
//! 3. A successful tool result: the tool ran.
//! 4. An `isError` result:
//!    - whose text names a missing scope, or speaks of scope / permission / authorization, or is
//!      "unknown tool" (FastMCP hides what a token may not call): refused;
//!    - of a tool whose running is observable (a connection-backed tool fetches its connection
//!      token at mock-as first): refused when the journal shows no fetch by this call, ran when
//!      it shows one;
//!    - of a tool that leaves no trace: refused — nothing shows it ran, and a false MUST failure
//!      on a server that enforces the rule is the worst verdict the suite can give.
//! 5. Anything else (a 5xx, a 2xx without a result): not a refusal the item can accept.

use serde_json::Value;

use crate::mcp_client::Exchange;

/// What a tool call's answer shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallVerdict {
    /// The server refused the call; how.
    Refused(String),
    /// The tool ran; the evidence.
    Ran(String),
    /// Neither: the answer is no refusal an item can accept (a 5xx, no result at all).
    Neither(String),
}

/// Words in a tool error's text that mark it as an authorization refusal.
const REFUSAL_WORDS: &[&str] = &[
    "scope",
    "permission",
    "forbidden",
    "unauthorized",
    "unauthorised",
    "not authorized",
    "not allowed",
    "access denied",
    "insufficient",
    "unknown tool",
];

/// The text of a tool result's content blocks.
fn result_text(ex: &Exchange) -> String {
    ex.result()
        .and_then(|r| r.get("content"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Classify a tool call's answer. `missing` are the scopes the token lacked; `traces` is the
/// number of connection fetches the call made at mock-as when the tool is one whose running is
/// observable that way (`None`: the tool leaves no trace the suite can see).
pub fn classify(ex: &Exchange, missing: &[String], traces: Option<usize>) -> CallVerdict {
    let s = ex.status;
    if s == 401 || s == 403 {
        return CallVerdict::Refused(format!("HTTP {s}"));
    }
    if (200..300).contains(&s) && ex.rpc_error().is_some() {
        return CallVerdict::Refused("a JSON-RPC error".into());
    }
    if ex.tool_ok() {
        return CallVerdict::Ran("a successful tool result".into());
    }
    if (200..300).contains(&s) && ex.tool_error() {
        let text = result_text(ex);
        let lower = text.to_lowercase();
        if missing.iter().any(|m| text.contains(m.as_str()))
            || REFUSAL_WORDS.iter().any(|w| lower.contains(w))
        {
            return CallVerdict::Refused(format!(
                "a tool error result that names the refusal ({:?})",
                text.chars().take(120).collect::<String>()
            ));
        }
        return match traces {
            Some(0) => CallVerdict::Refused(
                "a tool error result, and the call left no trace of running (no connection fetch at the authorization server)".into(),
            ),
            Some(n) => CallVerdict::Ran(format!(
                "a tool error result after the tool fetched {n} connection token(s) at the authorization server: it ran"
            )),
            None => CallVerdict::Refused(
                "a tool error result, and nothing shows the tool ran (it leaves no trace the suite can observe)".into(),
            ),
        };
    }
    CallVerdict::Neither(format!(
        "HTTP {s}{}",
        if ex.result().is_none() && ex.rpc_error().is_none() {
            " without a JSON-RPC answer"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    fn ex(status: u16, message: Option<Value>) -> Exchange {
        Exchange {
            method: "POST".into(),
            url: "http://x/mcp".into(),
            token_note: "t".into(),
            rpc_method: Some("tools/call".into()),
            status,
            headers: HeaderMap::new(),
            body: String::new(),
            message,
            failure: None,
            cut: None,
        }
    }
    fn tool_error(text: &str) -> Exchange {
        ex(
            200,
            Some(
                json!({"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": text}], "isError": true}}),
            ),
        )
    }
    fn missing() -> Vec<String> {
        vec!["mcp:admin".to_string()]
    }
    fn refused(v: &CallVerdict) -> bool {
        matches!(v, CallVerdict::Refused(_))
    }

    #[test]
    fn http_and_protocol_refusals() {
        assert!(refused(&classify(&ex(403, None), &missing(), None)));
        assert!(refused(&classify(&ex(401, None), &missing(), Some(3))));
        let rpc = ex(
            200,
            Some(json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "x"}})),
        );
        assert!(refused(&classify(&rpc, &missing(), Some(1))));
    }

    #[test]
    fn a_successful_result_ran() {
        let ok = ex(
            200,
            Some(json!({"jsonrpc": "2.0", "id": 3, "result": {"content": []}})),
        );
        assert!(matches!(
            classify(&ok, &missing(), None),
            CallVerdict::Ran(_)
        ));
    }

    #[test]
    fn tool_errors_naming_the_refusal_are_refusals() {
        for t in [
            "Tool admin_action requires scopes: mcp:admin",
            "Unknown tool: 'admin_action'",
            "Permission denied",
            "insufficient_scope",
        ] {
            // Even when the tool is observable and something was fetched: the text says why.
            assert!(
                refused(&classify(&tool_error(t), &missing(), Some(1))),
                "{t}"
            );
        }
    }

    #[test]
    fn other_tool_errors_are_judged_by_the_trace() {
        let e = tool_error("the calendar API answered 500");
        assert!(refused(&classify(&e, &missing(), Some(0))));
        assert!(matches!(
            classify(&e, &missing(), Some(2)),
            CallVerdict::Ran(_)
        ));
        assert!(refused(&classify(&e, &missing(), None)));
    }

    #[test]
    fn a_server_error_is_neither() {
        assert!(matches!(
            classify(&ex(500, None), &missing(), None),
            CallVerdict::Neither(_)
        ));
    }
}
