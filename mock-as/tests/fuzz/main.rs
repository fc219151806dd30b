#![allow(clippy::unwrap_used)]
//! Malformed-input fuzzing of every endpoint: a seeded generator of broken requests (bad and
//! truncated forms, bad JSON, wrong types, huge bodies, invalid UTF-8, bad or duplicated headers,
//! broken Basic and Bearer credentials, wrong methods, path tricks) spread over every route of
//! `routes/mod.rs` and the control API, plus unknown paths. For every answer: no 5xx (a panic
//! would be a 500 from the catch-panic layer), redirects carry a `Location`, 2xx JSON parses,
//! and every error (≥ 400) is JSON in its path family's shape:
//!
//! - `/oauth2/...` and the DCR endpoint `/v1/mgmt/mcp/client/.../register`: `{error, error_description}`;
//! - `/_mock/...` and the spy upstream `/_upstream/...`: `{error, message}`;
//! - other `/v1/...`, `/v2/...` and any path containing `/.well-known/`: `{errorCode, errorDescription, errorMessage}`;
//! - everything else: `{error, message}`.
//!
//! After each batch, valid requests (discovery, JWKS, a `client_credentials` token) must succeed.
//!
//! - `MOCK_AS_FUZZ_CASES` (default 10000): in-process requests (`tower::ServiceExt::oneshot`).
//! - `MOCK_AS_FUZZ_LISTENER_CASES` (default 300): generated requests over a real listener
//!   (reqwest), on top of the fixed raw-byte and duplicated-header cases.
//! - `MOCK_AS_FUZZ_SEED` (default fixed): the generator's seed; a failure report names it.
//!
//! A long run: `ci/fuzz-long.sh [CASES] [SEED]` (default 1,000,000; release optimisations with
//! overflow checks kept on).
//!
//! The generator mixes valid-looking requests with one or two mutations (so that the deep code
//! is reached, not only the first check) with random ones; it feeds on tokens, codes and connect
//! URLs that [`setup`] obtains with valid requests and on the codes and tokens its own requests
//! obtain. Control-API requests go partly to a second app started with an admin token.
//!
//! Faults: the fuzz may arm one through `/_mock/faults`; it is cleared at once, so no 5xx is
//! ever allowed. `/_mock/keys/rotate` only gets requests its extractor refuses (a valid one
//! generates an RSA key once the spares are used up: seconds in debug).
//!
//! The `regression_*` tests pin the defects the fuzz found, deterministically.

mod catalogue;
#[path = "../common/mod.rs"]
mod common;
mod drivers;
mod generator;
mod oracle;
mod regressions;

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use catalogue::*;
use common::{
    CONF_CLIENT, CONF_SECRET, MGMT_KEY, PID, PUBLIC_CLIENT, PUBLIC_REDIRECT, RESOURCE, SIBLING, SID,
};
use drivers::*;
use generator::*;
use oracle::*;

const ADMIN_TOKEN: &str = "fuzz-admin-token";
const DEFAULT_SEED: u64 = 0x6d6f_636b_2d61_7331;
/// Bodies above this get 413 (routes/mod.rs `BODY_LIMIT`).
const BODY_LIMIT: usize = 64 * 1024;
/// The longest request target generated (`http::Uri` stops below 64 KiB).
const MAX_TARGET: usize = 60_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("MOCK_AS_FUZZ_SEED")
        .ok()
        .and_then(|v| {
            v.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| v.parse().ok())
        })
        .unwrap_or(DEFAULT_SEED)
}

// ---- the runs ----------------------------------------------------------------------------------

