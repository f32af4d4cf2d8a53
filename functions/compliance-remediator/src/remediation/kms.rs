//! Customer-managed KMS key with rotation off: turn rotation on. AWS-managed keys rotate
//! on their own and count as compliant; a key that cannot rotate (asymmetric, HMAC,
//! imported material, disabled) needs a person. A key pending deletion counts as gone.

use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use serde_json::json;

use super::{Finding, Fix, Inspection, Tags};
use crate::Deps;
use crate::error::{Error, is_missing};

/// Reads the key's state and rotation status.
pub async fn inspect(deps: &Deps, key_id: &str) -> Result<Option<Inspection>, Error> {
    let metadata = match deps.kms.describe_key().key_id(key_id).send().await {
        Ok(out) => out.key_metadata,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(Error::aws(format!("describe key {key_id}"), &e)),
    };
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    let state = metadata.key_state.clone();
    if matches!(
        state,
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    ) {
        return Ok(None);
    }
    let tags: Tags = deps
        .kms
        .list_resource_tags()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| Error::aws(format!("read tags of key {key_id}"), &e))?
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.tag_key, t.tag_value))
        .collect();
    let customer = metadata.key_manager == Some(KeyManagerType::Customer);
    let symmetric = metadata
        .key_spec
        .as_ref()
        .is_none_or(|s| *s == KeySpec::SymmetricDefault);
    let imported = metadata.origin == Some(OriginType::External);
    let enabled = state == Some(KeyState::Enabled);
    let rotation = if customer && symmetric && !imported && enabled {
        deps.kms
            .get_key_rotation_status()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| Error::aws(format!("read rotation status of key {key_id}"), &e))?
            .key_rotation_enabled
    } else {
        false
    };
    let finding = if !customer || rotation {
        Finding::Compliant
    } else if !symmetric || imported {
        Finding::NeedsPerson(
            "automatic rotation is only possible for symmetric keys with KMS key material"
                .to_owned(),
        )
    } else if !enabled {
        Finding::NeedsPerson("the key is not enabled, so rotation cannot be turned on".to_owned())
    } else {
        Finding::Fix(Fix::EnableKeyRotation {
            key_id: metadata.key_id.clone(),
        })
    };
    Ok(Some(Inspection {
        tags,
        names: [Some(metadata.key_id.clone()), metadata.arn.clone()]
            .into_iter()
            .flatten()
            .collect(),
        state: json!({
            "key_manager": metadata.key_manager.as_ref().map(|m| m.as_str().to_owned()),
            "key_state": state.as_ref().map(|s| s.as_str().to_owned()),
            "rotation_enabled": rotation,
        }),
        finding,
    }))
}

/// Turns on rotation of `key_id`.
pub async fn apply(deps: &Deps, key_id: &str) -> Result<(), Error> {
    deps.kms
        .enable_key_rotation()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| Error::aws(format!("enable rotation of key {key_id}"), &e))?;
    Ok(())
}
