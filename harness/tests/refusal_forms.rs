//! A server that enforces a tool's scope with an `isError` result before the tool runs (the
//! `scope-refusal-as-tool-error` mutant, as Descope's Express SDK does) gets no MUST failure —
//! the scope *is* enforced — and SHOULD warnings on the form of the refusal (checklist 30–33)
//! only; with the reference profile and with no profile alike.
#![allow(clippy::unwrap_used)]

use harness::runner::{RunOptions, run_reference};
use reference_server::Flaw;

#[test]
fn a_tool_error_refusal_is_enforcement_not_a_must_failure() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // One run at a time: a run installs process-wide suite state.
    for wire_only in [false, true] {
        let opts = RunOptions {
            report_dir: None,
            strict: false,
            wire_only,
            ..RunOptions::default()
        };
        let res = rt
            .block_on(run_reference(Some(Flaw::ScopeRefusalAsToolError), &opts))
            .unwrap();
        let mode = if wire_only { "no profile" } else { "profile" };
        assert_eq!(
            res.summary.must_failed,
            0,
            "{mode}: MUST failures on a server that enforces every scope:\n{}",
            res.console()
        );
        assert!(
            !res.summary.failed(),
            "{mode}: the run fails:\n{}",
            res.console()
        );
        assert_eq!(
            res.failed_reqs(),
            vec!["req-30", "req-31", "req-32", "req-33"],
            "{mode}: the form of the refusal is what 30–33 judge:\n{}",
            res.console()
        );
    }
}
