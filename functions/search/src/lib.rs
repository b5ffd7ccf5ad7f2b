//! `GET /api/tiktok/search?shopId=&query=&pageStart=&pageSize=&cursor=`: a
//! shop's products, filtered by a keyword.
//!
//! Neither TikTok API has a keyword search: the provider pages the shop's
//! listing within the page budget and keeps the products that match (see
//! `tiktok_gateway::provider`). `nextCursor` continues where an answer stopped,
//! with either provider; `nextPageStart` is the Research API's page number.

use lambda_http::{Body, Request, Response};
use tiktok_gateway::http;
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
    })
}

/// The Lambda handler.
pub async fn handler(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    http::serve(state, req, handle).await
}

async fn handle(state: &AppState, req: &Request) -> Result<Response<Body>, Error> {
    let user_id = http::user_id(req)?;
    let search = parse(req, state.catalogue.max_page_size())?;
    let deadline = state.deadline(req);
    let mut session = state.tokens.request_connection(&user_id).await?;
    let result = state
        .catalogue
        .search(&mut session, &search, deadline)
        .await?;
    http::json(200, &result)
}
