//! The load check (`ci/load.sh`, or `cargo bench -p harness --bench load`).
//!
//! 64 concurrent clients, each on its own keep-alive connection, send mixed traffic for 20 s to
//! the release `mock-as` binary: discovery, JWKS, `client_credentials` token, introspection and
//! a connection-token fetch with a user's MCP access token (Connections Policy applies). Every
//! response must be a 200 with the expected body. Afterwards the journal must account for
//! every request: `next_seq` advanced by exactly the number sent, the retained entries have
//! contiguous sequence numbers, each one a 200/`ok` on one of the five endpoints. Prints a
//! Markdown table with p50/p99 per kind; exits non-zero on any error or inconsistency.
//!
//! Flags: `--clients N` (64), `--seconds S` (20), `--only KIND` (one kind of request only). `MOCK_AS_BIN` overrides the binary.

mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The five kinds of request, in the order each client cycles through them.
const KINDS: [&str; 5] = ["discovery", "jwks", "token", "introspect", "connections"];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let clients = arg("--clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64usize);
    let secs = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20.0f64);
    let only = match arg("--only") {
        None => None,
        Some(k) => match KINDS.iter().position(|x| *x == k) {
            Some(i) => Some(i),
            None => {
                eprintln!("load: --only takes one of {KINDS:?}");
                return ExitCode::FAILURE;
            }
        },
    };
    match run(clients, secs, only) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    /// Latency in microseconds per kind (index into KINDS).
    lat: [Vec<u32>; 5],
    /// Errors per kind.
    errors: [u64; 5],
    /// The first few error messages.
    samples: Vec<String>,
    /// Requests that reached the server (got a response).
    answered: u64,
}

