//! `POST /auth/tiktok/disconnect`: revokes the user's token at TikTok (a failure
//! there is logged, not fatal) and deletes the connection. Idempotent. The
//! Partner API has no revoke: there the connection is deleted, and the seller
//! removes the app in Seller Center.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::Connections;
use tiktok_gateway::{AppState, Error};

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, async |state, req| {
        handle(state, state.store.as_ref(), req).await
    })
    .await
}

/// Revokes through the provider and deletes from `connections`, the only store
/// it touches.
async fn handle<C: Connections + ?Sized>(
    state: &AppState,
    connections: &C,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    if let Some(connection) = connections.get_connection(&user_id).await? {
        // Tokens sealed under a removed key cannot be read, so cannot be revoked.
        let readable = !connection.tokens.access_token.expose().is_empty();
        let revoked = if readable {
            state
                .authorization
                .revoke(&connection.tokens, state.deadline(req))
                .await
        } else {
            Ok(())
        };
        if let Err(error) = revoked {
            tracing::warn!(user_id, error = %error, "revoke at TikTok failed; deleting the connection anyway");
        }
        connections.delete_connection(&user_id).await?;
        tracing::info!(user_id, "TikTok disconnected");
    }
    http::json(200, &serde_json::json!({ "connected": false }))
}
