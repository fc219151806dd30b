//! What the probe learned, as types: the report (a profile layer with how each value was
//! learned, notes, the tools and their connections), the profile's hints the probe consults,
//! and the error that ends the run before it starts.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::profile::IssuerStyle;

/// Why the run cannot start: one line that says what to do (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);

/// One learned value and how it was learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// Dotted profile field (`server.stateful`, `tools.admin_action.scopes`).
    pub field: String,
    /// How the probe knows (shown by `init` as the value's comment).
    pub how: String,
}

/// What the probe found about one tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedTool {
    /// The tool's name.
    pub name: String,
    /// Arguments that made a call succeed.
    pub arguments: serde_json::Map<String, Value>,
    /// Scopes beyond the required ones.
    pub scopes: Vec<String>,
    /// How the scopes were learned.
    pub scopes_how: String,
    /// The connection it fetched, if any: (app, level, provider scopes, tenant argument).
    pub connection: Option<ProbedConnection>,
}

/// A connection a tool fetched at mock-as while it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedConnection {
    /// The outbound app.
    pub app_id: String,
    /// `user` or `tenant`.
    pub level: String,
    /// Provider scopes the server asked for.
    pub scopes: Vec<String>,
    /// The argument that carried the tenant id, if one did.
    pub tenant_argument: Option<String>,
}

impl ProbedConnection {
    /// As a profile's `tools[].connection` table.
    pub fn to_toml(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("app_id".into(), toml::Value::String(self.app_id.clone()));
        t.insert("level".into(), toml::Value::String(self.level.clone()));
        t.insert(
            "scopes".into(),
            toml::Value::Array(
                self.scopes
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect(),
            ),
        );
        if let Some(a) = &self.tenant_argument {
            t.insert("tenant_argument".into(), toml::Value::String(a.clone()));
        }
        t
    }
}

/// Everything the probe learned.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The profile layer: `[server]`, `[mock_as]`, `[auth]`, `[[tools]]`.
    pub table: toml::Table,
    /// How each value was learned, in the order learned.
    pub learned: Vec<Learned>,
    /// Things a person should know (a tool that could not be called, a PRM that names another
    /// resource, …); none of them stops the run.
    pub notes: Vec<String>,
    /// The tools, as found.
    pub tools: Vec<ProbedTool>,
}

/// What the user's profile already says, consulted while probing (the probe uses a forced
/// revision, audience, server entry, required scopes and tool arguments instead of guessing).
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// `server.resource`.
    pub resource: Option<String>,
    /// `server.protocol_version`.
    pub protocol_version: Option<String>,
    /// `mock_as.mcp_server_id`.
    pub mcp_server_id: Option<String>,
    /// `mock_as.issuer` (unknown names are left to the profile's own validation).
    pub issuer: Option<IssuerStyle>,
    /// `auth.required_scopes`.
    pub required_scopes: Option<Vec<String>>,
    /// `tools[].arguments` by tool name.
    pub arguments: BTreeMap<String, serde_json::Map<String, Value>>,
}

impl Hints {
    /// The hints in a profile file's table.
    pub fn from_table(t: &toml::Table) -> Hints {
        let s = |sec: &str, k: &str| {
            t.get(sec)
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let required_scopes = t
            .get("auth")
            .and_then(|a| a.get("required_scopes"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
        let mut arguments = BTreeMap::new();
        for tool in t
            .get("tools")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(args)) = (
                tool.get("name").and_then(|v| v.as_str()),
                tool.get("arguments"),
            ) && let Ok(Value::Object(o)) = serde_json::to_value(args)
            {
                arguments.insert(name.to_string(), o);
            }
        }
        Hints {
            resource: s("server", "resource"),
            protocol_version: s("server", "protocol_version"),
            mcp_server_id: s("mock_as", "mcp_server_id"),
            issuer: s("mock_as", "issuer")
                .and_then(|v| IssuerStyle::ALL.into_iter().find(|st| st.as_str() == v)),
            required_scopes,
            arguments,
        }
    }
}
