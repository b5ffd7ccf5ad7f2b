//! `GET /api/tiktok/shops?name=`: TikTok Shop shops whose name matches; `404`
//! when TikTok has none.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tiktok_gateway::http;
use tiktok_gateway::tiktok::{Shop, MAX_PAGE_SIZE};
use tiktok_gateway::{AppState, Error};

/// The longest shop name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A shop as the site shows it.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShopView {
    /// Id (digits).
    pub shop_id: String,
    /// Name.
    pub shop_name: String,
    /// Rating 0–5.
    pub shop_rating: Option<f64>,
    /// Reviews.
    pub shop_review_count: Option<u64>,
    /// Items sold.
    pub item_sold_count: Option<u64>,
    /// TikTok's performance value.
    pub shop_performance_value: Option<String>,
}

impl From<Shop> for ShopView {
    fn from(shop: Shop) -> Self {
        Self {
            shop_id: shop.shop_id.to_string(),
            shop_name: shop.shop_name,
            shop_rating: shop.shop_rating,
            shop_review_count: shop.shop_review_count,
            item_sold_count: shop.item_sold_count,
            shop_performance_value: shop.shop_performance_value,
        }
    }
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = http::request_id(&req);
    Ok(http::respond(handle(state, &req).await, &request_id))
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let name = http::query(req, "name")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::BadRequest("name is required".into()))?;
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "name must be at most {MAX_NAME_CHARS} printable characters"
        )));
    }
    let deadline = state.deadline(req);
    let shops = state
        .session(&user_id)
        .await?
        .with_token(deadline, |token| {
            let upstream = state.upstream.clone();
            let name = name.clone();
            async move { upstream.shops(&token, &name, MAX_PAGE_SIZE, deadline).await }
        })
        .await?;
    if shops.is_empty() {
        return Err(Error::NotFound("shop".into()));
    }
    let shops: Vec<ShopView> = shops.into_iter().map(ShopView::from).collect();
    Ok(http::json(200, &serde_json::json!({ "shops": shops })))
}
