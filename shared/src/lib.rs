//! What every migration function shares: start-up, SQS batch handling, configuration,
//! parameters and secrets, metrics, alerts, reading JSON from outside, correlation and error
//! reporting.
//!
//! A function's `main.rs` calls [`startup::init_tracing`], builds its dependencies once from
//! [`startup::load_sdk_config`] and hands its handler to [`startup::serve`]; everything else
//! here is used from the function's library.

pub mod alert;
pub mod config;
pub mod error;
pub mod json;
pub mod metrics;
pub mod params;
pub mod secret;
pub mod sqs_batch;
pub mod startup;

pub use error::{Error, Transience};
pub use secret::Secret;
