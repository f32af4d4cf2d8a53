//! The migration template made deployable on moto's CloudFormation, computed from
//! `template.json` itself so the local stack never drifts from what a real account gets.
//!
//! moto 5.2.5 creates the resource types it implements and skips the others with a warning,
//! but a skipped resource is not harmless: `CreateStack` fails with an internal error as soon
//! as an output or an `Fn::GetAtt` names one, and a `Ref` to one silently becomes nothing.
//! [`template_for_moto`] therefore:
//!
//! - removes every resource whose type is in [`MOTO_UNSUPPORTED_TYPES`] (each with the reason);
//! - removes each reference to a removed resource (`Ref`, `Fn::GetAtt`, or an `Fn::Sub` that
//!   names it): the property, list item or statement holding it goes, and a resource that
//!   loses a whole top-level property goes too (the cutover dashboard, whose body names the
//!   DMS task);
//! - prunes `DependsOn` entries, metadata and outputs that name removed resources;
//! - rewrites a listener's weighted `ForwardConfig`, which moto's CloudFormation cannot
//!   read (it requires a single `TargetGroupArn`), to forward to its first target group, and
//!   returns the weights so [`restore_weighted_listeners`] can put them back through the
//!   Elastic Load Balancing API, which moto does implement, once the stack exists;
//! - hands moto a KMS key policy as a JSON string (`Fn::ToJsonString`, which moto resolves):
//!   moto stores a policy given as an object as it is, and then answers every `DescribeKey`
//!   of the key with an internal error.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

/// Resource types the moto copy of the template leaves out, with the reason for each.
pub const MOTO_UNSUPPORTED_TYPES: &[(&str, &str)] = &[
    (
        "AWS::RDS::DBCluster",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::RDS::DBClusterParameterGroup",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::RDS::DBInstance",
        "implemented, but an Aurora instance without its cluster cannot be created",
    ),
    (
        "AWS::SecretsManager::Secret",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DMS::ReplicationSubnetGroup",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DMS::ReplicationInstance",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DMS::Endpoint",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DMS::ReplicationTask",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DataSync::LocationNFS",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DataSync::LocationEFS",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::DataSync::Task",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Config::ConfigurationRecorder",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Config::DeliveryChannel",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Config::ConfigRule",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Backup::BackupVault",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Backup::BackupPlan",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Backup::BackupSelection",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::CloudWatch::Alarm",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::EC2::SecurityGroupEgress",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::CloudFormation::WaitConditionHandle",
        "moto creates nothing for it, then fails DescribeStackResources on the empty entry",
    ),
    (
        "AWS::SNS::Subscription",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::S3::BucketPolicy",
        "not implemented by moto's CloudFormation",
    ),
    (
        "AWS::Lambda::EventSourceMapping",
        "moto would invoke the function through Docker on every message sent, taking the \
         messages the local rehearsal means to hand to the functions itself",
    ),
];

/// A listener whose weighted forward action was simplified for moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedListener {
    /// The listener's logical id in the template.
    pub listener: String,
    /// Each target group's logical id (or literal ARN) with its weight, in template order.
    pub target_groups: Vec<(String, i32)>,
}

/// The template as moto can deploy it, and what was changed to get there.
#[derive(Debug, Clone)]
pub struct MotoTemplate {
    /// The template to hand to moto's `CreateStack`.
    pub template: Value,
    /// Logical ids of every resource left out, sorted.
    pub removed: Vec<String>,
    /// Listeners whose weights [`restore_weighted_listeners`] must put back.
    pub weighted_listeners: Vec<WeightedListener>,
}

/// The repository's `template.json`, parsed.
pub fn load_template() -> Value {
    let path = crate::repo_root().join("template.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn is_unsupported(resource_type: &str) -> bool {
    MOTO_UNSUPPORTED_TYPES
        .iter()
        .any(|(t, _)| *t == resource_type)
}

/// The logical ids an `Fn::Sub` template string names, `${Name}` or `${Name.Attribute}`;
/// `${!Literal}` is not a reference.
fn sub_names(text: &str) -> Vec<&str> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.starts_with('!'))
        .map(|name| name.split('.').next().unwrap_or(name))
        .collect()
}

