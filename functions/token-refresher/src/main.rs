use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = tiktok_gateway::boot().await;
    run(service_fn(|event| token_refresher::handler(&state, event))).await
}
