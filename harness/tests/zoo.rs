//! The zoo: small broken servers, each one way a half-built MCP server goes wrong — it hangs,
//! resets the connection, answers something that is not HTTP, garbage JSON, a 500, an HTML page,
//! an endless event stream, a 100 MB body, a redirect to another origin, or works for a while
//! and then stops. Against each, the real `mcp-authcheck run --url` (with its in-process
//! mock-as) must end by itself within [`WALL_BOUND`] with a non-zero exit, one line naming the
//! URL and the problem, the same as the reports' one errored check, a peak RSS under
//! [`RSS_BOUND_KIB`], and no panic.
//!
//! The bounds are behaviour users rely on (a CI job must never hang on our tool), not timings:
//! how fast the suite is lives in ci/bench.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

mod support;
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-authcheck");
/// A run against any broken server ends by itself within this.
const WALL_BOUND: Duration = Duration::from_secs(120);
/// ... and peaks under this much resident memory (200 MiB).
const RSS_BOUND_KIB: u64 = 200 * 1024;

/// How a run of the binary went.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
    /// The highest `VmHWM` (peak resident set) read from /proc/<pid>/status while it ran.
    peak_kib: u64,
    report_dir: PathBuf,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    /// The last line on stderr (the refusal).
    fn last_line(&self) -> &str {
        self.stderr.trim().lines().last().unwrap_or_default()
    }
    /// The checks of checks.json.
    fn checks(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read(self.report_dir.join("checks.json")).expect("checks.json");
        serde_json::from_slice::<serde_json::Value>(&text)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap()
    }
}

fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn report_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcp-authcheck-zoo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Run `mcp-authcheck run --url URL` with `extra` arguments; `on_line` sees each stderr line as
/// it comes. Kills the binary (and fails) if it outlives the bound.
fn run_binary(
    name: &str,
    url: &str,
    extra: &[&str],
    on_line: impl Fn(&str) + Send + 'static,
) -> Run {
    let dir = report_dir(name);
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(["run", "--url", url, "--report-dir"])
        .arg(&dir)
        .args(extra)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(out), &mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            on_line(&line);
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let mut peak = 0;
    let code = loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if start.elapsed() > WALL_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: the run did not end within {WALL_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    Run {
        code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took,
        peak_kib: peak,
        report_dir: dir,
    }
}

/// What every animal's run must show: ended in time, exit 2, no panic, bounded memory, one
/// refusal line naming the URL and containing `problem`.
fn assert_refused(name: &str, r: &Run, url: &str, problem: &str) {
    let all = r.all();
    eprintln!(
        "{name}: exit {:?} after {:.1} s, peak RSS {} KiB: {}",
        r.code,
        r.took.as_secs_f64(),
        r.peak_kib,
        r.last_line()
    );
    assert!(r.took < WALL_BOUND, "{name}: took {:?}\n{all}", r.took);
    assert_eq!(r.code, Some(2), "{name}: exit code\n{all}");
    assert!(!all.contains("panicked"), "{name}: printed a panic\n{all}");
    assert!(
        r.peak_kib > 0 && r.peak_kib < RSS_BOUND_KIB,
        "{name}: peak RSS {} KiB (bound {RSS_BOUND_KIB} KiB)",
        r.peak_kib
    );
    let line = r.last_line();
    assert!(
        line.starts_with(&format!("mcp-authcheck: {url}: ")) && line.contains(problem),
        "{name}: the refusal must name {url} and say {problem:?}: {line}\n{all}"
    );
}

/// The preflight refused it: one line on stderr, and the reports hold that line as the run's
/// only check, errored.
fn assert_preflight_refused(name: &str, r: &Run, url: &str, problem: &str) {
    assert_refused(name, r, url, problem);
    assert_eq!(
        r.stderr.trim().lines().count(),
        1,
        "{name}: one line: {}",
        r.stderr
    );
    let checks = r.checks();
    assert_eq!(checks.len(), 1, "{name}: {checks:?}");
    let c = &checks[0];
    assert_eq!(c["status"], "FAILURE", "{c}");
    assert_eq!(c["details"]["state"], "ERROR", "{c}");
    let msg = c["errorMessage"].as_str().unwrap_or_default();
    assert!(
        r.last_line().ends_with(msg),
        "{name}: the report says what the console said: {msg}"
    );
    let junit = std::fs::read_to_string(r.report_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<error message="), "{junit}");
    let sarif = support::sarif_errors(&r.report_dir.join("results.sarif"));
    assert!(sarif.is_empty(), "{name}: results.sarif: {sarif:?}");
    let md = std::fs::read_to_string(r.report_dir.join("summary.md")).unwrap();
    assert!(md.contains("req-server-answers"), "{md}");
    let _ = std::fs::remove_dir_all(&r.report_dir);
}

/// A listener whose every connection is handled by `serve`; its MCP URL.
async fn animal<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s));
        }
    });
    url
}

