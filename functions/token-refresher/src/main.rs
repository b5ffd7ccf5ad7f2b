use std::sync::Arc;

use lambda_runtime::{run, service_fn};
use tiktok_gateway::queue::{RefreshQueue, SqsQueue};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (state, aws) = tiktok_gateway::boot_with(|_| {}).await;
    let queue = state
        .config
        .refresher
        .queue_url
        .clone()
        .map(|url| Arc::new(SqsQueue::lazy(&aws, url)) as Arc<dyn RefreshQueue>);
    let refresher = token_refresher::Refresher { state, queue };
    run(service_fn(|event| {
        token_refresher::handler(&refresher, event)
    }))
    .await
}
