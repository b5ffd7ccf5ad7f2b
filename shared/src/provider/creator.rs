//! The Affiliate Creator API provider: a TikTok Shop creator authorizes the
//! app, and search and product lookup read the whole marketplace of products
//! sellers opened for affiliate promotion in the creator's market.
//!
//! - Connect refuses a grant that is not a creator's (`user_type` 1) or that
//!   lacks `creator.affiliate_collaboration.read`, and reads the creator's
//!   profile (username, avatar, selection region, permissions).
//! - Search is TikTok's own keyword search (`title_keywords`, ANDed), with
//!   its sorts and price, commission and category filters, 20 a page, chained
//!   within the page budget up to the site's `pageSize`; `nextCursor` holds
//!   the page token and the position in that page; `totalCount` is TikTok's.
//! - Product lookup is the by-ids endpoint, cached per product.
//! - There is no shop search (the API gives shop names only): the shop route
//!   answers 501 naming the provider.
//! - There is no revoke endpoint: the creator removes the app in TikTok Shop.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use tokio::time::Instant;
use url::Url;

use super::paging::{self, Listing, Position, UpstreamPage, Wanted};
use super::{
    refreshed_shop_tokens, session_and_cached, with_token, Authorization, CacheSettings, Catalogue,
    MarketSort, SearchRequest, SearchResult, Session, SessionOpener, ShopView,
};
use crate::app_secrets::{AppSecrets, Secrets, SecretsError};
use crate::error::Error;
use crate::product::DshipitProduct;
use crate::redacted::{AuthCode, CodeVerifier, OAuthState};
use crate::store::{CachedKind, CreatorProfile, SellerAccount, Tokens};
use crate::tiktok::creator::{
    CreatorClient, OpenProduct, OpenSearch, SortField, MAX_KEYWORDS, MAX_KEYWORD_CHARS,
    MAX_SEARCH_PAGE_SIZE, SCOPE_COLLABORATION_READ, USER_TYPE_CREATOR,
};
use crate::tiktok::{AppCredentials, Pkce, TikTokId, UpstreamError};

/// The most products one search answer holds (chained 20-product pages).
pub const MAX_PAGE_SIZE: u32 = 50;

/// Where product details are cached: the marketplace has no shop ids, so
/// every creator product sits under this one.
const MARKETPLACE_SHOP: &str = "0";

/// The Affiliate Creator API provider.
#[derive(Clone)]
pub struct CreatorProvider {
    client: CreatorClient,
    secrets: Arc<Secrets>,
    cache: CacheSettings,
    page_budget: u32,
}

