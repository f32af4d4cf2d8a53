//! Security group open to the world (`0.0.0.0/0` or `::/0`) on a database port: revoke
//! exactly that rule, the world range on that protocol and port range, and leave every
//! other rule, including other ranges on the same ports. A rule for all protocols (`-1`)
//! or a TCP range that spans a database port counts as open on it, and is revoked whole.

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
use serde_json::json;

use super::{Finding, Fix, Inspection, Tags};
use crate::Deps;
use crate::error::{Error, is_missing};

/// The IPv4 range that means anyone.
pub const WORLD_V4: &str = "0.0.0.0/0";
/// The IPv6 range that means anyone.
pub const WORLD_V6: &str = "::/0";

/// One ingress rule open to the world on a database port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRule {
    /// `tcp`, `6` or `-1`.
    pub protocol: String,
    /// First port (absent for all protocols).
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// [`WORLD_V4`] or [`WORLD_V6`].
    pub cidr: String,
}

impl OpenRule {
    fn describe(&self) -> String {
        match (self.from_port, self.to_port) {
            (Some(from), Some(to)) if from == to => {
                format!("{} {from} from {}", self.protocol, self.cidr)
            }
            (Some(from), Some(to)) => format!("{} {from}-{to} from {}", self.protocol, self.cidr),
            _ => format!("{} all from {}", self.protocol, self.cidr),
        }
    }
}

/// The rules of `permissions` open to the world on any of `ports`.
#[must_use]
pub fn open_rules(permissions: &[IpPermission], ports: &[i32]) -> Vec<OpenRule> {
    let mut open = Vec::new();
    for p in permissions {
        let protocol = p.ip_protocol.clone().unwrap_or_default();
        let reaches_db = match protocol.as_str() {
            "-1" => true,
            "tcp" | "6" => match (p.from_port, p.to_port) {
                (Some(from), Some(to)) => ports.iter().any(|port| (from..=to).contains(port)),
                _ => false,
            },
            _ => false,
        };
        if !reaches_db {
            continue;
        }
        let v4 = p.ip_ranges().iter().filter_map(|r| r.cidr_ip.as_deref());
        let v6 = p
            .ipv6_ranges()
            .iter()
            .filter_map(|r| r.cidr_ipv6.as_deref());
        for cidr in v4.chain(v6) {
            if cidr == WORLD_V4 || cidr == WORLD_V6 {
                open.push(OpenRule {
                    protocol: protocol.clone(),
                    from_port: p.from_port,
                    to_port: p.to_port,
                    cidr: cidr.to_owned(),
                });
            }
        }
    }
    open
}

fn summary(permissions: &[IpPermission]) -> Vec<String> {
    let mut rules = Vec::new();
    for p in permissions {
        let protocol = p.ip_protocol.clone().unwrap_or_default();
        let v4 = p.ip_ranges().iter().filter_map(|r| r.cidr_ip.clone());
        let v6 = p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6.clone());
        let groups = p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id.clone());
        for source in v4.chain(v6).chain(groups) {
            rules.push(
                OpenRule {
                    protocol: protocol.clone(),
                    from_port: p.from_port,
                    to_port: p.to_port,
                    cidr: source,
                }
                .describe(),
            );
        }
    }
    rules.sort();
    rules
}

/// Reads the group's ingress rules.
pub async fn inspect(deps: &Deps, group_id: &str) -> Result<Option<Inspection>, Error> {
    let out = match deps
        .ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => {
            return Err(Error::aws(
                format!("describe security group {group_id}"),
                &e,
            ));
        }
    };
    let Some(group) = out
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .find(|g| g.group_id.as_deref() == Some(group_id))
    else {
        return Ok(None);
    };
    let tags: Tags = group
        .tags()
        .iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect();
    let permissions = group.ip_permissions();
    let open = open_rules(permissions, &deps.config.db_ports);
    let state = json!({
        "ingress": summary(permissions),
        "open_to_world_on_database_ports": open.iter().map(OpenRule::describe).collect::<Vec<_>>(),
    });
    let finding = if open.is_empty() {
        Finding::Compliant
    } else {
        Finding::Fix(Fix::RevokeIngress {
            group_id: group_id.to_owned(),
            rules: open,
        })
    };
    Ok(Some(Inspection {
        tags,
        names: group.group_name.clone().into_iter().collect(),
        state,
        finding,
    }))
}

/// Revokes exactly `rules` from the group.
pub async fn apply(deps: &Deps, group_id: &str, rules: &[OpenRule]) -> Result<(), Error> {
    let permissions: Vec<IpPermission> = rules
        .iter()
        .map(|r| {
            let builder = IpPermission::builder()
                .ip_protocol(&r.protocol)
                .set_from_port(r.from_port)
                .set_to_port(r.to_port);
            if r.cidr == WORLD_V6 {
                builder
                    .ipv6_ranges(Ipv6Range::builder().cidr_ipv6(&r.cidr).build())
                    .build()
            } else {
                builder
                    .ip_ranges(IpRange::builder().cidr_ip(&r.cidr).build())
                    .build()
            }
        })
        .collect();
    deps.ec2
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map_err(|e| {
            Error::aws(
                format!("revoke open ingress of security group {group_id}"),
                &e,
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: i32, to: i32, cidrs: &[&str]) -> IpPermission {
        let mut b = IpPermission::builder()
            .ip_protocol(protocol)
            .from_port(from)
            .to_port(to);
        for c in cidrs {
            b = if c.contains(':') {
                b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(*c).build())
            } else {
                b.ip_ranges(IpRange::builder().cidr_ip(*c).build())
            };
        }
        b.build()
    }

    #[test]
    fn only_world_ranges_on_database_ports_are_open() {
        let permissions = [
            rule("tcp", 3306, 3306, &["10.0.0.0/8", "0.0.0.0/0"]),
            rule("tcp", 443, 443, &["0.0.0.0/0"]),
            rule("tcp", 5000, 6000, &["::/0"]),
            rule("udp", 3306, 3306, &["0.0.0.0/0"]),
        ];
        let open: Vec<String> = open_rules(&permissions, &[3306, 5432])
            .iter()
            .map(OpenRule::describe)
            .collect();
        assert_eq!(open, ["tcp 3306 from 0.0.0.0/0", "tcp 5000-6000 from ::/0"]);
    }

    #[test]
    fn all_traffic_from_the_world_is_open_on_every_database_port() {
        let everything = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let open = open_rules(&[everything], &[1521]);
        assert_eq!(
            open,
            [OpenRule {
                protocol: "-1".into(),
                from_port: None,
                to_port: None,
                cidr: "0.0.0.0/0".into(),
            }]
        );
        assert_eq!(open[0].describe(), "-1 all from 0.0.0.0/0");
    }
}
