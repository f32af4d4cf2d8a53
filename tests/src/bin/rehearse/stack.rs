//! The migration stack on moto: what a real account holds before it (a peer VPC, the
//! artifacts bucket with the four packages, a certificate), the stack created from the copy
//! of `template.json` that `migration_tests::template_for_moto` computes, its outputs, and
//! the environment each function gets, resolved from the template as CloudFormation would.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use migration_tests::{MotoTemplate, load_template, restore_weighted_listeners, template_for_moto};
use serde_json::Value;

use crate::{Described, Error, call, note};

/// The account moto answers for.
const ACCOUNT: &str = "123456789012";
/// The region of the local stack.
const REGION: &str = "us-east-1";
/// An empty but valid zip archive: moto reads each function's package from S3.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// The four functions, by crate name.
pub const FUNCTIONS: [&str; 4] = [
    "replication-validator",
    "weight-shifter",
    "compliance-remediator",
    "backup-verifier",
];

/// The stack as created.
pub struct Deployed {
    /// The stack's name.
    pub stack: String,
    /// The migration's identifier, the stack's `MigrationId` parameter.
    pub migration_id: String,
    /// Every output, by key.
    pub outputs: HashMap<String, String>,
    /// The parameters given, by key.
    pub parameters: HashMap<String, String>,
    /// The template moto deployed.
    pub moto: MotoTemplate,
    artifacts: String,
}

impl Described for Deployed {
    fn describe(&self) -> String {
        format!(
            "{} (migration {}): {} resources, {} outputs ({} left out, moto lacks them)",
            self.stack,
            self.migration_id,
            self.moto.template["Resources"]
                .as_object()
                .map_or(0, serde_json::Map::len),
            self.outputs.len(),
            self.moto.removed.len()
        )
    }
}

