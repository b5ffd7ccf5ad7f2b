//! The Partner API's wire types (`TIKTOK_SHOP_API.md` §3, §5), decoded
//! tolerantly: every field but the ids has a default, unknown fields are
//! ignored, prices stay decimal strings until [`crate::product`] parses them.

use serde::{Deserialize, Deserializer};

use crate::redacted::{AccessToken, RefreshToken};
use crate::tiktok::TikTokId;

/// What the token endpoints grant (get and refresh answer the same shape).
/// Expiries are absolute Unix seconds, as TikTok sends them.
#[derive(Debug, Clone)]
pub struct ShopGrant {
    /// The seller's id at TikTok Shop.
    pub open_id: String,
    /// The seller's name.
    pub seller_name: String,
    /// The seller's base region (`US`, `GB`, ...).
    pub seller_base_region: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Who authorized: 0 a seller, 1 a creator, 3 a partner (`None` when
    /// TikTok left it out).
    pub user_type: Option<i64>,
    /// The access token.
    pub access_token: AccessToken,
    /// When it expires.
    pub access_expires_at: i64,
    /// The refresh token (treated as rotating).
    pub refresh_token: RefreshToken,
    /// When it expires.
    pub refresh_expires_at: i64,
}

/// The secret-free part of a token answer.
#[derive(Deserialize)]
pub(super) struct RawGrant {
    pub access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub access_token_expire_in: Option<i64>,
    pub refresh_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub refresh_token_expire_in: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub open_id: String,
    #[serde(default, deserialize_with = "text")]
    pub seller_name: String,
    #[serde(default, deserialize_with = "text")]
    pub seller_base_region: String,
    #[serde(default)]
    pub granted_scopes: Vec<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub user_type: Option<i64>,
}

/// A shop the seller authorized (Get Authorized Shops).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AuthorizedShop {
    /// Shop id.
    pub id: TikTokId,
    /// Shop name.
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    /// Region code.
    #[serde(default, deserialize_with = "text")]
    pub region: String,
    /// `LOCAL` or `CROSS_BORDER`.
    #[serde(default, deserialize_with = "text")]
    pub seller_type: String,
    /// The `shop_cipher` of this shop's calls. Not a secret, never shown.
    #[serde(default, deserialize_with = "text")]
    pub cipher: String,
    /// The shop code.
    #[serde(default, deserialize_with = "text")]
    pub code: String,
}

#[derive(Deserialize)]
pub(super) struct ShopsData {
    #[serde(default)]
    pub shops: Vec<AuthorizedShop>,
}

/// A SKU's price.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct SkuPrice {
    /// ISO 4217.
    #[serde(default, deserialize_with = "text")]
    pub currency: String,
    /// The price the buyer pays, a decimal string in major units.
    #[serde(default, deserialize_with = "text")]
    pub sale_price: String,
    /// Before tax.
    #[serde(default, deserialize_with = "text")]
    pub tax_exclusive_price: String,
    /// Per unit (Get Product).
    #[serde(default, deserialize_with = "text")]
    pub unit_price: String,
}

/// A SKU's list (original) price.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct ListPrice {
    /// A decimal string in major units.
    #[serde(default, deserialize_with = "text")]
    pub amount: String,
    /// ISO 4217.
    #[serde(default, deserialize_with = "text")]
    pub currency: String,
}

/// Stock in one warehouse.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    /// Warehouse id.
    #[serde(default, deserialize_with = "text")]
    pub warehouse_id: String,
    /// Units.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub quantity: Option<i64>,
}

/// A sales attribute of a SKU (colour, size, ...).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct SalesAttribute {
    /// Attribute id.
    #[serde(default, deserialize_with = "text")]
    pub id: String,
    /// Attribute name.
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    /// Value id.
    #[serde(default, deserialize_with = "text")]
    pub value_id: String,
    /// Value name.
    #[serde(default, deserialize_with = "text")]
    pub value_name: String,
}

/// A SKU.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct Sku {
    /// SKU id.
    #[serde(default, deserialize_with = "text")]
    pub id: String,
    /// The seller's own SKU code.
    #[serde(default, deserialize_with = "text")]
    pub seller_sku: String,
    /// Price.
    #[serde(default)]
    pub price: Option<SkuPrice>,
    /// List price.
    #[serde(default)]
    pub list_price: Option<ListPrice>,
    /// Stock per warehouse.
    #[serde(default)]
    pub inventory: Vec<Inventory>,
    /// Sales attributes (Get Product).
    #[serde(default)]
    pub sales_attributes: Vec<SalesAttribute>,
}

/// A product in Search Products (no images, no description).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct ListedProduct {
    /// Product id.
    pub id: TikTokId,
    /// Title.
    #[serde(default, deserialize_with = "text")]
    pub title: String,
    /// `ACTIVATE`, `DRAFT`, ...
    #[serde(default, deserialize_with = "text")]
    pub status: String,
    /// SKUs with prices.
    #[serde(default)]
    pub skus: Vec<Sku>,
}

/// One page of Search Products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    /// The products.
    pub products: Vec<ListedProduct>,
    /// All products matching the filter, as TikTok counts them.
    pub total_count: Option<u64>,
    /// The token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct SearchData {
    #[serde(default)]
    pub products: Vec<ListedProduct>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub total_count: Option<i64>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A product image.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct Image {
    /// TikTok's image URI.
    #[serde(default, deserialize_with = "text")]
    pub uri: String,
    /// Full-size URLs.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Thumbnail URLs.
    #[serde(default)]
    pub thumb_urls: Vec<String>,
}

/// A product from Get Product.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, serde::Serialize)]
pub struct ProductDetail {
    /// Product id.
    pub id: TikTokId,
    /// Title.
    #[serde(default, deserialize_with = "text")]
    pub title: String,
    /// Description, HTML.
    #[serde(default, deserialize_with = "text")]
    pub description: String,
    /// Status.
    #[serde(default, deserialize_with = "text")]
    pub status: String,
    /// Images, the main one first.
    #[serde(default)]
    pub main_images: Vec<Image>,
    /// SKUs.
    #[serde(default)]
    pub skus: Vec<Sku>,
}

impl ProductDetail {
    /// The first URL of the first image, or empty.
    pub fn main_image_url(&self) -> &str {
        self.main_images
            .iter()
            .flat_map(|i| i.urls.first())
            .next()
            .map_or("", String::as_str)
    }
}

/// Text whatever JSON scalar it arrives as; `null` is empty.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    })
}

/// A whole number sent as a number or a string of digits.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}
