//! The provider ports: what the functions ask of TikTok, whichever API answers.
//! One implementation per upstream, siblings: [`research`] (Login Kit and the
//! Research API), [`shop`] (the TikTok Shop Partner API, a seller's own shops)
//! and [`creator`] (the Affiliate Creator API, the whole marketplace). A deployment picks
//! one at start-up (`TIKTOK_PROVIDER`); the handlers only see the two ports:
//!
//! - [`Authorization`]: the authorize URL, connect, refresh and revoke. Built
//!   with its client, the app's secrets and the clock; it never sees a request.
//! - [`Catalogue`]: shops, search and product lookup, on the request's
//!   [`Session`] (the user's connection with a usable token).
//!
//! This module sits below the token logic that implements [`Session`]
//! (`crate::tokens`) and the state that wires both (`crate::app`): imports
//! point down, never back up.

pub mod creator;
mod paging;
pub mod research;
pub mod shop;

use std::future::Future;

use async_trait::async_trait;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::app_secrets::AppSecrets;
use crate::error::Error;
use crate::product::DshipitProduct;
use crate::redacted::{AccessToken, AuthCode, CodeVerifier, OAuthState};
use crate::store::{CacheEntry, CachedKind, Connection, Tokens};
use crate::tiktok::{Pkce, TikTokId, UpstreamError};

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// The shop (the Research and Partner APIs search one shop; the creator
    /// marketplace is searched without one).
    pub shop_id: Option<TikTokId>,
    /// Lower-cased, trimmed keyword; `None` lists everything.
    pub query: Option<String>,
    /// First listing page to read (Research API).
    pub page_start: u32,
    /// Products wanted.
    pub page_size: u32,
    /// Where a previous answer stopped (`nextCursor`), if continuing.
    pub cursor: Option<String>,
    /// Marketplace filters and order (the creator provider only).
    pub market: MarketFilters,
}

impl SearchRequest {
    /// The shop a one-shop search needs: 400 when there is none.
    pub fn shop(&self) -> Result<&TikTokId, Error> {
        self.shop_id
            .as_ref()
            .ok_or_else(|| Error::BadRequest("shopId is required".into()))
    }

    /// Refuses marketplace filters where `provider` cannot apply them.
    pub fn without_market_filters(&self, provider: &str) -> Result<(), Error> {
        match self.market.first_given() {
            None => Ok(()),
            Some(name) => Err(Error::BadRequest(format!(
                "{name} is only supported with the creator provider; this deployment uses TIKTOK_PROVIDER={provider}"
            ))),
        }
    }
}

/// How a marketplace search is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketSort {
    /// Units sold, most first.
    BestSelling,
    /// Price, lowest first.
    PriceAsc,
    /// Price, highest first.
    PriceDesc,
    /// Commission amount, highest first.
    Commission,
    /// Commission rate, highest first.
    CommissionRate,
}

impl MarketSort {
    /// The site's name for it (`sort=`), or `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "best_selling" => Self::BestSelling,
            "price_asc" => Self::PriceAsc,
            "price_desc" => Self::PriceDesc,
            "commission" => Self::Commission,
            "commission_rate" => Self::CommissionRate,
            _ => return None,
        })
    }
}

/// Marketplace search filters (`sort`, `minPrice`, `maxPrice`,
/// `minCommissionRate`, `category`), validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketFilters {
    /// Order.
    pub sort: Option<MarketSort>,
    /// Lowest sale price (the creator's market currency).
    pub min_price: Option<rust_decimal::Decimal>,
    /// Sale price below this.
    pub max_price: Option<rust_decimal::Decimal>,
    /// Lowest commission rate, in percent (at most two decimals).
    pub min_commission_rate: Option<rust_decimal::Decimal>,
    /// A first-level category id.
    pub category: Option<TikTokId>,
}

