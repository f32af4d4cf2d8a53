//! Integration tests against the local stack (moto, the CloudWatch adapter, MariaDB):
//! one binary, a module per area.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod backup_verifier;
mod compliance_remediator;
mod replication_validator;
mod shared;
mod template;
mod weight_shifter;
