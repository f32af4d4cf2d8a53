//! SQS queue without server-side encryption under a KMS key: encrypt it with the migration
//! key. A queue counts as compliant when it names any KMS key; SQS-managed encryption
//! (SSE-SQS) does not count, since the migration's policy is a key it controls.
//!
//! Config identifies a queue by its URL; an ARN or a bare name is accepted too. The URL is
//! resolved again through `GetQueueUrl`, so the call goes to the configured endpoint.

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use super::{Finding, Fix, Inspection, Tags};
use crate::Deps;
use crate::error::{Error, is_missing};

/// The queue's name and owning account from a URL, an ARN or a name.
fn name_and_owner(resource_id: &str) -> (String, Option<String>) {
    if let Some(rest) = resource_id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.split(':').collect();
        if let [_, _, _, account, name] = parts.as_slice() {
            return ((*name).to_owned(), Some((*account).to_owned()));
        }
    }
    if resource_id.starts_with("https://") || resource_id.starts_with("http://") {
        let parts: Vec<&str> = resource_id
            .trim_end_matches('/')
            .rsplit('/')
            .take(2)
            .collect();
        if let [name, account] = parts.as_slice() {
            let owner = account
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| (*account).to_owned());
            return ((*name).to_owned(), owner);
        }
    }
    (resource_id.to_owned(), None)
}

/// Reads the queue's encryption settings.
pub async fn inspect(deps: &Deps, resource_id: &str) -> Result<Option<Inspection>, Error> {
    let (name, owner) = name_and_owner(resource_id);
    let url = match deps
        .sqs
        .get_queue_url()
        .queue_name(&name)
        .set_queue_owner_aws_account_id(owner)
        .send()
        .await
    {
        Ok(out) => out.queue_url.unwrap_or_default(),
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(Error::aws(format!("find queue {resource_id}"), &e)),
    };
    let attributes = match deps
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(out) => out.attributes.unwrap_or_default(),
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(Error::aws(format!("read attributes of queue {url}"), &e)),
    };
    let tags: Tags = deps
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .map_err(|e| Error::aws(format!("read tags of queue {url}"), &e))?
        .tags
        .unwrap_or_default()
        .into_iter()
        .collect();
    let key = attributes
        .get(&QueueAttributeName::KmsMasterKeyId)
        .filter(|k| !k.is_empty())
        .cloned();
    let managed = attributes
        .get(&QueueAttributeName::SqsManagedSseEnabled)
        .is_some_and(|v| v == "true");
    let finding = if key.is_some() {
        Finding::Compliant
    } else {
        Finding::Fix(Fix::EncryptQueue { url: url.clone() })
    };
    Ok(Some(Inspection {
        tags,
        names: vec![url.clone(), name],
        state: json!({ "kms_master_key_id": key, "sqs_managed_sse": managed }),
        finding,
    }))
}

/// Encrypts the queue at `url` under the migration key.
pub async fn apply(deps: &Deps, url: &str) -> Result<(), Error> {
    deps.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::KmsMasterKeyId, &deps.config.kms_key_id)
        .send()
        .await
        .map_err(|e| Error::aws(format!("set encryption of queue {url}"), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::name_and_owner;

    #[test]
    fn a_queue_is_found_from_its_url_arn_or_name() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/payments";
        assert_eq!(
            name_and_owner(url),
            ("payments".into(), Some("123456789012".into()))
        );
        let arn = "arn:aws:sqs:eu-west-1:123456789012:payments";
        assert_eq!(
            name_and_owner(arn),
            ("payments".into(), Some("123456789012".into()))
        );
        assert_eq!(name_and_owner("payments"), ("payments".into(), None));
    }
}
