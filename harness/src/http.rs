//! The suite's HTTP discipline: every request to the server under test (and to mock-as) is
//! bounded by a timeout of its kind — connecting, the response's headers, the whole body — and
//! every body is read up to a cap; redirects are never followed (a request may carry a token).
//! A failure is classified ([`NoAnswer`]) so that the preflight can say in one line what is wrong
//! and the run's circuit breaker ([`crate::breaker`]) can tell a dead server from a refusal.
//!
//! reqwest has a connect timeout and a whole-request timeout, but no bound on the time to the
//! headers alone nor on a body separately: those two are `tokio::time` deadlines around
//! `send()` and around each chunk read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most of a response body the suite keeps: a server that sends more is cut off there (and
/// the exchange says so), never buffered without bound.
pub const BODY_CAP: usize = 4 * 1024 * 1024;

/// How long each kind of wait may take (the profile's `[timeouts]`, the `--*-timeout` flags).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// TCP (and TLS) connection set-up: a host that drops SYNs is found out here.
    #[serde(default = "default_connect", with = "secs")]
    pub connect_seconds: Duration,
    /// From sending the request to the status line and headers of the answer (connecting
    /// included): a server that accepts and never answers is found out here.
    #[serde(default = "default_headers", with = "secs")]
    pub headers_seconds: Duration,
    /// From the headers to the end of the body (or, on an event stream, to the awaited
    /// JSON-RPC message): a server that trickles or streams forever is cut off here.
    #[serde(default = "default_body", with = "secs")]
    pub body_seconds: Duration,
}

fn default_connect() -> Duration {
    Duration::from_secs(5)
}
fn default_headers() -> Duration {
    Duration::from_secs(30)
}

/// The headers bound of the preflight, the probe and the circuit breaker's re-check when the
/// profile and the flags set none: a server that accepts and never answers is named within 10 s,
/// while the scenarios keep [`Timeouts::default`]'s 30 s — a correct server may take more than
/// 10 s over a refusal (Descope's Node and Python SDKs retry a failing key-set fetch for ~10 s
/// before they answer 401), and a timeout there would be a false failure.
pub const PREFLIGHT_HEADERS: Duration = Duration::from_secs(10);
fn default_body() -> Duration {
    Duration::from_secs(30)
}

impl Default for Timeouts {
    /// Connect 5 s, headers 30 s, body 30 s: a local or CI server answers in milliseconds, a
    /// slow refusal or tool call still gets 30 s; a hanging server is reported by the preflight
    /// within [`PREFLIGHT_HEADERS`] (see [`Timeouts::for_preflight`]).
    fn default() -> Self {
        Timeouts {
            connect_seconds: default_connect(),
            headers_seconds: default_headers(),
            body_seconds: default_body(),
        }
    }
}

/// Seconds as a TOML number (integer or float, > 0).
mod secs {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            I(i64),
            F(f64),
        }
        let v = match Num::deserialize(d)? {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        };
        super::seconds(v).map_err(D::Error::custom)
    }
}

/// A number of seconds as a bound: positive, finite, at most a day.
pub fn seconds(v: f64) -> Result<Duration, String> {
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!(
            "{v} is not a number of seconds between 0 (excluded) and 86400"
        ))
    }
}

impl Timeouts {
    /// The same bound for every kind (tests, the probe's `--probe-timeout`).
    pub fn uniform(d: Duration) -> Timeouts {
        Timeouts {
            connect_seconds: d,
            headers_seconds: d,
            body_seconds: d,
        }
    }

    /// Each kind at most `cap`.
    pub fn capped(self, cap: Duration) -> Timeouts {
        Timeouts {
            connect_seconds: self.connect_seconds.min(cap),
            headers_seconds: self.headers_seconds.min(cap),
            body_seconds: self.body_seconds.min(cap),
        }
    }

    /// The bounds of the preflight, the probe and the breaker's re-check: the headers bound at
    /// most [`PREFLIGHT_HEADERS`] unless the user set one (`headers_given`: the profile's
    /// `timeouts.headers_seconds` or `--headers-timeout`), which then applies everywhere.
    pub fn for_preflight(self, headers_given: bool) -> Timeouts {
        if headers_given {
            self
        } else {
            Timeouts {
                headers_seconds: self.headers_seconds.min(PREFLIGHT_HEADERS),
                ..self
            }
        }
    }

    /// The longest one request can take.
    pub fn total(&self) -> Duration {
        self.headers_seconds.max(self.connect_seconds) + self.body_seconds
    }
}

/// The `--connect-timeout`, `--headers-timeout` and `--body-timeout` flags: each, when given,
/// overrides the profile's value (or the default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeoutFlags {
    /// `--connect-timeout`.
    pub connect: Option<Duration>,
    /// `--headers-timeout`.
    pub headers: Option<Duration>,
    /// `--body-timeout`.
    pub body: Option<Duration>,
}

