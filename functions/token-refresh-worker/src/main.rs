use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Each worker gets its share of the upstream refresh rate, so that
    // MaximumConcurrency workers together stay within it.
    let (state, _) = tiktok_gateway::boot_with(|config| {
        config.tiktok.rate_per_sec = config.refresher.worker_rate();
    })
    .await;
    run(service_fn(|event| {
        token_refresh_worker::handler(&state, event)
    }))
    .await
}
