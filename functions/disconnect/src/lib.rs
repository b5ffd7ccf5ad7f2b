//! `POST /auth/tiktok/disconnect`: revokes the user's token at TikTok (a failure
//! there is logged, not fatal) and deletes the connection. Idempotent. The
//! Partner API has no revoke: there the connection is deleted, and the seller
//! removes the app in Seller Center.
// No unwrap/expect outside tests; a justified start-up `expect` is allowed by name.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::{AppState, Error};

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = http::request_id(&req);
    Ok(http::respond(handle(state, &req).await, &request_id))
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    if let Some(connection) = state.store.get_connection(&user_id).await? {
        // Tokens sealed under a removed key cannot be read, so cannot be revoked.
        let readable = !connection.tokens.access_token.expose().is_empty();
        let revoked = if readable {
            state
                .provider
                .revoke(state, &connection, state.deadline(req))
                .await
        } else {
            Ok(())
        };
        if let Err(error) = revoked {
            tracing::warn!(user_id, error = %error, "revoke at TikTok failed; deleting the connection anyway");
        }
        state.store.delete_connection(&user_id).await?;
        tracing::info!(user_id, "TikTok disconnected");
    }
    http::json(200, &serde_json::json!({ "connected": false }))
}
