//! The TikTok Shop Affiliate Creator API: a creator (affiliate) authorizes
//! the app and it searches every product sellers opened for affiliate
//! promotion. It shares the Partner API's token endpoints, envelope and
//! request signature ([`ShopClient`]); what differs is here: the creator
//! authorization page (`app_key` and `state`), no `shop_cipher` on any call,
//! and three endpoints (open-collaboration search, products by id, the
//! creator's profile). The sibling of [`super::shop`] and the research module.

use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

use super::shop::model::{lenient_i64, text};
use super::shop::{ShopClient, ShopGrant};
use crate::redacted::{AccessToken, AuthCode, OAuthState, RefreshToken};
use crate::tiktok::{AppCredentials, TikTokId, UpstreamError};

/// Creator Search Open Collaboration Product (the only version).
pub const SEARCH_PATH: &str = "/affiliate_creator/202405/open_collaborations/products/search";
/// Get Open Collaboration Product List By Product Ids.
pub const BY_IDS_PATH: &str = "/affiliate_creator/202509/open_collaborations/products";
/// Get Creator Profile.
pub const PROFILE_PATH: &str = "/affiliate_creator/202508/profiles";
/// The most products a search page holds.
pub const MAX_SEARCH_PAGE_SIZE: u32 = 20;
/// The scope the marketplace search and the by-ids lookup need.
pub const SCOPE_COLLABORATION_READ: &str = "creator.affiliate_collaboration.read";
/// The grant's `user_type` of a creator (0 is a seller, 3 a partner).
pub const USER_TYPE_CREATOR: i64 = 1;
/// The most keywords a search takes, and the longest keyword.
pub const MAX_KEYWORDS: usize = 20;
/// The longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 255;

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// Commission rate.
    CommissionRate,
    /// Sale price.
    SalesPrice,
    /// Commission amount.
    Commission,
    /// Units sold.
    UnitsSold,
}

impl SortField {
    fn wire(self) -> &'static str {
        match self {
            Self::CommissionRate => "commission_rate",
            Self::SalesPrice => "product_sales_price",
            Self::Commission => "commission",
            Self::UnitsSold => "units_sold",
        }
    }
}

/// A marketplace search's filters and order (the body and query of one page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenSearch {
    /// Keywords, ANDed (at most [`MAX_KEYWORDS`]).
    pub title_keywords: Vec<String>,
    /// A first-level category id.
    pub category_id: Option<String>,
    /// Lowest commission rate, in hundredths of a percent.
    pub rate_ge: Option<u32>,
    /// Lowest sale price (decimal string, the creator's market currency).
    pub amount_ge: Option<String>,
    /// Sale price below this (decimal string).
    pub amount_lt: Option<String>,
    /// Order, and whether descending.
    pub sort: Option<(SortField, bool)>,
}

impl OpenSearch {
    /// The JSON body, serialized once (these bytes are signed and sent).
    pub fn body(&self) -> Bytes {
        let mut body = serde_json::Map::new();
        if !self.title_keywords.is_empty() {
            body.insert("title_keywords".into(), self.title_keywords.clone().into());
        }
        if let Some(id) = &self.category_id {
            body.insert("category".into(), serde_json::json!({ "id": id }));
        }
        if let Some(rate) = self.rate_ge {
            body.insert(
                "commission_rate_range".into(),
                serde_json::json!({ "rate_ge": rate }),
            );
        }
        let mut price = serde_json::Map::new();
        if let Some(ge) = &self.amount_ge {
            price.insert("amount_ge".into(), ge.clone().into());
        }
        if let Some(lt) = &self.amount_lt {
            price.insert("amount_lt".into(), lt.clone().into());
        }
        if !price.is_empty() {
            body.insert("sales_price_range".into(), price.into());
        }
        Bytes::from(serde_json::Value::Object(body).to_string())
    }
}

/// A price range as TikTok writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePriceRange {
    /// ISO 4217 code.
    #[serde(default, deserialize_with = "text")]
    pub currency: String,
    /// The lowest price (decimal string).
    #[serde(default, deserialize_with = "text")]
    pub minimum_amount: String,
    /// The highest price (decimal string).
    #[serde(default, deserialize_with = "text")]
    pub maximum_amount: String,
}

/// A commission as TikTok writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCommission {
    /// Hundredths of a percent.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub rate: Option<i64>,
    /// The amount (decimal string; opaque).
    #[serde(default, deserialize_with = "text")]
    pub amount: String,
    /// Its currency.
    #[serde(default, deserialize_with = "text")]
    pub currency: String,
}

/// One level of a product's category chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryLevel {
    /// Category id.
    #[serde(default, deserialize_with = "text")]
    pub id: String,
    /// Its parent (`"0"` at the top level).
    #[serde(default, deserialize_with = "text")]
    pub parent_id: String,
    /// Local name.
    #[serde(default, deserialize_with = "text")]
    pub local_name: String,
}

/// The shop selling a product (its name is the only field given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopName {
    /// Name.
    #[serde(default, deserialize_with = "text")]
    pub name: String,
}

