//! The TikTok Shop Partner API provider: a seller authorizes the app for their
//! shops; shops, search and product lookup read that seller's own catalogue.
//!
//! - Shops are the seller's authorized shops as Get Authorized Shops listed
//!   them at connect time, filtered by name here (the API has no search).
//! - Search pages Search Products (`status=ACTIVATE`, 100 a page, by
//!   `page_token`) within the page budget and filters titles here (the API has
//!   no keyword filter). `nextCursor` encodes the upstream page token and the
//!   position within that page, so the next request continues exactly there.
//! - Product lookup is Get Product, cached per product.
//! - There is no revoke: the seller removes the app in Seller Center, and the
//!   deauthorization webhook reports it.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;
use url::Url;

mod detail;

use super::paging::{self, Listing, Position, UpstreamPage, Wanted};
use super::{
    refreshed_shop_tokens, required_shop, session_and_cached, with_token, Authorization,
    CacheSettings, Catalogue, SearchRequest, SearchResult, Session, SessionOpener, ShopView,
};
use crate::app_secrets::{AppSecrets, Secrets, SecretsError};
use crate::error::Error;
use crate::product::DshipitProduct;
use crate::redacted::{AuthCode, CodeVerifier, OAuthState};
use crate::store::{CachedKind, SellerAccount, SellerShop, Tokens};
use crate::tiktok::shop::{ListedProduct, ShopClient, MAX_SEARCH_PAGE_SIZE};
use crate::tiktok::{AppCredentials, Pkce, TikTokId, UpstreamError};
use detail::product_answer;

/// Search Products refuses to go past this many results (code 12052180).
const RESULT_CAP_CODE: &str = "12052180";

/// The Partner API provider.
#[derive(Clone)]
pub struct ShopProvider {
    client: ShopClient,
    secrets: Arc<Secrets>,
    cache: CacheSettings,
    page_budget: u32,
}

impl ShopProvider {
    /// A provider over `client`, reading the app's credentials from `secrets`,
    /// caching product details in `cache`, reading at most `page_budget`
    /// listing pages a request.
    pub fn new(
        client: ShopClient,
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

    /// The Partner API pair from the secret.
    async fn app(&self) -> Result<AppCredentials, Error> {
        credentials(&*self.secrets.get().await?)
    }
}

/// The Partner API pair from the secret.
fn credentials(secrets: &AppSecrets) -> Result<AppCredentials, Error> {
    secrets.shop_credentials.clone().ok_or_else(|| {
        Error::Secrets(SecretsError::Malformed(
            "TIKTOK_PROVIDER=shop needs app_key and app_secret in the secret".into(),
        ))
    })
}

/// The connected seller's shop `shop_id` (404 when they did not authorize it).
fn seller_shop(conn: &(dyn Session + '_), shop_id: &TikTokId) -> Result<SellerShop, Error> {
    conn.connection()
        .tokens
        .account
        .as_ref()
        .and_then(|a| a.shops.iter().find(|s| s.id == shop_id.as_str()))
        .cloned()
        .ok_or_else(|| Error::NotFound("shop".into()))
}

/// Where a search stopped: the upstream page (its token; `None` is the first)
/// and how many of its products were already read.
type Cursor = Position<Option<String>>;

/// `nextCursor`: `<skip>:<page token>`, base64url.
fn encode(cursor: &Cursor) -> String {
    paging::encode_token_cursor(cursor)
}

/// A `nextCursor` this API gave, or `None`.
fn decode(raw: &str) -> Option<Cursor> {
    paging::decode_token_cursor(raw, MAX_SEARCH_PAGE_SIZE as usize)
}

/// A seller shop's active products, 100 a page by `page_token`.
struct SellerListing<'a> {
    client: &'a ShopClient,
    app: AppCredentials,
    cipher: String,
    shop_id: &'a TikTokId,
}

impl Listing for SellerListing<'_> {
    type Item = ListedProduct;
    type Page = Option<String>;

