//! No evidence, no verdict: when a source of evidence breaks — mock-as cannot mint, or its
//! journal cannot be read — the scenarios that depend on it error; none of them passes.
//!
//! The suite runs against the in-process reference server with its real mock-as for the probe,
//! then with a control-API client that goes through a proxy which breaks one route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harness::as_client::MockAsClient;
use harness::mcp_client::McpClient;
use harness::report::Outcome;
use harness::runner::{self, RunOptions, RunResult};
use harness::world::SuiteCtx;

/// Forwards to mock-as, except `broken` (method, path prefix), which answers 500.
#[derive(Clone)]
struct Proxy {
    upstream: String,
    broken: (Method, &'static str),
    http: reqwest::Client,
}

async fn forward(State(p): State<Arc<Proxy>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if method == p.broken.0 && uri.path().starts_with(p.broken.1) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "broken on purpose").into_response();
    }
    let m = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let r = p
        .http
        .request(m, format!("{}{path}", p.upstream))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await;
    match r {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            (status, r.bytes().await.unwrap_or_default()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, format!("http://{a}"))
}

/// Run the suite with the control API broken at `broken`; the probe uses the real one.
async fn run_broken(broken: (Method, &'static str), filter: Option<&str>) -> RunResult {
    let mock = mock_as::testing::TestServer::start().await;
    let mock_base = mock.base().to_string();
    let (rl, ref_base) = listen().await;
    let resource = format!("{ref_base}/mcp");
    let issuer = mock.issuer("MS2calendar");
    let mut rcfg = reference_server::Config::for_issuer(&issuer, &resource).unwrap();
    rcfg.jwks_refresh_interval = Duration::ZERO;
    tokio::spawn(reference_server::serve(rl, rcfg, std::future::pending()));
    let (pl, proxy_base) = listen().await;
    let proxy = Arc::new(Proxy {
        upstream: mock_base.clone(),
        broken,
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(pl, app).await });

    let real = MockAsClient::new(&mock_base, None);
    let (mut profile, _) = runner::learn(
        &resource,
        &real,
        None,
        harness::http::Timeouts::uniform(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    profile.auth.jwks_cache_seconds = 1;
    let mcp = McpClient::new(&profile.server.url, &profile.server.protocol_version);
    let ctx = Arc::new(SuiteCtx {
        profile,
        mock: MockAsClient::new(&proxy_base, None),
        mcp,
    });
    let opts = RunOptions {
        report_dir: None,
        filter: filter.map(str::to_string),
        ..RunOptions::default()
    };
    runner::run_with(ctx, &opts).await.unwrap()
}

/// The requirement tags of scenarios that passed.
fn passed(res: &RunResult) -> Vec<String> {
    res.records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed))
        .map(|r| format!("{} :: {}", r.req().unwrap_or("?"), r.scenario))
        .collect()
}

#[test]
fn broken_sources_error_the_scenarios_that_need_them() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Minting answers 500: every scenario that sends a token of mock-as's fails instead of
    // passing ("the server refuses it" must not pass because there was no token at all).
    let res = rt.block_on(run_broken((Method::POST, "/_mock/tokens"), None));
    let minting_reqs = [
        "req-16", "req-17", "req-24", "req-25", "req-26", "req-39", "req-40", "req-41", "req-52",
        "req-C1", "req-C2",
    ];
    let ok = passed(&res);
    for req in minting_reqs {
        assert!(
            !ok.iter().any(|p| p.starts_with(&format!("{req} ::"))),
            "{req} passed although mock-as could not mint: {ok:#?}"
        );
    }
    let minting_errors = res
        .records
        .iter()
        .filter(|r| matches!(&r.outcome, Outcome::Failed(m) if m.contains("mint")))
        .count();
    assert!(
        minting_errors > 20,
        "{minting_errors} scenarios said minting failed"
    );

    // The journal cannot be read: "the third-party API was not called" / "never received the
    // MCP token" must not pass.
    let res = rt.block_on(run_broken((Method::GET, "/_mock/journal"), None));
    let ok = passed(&res);
    for req in ["req-52", "req-C2"] {
        assert!(
            !ok.iter().any(|p| p.starts_with(&format!("{req} ::"))),
            "{req} passed although the journal could not be read: {ok:#?}"
        );
    }
    assert!(
        res.records.iter().any(
            |r| matches!(&r.outcome, Outcome::Failed(m) if m.contains("cannot read mock-as's journal"))
        ),
        "no scenario said the journal could not be read"
    );
}
