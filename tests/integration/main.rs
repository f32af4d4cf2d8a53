//! Integration tests against the local stack (moto, the CloudWatch adapter, MariaDB):
//! one binary, a module per area.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

#[cfg(feature = "backup-verifier")]
mod backup_verifier;
#[cfg(feature = "compliance-remediator")]
mod compliance_remediator;
#[cfg(feature = "replication-validator")]
mod replication_validator;
mod shared;
mod template;
#[cfg(feature = "weight-shifter")]
mod weight_shifter;
