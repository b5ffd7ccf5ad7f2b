//! The provider port: what the functions ask of TikTok, whichever API answers.
//! One implementation per upstream, siblings: [`research::ResearchProvider`]
//! (Login Kit and the Research API) and [`shop::ShopProvider`] (the TikTok Shop
//! Partner API). A deployment picks one at start-up (`TIKTOK_PROVIDER`); the
//! handlers only see [`Provider`].

mod paging;
pub mod research;
pub mod shop;

use std::future::Future;

use async_trait::async_trait;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::app::{AppState, RequestConnection};
use crate::app_secrets::AppSecrets;
use crate::error::Error;
use crate::product::DshipitProduct;
use crate::redacted::{AuthCode, CodeVerifier, OAuthState};
use crate::store::{Connection, StoreError, Tokens};
use crate::tiktok::{Pkce, TikTokId};

pub use research::ResearchProvider;
pub use shop::ShopProvider;

/// A shop as the site shows it. Research shops have ratings and counts;
/// Partner API shops have a region and a seller type instead.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShopView {
    /// Id (digits).
    pub shop_id: String,
    /// Name.
    pub shop_name: String,
    /// Rating 0–5 (Research API).
    pub shop_rating: Option<f64>,
    /// Reviews (Research API).
    pub shop_review_count: Option<u64>,
    /// Items sold (Research API).
    pub item_sold_count: Option<u64>,
    /// TikTok's performance value (Research API).
    pub shop_performance_value: Option<String>,
    /// Region code (Partner API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `LOCAL` or `CROSS_BORDER` (Partner API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_type: Option<String>,
}

/// A search, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// The shop.
    pub shop_id: TikTokId,
    /// Lower-cased, trimmed keyword; `None` lists everything.
    pub query: Option<String>,
    /// First listing page to read (Research API).
    pub page_start: u32,
    /// Products wanted.
    pub page_size: u32,
    /// Where a previous answer stopped (`nextCursor`), if continuing.
    pub cursor: Option<String>,
}

/// The search answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// Matching products, in listing order.
    pub products: Vec<DshipitProduct>,
    /// How many products this answer holds.
    pub total_count: usize,
    /// Whether the listing goes on.
    pub has_more: bool,
    /// The `pageStart` that continues this search (Research API).
    pub next_page_start: Option<u32>,
    /// The `cursor` that continues this search (both providers; opaque).
    pub next_cursor: Option<String>,
}

/// What the functions need from an upstream. Data calls go through the
/// request's [`RequestConnection`], which refreshes the user's token at most once.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The largest `pageSize` a search accepts.
    fn max_page_size(&self) -> u32;

    /// Whether a shop lookup needs a name (an empty one lists every shop otherwise).
    fn shop_name_required(&self) -> bool;

    /// Whether the login may use PKCE.
    fn supports_pkce(&self) -> bool;

    /// The browser URL that asks the user to authorize the app.
    fn authorize_url(
        &self, state: &AppState, secrets: &AppSecrets, oauth_state: &OAuthState,
        pkce: Option<&Pkce>,
    ) -> Result<Url, Error>;

    /// Authorization code → what to store for the user (tokens, and for a
    /// seller the account and shops).
    async fn connect(
        &self, state: &AppState, code: &AuthCode, verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<Tokens, Error>;

    /// New tokens for `previous` (the refresh token rotates); what the grant
    /// leaves out is kept from `previous`. A refused refresh token is
    /// `Error::Upstream(UpstreamError::InvalidGrant)`.
    async fn refresh(
        &self, state: &AppState, previous: &Tokens, deadline: Instant,
    ) -> Result<Tokens, Error>;

    /// Ends the authorization upstream where the API allows it (best effort;
    /// the caller deletes the connection whatever happens).
    async fn revoke(
        &self, state: &AppState, connection: &Connection, deadline: Instant,
    ) -> Result<(), Error>;

    /// Shops by name (case-insensitive).
    async fn shops(
        &self, conn: &mut RequestConnection<'_>, name: &str, deadline: Instant,
    ) -> Result<Vec<ShopView>, Error>;

    /// A shop's products filtered by keyword.
    async fn search(
        &self, conn: &mut RequestConnection<'_>, request: &SearchRequest, deadline: Instant,
    ) -> Result<SearchResult, Error>;

    /// One product, as the product route answers it (`{"product", ...}`), for
    /// `user_id` (only connected users get data, even from the cache; the
    /// connection and the cache are read at once).
    async fn product(
        &self, state: &AppState, user_id: &str, shop_id: &TikTokId, product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<serde_json::Value, Error>;
}

/// The user's connection and what the product cache holds for them, read at
/// once. An unreadable cache is a miss (logged): the caller asks TikTok.
async fn connection_and_cached<'s, T>(
    state: &'s AppState, user_id: &str, cached: impl Future<Output = Result<Option<T>, StoreError>>,
) -> Result<(RequestConnection<'s>, Option<T>), Error> {
    let (conn, cached) = tokio::join!(state.request_connection(user_id), cached);
    let conn = conn?;
    let cached = cached.unwrap_or_else(|error| {
        tracing::warn!(error = %error, "product cache unreadable; asking TikTok");
        None
    });
    Ok((conn, cached))
}
