//! `GET /api/tiktok/shops?name=`: shops whose name matches (case-insensitive);
//! `404` when there are none. The Research API searches TikTok's shops and
//! needs a name; the Partner API answers the connected seller's authorized
//! shops, all of them for an empty name.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::{AppState, Error};

pub use tiktok_gateway::ShopView;

/// The longest shop name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, handle).await
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let name = http::query(req, "name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() && state.catalogue.shop_name_required() {
        return Err(Error::BadRequest("name is required".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "name must be at most {MAX_NAME_CHARS} printable characters"
        )));
    }
    let deadline = state.deadline(req);
    let planned = state.catalogue.shop_calls();
    let mut session = state.tokens.request_connection(&user_id, planned).await?;
    let shops = state.catalogue.shops(&mut session, &name, deadline).await;
    session.settle().await;
    let shops = shops?;
    if shops.is_empty() {
        return Err(Error::NotFound("shop".into()));
    }
    http::json(200, &serde_json::json!({ "shops": shops }))
}