fn parameters(
    migration_id: &str,
    artifacts: &str,
    peer_vpc: &str,
    cert: &str,
) -> Vec<(String, String)> {
    [
        ("MigrationId", migration_id.to_owned()),
        ("ArtifactsBucket", artifacts.to_owned()),
        ("PeerVpcId", peer_vpc.to_owned()),
        ("PeerVpcCidr", "172.30.0.0/16".to_owned()),
        ("SourceDbHost", "172.30.4.10".to_owned()),
        ("CertificateArn", cert.to_owned()),
        ("OnPremTargetIp", "172.30.4.20".to_owned()),
        ("HostedZoneName", format!("{migration_id}.example.com")),
        ("OnPremRecordIp", "172.30.4.21".to_owned()),
        (
            "DataSyncAgentArn",
            format!("arn:aws:datasync:{REGION}:{ACCOUNT}:agent/agent-0123456789abcdef0"),
        ),
        ("NfsServerHostname", "172.30.4.30".to_owned()),
        (
            "DrVaultArn",
            format!("arn:aws:backup:us-west-2:{ACCOUNT}:backup-vault:payments-dr"),
        ),
        (
            "DrKmsKeyArn",
            format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"),
        ),
        // The rehearsal checks real fixes, so the remediator is not in dry run.
        ("RemediationDryRun", "false".to_owned()),
        // The DMS service roles have fixed names, one per account, and DMS is not on moto.
        ("CreateDmsServiceRoles", "false".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Creates the peer VPC, the artifacts bucket and the certificate, then the stack, waits
/// for it, puts the listener's weights back and reads the outputs.
pub async fn deploy(sdk: &aws_config::SdkConfig) -> Result<Deployed, Error> {
    let migration_id = migration_tests::unique("rh");
    let stack = format!("{migration_id}-stack");
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let peer = ec2
        .create_vpc()
        .cidr_block("172.30.0.0/16")
        .send()
        .await
        .map_err(call("create the peer VPC"))?;
    let peer_vpc = peer
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap_or_default()
        .to_owned();
    let s3 = aws_sdk_s3::Client::new(sdk);
    let artifacts = format!("{migration_id}-artifacts");
    s3.create_bucket()
        .bucket(&artifacts)
        .send()
        .await
        .map_err(call(format!("create bucket {artifacts}")))?;
    for name in FUNCTIONS {
        s3.put_object()
            .bucket(&artifacts)
            .key(format!("{name}/bootstrap.zip"))
            .body(EMPTY_ZIP.to_vec().into())
            .send()
            .await
            .map_err(call(format!("put {name}/bootstrap.zip in {artifacts}")))?;
    }
    let acm = aws_sdk_acm::Client::new(sdk);
    let cert = acm
        .request_certificate()
        .domain_name(format!("api.{migration_id}.example.com"))
        .send()
        .await
        .map_err(call("request the listener's certificate"))?;
    let cert = cert.certificate_arn().unwrap_or_default().to_owned();

    let moto = template_for_moto(&load_template());
    note(&format!(
        "template.json as moto can deploy it: {} resources left out (types moto's \
         CloudFormation lacks: Aurora, DMS, DataSync, Config, Backup, alarms, ...)",
        moto.removed.len()
    ));
    let given = parameters(&migration_id, &artifacts, &peer_vpc, &cert);
    let mut create = aws_sdk_cloudformation::Client::new(sdk)
        .create_stack()
        .stack_name(&stack)
        .template_body(moto.template.to_string())
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    for (k, v) in &given {
        create = create.parameters(
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(call(format!("create stack {stack}")))?;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let outputs = wait_for(&cfn, &stack).await?;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    restore_weighted_listeners(&cfn, &elb, &stack, &moto)
        .await
        .map_err(Error::Check)?;
    note(&format!(
        "stack {stack} created with migration id {migration_id}; {} outputs read",
        outputs.len()
    ));
    Ok(Deployed {
        stack,
        migration_id,
        outputs,
        parameters: given.into_iter().collect(),
        moto,
        artifacts,
    })
}

async fn wait_for(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<HashMap<String, String>, Error> {
    for _ in 0..120 {
        let described = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(call(format!("describe stack {stack}")))?;
        let Some(s) = described.stacks().first() else {
            return Err(Error::Check(format!(
                "stack {stack} vanished while being created"
            )));
        };
        match s.stack_status() {
            Some(StackStatus::CreateInProgress) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Some(StackStatus::CreateComplete) => {
                return Ok(s
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect());
            }
            other => {
                let reason = s.stack_status_reason().unwrap_or("no reason given");
                return Err(Error::Check(format!(
                    "stack {stack} ended {other:?}: {reason}"
                )));
            }
        }
    }
    Err(Error::Check(format!(
        "stack {stack} still being created after 60 seconds"
    )))
}

/// What a `Ref` or `Fn::GetAtt` of the template resolves to on the deployed stack.
struct Names {
    refs: HashMap<String, String>,
    attributes: HashMap<String, String>,
}

impl Names {
    fn new(deployed: &Deployed) -> Self {
        let template = &deployed.moto.template;
        let mut refs: HashMap<String, String> = HashMap::new();
        for (name, p) in template["Parameters"].as_object().into_iter().flatten() {
            let given = deployed.parameters.get(name).cloned();
            let default = p["Default"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| p["Default"].as_i64().map(|n| n.to_string()));
            if let Some(v) = given.or(default) {
                refs.insert(name.clone(), v);
            }
        }
        refs.insert("AWS::Region".into(), REGION.into());
        refs.insert("AWS::AccountId".into(), ACCOUNT.into());
        refs.insert("AWS::StackName".into(), deployed.stack.clone());
        refs.insert("AWS::Partition".into(), "aws".into());
        let mut attributes = HashMap::new();
        for (key, output) in template["Outputs"].as_object().into_iter().flatten() {
            let Some(value) = deployed.outputs.get(key) else {
                continue;
            };
            if let Some(logical) = output["Value"]["Ref"].as_str() {
                refs.insert(logical.to_owned(), value.clone());
            }
            let target = &output["Value"]["Fn::GetAtt"];
            let dotted = match target {
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("."),
                Value::String(s) => s.clone(),
                _ => continue,
            };
            attributes.insert(dotted, value.clone());
        }
        Self { refs, attributes }
    }

    fn name(&self, name: &str) -> Option<String> {
        self.refs
            .get(name)
            .or_else(|| self.attributes.get(name))
            .cloned()
    }

    /// The value of `v`, or the first name that could not be resolved.
    fn resolve(&self, v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Object(map) => {
                if let Some(Value::String(name)) = map.get("Ref") {
                    return self.name(name).ok_or_else(|| name.clone());
                }
                if let Some(target) = map.get("Fn::GetAtt") {
                    let dotted = match target {
                        Value::Array(parts) => parts
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("."),
                        other => other.as_str().unwrap_or_default().to_owned(),
                    };
                    return self.attributes.get(&dotted).cloned().ok_or(dotted);
                }
                if let Some(Value::String(text)) = map.get("Fn::Sub") {
                    return self.substitute(text);
                }
                if let Some(Value::Array(parts)) = map.get("Fn::Join") {
                    let separator = parts.first().and_then(Value::as_str).unwrap_or_default();
                    let items = parts
                        .get(1)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let resolved: Result<Vec<String>, String> =
                        items.iter().map(|i| self.resolve(i)).collect();
                    return resolved.map(|r| r.join(separator));
                }
                Err(format!("{v}"))
            }
            other => Err(other.to_string()),
        }
    }

    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| text.to_owned())?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                out.push_str(&self.name(name).ok_or_else(|| name.to_owned())?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The environment of the four functions, as the deployed stack gives each of them
/// (they share one `cargo lambda watch`, so one file holds the union; no two functions
/// give a variable different values), followed by what the rehearsal itself sets: the
/// local stack's endpoints, and values standing in for resources moto lacks, each said.
pub fn function_env(deployed: &Deployed, backup_url: &str) -> BTreeMap<String, String> {
    let names = Names::new(deployed);
    let mut env = BTreeMap::new();
    for (id, resource) in deployed.moto.template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let variables = &resource["Properties"]["Environment"]["Variables"];
        for (name, value) in variables.as_object().into_iter().flatten() {
            match names.resolve(value) {
                Ok(v) => {
                    env.insert(name.clone(), v);
                }
                Err(missing) => note(&format!("{id}: {name} left out ({missing} not on moto)")),
            }
        }
    }
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDWATCH",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EC2_METADATA_DISABLED",
    ] {
        if let Ok(v) = std::env::var(name) {
            env.insert(name.to_owned(), v);
        }
    }
    env.insert("AWS_ENDPOINT_URL_BACKUP".into(), backup_url.to_owned());
    // Stand-ins for what moto lacks or the template leaves out, each said in the output.
    env.insert("EXPECTED_VAULT_NAME".into(), crate::backup::VAULT.into());
    note(&format!(
        "EXPECTED_VAULT_NAME={}: the template's vault is not on moto; the AWS Backup fake \
         serves the vault the sample events name",
        crate::backup::VAULT
    ));
    env.insert(
        "PROTECTED_RESOURCE_ARNS".into(),
        crate::backup::PROTECTED.into(),
    );
    note(&format!(
        "PROTECTED_RESOURCE_ARNS={}: the template's Aurora cluster and file system are not \
         on moto; the cluster the sample events name stands in",
        crate::backup::PROTECTED
    ));
    env
}

/// Deletes the artifacts bucket; the stack stays on moto until the local stack stops
/// (moto cannot delete its VPC while the subnets it made remain), and every run uses new
/// names, so a rerun never meets it.
pub async fn delete(sdk: &aws_config::SdkConfig, deployed: &Deployed) {
    let s3 = aws_sdk_s3::Client::new(sdk);
    for name in FUNCTIONS {
        let key = format!("{name}/bootstrap.zip");
        s3.delete_object()
            .bucket(&deployed.artifacts)
            .key(key)
            .send()
            .await
            .ok();
    }
    s3.delete_bucket()
        .bucket(&deployed.artifacts)
        .send()
        .await
        .ok();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployed(template: Value, outputs: &[(&str, &str)]) -> Deployed {
        Deployed {
            stack: "rh-stack".into(),
            migration_id: "rh-1".into(),
            outputs: outputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            parameters: HashMap::from([("MigrationId".to_owned(), "rh-1".to_owned())]),
            moto: MotoTemplate {
                template,
                removed: Vec::new(),
                weighted_listeners: Vec::new(),
            },
            artifacts: "rh-artifacts".into(),
        }
    }

    #[test]
    fn refs_attributes_subs_and_joins_resolve_from_parameters_and_outputs() {
        let template = json!({
            "Parameters": {"MigrationId": {"Type": "String"},
                           "Port": {"Type": "Number", "Default": 3306}},
            "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}},
                        "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}}},
        });
        let d = deployed(template, &[("QueueUrl", "http://q"), ("KeyArn", "arn:key")]);
        let names = Names::new(&d);
        assert_eq!(
            names.resolve(&json!({"Ref": "Queue"})),
            Ok("http://q".into())
        );
        assert_eq!(names.resolve(&json!({"Ref": "Port"})), Ok("3306".into()));
        assert_eq!(
            names.resolve(&json!({"Fn::GetAtt": ["Key", "Arn"]})),
            Ok("arn:key".into())
        );
        let joined = json!({"Fn::Join": [",", [
            {"Fn::Sub": "${MigrationId}-gate-a"}, {"Fn::Sub": "${AWS::Region}-${!Literal}"}]]});
        assert_eq!(
            names.resolve(&joined),
            Ok("rh-1-gate-a,us-east-1-${Literal}".into())
        );
    }

    #[test]
    fn a_name_the_stack_does_not_output_is_reported_by_name() {
        let d = deployed(json!({"Outputs": {}}), &[]);
        let names = Names::new(&d);
        assert_eq!(
            names.resolve(&json!({"Fn::Join": [",", ["a", {"Ref": "Secret"}]]})),
            Err("Secret".into())
        );
        assert_eq!(
            names.resolve(&json!({"Fn::Sub": "${Db.Endpoint}"})),
            Err("Db.Endpoint".into())
        );
    }
}
