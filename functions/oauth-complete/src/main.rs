//! Boots `oauth-complete`: the state once, then each invocation in its `request` span.
//! The handler is in the library.

use lambda_http::{run, service_fn, Error};
use tiktok_gateway::{boot, http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state = boot().await;
    run(service_fn(|req| {
        http::traced("oauth-complete", req, |req| {
            oauth_complete::handler(&state, req)
        })
    }))
    .await
}
