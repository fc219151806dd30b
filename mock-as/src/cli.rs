//! The `mock-as` command line, in the library so that another binary (`mcp-authcheck serve`)
//! can offer exactly the same flags and behaviour by flattening [`ServeArgs`] (or embedding
//! [`Cli`]) and calling [`run`] or [`main_with`], instead of copying them.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::{AppState, Config};

/// A Descope-compatible mock OAuth 2.1 authorization server for testing MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mock-as", version)]
pub struct Cli {
    /// The serving flags, apart so that they can be flattened into another command.
    #[command(flatten)]
    pub args: ServeArgs,
    /// `None` serves; a subcommand does something else and exits.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// The doc comments on the fields are the `--help` text; keep them in the user's words.
/// The flags that say what to serve and where; with no subcommand they are all [`run`] needs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Default: the embedded default configuration.
    #[arg(long, env = "MOCK_AS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to bind (overrides `listen.bind`). A non-loopback address needs --admin-token.
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Port (overrides `listen.port`); 0 picks a free port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Base URL advertised in documents and tokens (overrides `listen.base_url`).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Protect the control API (/_mock/) with `Authorization: Bearer <token>`.
    #[arg(long, env = "MOCK_AS_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Write the start-up summary as JSON to this file once the listener is bound.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// How /authorize gets consent: `headless` (no page; for CI) or `interactive` (an HTML page
    /// where you pick the user and scopes and approve or deny). Overrides `project.consent`.
    #[arg(long, value_enum, env = "MOCK_AS_CONSENT")]
    pub consent: Option<crate::config::ConsentMode>,
}

/// What `mock-as` can do besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file and exit (0 when valid).
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}

/// Everything the `mock-as` binary does after parsing, so that another binary's `main` gets the
/// same output and exit codes: `check-config` (0 valid, 2 not), else serve until Ctrl-C/SIGTERM
/// (0 after a clean shutdown, 1 when no runtime can start, 2 on any start-up or serving error).
///
/// Logging goes to stderr, filtered by `RUST_LOG`; if the caller already installed a tracing
/// subscriber, that one is kept.
pub fn main_with(cli: Cli) -> ExitCode {
    if let Some(Command::CheckConfig { file }) = &cli.command {
        return match Config::load(file)
            .and_then(|c| crate::keys::KeyRing::from_config(&c).map(|_| c))
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
    // A second initialisation (the embedding binary set up its own) is not an error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
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
    match rt.block_on(run(cli.args, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Serve as the `mock-as` binary does, for callers that own the runtime or the shutdown:
/// apply the flags to the configuration, refuse a non-loopback bind without an admin token,
/// bind, print the start-up summary to stdout, write the ready file (if asked), then serve
/// until `shutdown` completes.
///
/// Errors are meant for the user as they are (`error: {e}`): they name the flag or the file.
/// Unlike [`crate::serve`], this binds itself, so the ready file is the way to learn a port 0.
pub async fn run(
    args: ServeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default()?,
    };
    if let Some(b) = args.bind {
        config.listen.bind = b;
    }
    if let Some(p) = args.port {
        config.listen.port = p;
    }
    if let Some(b) = &args.base_url {
        crate::config::check_base_url(b).map_err(|m| format!("--base-url: {m}"))?;
        config.listen.base_url = Some(b.clone());
    }
    if let Some(c) = args.consent {
        config.project.consent = c;
    }
    if !config.listen.bind.is_loopback() && args.admin_token.is_none() {
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
    let base = crate::base_url_for(&config, &listener)?;
    let state = AppState::new(config, base.clone(), args.admin_token.clone())?;
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
    // Only for people (interactive mode): the default output stays what CI scripts and the
    // README show.
    if state.config.project.consent == crate::config::ConsentMode::Interactive {
        println!("consent:    interactive (an HTML page at /authorize)");
        println!("dashboard:  {base}/_mock/ui");
    }
    if let Some(path) = &args.ready_file {
        // Written aside and renamed, so a reader polling for the file never sees half of it.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&summary)?)
            .map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
    }
    axum::serve(
        listener,
        crate::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// The ready file's content (README, "Ready file").
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

/// Completes on Ctrl-C or (on Unix) SIGTERM, so that CI stopping the server gets a graceful
/// shutdown (in-flight requests finish) rather than a killed process. Pass it to [`run`].
pub async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_accepted_on_either_side_of_the_subcommand() {
        for argv in [
            &["mock-as", "--config", "a.toml", "check-config", "b.toml"][..],
            &["mock-as", "check-config", "b.toml", "--config", "a.toml"][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            assert_eq!(cli.args.config, Some(PathBuf::from("a.toml")));
            assert!(
                matches!(&cli.command, Some(Command::CheckConfig { file }) if file == &PathBuf::from("b.toml"))
            );
        }
    }

    /// What another binary does: `ServeArgs` flattened into its own `serve` subcommand.
    #[test]
    fn serve_args_flatten_into_another_command() {
        #[derive(Debug, Parser)]
        struct Other {
            #[command(subcommand)]
            command: OtherCommand,
        }
        #[derive(Debug, Subcommand)]
        enum OtherCommand {
            Serve(ServeArgs),
        }
        Other::command().debug_assert();
        let o = Other::try_parse_from(["other", "serve", "--port", "0", "--bind", "127.0.0.1"])
            .unwrap();
        let OtherCommand::Serve(a) = o.command;
        assert_eq!(a.port, Some(0));
        assert_eq!(a.bind, Some(IpAddr::from([127, 0, 0, 1])));
    }
}
