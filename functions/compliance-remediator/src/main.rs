//! Entry point of the compliance-remediator Lambda function.

use compliance_remediator::{Config, Deps, handle};
use lambda_runtime::LambdaEvent;
use migration_shared::config::Env;
use migration_shared::startup;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_tracing(false);
    let config = startup::configuration(Config::from_env(&Env::process()))?;
    let sdk = startup::load_sdk_config().await;
    let migration_id = config.migration_id.clone();
    let deps = std::sync::Arc::new(Deps::new(config, &sdk));
    startup::serve(migration_id, move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move { Box::pin(handle(event.payload, &deps)).await }
    })
    .await
}
