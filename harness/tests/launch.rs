//! `launch` against real processes and real listeners: what `mcp-authcheck run -- COMMAND`
//! promises the user — it waits for their server, explains why it could not, and never leaves
//! any process of the command behind.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use harness::launch::{LaunchError, ServerProcess};
use rustix::process::{Pid, test_kill_process, test_kill_process_group};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pid(raw: u32) -> Pid {
    Pid::from_raw(i32::try_from(raw).unwrap()).unwrap()
}

/// Whether `raw` is a live process. A zombie counts as gone: it runs nothing and holds no port,
/// and where PID 1 does not reap orphans (containers without an init) a killed grandchild stays
/// a zombie for good.
fn running(raw: u32) -> bool {
    if test_kill_process(pid(raw)).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{raw}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next()),
            Some("Z" | "X")
        ),
        // No /proc at all (macOS): the signal test decides. With /proc: it has just exited.
        Err(_) => !Path::new("/proc/self/stat").exists(),
    }
}

/// Poll `cond` up to `limit`.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// The pid a command wrote to `file` (a grandchild's `$!`).
async fn pid_from(file: &Path) -> u32 {
    let mut found = None;
    let ok = eventually(Duration::from_secs(10), || {
        found = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        found.is_some()
    })
    .await;
    assert!(ok, "the command never wrote its grandchild's pid");
    found.unwrap()
}

fn sh(script: &str) -> Vec<String> {
    // One argument with shell characters: runs under `sh -c`, as run-suite.sh did.
    vec![script.to_string()]
}

fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "launch-test-{}-{name}-{}",
        std::process::id(),
        free_port()
    ))
}

#[tokio::test]
async fn a_server_that_answers_is_ready_and_stop_leaves_no_process_of_its_group() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let argv: Vec<String> = ["python3", "-m", "http.server", "--bind", "127.0.0.1"]
        .iter()
        .map(|s| s.to_string())
        .chain([port.to_string()])
        .collect();
    let mut server = ServerProcess::start(&argv, &[]).unwrap();
    let group = server.pid();
    // http.server answers a POST with 501: any status means "up".
    server
        .wait_ready(&url, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(running(group));

    server.stop().await;
    assert!(
        test_kill_process_group(pid(group)).is_err(),
        "the process group {group} is still there after stop"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something still listens on {port} after stop"
    );
    server.stop().await; // idempotent
}

#[tokio::test]
async fn a_command_that_exits_at_once_is_reported_with_its_status_and_output() {
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let start = Instant::now();
    let mut server = ServerProcess::start(&sh("echo boom; exit 3"), &[]).unwrap();
    let err = server
        .wait_ready(&url, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, LaunchError::Exited { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("with status 3"), "{msg}");
    assert!(msg.contains("boom"), "{msg}");
    assert!(msg.contains("`echo boom; exit 3`"), "{msg}");
    assert!(msg.contains(&url), "{msg}");
}

#[tokio::test]
async fn a_command_that_never_listens_ends_the_wait_at_the_bound_naming_the_url() {
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let argv = vec!["sleep".to_string(), "60".to_string()];
    let mut server = ServerProcess::start(&argv, &[]).unwrap();
    let start = Instant::now();
    let err = server
        .wait_ready(&url, Duration::from_secs(2))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2), "gave up early: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(matches!(err, LaunchError::NeverAnswered { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("did not answer within 2s"), "{msg}");
    assert!(msg.contains("(it printed nothing)"), "{msg}");
    let group = server.pid();
    drop(server);
    assert!(!running(group), "sleep 60 survived the drop");
}

#[tokio::test]
async fn dropping_it_kills_the_grandchildren_of_a_shell_command() {
    let file = temp_file("grandchild");
    let script = format!("sleep 300 & echo $! > '{}'; wait", file.display());
    let server = ServerProcess::start(&sh(&script), &[]).unwrap();
    let grandchild = pid_from(&file).await;
    let _ = std::fs::remove_file(&file);
    assert!(running(grandchild));

    drop(server);
    assert!(
        eventually(Duration::from_secs(5), || !running(grandchild)).await,
        "the grandchild {grandchild} outlived the drop"
    );
}

