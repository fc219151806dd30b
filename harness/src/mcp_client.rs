//! A small MCP client over Streamable HTTP for black-box checks: it builds JSON-RPC messages
//! from rmcp's model types, sends them with reqwest, and keeps every byte-level detail of the
//! exchange (status, headers, raw body) for assertions and failure reports.

use reqwest::header::HeaderMap;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, Implementation, InitializeRequestParams,
};
use serde_json::{Value, json};

use crate::breaker::Breaker;
use crate::challenge::{self, Challenge};
use crate::http::{Cut, NoAnswer, Timeouts};

/// How a request authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// A raw `Authorization` header value (`bearer x`, `Basic ...`, `Bearer ` ...).
    Header(String),
    /// `?access_token=<token>` and no header.
    Query(String),
}

/// One HTTP exchange, kept whole for assertions and reports.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `POST`, `GET`, `DELETE`.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// What the token was (e.g. `expired token`), for reports.
    pub token_note: String,
    /// The JSON-RPC method sent, if any.
    pub rpc_method: Option<String>,
    /// HTTP status (0 = no answer).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Raw body (possibly SSE).
    pub body: String,
    /// The JSON-RPC response with the request's id, parsed from JSON or SSE.
    pub message: Option<Value>,
    /// Why there is no HTTP answer (`status` 0), classified.
    pub failure: Option<NoAnswer>,
    /// Why the body is incomplete (cap, body timeout, broken connection), if it is.
    pub cut: Option<Cut>,
}

impl Exchange {
    /// All `WWW-Authenticate` values.
    pub fn www_authenticate(&self) -> Vec<String> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
    /// The Bearer challenge, parsed (`Err` = the header does not parse).
    pub fn bearer_challenge(&self) -> Result<Option<Challenge>, challenge::ChallengeError> {
        let vals = self.www_authenticate();
        challenge::bearer(vals.iter().map(String::as_str))
    }
    /// `Mcp-Session-Id` of the response.
    pub fn session_id(&self) -> Option<String> {
        self.headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// The JSON-RPC `result`.
    pub fn result(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("result"))
    }
    /// The JSON-RPC `error`.
    pub fn rpc_error(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("error"))
    }
    /// A tool result with `isError: true`?
    pub fn tool_error(&self) -> bool {
        self.result()
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            == Some(true)
    }
    /// A successful tool result (HTTP 2xx, a result, not `isError`).
    pub fn tool_ok(&self) -> bool {
        (200..300).contains(&self.status) && self.result().is_some() && !self.tool_error()
    }
    /// For failure reports: request, token, status, challenge, body excerpt.
    pub fn describe(&self) -> String {
        let body: String = self.body.chars().take(300).collect();
        format!(
            "request: {} {}{} with {}\nresponse: {} | WWW-Authenticate: {} | body: {}",
            self.method,
            self.url,
            self.rpc_method
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            self.token_note,
            self.status,
            self.www_authenticate().join(" || "),
            body.replace('\n', "\\n")
        )
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct McpClient {
    http: reqwest::Client,
    /// The MCP endpoint.
    pub url: String,
    /// The protocol revision to speak.
    pub protocol_version: String,
    /// Bounds of each request, by kind.
    pub timeouts: Timeouts,
    /// The run's circuit breaker, if the client belongs to a run: every exchange reports to it,
    /// and once it tripped nothing is sent.
    breaker: Option<std::sync::Arc<Breaker>>,
    /// Who sends (the scenario's name), for the breaker's "stopped answering at …".
    who: std::sync::Arc<str>,
}

/// The first revision without an `initialize` handshake or sessions ("modern", 2026-07-28
/// §Versioning): every request carries its revision, and `server/discover` replaces the handshake.
pub const MODERN_REVISION: &str = "2026-07-28";

/// Whether `revision` is modern (2026-07-28 or later; ISO dates compare as strings).
pub fn is_modern(revision: &str) -> bool {
    revision >= MODERN_REVISION
}

/// A header value for `Mcp-Name` (2026-07-28 Streamable HTTP §Value Encoding): the value as is
/// when it is plain visible ASCII (spaces inside allowed) and not itself sentinel-shaped, else
/// `=?base64?<base64 of its UTF-8>?=`.
pub fn header_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b))
        && v.trim() == v
        && !(v.starts_with("=?base64?") && v.ends_with("?="));
    if plain {
        v.to_string()
    } else {
        use base64::Engine as _;
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
        )
    }
}

