//! Boots `search`: the state once, then each invocation in its `request` span.
//! The handler is in the library.

use lambda_http::{run, service_fn, Error};
use tiktok_gateway::{boot, http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state = boot().await;
    run(service_fn(|req| {
        http::traced("search", req, |req| search::handler(&state, req))
    }))
    .await
}