/// An open-collaboration product, as search and by-ids return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenProduct {
    /// Product id.
    pub id: TikTokId,
    /// Title.
    #[serde(default, deserialize_with = "text")]
    pub title: String,
    /// Main image URL.
    #[serde(default, deserialize_with = "text")]
    pub main_image_url: String,
    /// The product page.
    #[serde(default, deserialize_with = "text")]
    pub detail_link: String,
    /// Sale region (ISO-2).
    #[serde(default, deserialize_with = "text")]
    pub sale_region: String,
    /// Whether any unit is in stock.
    #[serde(default)]
    pub has_inventory: Option<bool>,
    /// Units sold, lifetime; absent when the creator has not granted precise
    /// data sharing (absent is unknown, not zero).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub units_sold: Option<i64>,
    /// The shop.
    #[serde(default)]
    pub shop: Option<ShopName>,
    /// Category chain (at most three levels).
    #[serde(default)]
    pub category_chains: Vec<CategoryLevel>,
    /// Lowest and highest promotion price.
    #[serde(default)]
    pub sales_price: Option<WirePriceRange>,
    /// Lowest and highest original price.
    #[serde(default)]
    pub original_price: Option<WirePriceRange>,
    /// The affiliate commission.
    #[serde(default)]
    pub commission: Option<WireCommission>,
    /// The commission on orders from ads (by-ids only).
    #[serde(default)]
    pub shop_ads_commission: Option<WireCommission>,
}

/// One search page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OpenPage {
    /// Products, in TikTok's order.
    #[serde(default)]
    pub products: Vec<OpenProduct>,
    /// The next page's token (`""` or absent on the last page).
    #[serde(default, deserialize_with = "text")]
    pub next_page_token: String,
    /// Total matches.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub total_count: Option<i64>,
}

#[derive(Deserialize)]
struct ByIds {
    #[serde(default)]
    products: Vec<OpenProduct>,
}

/// The creator's avatar.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Avatar {
    /// Image URL.
    #[serde(default, deserialize_with = "text")]
    pub url: String,
}

/// Get Creator Profile's `data` (flat).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    /// Avatar.
    #[serde(default)]
    pub avatar: Option<Avatar>,
    /// Username.
    #[serde(default, deserialize_with = "text")]
    pub username: String,
    /// The market whose products the creator can promote.
    #[serde(default, deserialize_with = "text")]
    pub selection_region: String,
    /// Permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A client for the Affiliate Creator API over a [`ShopClient`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CreatorClient {
    shop: ShopClient,
}

impl CreatorClient {
    /// A client over `shop` (its hosts, signature and execution path).
    pub fn new(shop: ShopClient) -> Self {
        Self { shop }
    }

    /// The creator authorization page for `app_key` with `state`.
    pub fn authorize_url(&self, app_key: &str, state: &OAuthState) -> Url {
        self.shop.creator_authorize_url(app_key, state)
    }

    /// Exchanges a creator's authorization code (the sellers' token endpoint).
    pub async fn get_token(
        &self,
        app: &AppCredentials,
        code: &AuthCode,
        deadline: Instant,
    ) -> Result<ShopGrant, UpstreamError> {
        self.shop.get_token(app, code, deadline).await
    }

    /// Refreshes a creator's tokens.
    pub async fn refresh_token(
        &self,
        app: &AppCredentials,
        refresh_token: &RefreshToken,
        deadline: Instant,
    ) -> Result<ShopGrant, UpstreamError> {
        self.shop.refresh_token(app, refresh_token, deadline).await
    }

    /// The creator's profile.
    pub async fn profile(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        deadline: Instant,
    ) -> Result<Profile, UpstreamError> {
        self.shop
            .signed(Method::GET, PROFILE_PATH, app, token, &[], None, deadline)
            .await
    }

    /// One page (at most [`MAX_SEARCH_PAGE_SIZE`]) of the marketplace search;
    /// `page_token` from the previous page, `None` for the first.
    pub async fn search(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        search: &OpenSearch,
        page_size: u32,
        page_token: Option<&str>,
        deadline: Instant,
    ) -> Result<OpenPage, UpstreamError> {
        let page_size = page_size.clamp(1, MAX_SEARCH_PAGE_SIZE).to_string();
        let mut query = vec![("page_size", page_size.as_str())];
        if let Some(page_token) = page_token.filter(|t| !t.is_empty()) {
            query.push(("page_token", page_token));
        }
        if let Some((field, descending)) = search.sort {
            query.push(("sort_field", field.wire()));
            query.push(("sort_order", if descending { "DESC" } else { "ASC" }));
        }
        self.shop
            .signed(
                Method::POST,
                SEARCH_PATH,
                app,
                token,
                &query,
                Some(search.body()),
                deadline,
            )
            .await
    }

    /// The open-collaboration products with these ids (at most 20; unknown
    /// ids are simply absent). No body is sent.
    pub async fn products_by_ids(
        &self,
        app: &AppCredentials,
        token: &AccessToken,
        ids: &[TikTokId],
        deadline: Instant,
    ) -> Result<Vec<OpenProduct>, UpstreamError> {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let ids = ids.join(",");
        let data: ByIds = self
            .shop
            .signed(
                Method::POST,
                BY_IDS_PATH,
                app,
                token,
                &[("product_ids", ids.as_str())],
                None,
                deadline,
            )
            .await?;
        Ok(data.products)
    }
}