impl CreatorProvider {
    /// A provider over `client`, reading the app's credentials from `secrets`,
    /// caching product details in `cache`, reading at most `page_budget`
    /// search pages a request.
    pub fn new(
        client: CreatorClient,
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

    async fn app(&self) -> Result<AppCredentials, Error> {
        let secrets = self.secrets.get().await?;
        secrets.shop_credentials.clone().ok_or_else(|| {
            Error::Secrets(SecretsError::Malformed(
                "TIKTOK_PROVIDER=creator needs app_key and app_secret in the secret".into(),
            ))
        })
    }

    fn now(&self) -> i64 {
        self.cache.now()
    }
}

/// The keywords of `query`: split on whitespace (TikTok ANDs them).
fn keywords(query: Option<&str>) -> Vec<String> {
    query
        .map(|q| q.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The upstream search for a validated request.
fn open_search(request: &SearchRequest) -> OpenSearch {
    let market = &request.market;
    let hundredths = |d: Decimal| (d * Decimal::ONE_HUNDRED).trunc().to_string().parse().ok();
    OpenSearch {
        title_keywords: keywords(request.query.as_deref()),
        category_id: market.category.as_ref().map(TikTokId::canonical),
        rate_ge: market.min_commission_rate.and_then(hundredths),
        amount_ge: market
            .min_price
            .filter(|p| *p > Decimal::ZERO)
            .map(|p| p.to_string()),
        amount_lt: market.max_price.map(|p| p.to_string()),
        sort: market.sort.map(|sort| match sort {
            MarketSort::BestSelling => (SortField::UnitsSold, true),
            MarketSort::PriceAsc => (SortField::SalesPrice, false),
            MarketSort::PriceDesc => (SortField::SalesPrice, true),
            MarketSort::Commission => (SortField::Commission, true),
            MarketSort::CommissionRate => (SortField::CommissionRate, true),
        }),
    }
}

/// The marketplace search, 20 a page by `page_token`; remembers TikTok's total.
struct MarketListing<'a> {
    provider: &'a CreatorProvider,
    app: AppCredentials,
    search: OpenSearch,
    total: AtomicI64,
}

impl Listing for MarketListing<'_> {
    type Item = OpenProduct;
    type Page = Option<String>;

    async fn page(
        &self,
        conn: &mut (dyn Session + '_),
        page_token: &Option<String>,
        deadline: Instant,
    ) -> Result<Option<UpstreamPage<OpenProduct, Option<String>>>, Error> {
        let client = &self.provider.client;
        let page = with_token(conn, deadline, |token| async move {
            client
                .search(
                    &self.app,
                    &token,
                    &self.search,
                    MAX_SEARCH_PAGE_SIZE,
                    page_token.as_deref(),
                    deadline,
                )
                .await
        })
        .await?;
        if let Some(total) = page.total_count {
            self.total.store(total, Ordering::Relaxed);
        }
        Ok(Some(UpstreamPage {
            items: page.products,
            next: (!page.next_page_token.is_empty()).then_some(Some(page.next_page_token)),
        }))
    }
}

#[async_trait]
impl Authorization for CreatorProvider {
    fn supports_pkce(&self) -> bool {
        false
    }

    fn authorize_url(
        &self,
        secrets: &AppSecrets,
        oauth_state: &OAuthState,
        _pkce: Option<&Pkce>,
    ) -> Result<Url, Error> {
        let app = secrets.shop_credentials.as_ref().ok_or_else(|| {
            Error::Secrets(SecretsError::Malformed(
                "TIKTOK_PROVIDER=creator needs app_key and app_secret in the secret".into(),
            ))
        })?;
        Ok(self.client.authorize_url(&app.client_key, oauth_state))
    }

    async fn connect(
        &self,
        code: &AuthCode,
        _verifier: Option<&CodeVerifier>,
        deadline: Instant,
    ) -> Result<Tokens, Error> {
        let app = self.app().await?;
        let grant = self.client.get_token(&app, code, deadline).await?;
        if let Some(user_type) = grant.user_type.filter(|t| *t != USER_TYPE_CREATOR) {
            tracing::warn!(
                user_type,
                "a non-creator account authorized the app; refused"
            );
            return Err(Error::WrongAccount(
                "this TikTok Shop account is not a creator account (a seller account authorized the app); connect with your TikTok Shop creator account".into(),
            ));
        }
        if !grant.scopes.is_empty() && !grant.scopes.iter().any(|s| s == SCOPE_COLLABORATION_READ) {
            return Err(Error::Upstream(UpstreamError::ScopeMissing {
                message: SCOPE_COLLABORATION_READ.into(),
                log_id: None,
            }));
        }
        let creator = match self
            .client
            .profile(&app, &grant.access_token, deadline)
            .await
        {
            Ok(profile) => Some(CreatorProfile {
                username: profile.username,
                avatar_url: profile.avatar.map(|a| a.url).filter(|u| !u.is_empty()),
                selection_region: profile.selection_region,
                permissions: profile.permissions,
            }),
            // The profile is shown, not needed: without its scope the
            // connection stands (search needs the other one).
            Err(UpstreamError::ScopeMissing { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Tokens {
            open_id: grant.open_id,
            scopes: grant.scopes,
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            access_expires_at: grant.access_expires_at,
            refresh_expires_at: grant.refresh_expires_at,
            refreshed_at: self.now(),
            account: Some(SellerAccount {
                region: creator
                    .as_ref()
                    .map(|c| c.selection_region.clone())
                    .unwrap_or_default(),
                creator: Some(creator.unwrap_or_default()),
                ..SellerAccount::default()
            }),
        })
    }

    async fn refresh(&self, previous: &Tokens, deadline: Instant) -> Result<Tokens, Error> {
        let app = self.app().await?;
        let grant = self
            .client
            .refresh_token(&app, &previous.refresh_token, deadline)
            .await?;
        Ok(refreshed_shop_tokens(
            grant,
            previous,
            self.now(),
            previous.account.clone(),
        ))
    }

    async fn revoke(&self, _tokens: &Tokens, _deadline: Instant) -> Result<(), Error> {
        // The creator API has no revoke endpoint: the creator removes the app
        // in TikTok Shop; the connection is deleted here whatever happens.
        Ok(())
    }
}

#[async_trait]
impl Catalogue for CreatorProvider {
    fn max_page_size(&self) -> u32 {
        MAX_PAGE_SIZE
    }

    /// Pages of 20 until `pageSize` products (one more when a cursor starts
    /// inside a page), within the page budget.
    fn search_calls(&self, request: &SearchRequest) -> u32 {
        let pages = request.page_size.div_ceil(MAX_SEARCH_PAGE_SIZE);
        self.page_budget
            .min(pages + u32::from(request.cursor.is_some()))
    }

    fn shop_calls(&self) -> u32 {
        0
    }

    fn shop_name_required(&self) -> bool {
        false
    }

    fn check_search(&self, request: &SearchRequest) -> Result<(), Error> {
        if request.shop_id.is_some() {
            return Err(Error::BadRequest(
                "shopId is not accepted with the creator provider: the search covers the whole marketplace".into(),
            ));
        }
        if request.page_start > 1 {
            return Err(Error::BadRequest(
                "the marketplace search continues with cursor=<nextCursor>, not pageStart".into(),
            ));
        }
        let words = keywords(request.query.as_deref());
        if words.len() > MAX_KEYWORDS {
            return Err(Error::BadRequest(format!(
                "query must have at most {MAX_KEYWORDS} words"
            )));
        }
        if words.iter().any(|w| w.chars().count() > MAX_KEYWORD_CHARS) {
            return Err(Error::BadRequest(format!(
                "each word of query must be at most {MAX_KEYWORD_CHARS} characters"
            )));
        }
        Ok(())
    }

    fn check_product(&self, shop_id: Option<&TikTokId>) -> Result<(), Error> {
        match shop_id {
            None => Ok(()),
            Some(_) => Err(Error::BadRequest(
                "shopId is not accepted with the creator provider: products are looked up by id alone".into(),
            )),
        }
    }

    async fn shops(
        &self,
        _session: &mut (dyn Session + '_),
        _name: &str,
        _deadline: Instant,
    ) -> Result<Vec<ShopView>, Error> {
        Err(Error::Unsupported(
            "shop lookup is not available with TIKTOK_PROVIDER=creator: the Affiliate Creator API has no shop search and gives no shop ids; search products across the marketplace with GET /api/tiktok/search (each product names its shop in `supplier`)".into(),
        ))
    }

    async fn search(
        &self,
        session: &mut (dyn Session + '_),
        request: &SearchRequest,
        deadline: Instant,
    ) -> Result<SearchResult, Error> {
        self.check_search(request)?;
        let start = match &request.cursor {
            Some(raw) => paging::decode_token_cursor(raw, MAX_SEARCH_PAGE_SIZE as usize)
                .ok_or_else(|| Error::BadRequest("cursor is not one this API gave".into()))?,
            None => Position::at(None),
        };
        let listing = MarketListing {
            provider: self,
            app: self.app().await?,
            search: open_search(request),
            total: AtomicI64::new(-1),
        };
        let wanted = Wanted {
            count: request.page_size as usize,
            exact: true,
            pages: self.page_budget,
            matches: |_: &OpenProduct| true,
        };
        let found = paging::search(&listing, session, start, wanted, deadline).await?;
        let products: Vec<DshipitProduct> =
            found.items.iter().map(DshipitProduct::from_open).collect();
        let total = listing.total.load(Ordering::Relaxed);
        Ok(SearchResult {
            total_count: usize::try_from(total).unwrap_or(products.len()),
            products,
            has_more: found.next.is_some(),
            next_page_start: None,
            next_cursor: found.next.map(|c| paging::encode_token_cursor(&c)),
        })
    }

    async fn product(
        &self,
        session: &dyn SessionOpener,
        shop_id: Option<&TikTokId>,
        product_id: &TikTokId,
        deadline: Instant,
    ) -> Result<serde_json::Value, Error> {
        self.check_product(shop_id)?;
        let shop = TikTokId::parse(MARKETPLACE_SHOP)
            .ok_or_else(|| Error::Internal("marketplace cache key".into()))?;
        let (mut session, cached) =
            session_and_cached(session, CachedKind::Detail, &shop, product_id).await?;
        let product = match cached {
            Some(product) => product,
            None => {
                let app = self.app().await?;
                let (client, app, ids) = (&self.client, &app, std::slice::from_ref(product_id));
                let found = with_token(session.as_mut(), deadline, |token| async move {
                    client.products_by_ids(app, &token, ids, deadline).await
                })
                .await?;
                let product = found
                    .into_iter()
                    .find(|p| p.id == *product_id)
                    .ok_or_else(|| Error::NotFound("product".into()))?;
                self.cache.store_detail(&shop, product_id, &product).await;
                product
            }
        };
        Ok(serde_json::json!({
            "product": DshipitProduct::from_open(&product),
            "reviews": [],
        }))
    }
}
