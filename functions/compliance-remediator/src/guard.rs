//! The safety guards that hold changes back: the freeze window and the loop guard.
//!
//! The freeze window is an SSM parameter holding JSON, for example
//! `{"all": true, "until": "2026-12-05T06:00:00Z"}` or `{"resources": ["sg-0abc"]}`: while
//! it is in force, the resources it names (or all) are handled as in dry run. A resource is
//! named by Config's resource id or by another name it has: a database identifier or ARN,
//! a queue URL or name, a key ARN, a security group name, a parameter name. A missing
//! parameter means no freeze; a parameter that is not valid JSON, or has a field this
//! reader does not know (a typo could otherwise lift a freeze), fails the invocation so the
//! event is retried and nothing is changed meanwhile.
//!
//! The loop guard keeps, for each resource, the times it was remediated within the last
//! hour in an SSM parameter under [`loop_guard_parameter`]: durable across cold starts and
//! concurrent executions, and outside the resource, so keeping count never changes the
//! resource itself (which would raise Config events of its own). Two executions remediating
//! the same resource at the same moment can each read the count before the other writes
//! it; the guard then lets one extra remediation through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, is_missing};

/// How long a remediation counts against the loop guard.
pub const LOOP_GUARD_WINDOW_SECS: i64 = 3600;

/// The freeze window in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Every resource is frozen.
    #[serde(default)]
    pub all: bool,
    /// The resources frozen, by the identifier Config reports (or parameter name).
    #[serde(default)]
    pub resources: Vec<String>,
    /// When the freeze ends; open-ended when absent.
    pub until: Option<DateTime<Utc>>,
}

impl Freeze {
    /// Reads the freeze document stored in parameter `name`.
    pub fn parse(name: &str, text: &str) -> Result<Self, Error> {
        migration_shared::json::from_str(text).map_err(|e| Error::FreezeWindow {
            name: name.to_owned(),
            reason: e.describe("the freeze document"),
        })
    }

    /// Whether a resource known by any of `names` is frozen at `now`.
    #[must_use]
    pub fn covers<'a>(&self, names: impl IntoIterator<Item = &'a str>, now: DateTime<Utc>) -> bool {
        let in_force = self.until.is_none_or(|until| now < until);
        in_force
            && (self.all
                || names
                    .into_iter()
                    .any(|n| self.resources.iter().any(|r| r == n)))
    }

    /// The freeze window stored in parameter `name`; no freeze when it does not exist.
    pub async fn load(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Self, Error> {
        match ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => {
                let text = out.parameter.and_then(|p| p.value).unwrap_or_default();
                Self::parse(name, &text)
            }
            Err(e) if is_missing(&e) => Ok(Self::default()),
            Err(e) => Err(Error::aws(
                format!("read freeze window parameter {name}"),
                &e,
            )),
        }
    }
}

/// A 64-bit FNV-1a hash, to keep guard parameter names of different resources apart once
/// their identifiers are reduced to the characters a parameter name allows.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn plain(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// The parameter that keeps the loop guard's count for one resource.
#[must_use]
pub fn loop_guard_parameter(migration_id: &str, resource_type: &str, resource_id: &str) -> String {
    let key = format!("{resource_type}|{resource_id}");
    format!(
        "{}/{}-{:016x}",
        loop_guard_prefix(migration_id),
        plain(resource_id, 200),
        fnv1a(&key)
    )
}

/// The path under which every loop guard parameter of the migration lives, beside the
/// freeze window parameter the template creates (`/<migration>/remediator/freeze`).
#[must_use]
pub fn loop_guard_prefix(migration_id: &str) -> String {
    format!("/{}/remediator/loop-guard", plain(migration_id, 100))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Count {
    /// Unix seconds of each remediation within the window.
    remediations: Vec<i64>,
}

/// The loop guard's record for one resource.
#[derive(Debug)]
pub struct LoopGuard {
    name: String,
    recent: Vec<i64>,
}

impl LoopGuard {
    /// Reads the remediations of the resource kept in parameter `name` within the hour
    /// before `now`.
    pub async fn read(
        ssm: &aws_sdk_ssm::Client,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let count = match ssm.get_parameter().name(name).send().await {
            Ok(out) => {
                let text = out.parameter.and_then(|p| p.value).unwrap_or_default();
                migration_shared::json::from_str::<Count>(&text).map_err(|e| Error::Aws {
                    action: format!("read loop guard parameter {name}"),
                    reason: e.describe("the loop guard record"),
                    transience: migration_shared::Transience::Permanent,
                })?
            }
            Err(e) if is_missing(&e) => Count::default(),
            Err(e) => return Err(Error::aws(format!("read loop guard parameter {name}"), &e)),
        };
        let since = now.timestamp() - LOOP_GUARD_WINDOW_SECS;
        Ok(Self {
            name: name.to_owned(),
            recent: count
                .remediations
                .into_iter()
                .filter(|t| *t > since)
                .collect(),
        })
    }

    /// How many times the resource was remediated within the hour.
    #[must_use]
    pub fn count(&self) -> usize {
        self.recent.len()
    }

    /// Counts one more remediation at `now`, durably.
    pub async fn add(
        &mut self,
        ssm: &aws_sdk_ssm::Client,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.recent.push(now.timestamp());
        let text = serde_json::to_string(&Count {
            remediations: self.recent.clone(),
        })
        .unwrap_or_default();
        ssm.put_parameter()
            .name(&self.name)
            .value(text)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| Error::aws(format!("write loop guard parameter {}", self.name), &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_freeze_covers_named_resources_until_it_ends() {
        let freeze = Freeze::parse(
            "/f",
            r#"{"resources":["sg-1"],"until":"2026-12-05T06:00:00Z"}"#,
        )
        .unwrap();
        assert!(freeze.covers(["sg-1"], at("2026-12-05T05:59:59Z")));
        assert!(freeze.covers(["sg-0abc", "sg-1"], at("2026-12-05T05:59:59Z")));
        assert!(!freeze.covers(["sg-2", "db"], at("2026-12-05T05:00:00Z")));
        assert!(!freeze.covers(["sg-1"], at("2026-12-05T06:00:00Z")));
        let none = Freeze::parse("/f", "{}").unwrap();
        assert!(!none.covers(["sg-1"], at("2026-12-05T05:00:00Z")));
        let all = Freeze::parse("/f", r#"{"all":true}"#).unwrap();
        assert!(all.covers(["anything"], at("2030-01-01T00:00:00Z")));
        assert!(!Freeze::default().covers(["sg-1"], at("2026-12-05T00:00:00Z")));
    }

    #[test]
    fn a_mistyped_freeze_document_is_refused_by_name() {
        let err = Freeze::parse("/migration/freeze", r#"{"resource":["sg-1"]}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to read freeze window parameter /migration/freeze: "),
            "{err}"
        );
    }

    #[test]
    fn guard_parameter_names_are_valid_and_distinct() {
        let a = loop_guard_parameter("cutover 1", "AWS::SQS::Queue", "https://q/a:b");
        let b = loop_guard_parameter("cutover 1", "AWS::SQS::Queue", "https://q/a_b");
        assert_ne!(a, b);
        assert!(a.starts_with("/cutover_1/remediator/loop-guard/"), "{a}");
        let leaf = a.rsplit('/').next().unwrap();
        assert!(
            leaf.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{a}"
        );
    }
}
