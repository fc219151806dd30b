//! The `mock-as` command: serve a configuration, or check one.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mock_as::{AppState, Config};
use serde_json::json;

/// A Descope-compatible mock OAuth 2.1 authorization server for testing MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mock-as", version)]
struct Cli {
    /// Configuration file (TOML). Default: the embedded default configuration.
    #[arg(long, env = "MOCK_AS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to bind (overrides `listen.bind`). A non-loopback address needs --admin-token.
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Port (overrides `listen.port`); 0 picks a free port.
    #[arg(long)]
    port: Option<u16>,
    /// Base URL advertised in documents and tokens (overrides `listen.base_url`).
    #[arg(long)]
    base_url: Option<String>,
    /// Protect the control API (/_mock/) with `Authorization: Bearer <token>`.
    #[arg(long, env = "MOCK_AS_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Write the start-up summary as JSON to this file once the listener is bound.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file and exit (0 when valid).
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckConfig { file }) = &cli.command {
        return match Config::load(file)
            .and_then(|c| mock_as::keys::KeyRing::from_config(&c).map(|_| c))
        {
            Ok(c) => {
                println!(
                    "{}: ok ({} MCP servers, {} users, {} clients, {} keys)",
                    file.display(),
                    c.mcp_servers.len(),
                    c.users.len(),
                    c.clients.len(),
                    c.keys.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut config = match &cli.config {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default()?,
    };
    if let Some(b) = cli.bind {
        config.listen.bind = b;
    }
    if let Some(p) = cli.port {
        config.listen.port = p;
    }
    if let Some(b) = &cli.base_url {
        mock_as::config::check_base_url(b).map_err(|m| format!("--base-url: {m}"))?;
        config.listen.base_url = Some(b.clone());
    }
    if !config.listen.bind.is_loopback() && cli.admin_token.is_none() {
        return Err(format!(
            "refusing to bind {} without --admin-token: the control API (/_mock/) would be open to the network",
            config.listen.bind
        )
        .into());
    }
    let listener = tokio::net::TcpListener::bind((config.listen.bind, config.listen.port))
        .await
        .map_err(|e| {
            format!(
                "cannot bind {}:{}: {e}",
                config.listen.bind, config.listen.port
            )
        })?;
    let base = mock_as::base_url_for(&config, &listener)?;
    let state = AppState::new(config, base.clone(), cli.admin_token.clone())?;
    let summary = summary(&state, &listener)?;
    for s in summary["servers"].as_array().into_iter().flatten() {
        println!(
            "mcp server {} ({}): {}",
            s["id"].as_str().unwrap_or_default(),
            s["resource"].as_str().unwrap_or_default(),
            s["well_known"].as_str().unwrap_or_default()
        );
    }
    println!("base url:   {base}");
    println!("project id: {}", state.pid());
    println!("jwks:       {}", state.jwks_uri());
    if let Some(path) = &cli.ready_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&summary)?)
            .map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
    }
    axum::serve(listener, mock_as::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

fn summary(
    state: &AppState,
    listener: &tokio::net::TcpListener,
) -> Result<serde_json::Value, std::io::Error> {
    let addr = listener.local_addr()?;
    let servers: Vec<_> = state
        .config
        .mcp_servers
        .iter()
        .map(|s| {
            let iss = state.issuer(&s.id);
            json!({"id": s.id, "name": s.name, "resource": s.url, "issuer": iss, "well_known": format!("{iss}/.well-known/openid-configuration")})
        })
        .collect();
    Ok(json!({
        "base_url": state.base_url,
        "listen": addr.to_string(),
        "port": addr.port(),
        "pid": std::process::id(),
        "project_id": state.pid(),
        "jwks_uri": state.jwks_uri(),
        "servers": servers,
    }))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