impl TimeoutFlags {
    /// `base` with the flags that were given.
    pub fn over(&self, base: Timeouts) -> Timeouts {
        Timeouts {
            connect_seconds: self.connect.unwrap_or(base.connect_seconds),
            headers_seconds: self.headers.unwrap_or(base.headers_seconds),
            body_seconds: self.body.unwrap_or(base.body_seconds),
        }
    }

    /// Whether the user set the headers timeout: by flag, or in the profile file's table
    /// (then the preflight keeps it instead of its own 10 s, [`Timeouts::for_preflight`]).
    pub fn headers_given(&self, profile: Option<&toml::Table>) -> bool {
        self.headers.is_some() || headers_in(profile)
    }
}

/// Whether a profile file's table sets `timeouts.headers_seconds`.
pub fn headers_in(table: Option<&toml::Table>) -> bool {
    table
        .and_then(|t| t.get("timeouts"))
        .and_then(|t| t.get("headers_seconds"))
        .is_some()
}

/// The `[timeouts]` of a profile file's table (defaults for what it leaves out); the error names
/// the field.
pub fn timeouts_of(table: Option<&toml::Table>, file: &str) -> Result<Timeouts, String> {
    match table.and_then(|t| t.get("timeouts")) {
        None => Ok(Timeouts::default()),
        Some(v) => v.clone().try_into::<Timeouts>().map_err(|e| {
            // toml says the field on a line of its own ("in `body_seconds`"): one line instead.
            let text = e.to_string();
            let field = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("in `")?.strip_suffix('`'))
                .map(|f| format!(".{f}"))
                .unwrap_or_default();
            let msg = text.lines().next().unwrap_or_default().trim();
            format!("{file}: timeouts{field}: {msg}")
        }),
    }
}

/// A client that never follows a redirect, with the connect bound and, as a backstop, the whole
/// request bounded by [`Timeouts::total`]; use [`send`] and [`read_body`] for the other kinds.
pub fn client(t: &Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(t.connect_seconds)
        .timeout(t.total() + Duration::from_secs(1))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Building fails only without a TLS backend; a client without bounds must not result.
        .unwrap_or_else(|_| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(t.total())
                .build()
                .unwrap_or_default()
        })
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    /// Nothing listens there (connection refused), or the host is unknown/unreachable.
    Refused(String),
    /// The connection was not set up within the connect bound.
    ConnectTimeout(Duration),
    /// Connected, sent the request, and no status line came within the headers bound.
    HeadersTimeout(Duration),
    /// The peer closed or reset the connection before any answer.
    Reset(String),
    /// The peer answered bytes that are not an HTTP response.
    NotHttp(String),
    /// Anything else (TLS, a request that could not be built).
    Other(String),
}

impl NoAnswer {
    /// The problem, in words a user acts on (no URL: callers put it first).
    pub fn describe(&self) -> String {
        match self {
            NoAnswer::Refused(e) => format!("no answer ({e}) — is the server running?"),
            NoAnswer::ConnectTimeout(d) => format!(
                "could not connect within {} — is the server running and reachable?",
                human(*d)
            ),
            NoAnswer::HeadersTimeout(d) => format!(
                "no response within {} — is the server running and listening there?",
                human(*d)
            ),
            NoAnswer::Reset(e) => format!(
                "the connection was closed before any response ({e}) — is the server crashing on requests? Check its log"
            ),
            NoAnswer::NotHttp(e) => format!(
                "answered something that is not HTTP ({e}) — is this the server's HTTP port?"
            ),
            NoAnswer::Other(e) => format!("no answer ({e})"),
        }
    }

    /// Whether this says the server is gone or hanging (what the circuit breaker counts), as
    /// opposed to one request it could not handle.
    pub fn server_gone(&self) -> bool {
        matches!(
            self,
            NoAnswer::Refused(_)
                | NoAnswer::ConnectTimeout(_)
                | NoAnswer::HeadersTimeout(_)
                | NoAnswer::Reset(_)
        )
    }
}

/// `10 s`, `1.5 s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", s as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// The error and its causes, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// Classify a reqwest error of `send()`.
pub fn classify(e: &reqwest::Error, t: &Timeouts) -> NoAnswer {
    let text = chain(e);
    let io_kind = {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut kind = None;
        while let Some(c) = cur {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                kind = Some(io.kind());
            }
            cur = c.source();
        }
        kind
    };
    use std::io::ErrorKind as K;
    if e.is_connect() {
        if e.is_timeout() || text.contains("timed out") {
            return NoAnswer::ConnectTimeout(t.connect_seconds);
        }
        return NoAnswer::Refused(short(&text));
    }
    if e.is_timeout() {
        return NoAnswer::HeadersTimeout(t.headers_seconds);
    }
    if matches!(
        io_kind,
        Some(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof)
    ) || text.contains("connection closed before message completed")
        || text.contains("connection reset")
    {
        return NoAnswer::Reset(short(&text));
    }
    // hyper's parse errors: "invalid HTTP version parsed", "invalid HTTP status-code parsed",
    // "invalid HTTP header parsed", "message head is too large", "received unexpected message".
    if text.contains("invalid HTTP")
        || text.contains("message head is too large")
        || text.contains("unexpected message")
        || text.contains("parse")
    {
        return NoAnswer::NotHttp(short(&text));
    }
    NoAnswer::Other(short(&text))
}