    async fn page(
        &self,
        conn: &mut (dyn Session + '_),
        page_token: &Option<String>,
        deadline: Instant,
    ) -> Result<Option<UpstreamPage<ListedProduct, Option<String>>>, Error> {
        let page = with_token(conn, deadline, |token| async move {
            self.client
                .search_products(
                    &self.app,
                    &token,
                    &self.cipher,
                    MAX_SEARCH_PAGE_SIZE,
                    page_token.as_deref(),
                    deadline,
                )
                .await
        })
        .await;
        match page {
            Ok(page) => Ok(Some(UpstreamPage {
                items: page.products,
                next: page.next_page_token.map(Some),
            })),
            Err(Error::Upstream(UpstreamError::Api { code, .. })) if code == RESULT_CAP_CODE => {
                tracing::warn!(shop_id = %self.shop_id, "TikTok Shop's 10,000-result cap reached");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Authorization for ShopProvider {
    fn supports_pkce(&self) -> bool {
        false
    }

    fn authorize_url(
        &self,
        _secrets: &AppSecrets,
        oauth_state: &OAuthState,
        _pkce: Option<&Pkce>,
    ) -> Result<Url, Error> {
        Ok(self.client.authorize_url(oauth_state))
    }

    async fn connect(
        &self,
        code: &AuthCode,
        _verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<Tokens, Error> {
        let app = self.app().await?;
        let grant = self.client.get_token(&app, code, deadline).await?;
        let shops = self
            .client
            .authorized_shops(&app, &grant.access_token, deadline)
            .await?;
        Ok(Tokens {
            open_id: grant.open_id,
            scopes: grant.scopes,
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            access_expires_at: grant.access_expires_at,
            refresh_expires_at: grant.refresh_expires_at,
            refreshed_at: self.cache.now(),
            account: Some(SellerAccount {
                seller_name: grant.seller_name,
                region: grant.seller_base_region,
                shops: shops
                    .into_iter()
                    .map(|s| SellerShop {
                        id: s.id.to_string(),
                        name: s.name,
                        region: s.region,
                        seller_type: s.seller_type,
                        cipher: s.cipher,
                    })
                    .collect(),
                authorization_expires_at: None,
                creator: None,
            }),
        })
    }

    async fn refresh(&self, previous: &Tokens, deadline: Instant) -> Result<Tokens, Error> {
        let app = self.app().await?;
        let grant = self
            .client
            .refresh_token(&app, &previous.refresh_token, deadline)
            .await?;
        let mut account = previous.account.clone();
        if let Some(account) = account.as_mut() {
            if !grant.seller_name.is_empty() {
                account.seller_name = grant.seller_name.clone();
            }
        }
        Ok(refreshed_shop_tokens(
            grant,
            previous,
            self.cache.now(),
            account,
        ))
    }

    async fn revoke(&self, _tokens: &Tokens, _deadline: Instant) -> Result<(), Error> {
        // The Partner API has no revoke endpoint.
        Ok(())
    }
}

#[async_trait]
impl Catalogue for ShopProvider {
    fn max_page_size(&self) -> u32 {
        MAX_SEARCH_PAGE_SIZE
    }

    /// One Search Products page (two when a cursor starts inside one): a
    /// page holds up to 100 products, which for most shops is all of them
    /// and for a keyword usually enough. Further pages are counted as they
    /// are read.
    fn search_calls(&self, request: &SearchRequest) -> u32 {
        self.page_budget
            .min(1 + u32::from(request.cursor.is_some()))
    }

    fn shop_calls(&self) -> u32 {
        0
    }

    fn shop_name_required(&self) -> bool {
        false
    }

    fn check_search(&self, request: &SearchRequest) -> Result<(), Error> {
        request.shop()?;
        request.without_market_filters("shop")
    }

    fn check_product(&self, shop_id: Option<&TikTokId>) -> Result<(), Error> {
        required_shop(shop_id).map(|_| ())
    }

    async fn shops(
        &self,
        conn: &mut (dyn Session + '_),
        name: &str,
        _deadline: Instant,
    ) -> Result<Vec<ShopView>, Error> {
        let wanted = name.to_lowercase();
        Ok(conn
            .connection()
            .tokens
            .account
            .iter()
            .flat_map(|a| a.shops.iter())
            .filter(|s| s.name.to_lowercase().contains(&wanted))
            .map(|s| ShopView {
                shop_id: s.id.clone(),
                shop_name: s.name.clone(),
                shop_rating: None,
                shop_review_count: None,
                item_sold_count: None,
                shop_performance_value: None,
                region: Some(s.region.clone()),
                seller_type: Some(s.seller_type.clone()),
            })
            .collect())
    }

    async fn search(
        &self,
        conn: &mut (dyn Session + '_),
        search: &SearchRequest,
        deadline: Instant,
    ) -> Result<SearchResult, Error> {
        let shop_id = search.shop()?;
        let shop = seller_shop(conn, shop_id)?;
        let start = match &search.cursor {
            Some(raw) => decode(raw)
                .ok_or_else(|| Error::BadRequest("cursor is not one this API gave".into()))?,
            None if search.page_start > 1 => {
                return Err(Error::BadRequest(
                    "TikTok Shop search continues with cursor=<nextCursor>, not pageStart".into(),
                ))
            }
            None => Cursor::at(None),
        };
        let listing = SellerListing {
            client: &self.client,
            app: self.app().await?,
            cipher: shop.cipher,
            shop_id,
        };
        let wanted = Wanted {
            count: search.page_size as usize,
            exact: true,
            pages: self.page_budget,
            matches: |p: &ListedProduct| {
                search
                    .query
                    .as_deref()
                    .is_none_or(|q| p.title.to_lowercase().contains(q))
            },
        };
        let found = paging::search(&listing, conn, start, wanted, deadline).await?;
        let products: Vec<DshipitProduct> = found
            .items
            .iter()
            .map(|p| DshipitProduct::from_shop(p, shop_id, ""))
            .collect();
        Ok(SearchResult {
            total_count: products.len(),
            products,
            has_more: found.next.is_some(),
            next_page_start: None,
            next_cursor: found.next.map(|c| encode(&c)),
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
            session_and_cached(session, CachedKind::Detail, shop_id, product_id).await?;
        let conn = session.as_mut();
        let shop = seller_shop(conn, shop_id)?;
        let detail = match cached {
            Some(detail) => detail,
            None => {
                let app = self.app().await?;
                let (client, app, cipher) = (&self.client, &app, &shop.cipher);
                let detail = with_token(conn, deadline, |token| async move {
                    client
                        .get_product(app, &token, cipher, product_id, deadline)
                        .await
                })
                .await?;
                if detail.id != *product_id {
                    return Err(Error::NotFound("product".into()));
                }
                self.cache.store_detail(shop_id, product_id, &detail).await;
                detail
            }
        };
        Ok(product_answer(&detail, shop_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn cursors_round_trip_and_refuse_what_we_did_not_make() {
        for cursor in [
            Cursor {
                page: None,
                skip: 7,
            },
            Cursor::at(Some("b2Zmc2V0+/=:x".into())),
        ] {
            assert_eq!(decode(&encode(&cursor)), Some(cursor));
        }
        for bad in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("x:abc"),
            &URL_SAFE_NO_PAD.encode("101:abc"),
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
