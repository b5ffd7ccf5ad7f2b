//! `GET /auth/tiktok/status`: whether the user is connected, who they are at
//! TikTok, what they granted, when the tokens expire and whether they must
//! reconnect. Never a token.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::Connections;
use tiktok_gateway::{AppState, Error};

pub use tiktok_gateway::status::Status;

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, async |state, req| {
        status(state.store.as_ref(), state.now(), req).await
    })
    .await
}

/// Reads the caller's connection; touches nothing else.
async fn status<C: Connections + ?Sized>(
    connections: &C,
    now: i64,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let connection = connections.get_connection(&user_id).await?;
    http::json(200, &Status::of(connection.as_ref(), now))
}
