//! S3 bucket without a full public access block, or without default encryption under a
//! KMS key: set them. The public access block is compliant only with all four settings on.
//! Default encryption counts as compliant only under KMS (`aws:kms` or `aws:kms:dsse`);
//! a bucket with SSE-S3 or none is set to the migration key with a bucket key, which keeps
//! KMS request costs down.

use aws_sdk_s3::types::{
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use serde_json::json;

use super::{Finding, Fix, Inspection, Tags};
use crate::Deps;
use crate::error::{Error, code, is_missing};
use crate::rules::RuleKind;

async fn tags(deps: &Deps, bucket: &str) -> Result<Option<Tags>, Error> {
    match deps.s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => Ok(Some(
            out.tag_set.into_iter().map(|t| (t.key, t.value)).collect(),
        )),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) if code(&e) == Some("NoSuchTagSet") => Ok(Some(Tags::new())),
        Err(e) => Err(Error::aws(format!("read tags of bucket {bucket}"), &e)),
    }
}

/// Reads the bucket's public access block or default encryption.
pub async fn inspect(
    deps: &Deps,
    kind: RuleKind,
    bucket: &str,
) -> Result<Option<Inspection>, Error> {
    let Some(tags) = tags(deps, bucket).await? else {
        return Ok(None);
    };
    if kind == RuleKind::S3PublicAccessBlock {
        let block = match deps
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => out.public_access_block_configuration,
            Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => None,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => {
                return Err(Error::aws(
                    format!("read public access block of bucket {bucket}"),
                    &e,
                ));
            }
        };
        let settings = block.as_ref().map_or([false; 4], |b| {
            [
                b.block_public_acls.unwrap_or(false),
                b.ignore_public_acls.unwrap_or(false),
                b.block_public_policy.unwrap_or(false),
                b.restrict_public_buckets.unwrap_or(false),
            ]
        });
        let finding = if settings.iter().all(|s| *s) {
            Finding::Compliant
        } else {
            Finding::Fix(Fix::BlockPublicAccess {
                bucket: bucket.to_owned(),
            })
        };
        return Ok(Some(Inspection {
            tags,
            names: vec![],
            state: json!({
                "block_public_acls": settings[0],
                "ignore_public_acls": settings[1],
                "block_public_policy": settings[2],
                "restrict_public_buckets": settings[3],
            }),
            finding,
        }));
    }
    let rules = match deps.s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(out) => out
            .server_side_encryption_configuration
            .map(|c| c.rules)
            .unwrap_or_default(),
        Err(e) if code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => vec![],
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => {
            return Err(Error::aws(
                format!("read encryption of bucket {bucket}"),
                &e,
            ));
        }
    };
    let default = rules
        .iter()
        .find_map(|r| r.apply_server_side_encryption_by_default.as_ref());
    let algorithm = default.map(|d| d.sse_algorithm.clone());
    let kms = matches!(
        algorithm,
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
    );
    let finding = if kms {
        Finding::Compliant
    } else {
        Finding::Fix(Fix::EncryptBucket {
            bucket: bucket.to_owned(),
        })
    };
    Ok(Some(Inspection {
        tags,
        names: vec![],
        state: json!({
            "sse_algorithm": algorithm.map(|a| a.as_str().to_owned()),
            "kms_master_key_id": default.and_then(|d| d.kms_master_key_id.clone()),
        }),
        finding,
    }))
}

/// Turns on all four public access block settings of `bucket`.
pub async fn block_public_access(deps: &Deps, bucket: &str) -> Result<(), Error> {
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    deps.s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| Error::aws(format!("block public access to bucket {bucket}"), &e))?;
    Ok(())
}

/// Encrypts `bucket` by default under the migration key.
pub async fn encrypt(deps: &Deps, bucket: &str) -> Result<(), Error> {
    let action = format!("set default encryption of bucket {bucket}");
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(&deps.config.kms_key_id)
        .build()
        .map_err(|e| Error::Aws {
            action: action.clone(),
            reason: e.to_string(),
            transience: migration_shared::Transience::Permanent,
        })?;
    let configuration = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .bucket_key_enabled(true)
                .build(),
        )
        .build()
        .map_err(|e| Error::Aws {
            action: action.clone(),
            reason: e.to_string(),
            transience: migration_shared::Transience::Permanent,
        })?;
    deps.s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(configuration)
        .send()
        .await
        .map_err(|e| Error::aws(action, &e))?;
    Ok(())
}
