//! The Research API provider: Login Kit for connecting, the Research API's
//! TikTok Shop endpoints for data.
//!
//! TikTok has no keyword search and no get-one-product endpoint here: search
//! lists the shop's products page by page (`pageStart` is the listing page,
//! `pageSize` its size) and keeps those whose name or description contains the
//! query, reading further pages within the page budget until it has `pageSize`
//! matches; product lookup answers from the cache a recent search filled, and
//! otherwise pages the listing.

use async_trait::async_trait;
use tokio::time::Instant;
use url::Url;

use super::paging::{self, Listing, Position, UpstreamPage, Wanted};
use super::{connection_and_cached, Provider, SearchRequest, SearchResult, ShopView};
use crate::app::{AppState, RequestConnection};
use crate::app_secrets::AppSecrets;
use crate::error::Error;
use crate::product::DshipitProduct;
use crate::redacted::{AuthCode, CodeVerifier, OAuthState};
use crate::store::{Connection, Tokens};
use crate::tiktok::{Pkce, Product, Shop, TikTokId, MAX_PAGE_SIZE};

/// The Research API provider; it calls `AppState::upstream`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResearchProvider;

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
    shop_id: &'a TikTokId,
    page_size: u32,
}

impl Listing for ShopListing<'_> {
    type Item = Product;
    type Page = u32;

    async fn page(
        &self, conn: &mut RequestConnection<'_>, page: &u32, deadline: Instant,
    ) -> Result<Option<UpstreamPage<Product, u32>>, Error> {
        let listing = conn
            .list_products(self.shop_id, *page, self.page_size, deadline)
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
impl Provider for ResearchProvider {
    fn max_page_size(&self) -> u32 {
        MAX_PAGE_SIZE
    }

    fn shop_name_required(&self) -> bool {
        true
    }

    fn supports_pkce(&self) -> bool {
        true
    }

    fn authorize_url(
        &self, state: &AppState, secrets: &AppSecrets, oauth_state: &OAuthState,
        pkce: Option<&Pkce>,
    ) -> Result<Url, Error> {
        Ok(state
            .upstream
            .authorize_url(&secrets.credentials.client_key, oauth_state, pkce))
    }

    async fn connect(
        &self, state: &AppState, code: &AuthCode, verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<Tokens, Error> {
        let secrets = state.secrets.get().await?;
        let grant = state
            .upstream
            .exchange_code(&secrets.credentials, code, verifier, deadline)
            .await?;
        state.tokens_from_grant(grant, None)
    }

    async fn refresh(
        &self, state: &AppState, previous: &Tokens, deadline: Instant,
    ) -> Result<Tokens, Error> {
        let secrets = state.secrets.get().await?;
        let grant = state
            .upstream
            .refresh(&secrets.credentials, &previous.refresh_token, deadline)
            .await?;
        state.tokens_from_grant(grant, Some(previous))
    }

    async fn revoke(
        &self, state: &AppState, connection: &Connection, deadline: Instant,
    ) -> Result<(), Error> {
        let secrets = state.secrets.get().await?;
        state
            .upstream
            .revoke(
                &secrets.credentials,
                &connection.tokens.access_token,
                deadline,
            )
            .await?;
        Ok(())
    }

    async fn shops(
        &self, conn: &mut RequestConnection<'_>, name: &str, deadline: Instant,
    ) -> Result<Vec<ShopView>, Error> {
        let upstream = conn.state().upstream.clone();
        let shops = conn
            .with_token(deadline, |token| {
                let upstream = upstream.clone();
                let name = name.to_owned();
                async move { upstream.shops(&token, &name, MAX_PAGE_SIZE, deadline).await }
            })
            .await?;
        Ok(shops.into_iter().map(ShopView::from).collect())
    }

    async fn search(
        &self, conn: &mut RequestConnection<'_>, search: &SearchRequest, deadline: Instant,
    ) -> Result<SearchResult, Error> {
        let state = conn.state();
        let page = match &search.cursor {
            Some(cursor) => cursor
                .parse::<u32>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| Error::BadRequest("cursor is not one this API gave".into()))?,
            None => search.page_start,
        };
        let listing = ShopListing {
            shop_id: &search.shop_id,
            page_size: search.page_size,
        };
        let wanted = Wanted {
            count: search.page_size as usize,
            exact: false,
            // Without a keyword, the answer is TikTok's page as it is.
            pages: match search.query {
                Some(_) => state.config.page_budget,
                None => 1,
            },
            matches: |p: &Product| search.query.as_deref().is_none_or(|q| matches(p, q)),
        };
        let found = paging::search(&listing, conn, Position::at(page), wanted, deadline).await?;
        // What the user now sees is what they may open next: one cache write.
        state.cache_products(&search.shop_id, &found.items).await;
        let products: Vec<DshipitProduct> = found
            .items
            .iter()
            .map(|p| DshipitProduct::from_tiktok(p, &search.shop_id))
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
        &self, state: &AppState, user_id: &str, shop_id: &TikTokId, product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<serde_json::Value, Error> {
        let cached = state.store.cached_product(shop_id, product_id, state.now());
        let (mut conn, cached) = connection_and_cached(state, user_id, cached).await?;
        let conn = &mut conn;
        let product = match cached {
            Some(product) => product,
            None => find_in_listing(conn, shop_id, product_id, deadline)
                .await?
                .ok_or_else(|| Error::NotFound("product".into()))?,
        };
        let upstream = state.upstream.clone();
        let reviews = conn
            .with_token(deadline, |token| {
                let upstream = upstream.clone();
                let product_id = product_id.clone();
                async move {
                    upstream
                        .reviews(&token, &product_id, 1, MAX_PAGE_SIZE, deadline)
                        .await
                }
            })
            .await?;
        Ok(serde_json::json!({
            "product": DshipitProduct::from_tiktok(&product, shop_id),
            "reviews": reviews.items,
        }))
    }
}

/// Pages the shop's listing for the product; what it reads is cached (one write).
async fn find_in_listing(
    conn: &mut RequestConnection<'_>, shop_id: &TikTokId, product_id: &TikTokId, deadline: Instant,
) -> Result<Option<Product>, Error> {
    let state = conn.state();
    let mut read: Vec<Product> = Vec::new();
    let mut found = None;
    for page in 1..=state.config.page_budget {
        let listing = conn
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
