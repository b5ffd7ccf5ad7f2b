//! `GET /api/tiktok/search?shopId=&query=&pageStart=&pageSize=&cursor=`: a
//! shop's products, filtered by a keyword.
//!
//! Neither TikTok API has a keyword search: the provider pages the shop's
//! listing within the page budget and keeps the products that match (see
//! `tiktok_gateway::provider`). `nextCursor` continues where an answer stopped,
//! with either provider; `nextPageStart` is the Research API's page number.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
use tiktok_gateway::product::parse_decimal;
use tiktok_gateway::provider::{MarketFilters, MarketSort};
use tiktok_gateway::rust_decimal::Decimal;
use tiktok_gateway::{AppState, Error};

pub use tiktok_gateway::{SearchRequest as SearchQuery, SearchResult};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

/// The longest cursor accepted.
const MAX_CURSOR_LEN: usize = 4096;

/// Validates the query string: ids digits only, query at most 1000 characters,
/// `pageSize` from 1 to `max_page_size` (its default), `pageStart` at least 1
/// (default 1), `cursor` as an earlier answer gave it.
pub fn parse(req: &Request, max_page_size: u32) -> Result<SearchQuery, Error> {
    let shop_id = http::query(req, "shopId")
        .map(|id| http::id_param(Some(id), "shopId"))
        .transpose()?;
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
    let cursor = http::query(req, "cursor")
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_LEN) {
        return Err(Error::BadRequest("cursor is too long".into()));
    }
    Ok(SearchQuery {
        shop_id,
        query: query.map(|q| q.to_lowercase()),
        page_start: http::number_param(req, "pageStart", 1, 1, 1_000_000)?,
        page_size: http::number_param(req, "pageSize", max_page_size, 1, max_page_size)?,
        cursor,
        market: market_filters(req)?,
    })
}

/// `sort`, `minPrice`, `maxPrice`, `minCommissionRate` and `category`, each
/// refused with a 400 naming it when malformed (whether the deployment's
/// provider takes them is its own check).
fn market_filters(req: &Request) -> Result<MarketFilters, Error> {
    let given = |name: &str| {
        http::query(req, name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let sort = given("sort")
        .map(|s| {
            MarketSort::parse(&s).ok_or_else(|| {
                Error::BadRequest(
                    "sort must be one of best_selling, price_asc, price_desc, commission, commission_rate"
                        .into(),
                )
            })
        })
        .transpose()?;
    let decimal = |name: &str, max_scale: u32| -> Result<Option<Decimal>, Error> {
        given(name)
            .map(|raw| {
                parse_decimal(&raw)
                    .filter(|d| d.scale() <= max_scale && raw.len() <= 20)
                    .ok_or_else(|| {
                        Error::BadRequest(format!(
                            "{name} must be a decimal number such as 19.99 (at most {max_scale} decimals)"
                        ))
                    })
            })
            .transpose()
    };
    let min_price = decimal("minPrice", 4)?;
    let max_price = decimal("maxPrice", 4)?;
    if max_price.is_some_and(|m| m <= Decimal::ZERO) {
        return Err(Error::BadRequest("maxPrice must be greater than 0".into()));
    }
    if let (Some(min), Some(max)) = (min_price, max_price) {
        if min >= max {
            return Err(Error::BadRequest("minPrice must be below maxPrice".into()));
        }
    }
    let min_commission_rate = decimal("minCommissionRate", 2)?;
    if min_commission_rate.is_some_and(|r| r > Decimal::from(80)) {
        return Err(Error::BadRequest(
            "minCommissionRate is a percent from 0 to 80".into(),
        ));
    }
    let category = given("category")
        .map(|c| http::id_param(Some(c), "category"))
        .transpose()?;
    Ok(MarketFilters {
        sort,
        min_price,
        max_price,
        min_commission_rate,
        category,
    })
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, handle).await
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let search = parse(req, state.catalogue.max_page_size())?;
    state.catalogue.check_search(&search)?;
    let deadline = state.deadline(req);
    let planned = state.catalogue.search_calls(&search);
    let mut session = state.tokens.request_connection(&user_id, planned).await?;
    let result = state
        .catalogue
        .search(&mut session, &search, deadline)
        .await;
    session.settle().await;
    http::json(200, &result?)
}
