//! Loading: a file (relative key paths resolved against its directory), the embedded default
//! (`fixtures/mock-as/default.toml`), TOML parsing with errors that name the file, and the
//! test-only keys compiled in from `fixtures/keys/` (`pem = "builtin:NAME"`).

use std::path::{Path, PathBuf};

use super::{Config, ConfigError};

/// The embedded default configuration (`cargo run -p mock-as` with no arguments).
pub const DEFAULT_TOML: &str = include_str!("../../../fixtures/mock-as/default.toml");
/// The name the embedded default reports in errors.
pub const DEFAULT_NAME: &str = "<embedded default: fixtures/mock-as/default.toml>";

/// Test-only keys compiled into the binary, usable as `pem = "builtin:NAME"`.
const BUILTIN_KEYS: &[(&str, &str)] = &[
    (
        "rs256-1",
        include_str!("../../../fixtures/keys/rs256-1.pem"),
    ),
    (
        "rs256-2",
        include_str!("../../../fixtures/keys/rs256-2.pem"),
    ),
    (
        "rs256-3",
        include_str!("../../../fixtures/keys/rs256-3.pem"),
    ),
    (
        "rs256-4",
        include_str!("../../../fixtures/keys/rs256-4.pem"),
    ),
    (
        "es256-1",
        include_str!("../../../fixtures/keys/es256-1.pem"),
    ),
    (
        "foreign-rs256",
        include_str!("../../../fixtures/keys/foreign-rs256.pem"),
    ),
];

/// The PEM of the key never published in any JWKS (the `foreign_key` flaw signs with it).
pub fn foreign_key_pem() -> &'static str {
    builtin_key("foreign-rs256").unwrap_or_default()
}

fn builtin_key(name: &str) -> Option<&'static str> {
    BUILTIN_KEYS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

impl Config {
    /// The embedded default, parsed and validated.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_TOML, DEFAULT_NAME, None)
    }

    /// Load and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, &path.display().to_string(), Some(dir))
    }

    /// Parse TOML text and validate it.
    pub fn parse(
        text: &str,
        source: &str,
        base_dir: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            // toml's message names the offending key and shows the line.
            ConfigError {
                file: source.to_string(),
                field: String::new(),
                message: e.to_string().trim_end().to_string(),
            }
        })?;
        cfg.source = source.to_string();
        cfg.base_dir = base_dir;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read a key's PEM text (from `builtin:` or a file relative to the config).
    pub fn read_pem(&self, index: usize) -> Result<String, ConfigError> {
        let k = &self.keys[index];
        let field = format!("keys[{index}].pem");
        if let Some(name) = k.pem.strip_prefix("builtin:") {
            return builtin_key(name).map(str::to_string).ok_or_else(|| {
                let names: Vec<&str> = BUILTIN_KEYS.iter().map(|(n, _)| *n).collect();
                self.err(
                    field,
                    format!(
                        "no built-in key {name:?}; built-in keys: {}",
                        names.join(", ")
                    ),
                )
            });
        }
        let p = Path::new(&k.pem);
        let full = match (&self.base_dir, p.is_absolute()) {
            (Some(dir), false) => dir.join(p),
            _ => p.to_path_buf(),
        };
        std::fs::read_to_string(&full)
            .map_err(|e| self.err(field, format!("cannot read {}: {e}", full.display())))
    }
}