/// Whether `value` refers, anywhere inside, to one of `removed`.
fn names_any(value: &Value, removed: &BTreeSet<String>) -> bool {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Ref")
                && removed.contains(name)
            {
                return true;
            }
            if let Some(target) = map.get("Fn::GetAtt") {
                let name = match target {
                    Value::Array(parts) => parts.first().and_then(Value::as_str),
                    Value::String(dotted) => dotted.split('.').next(),
                    _ => None,
                };
                if name.is_some_and(|n| removed.contains(n)) {
                    return true;
                }
            }
            if let Some(sub) = map.get("Fn::Sub") {
                let text = match sub {
                    Value::String(s) => Some(s.as_str()),
                    Value::Array(parts) => parts.first().and_then(Value::as_str),
                    _ => None,
                };
                if text.is_some_and(|t| sub_names(t).iter().any(|n| removed.contains(*n))) {
                    return true;
                }
            }
            map.values().any(|v| names_any(v, removed))
        }
        Value::Array(items) => items.iter().any(|v| names_any(v, removed)),
        _ => false,
    }
}

fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}

/// `value` without its references to `removed`: `None` when the value itself goes. The
/// flag says whether an object lost one of its own keys, which makes a list drop it.
fn prune(value: &Value, removed: &BTreeSet<String>) -> (Option<Value>, bool) {
    match value {
        Value::Object(map) if is_intrinsic(map) => {
            if names_any(value, removed) {
                (None, false)
            } else {
                (Some(value.clone()), false)
            }
        }
        Value::Object(map) => {
            let mut kept = Map::new();
            let mut lost = false;
            for (key, item) in map {
                match prune(item, removed).0 {
                    Some(v) => {
                        kept.insert(key.clone(), v);
                    }
                    None => lost = true,
                }
            }
            if lost && kept.is_empty() {
                (None, true)
            } else {
                (Some(Value::Object(kept)), lost)
            }
        }
        Value::Array(items) => {
            let mut kept = Vec::new();
            let mut lost = false;
            for item in items {
                match prune(item, removed) {
                    (Some(v), false) => kept.push(v),
                    _ => lost = true,
                }
            }
            if lost && kept.is_empty() {
                (None, true)
            } else {
                (Some(Value::Array(kept)), lost)
            }
        }
        other => (Some(other.clone()), false),
    }
}

/// The logical ids of resources to leave out: the unsupported types, then (until nothing
/// changes) every resource that would lose a whole top-level property.
fn removed_resources(resources: &Map<String, Value>) -> BTreeSet<String> {
    let mut removed: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str().is_some_and(is_unsupported))
        .map(|(id, _)| id.clone())
        .collect();
    loop {
        let more: Vec<String> = resources
            .iter()
            .filter(|(id, _)| !removed.contains(*id))
            .filter(|(_, r)| {
                r.get("Properties")
                    .and_then(Value::as_object)
                    .is_some_and(|props| props.values().any(|p| prune(p, &removed).0.is_none()))
            })
            .map(|(id, _)| id.clone())
            .collect();
        if more.is_empty() {
            return removed;
        }
        removed.extend(more);
    }
}

fn prune_depends_on(resource: &mut Map<String, Value>, removed: &BTreeSet<String>) {
    let kept: Vec<Value> = match resource.get("DependsOn") {
        Some(Value::String(one)) => vec![Value::String(one.clone())],
        Some(Value::Array(many)) => many.clone(),
        _ => return,
    }
    .into_iter()
    .filter(|d| d.as_str().is_none_or(|n| !removed.contains(n)))
    .collect();
    if kept.is_empty() {
        resource.remove("DependsOn");
    } else {
        resource.insert("DependsOn".into(), Value::Array(kept));
    }
}

