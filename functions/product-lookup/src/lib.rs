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
use tiktok_gateway::{AppState, DshipitProduct, Error, Session};
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
    // Only connected users get data, even from the cache; both reads go out at once.
    let (session, cached) = tokio::join!(
        state.session(&user_id),
        state
            .store
            .cached_product(&shop_id, &product_id, state.now())
    );
    let mut session = session?;
    let cached = match cached {
        Ok(hit) => hit,
        Err(error) => {
            tracing::warn!(error = %error, "product cache unreadable; asking TikTok");
            None
        }
    };
    let product = match cached {
        Some(product) => product,
        None => find_in_listing(state, &mut session, &shop_id, &product_id, deadline)
            .await?
            .ok_or_else(|| Error::NotFound("product".into()))?,
    };
    let reviews = session
        .with_token(deadline, |token| {
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

/// Pages the shop's listing for the product; what it reads is cached (one write).
async fn find_in_listing(
    state: &AppState,
    session: &mut Session<'_>,
    shop_id: &TikTokId,
    product_id: &TikTokId,
    deadline: Instant,
) -> Result<Option<Product>, Error> {
    let mut read: Vec<Product> = Vec::new();
    let mut found = None;
    for page in 1..=state.config.page_budget {
        let listing = session
            .list_products(shop_id, page, MAX_PAGE_SIZE, deadline)
            .await?;
        found = listing
            .items
            .iter()
            .find(|p| p.product_id == *product_id)
            .cloned();
        read.extend(listing.items);
        if found.is_some() || !listing.has_more {
            break;
        }
    }
    state.cache_products(shop_id, &read).await;
    Ok(found)
}
