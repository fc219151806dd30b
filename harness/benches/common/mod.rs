//! Shared by the `perf` and `load` benchmarks: the release `mock-as` binary as a child process,
//! a minimal HTTP/1.1 keep-alive client (so the client costs as little CPU as possible on the
//! machine it shares with the server), resident-set readings and percentiles.
#![allow(dead_code)] // each bench uses a different part

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// The default project and MCP server of the embedded configuration.
pub const PID: &str = "P2mockAsDefaultProject000001";
/// The default MCP server entry.
pub const SID: &str = "MS2calendar";
/// The confidential client of the embedded configuration (`client_credentials` allowed).
pub const CLIENT: &str = "ci-service";
/// Its secret (a test value).
pub const SECRET: &str = "ci-service-secret-test-only";

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The release `mock-as` binary: `$MOCK_AS_BIN`, or `target/release/mock-as` after
/// `cargo build --release -p mock-as` (a no-op when it is current).
pub fn mock_as_bin() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("MOCK_AS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "mock-as"])
        .current_dir(root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build --release -p mock-as failed".into());
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let bin = target.join("release").join("mock-as");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("no binary at {}", bin.display()))
    }
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// The discovery document path of the default MCP server entry.
pub fn discovery_path() -> String {
    format!("/v1/apps/agentic/{PID}/{SID}/.well-known/openid-configuration")
}

/// The token endpoint path of the default MCP server entry.
pub fn token_path() -> String {
    format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token")
}

/// A running `mock-as`, killed on drop.
pub struct MockProc {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Time from spawning the process to the first `200` on discovery.
    pub startup: Duration,
}

impl MockProc {
    /// Spawn `bin` (optionally with `--config`) and wait (≤ 10 s) for a 200 on discovery.
    pub fn start(bin: &Path, config: Option<&Path>) -> Result<MockProc, String> {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("MOCK_AS_CONFIG")
            .env_remove("MOCK_AS_ADMIN_TOKEN");
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut p = MockProc {
            child,
            port,
            startup: Duration::ZERO,
        };
        let req = request("GET", &discovery_path(), port, &[], b"");
        loop {
            if probe(port, &req) == Some(200) {
                p.startup = started.elapsed();
                return Ok(p);
            }
            if let Ok(Some(st)) = p.child.try_wait() {
                return Err(format!("mock-as exited during start-up: {st}"));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("mock-as did not answer discovery within 10 s".into());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the process has used (user + system), in seconds: fields 14 and 15 of
    /// /proc/PID/stat, in clock ticks of 1/100 s (the Linux `USER_HZ`).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        let rest = &s[s.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
    }

    /// Resident set size in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for MockProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One blocking request on a fresh connection; the status, or `None` when nothing answers.
fn probe(port: u16, req: &[u8]) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(req).ok()?;
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).ok()?;
    std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()
}

/// An HTTP/1.1 request as bytes (`Host`, `Content-Length` added).
pub fn request(
    method: &str,
    path: &str,
    port: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        r.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut out = r.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `Basic` credentials of the confidential client.
pub fn basic() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"))
    )
}

/// A `client_credentials` token request of the confidential client.
pub fn token_request(port: u16) -> Vec<u8> {
    request(
        "POST",
        &token_path(),
        port,
        &[
            ("authorization", &basic()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"grant_type=client_credentials&scope=mcp%3Aread",
    )
}

/// One keep-alive connection.
pub struct Conn {
    io: BufReader<TcpStream>,
    line: String,
}

impl Conn {
    /// Connect to 127.0.0.1:`port` (Nagle off).
    pub async fn open(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            io: BufReader::new(s),
            line: String::new(),
        })
    }

    /// Send a request and read the whole response: (status, body). Content-Length and
    /// chunked bodies are read; a closed connection is an error.
    pub async fn send(&mut self, req: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        use std::io::{Error, ErrorKind};
        let bad = |m: &str| Error::new(ErrorKind::InvalidData, m.to_string());
        self.io.get_mut().write_all(req).await?;
        self.line.clear();
        if self.io.read_line(&mut self.line).await? == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"));
        }
        let status: u16 = self
            .line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let (mut len, mut chunked) = (None, false);
        loop {
            self.line.clear();
            if self.io.read_line(&mut self.line).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed in headers"));
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    len = Some(v.parse::<usize>().map_err(|_| bad("bad content-length"))?);
                } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                self.line.clear();
                self.io.read_line(&mut self.line).await?;
                let n = usize::from_str_radix(self.line.trim(), 16)
                    .map_err(|_| bad("bad chunk size"))?;
                let start = body.len();
                body.resize(start + n + 2, 0);
                self.io.read_exact(&mut body[start..]).await?;
                body.truncate(start + n);
                if n == 0 {
                    break;
                }
            }
        } else if let Some(n) = len {
            body.resize(n, 0);
            self.io.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }
}

/// The `q` quantile (0..=1) of sorted values.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied()
}

/// A JSON body, or `Null`.
pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
}

/// Number of CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The CPU model from /proc/cpuinfo, if any.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