/// Counts for the summary line.
#[derive(Debug, Default)]
struct Tally {
    statuses: BTreeMap<u16, usize>,
    families: BTreeMap<String, usize>,
    routes: Vec<usize>,
    unknown: usize,
    failures: Vec<String>,
    failed: usize,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            routes: vec![0; ROUTES.len()],
            ..Tally::default()
        }
    }

    fn record(&mut self, i: usize, c: &Case, a: Result<Answer, String>) -> Option<Answer> {
        match c.route {
            Some(r) => self.routes[r] += 1,
            None => self.unknown += 1,
        }
        let verdict = match &a {
            Ok(a) => {
                *self.statuses.entry(a.status).or_default() += 1;
                *self
                    .families
                    .entry(format!("{:?}", family(&a.path)))
                    .or_default() += 1;
                check(&c.method, a).map_err(|e| {
                    let body = String::from_utf8_lossy(&a.body);
                    let body: String = body.chars().take(400).collect();
                    format!(
                        "{e}\n    path seen: {:?}\n    answer body: {body}",
                        truncate(&a.path, 200)
                    )
                })
            }
            Err(e) => Err(format!("transport: {e}")),
        };
        if let Err(e) = verdict {
            self.failed += 1;
            if self.failures.len() < 25 {
                self.failures
                    .push(format!("case {i}: {e}\n    request: {}", c.describe()));
            }
        }
        a.ok()
    }

    fn summary(&self, what: &str, n: usize, secs: f64) -> String {
        let classes = self.statuses.iter().fold(BTreeMap::new(), |mut m, (s, n)| {
            *m.entry(format!("{}xx", s / 100)).or_insert(0) += n;
            m
        });
        let min_route = self.routes.iter().min().copied().unwrap_or(0);
        format!(
            "{what}: {n} requests in {secs:.2}s; {} routes (≥ {min_route} each) + {} path tricks; status classes {classes:?}; shape families {:?}; {} failures",
            ROUTES.len(),
            self.unknown,
            self.families,
            self.failed
        )
    }

    fn assert_clean(&self, seed: u64) {
        assert!(
            self.failed == 0,
            "{} malformed requests got a bad answer (seed {seed:#x}; reproduce with MOCK_AS_FUZZ_SEED={seed:#x}):\n{}",
            self.failed,
            self.failures.join("\n")
        );
    }
}

/// At most `n` characters, saying how long the whole was.
fn truncate(s: &str, n: usize) -> String {
    match s.chars().count() > n {
        true => format!(
            "{}...[{} bytes]",
            s.chars().take(n).collect::<String>(),
            s.len()
        ),
        false => s.to_string(),
    }
}

