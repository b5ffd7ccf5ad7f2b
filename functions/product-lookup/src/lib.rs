//! `GET /api/tiktok/products/{productId}?shopId=`: one product.
//!
//! Research API: from the cache a recent search filled, otherwise from paging
//! the shop's listing, with its first page of reviews. Partner API: Get
//! Product (title, HTML description, images, SKUs), cached per product.
//! `404` when the product is not found.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::{AppState, Error};

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, handle).await
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let product_id = http::id_param(http::path_param(req, "productId"), "productId")?;
    let shop_id = http::query(req, "shopId")
        .map(|id| http::id_param(Some(id), "shopId"))
        .transpose()?;
    state.catalogue.check_product(shop_id.as_ref())?;
    let deadline = state.deadline(req);
    let answer = state
        .catalogue
        .product(
            &state.tokens.opener(&user_id),
            shop_id.as_ref(),
            &product_id,
            deadline,
        )
        .await?;
    http::json(200, &answer)
}
