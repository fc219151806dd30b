//! The SUT profile (TOML): the one contract users write. Errors name the file and the field
//! before anything runs. Annotated example: README "Point it at your server".

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A profile error: `profile.toml: tools[1].connection.level: must be "user" or "tenant"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}{sep}{message}", sep = if field.is_empty() { "" } else { ": " })]
pub struct ProfileError {
    /// The profile file.
    pub file: String,
    /// The dotted field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The whole profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server under test.
    pub server: Server,
    /// The mock-as instance the server trusts.
    pub mock_as: MockAs,
    /// How the server authenticates.
    #[serde(default)]
    pub auth: Auth,
    /// Its tools and what they need.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Requirement tag (`req-40`, `req-C3`) → why the server is known to fail it.
    #[serde(default)]
    pub expected_failures: BTreeMap<String, String>,
    /// How long each kind of wait on the server may take (connect, headers, body); the
    /// `--connect-timeout`, `--headers-timeout` and `--body-timeout` flags override them.
    #[serde(default)]
    pub timeouts: crate::http::Timeouts,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The MCP endpoint.
    pub url: String,
    /// The expected PRM resource and token audience; default = `url`.
    #[serde(default)]
    pub resource: Option<String>,
    /// The MCP protocol revision the client speaks.
    #[serde(default = "default_version")]
    pub protocol_version: String,
    /// Whether the server keeps sessions (`Mcp-Session-Id`). The probe always learns it from
    /// `initialize`; the fallback (yes before 2026-07-28) only applies to a profile built without
    /// the probe.
    #[serde(default)]
    pub stateful: Option<bool>,
    /// Whether the server validates `Origin` (checklist 49 applies to browsers-facing servers).
    #[serde(default = "yes")]
    pub validates_origin: bool,
}

/// `[mock_as]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockAs {
    /// mock-as base URL.
    pub url: String,
    /// The project id.
    pub project_id: String,
    /// The mock-as MCP server entry the SUT trusts (its issuer).
    pub mcp_server_id: String,
    /// `--admin-token` of mock-as, when it was started with one.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Make the server entry's `url` the SUT's resource before running (default true).
    #[serde(default = "yes")]
    pub sync_server_entry: bool,
    /// Which of Descope's issuers the SUT trusts, so the suite mints tokens it can accept
    /// (mock-as/DESCOPE.md §1, §4.1). The probe learns it; default `mcp-server`.
    #[serde(default)]
    pub issuer: IssuerStyle,
}

/// One of Descope's three token issuers (mock-as/DESCOPE.md §1 "URL layout", §4.1): what `iss`
/// says, and the `issuer` field of mock-as's `POST /_mock/tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum IssuerStyle {
    /// The MCP server's own issuer `<base>/v1/apps/agentic/<pid>/<sid>` (Descope's MCP servers).
    #[default]
    #[serde(rename = "mcp-server")]
    McpServer,
    /// The project's Inbound App issuer `<base>/v1/apps/<pid>` (`aud` = the project id).
    #[serde(rename = "inbound-app")]
    InboundApp,
    /// The project OIDC issuer `<base>/<pid>` (`aud` = the project id).
    #[serde(rename = "project")]
    Project,
}

impl IssuerStyle {
    /// Every style, in the order the probe tries them when nothing names one.
    pub const ALL: [IssuerStyle; 3] = [
        IssuerStyle::McpServer,
        IssuerStyle::InboundApp,
        IssuerStyle::Project,
    ];

