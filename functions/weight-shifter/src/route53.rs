//! The two weighted Route 53 records: read them, and write both weights in one change batch.
//!
//! Everything else about each record (values, alias target, health check) is written back
//! as it was read. Both members are written with one TTL, the larger of the two, so the
//! group keeps a single TTL. After a forward move the shifter waits, for at most
//! [`SYNC_WAIT`], until Route 53 reports the change `INSYNC` on its name servers; a change
//! still pending then is logged and the step goes on, since Route 53 has accepted it and
//! the read-back confirms it. The hold of at least one TTL between steps covers resolvers
//! that still cache the old answer.

use std::time::Duration;

use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsError;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType,
};
use migration_shared::error::{sdk_message, sdk_transience};

use crate::config::RecordPair;
use crate::error::Error;
use crate::weights::Weights;

/// The hold used for alias records, which carry no TTL of their own.
pub const ALIAS_TTL_SECONDS: u64 = 60;

/// The longest wait for a change to reach `INSYNC`; the function's timeout must leave room
/// for it and the listener move.
pub const SYNC_WAIT: Duration = Duration::from_secs(20);
/// The pause between two looks at a pending change.
const SYNC_POLL: Duration = Duration::from_secs(2);

/// At most this many pages of one record name are read.
const MAX_PAGES: usize = 10;

/// The pair as read.
#[derive(Debug, Clone)]
pub struct PairReading {
    /// The on-premises record.
    pub onprem: ResourceRecordSet,
    /// The AWS record.
    pub aws: ResourceRecordSet,
    /// Their weights.
    pub weights: Weights,
    /// The group's TTL in seconds (the larger of the two; [`ALIAS_TTL_SECONDS`] for alias
    /// records).
    pub ttl: u64,
}

/// Reads and writes the weighted pair through Route 53.
#[derive(Debug, Clone)]
pub struct RecordSets {
    client: aws_sdk_route53::Client,
}

impl RecordSets {
    /// Over `client`.
    #[must_use]
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Self { client }
    }

    /// Reads both records; an error names the one that is missing.
    pub async fn read(&self, pair: &RecordPair) -> Result<PairReading, Error> {
        let record_type = RrType::from(pair.record_type.as_str());
        let mut found: Vec<ResourceRecordSet> = Vec::new();
        let mut next_id: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&pair.zone_id)
                .start_record_name(&pair.name)
                .start_record_type(record_type.clone())
                .set_start_record_identifier(next_id.take())
                .max_items(100)
                .send()
                .await
                .map_err(|e| {
                    let (reason, transience) = match e.as_service_error() {
                        Some(ListResourceRecordSetsError::NoSuchHostedZone(_)) => (
                            "the hosted zone does not exist".to_owned(),
                            migration_shared::Transience::Permanent,
                        ),
                        _ => (sdk_message(&e), sdk_transience(&e)),
                    };
                    Error::Route53 {
                        action: format!("read records {} {}", pair.name, pair.record_type),
                        zone: pair.zone_id.clone(),
                        reason,
                        transience,
                    }
                })?;
            let same =
                |name: &str, t: &RrType| name.eq_ignore_ascii_case(&pair.name) && *t == record_type;
            found.extend(
                out.resource_record_sets()
                    .iter()
                    .filter(|r| same(r.name(), r.r#type()))
                    .cloned(),
            );
            let more = out.is_truncated()
                && out
                    .next_record_name()
                    .is_some_and(|n| out.next_record_type().is_some_and(|t| same(n, t)));
            if !more {
                break;
            }
            next_id = out.next_record_identifier().map(str::to_owned);
        }
        let take = |set_id: &str| {
            found
                .iter()
                .find(|r| r.set_identifier() == Some(set_id))
                .cloned()
                .ok_or_else(|| Error::RecordNotFound {
                    zone: pair.zone_id.clone(),
                    name: pair.name.clone(),
                    record_type: pair.record_type.clone(),
                    set_id: set_id.to_owned(),
                })
        };
        let onprem = take(&pair.onprem_set)?;
        let aws = take(&pair.aws_set)?;
        let weight = |r: &ResourceRecordSet| u32::try_from(r.weight().unwrap_or(0)).unwrap_or(0);
        let weights = Weights {
            onprem: weight(&onprem),
            aws: weight(&aws),
        };
        let ttl = [onprem.ttl(), aws.ttl()]
            .into_iter()
            .flatten()
            .max()
            .map_or(ALIAS_TTL_SECONDS, |t| u64::try_from(t).unwrap_or(0));
        Ok(PairReading {
            onprem,
            aws,
            weights,
            ttl,
        })
    }

    /// Writes `weights` to both records of `reading` in one change batch, with `comment`
    /// (the reason) on the batch. Returns the change's id.
    pub async fn write(
        &self,
        pair: &RecordPair,
        reading: &PairReading,
        weights: Weights,
        comment: &str,
    ) -> Result<Option<String>, Error> {
        let ttl = i64::try_from(reading.ttl).unwrap_or(i64::MAX);
        let upsert = |record: &ResourceRecordSet, weight: u32| {
            let mut record = record.clone();
            record.weight = Some(i64::from(weight));
            if record.ttl.is_some() {
                record.ttl = Some(ttl);
            }
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record)
                .build()
        };
        let failed = |reason: String, transience| Error::Route53 {
            action: format!("write weights of {} {}", pair.name, pair.record_type),
            zone: pair.zone_id.clone(),
            reason,
            transience,
        };
        let permanent = migration_shared::Transience::Permanent;
        let batch = ChangeBatch::builder()
            .comment(crate::state::clip(comment, 256))
            .changes(
                upsert(&reading.onprem, weights.onprem)
                    .map_err(|e| failed(e.to_string(), permanent))?,
            )
            .changes(
                upsert(&reading.aws, weights.aws).map_err(|e| failed(e.to_string(), permanent))?,
            )
            .build()
            .map_err(|e| failed(e.to_string(), permanent))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&pair.zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| failed(sdk_message(&e), sdk_transience(&e)))?;
        let id = out.change_info().map(|c| c.id().to_owned());
        tracing::debug!(change_id = ?id, "route 53 change submitted");
        Ok(id)
    }

    /// Waits, for at most [`SYNC_WAIT`], until the change `id` is `INSYNC`; returns whether
    /// it is. A failed look is logged and ends the wait: the change itself was accepted.
    pub async fn wait_in_sync(&self, id: &str) -> bool {
        let deadline = tokio::time::Instant::now() + SYNC_WAIT;
        loop {
            match self.client.get_change().id(id).send().await {
                Ok(out) => {
                    let status = out.change_info().map(|c| c.status().clone());
                    if status == Some(ChangeStatus::Insync) {
                        return true;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        change_id = id,
                        reason = %sdk_message(&e),
                        "failed to read the state of a route 53 change"
                    );
                    return false;
                }
            }
            if tokio::time::Instant::now() + SYNC_POLL > deadline {
                tracing::warn!(
                    change_id = id,
                    waited_seconds = SYNC_WAIT.as_secs(),
                    "route 53 change still pending; going on with the read-back"
                );
                return false;
            }
            tokio::time::sleep(SYNC_POLL).await;
        }
    }
}
