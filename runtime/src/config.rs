//! The `eddy.toml` configuration file.
//!
//! ```toml
//! [api]
//! tokens = [{ token = "a-long-random-secret", role = "admin" }]
//!
//! [[subscription]]
//! name = "order-totals"
//! plugin = "order-totals"
//! streams = ["orders"]
//! ```
//!
//! Unknown keys are errors, never ignored; every error names the file, the line and the key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::api::Role;
use crate::subscription::SubscriptionSpec;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EddyConfig {
    /// The `[api]` table.
    pub api: ApiSection,
    /// The subscriptions to run.
    pub subscriptions: Vec<SubscriptionSpec>,
}

/// The `[api]` table: who may call the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Bearer tokens and their roles.
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
}

/// One API token.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// The secret (at least 16 characters).
    pub token: String,
    /// `read` (GET only) or `admin` (everything).
    pub role: Role,
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("TokenSpec")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api: Option<toml::Spanned<ApiSection>>,
    #[serde(default)]
    subscription: Vec<toml::Spanned<SubscriptionSpec>>,
}

/// A configuration file that cannot be used. Fix the file at the line named and start again.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// A value breaks a rule (a range, a name, a duplicate).
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line where the offending `[[subscription]]` starts.
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl EddyConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks configuration text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let api = match raw.api {
            Some(spanned) => {
                let line = line_of(spanned.span().start);
                let api = spanned.into_inner();
                for (i, spec) in api.tokens.iter().enumerate() {
                    if let Err(weak) = crate::api::Auth::open().with_token(&spec.token, spec.role) {
                        return Err(ConfigError::Invalid {
                            path: path.to_path_buf(),
                            line,
                            message: format!("[api] tokens[{i}]: {weak}"),
                        });
                    }
                }
                api
            }
            None => ApiSection::default(),
        };
        let mut names = HashSet::new();
        let mut subscriptions = Vec::with_capacity(raw.subscription.len());
        for spanned in raw.subscription {
            let line = line_of(spanned.span().start);
            let spec = spanned.into_inner();
            let invalid = |message: String| ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                message,
            };
            spec.validate().map_err(|e| invalid(e.to_string()))?;
            if !names.insert(spec.name.clone()) {
                return Err(invalid(format!(
                    "subscription `{}`: `name` is used by an earlier subscription",
                    spec.name
                )));
            }
            subscriptions.push(spec);
        }
        Ok(Self { api, subscriptions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EddyConfig, ConfigError> {
        EddyConfig::parse(Path::new("eddy.toml"), text)
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(
            r#"
[[subscription]]
name = "order-totals"        # unique; also the default consumer group
plugin = "order-totals"
streams = ["orders"]
types = ["order.*"]
filter = "type-filter"
config = { threshold = "10000" }
group = "order-totals"
start = "beginning"
batch = 256

[subscription.retry]
max_attempts = 5
backoff_ms = 100
max_backoff_ms = 10000

[subscription.limits]
fuel = 100000000
memory_mb = 64
"#,
        )
        .unwrap();
        let spec = &config.subscriptions[0];
        assert_eq!(spec.name, "order-totals");
        assert_eq!(spec.config["threshold"], "10000");
        assert_eq!(spec.filter.as_deref(), Some("type-filter"));
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it_and_its_line() {
        let error =
            parse("[[subscription]]\nname = \"a\"\nplugin = \"p\"\nstreams = [\"s\"]\nbtach = 5\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("eddy.toml"), "{error}");
        assert!(error.contains("btach"), "{error}");
        assert!(error.contains("line 5"), "{error}");
    }

    #[test]
    fn api_tokens_parse_with_roles_and_weak_or_unknown_ones_are_refused() {
        let config = parse(
            "[api]\ntokens = [{ token = \"reader-0123456789\", role = \"read\" }, \
             { token = \"admin-0123456789\", role = \"admin\" }]\n",
        )
        .unwrap();
        assert_eq!(config.api.tokens.len(), 2);
        assert_eq!(config.api.tokens[0].role, Role::Read);
        assert!(!format!("{config:?}").contains("reader-0123456789"));
        let weak = parse("\n[api]\ntokens = [{ token = \"short\", role = \"admin\" }]\n")
            .unwrap_err()
            .to_string();
        assert!(weak.starts_with("eddy.toml:2: [api] tokens[0]"), "{weak}");
        let role = parse("[api]\ntokens = [{ token = \"admin-0123456789\", role = \"root\" }]\n")
            .unwrap_err()
            .to_string();
        assert!(role.contains("root"), "{role}");
    }

    #[test]
    fn a_missing_required_key_and_a_wrong_type_are_named() {
        let missing = parse("[[subscription]]\nname = \"a\"\nplugin = \"p\"\n").unwrap_err();
        assert!(missing.to_string().contains("streams"), "{missing}");
        let wrong =
            parse("[[subscription]]\nname = \"a\"\nplugin = \"p\"\nstreams = \"s\"\n").unwrap_err();
        assert!(wrong.to_string().contains("line 4"), "{wrong}");
    }

    #[test]
    fn rule_violations_name_the_line_of_their_subscription_and_the_key() {
        let text = "[[subscription]]\nname = \"a\"\nplugin = \"p\"\nstreams = [\"s\"]\n\n\
                    [[subscription]]\nname = \"b\"\nplugin = \"p\"\nstreams = [\"s\"]\nbatch = 0\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(
            error.starts_with("eddy.toml:6: subscription `b`: `batch`"),
            "{error}"
        );
        let duplicate = text.replace("\"b\"", "\"a\"").replace("batch = 0", "");
        let error = parse(&duplicate).unwrap_err().to_string();
        assert!(
            error.contains("eddy.toml:6") && error.contains("earlier subscription"),
            "{error}"
        );
    }
}