    /// The name in profiles and in mock-as's control API.
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerStyle::McpServer => "mcp-server",
            IssuerStyle::InboundApp => "inbound-app",
            IssuerStyle::Project => "project",
        }
    }

    /// The issuer URL of this style for mock-as at `base`, project `pid`, server entry `sid`.
    pub fn issuer(self, base: &str, pid: &str, sid: &str) -> String {
        let base = base.trim_end_matches('/');
        match self {
            IssuerStyle::McpServer => format!("{base}/v1/apps/agentic/{pid}/{sid}"),
            IssuerStyle::InboundApp => format!("{base}/v1/apps/{pid}"),
            IssuerStyle::Project => format!("{base}/{pid}"),
        }
    }

    /// Whether `aud` is the project's (`inbound-app`, `project`) rather than composed per
    /// MCP server entry.
    pub fn project_audience(self) -> bool {
        self != IssuerStyle::McpServer
    }
}

/// Token validation style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Local JWT validation against the JWKS (revocation at the AS is invisible).
    #[default]
    Jwt,
    /// Introspection at the AS: enables the revocation-at-AS scenarios.
    Introspection,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Scopes every request needs.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// `jwt` or `introspection`.
    #[serde(default)]
    pub validation: Validation,
    /// How long the SUT may take to accept a newly published key.
    #[serde(default = "default_jwks_wait")]
    pub jwks_cache_seconds: u64,
    /// Seconds the SUT may keep trusting a key removed from the JWKS (its JWKS cache lifetime):
    /// the key-retirement scenario (checklist 44) waits this long; unset, it is skipped.
    #[serde(default)]
    pub jwks_max_age_seconds: Option<u64>,
    /// Seconds the SUT may cache an introspection answer (`validation = "introspection"`): a
    /// token revoked at the AS must be refused within this (checklist 43). Default 0: on the
    /// next request.
    #[serde(default)]
    pub introspection_cache_seconds: u64,
    /// The server is an OAuth proxy: the authorization server its clients see (its protected
    /// resource metadata names its own origin, which registers clients dynamically), sending
    /// users on to another authorization server under one client id of its own. Enables the
    /// Confused Deputy scenarios (checklist 53, 2025-06-18 §Security Considerations). The probe
    /// learns it; set it to correct the probe.
    #[serde(default)]
    pub oauth_proxy: bool,
    /// The server's scope hierarchy: each broader scope with the narrower ones it implies
    /// (`"mcp:owner" = ["mcp:admin"]`). A token with the broader scope must satisfy a requirement
    /// for an implied one (checklist 37, 2026-07-28 §Scope Challenge Handling). No wire tells;
    /// empty = the server declares none, and that scenario is skipped.
    #[serde(default)]
    pub scope_hierarchy: BTreeMap<String, Vec<String>>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            required_scopes: Vec::new(),
            validation: Validation::Jwt,
            jwks_cache_seconds: default_jwks_wait(),
            jwks_max_age_seconds: None,
            introspection_cache_seconds: 0,
            oauth_proxy: false,
            scope_hierarchy: BTreeMap::new(),
        }
    }
}

/// `[[tools]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Tool name.
    pub name: String,
    /// Scopes beyond `required_scopes`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Arguments for a successful call.
    #[serde(default)]
    pub arguments: toml::Table,
    /// The connection it uses, if any.
    #[serde(default)]
    pub connection: Option<Connection>,
}

/// A tool's connection.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// The outbound app.
    pub app_id: String,
    /// `user` or `tenant`.
    #[serde(default = "default_level")]
    pub level: String,
    /// Provider scopes it asks for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// For tenant-level connections: the argument naming the tenant, if the tool takes one.
    #[serde(default)]
    pub tenant_argument: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_version() -> String {
    "2025-06-18".into()
}
fn default_jwks_wait() -> u64 {
    31
}
fn default_level() -> String {
    "user".into()
}

/// Protocol revisions the suite knows, oldest first.
pub const REVISIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];