/// Read a request head (and whatever body came with it).
async fn read_request(s: &mut TcpStream) {
    let mut buf = vec![0u8; 16384];
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
}

/// Answer every request with `head` + `body`.
async fn canned(head: String, body: Vec<u8>) -> String {
    let head = Arc::new(head);
    let body = Arc::new(body);
    animal(move |mut s| {
        let (head, body) = (head.clone(), body.clone());
        async move {
            read_request(&mut s).await;
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
            let _ = s.shutdown().await;
        }
    })
    .await
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs() {
    // Accepts, reads the request, never answers, holds the connection.
    let url = animal(|mut s| async move {
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        drop(s);
    })
    .await;
    let u = url.clone();
    let r = blocking(move || run_binary("hang", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused(
        "hang",
        &r,
        &url,
        "no response within 10 s — is the server running",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_resets_the_connection() {
    let url = animal(|mut s| async move {
        read_request(&mut s).await;
        drop(s);
    })
    .await;
    let u = url.clone();
    let r = blocking(move || run_binary("reset", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused(
        "reset",
        &r,
        &url,
        "the connection was closed before any response",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_speak_http() {
    let url = animal(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        read_request(&mut s).await;
        let _ = s.write_all(b"\x00\x01garbage\r\n\r\n").await;
    })
    .await;
    let u = url.clone();
    let r = blocking(move || run_binary("not-http", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused("not-http", &r, &url, "answered something that is not HTTP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_garbage_json() {
    let body = br#"{"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "#.to_vec();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let url = canned(head, body).await;
    let u = url.clone();
    let r = blocking(move || run_binary("garbage-json", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused("garbage-json", &r, &url, "with invalid JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_500() {
    let body = b"Internal Server Error".to_vec();
    let head = format!(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let url = canned(head, body).await;
    let u = url.clone();
    let r = blocking(move || run_binary("500", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused("500", &r, &url, "answered HTTP 500");
    assert!(
        r.last_line().contains("the server is failing"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_an_html_page() {
    let body = b"<!doctype html><html><body>Welcome to nginx!</body></html>".to_vec();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let url = canned(head, body).await;
    let u = url.clone();
    let r = blocking(move || run_binary("html", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused("html", &r, &url, "answered an HTML page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_event_stream_never_ends() {
    // An event stream of notifications, forever, never the answer to the request.
    let url = animal(|mut s| async move {
        read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n")
            .await;
        let ev = b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"tick\"}}\n\n";
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(300) {
            if s.write_all(ev).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let u = url.clone();
    let r = blocking(move || run_binary("endless-sse", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused(
        "endless-sse",
        &r,
        &url,
        "but no JSON-RPC answer came: the body did not end within 30 s",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_sends_a_100_mb_body() {
    const SIZE: usize = 100 * 1024 * 1024;
    let url = animal(|mut s| async move {
        read_request(&mut s).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {SIZE}\r\n\r\n"
        );
        let _ = s.write_all(head.as_bytes()).await;
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..100 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let u = url.clone();
    let r = blocking(move || run_binary("100mb", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused(
        "100mb",
        &r,
        &url,
        "the body was cut off after 4194304 bytes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_redirects_to_another_origin() {
    // The other origin counts what reaches it: the suite must send it nothing, token or not.
    let reached = Arc::new(AtomicUsize::new(0));
    let seen = reached.clone();
    let elsewhere = animal(move |mut s| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            read_request(&mut s).await;
            let _ = s
                .write_all(b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    })
    .await;
    let head = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let url = canned(head, Vec::new()).await;
    let u = url.clone();
    let r = blocking(move || run_binary("redirect", &u, &["--mock-as-port", "0"], |_| {}))
        .await
        .unwrap();
    assert_preflight_refused("redirect", &r, &url, "redirecting to another origin");
    assert!(
        r.last_line().contains(&elsewhere) && r.last_line().contains("never follows redirects"),
        "{}",
        r.stderr
    );
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a request reached the other origin"
    );
}

/// How a [`pullable`] proxy stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pull {
    /// The process died: nothing listens any more (refused), held connections are cut.
    Refuse,
    /// The process hangs: connections are accepted and held, nothing is answered.
    Hang,
}

/// A TCP proxy in front of a real (reference) MCP server that can be pulled.
struct Pullable {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn pullable(upstream: std::net::SocketAddr, how: Pull) -> Pullable {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut stopped_accept = stopped.clone();
        let mut held = Vec::new();
        loop {
            tokio::select! {
                _ = stopped_accept.changed(), if how == Pull::Refuse => break, // drops the listener
                a = l.accept() => {
                    let Ok((mut down, _)) = a else { break };
                    if *stopped.borrow() {
                        held.push(down); // Pull::Hang: accepted, never answered
                        continue;
                    }
                    let mut stopped = stopped.clone();
                    tokio::spawn(async move {
                        let Ok(mut up) = TcpStream::connect(upstream).await else { return };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                            _ = stopped.changed() => {
                                if how == Pull::Hang {
                                    // Keep the client's connection open, silent.
                                    tokio::time::sleep(Duration::from_secs(600)).await;
                                }
                            }
                        }
                    });
                }
            }
        }
    });
    Pullable { url, stop }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The reference server, trusting the mock-as the binary starts, behind a proxy that is pulled
/// (`how`) as soon as the first scenario has finished; the run must end with one errored check
/// for the rest.
async fn works_then_stops(name: &str, how: Pull, problem: &str) {
    let mock_port = free_port();
    let mock_base = format!("http://127.0.0.1:{mock_port}");
    let ref_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = ref_l.local_addr().unwrap();
    let proxy = pullable(upstream, how).await;
    let issuer = harness::profile::IssuerStyle::McpServer.issuer(
        &mock_base,
        "P2mockAsDefaultProject000001",
        "MS2calendar",
    );
    let cfg = reference_server::Config::for_issuer(&issuer, &proxy.url).unwrap();
    tokio::spawn(reference_server::serve(ref_l, cfg, std::future::pending()));

    let url = proxy.url.clone();
    let stop = proxy.stop.clone();
    let port = mock_port.to_string();
    let n = name.to_string();
    let r = blocking(move || {
        run_binary(&n, &url, &["--mock-as-port", &port], move |line| {
            if line.starts_with("[1/") {
                let _ = stop.send(true);
            }
        })
    })
    .await
    .unwrap();
    assert_refused(
        name,
        &r,
        &proxy.url,
        "the server stopped answering at scenario \"",
    );
    let line = r.last_line();
    assert!(
        !line.contains("at scenario \"\""),
        "names the scenario: {line}"
    );
    assert!(line.contains(problem), "{name}: {line}");
    assert!(
        line.contains("(the remaining scenarios were not run)"),
        "{}",
        r.stderr
    );
    // The reports: what ran before, then the one errored check for the rest.
    let checks = r.checks();
    let errored: Vec<_> = checks
        .iter()
        .filter(|c| c["details"]["state"] == "ERROR")
        .collect();
    assert_eq!(errored.len(), 1, "{checks:#?}");
    let msg = errored[0]["errorMessage"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(line.trim_start_matches("mcp-authcheck: ")),
        "{msg}"
    );
    assert!(msg.contains("scenarios not run: "), "{msg}");
    assert!(
        checks.len() < 40,
        "{name}: the scenarios after the stop are one check, not one each: {}",
        checks.len()
    );
    let _ = std::fs::remove_dir_all(&r.report_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_works_then_dies() {
    works_then_stops("works-then-dies", Pull::Refuse, "is the server running?").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_works_then_hangs() {
    works_then_stops("works-then-hangs", Pull::Hang, "no response within 10 s").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_and_the_flags_set_the_bounds() {
    let url = animal(|mut s| async move {
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        drop(s);
    })
    .await;
    let dir = report_dir("timeouts-profile");
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("p.toml");
    std::fs::write(&profile, "[timeouts]\nheaders_seconds = 3\n").unwrap();
    let p = profile.display().to_string();

    // The profile's bound, then a flag over it.
    for (name, extra, said) in [
        ("timeouts-from-profile", vec![], "no response within 3 s"),
        (
            "timeouts-from-flag",
            vec!["--headers-timeout", "1.5"],
            "no response within 1.5 s",
        ),
    ] {
        let (u, p) = (url.clone(), p.clone());
        let r = blocking(move || {
            let mut args = vec!["--mock-as-port", "0", "--profile", &p];
            args.extend(extra.iter().copied());
            run_binary(name, &u, &args, |_| {})
        })
        .await
        .unwrap();
        assert_preflight_refused(name, &r, &url, said);
        assert!(
            r.took < Duration::from_secs(9),
            "{name}: the default 10 s applied: {:?}",
            r.took
        );
    }

    // A bound that is no bound is refused before anything is sent.
    std::fs::write(&profile, "[timeouts]\nbody_seconds = 0\n").unwrap();
    let (u, p2) = (url.clone(), p.clone());
    let r = blocking(move || {
        run_binary(
            "timeouts-bad",
            &u,
            &["--mock-as-port", "0", "--profile", &p2],
            |_| {},
        )
    })
    .await
    .unwrap();
    assert_eq!(r.code, Some(2), "{}", r.all());
    assert!(
        r.last_line().contains("p.toml: timeouts.body_seconds: ")
            && r.last_line().contains("between 0"),
        "{}",
        r.all()
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