/// The request `_meta` a 2026-07-28 request carries (§Request Metadata): revision, client
/// identity and capabilities.
fn modern_meta(revision: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": revision,
        "io.modelcontextprotocol/clientInfo": {"name": "mcp-authcheck", "version": env!("CARGO_PKG_VERSION")},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// Pick the JSON-RPC message with `id` out of a JSON or SSE body.
pub fn find_message(body: &str, content_type: &str, id: Option<i64>) -> Option<Value> {
    let matches = |v: &Value| id.is_none_or(|i| v.get("id").and_then(Value::as_i64) == Some(i));
    if content_type.starts_with("text/event-stream") {
        // Events are separated by blank lines; `data:` lines of one event are joined by "\n".
        for event in body.replace("\r\n", "\n").split("\n\n") {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n"))
                && matches(&v)
            {
                return Some(v);
            }
        }
        None
    } else {
        serde_json::from_str::<Value>(body).ok().filter(matches)
    }
}

pub use crate::http::BODY_CAP;

/// Read a response body up to [`BODY_CAP`] and the body bound. An event stream is read only
/// until the JSON-RPC message with `id` has arrived (a server may keep the stream open after it:
/// waiting for its end would hang until the timeout). Returns the body (with a note when it was
/// cut), the message if found, and why the body was cut, if it was.
async fn read_bounded(
    resp: reqwest::Response,
    content_type: &str,
    id: Option<i64>,
    t: &Timeouts,
) -> (String, Option<Value>, Option<Cut>) {
    let sse = content_type.starts_with("text/event-stream");
    // Events before this offset have been looked at (each event is parsed once).
    let mut scanned = 0usize;
    let mut found: Option<Value> = None;
    let (buf, cut) = crate::http::read_body(resp, t, |buf| {
        if !(sse && id.is_some()) {
            return false;
        }
        let end = last_event_end(buf, scanned);
        if end > scanned {
            let fresh = String::from_utf8_lossy(&buf[scanned..end]).into_owned();
            scanned = end;
            found = find_message(&fresh, content_type, id);
        }
        found.is_some()
    })
    .await;
    let mut body = String::from_utf8_lossy(&buf).into_owned();
    let message = found.or_else(|| id.and_then(|_| find_message(&body, content_type, id)));
    if let Some(c) = &cut {
        body.push('\n');
        body.push_str(&c.note());
    }
    (body, message, cut)
}

/// The end of the last complete server-sent event in `buf` (after its blank line), looking
/// only at what came after `from` (what was scanned before is not searched again); 0 if none.
fn last_event_end(buf: &[u8], from: usize) -> usize {
    let start = from.saturating_sub(3).min(buf.len());
    let find = |pat: &[u8]| {
        buf[start..]
            .windows(pat.len())
            .rposition(|w| w == pat)
            .map(|i| start + i + pat.len())
            .unwrap_or(0)
    };
    find(b"\n\n").max(find(b"\r\n\r\n"))
}

impl McpClient {
    /// A client for an MCP endpoint with the default bounds ([`Timeouts::default`]).
    pub fn new(url: &str, protocol_version: &str) -> McpClient {
        McpClient::with_timeouts(url, protocol_version, Timeouts::default())
    }

    /// A client whose every request (connect, headers and body) is bounded by `timeout`.
    pub fn with_timeout(
        url: &str,
        protocol_version: &str,
        timeout: std::time::Duration,
    ) -> McpClient {
        McpClient::with_timeouts(url, protocol_version, Timeouts::uniform(timeout))
    }

    /// A client with these bounds; it never follows a redirect.
    pub fn with_timeouts(url: &str, protocol_version: &str, timeouts: Timeouts) -> McpClient {
        McpClient {
            http: crate::http::client(&timeouts),
            url: url.to_string(),
            protocol_version: protocol_version.to_string(),
            timeouts,
            breaker: None,
            who: std::sync::Arc::from(""),
        }
    }

    /// The same client reporting to `breaker`.
    pub fn with_breaker(mut self, breaker: std::sync::Arc<Breaker>) -> McpClient {
        self.breaker = Some(breaker);
        self
    }

    /// The same client, its requests sent by `who` (a scenario's name).
    pub fn sent_by(&self, who: &str) -> McpClient {
        let mut c = self.clone();
        c.who = std::sync::Arc::from(who);
        c
    }

    /// The breaker's one line, once it tripped: the server stopped answering.
    pub fn stopped(&self) -> Option<String> {
        self.breaker.as_ref().and_then(|b| b.message())
    }

    /// Send one HTTP request to the endpoint.
    pub async fn send(
        &self,
        method: reqwest::Method,
        auth: &Auth,
        token_note: &str,
        session: Option<&str>,
        body: Option<Value>,
        extra_headers: &[(&str, &str)],
    ) -> Exchange {
        let mut url = self.url.clone();
        if let Auth::Query(t) = auth {
            let enc: String = url::form_urlencoded::byte_serialize(t.as_bytes()).collect();
            url = format!(
                "{url}{}access_token={enc}",
                if url.contains('?') { '&' } else { '?' }
            );
        }
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.protocol_version);
        match auth {
            Auth::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
            Auth::Header(h) => req = req.header("authorization", h.as_str()),
            Auth::None | Auth::Query(_) => {}
        }
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        let mut body = body;
        if self.modern()
            && let Some(b) = body.as_mut()
            && let Some(m) = b.get("method").and_then(Value::as_str).map(str::to_string)
        {
            // 2026-07-28: the revision in `_meta` and in the header, the method (and the tool's,
            // prompt's or resource's name) mirrored into headers, on every POST.
            req = req.header("mcp-method", &m);
            let name = b
                .pointer("/params/name")
                .or_else(|| b.pointer("/params/uri"))
                .and_then(Value::as_str)
                .filter(|_| matches!(m.as_str(), "tools/call" | "resources/read" | "prompts/get"))
                .map(header_value);
            if let Some(n) = name {
                req = req.header("mcp-name", n);
            }
            if let Some(o) = b.as_object_mut() {
                let params = o.entry("params").or_insert_with(|| json!({}));
                if let Some(p) = params.as_object_mut() {
                    let meta = p.entry("_meta").or_insert_with(|| json!({}));
                    if let (Some(mo), Value::Object(add)) =
                        (meta.as_object_mut(), modern_meta(&self.protocol_version))
                    {
                        for (k, v) in add {
                            mo.entry(k).or_insert(v);
                        }
                    }
                }
            }
        }
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        let rpc_method = body
            .as_ref()
            .and_then(|b| b.get("method"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let id = body
            .as_ref()
            .and_then(|b| b.get("id"))
            .and_then(Value::as_i64);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let mut ex = Exchange {
            method: method.to_string(),
            url,
            token_note: token_note.to_string(),
            rpc_method,
            status: 0,
            headers: HeaderMap::new(),
            body: String::new(),
            message: None,
            failure: None,
            cut: None,
        };
        if let Some(line) = self.stopped() {
            // The server is gone: say so at once instead of waiting for another timeout.
            ex.body = format!("no answer: not sent, {line}");
            ex.failure = Some(NoAnswer::Other(line));
            return ex;
        }
        // A GET opens an SSE stream that never ends: read only its head.
        let stream = method == reqwest::Method::GET;
        let exchange = async {
            match crate::http::send(req, &self.timeouts).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let mut read = (String::new(), None, None);
                    if !stream {
                        let ct = headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        read = read_bounded(resp, &ct, id, &self.timeouts).await;
                    }
                    Ok((status, headers, read))
                }
                Err(e) => Err(e),
            }
        };
        // Once the run's breaker trips, a request still waiting gives up at once.
        let answer = match &self.breaker {
            None => exchange.await,
            Some(b) => tokio::select! {
                a = exchange => a,
                () = b.tripped() => Err(NoAnswer::Other(
                    b.message().unwrap_or_else(|| "the server stopped answering".into()),
                )),
            },
        };
        match answer {
            Ok((status, headers, (body, message, cut))) => {
                ex.status = status;
                ex.headers = headers;
                ex.body = body;
                ex.message = message;
                ex.cut = cut;
            }
            Err(e) => {
                ex.body = format!("no answer: {}", e.describe());
                ex.failure = Some(e);
            }
        }
        if let Some(b) = &self.breaker {
            b.observe(&self.who, ex.failure.as_ref()).await;
        }
        ex
    }

    /// Whether this client speaks a modern revision (2026-07-28 or later).
    pub fn modern(&self) -> bool {
        is_modern(&self.protocol_version)
    }

    /// The revision's opening request: `initialize` (rmcp's `InitializeRequestParams`) up to
    /// 2025-11-25, `server/discover` from 2026-07-28 (§Versioning: no handshake; servers MUST
    /// implement it).
    pub async fn initialize(
        &self,
        auth: &Auth,
        note: &str,
        extra_headers: &[(&str, &str)],
    ) -> Exchange {
        if self.modern() {
            let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}});
            return self
                .send(
                    reqwest::Method::POST,
                    auth,
                    note,
                    None,
                    Some(msg),
                    extra_headers,
                )
                .await;
        }
        let mut p = InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new("mcp-authcheck", env!("CARGO_PKG_VERSION")),
        );
        if let Ok(v) = serde_json::from_value(json!(self.protocol_version)) {
            p.protocol_version = v;
        }
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": p});
        self.send(
            reqwest::Method::POST,
            auth,
            note,
            None,
            Some(msg),
            extra_headers,
        )
        .await
    }

    /// `notifications/initialized`.
    pub async fn initialized(&self, auth: &Auth, note: &str, session: Option<&str>) -> Exchange {
        let msg = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.send(reqwest::Method::POST, auth, note, session, Some(msg), &[])
            .await
    }

    /// `tools/list`.
    pub async fn list_tools(&self, auth: &Auth, note: &str, session: Option<&str>) -> Exchange {
        let msg = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
        self.send(reqwest::Method::POST, auth, note, session, Some(msg), &[])
            .await
    }

    /// `tools/call` (rmcp's `CallToolRequestParams`).
    pub async fn call_tool(
        &self,
        auth: &Auth,
        note: &str,
        session: Option<&str>,
        name: &str,
        args: Value,
    ) -> Exchange {
        let mut p = CallToolRequestParams::new(name.to_string());
        if let Value::Object(o) = args {
            p = p.with_arguments(o);
        }
        let msg = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": p});
        self.send(reqwest::Method::POST, auth, note, session, Some(msg), &[])
            .await
    }

    /// Initialize and complete the handshake; returns the initialize exchange (with the
    /// session id, if the server keeps sessions). 2026-07-28: `server/discover` alone.
    pub async fn open(&self, auth: &Auth, note: &str) -> Exchange {
        let init = self.initialize(auth, note, &[]).await;
        if (200..300).contains(&init.status) && !self.modern() {
            let sid = init.session_id();
            self.initialized(auth, note, sid.as_deref()).await;
        }
        init
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A one-shot HTTP peer: answers the first request with `head` + `body`, then (if `hang`)
    /// keeps the connection open without another byte.
    async fn peer(head: &'static str, body: Vec<u8>, hang: bool) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", l.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 8192];
            let _ = s.read(&mut b).await;
            let _ = s.write_all(head.as_bytes()).await;
            for chunk in body.chunks(64 * 1024) {
                if s.write_all(chunk).await.is_err() {
                    return;
                }
            }
            if hang {
                tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn an_event_stream_kept_open_after_the_answer_does_not_hang() {
        let ev = b"data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]}}\n\n".to_vec();
        let url = peer(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n",
            ev,
            true,
        )
        .await;
        let c = McpClient::with_timeout(&url, "2025-11-25", std::time::Duration::from_secs(60));
        let start = std::time::Instant::now();
        let ex = c.list_tools(&Auth::None, "no token", None).await;
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "waited for the stream to end"
        );
        assert_eq!(ex.status, 200);
        assert!(ex.result().is_some(), "{}", ex.body);
    }

    #[tokio::test]
    async fn a_huge_body_is_cut_off_at_the_cap() {
        let body = vec![b'x'; BODY_CAP * 3];
        let head: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_boxed_str(),
        );
        let url = peer(head, body, false).await;
        let c = McpClient::with_timeout(&url, "2025-11-25", std::time::Duration::from_secs(60));
        let ex = c.list_tools(&Auth::None, "no token", None).await;
        assert!(ex.body.len() < BODY_CAP + 200, "{}", ex.body.len());
        assert!(ex.body.ends_with("bytes]"), "says it was cut off");
        assert!(ex.message.is_none());
    }

    #[test]
    fn header_values_are_plain_or_base64_sentinels() {
        assert_eq!(header_value("get_weather"), "get_weather");
        assert_eq!(header_value("a b"), "a b");
        assert_eq!(
            header_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(header_value("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
        assert_eq!(
            header_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
    }

    #[tokio::test]
    async fn a_modern_request_carries_the_revision_method_and_name() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", l.local_addr().unwrap());
        let seen = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = vec![0u8; 16384];
            let n = s.read(&mut b).await.unwrap();
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 36\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}")
                .await;
            String::from_utf8_lossy(&b[..n]).to_lowercase()
        });
        let c = McpClient::new(&url, "2026-07-28");
        c.call_tool(&Auth::None, "no token", None, "admin_action", json!({}))
            .await;
        let req = seen.await.unwrap();
        assert!(req.contains("mcp-protocol-version: 2026-07-28"), "{req}");
        assert!(req.contains("mcp-method: tools/call"), "{req}");
        assert!(req.contains("mcp-name: admin_action"), "{req}");
        assert!(
            req.contains("\"io.modelcontextprotocol/protocolversion\":\"2026-07-28\""),
            "{req}"
        );
        assert!(!req.contains("mcp-session-id"), "{req}");
    }

    #[test]
    fn finds_messages_in_sse_and_json() {
        let sse = "data: \nid: 0\nretry: 3000\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\nid: 1\n\n";
        assert_eq!(
            find_message(sse, "text/event-stream", Some(3)).unwrap()["id"],
            3
        );
        assert!(find_message(sse, "text/event-stream", Some(4)).is_none());
        assert_eq!(
            find_message(
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
                "application/json",
                Some(1)
            )
            .unwrap()["id"],
            1
        );
    }
}
