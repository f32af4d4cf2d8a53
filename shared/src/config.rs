//! Typed configuration read once from environment variables.
//!
//! A function describes its settings as a struct and fills it through an [`Env`], which
//! reads from the process environment in production and from a plain map in tests, so no
//! test has to change the environment of the process it runs in.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// The variable every function reads: the identifier of the migration (the cutover) that
/// every log record and metric carries, so an auditor can pull one cutover together.
pub const MIGRATION_ID: &str = "MIGRATION_ID";

/// What went wrong with one configuration variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable is not set, or is set to an empty string.
    #[error("missing environment variable {name}")]
    Missing {
        /// The variable's name.
        name: String,
    },
    /// The variable is set but its value cannot be used.
    #[error("invalid environment variable {name}: {reason}")]
    Invalid {
        /// The variable's name.
        name: String,
        /// Why the value was refused; never the value itself, which may be a secret.
        reason: String,
    },
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A source of configuration values: the process environment or, in tests, a map.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    /// Reads from the environment of this process.
    #[must_use]
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// Reads from the given pairs only; for tests and for tools that build a config by hand.
    #[must_use]
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            lookup: Box::new(move |name| map.get(name).cloned()),
        }
    }

    /// The value of `name`, or `None` when it is unset or empty.
    #[must_use]
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`; an error naming the variable when it is unset or empty.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    /// The value of `name` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(name)
            .map_or(Ok(default), |raw| parse_value(name, &raw))
    }

    /// The value of `name` parsed as `T`; an error when it is unset or does not parse.
    pub fn parse_required<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        parse_value(name, &self.required(name)?)
    }

    /// A boolean flag: `true`/`false`, `1`/`0`, `yes`/`no` (any case); `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::Invalid {
                name: name.to_owned(),
                reason: "expected true or false".to_owned(),
            }),
        }
    }

    /// A duration written in whole seconds; `default` when unset.
    pub fn seconds(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        raw.trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| ConfigError::Invalid {
                name: name.to_owned(),
                reason: "expected a whole number of seconds".to_owned(),
            })
    }

    /// A comma-separated list with blanks removed; empty when unset.
    #[must_use]
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn parse_value<T>(name: &str, raw: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name: name.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named_in_the_error() {
        let env = Env::from_pairs([("OTHER", "x")]);
        let err = env.required("QUEUE_URL").unwrap_err();
        assert_eq!(err.to_string(), "missing environment variable QUEUE_URL");
    }

    #[test]
    fn an_empty_variable_counts_as_missing() {
        let env = Env::from_pairs([("QUEUE_URL", "  ")]);
        assert_eq!(
            env.required("QUEUE_URL"),
            Err(ConfigError::Missing {
                name: "QUEUE_URL".into()
            })
        );
    }

    #[test]
    fn an_invalid_number_names_the_variable_but_not_the_value() {
        let env = Env::from_pairs([("MAX_CHUNKS", "s3cr3t")]);
        let err = env
            .parse_or::<u32>("MAX_CHUNKS", 4)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid environment variable MAX_CHUNKS: "),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        let env = Env::from_pairs([("A", "7"), ("F", "YES"), ("S", "90")]);
        assert_eq!(env.parse_or::<u32>("A", 1), Ok(7));
        assert_eq!(env.parse_or::<u32>("B", 1), Ok(1));
        assert_eq!(env.flag("F", false), Ok(true));
        assert_eq!(env.flag("G", true), Ok(true));
        assert_eq!(
            env.seconds("S", Duration::ZERO),
            Ok(Duration::from_secs(90))
        );
        assert!(env.flag("A", false).is_err());
    }

    #[test]
    fn lists_drop_blanks_and_spaces() {
        let env = Env::from_pairs([("ALARMS", " a, ,b ,c,")]);
        assert_eq!(env.list("ALARMS"), ["a", "b", "c"]);
        assert!(env.list("NONE").is_empty());
    }
}
