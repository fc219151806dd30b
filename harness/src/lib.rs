//! The mcp-authcheck suite: cucumber scenarios (`features/`) that drive any MCP server over
//! Streamable HTTP through the server-side authorization requirements of the MCP spec and
//! Descope's connection model, with tokens and policies from `mock-as`.
//!
//! # Layout
//!
//! - [`profile`]: the SUT profile (TOML) users write; errors name the field.
//! - [`world`]: the cucumber World, one per scenario, isolated on mock-as.
//! - [`mcp_client`]: JSON-RPC over Streamable HTTP (rmcp model types + reqwest), every byte kept.
//! - [`as_client`]: typed client for mock-as's control API.
//! - [`challenge`]: `WWW-Authenticate` parser (RFC 7235 / 6750 / 9728).
//! - [`report`]: verdicts (MUST/SHOULD/SKIPPED/XFAIL/STALE), JUnit, checks.json, console table.
//! - [`launch`]: the server command of `run -- COMMAND`: own process group, readiness, stop.
//! - [`probe`]: learns the profile from the wire before any scenario runs.
//! - [`schema_args`]: minimal valid tool arguments from an `inputSchema`.
//! - [`refusal`]: was a tool call refused or did the tool run (MUST items 36, 38).
//! - [`runner`]: applicability, running, the in-process reference server.
//! - [`checklist`]: the numbered requirements every scenario is tagged with.
//! - `steps`: step definitions, one module per feature file.

pub mod as_client;
pub mod challenge;
pub mod checklist;
pub mod launch;
pub mod mcp_client;
pub mod probe;
pub mod profile;
pub mod refusal;
pub mod report;
pub mod runner;
pub mod schema_args;
pub mod world;

mod steps;