impl MarketFilters {
    /// The site's name of the first filter given, if any.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.sort.is_some(), "sort"),
            (self.min_price.is_some(), "minPrice"),
            (self.max_price.is_some(), "maxPrice"),
            (self.min_commission_rate.is_some(), "minCommissionRate"),
            (self.category.is_some(), "category"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
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

/// The authorization side of an upstream: how a user connects, and how their
/// grant is kept alive and ended.
#[async_trait]
pub trait Authorization: Send + Sync {
    /// Whether the login may use PKCE.
    fn supports_pkce(&self) -> bool;

    /// The browser URL that asks the user to authorize the app.
    fn authorize_url(
        &self,
        secrets: &AppSecrets,
        oauth_state: &OAuthState,
        pkce: Option<&Pkce>,
    ) -> Result<Url, Error>;

    /// Authorization code → what to store for the user (tokens, and for a
    /// seller the account and shops).
    async fn connect(
        &self,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<Tokens, Error>;

    /// Whether each login must give this provider the callback URL (Login Kit
    /// without `TIKTOK_REDIRECT_URI`: the login derives it from the API's own
    /// domain and keeps it with the state for the callback). TikTok Shop's
    /// redirect is fixed in Partner Center: never.
    fn derives_redirect_uri(&self) -> bool {
        false
    }

    /// [`Authorization::authorize_url`] with the callback URL the login
    /// derived (`Some` only where [`Authorization::derives_redirect_uri`]).
    fn authorize_url_via(
        &self,
        secrets: &AppSecrets,
        oauth_state: &OAuthState,
        pkce: Option<&Pkce>,
        redirect_uri: Option<&Url>,
    ) -> Result<Url, Error> {
        let _ = redirect_uri;
        self.authorize_url(secrets, oauth_state, pkce)
    }

    /// [`Authorization::connect`] with the callback URL the login sent to
    /// TikTok, kept with its state (`None`: the configured one, if any).
    async fn connect_via(
        &self,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        redirect_uri: Option<&Url>,
        deadline: Instant,
    ) -> Result<Tokens, Error> {
        let _ = redirect_uri;
        self.connect(code, verifier, deadline).await
    }

    /// New tokens for `previous` (the refresh token rotates); what the grant
    /// leaves out is kept from `previous`. A refused refresh token is
    /// `Error::Upstream(UpstreamError::InvalidGrant)`.
    async fn refresh(&self, previous: &Tokens, deadline: Instant) -> Result<Tokens, Error>;

    /// Ends the authorization of `tokens` upstream where the API allows it
    /// (best effort: the caller deletes the connection or discards the grant
    /// whatever happens).
    async fn revoke(&self, tokens: &Tokens, deadline: Instant) -> Result<(), Error>;

    /// A client-credentials token for the app itself and its lifetime in
    /// seconds (`DATA_TOKEN_MODE=app`; only the Research API has one).
    async fn client_token(&self, deadline: Instant) -> Result<(AccessToken, u64), Error> {
        let _ = deadline;
        Err(Error::Internal(
            "this provider has no app token (DATA_TOKEN_MODE=app)".into(),
        ))
    }
}

/// One data request's connection, as a catalogue sees it: the user's stored
/// connection and a usable token for each upstream call. Implemented by the
/// token logic (`crate::tokens::RequestConnection`), which refreshes the
/// user's token at most once per request and counts each call.
#[async_trait]
pub trait Session: Send {
    /// The user's connection as this request knows it.
    fn connection(&self) -> &Connection;

    /// A usable token for the next upstream call (refreshed first when it is
    /// about to expire), counted against the user's daily budget.
    async fn token(&mut self, deadline: Instant) -> Result<AccessToken, Error>;

    /// TikTok refused `token`, the one it was just given (`refusal`): a new token to
    /// retry with, the first time in the request; after that `Ok(None)` (the
    /// call's error stands) or the error that ends the request (the user
    /// must reconnect).
    async fn refused(
        &mut self,
        token: &AccessToken,
        refusal: &UpstreamError,
        deadline: Instant,
    ) -> Result<Option<AccessToken>, Error>;
}

/// A product lookup's [`Session`], not yet opened: the catalogue names the
/// product cache entry it wants, and opening reads the user's connection and
/// that entry in one round trip (only connected users get data, even from
/// the cache).
#[async_trait]
pub trait SessionOpener: Send + Sync {
    /// The request's session and `entry` of the product cache as JSON (a miss
    /// when absent, expired or unreadable).
    async fn open_with(
        &self,
        entry: &CacheEntry,
    ) -> Result<(Box<dyn Session + '_>, Option<String>), Error>;
}

/// Runs `call` with a usable token from `session`; when TikTok says the token
/// is no longer valid, asks the session for another and retries, once per
/// request.
pub async fn with_token<T, F, Fut>(
    session: &mut (dyn Session + '_),
    deadline: Instant,
    call: F,
) -> Result<T, Error>
where
    F: Fn(AccessToken) -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    let mut token = session.token(deadline).await?;
    loop {
        match call(token.clone()).await {
            Err(refusal @ UpstreamError::AccessTokenInvalid { .. }) => {
                match session.refused(&token, &refusal, deadline).await? {
                    Some(next) => token = next,
                    None => return Err(refusal.into()),
                }
            }
            other => return Ok(other?),
        }
    }
}

/// The catalogue side of an upstream: what the data routes read, on the
/// request's [`Session`].
#[async_trait]
pub trait Catalogue: Send + Sync {
    /// The largest `pageSize` a search accepts.
    fn max_page_size(&self) -> u32;

    /// Whether a shop lookup needs a name (an empty one lists every shop otherwise).
    fn shop_name_required(&self) -> bool;

    /// Refuses a search this upstream cannot run (400), before anything is read.
    fn check_search(&self, request: &SearchRequest) -> Result<(), Error>;

    /// Refuses a product lookup this upstream cannot run (400: a missing
    /// `shopId` where products live in a shop), before anything is read.
    fn check_product(&self, shop_id: Option<&TikTokId>) -> Result<(), Error>;

    /// The upstream calls `request` is expected to make (within the page
    /// budget): the request reserves them against the daily budgets when it
    /// starts, beside the connection read, counts any further call as it is
    /// made, and gives back the ones it did not make when it ends. Too many
    /// costs a give-back write, too few a write before each call past them.
    fn search_calls(&self, request: &SearchRequest) -> u32;

    /// The upstream calls a shop lookup makes (none where the shops come
    /// with the connection).
    fn shop_calls(&self) -> u32;

    /// Shops by name (case-insensitive).
    async fn shops(
        &self,
        session: &mut (dyn Session + '_),
        name: &str,
        deadline: Instant,
    ) -> Result<Vec<ShopView>, Error>;

    /// A shop's products filtered by keyword.
    async fn search(
        &self,
        session: &mut (dyn Session + '_),
        request: &SearchRequest,
        deadline: Instant,
    ) -> Result<SearchResult, Error>;

    /// One product, as the product route answers it (`{"product", ...}`).
    /// Only connected users get data, even from the cache: the session and
    /// the cache are awaited together.
    async fn product(
        &self,
        session: &dyn SessionOpener,
        shop_id: Option<&TikTokId>,
        product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<serde_json::Value, Error>;
}

/// The shop of a product lookup where products live in a shop.
fn required_shop(shop_id: Option<&TikTokId>) -> Result<&TikTokId, Error> {
    shop_id.ok_or_else(|| Error::BadRequest("shopId is required".into()))
}

/// The user's session and the cached `kind` entry of `product_id` in
/// `shop_id`, decoded; an entry that does not decode is a miss (logged): the
/// caller asks TikTok.
async fn session_and_cached<'s, T: serde::de::DeserializeOwned>(
    opener: &'s dyn SessionOpener,
    kind: CachedKind,
    shop_id: &TikTokId,
    product_id: &TikTokId,
) -> Result<(Box<dyn Session + 's>, Option<T>), Error> {
    let entry = CacheEntry {
        kind,
        shop_id: shop_id.clone(),
        product_id: product_id.clone(),
    };
    let (session, cached) = opener.open_with(&entry).await?;
    let cached = cached.and_then(|json| {
        serde_json::from_str(&json)
            .map_err(
                |error| tracing::warn!(error = %error, "cached product unreadable; asking TikTok"),
            )
            .ok()
    });
    Ok((session, cached))
}

/// How a catalogue caches what it read: the store's product cache, the
/// clock, and how long an entry lives.
#[derive(Clone)]
pub struct CacheSettings {
    /// The product cache.
    pub cache: std::sync::Arc<dyn crate::store::ProductCache>,
    /// Unix seconds.
    pub clock: crate::clock::Clock,
    /// How long a cached product is served.
    pub ttl: std::time::Duration,
}

impl CacheSettings {
    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// When an entry written now expires.
    pub fn expires_at(&self) -> i64 {
        self.now() + self.ttl.as_secs() as i64
    }

    /// Caches one product's detail for product lookups; a failure is logged,
    /// not fatal (the cache only spares TikTok calls).
    async fn store_detail(
        &self,
        shop_id: &TikTokId,
        product_id: &TikTokId,
        detail: &impl Serialize,
    ) {
        match serde_json::to_string(detail) {
            Ok(json) => {
                if let Err(error) = self
                    .cache
                    .cache_detail(shop_id, product_id, &json, self.expires_at())
                    .await
                {
                    tracing::warn!(error = %error, "could not cache the product");
                }
            }
            Err(error) => tracing::warn!(error = %error, "could not encode the product"),
        }
    }
}

/// Tokens after a TikTok Shop refresh (seller or creator) at `now`: what the
/// answer leaves empty (open id, scopes) is kept from `previous`, and the
/// account is `account`.
fn refreshed_shop_tokens(
    grant: crate::tiktok::shop::ShopGrant,
    previous: &Tokens,
    now: i64,
    account: Option<crate::store::SellerAccount>,
) -> Tokens {
    Tokens {
        open_id: if grant.open_id.is_empty() {
            previous.open_id.clone()
        } else {
            grant.open_id
        },
        scopes: if grant.scopes.is_empty() {
            previous.scopes.clone()
        } else {
            grant.scopes
        },
        access_token: grant.access_token,
        refresh_token: grant.refresh_token,
        access_expires_at: grant.access_expires_at,
        refresh_expires_at: grant.refresh_expires_at,
        refreshed_at: now,
        account,
    }
}
