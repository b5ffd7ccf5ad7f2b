use lambda_http::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = tiktok_gateway::boot().await;
    run(service_fn(|req| {
        tiktok_gateway::http::traced("oauth-complete", req, |req| {
            oauth_complete::handler(&state, req)
        })
    }))
    .await
}