#[tokio::test]
async fn stop_returns_promptly_when_the_group_obeys_sigterm_and_keeps_the_output() {
    // Be what PID 1 is in a container without an init: adopt orphans and never reap them, so
    // the killed grandchild stays a zombie in the group for good. (Process-wide; harmless to the
    // other tests, whose checks count zombies as gone too.)
    #[cfg(target_os = "linux")]
    rustix::process::set_child_subreaper(Some(pid(std::process::id()))).unwrap();
    let file = temp_file("prompt");
    let script = format!(
        "echo started; sleep 300 & echo $! > '{}'; wait",
        file.display()
    );
    let mut server = ServerProcess::start(&sh(&script), &[]).unwrap();
    let grandchild = pid_from(&file).await;
    let _ = std::fs::remove_file(&file);

    let start = Instant::now();
    server.stop().await;
    // Everything dies on SIGTERM, so stop need not wait out its 5 s grace — even though the
    // killed grandchild lingers as an unreaped zombie.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(!running(grandchild));
    // The binary prints the server's output after a failed run, i.e. after the stop.
    assert_eq!(server.log_tail(50), "started");
}

#[tokio::test]
async fn stop_kills_a_group_that_ignores_sigterm() {
    let file = temp_file("stubborn");
    // An ignored signal stays ignored across fork and exec: the grandchild ignores TERM too.
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > '{}'; wait",
        file.display()
    );
    let mut server = ServerProcess::start(&sh(&script), &[]).unwrap();
    let grandchild = pid_from(&file).await;
    let _ = std::fs::remove_file(&file);

    let start = Instant::now();
    server.stop().await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(
        eventually(Duration::from_secs(5), || !running(grandchild)).await,
        "the grandchild {grandchild} ignored TERM and survived the stop"
    );
}

#[tokio::test]
async fn the_environment_reaches_the_command_and_expands_in_its_shell() {
    let env = vec![(
        "MOCK_AS_ISSUER".to_string(),
        "http://127.0.0.1:1/v1/apps/agentic/P1/MS1".to_string(),
    )];
    let mut server =
        ServerProcess::start(&sh("echo \"issuer=$MOCK_AS_ISSUER\"; sleep 300"), &env).unwrap();
    let seen = eventually(Duration::from_secs(10), || {
        server.log_tail(5) == "issuer=http://127.0.0.1:1/v1/apps/agentic/P1/MS1"
    })
    .await;
    assert!(seen, "log: {:?}", server.log_tail(5));

    // An argv command gets it too, without a shell.
    let argv = vec!["printenv".to_string(), "MOCK_AS_ISSUER".to_string()];
    let printed = ServerProcess::start(&argv, &env).unwrap();
    let seen = eventually(Duration::from_secs(10), || {
        printed.log_tail(5) == "http://127.0.0.1:1/v1/apps/agentic/P1/MS1"
    })
    .await;
    assert!(seen, "log: {:?}", printed.log_tail(5));
    server.stop().await;
}

#[tokio::test]
async fn an_answer_after_the_command_died_is_someone_else_not_a_ready_server() {
    // Another process holds the port and answers HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let mut server =
        ServerProcess::start(&sh("echo 'address already in use'; exit 1"), &[]).unwrap();
    let group = server.pid();
    assert!(eventually(Duration::from_secs(10), || !running(group)).await);
    let err = server
        .wait_ready(&url, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, LaunchError::SomethingElse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("something else answers at {url}")),
        "{msg}"
    );
    assert!(msg.contains("address already in use"), "{msg}");
}

#[tokio::test]
async fn a_command_that_cannot_start_or_a_url_that_is_not_one_fails_at_once() {
    let argv = vec!["/nonexistent/mcp-server".to_string(), "--port".to_string()];
    let err = ServerProcess::start(&argv, &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot start the server command `/nonexistent/mcp-server --port`"),
        "{err}"
    );
    assert!(matches!(
        ServerProcess::start(&[], &[]),
        Err(LaunchError::Empty)
    ));

    let mut server = ServerProcess::start(&["sleep".into(), "60".into()], &[]).unwrap();
    let start = Instant::now();
    let err = server
        .wait_ready("127.0.0.1:9000/mcp", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, LaunchError::BadUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("`127.0.0.1:9000/mcp`"), "{err}");
}