impl Profile {
    /// Load and validate a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: file.clone(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Profile::parse(&text, &file)
    }

    /// Parse and validate profile text.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let p: Profile = toml::from_str(text).map_err(|e| ProfileError {
            file: file.into(),
            field: String::new(),
            message: e.to_string().trim_end().to_string(),
        })?;
        p.validate(file)?;
        Ok(p)
    }

    /// A profile file as a table (a layer for [`Profile::from_layers`]): TOML syntax errors name
    /// the file; fields are checked once the layers are merged.
    pub fn load_table(path: &Path) -> Result<toml::Table, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: file.clone(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        text.parse::<toml::Table>().map_err(|e| ProfileError {
            file,
            field: String::new(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// The profile a run uses: what the probe learned from the wire (`wire`), overridden field by
    /// field by the user's profile file (`file`, with its name for errors). Tables merge key by
    /// key; `[[tools]]` merge by `name` (a file's tool overrides the fields it sets of the learned
    /// tool of that name, and adds a tool the probe did not find); every other value of the file
    /// replaces the learned one. Errors name the file and the field.
    pub fn from_layers(
        wire: &toml::Table,
        file: Option<(&toml::Table, &str)>,
    ) -> Result<Profile, ProfileError> {
        let mut merged = wire.clone();
        let name = match file {
            Some((t, name)) => {
                merge(&mut merged, t);
                name
            }
            None => "the probe's findings",
        };
        let p: Profile = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ProfileError {
                file: name.into(),
                field: String::new(),
                message: e.to_string().trim_end().to_string(),
            })?;
        p.validate(name)?;
        Ok(p)
    }

    /// Check what TOML types cannot.
    pub fn validate(&self, file: &str) -> Result<(), ProfileError> {
        let err = |field: &str, message: String| ProfileError {
            file: file.into(),
            field: field.into(),
            message,
        };
        let url_ok = |field: &str, v: &str| -> Result<(), ProfileError> {
            let u = url::Url::parse(v)
                .map_err(|e| err(field, format!("{v:?} is not an absolute URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(err(field, format!("{v:?} must be http(s)")));
            }
            Ok(())
        };
        url_ok("server.url", &self.server.url)?;
        if let Some(r) = &self.server.resource {
            url_ok("server.resource", r)?;
        }
        if !REVISIONS.contains(&self.server.protocol_version.as_str()) {
            return Err(err(
                "server.protocol_version",
                format!(
                    "{:?} is not one of {}",
                    self.server.protocol_version,
                    REVISIONS.join(", ")
                ),
            ));
        }
        url_ok("mock_as.url", &self.mock_as.url)?;
        if self.mock_as.project_id.len() != 28 || !self.mock_as.project_id.starts_with('P') {
            return Err(err(
                "mock_as.project_id",
                format!(
                    "{:?} is not a 28-character project id starting with P",
                    self.mock_as.project_id
                ),
            ));
        }
        if !self.mock_as.mcp_server_id.starts_with("MS") {
            return Err(err(
                "mock_as.mcp_server_id",
                format!("{:?} does not start with MS", self.mock_as.mcp_server_id),
            ));
        }
        for (i, t) in self.tools.iter().enumerate() {
            if t.name.is_empty() {
                return Err(err(&format!("tools[{i}].name"), "must not be empty".into()));
            }
            if let Some(c) = &t.connection {
                if c.level != "user" && c.level != "tenant" {
                    return Err(err(
                        &format!("tools[{i}].connection.level"),
                        format!("{:?} must be \"user\" or \"tenant\"", c.level),
                    ));
                }
                if c.app_id.is_empty() {
                    return Err(err(
                        &format!("tools[{i}].connection.app_id"),
                        "must not be empty".into(),
                    ));
                }
            }
        }
        for k in self.expected_failures.keys() {
            if !k.starts_with("req-") {
                return Err(err(
                    &format!("expected_failures.{k}"),
                    "keys are requirement tags like \"req-40\" or \"req-C3\"".into(),
                ));
            }
        }
        Ok(())
    }

    /// The expected resource / audience.
    pub fn resource(&self) -> &str {
        self.server.resource.as_deref().unwrap_or(&self.server.url)
    }

    /// Whether the server keeps sessions.
    pub fn stateful(&self) -> bool {
        self.server
            .stateful
            .unwrap_or(self.server.protocol_version.as_str() < "2026-07-28")
    }

    /// The issuer the SUT trusts (per `mock_as.issuer`).
    pub fn issuer(&self) -> String {
        self.mock_as.issuer.issuer(
            &self.mock_as.url,
            &self.mock_as.project_id,
            &self.mock_as.mcp_server_id,
        )
    }

    /// The `issuer` field for mock-as's mint request: absent for the server entry's own
    /// issuer (what every mock-as version mints by default).
    pub fn mint_issuer(&self) -> Option<String> {
        self.mock_as
            .issuer
            .project_audience()
            .then(|| self.mock_as.issuer.as_str().to_string())
    }

    /// A tool by name.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// A tool that needs a scope beyond the required ones (for scope scenarios).
    pub fn scoped_tool(&self) -> Option<&Tool> {
        self.tools
            .iter()
            .find(|t| !t.scopes.is_empty() && t.connection.is_none())
            .or_else(|| self.tools.iter().find(|t| !t.scopes.is_empty()))
    }

    /// For checklist 37: a scope `tool` needs (beyond the required ones) and a broader scope of
    /// the declared hierarchy that implies it, as (narrower, broader).
    pub fn broader_scope_for(&self, tool: &Tool) -> Option<(String, String)> {
        tool.scopes.iter().find_map(|n| {
            self.auth
                .scope_hierarchy
                .iter()
                .find(|(b, implied)| implied.contains(n) && !tool.scopes.contains(b))
                .map(|(b, _)| (n.clone(), b.clone()))
        })
    }

    /// A tool that needs no scope beyond the required ones.
    pub fn plain_tool(&self) -> Option<&Tool> {
        self.tools
            .iter()
            .find(|t| t.scopes.is_empty() && t.connection.is_none())
    }

    /// A tool with a connection of the given level.
    pub fn connection_tool(&self, level: &str) -> Option<&Tool> {
        self.tools
            .iter()
            .find(|t| t.connection.as_ref().is_some_and(|c| c.level == level))
    }

    /// Every scope any operation needs (required + all tools').
    pub fn all_scopes(&self) -> Vec<String> {
        let mut v = self.auth.required_scopes.clone();
        for t in &self.tools {
            for s in &t.scopes {
                if !v.contains(s) {
                    v.push(s.clone());
                }
            }
        }
        v
    }
}

/// Scope set union: `a`, then the members of `b` it lacks, in order.
pub fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut v = a.to_vec();
    for s in b {
        if !v.contains(s) {
            v.push(s.clone());
        }
    }
    v
}

/// Scope set difference: the members of `a` not in `b`, in order.
pub fn minus(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|s| !b.contains(s)).cloned().collect()
}

/// Merge `over` into `base` (see [`Profile::from_layers`]).
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (Some(toml::Value::Array(b)), toml::Value::Array(o)) if k == "tools" => {
                for tool in o {
                    let name = tool.get("name").and_then(|n| n.as_str());
                    let same = b
                        .iter_mut()
                        .find(|t| name.is_some() && t.get("name").and_then(|n| n.as_str()) == name);
                    match (same, tool) {
                        (Some(toml::Value::Table(bt)), toml::Value::Table(ot)) => {
                            for (tk, tv) in ot {
                                bt.insert(tk.clone(), tv.clone());
                            }
                        }
                        _ => b.push(tool.clone()),
                    }
                }
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
url = "http://127.0.0.1:8001/mcp"
[mock_as]
url = "http://127.0.0.1:8787"
project_id = "P2mockAsDefaultProject000001"
mcp_server_id = "MS2calendar"
[auth]
required_scopes = ["mcp:read"]
[[tools]]
name = "get_calendar_events"
scopes = ["calendar.read"]
connection = { app_id = "google-calendar", level = "user", scopes = ["calendar.readonly"] }
[expected_failures]
"req-40" = "accepts nbf in the future"
"#;

    #[test]
    fn good_profile_parses_with_defaults() {
        let p = Profile::parse(GOOD, "p.toml").unwrap();
        assert_eq!(p.resource(), "http://127.0.0.1:8001/mcp");
        assert_eq!(p.server.protocol_version, "2025-06-18");
        assert!(p.stateful());
        assert_eq!(p.auth.jwks_cache_seconds, 31);
        assert_eq!(
            p.issuer(),
            "http://127.0.0.1:8787/v1/apps/agentic/P2mockAsDefaultProject000001/MS2calendar"
        );
        let inbound = Profile::parse(
            &GOOD.replace("[auth]", "issuer = \"inbound-app\"\n[auth]"),
            "p.toml",
        )
        .unwrap();
        assert_eq!(
            inbound.issuer(),
            "http://127.0.0.1:8787/v1/apps/P2mockAsDefaultProject000001"
        );
        let project = Profile::parse(
            &GOOD.replace("[auth]", "issuer = \"project\"\n[auth]"),
            "p.toml",
        )
        .unwrap();
        assert_eq!(
            project.issuer(),
            "http://127.0.0.1:8787/P2mockAsDefaultProject000001"
        );
        let e = Profile::parse(
            &GOOD.replace("[auth]", "issuer = \"tenant\"\n[auth]"),
            "p.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("issuer"), "{e}");
    }

    #[test]
    fn file_layer_overrides_the_wire_field_by_field() {
        let wire: toml::Table = r#"
[server]
url = "http://127.0.0.1:9/mcp"
protocol_version = "2025-06-18"
stateful = false
[mock_as]
url = "http://127.0.0.1:8787"
project_id = "P2mockAsDefaultProject000001"
mcp_server_id = "MS2calendar"
[auth]
required_scopes = ["mcp:read"]
[[tools]]
name = "a"
scopes = ["x"]
[[tools]]
name = "b"
"#
        .parse()
        .unwrap();
        let file: toml::Table = r#"
[server]
stateful = true
[auth]
jwks_max_age_seconds = 7
[[tools]]
name = "a"
arguments = { n = 1 }
[[tools]]
name = "c"
scopes = ["z"]
"#
        .parse()
        .unwrap();
        let p = Profile::from_layers(&wire, Some((&file, "mine.toml"))).unwrap();
        assert!(p.stateful(), "the file wins");
        assert_eq!(
            p.server.protocol_version, "2025-06-18",
            "the wire fills the rest"
        );
        assert_eq!(p.auth.required_scopes, vec!["mcp:read"]);
        assert_eq!(p.auth.jwks_max_age_seconds, Some(7));
        let names: Vec<&str> = p.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        assert_eq!(p.tools[0].scopes, vec!["x"], "learned scopes kept");
        assert_eq!(
            p.tools[0].arguments.get("n").and_then(|v| v.as_integer()),
            Some(1)
        );
        let bad: toml::Table = "[auth]\nbogus = 1".parse().unwrap();
        let e = Profile::from_layers(&wire, Some((&bad, "mine.toml"))).unwrap_err();
        assert!(
            e.to_string().starts_with("mine.toml: ") && e.to_string().contains("bogus"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = Profile::parse(
            &GOOD.replace("level = \"user\"", "level = \"org\""),
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(e.field, "tools[0].connection.level");
        assert!(
            e.to_string()
                .starts_with("p.toml: tools[0].connection.level: "),
            "{e}"
        );
        let e = Profile::parse(&GOOD.replace("[auth]", "[auth]\nbogus = 1"), "p.toml").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Profile::parse(&GOOD.replace("\"req-40\"", "\"40\""), "p.toml").unwrap_err();
        assert_eq!(e.field, "expected_failures.40");
        let e = Profile::parse(
            &GOOD
                .replace("2025-06-18", "x")
                .replace("[server]", "[server]\nprotocol_version = \"1999\""),
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(e.field, "server.protocol_version");
    }
}
