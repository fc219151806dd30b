//! How to run: [`RunOptions`] and [`Progress`], and the feature files (on disk under
//! `features/`, or compiled in and written to a temporary directory for the binary).

use std::path::PathBuf;
use std::time::Duration;

use crate::profile::IssuerStyle;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The profile; `None` = in-process mock-as + reference server.
    pub profile: Option<PathBuf>,
    /// Where reports go (`None` = no files).
    pub report_dir: Option<PathBuf>,
    /// SHOULD failures fail the run too.
    pub strict: bool,
    /// Only scenarios whose name contains this, or that carry this tag (`req-24`); several
    /// comma-separated terms select what any of them selects (`req-24,req-25`).
    pub filter: Option<String>,
    /// Scenarios in flight at once.
    pub concurrency: usize,
    /// Print cucumber's step-by-step output.
    pub verbose: bool,
    /// The feature files.
    pub features: PathBuf,
    /// In-process reference runs: learn everything from the wire (the probe), with only the
    /// values the wire cannot tell given (the in-process server's cache windows), instead of
    /// `fixtures/profiles/reference.toml`.
    pub wire_only: bool,
    /// In-process reference runs: the reference server keeps no sessions.
    pub stateless_reference: bool,
    /// In-process reference runs: the Descope issuer the reference server trusts (its own
    /// MCP-server issuer, the project's Inbound App issuer, or the project OIDC issuer).
    pub reference_issuer: IssuerStyle,
    /// In-process reference runs: the reference server speaks only MCP 2025-03-26 (and serves its
    /// authorization server's metadata at its origin, as that revision asks).
    pub reference_2025_03_26: bool,
    /// In-process reference runs: the reference server is an OAuth proxy in front of mock-as.
    pub reference_oauth_proxy: bool,
    /// In-process reference runs: the reference server speaks only MCP 2026-07-28 (stateless,
    /// `server/discover`) and declares its scope hierarchy.
    pub reference_2026_07_28: bool,
    /// Test this MCP revision (`--protocol-version`), whatever else the server speaks: as if the
    /// profile said `server.protocol_version`, over the profile's own value.
    pub protocol_version: Option<String>,
    /// Caps every bound of each request the probe sends (`--probe-timeout`); `None` = the
    /// run's [`RunOptions::timeouts`].
    pub probe_timeout: Option<Duration>,
    /// `--connect-timeout`, `--headers-timeout`, `--body-timeout`: over the profile's
    /// `[timeouts]` (and the defaults, [`crate::http::Timeouts::default`]).
    pub timeouts: crate::http::TimeoutFlags,
    /// Progress output while the scenarios run.
    pub progress: Progress,
    /// A previous run's failures (`--baseline FILE`): the same failures now are XFAIL, a listed
    /// scenario that passes is STALE (or FIXED with `--baseline-allow-fixed`).
    pub baseline: Option<crate::baseline::Baseline>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            profile: None,
            report_dir: Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/authcheck"
            ))),
            strict: false,
            filter: None,
            concurrency: 16,
            verbose: false,
            features: features_dir(),
            wire_only: false,
            stateless_reference: false,
            reference_issuer: IssuerStyle::McpServer,
            reference_2025_03_26: false,
            reference_oauth_proxy: false,
            reference_2026_07_28: false,
            protocol_version: None,
            probe_timeout: None,
            timeouts: crate::http::TimeoutFlags::default(),
            progress: Progress::Quiet,
            baseline: None,
        }
    }
}

/// `features/` at the top of the repository.
pub fn features_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../features"))
}

/// The feature files, compiled in: the `mcp-authcheck` binary runs from any directory
/// (a test checks this list against `features/`).
pub const EMBEDDED_FEATURES: &[(&str, &str)] = &[
    (
        "audience.feature",
        include_str!("../../../features/audience.feature"),
    ),
    (
        "authentication.feature",
        include_str!("../../../features/authentication.feature"),
    ),
    (
        "connections.feature",
        include_str!("../../../features/connections.feature"),
    ),
    (
        "discovery.feature",
        include_str!("../../../features/discovery.feature"),
    ),
    (
        "expiry.feature",
        include_str!("../../../features/expiry.feature"),
    ),
    (
        "key-rotation.feature",
        include_str!("../../../features/key-rotation.feature"),
    ),
    (
        "passthrough.feature",
        include_str!("../../../features/passthrough.feature"),
    ),
    (
        "revocation.feature",
        include_str!("../../../features/revocation.feature"),
    ),
    (
        "scope.feature",
        include_str!("../../../features/scope.feature"),
    ),
    (
        "session.feature",
        include_str!("../../../features/session.feature"),
    ),
];

/// A directory holding the embedded feature files (cucumber reads features from disk), removed
/// when dropped.
#[derive(Debug)]
pub struct FeatureDir {
    /// The directory.
    pub path: PathBuf,
}

impl FeatureDir {
    /// Write [`EMBEDDED_FEATURES`] into a new directory under the system's temporary directory.
    pub fn embedded() -> std::io::Result<FeatureDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mcp-authcheck-features-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        for (name, text) in EMBEDDED_FEATURES {
            std::fs::write(path.join(name), text)?;
        }
        Ok(FeatureDir { path })
    }
}

impl Drop for FeatureDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// How the run reports progress while scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Nothing until the end (tests, `cargo test`).
    #[default]
    Quiet,
    /// One line per finished scenario on stderr (CI logs).
    Lines,
    /// One line rewritten in place on stderr (a terminal).
    Terminal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_features_are_exactly_the_feature_files() {
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(features_dir())
            .expect("features/ is readable")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("feature"))
            .map(|p| {
                (
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_string(),
                    std::fs::read_to_string(&p).unwrap_or_default(),
                )
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<(String, String)> = EMBEDDED_FEATURES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            embedded.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "add the new feature file to EMBEDDED_FEATURES"
        );
        assert_eq!(on_disk, embedded);
        let dir = FeatureDir::embedded().expect("a temp dir");
        assert_eq!(
            std::fs::read_dir(&dir.path).map(|d| d.count()).unwrap_or(0),
            EMBEDDED_FEATURES.len()
        );
        let path = dir.path.clone();
        drop(dir);
        assert!(!path.exists(), "the directory is removed when dropped");
    }
}