/// reqwest's messages repeat the URL (callers name it already); keep the cause.
fn short(text: &str) -> String {
    let t = text
        .split_once("): ")
        .map(|(_, rest)| rest)
        .unwrap_or(text)
        .trim_start_matches("client error (Connect): ")
        .trim_start_matches("client error (SendRequest): ")
        .to_string();
    t.chars().take(200).collect()
}

/// Send with the headers bound: the response (headers read), or why there is none.
pub async fn send(
    req: reqwest::RequestBuilder,
    t: &Timeouts,
) -> Result<reqwest::Response, NoAnswer> {
    match tokio::time::timeout(t.headers_seconds, req.send()).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(classify(&e, t)),
        Err(_) => Err(NoAnswer::HeadersTimeout(t.headers_seconds)),
    }
}

/// How a body read ended short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// More than [`BODY_CAP`] bytes.
    Cap,
    /// The body did not end within the body bound.
    Timeout(Duration),
    /// The connection broke mid-body.
    Broken(String),
}

impl Cut {
    /// The note appended to a cut body (and the reason a step fails with).
    pub fn note(&self) -> String {
        match self {
            Cut::Cap => format!("[mcp-authcheck: the body was cut off after {BODY_CAP} bytes]"),
            Cut::Timeout(d) => {
                format!("[mcp-authcheck: the body did not end within {}]", human(*d))
            }
            Cut::Broken(e) => format!("[mcp-authcheck: the connection broke mid-body: {e}]"),
        }
    }
}

/// Read a body up to [`BODY_CAP`] and the body bound. `stop` is asked after each chunk whether
/// what came so far is enough (an event stream that carried the awaited message): then the
/// rest is not waited for.
pub async fn read_body(
    mut resp: reqwest::Response,
    t: &Timeouts,
    mut stop: impl FnMut(&[u8]) -> bool,
) -> (Vec<u8>, Option<Cut>) {
    let deadline = tokio::time::Instant::now() + t.body_seconds;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => {
                let room = BODY_CAP.saturating_sub(buf.len());
                buf.extend_from_slice(&c[..c.len().min(room)]);
                if c.len() > room || buf.len() >= BODY_CAP {
                    return (buf, Some(Cut::Cap));
                }
                if stop(&buf) {
                    return (buf, None);
                }
            }
            Ok(Ok(None)) => return (buf, None),
            Ok(Err(e)) if e.is_timeout() => return (buf, Some(Cut::Timeout(t.body_seconds))),
            Ok(Err(e)) => return (buf, Some(Cut::Broken(short(&chain(&e))))),
            Err(_) => return (buf, Some(Cut::Timeout(t.body_seconds))),
        }
    }
}

/// A whole bounded exchange for steps that need no MCP framing (metadata documents, mock-as's
/// Descope endpoints): status, headers, body text (with the cut note, if cut).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub text: String,
    /// Why the body is incomplete, if it is.
    pub cut: Option<Cut>,
}

impl Fetched {
    /// The body as JSON (`Null` if it is not, or was cut).
    pub fn json(&self) -> serde_json::Value {
        if self.cut.is_some() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
    /// The `content-type`, or "".
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Send and read the whole body, bounded; `Err` = one line saying why there is no answer.
pub async fn fetch(req: reqwest::RequestBuilder, t: &Timeouts) -> Result<Fetched, String> {
    let url = req
        .try_clone()
        .and_then(|r| r.build().ok())
        .map(|r| r.url().to_string())
        .unwrap_or_default();
    let resp = send(req, t)
        .await
        .map_err(|e| format!("{url}: {}", e.describe()))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let (body, cut) = read_body(resp, t, |_| false).await;
    let mut text = String::from_utf8_lossy(&body).into_owned();
    if let Some(c) = &cut {
        text.push('\n');
        text.push_str(&c.note());
    }
    Ok(Fetched {
        status,
        headers,
        text,
        cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_from_toml_with_defaults_and_checks() {
        let t: Timeouts = toml::from_str("headers_seconds = 2\nbody_seconds = 0.5").unwrap();
        assert_eq!(t.headers_seconds, Duration::from_secs(2));
        assert_eq!(t.body_seconds, Duration::from_millis(500));
        assert_eq!(t.connect_seconds, Duration::from_secs(5));
        let e = toml::from_str::<Timeouts>("headers_seconds = 0").unwrap_err();
        assert!(e.to_string().contains("between 0"), "{e}");
        assert!(toml::from_str::<Timeouts>("header_seconds = 1").is_err());
        assert_eq!(human(Duration::from_secs(10)), "10 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }
}
