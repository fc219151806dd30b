//! Running the suite: against a profile's server, or in-process against the reference server
//! (or one of its mutants, for the kill matrix). Scenarios that do not apply to the profile are
//! recorded as SKIPPED with the reason and never run; the rest run concurrently (only `@serial`
//! ones alone); each outcome is recorded by cucumber's `after` hook and turned into verdicts.
//!
//! Where it lives: `options` holds how to run ([`RunOptions`], [`Progress`]) and the feature
//! files; `applicability` why a scenario does not apply to a profile (its skip reason);
//! `scenarios` the cucumber wiring that runs them and records each outcome; `records` what a run
//! produced ([`RunResult`]) and the records that stand for a server problem; `learn` the probe
//! before the run and the run's context; `reference` the in-process reference server (and its
//! mutants). [`run`] (this file) picks the profile's server or the reference server.

mod applicability;
mod learn;
mod options;
mod records;
mod reference;
mod scenarios;

pub use applicability::{Capability, not_applicable};
pub use learn::{Refused, context, learn, probe_and_run, run_timeouts};
pub use options::{EMBEDDED_FEATURES, FeatureDir, Progress, RunOptions, features_dir};
pub use records::{
    PREFLIGHT, RunResult, SERVER_FEATURE, SERVER_REQ, STOPPED, probe_summary, server_record,
};
pub use reference::{
    IN_PROCESS_INTROSPECTION_TTL, REFERENCE_PROFILE, ReferenceMode, reference_layer, run_reference,
    run_reference_in,
};
pub use scenarios::{announce_wait, run_with};

use std::path::Path;

use crate::as_client::MockAsClient;
use crate::profile::Profile;

/// Run per the options: the profile's server (its `[server] url`, the mock-as of its
/// `[mock_as] url`), or the in-process reference server.
pub async fn run(opts: &RunOptions) -> Result<RunResult, String> {
    match &opts.profile {
        Some(p) => {
            let name = p.display().to_string();
            let table = Profile::load_table(Path::new(p)).map_err(|e| e.to_string())?;
            let get = |sec: &str, k: &str| {
                table
                    .get(sec)
                    .and_then(|v| v.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let url = get("server", "url").ok_or_else(|| {
                format!("{name}: server.url: needed to know which server to test")
            })?;
            let base = get("mock_as", "url").ok_or_else(|| {
                format!("{name}: mock_as.url: needed to know which mock-as the server trusts")
            })?;
            let mock = MockAsClient::new(&base, get("mock_as", "admin_token"));
            probe_and_run(&url, mock, Some((&table, &name)), opts).await
        }
        None => run_reference(None, opts).await,
    }
}
