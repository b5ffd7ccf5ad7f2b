//! `GET /auth/tiktok/status`: whether the user is connected, who they are at
//! TikTok, what they granted, when the tokens expire and whether they must
//! reconnect. Never a token.
// No unwrap/expect outside tests; a justified start-up `expect` is allowed by name.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::{AppState, Error};

pub use tiktok_gateway::status::Status;

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = http::request_id(&req);
    Ok(http::respond(handle(state, &req).await, &request_id))
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let connection = state.store.get_connection(&user_id).await?;
    http::json(200, &Status::of(connection.as_ref(), state.now()))
}
