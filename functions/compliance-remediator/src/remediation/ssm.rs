//! SSM parameter holding a secret as a plain String: rewrite it as a SecureString under
//! the migration key, keeping its value, description, tier, data type, allowed pattern
//! and tags.
//!
//! Config does not record SSM parameters, so this remediation runs from the schedule over
//! the parameters under `SSM_SCAN_PATH` whose names match `SSM_SECRET_NAME_PATTERN`.
//!
//! The rewrite is one `PutParameter` with `Overwrite` and the new type, so the value is
//! never absent: there is no delete-and-create window. Tags belong to the parameter, not to
//! a version, and survive the overwrite (they cannot be passed with `Overwrite`); they are
//! read again afterwards and any that went missing are put back. The value is read, held
//! as a [`Secret`] and written; it never reaches a record. Parameter policies (Advanced
//! tier expirations) are not carried over and are reported in the state.
//!
//! Parameter Store has no conditional write: a writer who changes the parameter between
//! the read and the rewrite is overwritten with the value read. The rewrite detects this
//! afterwards from the version number and fails with [`Error::ConcurrentWrite`].

use aws_sdk_ssm::types::{
    ParameterMetadata, ParameterStringFilter, ParameterTier, ParameterType, ResourceTypeForTagging,
    Tag,
};
use migration_shared::Secret;
use serde_json::json;

use super::{Finding, Fix, Inspection, Tags};
use crate::Deps;
use crate::error::{Error, is_missing};

/// What a rewrite must keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    /// The parameter's name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its tier.
    pub tier: Option<ParameterTier>,
    /// Its data type (`text`, `aws:ec2:image`, ...).
    pub data_type: Option<String>,
    /// Its allowed pattern.
    pub allowed_pattern: Option<String>,
    /// Its tags.
    pub tags: Tags,
}

/// The metadata of every parameter under `path`, recursively.
pub async fn list(deps: &Deps, path: &str) -> Result<Vec<ParameterMetadata>, Error> {
    let filter = ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(path)
        .build()
        .map_err(|e| Error::Aws {
            action: format!("list parameters under {path}"),
            reason: e.to_string(),
            transience: migration_shared::Transience::Permanent,
        })?;
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = deps
            .ssm
            .describe_parameters()
            .parameter_filters(filter.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::aws(format!("list parameters under {path}"), &e))?;
        found.extend(out.parameters.unwrap_or_default());
        token = out.next_token;
        if token.is_none() {
            return Ok(found);
        }
    }
}

async fn describe(deps: &Deps, name: &str) -> Result<Option<ParameterMetadata>, Error> {
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| Error::Aws {
            action: format!("describe parameter {name}"),
            reason: e.to_string(),
            transience: migration_shared::Transience::Permanent,
        })?;
    let out = deps
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .map_err(|e| Error::aws(format!("describe parameter {name}"), &e))?;
    Ok(out
        .parameters
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.name.as_deref() == Some(name)))
}

async fn tags(deps: &Deps, name: &str) -> Result<Option<Tags>, Error> {
    match deps
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.tag_list
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect(),
        )),
        Err(e) if is_missing(&e) || crate::error::code(&e) == Some("InvalidResourceId") => Ok(None),
        Err(e) => Err(Error::aws(format!("read tags of parameter {name}"), &e)),
    }
}

/// Reads the parameter's type, key and settings; never its value.
pub async fn inspect(deps: &Deps, name: &str) -> Result<Option<Inspection>, Error> {
    let Some(meta) = describe(deps, name).await? else {
        return Ok(None);
    };
    let Some(tags) = tags(deps, name).await? else {
        return Ok(None);
    };
    let finding = match meta.r#type {
        Some(ParameterType::SecureString) => Finding::Compliant,
        Some(ParameterType::String) => Finding::Fix(Fix::SecureParameter(Rewrite {
            name: name.to_owned(),
            description: meta.description.clone(),
            tier: meta.tier.clone(),
            data_type: meta.data_type.clone(),
            allowed_pattern: meta.allowed_pattern.clone(),
            tags: tags.clone(),
        })),
        _ => Finding::NeedsPerson(
            "a StringList cannot become a SecureString without changing how it is read".to_owned(),
        ),
    };
    Ok(Some(Inspection {
        tags,
        names: vec![],
        state: json!({
            "type": meta.r#type.as_ref().map(|t| t.as_str().to_owned()),
            "key_id": meta.key_id,
            "tier": meta.tier.as_ref().map(|t| t.as_str().to_owned()),
            "version": meta.version,
            "policies": meta.policies.as_ref().map_or(0, Vec::len),
        }),
        finding,
    }))
}

/// Rewrites the parameter as a SecureString under the migration key.
pub async fn apply(deps: &Deps, rewrite: &Rewrite) -> Result<(), Error> {
    let name = rewrite.name.as_str();
    let current = deps
        .ssm
        .get_parameter()
        .name(name)
        .send()
        .await
        .map_err(|e| Error::aws(format!("read parameter {name}"), &e))?
        .parameter
        .ok_or_else(|| Error::ConcurrentWrite {
            name: name.to_owned(),
        })?;
    if current.r#type != Some(ParameterType::String) {
        return Err(Error::ConcurrentWrite {
            name: name.to_owned(),
        });
    }
    let value = Secret::new(current.value.unwrap_or_default());
    deps.ssm
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
        .key_id(&deps.config.kms_key_id)
        .overwrite(true)
        .set_description(rewrite.description.clone())
        .set_tier(rewrite.tier.clone())
        .set_data_type(rewrite.data_type.clone())
        .set_allowed_pattern(rewrite.allowed_pattern.clone())
        .send()
        .await
        .map_err(|e| Error::aws(format!("rewrite parameter {name} as SecureString"), &e))?;
    let written = deps
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| Error::aws(format!("read back parameter {name}"), &e))?
        .parameter
        .ok_or_else(|| Error::ConcurrentWrite {
            name: name.to_owned(),
        })?;
    if written.version != current.version + 1 || written.value.as_deref() != Some(value.expose()) {
        return Err(Error::ConcurrentWrite {
            name: name.to_owned(),
        });
    }
    restore_tags(deps, rewrite).await
}

async fn restore_tags(deps: &Deps, rewrite: &Rewrite) -> Result<(), Error> {
    let name = rewrite.name.as_str();
    let now = tags(deps, name).await?.unwrap_or_default();
    let missing: Vec<Tag> = rewrite
        .tags
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(*v))
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    deps.ssm
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .set_tags(Some(missing))
        .send()
        .await
        .map_err(|e| Error::aws(format!("restore tags of parameter {name}"), &e))?;
    Ok(())
}
