//! The backup verifier's Lambda entry point: logging, then the runtime loop.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    migration_shared::startup::init_tracing(false);
    backup_verifier::run().await
}
