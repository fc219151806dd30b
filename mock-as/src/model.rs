//! The model types two sides share: the users who consent and own connection tokens, and the
//! allow rules of Descope's Access Control Plane (mock-as/DESCOPE.md §11). [`crate::config`] loads
//! them from `[[users]]` and the `consent_policy` / `connection_policy` tables;
//! [`crate::policy`] decides with them. Both import this module, neither imports the other.

use serde::{Deserialize, Serialize};

/// One allow rule. Every non-empty condition must hold; an empty list means "any".
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A label shown in decisions and the journal.
    #[serde(default)]
    pub name: String,
    /// What the rule allows: scope names, or `*` for all.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The subject must hold one of these roles (project-level or in any tenant).
    #[serde(default)]
    pub roles: Vec<String>,
    /// The subject must be one of these user ids.
    #[serde(default)]
    pub users: Vec<String>,
    /// The request must come from one of these OAuth clients.
    #[serde(default)]
    pub clients: Vec<String>,
    /// Connections Policies: the outbound app (connection) asked for. Empty = any app; a rule
    /// that names apps never matches a request without one (consent).
    #[serde(default)]
    pub apps: Vec<String>,
    /// The request must be in one of these tenants.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Token Exchange Policies: the target resources (MCP server URLs) the rule allows
    /// exchanging into. Empty = any configured server; only token exchange names resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// `[[users]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// `U...`; the `sub` of the user's tokens.
    pub id: String,
    /// The login id (`login_hint` may name it).
    pub login_id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Project-level roles (`roles` claim; consent policies match them).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Project-level permissions (`permissions` claim).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Tenant memberships (`tenants` claim).
    #[serde(default)]
    pub tenants: Vec<UserTenant>,
}

/// A user's membership of a tenant.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserTenant {
    /// The tenant id.
    pub id: String,
    /// Roles in that tenant.
    #[serde(default)]
    pub roles: Vec<String>,
}
