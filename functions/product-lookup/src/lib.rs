//! `GET /api/tiktok/products/{productId}?shopId=`: one product with its first page
//! of reviews.
//!
//! TikTok has no get-one-product endpoint, and the Research quota is 1,000
//! requests a day: the product comes from the cache a recent search filled, and
//! otherwise from paging the shop's listing within the page budget (caching what
//! it reads). `404` when it is not found there.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::tiktok::{Product, TikTokId, MAX_PAGE_SIZE};
use tiktok_gateway::{AppState, DshipitProduct, Error};
use tokio::time::Instant;

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = http::request_id(&req);
    Ok(http::respond(handle(state, &req).await, &request_id))
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let product_id = http::id_param(http::path_param(req, "productId"), "productId")?;
    let shop_id = http::id_param(http::query(req, "shopId"), "shopId")?;
    let deadline = state.deadline(req);
    // The connection is checked before the cache answers: only connected users get data.
    state.active_connection(&user_id).await?;
    let cached = match state
        .store
        .cached_product(&shop_id, &product_id, state.now())
        .await
    {
        Ok(hit) => hit,
        Err(error) => {
            tracing::warn!(error = %error, "product cache unreadable; asking TikTok");
            None
        }
    };
    let product = match cached {
        Some(product) => product,
        None => find_in_listing(state, &user_id, &shop_id, &product_id, deadline)
            .await?
            .ok_or_else(|| Error::NotFound("product".into()))?,
    };
    let reviews = state
        .with_token(&user_id, deadline, |token| {
            let upstream = state.upstream.clone();
            let product_id = product_id.clone();
            async move {
                upstream
                    .reviews(&token, &product_id, 1, MAX_PAGE_SIZE, deadline)
                    .await
            }
        })
        .await?;
    Ok(http::json(
        200,
        &serde_json::json!({
            "product": DshipitProduct::from_tiktok(&product, &shop_id),
            "reviews": reviews.items,
        }),
    ))
}

async fn find_in_listing(
    state: &AppState,
    user_id: &str,
    shop_id: &TikTokId,
    product_id: &TikTokId,
    deadline: Instant,
) -> Result<Option<Product>, Error> {
    for page in 1..=state.config.page_budget {
        let listing = state
            .list_products(user_id, shop_id, page, MAX_PAGE_SIZE, deadline)
            .await?;
        if let Some(found) = listing
            .items
            .into_iter()
            .find(|p| p.product_id == *product_id)
        {
            return Ok(Some(found));
        }
        if !listing.has_more {
            break;
        }
    }
    Ok(None)
}
