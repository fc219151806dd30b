//! Before the run: the probe (its timeouts from the flags over the profile file), the user's
//! profile laid over what the wire said, the run's context, and a refused start written to the
//! reports as one errored check.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::as_client::MockAsClient;
use crate::breaker::Breaker;
use crate::http::Timeouts;
use crate::mcp_client::McpClient;
use crate::probe::{self, Hints, ProbeOptions, ProbeReport};
use crate::profile::Profile;
use crate::report;
use crate::world::SuiteCtx;

use super::records::{PREFLIGHT, probe_summary, server_record};
use super::{RunOptions, RunResult, run_with};

/// Learn the profile: probe the server at `url` (mock-as through `mock`), then lay the user's
/// profile file over what the wire said. The run's own URL and mock-as win over the file's.
pub async fn learn(
    url: &str,
    mock: &MockAsClient,
    file: Option<(&toml::Table, &str)>,
    timeouts: Timeouts,
) -> Result<(Profile, ProbeReport), Refused> {
    let hints = file.map(|(t, _)| Hints::from_table(t)).unwrap_or_default();
    let opts = ProbeOptions {
        url: url.to_string(),
        timeouts,
    };
    let report = probe::probe(&opts, mock, &hints)
        .await
        .map_err(|e| Refused::Server(e.to_string()))?;
    let mut profile =
        Profile::from_layers(&report.table, file).map_err(|e| Refused::Setup(e.to_string()))?;
    profile.server.url = url.to_string();
    profile.mock_as.url = mock.base.clone();
    Ok((profile, report))
}

/// Why a run could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The server under test is unusable (down, hanging, not MCP, refuses every token…): the
    /// reports say so as one errored check.
    Server(String),
    /// The set-up is wrong (a profile field, mock-as): nothing about the server to report.
    Setup(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Server(m) | Refused::Setup(m) => f.write_str(m),
        }
    }
}

/// The run's bounds: the flags over the profile file's `[timeouts]` over the defaults.
pub fn run_timeouts(
    file: Option<(&toml::Table, &str)>,
    opts: &RunOptions,
) -> Result<Timeouts, String> {
    let base = crate::http::timeouts_of(file.map(|(t, _)| t), file.map_or("", |(_, n)| n))?;
    Ok(opts.timeouts.over(base))
}

/// Probe, then run: the one path every way of running takes.
pub async fn probe_and_run(
    url: &str,
    mock: MockAsClient,
    file: Option<(&toml::Table, &str)>,
    opts: &RunOptions,
) -> Result<RunResult, String> {
    // --protocol-version is a profile value given on the command line.
    let forced: Option<(toml::Table, String)> = opts.protocol_version.as_ref().map(|v| {
        let (mut t, name) = file
            .map(|(t, n)| (t.clone(), format!("{n} and --protocol-version")))
            .unwrap_or_else(|| (toml::Table::new(), "--protocol-version".to_string()));
        let srv = t
            .entry("server")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(s) = srv.as_table_mut() {
            s.insert("protocol_version".into(), toml::Value::String(v.clone()));
        }
        (t, name)
    });
    let file = match &forced {
        Some((t, n)) => Some((t, n.as_str())),
        None => file,
    };
    let timeouts = run_timeouts(file, opts)?;
    // The preflight and the probe name a hanging server within 10 s unless told otherwise.
    let headers_given = opts.timeouts.headers_given(file.map(|(t, _)| t));
    let preflight = timeouts.for_preflight(headers_given);
    let probe_timeouts = match opts.probe_timeout {
        Some(cap) => preflight.capped(cap),
        None => preflight,
    };
    let (mut profile, report) = match learn(url, &mock, file, probe_timeouts).await {
        Ok(v) => v,
        Err(Refused::Server(line)) => {
            // The same line in the reports, as the run's one (errored) check.
            if let Some(dir) = &opts.report_dir {
                let meta = report::ReportMeta {
                    server: url.to_string(),
                    profile: opts.profile.as_ref().map(|p| p.display().to_string()),
                };
                let records = [server_record(PREFLIGHT, &line)];
                report::write(dir, &records, &BTreeMap::new(), opts.strict, &meta).map_err(
                    |e| {
                        format!(
                            "{line} (and cannot write reports to {}: {e})",
                            dir.display()
                        )
                    },
                )?;
            }
            return Err(line);
        }
        Err(Refused::Setup(m)) => return Err(m),
    };
    profile.timeouts = timeouts;
    let ctx = context_for(profile, mock);
    let mut res = run_with(ctx, opts).await?;
    if let Some(dir) = &opts.report_dir {
        // What the verdicts rest on (issuer, audience, scopes, tools), next to them.
        std::fs::write(dir.join("learned.txt"), probe_summary(&report))
            .map_err(|e| format!("cannot write reports to {}: {e}", dir.display()))?;
    }
    res.probe = Some(report);
    Ok(res)
}

/// The run's context: the MCP client with the profile's bounds and a fresh circuit breaker.
fn context_for(profile: Profile, mock: MockAsClient) -> Arc<SuiteCtx> {
    let breaker = Arc::new(Breaker::new(&profile.server.url, profile.timeouts));
    let mcp = McpClient::with_timeouts(
        &profile.server.url,
        &profile.server.protocol_version,
        profile.timeouts,
    )
    .with_breaker(breaker);
    Arc::new(SuiteCtx { profile, mock, mcp })
}

/// A context for a profile.
pub fn context(profile: Profile) -> Arc<SuiteCtx> {
    let mock = MockAsClient::new(&profile.mock_as.url, profile.mock_as.admin_token.clone());
    context_for(profile, mock)
}
