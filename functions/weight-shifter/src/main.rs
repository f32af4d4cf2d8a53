//! The weight shifter's Lambda entry point: logging, configuration and clients once per
//! cold start, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use migration_shared::config::Env;
use migration_shared::startup;
use serde_json::Value;
use weight_shifter::config::Config;
use weight_shifter::{Deps, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_tracing(false);
    let config = startup::configuration(Config::from_env(&Env::process()))?;
    let sdk = startup::load_sdk_config().await;
    let deps = Arc::new(Deps::new(config, &sdk));
    let migration_id = deps.config.migration_id.clone();
    startup::serve(migration_id, move |event: LambdaEvent<Value>| {
        let deps = Arc::clone(&deps);
        // Boxed: the handler's future is deep, and the runtime's layout stays small.
        async move { Box::pin(handle(event.payload, deps.as_ref())).await }
    })
    .await
}
