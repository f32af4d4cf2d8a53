//! The replication-validator Lambda function: reads its configuration once, builds its
//! clients from one SDK configuration and hands each SQS batch to the library's handler.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent};
use migration_shared::config::Env;
use migration_shared::startup;
use replication_validator::config::Config;
use replication_validator::lambda::{Deps, handle, read_batch};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_tracing(false);
    let config = startup::configuration(Config::from_env(&Env::process()))?;
    let sdk = startup::load_sdk_config().await;
    let migration_id = config.migration_id.clone();
    let deps = Arc::new(Deps::new(config, &sdk));
    startup::serve(
        migration_id,
        // The event is read here rather than by the runtime, whose error would quote the
        // offending value: a batch that is not an SQS event is refused naming the field only.
        move |event: LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            async move {
                let batch = read_batch(&event.payload).map_err(|reason| {
                    tracing::error!(reason = %reason, "invocation refused");
                    Diagnostic {
                        error_type: "InvalidEvent".to_owned(),
                        error_message: reason,
                    }
                })?;
                Ok::<_, Diagnostic>(Box::pin(handle(batch, &deps)).await)
            }
        },
    )
    .await
}
