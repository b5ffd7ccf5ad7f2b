//! The Research API provider: Login Kit for connecting, the Research API's
//! TikTok Shop endpoints for data.
//!
//! TikTok has no keyword search and no get-one-product endpoint here: search
//! lists the shop's products page by page (`pageStart` is the listing page,
//! `pageSize` its size) and keeps those whose name or description contains the
//! query, reading further pages within the page budget until it has `pageSize`
//! matches; product lookup answers from the cache a recent search filled, and
//! otherwise pages the listing.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;
use url::Url;

use super::paging::{self, Listing, Position, UpstreamPage, Wanted};
use super::{
    required_shop, session_and_cached, with_token, Authorization, CacheSettings, Catalogue,
    SearchRequest, SearchResult, Session, SessionOpener, ShopView,
};
use crate::app_secrets::{AppSecrets, Secrets};
use crate::clock::expires_at;
use crate::error::Error;
use crate::product::DshipitProduct;
use crate::redacted::{AccessToken, AuthCode, CodeVerifier, OAuthState};
use crate::store::{CachedKind, Tokens};
use crate::tiktok::{
    Page, Pkce, Product, Shop, TikTokClient, TikTokId, TokenGrant, UpstreamError, MAX_PAGE_SIZE,
};

/// What the code assumes when a grant does not say how long its refresh token
/// lives (`refresh_expires_in` absent): TikTok's shorter documented lifetime
/// (180 days on current pages, 365 on older ones). An absent lifetime is
/// unknown, not zero. If the token dies sooner, the next refresh gets
/// `invalid_grant` and the connection is marked for a reconnect then. This is
/// the only place that assumes a lifetime.
pub const ASSUMED_REFRESH_LIFETIME_SECS: u64 = 180 * 86_400;

/// The Research API provider: Login Kit and the Research API over its own client.
#[derive(Clone)]
pub struct ResearchProvider {
    client: Arc<TikTokClient>,
    secrets: Arc<Secrets>,
    cache: CacheSettings,
    page_budget: u32,
}

impl ResearchProvider {
    /// A provider over `client`, reading the app's credentials from `secrets`,
    /// caching what searches read in `cache`, reading at most `page_budget`
    /// listing pages a request.
    pub fn new(
        client: Arc<TikTokClient>,
        secrets: Arc<Secrets>,
        cache: CacheSettings,
        page_budget: u32,
    ) -> Self {
        Self {
            client,
            secrets,
            cache,
            page_budget,
        }
    }

    fn now(&self) -> i64 {
        self.cache.now()
    }

    /// The callback URL Login Kit gets: the one the login derived and kept
    /// (`given`), else `TIKTOK_REDIRECT_URI`.
    fn redirect_uri<'a>(&'a self, given: Option<&'a Url>) -> Result<&'a Url, Error> {
        given
            .or_else(|| self.client.configured_redirect_uri())
            .ok_or_else(|| {
                Error::Internal(
                    "TIKTOK_REDIRECT_URI is empty and the login kept no callback URL".into(),
                )
            })
    }

    /// Caches `products` of `shop_id` for product lookups; a failure is logged,
    /// not fatal (the cache only spares TikTok calls).
    async fn cache_products(&self, shop_id: &TikTokId, products: &[Product]) {
        if products.is_empty() {
            return;
        }
        if let Err(error) = self
            .cache
            .cache
            .cache_products(shop_id, products, self.cache.expires_at())
            .await
        {
            tracing::warn!(error = %error, "could not cache products");
        }
    }

