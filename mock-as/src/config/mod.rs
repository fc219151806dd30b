//! The TOML configuration: an embedded default, file loading, and validation whose errors name
//! the file and the field (`fixtures/mock-as/default.toml: mcp_servers[1].id: must start with "MS"`).
//!
//! The annotated reference is README "Configuration"; `fixtures/mock-as/default.toml` is the
//! embedded default.
//!
//! # Layout
//!
//! - `file`: the file model — the serde structs every `[section]` deserializes into, their
//!   defaults, and the lookups on them (which scopes a server knows, its sibling stand-in).
//! - `validate`: every rule the TOML types cannot express, and the checks the control API
//!   shares (users, clients, URLs).
//! - `load`: reading a file or the embedded default, and the built-in test keys.
//!
//! Every item is re-exported here, so paths stay `crate::config::X`.

use std::fmt;

pub use crate::model::{User, UserTenant};

mod file;
mod load;
mod validate;

pub use file::{
    AudMember, ClientConfig, ClientType, Config, ConnectionSeed, ConsentMode, KeyAlg, KeyConfig,
    KeyState, Listen, ManagementKey, McpServer, OUTBOUND_SCOPE, OutboundApp, Project,
    STANDARD_SCOPES, ScopeClaims, ScopeDef, Tenant, host_allowed,
};
pub use load::{DEFAULT_NAME, DEFAULT_TOML, foreign_key_pem};
pub use validate::{
    MAX_TTL, RuleScope, check_app, check_base_url, check_client, check_connection,
    check_domain_pattern, check_redirect_uri, check_resource_url, check_rule, check_server,
    check_ttl, check_user, is_loopback_host,
};

/// A configuration error: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or the embedded default's name).
    pub file: String,
    /// The dotted field path, e.g. `mcp_servers[0].scopes[2].name`; empty for syntax errors.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            field: field.into(),
            message: message.into(),
        }
    }
}
