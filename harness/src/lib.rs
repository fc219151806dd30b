//! The mcp-authcheck suite: cucumber scenarios (`features/`) that drive any MCP server over
//! Streamable HTTP through the server-side authorization requirements of the MCP spec and
//! Descope's connection model, with tokens and policies from `mock-as`.
//!
//! # Layout
//!
//! - [`profile`]: the SUT profile (TOML) users write; errors name the field.
//! - [`world`]: the cucumber World, one per scenario, isolated on mock-as.
//! - [`mcp_client`]: JSON-RPC over Streamable HTTP (rmcp model types + reqwest), every byte kept.
//! - [`http`]: bounded HTTP: timeouts by kind (connect, headers, body), body cap, no redirects.
//! - [`breaker`]: the run's circuit breaker: a server that dies mid-run is one verdict.
//! - [`as_client`]: typed client for mock-as's control API.
//! - [`challenge`]: `WWW-Authenticate` parser (RFC 7235 / 6750 / 9728).
//! - [`verdict`]: the verdict model (MUST/SHOULD/SKIPPED/XFAIL/STALE) every report reads.
//! - [`report`]: JUnit, checks.json, console table, and writing every report file.
//! - [`baseline`]: a previous run's checks.json as the known failures (regression-only gating).
//! - [`sarif`]: `results.sarif`, SARIF 2.1.0 for code scanning.
//! - [`summary_md`]: `summary.md`, the summary as Markdown (a GitHub job summary).
//! - [`html_report`]: `report.html`, one self-contained page of the run.
//! - [`github`]: GitHub Actions annotations and `$GITHUB_STEP_SUMMARY`.
//! - [`launch`]: the server command of `run -- COMMAND`: own process group, readiness, stop.
//! - [`probe`]: learns the profile from the wire before any scenario runs.
//! - [`schema_args`]: minimal valid tool arguments from an `inputSchema`.
//! - [`refusal`]: was a tool call refused or did the tool run (MUST items 36, 38).
//! - [`runner`]: applicability, running, the in-process reference server.
//! - [`checklist`]: the numbered requirements every scenario is tagged with.
//! - `steps`: step definitions, one module per feature file.
#![doc = include_str!("../README.md")]

pub mod as_client;
pub mod baseline;
pub mod breaker;
pub mod challenge;
pub mod checklist;
pub mod github;
pub mod html_report;
pub mod http;
pub mod launch;
pub mod mcp_client;
pub mod probe;
pub mod profile;
pub mod refusal;
pub mod report;
pub mod runner;
pub mod sarif;
pub mod schema_args;
pub mod summary_md;
pub mod verdict;
pub mod world;

mod steps;
