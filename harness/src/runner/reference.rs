//! The in-process reference server (or one of its mutants, for the kill matrix) with an
//! in-process mock-as: started, probed and run against, stopped; its profile layer.

use std::time::Duration;

use crate::as_client::MockAsClient;

use super::{RunOptions, RunResult, probe_and_run};

/// The reference server's profile file, compiled in.
pub const REFERENCE_PROFILE: &str = include_str!("../../../fixtures/profiles/reference.toml");

/// The profile file of the in-process reference server as a layer: fixtures/profiles/reference.toml
/// with the URLs of this run.
pub fn reference_layer(mock_base: &str, resource: &str) -> toml::Table {
    // The file is ours and tested (tests/checklist.rs parses it); an unparsable copy gives an
    // empty layer, and the run then learns everything from the wire.
    let mut t: toml::Table = REFERENCE_PROFILE.parse().unwrap_or_default();
    if let Some(toml::Value::Table(s)) = t.get_mut("server") {
        s.insert("url".into(), toml::Value::String(resource.to_string()));
        s.remove("resource");
    }
    if let Some(toml::Value::Table(m)) = t.get_mut("mock_as") {
        m.insert("url".into(), toml::Value::String(mock_base.to_string()));
    }
    t
}

/// The in-process reference server's JWKS cache lifetime: the key-retirement scenario waits
/// about this long for a conforming server. Its profile declares it rounded up to whole seconds
/// (`auth.jwks_max_age_seconds = 1`), and a new key's window (`auth.jwks_cache_seconds`) as 1 s
/// too: with a zero refresh interval the server looks an unknown kid up at once, and a mutant
/// that does not is found after 1 s (plus the margin) instead of the file's 5 s.
const IN_PROCESS_JWKS_TTL: Duration = Duration::from_millis(300);

/// How the in-process reference server validates tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceMode {
    /// Locally, against the JWKS (the reference profile as written).
    Jwt,
    /// By RFC 7662 introspection at mock-as, answers reused for [`IN_PROCESS_INTROSPECTION_TTL`]
    /// (the profile then says `validation = "introspection"`: the revocation scenarios run).
    Introspection,
}

/// The in-process reference server's introspection cache lifetime in [`ReferenceMode::Introspection`]
/// (declared as `auth.introspection_cache_seconds`).
pub const IN_PROCESS_INTROSPECTION_TTL: Duration = Duration::from_secs(1);

/// Start mock-as and the reference server (or a mutant) in-process, run, stop both. A flaw that
/// only shows under introspection ([`reference_server::Flaw::needs_introspection`]) runs in that
/// mode, everything else validates JWTs.
pub async fn run_reference(
    flaw: Option<reference_server::Flaw>,
    opts: &RunOptions,
) -> Result<RunResult, String> {
    let mode = if flaw.is_some_and(|f| f.needs_introspection()) {
        ReferenceMode::Introspection
    } else {
        ReferenceMode::Jwt
    };
    run_reference_in(flaw, mode, opts).await
}

/// [`run_reference`] with the validation mode chosen by the caller.
pub async fn run_reference_in(
    flaw: Option<reference_server::Flaw>,
    mode: ReferenceMode,
    opts: &RunOptions,
) -> Result<RunResult, String> {
    let mock_l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let mock_base = format!("http://{}", mock_l.local_addr().map_err(|e| e.to_string())?);
    let (mock_tx, mock_rx) = tokio::sync::oneshot::channel::<()>();
    let cfg = mock_as::Config::embedded_default().map_err(|e| e.to_string())?;
    tokio::spawn(mock_as::serve(mock_l, cfg, None, async {
        let _ = mock_rx.await;
    }));
    let ref_l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let resource = format!(
        "http://{}/mcp",
        ref_l.local_addr().map_err(|e| e.to_string())?
    );
    let issuer =
        opts.reference_issuer
            .issuer(&mock_base, "P2mockAsDefaultProject000001", "MS2calendar");
    let mut rcfg = reference_server::Config::for_issuer(&issuer, &resource)?;
    // Short JWKS windows keep the rotation and retirement scenarios fast in-process.
    rcfg.jwks_refresh_interval = Duration::ZERO;
    rcfg.jwks_ttl = IN_PROCESS_JWKS_TTL;
    if mode == ReferenceMode::Introspection {
        let mut ic = reference_server::Introspection::for_config(
            &rcfg,
            "ci-service",
            "ci-service-secret-test-only",
        );
        ic.cache_ttl = IN_PROCESS_INTROSPECTION_TTL;
        rcfg.introspection = Some(ic);
    }
    rcfg.flaw = flaw;
    rcfg.stateless = opts.stateless_reference;
    rcfg.revision_2025_03_26 =
        opts.reference_2025_03_26 || flaw.is_some_and(|f| f.needs_2025_03_26());
    let rcfg_2025_03_26 = rcfg.revision_2025_03_26;
    rcfg.oauth_proxy = opts.reference_oauth_proxy || flaw.is_some_and(|f| f.needs_oauth_proxy());
    rcfg.revision_2026_07_28 =
        opts.reference_2026_07_28 || flaw.is_some_and(|f| f.needs_2026_07_28());
    if rcfg.revision_2026_07_28 {
        rcfg.scope_hierarchy = reference_server::reference_scope_hierarchy();
    }
    let rcfg_2026_07_28 = rcfg.revision_2026_07_28;
    let (ref_tx, ref_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(reference_server::serve(ref_l, rcfg, async {
        let _ = ref_rx.await;
    }));
    // What the wire cannot tell: the cache windows this process gave the server.
    let mut layer = if opts.wire_only || opts.stateless_reference {
        toml::Table::new()
    } else {
        reference_layer(&mock_base, &resource)
    };
    if rcfg_2025_03_26 || rcfg_2026_07_28 {
        // The reference profile names the revision the server speaks by default; this one
        // speaks another, which the probe learns from the wire.
        if let Some(toml::Value::Table(srv)) = layer.get_mut("server") {
            srv.remove("protocol_version");
            srv.remove("stateful");
        }
    }
    let auth = layer
        .entry("auth")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(a) = auth.as_table_mut() {
        let secs = |n: u64| toml::Value::Integer(n as i64);
        a.insert(
            "jwks_max_age_seconds".into(),
            secs(IN_PROCESS_JWKS_TTL.as_secs().max(1)),
        );
        a.insert("jwks_cache_seconds".into(), secs(1));
        if rcfg_2026_07_28 {
            // What no wire tells: the hierarchy the server declares (checklist 37).
            let mut h = toml::Table::new();
            for (broad, narrower) in reference_server::REFERENCE_SCOPE_HIERARCHY {
                h.insert(
                    broad.to_string(),
                    toml::Value::Array(
                        narrower
                            .iter()
                            .map(|s| toml::Value::String(s.to_string()))
                            .collect(),
                    ),
                );
            }
            a.insert("scope_hierarchy".into(), toml::Value::Table(h));
        }
        if mode == ReferenceMode::Introspection {
            a.insert(
                "introspection_cache_seconds".into(),
                secs(IN_PROCESS_INTROSPECTION_TTL.as_secs()),
            );
            if !opts.wire_only {
                a.insert(
                    "validation".into(),
                    toml::Value::String("introspection".into()),
                );
            }
        }
    }
    let name = if opts.wire_only {
        "the in-process reference server's cache windows"
    } else {
        "fixtures/profiles/reference.toml"
    };
    let mock = MockAsClient::new(&mock_base, None);
    let res = probe_and_run(&resource, mock, Some((&layer, name)), opts).await;
    let _ = mock_tx.send(());
    let _ = ref_tx.send(());
    res
}