/// Replaces each weighted forward action of `listener` by a forward to its first group.
fn simplify_listener(id: &str, listener: &mut Value) -> Option<WeightedListener> {
    let actions = listener
        .get_mut("Properties")?
        .get_mut("DefaultActions")?
        .as_array_mut()?;
    let mut found = None;
    for action in actions {
        let Some(action) = action.as_object_mut() else {
            continue;
        };
        if action.get("Type").and_then(Value::as_str) != Some("forward")
            || action.contains_key("TargetGroupArn")
        {
            continue;
        }
        let Some(config) = action.remove("ForwardConfig") else {
            continue;
        };
        let groups: Vec<(Value, i32)> = config["TargetGroups"]
            .as_array()
            .map(|groups| {
                groups
                    .iter()
                    .map(|g| {
                        let weight = g["Weight"].as_i64().unwrap_or(1);
                        (
                            g["TargetGroupArn"].clone(),
                            i32::try_from(weight).unwrap_or(i32::MAX),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let first = groups.first()?.0.clone();
        action.insert("TargetGroupArn".into(), first);
        found = Some(WeightedListener {
            listener: id.to_owned(),
            target_groups: groups
                .into_iter()
                .map(|(arn, w)| {
                    let name = arn["Ref"]
                        .as_str()
                        .or_else(|| arn.as_str())
                        .unwrap_or_default();
                    (name.to_owned(), w)
                })
                .collect(),
        });
    }
    found
}

/// The copy of `template` that moto 5.2.5's CloudFormation deploys, as the module explains.
pub fn template_for_moto(template: &Value) -> MotoTemplate {
    let mut template = template.clone();
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let removed = removed_resources(&resources);
    let mut kept = Map::new();
    let mut weighted_listeners = Vec::new();
    for (id, resource) in resources {
        if removed.contains(&id) {
            continue;
        }
        let mut resource = resource;
        if let Some(map) = resource.as_object_mut() {
            prune_depends_on(map, &removed);
            for part in ["Properties", "Metadata"] {
                if let Some(value) = map.get(part) {
                    let pruned = prune(value, &removed).0;
                    let pruned = pruned.unwrap_or_else(|| Value::Object(Map::new()));
                    map.insert(part.into(), pruned);
                }
            }
        }
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::Listener" {
            weighted_listeners.extend(simplify_listener(&id, &mut resource));
        }
        if resource["Type"] == "AWS::KMS::Key" {
            let policy = &mut resource["Properties"]["KeyPolicy"];
            if policy.is_object() {
                *policy = serde_json::json!({ "Fn::ToJsonString": policy.take() });
            }
        }
        kept.insert(id, resource);
    }
    template["Resources"] = Value::Object(kept);
    if let Some(outputs) = template.get_mut("Outputs").and_then(Value::as_object_mut) {
        outputs.retain(|_, output| !names_any(output, &removed));
    }
    MotoTemplate {
        template,
        removed: removed.into_iter().collect(),
        weighted_listeners,
    }
}

/// The physical ids of the resources the stack's outputs name with a plain `Ref`, by
/// logical id. Outputs rather than `DescribeStackResources`: moto 5.2.5 fails that call
/// with an internal error when a resource's condition is false.
async fn physical_ids(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    template: &Value,
) -> Result<HashMap<String, String>, String> {
    let described = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| format!("describe stack {stack}: {e:?}"))?;
    let outputs: HashMap<&str, &str> = described
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut ids = HashMap::new();
    for (key, output) in template["Outputs"].as_object().into_iter().flatten() {
        let logical = output["Value"]["Ref"].as_str();
        if let (Some(logical), Some(physical)) = (logical, outputs.get(key.as_str())) {
            ids.insert(logical.to_owned(), (*physical).to_owned());
        }
    }
    Ok(ids)
}

/// Puts back, through the Elastic Load Balancing API, the weighted forward actions that
/// [`template_for_moto`] simplified, once `stack`, deployed from `moto.template`, exists.
/// The listener and its target groups must each be the plain `Ref` of a stack output.
pub async fn restore_weighted_listeners(
    cfn: &aws_sdk_cloudformation::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    stack: &str,
    moto: &MotoTemplate,
) -> Result<(), String> {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
    };
    let ids = physical_ids(cfn, stack, &moto.template).await?;
    let id = |logical: &str| {
        ids.get(logical).cloned().ok_or_else(|| {
            format!("stack {stack} has no output naming {logical}: its weights cannot be restored")
        })
    };
    for listener in &moto.weighted_listeners {
        let listener_arn = id(&listener.listener)?;
        let stickiness = TargetGroupStickinessConfig::builder()
            .enabled(false)
            .build();
        let mut forward = ForwardActionConfig::builder().target_group_stickiness_config(stickiness);
        for (group, weight) in &listener.target_groups {
            let arn = if group.starts_with("arn:") {
                group.clone()
            } else {
                id(group)?
            };
            let tuple = TargetGroupTuple::builder()
                .target_group_arn(arn)
                .weight(*weight);
            forward = forward.target_groups(tuple.build());
        }
        let action = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(forward.build());
        elb.modify_listener()
            .listener_arn(&listener_arn)
            .default_actions(action.build())
            .send()
            .await
            .map_err(|e| format!("restore the weights of listener {listener_arn}: {e:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn removed(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn sub_names_reads_plain_and_attribute_references_but_not_literals() {
        assert_eq!(
            sub_names("${Db.Endpoint.Address}:${Port}/${!Literal}"),
            ["Db", "Port"]
        );
    }

    #[test]
    fn a_statement_whose_only_resource_is_removed_goes_and_the_others_stay() {
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Action": ["a:B"], "Resource": {"Ref": "Secret"}},
            {"Effect": "Allow", "Action": ["c:D"], "Resource": [{"Ref": "Secret"}, "arn:x"]},
        ]});
        let (pruned, _) = prune(&policy, &removed(&["Secret"]));
        assert_eq!(
            pruned,
            Some(json!({"Statement": [
                {"Effect": "Allow", "Action": ["c:D"], "Resource": ["arn:x"]},
            ]}))
        );
    }

    #[test]
    fn an_environment_variable_naming_a_removed_resource_goes_alone() {
        let env = json!({"Variables": {"A": "1", "B": {"Fn::GetAtt": ["Db", "Endpoint.Port"]}}});
        let (pruned, _) = prune(&env, &removed(&["Db"]));
        assert_eq!(pruned, Some(json!({"Variables": {"A": "1"}})));
    }

    #[test]
    fn a_resource_losing_a_top_level_property_is_removed_with_what_it_names() {
        let template = json!({"Resources": {
            "Task": {"Type": "AWS::DMS::ReplicationTask", "Properties": {}},
            "Board": {"Type": "AWS::CloudWatch::Dashboard",
                      "Properties": {"DashboardBody": {"Fn::Sub": "${Task}"}}},
            "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": ["Board", "Other"],
                      "Properties": {}},
            "Other": {"Type": "AWS::SQS::Queue", "Properties": {}},
        }, "Outputs": {
            "T": {"Value": {"Ref": "Task"}}, "Q": {"Value": {"Ref": "Queue"}},
        }});
        let moto = template_for_moto(&template);
        assert_eq!(moto.removed, ["Board", "Task"]);
        assert_eq!(
            moto.template["Resources"]["Queue"]["DependsOn"],
            json!(["Other"])
        );
        assert_eq!(
            moto.template["Outputs"],
            json!({"Q": {"Value": {"Ref": "Queue"}}})
        );
    }

    #[test]
    fn a_weighted_forward_becomes_a_single_group_and_keeps_its_weights_aside() {
        let template = json!({"Resources": {"L": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {"DefaultActions": [{"Type": "forward", "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": {"Ref": "Old"}, "Weight": 90},
                                 {"TargetGroupArn": {"Ref": "New"}, "Weight": 10}]}}]}}}});
        let moto = template_for_moto(&template);
        assert_eq!(
            moto.template["Resources"]["L"]["Properties"]["DefaultActions"],
            json!([{"Type": "forward", "TargetGroupArn": {"Ref": "Old"}}])
        );
        assert_eq!(
            moto.weighted_listeners,
            [WeightedListener {
                listener: "L".into(),
                target_groups: vec![("Old".into(), 90), ("New".into(), 10)],
            }]
        );
    }
}
