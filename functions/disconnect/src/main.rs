use lambda_http::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = tiktok_gateway::boot().await;
    run(service_fn(|req| {
        tiktok_gateway::http::traced("disconnect", req, |req| disconnect::handler(&state, req))
    }))
    .await
}
