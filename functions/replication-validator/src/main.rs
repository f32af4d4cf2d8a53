//! The replication-validator Lambda function: reads its configuration once, builds its
//! clients from one SDK configuration and hands each SQS batch to the library's handler.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent};
use migration_shared::config::Env;
use migration_shared::startup;
use replication_validator::config::Config;
use replication_validator::lambda::{Deps, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_tracing(false);
    let config = startup::configuration(Config::from_env(&Env::process()))?;
    let sdk = startup::load_sdk_config().await;
    let migration_id = config.migration_id.clone();
    let deps = Arc::new(Deps::new(config, &sdk));
    startup::serve(
        migration_id,
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| {
            let deps = deps.clone();
            async move { Ok::<_, Diagnostic>(Box::pin(handle(event.payload, &deps)).await) }
        },
    )
    .await
}