    /// One page of a shop's listing.
    async fn list_products(
        &self,
        session: &mut (dyn Session + '_),
        shop_id: &TikTokId,
        page_start: u32,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Page<Product>, Error> {
        let client = &self.client;
        with_token(session, deadline, |token| async move {
            client
                .products(&token, shop_id, page_start, page_size, deadline)
                .await
        })
        .await
    }
}

/// Tokens from a Login Kit grant at `now`, with absolute expiry times; what
/// the grant leaves out is kept from `previous`.
pub fn tokens_from_grant(
    now: i64,
    grant: TokenGrant,
    previous: Option<&Tokens>,
) -> Result<Tokens, Error> {
    let refresh_expires_at = match (grant.refresh_expires_in, &grant.refresh_token, previous) {
        (Some(secs), _, _) => expires_at(now, secs),
        // Not rotated: the refresh token we hold keeps its expiry.
        (None, None, Some(previous)) => previous.refresh_expires_at,
        // A new refresh token (or a first one) of unknown lifetime.
        (None, _, _) => expires_at(now, ASSUMED_REFRESH_LIFETIME_SECS),
    };
    let refresh_token = grant
        .refresh_token
        .or_else(|| previous.map(|p| p.refresh_token.clone()))
        .ok_or_else(|| {
            Error::Upstream(UpstreamError::Decode {
                status: 200,
                body: "[redacted]".into(),
                source: serde::de::Error::custom("the grant has no refresh_token"),
            })
        })?;
    Ok(Tokens {
        open_id: grant
            .open_id
            .or_else(|| previous.map(|p| p.open_id.clone()))
            .unwrap_or_default(),
        scopes: if grant.scopes.is_empty() {
            previous.map(|p| p.scopes.clone()).unwrap_or_default()
        } else {
            grant.scopes
        },
        access_token: grant.access_token,
        refresh_token,
        access_expires_at: expires_at(now, grant.expires_in),
        refresh_expires_at,
        refreshed_at: now,
        account: previous.and_then(|p| p.account.clone()),
    })
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
            region: None,
            seller_type: None,
        }
    }
}

/// A shop's product listing, `page_size` a page.
struct ShopListing<'a> {
    provider: &'a ResearchProvider,
    shop_id: &'a TikTokId,
    page_size: u32,
}

impl Listing for ShopListing<'_> {
    type Item = Product;
    type Page = u32;

    async fn page(
        &self,
        conn: &mut (dyn Session + '_),
        page: &u32,
        deadline: Instant,
    ) -> Result<Option<UpstreamPage<Product, u32>>, Error> {
        let listing = self
            .provider
            .list_products(conn, self.shop_id, *page, self.page_size, deadline)
            .await?;
        Ok(Some(UpstreamPage {
            items: listing.items,
            next: listing.has_more.then_some(page + 1),
        }))
    }
}

fn matches(product: &Product, query: &str) -> bool {
    product.product_name.to_lowercase().contains(query)
        || product.product_description.to_lowercase().contains(query)
}

#[async_trait]
impl Authorization for ResearchProvider {
    fn supports_pkce(&self) -> bool {
        true
    }

    fn authorize_url(
        &self,
        secrets: &AppSecrets,
        oauth_state: &OAuthState,
        pkce: Option<&Pkce>,
    ) -> Result<Url, Error> {
        self.authorize_url_via(secrets, oauth_state, pkce, None)
    }

    async fn connect(
        &self,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<Tokens, Error> {
        self.connect_via(code, verifier, None, deadline).await
    }

    fn derives_redirect_uri(&self) -> bool {
        self.client.configured_redirect_uri().is_none()
    }

    fn authorize_url_via(
        &self,
        secrets: &AppSecrets,
        oauth_state: &OAuthState,
        pkce: Option<&Pkce>,
        redirect_uri: Option<&Url>,
    ) -> Result<Url, Error> {
        Ok(self.client.authorize_url(
            &secrets.credentials.client_key,
            oauth_state,
            pkce,
            self.redirect_uri(redirect_uri)?,
        ))
    }

    async fn connect_via(
        &self,
        code: &AuthCode,
        verifier: Option<&CodeVerifier>,
        redirect_uri: Option<&Url>,
        deadline: Instant,
    ) -> Result<Tokens, Error> {
        let redirect_uri = self.redirect_uri(redirect_uri)?;
        let secrets = self.secrets.get().await?;
        let grant = self
            .client
            .exchange_code(&secrets.credentials, code, verifier, redirect_uri, deadline)
            .await?;
        tokens_from_grant(self.now(), grant, None)
    }

    async fn refresh(&self, previous: &Tokens, deadline: Instant) -> Result<Tokens, Error> {
        let secrets = self.secrets.get().await?;
        let grant = self
            .client
            .refresh(&secrets.credentials, &previous.refresh_token, deadline)
            .await?;
        tokens_from_grant(self.now(), grant, Some(previous))
    }

    async fn revoke(&self, tokens: &Tokens, deadline: Instant) -> Result<(), Error> {
        let secrets = self.secrets.get().await?;
        self.client
            .revoke(&secrets.credentials, &tokens.access_token, deadline)
            .await?;
        Ok(())
    }

    async fn client_token(&self, deadline: Instant) -> Result<(AccessToken, u64), Error> {
        let secrets = self.secrets.get().await?;
        let grant = self
            .client
            .client_token(&secrets.credentials, deadline)
            .await?;
        Ok((grant.access_token, grant.expires_in))
    }
}

#[async_trait]
impl Catalogue for ResearchProvider {
    fn max_page_size(&self) -> u32 {
        MAX_PAGE_SIZE
    }