/// After an armed fault, clear every fault: the fuzz must leave none behind.
async fn clear_faults_if_armed(t: &Target, c: &Case, a: &Answer) {
    if a.path.contains("fault") && (200..300).contains(&a.status) && c.method == Method::POST {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let h: &[(&str, &str)] = if c.admin {
            &[("authorization", &bearer)]
        } else {
            &[]
        };
        t.valid("DELETE", "/_mock/faults", h, b"", 200).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_in_process() {
    let n = env_usize("MOCK_AS_FUZZ_CASES", 10_000);
    let seed = seed();
    let open = Target::App(mock_as::app(fresh_state(None)));
    let admin = Target::App(mock_as::app(fresh_state(Some(ADMIN_TOKEN))));
    let pools = setup(&open, false).await;
    let mut g = Gen::new(seed, pools, false);
    let mut tally = Tally::new();
    let started = Instant::now();
    for i in 0..n {
        let c = g.case();
        let t = if c.admin { &admin } else { &open };
        let a = t.send(&c).await;
        if let Some(a) = tally.record(i, &c, a) {
            clear_faults_if_armed(t, &c, &a).await;
            if !c.admin {
                g.learn(&a);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{}", tally.summary("fuzz in process", n, secs));
    tally.assert_clean(seed);
    if n >= 2_000 {
        let missed: Vec<&str> = ROUTES
            .iter()
            .zip(&tally.routes)
            .filter(|(_, n)| **n == 0)
            .map(|(r, _)| r.path)
            .collect();
        assert!(
            missed.is_empty(),
            "routes the fuzz never reached: {missed:?}"
        );
    }
    still_serves(&open).await;
    still_serves(&admin).await;
}

/// Requests only a real socket carries as sent: raw invalid UTF-8 bodies with real
/// Content-Length, duplicated headers through hyper, bodies over the limit, obs-text headers.
fn listener_cases(pools: &Pools) -> Vec<Case> {
    let mk = |method: Method, target: String, headers: Vec<(&str, &[u8])>, body: &[u8]| Case {
        method,
        target,
        headers: headers
            .into_iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(v).unwrap(),
                )
            })
            .collect(),
        body: body.to_vec(),
        admin: false,
        route: None,
    };
    let basic = Gen::basic(CONF_CLIENT, CONF_SECRET);
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}").into_bytes();
    let user = format!("Bearer {PID}:{}", pools.user_jwt).into_bytes();
    let token = format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token");
    let register = format!("/v1/mgmt/mcp/client/{PID}/{SID}/register");
    let form = "application/x-www-form-urlencoded".as_bytes();
    let jsn = "application/json".as_bytes();
    let invalid: &[&[u8]] = &[
        b"\xff\xfe\xfd",
        b"grant_type=client_credentials&scope=\xc3\x28",
        b"{\"appId\": \"google-\xff\"}",
        b"{\"redirect_uris\": [\"http://127.0.0.1/\xed\xa0\x80\"]}",
        b"\xef\xbb\xbf{}",
        b"\x00\x00\x00\x00",
    ];
    let mut out = Vec::new();
    let posts: Vec<(String, &[u8], &[u8])> = vec![
        (token.clone(), form, &basic),
        ("/oauth2/v1/apps/token".into(), jsn, &basic),
        (format!("/oauth2/v1/apps/{PID}/revoke"), form, &basic),
        (format!("/oauth2/v1/apps/{PID}/introspect"), form, &mgmt),
        (
            format!("/oauth2/v1/apps/agentic/{PID}/{SID}/authorize"),
            form,
            b"",
        ),
        (register.clone(), jsn, b""),
        ("/v1/mgmt/outbound/app/user/token".into(), jsn, &user),
        (
            "/v1/mgmt/outbound/app/user/oauthtoken/upload".into(),
            jsn,
            &mgmt,
        ),
        ("/v1/mgmt/outbound/app/connect".into(), jsn, &mgmt),
        ("/v1/mgmt/thirdparty/consents/search".into(), jsn, &mgmt),
        ("/_mock/users".into(), jsn, b""),
        ("/_mock/tokens".into(), jsn, b""),
        ("/_mock/clock".into(), jsn, b""),
        ("/_upstream/google-calendar/x".into(), jsn, b""),
    ];
    for (path, ct, auth) in &posts {
        for body in invalid {
            let mut h: Vec<(&str, &[u8])> = vec![("content-type", ct)];
            if !auth.is_empty() {
                h.push(("authorization", auth));
            }
            out.push(mk(Method::POST, path.clone(), h, body));
        }
        // Over the body limit, with a real Content-Length.
        let mut h: Vec<(&str, &[u8])> = vec![("content-type", ct)];
        if !auth.is_empty() {
            h.push(("authorization", auth));
        }
        out.push(mk(
            Method::POST,
            path.clone(),
            h,
            &vec![b' '; BODY_LIMIT + 1],
        ));
        // Duplicated headers: two content types, two credentials.
        let h: Vec<(&str, &[u8])> = vec![
            ("content-type", jsn),
            ("content-type", form),
            ("authorization", &basic),
            ("authorization", &mgmt),
            ("authorization", b"Bearer \xff\xfe"),
        ];
        out.push(mk(
            Method::POST,
            path.clone(),
            h,
            b"grant_type=client_credentials",
        ));
    }
    for path in [
        format!("/v2/keys/{PID}"),
        "/v1/mgmt/license".to_string(),
        format!("/oauth2/v1/apps/{PID}/userinfo"),
        "/_mock/info".to_string(),
        "/oauth2/.well-known/jwks.json".to_string(),
    ] {
        let h: Vec<(&str, &[u8])> = vec![
            ("authorization", b"Bearer \xc3\x28"),
            ("authorization", &mgmt),
            ("x-fuzz", b"\x80\x81\xff"),
        ];
        out.push(mk(Method::GET, path.clone(), h, b""));
        out.push(mk(Method::DELETE, path.clone(), vec![], b"\xff"));
        out.push(mk(Method::from_bytes(b"FOO").unwrap(), path, vec![], b""));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_over_a_real_listener() {
    let n = env_usize("MOCK_AS_FUZZ_LISTENER_CASES", 300);
    let seed = seed() ^ 0x5eed;
    let mock = common::Mock::start().await;
    let t = Target::Http {
        client: mock.http.clone(),
        base: mock.base.clone(),
    };
    let pools = setup(&t, false).await;
    let mut cases = listener_cases(&pools);
    let mut g = Gen::new(seed, pools, true);
    for _ in 0..n {
        let mut c = g.case();
        // This run has no admin-token server.
        c.admin = false;
        cases.push(c);
    }
    let mut tally = Tally::new();
    let started = Instant::now();
    for (i, c) in cases.iter().enumerate() {
        let a = t.send(c).await;
        if let Some(a) = tally.record(i, c, a) {
            clear_faults_if_armed(&t, c, &a).await;
        }
    }
    eprintln!(
        "{}",
        tally.summary(
            "fuzz over a listener",
            cases.len(),
            started.elapsed().as_secs_f64()
        )
    );
    tally.assert_clean(seed);
    still_serves(&t).await;
}