fn run(clients: usize, secs: f64, only: Option<usize>) -> Result<bool, String> {
    let bin = mock_as_bin()?;
    let p = MockProc::start(&bin, None)?;
    let port = p.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut ctl = Conn::open(port).await.map_err(|e| e.to_string())?;
        // Tokens the requests carry: a service token to introspect, a user's MCP token for the
        // connection fetch (control API calls are not journaled).
        let service = control(&mut ctl, port, "POST", "/_mock/tokens", json!({"client": CLIENT})).await?;
        let user = control(
            &mut ctl,
            port,
            "POST",
            "/_mock/tokens",
            json!({"user": "U2alice", "client": "mcp-cli"}),
        )
        .await?;
        let tok = |v: &Value| v["access_token"].as_str().map(str::to_string);
        let service = tok(&service).ok_or("mint of the service token returned no access_token")?;
        let user = tok(&user).ok_or("mint of the user token returned no access_token")?;
        let reqs = Arc::new(requests(port, &service, &user));

        // Each kind must work once before the load starts, or the run would only count errors.
        let mut probe = Conn::open(port).await.map_err(|e| e.to_string())?;
        for (i, r) in reqs.iter().enumerate() {
            let (s, body) = probe.send(r).await.map_err(|e| e.to_string())?;
            check(i, s, &body).map_err(|e| format!("{} does not work before the load: {e}", KINDS[i]))?;
        }
        drop(probe);
        let before = journal_next_seq(&mut ctl, port).await?;

        eprintln!("load: {clients} clients for {secs} s against mock-as on port {port}");
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for c in 0..clients {
            let reqs = reqs.clone();
            set.spawn(async move { client(port, c, &reqs, deadline, only).await });
        }
        let mut total = Tally::default();
        while let Some(t) = set.join_next().await {
            let t = t.map_err(|e| e.to_string())?;
            for k in 0..5 {
                total.lat[k].extend_from_slice(&t.lat[k]);
                total.errors[k] += t.errors[k];
            }
            total.answered += t.answered;
            for s in t.samples {
                if total.samples.len() < 10 {
                    total.samples.push(s);
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();

        // The journal must account for every request.
        let after = journal_next_seq(&mut ctl, port).await?;
        let mut problems = Vec::new();
        if after - before != total.answered {
            problems.push(format!(
                "journal next_seq advanced by {} but {} requests were answered",
                after - before,
                total.answered
            ));
        }
        // Resident memory now, before the journal dump below allocates its answer.
        let rss = p.rss_kib().map(|k| k as f64 / 1024.0);
        let j = control(
            &mut ctl,
            port,
            "GET",
            &format!("/_mock/journal?since_seq={before}&limit=100000"),
            Value::Null,
        )
        .await?;
        let entries = j["entries"].as_array().cloned().unwrap_or_default();
        let expect_len = total.answered.min(10_000) as usize;
        if entries.len() != expect_len {
            problems.push(format!(
                "journal holds {} entries of the run, expected {expect_len} (the cap is 10,000)",
                entries.len()
            ));
        }
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        let mut prev: Option<u64> = None;
        for e in &entries {
            let seq = e["seq"].as_u64().unwrap_or(u64::MAX);
            if let Some(p) = prev
                && seq != p + 1
            {
                problems.push(format!("journal sequence jumps from {p} to {seq}"));
                break;
            }
            prev = Some(seq);
            let ep = e["endpoint"].as_str().unwrap_or("?").to_string();
            if e["status"] != 200 || e["outcome"] != "ok" || !KINDS.contains(&ep.as_str()) {
                problems.push(format!("unexpected journal entry: {e}"));
                break;
            }
            *seen.entry(ep).or_default() += 1;
        }
        if prev.is_some_and(|p| p + 1 != after) {
            problems.push(format!(
                "the last journal entry is seq {prev:?}, next_seq is {after}"
            ));
        }
        let alive = Conn::open(port).await.map_err(|e| e.to_string())?.send(&reqs[0]).await;
        if !matches!(alive, Ok((200, _))) {
            problems.push(format!("discovery fails after the load: {alive:?}"));
        }

        // Report.
        let mut out = format!(
            "Load: {clients} clients × {secs} s of mixed traffic, {} cores, mock-as release build.\n\n",
            cores()
        );
        out.push_str("| request | count | errors | p50 | p99 | max |\n|---|---|---|---|---|---|\n");
        let mut all: Vec<u32> = Vec::new();
        for (k, kind) in KINDS.iter().enumerate() {
            let mut v = std::mem::take(&mut total.lat[k]);
            v.sort_unstable();
            out.push_str(&format!(
                "| {kind} | {} | {} | {} | {} | {} |\n",
                v.len() as u64 + total.errors[k],
                total.errors[k],
                ms(quantile(&v, 0.5)),
                ms(quantile(&v, 0.99)),
                ms(v.last().copied()),
            ));
            all.extend(v);
        }
        all.sort_unstable();
        let errors: u64 = total.errors.iter().sum();
        out.push_str(&format!(
            "| **all** | {} | {errors} | {} | {} | {} |\n\n",
            all.len() as u64 + errors,
            ms(quantile(&all, 0.5)),
            ms(quantile(&all, 0.99)),
            ms(all.last().copied()),
        ));
        out.push_str(&format!(
            "{:.0} requests/s. Journal: next_seq +{} for {} answered requests; the last {} entries contiguous, all 200/ok ({}). RSS after: {}.\n",
            total.answered as f64 / elapsed,
            after - before,
            total.answered,
            entries.len(),
            seen.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
            rss.map(|m| format!("{m:.1} MiB")).unwrap_or("n/a".into()),
        ));
        println!("{out}");
        for s in &total.samples {
            println!("error: {s}");
        }
        for p in &problems {
            println!("inconsistent: {p}");
        }
        let ok = errors == 0 && problems.is_empty();
        println!("{}", if ok { "load: PASS" } else { "load: FAIL" });
        Ok(ok)
    })
}

fn ms(us: Option<u32>) -> String {
    us.map(|u| format!("{:.2} ms", u as f64 / 1000.0))
        .unwrap_or_else(|| "—".into())
}

/// The five requests, by KINDS index.
fn requests(port: u16, service_token: &str, user_token: &str) -> Vec<Vec<u8>> {
    let introspect_body = format!("token={service_token}");
    let user_bearer = format!("Bearer {PID}:{user_token}");
    let fetch = json!({
        "appId": "google-calendar",
        "userId": "U2alice",
        "scopes": ["calendar.readonly"],
        "options": {}
    })
    .to_string();
    vec![
        request("GET", &discovery_path(), port, &[], b""),
        request(
            "GET",
            &format!("/{PID}/.well-known/jwks.json"),
            port,
            &[],
            b"",
        ),
        token_request(port),
        request(
            "POST",
            &format!("/oauth2/v1/apps/{PID}/introspect"),
            port,
            &[
                ("authorization", &basic()),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            introspect_body.as_bytes(),
        ),
        request(
            "POST",
            "/v1/mgmt/outbound/app/user/token",
            port,
            &[
                ("authorization", &user_bearer),
                ("content-type", "application/json"),
            ],
            fetch.as_bytes(),
        ),
    ]
}

/// Whether a response is the success its kind should get.
fn check(kind: usize, status: u16, body: &[u8]) -> Result<(), String> {
    let v = json(body);
    let good = status == 200
        && match KINDS[kind] {
            "discovery" => v["issuer"].is_string(),
            "jwks" => v["keys"].as_array().is_some_and(|k| !k.is_empty()),
            "token" => v["access_token"].is_string(),
            "introspect" => v["active"] == true,
            _ => v["token"]["accessToken"].is_string(),
        };
    if good {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(body);
        Err(format!(
            "{status} {}",
            text.chars().take(300).collect::<String>()
        ))
    }
}

/// One client: its own connection, cycling through the kinds until the deadline.
async fn client(
    port: u16,
    id: usize,
    reqs: &[Vec<u8>],
    deadline: Instant,
    only: Option<usize>,
) -> Tally {
    let mut t = Tally::default();
    let mut conn = match Conn::open(port).await {
        Ok(c) => Some(c),
        Err(e) => {
            t.errors[0] += 1;
            t.samples.push(format!("client {id}: cannot connect: {e}"));
            None
        }
    };
    let mut k = only.unwrap_or(id % KINDS.len());
    while Instant::now() < deadline {
        let Some(c) = conn.as_mut() else { break };
        let sent = Instant::now();
        match c.send(&reqs[k]).await {
            Ok((s, body)) => {
                t.answered += 1;
                let us = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                match check(k, s, &body) {
                    Ok(()) => t.lat[k].push(us),
                    Err(e) => {
                        t.errors[k] += 1;
                        if t.samples.len() < 3 {
                            t.samples.push(format!("{}: {e}", KINDS[k]));
                        }
                    }
                }
            }
            Err(e) => {
                t.errors[k] += 1;
                if t.samples.len() < 3 {
                    t.samples
                        .push(format!("{}: connection error: {e}", KINDS[k]));
                }
                conn = Conn::open(port).await.ok();
            }
        }
        if only.is_none() {
            k = (k + 1) % KINDS.len();
        }
    }
    t
}

/// A control API call; the JSON answer (must be 200).
async fn control(
    conn: &mut Conn,
    port: u16,
    method: &str,
    path: &str,
    body: Value,
) -> Result<Value, String> {
    let b = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let headers: &[(&str, &str)] = if b.is_empty() {
        &[]
    } else {
        &[("content-type", "application/json")]
    };
    let (s, resp) = conn
        .send(&request(method, path, port, headers, &b))
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    if s != 200 {
        return Err(format!(
            "{method} {path}: {s} {}",
            String::from_utf8_lossy(&resp)
        ));
    }
    Ok(json(&resp))
}

async fn journal_next_seq(conn: &mut Conn, port: u16) -> Result<u64, String> {
    let v = control(conn, port, "GET", "/_mock/journal?limit=1", Value::Null).await?;
    v["next_seq"]
        .as_u64()
        .ok_or_else(|| format!("the journal has no next_seq: {v}"))
}