    /// Without a keyword one page, as TikTok gives it; with one, pages until
    /// enough match, within the page budget.
    fn search_calls(&self, request: &SearchRequest) -> u32 {
        match request.query {
            Some(_) => self.page_budget,
            None => 1,
        }
    }

    fn shop_calls(&self) -> u32 {
        1
    }

    fn shop_name_required(&self) -> bool {
        true
    }

    fn check_search(&self, request: &SearchRequest) -> Result<(), Error> {
        request.shop()?;
        request.without_market_filters("research")
    }

    fn check_product(&self, shop_id: Option<&TikTokId>) -> Result<(), Error> {
        required_shop(shop_id).map(|_| ())
    }

    async fn shops(
        &self,
        session: &mut (dyn Session + '_),
        name: &str,
        deadline: Instant,
    ) -> Result<Vec<ShopView>, Error> {
        let client = &self.client;
        let shops = with_token(session, deadline, |token| async move {
            client.shops(&token, name, MAX_PAGE_SIZE, deadline).await
        })
        .await?;
        Ok(shops.into_iter().map(ShopView::from).collect())
    }

    async fn search(
        &self,
        session: &mut (dyn Session + '_),
        search: &SearchRequest,
        deadline: Instant,
    ) -> Result<SearchResult, Error> {
        let page = match &search.cursor {
            Some(cursor) => cursor
                .parse::<u32>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| Error::BadRequest("cursor is not one this API gave".into()))?,
            None => search.page_start,
        };
        let shop_id = search.shop()?;
        let listing = ShopListing {
            provider: self,
            shop_id,
            page_size: search.page_size,
        };
        let wanted = Wanted {
            count: search.page_size as usize,
            exact: false,
            // Without a keyword, the answer is TikTok's page as it is.
            pages: match search.query {
                Some(_) => self.page_budget,
                None => 1,
            },
            matches: |p: &Product| search.query.as_deref().is_none_or(|q| matches(p, q)),
        };
        let found = paging::search(&listing, session, Position::at(page), wanted, deadline).await?;
        // What the user now sees is what they may open next: one cache write.
        self.cache_products(shop_id, &found.items).await;
        let products: Vec<DshipitProduct> = found
            .items
            .iter()
            .map(|p| DshipitProduct::from_tiktok(p, shop_id))
            .collect();
        let next_page = found.next.map(|at| at.page);
        Ok(SearchResult {
            total_count: products.len(),
            products,
            has_more: next_page.is_some(),
            next_page_start: next_page,
            next_cursor: next_page.map(|p| p.to_string()),
        })
    }

    async fn product(
        &self,
        session: &dyn SessionOpener,
        shop_id: Option<&TikTokId>,
        product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<serde_json::Value, Error> {
        let shop_id = required_shop(shop_id)?;
        let (mut session, cached) =
            session_and_cached(session, CachedKind::Product, shop_id, product_id).await?;
        let session = session.as_mut();
        let product = match cached {
            Some(product) => product,
            None => self
                .find_in_listing(session, shop_id, product_id, deadline)
                .await?
                .ok_or_else(|| Error::NotFound("product".into()))?,
        };
        let client = &self.client;
        let reviews = with_token(session, deadline, |token| async move {
            client
                .reviews(&token, product_id, 1, MAX_PAGE_SIZE, deadline)
                .await
        })
        .await?;
        Ok(serde_json::json!({
            "product": DshipitProduct::from_tiktok(&product, shop_id),
            "reviews": reviews.items,
        }))
    }
}

impl ResearchProvider {
    /// Pages the shop's listing for the product; what it reads is cached (one write).
    async fn find_in_listing(
        &self,
        session: &mut (dyn Session + '_),
        shop_id: &TikTokId,
        product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<Option<Product>, Error> {
        let mut read: Vec<Product> = Vec::new();
        let mut found = None;
        for page in 1..=self.page_budget {
            let listing = self
                .list_products(session, shop_id, page, MAX_PAGE_SIZE, deadline)
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
        self.cache_products(shop_id, &read).await;
        Ok(found)
    }
}
