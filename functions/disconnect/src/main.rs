// No unwrap/expect outside tests; a justified start-up `expect` is allowed by name.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
use lambda_http::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = tiktok_gateway::boot().await;
    run(service_fn(|req| {
        tiktok_gateway::http::traced("disconnect", req, |req| disconnect::handler(&state, req))
    }))
    .await
}
