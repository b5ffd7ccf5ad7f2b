//! `GET /api/tiktok/search?shopId=&query=&pageStart=&pageSize=`: a shop's products,
//! filtered by a keyword.
//!
//! TikTok has no keyword search: this lists the shop's products page by page
//! (`pageStart` is the listing page, `pageSize` its size) and keeps those whose
//! name or description contains the query, case-insensitively. With a query it
//! reads further pages, within the page budget, until it has `pageSize` matches
//! or the listing ends; `nextPageStart` continues where it stopped. The products
//! it answers are cached for product lookups.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tiktok_gateway::http;
use tiktok_gateway::tiktok::{Product, TikTokId, MAX_PAGE_SIZE};
use tiktok_gateway::{AppState, DshipitProduct, Error};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

/// The search answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// Matching products, in listing order.
    pub products: Vec<DshipitProduct>,
    /// How many products this answer holds (TikTok gives no overall total).
    pub total_count: usize,
    /// Whether the listing goes on.
    pub has_more: bool,
    /// The `pageStart` that continues this search.
    pub next_page_start: Option<u32>,
}

/// What a search asks for, validated.
#[derive(Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// The shop.
    pub shop_id: TikTokId,
    /// Lower-cased, trimmed keyword; `None` lists everything.
    pub query: Option<String>,
    /// First listing page to read.
    pub page_start: u32,
    /// Listing page size.
    pub page_size: u32,
}

/// Validates the query string: ids digits only, query at most 1000 characters,
/// `pageSize` 1–10 (default 10), `pageStart` at least 1 (default 1).
pub fn parse(req: &Request) -> Result<SearchQuery, Error> {
    let shop_id = http::id_param(http::query(req, "shopId"), "shopId")?;
    let query = http::query(req, "query")
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if query
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(Error::BadRequest(format!(
            "query must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(SearchQuery {
        shop_id,
        query: query.map(|q| q.to_lowercase()),
        page_start: http::number_param(req, "pageStart", 1, 1, 1_000_000)?,
        page_size: http::number_param(req, "pageSize", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)?,
    })
}

fn matches(product: &Product, query: &str) -> bool {
    product.product_name.to_lowercase().contains(query)
        || product.product_description.to_lowercase().contains(query)
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = http::request_id(&req);
    Ok(http::respond(handle(state, &req).await, &request_id))
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let search = parse(req)?;
    let deadline = state.deadline(req);
    let mut session = state.session(&user_id).await?;
    let mut found: Vec<Product> = Vec::new();
    let mut page = search.page_start;
    let mut pages_read = 0;
    let has_more = loop {
        let listing = session
            .list_products(&search.shop_id, page, search.page_size, deadline)
            .await?;
        pages_read += 1;
        found.extend(
            listing
                .items
                .into_iter()
                .filter(|p| search.query.as_deref().is_none_or(|q| matches(p, q))),
        );
        page += 1;
        let enough = search.query.is_none() || found.len() >= search.page_size as usize;
        if !listing.has_more || enough || pages_read >= state.config.page_budget {
            break listing.has_more;
        }
    };
    // What the user now sees is what they may open next: one cache write.
    state.cache_products(&search.shop_id, &found).await;
    let products: Vec<DshipitProduct> = found
        .iter()
        .map(|p| DshipitProduct::from_tiktok(p, &search.shop_id))
        .collect();
    Ok(http::json(
        200,
        &SearchResult {
            total_count: products.len(),
            products,
            has_more,
            next_page_start: has_more.then_some(page),
        },
    ))
}
